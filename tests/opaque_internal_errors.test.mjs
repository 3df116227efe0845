// Internal failures are opaque (issue 12): a client is told `internal` and an incident id —
// in an `error` frame (with the frame's id) on a socket, in the `{"error":{...}}` body over
// HTTP — never the failure's text; the operator's log has the detail under the same id, as
// one JSON line. Nothing is stored or broadcast, and the connection stays usable.
//
// The failure is real and needs no special build: the room's SQLite database (persisted by
// a first server) gets a trigger that aborts every insert into the log, with a message that
// must never reach a client; a second server on the same directory then fails every append.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Miniflare } from 'miniflare';
import { startServer, workerOptions } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isReceipt, isTyping, post } from './support/chat.mjs';

const SECRET_DETAIL = 'SECRET-DETAIL-7f3a';
const ROOM = 'faulty';
const INCIDENT = /^[0-9a-f]{12}$/;

/** Our worker on `persistDir`, with everything it logs collected in `logs`. */
async function startLogged(persistDir) {
  const logs = [];
  const collect = (stream) => stream.on('data', (chunk) => logs.push(chunk.toString()));
  const mf = new Miniflare({
    ...workerOptions({ persistDir }),
    handleRuntimeStdio(stdout, stderr) { collect(stdout); collect(stderr); },
  });
  const base = (await mf.ready).toString().replace(/\/$/, '');
  return { mf, url: base, wsUrl: base.replace(/^http/, 'ws'), logs, stop: () => mf.dispose() };
}

/** The log line of `incident`, parsed (the runtime may prefix lines or split them across
 * chunks: match the JSON in the whole output). The runtime's output reaches us through a pipe,
 * possibly after the response: wait for it, bounded. */
async function logLineOf(logs, incident, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = logs.join('').match(new RegExp(`\\{[^\\n]*"incident":"${incident}"[^\\n]*\\}`));
    if (match || Date.now() > deadline) return match && JSON.parse(match[0]);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a failed write answers internal with an incident id, over a socket and over HTTP, never the detail', { timeout: 60_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-incident-'));
  try {
    // A room with one message: its log table exists.
    const first = await startServer({ persistDir });
    let id;
    try {
      const r = await admin(first).post(`/rooms/${ROOM}/messages`, { data: 'before the fault' });
      assert.deepEqual(r.body, { delivered: 0, seq: 1 });
      id = (await first.mf.getDurableObjectNamespace('ROOMS')).idFromName(ROOM).toString();
    } finally {
      await first.stop();
    }
    const db = path.join(persistDir, '-ChatRoom', `${id}.sqlite`);
    execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TRIGGER fault BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, '${SECRET_DETAIL}'); END")
db.commit()
db.close()
`, db]);

    const server = await startLogged(persistDir);
    try {
      const api = admin(server);
      const alice = await join(server, ROOM, 'alice');
      const bob = await join(server, ROOM, 'bob');
      assert.equal(alice.welcome.seq, 1);

      // Over a socket: an error frame with the frame's id and an incident, nothing else.
      alice.send({ type: 'publish', data: 'lost', id: 'p1' });
      const e = await alice.next((f) => f.type === 'error' && f.id === 'p1');
      assert.deepEqual(Object.keys(e).sort(), ['code', 'id', 'incident', 'message', 'type']);
      assert.equal(e.code, 'internal');
      assert.match(e.incident, INCIDENT);
      assert.ok(!/SECRET|SQLITE|INSERT|trigger|log\b/i.test(e.message), `frame says too much: ${e.message}`);
      assert.equal(alice.frames.filter((f) => f.type === 'ack' || f.type === 'message').length, 0, 'not acked, not broadcast');

      // Over HTTP: 500 and the contract's error body with an incident.
      const post = await api.post(`/rooms/${ROOM}/messages`, { data: 'lost too' });
      assert.equal(post.status, 500);
      assert.deepEqual(Object.keys(post.body.error).sort(), ['code', 'incident', 'message']);
      assert.equal(post.body.error.code, 'internal');
      assert.match(post.body.error.incident, INCIDENT);
      assert.ok(!post.text.includes(SECRET_DETAIL) && !/SQLITE/i.test(post.text), `body says too much: ${post.text}`);
      assert.notEqual(post.body.error.incident, e.incident, 'one incident per failure');

      // Nothing was broadcast: the next thing bob gets is the server's marker.
      const marker = await api.post(`/connections/${bob.connectionId}/messages`, { data: 'marker' });
      assert.deepEqual(marker.body, { delivered: 1 });
      assert.deepEqual(await bob.next(), { type: 'direct', from: { server: true }, data: 'marker' });
      // Nothing was stored; reads still work; the connection is still usable.
      const history = await api.get(`/rooms/${ROOM}/messages`);
      assert.deepEqual(history.body.messages.map((m) => m.data), ['before the fault']);
      alice.send({ type: 'direct', to: { connection_id: bob.connectionId }, data: 'still here', id: 'd1' });
      assert.equal((await bob.next((f) => f.type === 'direct')).data, 'still here');

      // The operator's log has the detail under each incident id.
      for (const incident of [e.incident, post.body.error.incident]) {
        const line = await logLineOf(server.logs, incident);
        assert.ok(line, `no log line for incident ${incident}`);
        assert.equal(line.level, 'error');
        assert.equal(typeof line.what, 'string');
        assert.ok(line.detail.includes(SECRET_DETAIL), `the log keeps the detail: ${line.detail}`);
      }
      alice.terminate(); bob.terminate();
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

/** A persisted room whose log holds alice's message 1 (and `more` of hers), then `fault`:
 * triggers (SQL) added to its database while no server runs. Returns the persistence dir. */
async function faultyRoom(room, fault, { more = 0, reads = [] } = {}) {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-incident-'));
  const first = await startServer({ persistDir });
  let id;
  try {
    const alice = await join(first, room, 'alice');
    for (let i = 0; i <= more; i++) await post(alice, i === 0 ? 'before the fault' : `more ${i}`);
    for (const [user, seq] of reads) {
      const c = await join(first, room, user);
      c.send({ type: 'read', seq });
      await c.next(isReceipt(user, seq));
      c.terminate();
    }
    alice.terminate();
    id = (await first.mf.getDurableObjectNamespace('ROOMS')).idFromName(room).toString();
  } finally {
    await first.stop();
  }
  const db = path.join(persistDir, '-ChatRoom', `${id}.sqlite`);
  execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(sys.argv[2])
db.commit()
db.close()
`, db, fault]);
  return persistDir;
}

