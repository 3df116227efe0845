// Room deletion (issue 23): `DELETE /rooms/{room}` (admin) closes every socket of the room with
// the close code 4006 `room_deleted` (a `closing` frame first, like 4003/4004/4005), erases the
// room's storage whole and tells the registry and the stats; the name can be used again, from
// seq 1. How it is checked: a room with everything a room stores (messages, an edit, a read
// cursor, a ban, a revocation, webhook events waiting for a receiver that refuses them) and two
// users connected is deleted on a persisted server; the sockets get `closing` 4006 and the close;
// `/rooms/{room}`, `/users/{u}` and `/stats` drop to zero; after the server is stopped, the room's
// SQLite file holds no row (nor any table), and its alarm is gone — while a room that was not
// deleted still has its rows (the checker's control). Reuse: on the live object (its memory must
// be reset, not only its storage) and after a restart, a new connect and publish get seq 1 and
// history shows only the new message; the registry forgets the room's unread bookkeeping (a
// user's cursor there, the room's message count), so unread counts in the reused room start
// afresh. Admin only; other methods on `/rooms/{room}` stay 405.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { admin, eventually } from './support/admin.mjs';
import { join } from './support/client.mjs';
import { acked, post } from './support/chat.mjs';
import { listDatabases } from './support/databases.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';
import { expectServerClose, isClosing } from './support/sessions.mjs';

const history = async (srv, room) => (await admin(srv).get(`/rooms/${room}/messages?since=0`)).body.messages;

