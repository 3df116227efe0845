// A revocation whose push to a room fails is retried until it lands (issue 22, finding 7): the
// user's registry shard stores the revocation, pushes it to every room the user is connected
// in (each closes the covered connections, 4005), and keeps each push that failed for its
// alarm to retry (1 s, then doubling, at most a minute apart) — until it lands, or until the
// shard no longer counts the user in that room. Before, a failed push was logged and dropped:
// connections on the revoked token stayed open until they disconnected.
//
// A room that cannot be reached is simulated by the DEV_MODE-only test hook
// `DEV_REVOCATION_PUSH_FAILURES=N`: the shard's first N pushes fail as such a call does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { CLOSE_WAIT_MS } from './support/sessions.mjs';

test('a revocation push that failed is retried from the alarm until it closes the connection', { timeout: 60_000 }, async () => {
  const server = await startServer({ vars: { DEV_REVOCATION_PUSH_FAILURES: '2' } });
  try {
    const api = admin(server);
    const meter = async () => (await fetch(`${server.url}/dev/meter`)).json();
    const alice = await join(server, 'rp-room', 'alice');
    const bob = await join(server, 'rp-room', 'bob');
    await sleep(1100); // the revocation (now, in seconds) must come after the token's iat
    const m0 = await meter();
    const started = Date.now();
    const revoked = await api.post('/users/alice/revoke', { reason: 'stolen' });
    assert.deepEqual([revoked.status, revoked.body.closed], [200, 0], 'the push failed: nothing closed yet');
    // The first retry (1 s later) fails too; the second (2 s after that) lands.
    // The push that lands ends the connection: `closing` 4005 at once (this raw client ignores
    // it, so the close event follows the server's fallback close: support/sessions.mjs).
    const closing = await alice.next((f) => f.type === 'closing', 15_000);
    assert.equal(closing.code, 4005);
    const took = Date.now() - started;
    assert.equal((await alice.closedWithin(CLOSE_WAIT_MS, 'alice closed by a retried push')).code, 4005);
    assert.ok(took >= 2500, `closed by the second retry, not before (${took} ms)`);
    assert.ok((await meter()).registry.alarms - m0.registry.alarms >= 2, 'the retries ran from the shard\'s alarm');
    // Bob, in the same room, was not touched; the room remembers the revocation.
    bob.send({ type: 'publish', data: 'still here', id: 'p' });
    await bob.next((f) => f.type === 'ack' && f.id === 'p');
    assert.equal((await api.get('/users/alice')).body.connections, 0);
    bob.terminate();
  } finally {
    await server.stop();
  }
});
