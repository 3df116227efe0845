// Unread counts across rooms (issue 14): `GET /users/{user}/unread` (admin token) and
// `GET /me/unread` (the user's own token) answer `{"rooms":{room:n}}` for every room where
// the user has a read cursor — also once all the user's sockets are closed — from the registry
// shards, never waking the rooms: the rooms report their message counts and the user's read
// state in the background (coalesced, at most one report per shard per second), so the
// answer converges within about a second (bounded polling: `eventually`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { devToken, join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { idleForEviction, roomDebug, waitForEviction } from './support/eviction.mjs';
import { acked, isReceipt, post } from './support/chat.mjs';

const me = async (server, token) => {
  const res = await fetch(`${server.url}/me/unread`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json() };
};

test('unread counts per room, after the user\'s sockets are closed, for the admin and for the user', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-unread-'));
  let server = await startServer({ persistDir: dir });
  const port = Number(new URL(server.url).port);
  try {
    const api = admin(server);
    const alice = await join(server, 'u-lobby', 'alice');
    const alice2 = await join(server, 'u-random', 'alice');
    const bob = await join(server, 'u-lobby', 'bob');
    const bob2 = await join(server, 'u-random', 'bob');
    assert.deepEqual((await api.get('/users/alice/unread')).body, { rooms: {} }, 'no cursor anywhere yet');
    for (let i = 0; i < 3; i++) await post(bob, `l${i}`);
    await post(bob2, 'r0');
    alice.send({ type: 'read', seq: 1 });
    alice2.send({ type: 'read', seq: 1 });
    await bob.next(isReceipt('alice', 1));
    await bob2.next(isReceipt('alice', 1));
    await eventually(async () => (await api.get('/users/alice/unread')).body, { rooms: { 'u-lobby': 2, 'u-random': 0 } });
    // alice's own message does not count; bob's do. Then all of alice's sockets close.
    await post(alice, 'mine');
    alice.terminate();
    alice2.terminate();
    await post(bob, 'l3');
    await post(bob2, 'r1');
    await post(bob2, 'r2');
    const want = { rooms: { 'u-lobby': 3, 'u-random': 2 } };
    await eventually(async () => (await api.get('/users/alice/unread')).body, want);
    const token = await devToken(server, 'alice');
    assert.deepEqual(await me(server, token), { status: 200, body: want });
    // A token limited to some rooms sees those only.
    const limited = await devToken(server, 'alice', { rooms: ['u-random'] });
    assert.deepEqual((await me(server, limited)).body, { rooms: { 'u-random': 2 } });
    // bob has no cursor: no rooms.
    assert.deepEqual((await api.get('/users/bob/unread')).body, { rooms: {} });
    // Refusals.
    assert.equal((await me(server)).status, 401);
    assert.equal((await me(server, 'not-a-jwt')).status, 401);
    assert.equal((await admin(server, null).get('/users/alice/unread')).status, 401);
    assert.equal((await admin(server, token).get('/users/alice/unread')).status, 401, 'a user token is not the admin token');
    for (const c of [bob, bob2]) c.terminate();
    // The answer comes from the registry shards, never from the rooms: once the rooms are
    // evicted, a read does not wake them (the probe after it meets an instance it constructed
    // itself, with nothing loaded).
    // (A room's bookkeeping ends about 2 s after its last close — the leave's report held a
    // second, the stats report's interval — before it can go idle.)
    await idleForEviction(Date.now() + 2500);
    assert.deepEqual((await api.get('/users/alice/unread')).body, want);
    for (const room of ['u-lobby', 'u-random']) {
      const sent = Date.now();
      const probe = await roomDebug(server, room);
      assert.ok(probe.created_ms >= sent - 5 && !probe.loaded_before_this_call, `${room} was not woken by the read`);
    }
    // After a restart, from storage.
    await server.stop();
    server = await startServer({ persistDir: dir, port });
    assert.deepEqual((await admin(server).get('/users/alice/unread')).body, want);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a revoked token cannot read its unread counts', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const token = await devToken(server, 'carol');
    assert.equal((await me(server, token)).status, 200);
    await new Promise((r) => setTimeout(r, 1100)); // the revocation is after the token's iat
    assert.equal((await admin(server).post('/users/carol/revoke', {})).status, 200);
    const refused = await me(server, token);
    assert.deepEqual([refused.status, refused.body.error.code], [401, 'revoked']);
  } finally {
    await server.stop();
  }
});

