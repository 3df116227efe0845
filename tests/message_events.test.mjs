// Edits, deletions and reactions (issue 14): each is an event about one message, logged with
// its own seq (gapless with messages), acked like a publish (idempotent by `id`) and broadcast
// to the room; only the author edits or deletes (`forbidden`), a missing or deleted message is
// `not_found`; the server API deletes any message. A deleted message's data is erased from
// storage (its row and its edits), checked in the persisted database itself. History and resume
// return both: every message in its current state (`edited`, `deleted`, `reactions`, `updated`)
// and the events in seq order. All of it survives hibernation and a workerd restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { messageWith, unwrapBatches } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import { waitForEviction } from './support/eviction.mjs';
import { acked, isType, post, refused } from './support/chat.mjs';

const history = async (server, room, q = 'since=0') => (await admin(server).get(`/rooms/${room}/messages?${q}`)).body.messages;

test('edit, react and delete: acked, broadcast, in the log with their own seqs, history in current state', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'events';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob', { query: '&batch=1' });
    const m1 = await post(a, { text: 'helo' });
    const m2 = await post(b, { text: 'second' });
    const sent = Date.now();
    const e = await acked(a, { type: 'edit', target: m1, data: { text: 'hello' }, id: 'e-hello' });
    assert.equal(e, 3);
    const edit = await b.next(isType('edit'));
    // The id is the one the author gave; the time is the server's, taken while it was handled.
    assert.ok(edit.ts >= sent && edit.ts <= Date.now(), `ts ${edit.ts} is the time of the edit`);
    assert.deepEqual(edit, { type: 'edit', seq: 3, target: 1, from: { user_id: 'alice', connection_id: a.connectionId }, data: { text: 'hello' }, id: 'e-hello', ts: edit.ts });
    assert.equal(await acked(b, { type: 'react', target: m1, emoji: '👍', on: true }), 4);
    // The same state again: acked (with the message's latest change), nothing logged.
    assert.equal(await acked(b, { type: 'react', target: m1, emoji: '👍', on: true }), 4);
    assert.equal(await acked(a, { type: 'react', target: m1, emoji: '👍', on: true }), 5);
    const react = await b.next((f) => f.type === 'react' && f.seq === 5);
    assert.deepEqual([react.target, react.emoji, react.on, react.from.user_id], [1, '👍', true, 'alice']);
    assert.equal(await acked(b, { type: 'delete', target: m2 }), 6);
    const del = await a.next(isType('delete'));
    assert.deepEqual([del.seq, del.target, del.from.user_id], [6, 2, 'bob']);
    // A retried id is acked with its original seq and not logged again.
    const id = 'edit-once';
    assert.equal(await acked(a, { type: 'edit', target: m1, data: { text: 'hello!' }, id }), 7);
    assert.equal(await acked(a, { type: 'edit', target: m1, data: { text: 'other' }, id }), 7);

    const log = await history(server, room);
    assert.deepEqual(log.map((f) => [f.seq, f.type]), [[1, 'message'], [2, 'message'], [3, 'edit'], [4, 'react'], [5, 'react'], [6, 'delete'], [7, 'edit']], 'gapless');
    assert.deepEqual(log[0].data, { text: 'hello!' });
    assert.deepEqual([log[0].edited, log[0].updated, log[0].reactions], [true, 7, { '👍': ['bob', 'alice'] }]);
    assert.deepEqual([log[1].deleted, log[1].data, log[1].updated], [true, null, 6]);
    // Newest first, the same frames.
    assert.deepEqual((await history(server, room, 'limit=3')).map((f) => f.seq), [7, 6, 5]);
    // A resume replays the same: messages in their current state, then the events.
    const late = await join(server, room, 'carol', { query: '&since=0' });
    const replay = [];
    while (replay.length < 7) replay.push(await late.next(() => true));
    assert.deepEqual(replay, log);
    for (const c of [a, b, late]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('only the author edits or deletes; missing, deleted and malformed targets are refused; nothing is logged', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'events-refused';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob');
    const m = await post(a, 'mine');
    const srv = (await admin(server).post(`/rooms/${room}/messages`, { data: 'from the server' })).body.seq;
    const from = a.mark();
    const expect = async (client, frame, code) => {
      const e = await refused(client, frame);
      assert.deepEqual([e.type, e.code], ['error', code], JSON.stringify(frame));
      assert.ok(e.id, 'the refusal carries the id');
    };
    await expect(b, { type: 'edit', target: m, data: 1 }, 'forbidden');
    await expect(b, { type: 'delete', target: m }, 'forbidden');
    await expect(a, { type: 'edit', target: srv, data: 1 }, 'forbidden');
    await expect(a, { type: 'edit', target: 99, data: 1 }, 'not_found');
    await expect(a, { type: 'delete', target: 99 }, 'not_found');
    await expect(b, { type: 'react', target: 99, emoji: 'x', on: true }, 'not_found');
    await expect(a, { type: 'edit', target: m }, 'bad_frame');
    await expect(a, { type: 'edit', target: 0, data: 1 }, 'bad_frame');
    await expect(b, { type: 'react', target: m, emoji: '', on: true }, 'bad_frame');
    await expect(b, { type: 'react', target: m, emoji: 'x'.repeat(33), on: true }, 'bad_frame');
    await expect(b, { type: 'react', target: m, emoji: 'a\u0007', on: true }, 'bad_frame');
    await expect(b, { type: 'react', target: m, emoji: 'x' }, 'bad_frame');
    for (let i = 0; i < 20; i++) await acked(b, { type: 'react', target: m, emoji: `e${i}`, on: true });
    await expect(b, { type: 'react', target: m, emoji: 'one too many', on: true }, 'too_large');
    await acked(a, { type: 'delete', target: m });
    await expect(a, { type: 'edit', target: m, data: 1 }, 'not_found');
    await expect(a, { type: 'delete', target: m }, 'not_found');
    await expect(b, { type: 'react', target: m, emoji: 'x', on: true }, 'not_found');
    // An event is not a message.
    await expect(a, { type: 'edit', target: 3, data: 1 }, 'not_found');
    const seqs = (await history(server, room)).map((f) => f.seq);
    assert.deepEqual(seqs, Array.from({ length: 23 }, (_, i) => i + 1), '2 messages, 20 reactions, 1 deletion');
    assert.ok(a.log.slice(from).every((f) => f.type !== 'edit'), 'no refused edit was broadcast');
    for (const c of [a, b]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('DELETE /rooms/{room}/messages/{seq}: the server deletes any message; its data is gone from storage', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-delete-'));
  let server = await startServer({ persistDir: dir });
  try {
    const room = 'server-delete';
    const a = await join(server, room, 'alice');
    const m = await post(a, { text: 'a secret' });
    await acked(a, { type: 'edit', target: m, data: { text: 'another secret' } });
    const api = admin(server);
    assert.equal((await api.call('DELETE', `/rooms/${room}/messages/${m}`)).status, 200);
    const del = await a.next(isType('delete'));
    assert.deepEqual([del.seq, del.target, del.from], [3, 1, { server: true }]);
    assert.deepEqual((await api.call('DELETE', `/rooms/${room}/messages/${m}`)).body.error.code, 'not_found', 'gone already');
    assert.equal((await api.call('DELETE', `/rooms/${room}/messages/77`)).status, 404);
    assert.equal((await api.call('DELETE', `/rooms/${room}/messages/x`)).status, 400);
    assert.equal((await admin(server, null).call('DELETE', `/rooms/${room}/messages/1`)).status, 401);
    const log = await history(server, room);
    assert.deepEqual(log.map((f) => [f.type, f.data ?? null]), [['message', null], ['edit', null], ['delete', null]]);
    a.terminate();
    await server.stop();
    const dump = execFileSync('python3', ['-c', `
import os, sqlite3, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith('.sqlite'):
            db = sqlite3.connect(os.path.join(root, f))
            if db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'log'").fetchone()[0]:
                for row in db.execute('SELECT frame FROM log'):
                    print(row[0])
`, dir]).toString();
    assert.match(dump, /"deleted":true/);
    assert.doesNotMatch(dump, /secret/, 'deleted means gone, also from the edits');
    server = await startServer({ persistDir: dir });
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('edits, deletions and reactions survive hibernation and a workerd restart', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-events-'));
  let server = await startServer({ persistDir: dir });
  const port = Number(new URL(server.url).port);
  try {
    const room = 'events-durable';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob');
    const m1 = await post(a, 'one');
    const m2 = await post(a, 'two');
    await acked(b, { type: 'react', target: m1, emoji: '🎉', on: true });
    await waitForEviction(server, room);
    // Woken by an event: the message's state is read from storage.
    await acked(a, { type: 'edit', target: m1, data: 'one, edited' });
    await acked(b, { type: 'react', target: m1, emoji: '🎉', on: true }); // a repeat: nothing
    await acked(a, { type: 'delete', target: m2 });
    a.terminate();
    b.terminate();
    await server.stop();
    server = await startServer({ persistDir: dir, port });
    const log = await history(server, room);
    assert.deepEqual(log.map((f) => f.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual([log[0].data, log[0].edited, log[0].reactions], ['one, edited', true, { '🎉': ['bob'] }]);
    assert.deepEqual([log[1].data, log[1].deleted], [null, true]);
    // Bob's stored reaction is taken back by his own removal only: alice's stays, then hers goes
    // too and the message has no reactions left.
    const c = await join(server, room, 'bob');
    const d = await join(server, room, 'alice');
    assert.equal(await acked(d, { type: 'react', target: m1, emoji: '🎉', on: true }), 6);
    assert.equal(await acked(c, { type: 'react', target: m1, emoji: '🎉', on: false }), 7);
    const after = await history(server, room);
    assert.deepEqual([after[0].reactions, after[0].updated, after.at(-1).seq], [{ '🎉': ['alice'] }, 7, 7], 'bob\'s reaction removed, alice\'s kept');
    assert.equal(await acked(d, { type: 'react', target: m1, emoji: '🎉', on: false }), 8);
    const last = await history(server, room);
    assert.deepEqual([last[0].reactions, last[0].updated, last.at(-1).seq], [undefined, 8, 8], 'the last reaction removed');
    c.terminate();
    d.terminate();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('events reach batch connections inside the turn\'s batch, in seq order with the messages', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'events-batch';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob', { query: '&batch=1' });
    const m = await post(a, 'x');
    // a's ack can arrive before b's copy: the mark goes after b has the message.
    await until(() => unwrapBatches(b.log).frames.some(messageWith('x')), { what: 'b has the first message' });
    const from = b.mark();
    a.send({ type: 'edit', target: m, data: 'y', id: 'e' });
    a.send({ type: 'react', target: m, emoji: '✅', on: true, id: 'r' });
    a.send({ type: 'publish', data: 'z', id: 'p' });
    const seen = () => unwrapBatches(b.log.slice(from)).frames;
    await until(() => seen().some(messageWith('z')), { what: 'the marker message' });
    assert.deepEqual(seen().map((f) => [f.type, f.seq]), [['edit', 2], ['react', 3], ['message', 4]]);
    for (const c of [a, b]) c.terminate();
  } finally {
    await server.stop();
  }
});