/** Sends `frame` and resolves with the first answer to it, an ack, an error or a receipt —
 * whatever its id, so that an answer without the frame's id fails on the id, not by a timeout. */
async function answerTo(client, frame) {
  client.send(frame);
  return client.next((f) => f.type === 'ack' || f.type === 'error' || (f.type === 'read' && f.user_id === client.user));
}

/** Runs `fn(server, api)` on a logged server over `room` made faulty by `fault`; cleans up. */
async function withFaultyRoom(room, fault, opts, fn) {
  const persistDir = await faultyRoom(room, fault, opts);
  try {
    const server = await startLogged(persistDir);
    try {
      return await fn(server, admin(server));
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
}

/** What `c` received since `from`, up to a marker the server API sends it after that. */
async function seenBeforeMarker(api, c, from) {
  const marker = await api.post(`/connections/${c.connectionId}/messages`, { data: 'marker' });
  assert.deepEqual(marker.body, { delivered: 1 });
  return c.framesBefore((f) => f.type === 'direct' && f.data === 'marker', from);
}

/** The frame is refused `internal` with its own id and an incident, and says nothing more. */
function assertInternal(e, id) {
  assert.deepEqual(Object.keys(e).sort(), ['code', 'id', 'incident', 'message', 'type'], JSON.stringify(e));
  assert.deepEqual([e.type, e.code, e.id], ['error', 'internal', id]);
  assert.match(e.incident, INCIDENT);
  assert.ok(!/SECRET|SQLITE|INSERT|trigger|log\b|reads/i.test(e.message), `frame says too much: ${e.message}`);
}

test('a failed edit or reaction answers internal with the frame\'s id and an incident; nothing is stored or broadcast; the connection and the room carry on', { timeout: 60_000 }, async () => {
  const room = 'faulty-events';
  const fault = `CREATE TRIGGER fault BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, '${SECRET_DETAIL}'); END;`;
  return withFaultyRoom(room, fault, {}, async (server, api) => {
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    assert.equal(alice.welcome.seq, 1);
    const from = [alice.mark(), bob.mark()];

    const edit = await answerTo(alice, { type: 'edit', target: 1, data: 'edited', id: 'e1' });
    assertInternal(edit, 'e1');
    const react = await answerTo(bob, { type: 'react', target: 1, emoji: '👍', on: true, id: 'r1' });
    assertInternal(react, 'r1');
    assert.notEqual(edit.incident, react.incident, 'one incident per failure');

    // Nothing was broadcast or acked: before the server's marker each got only its error.
    for (const [i, c] of [alice, bob].entries()) {
      const seen = await seenBeforeMarker(api, c, from[i]);
      assert.deepEqual(seen, [c === alice ? edit : react], `${c.user} saw only its error`);
    }
    // Nothing was stored: message 1 as it was, no event after it.
    const history = await api.get(`/rooms/${room}/messages?since=0`);
    assert.deepEqual(history.body.messages.map((m) => [m.seq, m.type, m.data, m.edited, m.reactions]),
      [[1, 'message', 'before the fault', undefined, undefined]]);
    // The connections and the room carry on: a typing frame is relayed, a read is stored and
    // announced, a direct arrives.
    alice.send({ type: 'typing' });
    assert.deepEqual(await bob.next(isTyping('alice')), { type: 'typing', user_id: 'alice' });
    bob.send({ type: 'read', seq: 1 });
    await alice.next(isReceipt('bob', 1));
    alice.send({ type: 'direct', to: { connection_id: bob.connectionId }, data: 'still here', id: 'd1' });
    assert.equal((await bob.next((f) => f.type === 'direct')).data, 'still here');

    // The operator's log has the detail under each incident id.
    for (const incident of [edit.incident, react.incident]) {
      const line = await logLineOf(server.logs, incident);
      assert.ok(line, `no log line for incident ${incident}`);
      assert.equal(line.level, 'error');
      assert.ok(line.detail.includes(SECRET_DETAIL), `the log keeps the detail: ${line.detail}`);
    }
    alice.terminate(); bob.terminate();
  });
});

test('a failed read answers internal with the frame\'s id and an incident; no receipt, no cursor moved; the connection and the room carry on', { timeout: 60_000 }, async () => {
  const room = 'faulty-reads';
  // Messages 1 and 2; bob's cursor is at 1 (the reads table exists). Every write of a cursor fails.
  const fault = `
    CREATE TRIGGER fault_insert BEFORE INSERT ON reads BEGIN SELECT RAISE(ABORT, '${SECRET_DETAIL}'); END;
    CREATE TRIGGER fault_update BEFORE UPDATE ON reads BEGIN SELECT RAISE(ABORT, '${SECRET_DETAIL}'); END;`;
  return withFaultyRoom(room, fault, { more: 1, reads: [['bob', 1]] }, async (server, api) => {
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    assert.deepEqual([bob.welcome.seq, bob.welcome.read_seq], [2, 1]);
    const from = [alice.mark(), bob.mark()];

    const read = await answerTo(bob, { type: 'read', seq: 2, id: 'rd1' });
    assertInternal(read, 'rd1');

    // No receipt went out: before the server's marker, alice got nothing and bob his error.
    for (const [i, c] of [alice, bob].entries()) {
      const seen = await seenBeforeMarker(api, c, from[i]);
      assert.deepEqual(seen, c === alice ? [] : [read], `${c.user} saw no receipt`);
    }
    // The cursor did not move.
    const again = await join(server, room, 'bob');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [1, 1]);
    // The connections and the room carry on: a message is stored and broadcast.
    bob.send({ type: 'publish', data: 'still here', id: 'p1' });
    assert.equal((await alice.next((f) => f.type === 'message')).data, 'still here');
    await bob.next((f) => f.type === 'ack' && f.id === 'p1');

    const line = await logLineOf(server.logs, read.incident);
    assert.ok(line, `no log line for incident ${read.incident}`);
    assert.ok(line.detail.includes(SECRET_DETAIL), `the log keeps the detail: ${line.detail}`);
    for (const c of [alice, bob, again]) c.terminate();
  });
});

test('a failed rewrite of the message\'s state during an edit stores nothing either: no event in the log, and a retry is not acked as done', { timeout: 60_000 }, async () => {
  // An edit is two writes: the rewrite of its message's row and the event's insert. Here every
  // update of the log aborts (the insert's failure is the test above).
  const room = 'faulty-rewrite';
  const fault = `CREATE TRIGGER fault BEFORE UPDATE ON log BEGIN SELECT RAISE(ABORT, '${SECRET_DETAIL}'); END;`;
  return withFaultyRoom(room, fault, {}, async (server, api) => {
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    const from = bob.mark();
    const edit = await answerTo(alice, { type: 'edit', target: 1, data: 'edited', id: 'e1' });
    assertInternal(edit, 'e1');
    assert.deepEqual(await seenBeforeMarker(api, bob, from), [], 'nothing broadcast');
    // "internal: ... nothing was stored or sent; retrying is safe" (docs/protocol.md).
    const history = await api.get(`/rooms/${room}/messages?since=0`);
    assert.deepEqual(history.body.messages.map((m) => [m.seq, m.type, m.data]), [[1, 'message', 'before the fault']],
      'nothing stored');
    const retry = await answerTo(alice, { type: 'edit', target: 1, data: 'edited', id: 'e1' });
    assert.deepEqual([retry.type, retry.code], ['error', 'internal'], `the retry fails as the first did: ${JSON.stringify(retry)}`);
    alice.terminate(); bob.terminate();
  });
});