test('a deleted message counts as unread until read past, in the welcome and across rooms', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'u-deleted';
    const token = await devToken(server, 'alice');
    const bob = await join(server, room, 'bob');
    for (let i = 1; i <= 3; i++) await post(bob, `m${i}`);
    assert.equal(await acked(bob, { type: 'delete', target: 2 }), 4, 'message 2 is deleted (event 4)');
    const history = (await admin(server).get(`/rooms/${room}/messages?since=0`)).body.messages;
    assert.deepEqual(history.map((m) => [m.seq, m.type, m.deleted ?? false]),
      [[1, 'message', false], [2, 'message', true], [3, 'message', false], [4, 'delete', false]]);
    // Never read: 1, 2 (deleted) and 3 are unread; the deletion event is no message.
    const alice = await join(server, room, 'alice');
    assert.deepEqual([alice.welcome.read_seq, alice.welcome.unread], [0, 3]);
    // Read up to 1: 2 (deleted) and 3 are left. The registry learns it from the room's report,
    // made after the deletion: the deleted message is still in the count it reports.
    alice.send({ type: 'read', seq: 1 });
    await bob.next(isReceipt('alice', 1));
    const after1 = await join(server, room, 'alice');
    assert.deepEqual([after1.welcome.read_seq, after1.welcome.unread], [1, 2]);
    await eventually(async () => (await me(server, token)).body, { rooms: { [room]: 2 } });
    // Reading the deleted message itself reads it past.
    alice.send({ type: 'read', seq: 2 });
    await bob.next(isReceipt('alice', 2));
    const after2 = await join(server, room, 'alice');
    assert.deepEqual([after2.welcome.read_seq, after2.welcome.unread], [2, 1]);
    await eventually(async () => (await me(server, token)).body, { rooms: { [room]: 1 } });
    for (const c of [alice, after1, after2, bob]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('messages trimmed by retention up to the cursor count as read: they do not inflate unread', { timeout: 30_000 }, async () => {
  // HISTORY_MAX_MESSAGES=3 trims once the log holds 5 (the limit plus a tenth, at least one),
  // down to 3: after 5 messages 1-2 are gone, after 7 messages 1-4.
  const server = await startServer({ vars: { HISTORY_MAX_MESSAGES: '3' } });
  try {
    const room = 'u-trimmed';
    const token = await devToken(server, 'alice');
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    for (let i = 1; i <= 4; i++) await post(bob, `m${i}`);
    alice.send({ type: 'read', seq: 4 });
    await bob.next(isReceipt('alice', 4));
    await post(bob, 'm5');
    await post(bob, 'm6');
    await post(alice, 'mine'); // 7: alice's own; her cursor's message (4) and all before it are trimmed now
    const history = (await admin(server).get(`/rooms/${room}/messages?since=0`)).body.messages;
    assert.deepEqual(history.map((m) => m.seq), [5, 6, 7], 'retention trimmed 1-4, the cursor\'s message included');
    // Unread: 5 and 6 — not 1-4 as well, though no retained message tells the cursor's place.
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [4, 2]);
    // Her message made the room report her read state again, computed after the trim.
    await eventually(async () => (await me(server, token)).body, { rooms: { [room]: 2 } });
    for (const c of [alice, again, bob]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('edits and reactions are not counted by the unread counts across rooms: only messages are', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const api = admin(server);
    const room = 'u-events';
    const token = await devToken(server, 'alice');
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    const carol = await join(server, room, 'carol');
    await post(bob, 'm1');
    await post(bob, 'm2');
    alice.send({ type: 'read', seq: 2 });
    await bob.next(isReceipt('alice', 2));
    await eventually(async () => (await api.get('/users/alice/unread')).body, { rooms: { [room]: 0 } });
    // A message: one unread. Seeing it means the room's count report has just arrived, and the
    // room sends its next one a second later with everything that changed meanwhile — the
    // events and the message below ride in it together (a count that took events for messages
    // would jump to 6, never pass 2).
    await post(bob, 'm3');
    await eventually(async () => (await api.get('/users/alice/unread')).body, { rooms: { [room]: 1 } });
    await acked(bob, { type: 'edit', target: 1, data: 'm1 edited' });
    await acked(carol, { type: 'react', target: 1, emoji: '👍', on: true });
    await acked(carol, { type: 'react', target: 3, emoji: '🎉', on: true });
    await acked(carol, { type: 'react', target: 1, emoji: '👍', on: false });
    await post(bob, 'm4'); // seq 8
    const want = { rooms: { [room]: 2 } };
    await eventually(async () => (await api.get('/users/alice/unread')).body, want);
    assert.deepEqual(await me(server, token), { status: 200, body: want });
    // The welcome agrees: 3 and 4 are unread, the four events are not.
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread, again.welcome.seq], [2, 2, 8]);
    for (const c of [alice, again, bob, carol]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('HISTORY_STORAGE=none: cursors live in the room\'s memory only and are reported nowhere', { timeout: 60_000 }, async () => {
  const server = await startServer({ vars: { HISTORY_STORAGE: 'none' } });
  try {
    const room = 'u-none';
    const token = await devToken(server, 'alice');
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    for (let i = 1; i <= 3; i++) await post(bob, `m${i}`);
    alice.send({ type: 'read', seq: 2 });
    await bob.next(isReceipt('alice', 2));
    await post(bob, 'm4');
    // The cursor is in the room's memory: a new connection of alice's is told it.
    const again = await join(server, room, 'alice');
    assert.equal(again.welcome.read_seq, 2);
    again.terminate();
    // A durable room sends a read state to the registry right after the turn, in the background,
    // and stays in memory until it is sent: once the room object has been evicted, anything it
    // reported has arrived. This one reported nothing.
    await waitForEviction(server, room);
    assert.deepEqual((await admin(server).get('/users/alice/unread')).body, { rooms: {} });
    assert.deepEqual(await me(server, token), { status: 200, body: { rooms: {} } });
    // In memory only: the evicted room has forgotten the cursor, with its seqs.
    const later = await join(server, room, 'alice');
    assert.deepEqual([later.welcome.read_seq, later.welcome.seq], [0, 0]);
    for (const c of [alice, bob, later]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('HISTORY_STORAGE=none: the welcome\'s unread is 0 — a room that retains no message has none unread', { timeout: 30_000 }, async () => {
  // docs/protocol.md: a message no longer retained counts as read (as retention's trimmed
  // messages do); a HISTORY_STORAGE=none room retains none. The cursor still shows.
  const server = await startServer({ vars: { HISTORY_STORAGE: 'none' } });
  try {
    const room = 'u-none-welcome';
    const alice = await join(server, room, 'alice');
    const bob = await join(server, room, 'bob');
    await post(alice, 'mine'); // 1: alice's own
    for (let i = 2; i <= 4; i++) await post(bob, `m${i}`);
    const fresh = await join(server, room, 'alice');
    assert.deepEqual([fresh.welcome.read_seq, fresh.welcome.unread], [0, 0], 'never read, but nothing retained');
    alice.send({ type: 'read', seq: 3 });
    await bob.next(isReceipt('alice', 3));
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [3, 0], 'the cursor shows; nothing retained is unread');
    for (const c of [alice, bob, fresh, again]) c.terminate();
  } finally {
    await server.stop();
  }
});
