// Operator logs (issue 23, "See it"): every line the worker writes is ONE JSON object with
// `level` and `what` (docs/operations.md#logs), an internal failure's line carries the
// `incident` id its caller was given, and refusals are counted, never logged one by one.
//
// How: workerd runs with its stdout and stderr captured (startLoggedServer). The registry is
// made unreachable (REGISTRY_FAULT=unreachable, a DEV_MODE hook), which makes the worker log:
// an incident (a read that needs the registry answers 503 `unavailable` with an id), a connect let in
// without its revocation check, and the room's presence reports failing. Then one connection
// floods the room with refused frames (bad JSON, then rate-limited, then closed 1008); a
// second connect afterwards writes a known line, the marker that the log has caught up. No
// line may name a refusal, and the lines after the flood stay few.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { startLoggedServer } from './support/webhooks.mjs';

/** Our lines in workerd's output: those that look like a JSON object. Every other line is
 * workerd's own (it never starts with `{`), and is listed so a failure shows it. */
function ourLines(logs) {
  return logs.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
}

test('every line is one JSON object with level and what; an incident carries its id; a flood of refusals writes no line per refusal', async () => {
  const server = await startLoggedServer({ vars: { REGISTRY_FAULT: 'unreachable' } });
  try {
    // An incident: the registry cannot be reached, the caller gets `unavailable` and an incident id.
    const res = await admin(server).get('/users/alice');
    assert.equal(res.status, 503, JSON.stringify(res.body));
    const incident = res.body.error.incident;
    assert.match(incident, /^[0-9a-f]+$/);
    const withId = await until(() => ourLines(server.logs()).find((l) => l.includes(incident)), { what: 'the incident line' });
    const line = JSON.parse(withId);
    assert.equal(line.incident, incident);
    assert.equal(line.level, 'error');
    assert.equal(typeof line.what, 'string');

    // A connect let in without its revocation check: a warning about its room.
    const a = await join(server, 'logs-flood', 'alice');
    await until(() => ourLines(server.logs()).some((l) => JSON.parse(l).what === 'revocation_check_let_in'), { what: 'the let-in warning' });
    const before = ourLines(server.logs()).length;

    // The flood: 300 frames of bad JSON, each refused (bad_json, then rate_limited), until
    // the room closes the connection 1008.
    for (let i = 0; i < 300; i++) a.ws.send(`not json ${i}`);
    const closed = await a.closed;
    assert.equal(closed.code, 1008, 'the flood was refused and closed');
    const refusals = a.log.filter((f) => f.type === 'error').length;
    assert.ok(refusals >= 100, `many refusals (${refusals})`);

    // The marker: a second connect writes one more let-in line after the flood.
    const lets = () => ourLines(server.logs()).filter((l) => JSON.parse(l).what === 'revocation_check_let_in').length;
    const letsBefore = lets();
    const b = await join(server, 'logs-flood', 'bob');
    await until(() => lets() > letsBefore, { what: 'the marker line' });
    b.terminate();

    const lines = ourLines(server.logs());
    for (const l of lines) {
      const v = JSON.parse(l); // throws on a line that is not one JSON object
      assert.ok(['error', 'warn', 'info'].includes(v.level), `level: ${l}`);
      assert.equal(typeof v.what, 'string', `what: ${l}`);
    }
    const floodLines = lines.slice(before);
    assert.ok(!floodLines.some((l) => /bad_json|rate_limited|not json/.test(l)), `no line names a refusal:\n${floodLines.join('\n')}`);
    // The flood's 300 frames: at most the marker and the presence-report warnings remain.
    assert.ok(floodLines.length < 10, `${floodLines.length} lines after the flood (of ${refusals} refusals):\n${floodLines.join('\n')}`);
    // Nothing we print is anything but those lines: every line that is not workerd's own.
    const stray = server.logs().split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('{') && /level|what|failed|error/i.test(l) && !/^workerd|^\*\*\*|^kj|^service /.test(l));
    assert.deepEqual(stray, [], 'no line of ours that is not JSON');
  } finally {
    await server.stop();
  }
});
