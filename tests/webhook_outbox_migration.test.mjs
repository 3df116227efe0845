// An outbox stored in an older layout is migrated when its object opens it again, and keeps
// every event deliverable. Each older layout is recreated here from a persisted database
// (Python's sqlite3, the server stopped), then the server restarts on it:
// - layout 2 (issue 22): a row per event (`event`, `data_of`, `at`), the per-event index;
// - layout 1 (before issue 22): that, without `data_of`/`at`, the dead letters' `reason`/
//   `first_at`, the `webhook_dead_data` index and the `schema` key.
// A deletion still erases its message's data from the old dead letter and the old waiting
// events (found through the migrated index), and every event is delivered, in order, once
// the receiver is back. (Layout 3, a row per turn, is what the server writes now.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck } from './support/frames.mjs';
import { rewriteDatabases } from './support/databases.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

/** An outbox back in layout 1 or 2 (`rewriteDatabases`): returns the events it holds. */
const TO_OLD_LAYOUT = `
def data_of(e):
    return e.get('seq') if e['type'] == 'message' else e.get('target') if e['type'] == 'edit' else None
def rewrite(db, layout):
    rows = db.execute('SELECT at, events FROM webhook_outbox ORDER BY pos').fetchall()
    db.execute('DROP TABLE webhook_outbox')
    db.execute('CREATE TABLE webhook_outbox(pos INTEGER PRIMARY KEY, event TEXT NOT NULL, data_of INTEGER, at INTEGER NOT NULL DEFAULT 0)')
    events = [(e, at) for at, text in rows for e in json.loads('[' + text + ']')]
    for e, at in events:
        db.execute('INSERT INTO webhook_outbox(event, data_of, at) VALUES (?, ?, ?)',
                   (json.dumps(e, separators=(',', ':'), ensure_ascii=False), data_of(e), at))
    db.execute('CREATE INDEX webhook_outbox_data_of ON webhook_outbox(data_of) WHERE data_of IS NOT NULL')
    db.execute("UPDATE webhook_state SET value = 2 WHERE key = 'schema'")
    if int(layout) == 1:
        db.execute('DROP INDEX webhook_outbox_data_of')
        db.execute('DROP TABLE webhook_dead_data')
        for t, c in (('webhook_outbox', 'data_of'), ('webhook_outbox', 'at'), ('webhook_dead', 'reason'), ('webhook_dead', 'first_at')):
            db.execute('ALTER TABLE %s DROP COLUMN %s' % (t, c))
        db.execute("DELETE FROM webhook_state WHERE key = 'schema'")
    return len(events)
`;

async function publish(client, data) {
  client.send({ type: 'publish', data, id: data });
  return (await client.next(isAck(data))).seq;
}

for (const layout of [1, 2]) test(`an outbox of layout ${layout} is migrated: deletions still find their events, nothing is lost`, { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-outbox-migrate-'));
  let healthy = false;
  const receiver = await startReceiver({ respond: () => (healthy ? 200 : 503) });
  // Two attempts, then a dead letter; the retry after the first waits 6 s, so the second
  // batch is still waiting when the server stops.
  const vars = webhookVars(receiver, { WEBHOOK_EVENTS: 'message', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_RETRY_SCALE: '0.1' });
  let server = await startServer({ persistDir: dir, vars: { ...vars, WEBHOOK_RETRY_SCALE: '0.001' } });
  const port = Number(new URL(server.url).port);
  try {
    const a = await join(server, 'old-hooks', 'alice');
    const s1 = await publish(a, 'dead-secret');
    const s2 = await publish(a, 'dead-kept');
    const api = admin(server);
    await until(async () => (await api.get('/rooms/old-hooks/webhooks/dead')).body.total === 1, { ms: 10_000, what: 'a dead letter' });
    a.terminate();
    await server.stop();
    server = await startServer({ persistDir: dir, port, vars });
    const a2 = await join(server, 'old-hooks', 'alice');
    const s3 = await publish(a2, 'waiting-secret');
    const s4 = await publish(a2, 'waiting-kept');
    a2.terminate();
    await server.stop();
    const waiting = rewriteDatabases(dir, 'webhook_outbox', TO_OLD_LAYOUT, [layout]).reduce((a, b) => a + b, 0);
    assert.equal(waiting, 2, 'two waiting events, a row each');

    server = await startServer({ persistDir: dir, port, vars });
    const old = admin(server);
    for (const seq of [s1, s3]) assert.equal((await old.call('DELETE', `/rooms/old-hooks/messages/${seq}`)).status, 200);
    const [batch] = (await old.get('/rooms/old-hooks/webhooks/dead')).body.batches;
    assert.equal(batch.reason, 'attempts', 'an old dead letter reads as given up on by attempts');
    assert.deepEqual(batch.events.map((e) => [e.seq, e.data]), [[s1, null], [s2, 'dead-kept']]);
    healthy = true;
    assert.equal((await old.post('/rooms/old-hooks/webhooks/dead/retry')).status, 200);
    const events = await receiver.waitFor((evs) => evs.filter((e) => e.type === 'delete').length === 2 && evs.length >= 6, { ms: 20_000 });
    const messages = events.filter((e) => e.type === 'message').map((e) => [e.seq, e.data]);
    assert.deepEqual(messages, [[s1, null], [s2, 'dead-kept'], [s3, null], [s4, 'waiting-kept']]);
  } finally {
    await server.stop();
    await receiver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
