// A room whose log was stored before the chat extensions (issue 14) is migrated when it is
// opened again: the old log is recreated here by stripping the new columns from a persisted
// database (with Python's sqlite3, the server stopped), then the server restarts on it. The
// old messages keep their seqs and history, count as unread by their ordinal, and can be
// edited, reacted to and deleted; new messages continue the seqs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { acked, post } from './support/chat.mjs';
import { rewriteDatabases } from './support/databases.mjs';

/** Turns a room log back into the schema before issue 14 (`rewriteDatabases`). */
const TO_OLD_SCHEMA = `
def rewrite(db):
    db.execute('DROP INDEX IF EXISTS log_actor')
    for c in ('n', 'target', 'actor'):
        db.execute('ALTER TABLE log DROP COLUMN %s' % c)
    db.execute("DELETE FROM meta WHERE key = 'trimmed_messages'")
    return 1
`;

test('a log stored before the extensions is migrated when its room opens it', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-migrate-'));
  let server = await startServer({ persistDir: dir });
  const port = Number(new URL(server.url).port);
  try {
    const a = await join(server, 'old-room', 'alice');
    for (let i = 1; i <= 3; i++) await post(a, `old ${i}`);
    a.terminate();
    await admin(server).post('/rooms/old-room/messages', { data: 'old from the server' });
    await server.stop();
    assert.equal(rewriteDatabases(dir, 'log', TO_OLD_SCHEMA).length, 1, 'one old log');

    server = await startServer({ persistDir: dir, port });
    const b = await join(server, 'old-room', 'bob');
    assert.deepEqual([b.welcome.seq, b.welcome.read_seq, b.welcome.unread], [4, 0, 4], 'four old messages, unread');
    const a2 = await join(server, 'old-room', 'alice');
    assert.equal(a2.welcome.unread, 1, 'alice wrote three of them');
    assert.equal(await acked(a2, { type: 'edit', target: 2, data: 'old 2, edited' }), 5);
    assert.equal(await acked(b, { type: 'react', target: 1, emoji: '👍', on: true }), 6);
    assert.equal(await post(b, 'new'), 7);
    b.send({ type: 'read', seq: 3 });
    await a2.next((f) => f.type === 'read' && f.seq === 3);
    const again = await join(server, 'old-room', 'bob');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [3, 1], 'message 4 (the server\'s) is unread; 7 is bob\'s');
    const log = (await admin(server).get('/rooms/old-room/messages?since=0')).body.messages;
    assert.deepEqual(log.map((f) => [f.seq, f.type]), [[1, 'message'], [2, 'message'], [3, 'message'], [4, 'message'], [5, 'edit'], [6, 'react'], [7, 'message']]);
    assert.deepEqual([log[1].data, log[1].edited, log[0].reactions], ['old 2, edited', true, { '👍': ['bob'] }]);
    for (const c of [b, a2, again]) c.terminate();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
