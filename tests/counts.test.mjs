// The counts of the server API (/rooms, /users, /stats) match the sockets actually open —
// after connects, clean closes, abrupt drops, and after the room objects hibernated.
// /stats is eventually consistent (rooms report asynchronously), so it is polled to
// convergence; /rooms and /users are exact on every read.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { roomDebug, waitForEviction } from './support/eviction.mjs';
// The counts are global: each test gets a server of its own, so that they start at zero
// whatever ran before it (and in whatever order the tests run).
let server, api;
beforeEach(async () => { server = await startServer(); api = admin(server); });
afterEach(async () => { await server?.stop(); server = undefined; });

const stats = async () => (await api.get('/stats')).body;
const room = async (r) => (await api.get(`/rooms/${r}`)).body;
const user = async (u) => (await api.get(`/users/${u}`)).body;

test('counts follow connects, closes, drops and hibernation', { timeout: 60_000 }, async () => {
  assert.deepEqual(await stats(), { connections: 0, rooms: 0, users: 0 }, 'a fresh server');
  const open = {
    a1: await join(server, 'c-red', 'alice'),
    a2: await join(server, 'c-blue', 'alice'),
    a3: await join(server, 'c-blue', 'alice'),
    b1: await join(server, 'c-red', 'bob'),
    c1: await join(server, 'c-green', 'carol'),
  };
  await eventually(stats, { connections: 5, rooms: 3, users: 3 });
  assert.deepEqual(await room('c-blue'), { room: 'c-blue', connections: 2, users: [{ user_id: 'alice', connections: 2 }] });
  assert.deepEqual(await eventually(() => user('alice'), { connections: 3, rooms: { 'c-blue': 2, 'c-red': 1 }, user_id: 'alice' }), { connections: 3, rooms: { 'c-blue': 2, 'c-red': 1 }, user_id: 'alice' });

  // A clean close and an abrupt drop (client killed, no close frame).
  await open.a3.close();
  await open.c1.terminate();
  await eventually(stats, { connections: 3, rooms: 2, users: 2 });
  await eventually(() => user('alice'), { connections: 2, rooms: { 'c-blue': 1, 'c-red': 1 }, user_id: 'alice' });
  await eventually(() => user('carol'), { connections: 0, rooms: {}, user_id: 'carol' });
  assert.deepEqual(await room('c-green'), { room: 'c-green', connections: 0, users: [] });

  // Everything sleeps (rooms, registries, shards); the counts must survive the eviction.
  const fresh = await waitForEviction(server, 'c-red');
  assert.deepEqual(await room('c-red'), {
    room: 'c-red', connections: 2,
    users: [{ user_id: 'alice', connections: 1 }, { user_id: 'bob', connections: 1 }],
  });
  assert.equal((await roomDebug(server, 'c-red')).instance, fresh.instance, 'the count was read by the instance constructed after the eviction');
  assert.deepEqual(await stats(), { connections: 3, rooms: 2, users: 2 });
  assert.deepEqual(await user('alice'), { connections: 2, rooms: { 'c-blue': 1, 'c-red': 1 }, user_id: 'alice' });

  // Drops after the wake are still counted right.
  await open.b1.terminate();
  await open.a1.close();
  await open.a2.terminate();
  await eventually(stats, { connections: 0, rooms: 0, users: 0 });
  assert.deepEqual(await user('alice'), { connections: 0, rooms: {}, user_id: 'alice' });
});

test('many connections and closes in quick succession converge exactly', async () => {
  assert.deepEqual(await stats(), { connections: 0, rooms: 0, users: 0 }, 'a fresh server');
  const clients = [];
  for (let i = 0; i < 30; i++) clients.push(join(server, `burst-${i % 3}`, `u${i % 7}`));
  const open = await Promise.all(clients);
  await eventually(stats, { connections: 30, rooms: 3, users: 7 });
  await Promise.all(open.slice(0, 20).map((c, i) => (i % 2 ? c.close() : c.terminate())));
  const left = open.slice(20);
  const users = new Set(left.map((c) => c.user)).size;
  const rooms = new Set(left.map((c) => c.welcome.room)).size;
  await eventually(stats, { connections: 10, rooms, users });
  await Promise.all(left.map((c) => c.close()));
  await eventually(stats, { connections: 0, rooms: 0, users: 0 });
});