/** Deletes `room` while `clients` are connected to it: each gets `closing` 4006, then the close. */
async function deleteWith(srv, room, clients) {
  const r = await admin(srv).call('DELETE', `/rooms/${room}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { closed: clients.length });
  for (const c of clients) await expectServerClose(c, 4006, 'room_deleted');
}

/** A new connect and publish in `room` start again from seq 1; history has only that message. */
async function reusedFromSeqOne(srv, room, user) {
  const c = await join(srv, room, user);
  assert.equal(c.welcome.seq, 0, 'the welcome names no earlier message');
  assert.equal(await post(c, { text: 'anew' }), 1);
  const log = await history(srv, room);
  assert.deepEqual(log.map((m) => [m.seq, m.data]), [[1, { text: 'anew' }]]);
  c.close();
}

test('a deleted room: 4006 for everyone, counts to zero, no row left on disk, the name reusable from seq 1', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-room-deletion-'));
  // The receiver refuses every batch: the room's events wait in its outbox (and retry alarm).
  const receiver = await startReceiver({ respond: () => 500 });
  const vars = webhookVars(receiver, { WEBHOOK_EVENTS: 'message,presence,moderation' });
  const room = 'doomed';
  const kept = 'kept';
  try {
    const ids = await deleteOnPersistedServer(persistDir, vars, room, kept);
    assertNoRowsLeft(persistDir, ids);
    const server = await startServer({ persistDir, vars });
    try {
      await reusedFromSeqOne(server, room, 'erin');
    } finally {
      await server.stop();
    }
  } finally {
    await receiver.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

/** Fills `room` with everything a room stores and `kept` with a message, deletes `room` while
 * two users are connected, checks the sockets and the counts; answers the objects' ids. */
async function deleteOnPersistedServer(persistDir, vars, room, kept) {
  const server = await startServer({ persistDir, vars });
  try {
    const api = admin(server);
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    const m1 = await post(alice, { text: 'one' });
    await post(bob, { text: 'two' });
    await acked(alice, { type: 'edit', target: m1, data: { text: 'one!' } });
    bob.send({ type: 'read', seq: 2 });
    await alice.next((f) => f.type === 'read' && f.user_id === 'bob');
    assert.equal((await api.post(`/rooms/${room}/kick`, { user_id: 'mallory', ban_seconds: -1 })).status, 200);
    // A revocation is stored by the rooms where the user is connected.
    const carol = await join(server, room, 'carol');
    assert.equal((await api.post('/users/carol/revoke', {})).status, 200);
    await carol.next(isClosing);
    const other = await join(server, kept, 'dave');
    await post(other, { text: 'stays' });
    await eventually(async () => (await api.get('/stats')).body, { connections: 3, rooms: 2, users: 3 });

    await deleteWith(server, room, [alice, bob]);
    assert.ok(!alice.log.slice(0, -1).some(isClosing), 'one closing frame each');
    assert.deepEqual((await api.get(`/rooms/${room}`)).body.connections, 0);
    for (const u of ['alice', 'bob']) {
      await eventually(async () => (await api.get(`/users/${u}`)).body.connections, 0);
    }
    await eventually(async () => (await api.get('/stats')).body, { connections: 1, rooms: 1, users: 1 });
    assert.deepEqual(await history(server, room), [], 'the log is gone');
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body.bans, [], 'the ban is gone');
    other.close();

    const idOf = async (binding, name) => (await server.mf.getDurableObjectNamespace(binding)).idFromName(name).toString();
    return { room: await idOf('ROOMS', room), kept: await idOf('ROOMS', kept) };
  } finally {
    await server.stop();
  }
}

/** Read on disk once the server is stopped: the deleted room's database holds no row and it has
 * no alarm, while the kept room (the checker's control) has its rows and its alarm. */
function assertNoRowsLeft(persistDir, ids) {
  const rooms = listDatabases(persistDir)['-ChatRoom'];
  // The control: the room that was not deleted has its rows where the checker looks.
  assert.ok(rooms[ids.kept]?.log?.length > 0, 'the kept room has its log');
  assert.ok(rooms[ids.kept]?.webhook_outbox?.length > 0, 'the kept room has its waiting events');
  const left = Object.entries(rooms[ids.room] ?? {}).filter(([, rows]) => rows.length > 0);
  assert.deepEqual(left, [], 'rows left in the deleted room\'s database');
  const alarms = (rooms.metadata?._cf_ALARM ?? []).map(([id]) => id);
  assert.ok(alarms.includes(ids.kept), 'the kept room has its webhook retry alarm (the control)');
  assert.ok(!alarms.includes(ids.room), 'the deleted room has no alarm');
}

/** Bob reads `room` up to `seq` (his receipt comes back once the cursor is stored). */
async function readUpTo(bob, seq) {
  bob.send({ type: 'read', seq });
  await bob.next((f) => f.type === 'read' && f.user_id === 'bob' && f.seq === seq);
}

test('the live object forgets the deleted room: reuse without a restart starts at seq 1, unread counts too', { timeout: 60_000 }, async () => {
  const server = await startServer();
  const unreadOfBob = async () => (await admin(server).get('/users/bob/unread')).body;
  try {
    const room = 'reused-live';
    const a = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    for (let i = 0; i < 5; i++) await post(a, { i });
    // Bob's 3 unread prove the registry knows both his cursor and the room's count of 5.
    await readUpTo(bob, 2);
    await eventually(unreadOfBob, { rooms: { [room]: 3 } });
    await deleteWith(server, room, [a, bob]);
    // The registry forgets bob's cursor there and the room's message count.
    await eventually(unreadOfBob, { rooms: {} });
    await reusedFromSeqOne(server, room, 'erin');
    const again = await join(server, room, 'bob');
    await readUpTo(again, 1);
    for (const n of [2, 3]) assert.equal((await admin(server).post(`/rooms/${room}/messages`, { data: { n } })).body.seq, n);
    await eventually(unreadOfBob, { rooms: { [room]: 2 } });
    again.close();
    // Deleting a room nobody uses is a 200 that closes nothing.
    assert.deepEqual((await admin(server).call('DELETE', '/rooms/never-used')).body, { closed: 0 });
  } finally {
    await server.stop();
  }
});

test('only the admin deletes a room; other methods stay 405; a bad name is 400', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'guarded';
    await admin(server).post(`/rooms/${room}/messages`, { data: 'kept' });
    for (const token of [null, 'wrong']) {
      const r = await admin(server, token).call('DELETE', `/rooms/${room}`);
      assert.equal(r.status, 401, `token ${token}`);
    }
    assert.equal((await history(server, room)).length, 1, 'nothing was deleted');
    for (const method of ['PUT', 'PATCH', 'POST']) {
      const r = await admin(server).call(method, `/rooms/${room}`);
      assert.equal(r.status, 405, method);
      assert.equal(r.body.error.code, 'method_not_allowed');
    }
    const bad = await admin(server).call('DELETE', '/rooms/a%20b');
    assert.deepEqual([bad.status, bad.body.error.code], [400, 'bad_room']);
  } finally {
    await server.stop();
  }
});
