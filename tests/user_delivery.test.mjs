// Per-user delivery across rooms through the user registry: every connection of the user, in
// every room, exactly once per call; nobody else; `not_found` when the user has no connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';

let server, api;
before(async () => { server = await startServer(); api = admin(server); });
after(async () => { await server?.stop(); });

const direct = (f) => f.type === 'direct';
/** Waits until the registry knows `user` has `n` connections (reports are asynchronous). */
const registryKnows = (user, n) => eventually(async () => (await api.get(`/users/${encodeURIComponent(user)}`)).body.connections, n);

test('a user with 3 connections in 2 rooms gets exactly 3 copies; others none', async () => {
  const a = [await join(server, 'ud-1', 'alice'), await join(server, 'ud-2', 'alice'), await join(server, 'ud-2', 'alice')];
  const others = [await join(server, 'ud-1', 'bob'), await join(server, 'ud-2', 'carol')];
  await registryKnows('alice', 3);

  const r = await api.post('/users/alice/messages', { data: { n: 1 } });
  assert.deepEqual([r.status, r.body], [200, { delivered: 3 }]);
  for (const c of a) assert.deepEqual(await c.next(direct), { type: 'direct', from: { server: true }, data: { n: 1 } });
  await sleep(300);
  for (const c of a) assert.deepEqual(c.frames.filter(direct), [], 'exactly one copy each');
  for (const c of others) assert.deepEqual(c.frames.filter(direct), [], 'other users get nothing');

  await a[1].close();
  await registryKnows('alice', 2);
  const r2 = await api.post('/users/alice/messages', { data: 2 });
  assert.deepEqual(r2.body, { delivered: 2 });
  for (const c of [a[0], a[2]]) assert.equal((await c.next(direct)).data, 2);

  await a[0].close();
  await a[2].terminate();
  await registryKnows('alice', 0);
  const r3 = await api.post('/users/alice/messages', { data: 3 });
  assert.deepEqual([r3.status, r3.body], [200, { delivered: 0 }]);
  others.forEach((c) => c.terminate());
});

test('a client direct to a user reaches every connection of theirs in every room, once', async () => {
  const bob = [await join(server, 'dm-a', 'bob'), await join(server, 'dm-b', 'bob'), await join(server, 'dm-b', 'bob')];
  const alice = await join(server, 'dm-a', 'alice');
  const bystander = await join(server, 'dm-b', 'carol');
  await registryKnows('bob', 3);
  alice.send({ type: 'direct', to: { user_id: 'bob' }, data: 'hey', id: 'd1' });
  for (const c of bob) {
    assert.deepEqual(await c.next(direct), { type: 'direct', from: { user_id: 'alice', connection_id: alice.connectionId }, data: 'hey' });
  }
  await sleep(300);
  for (const c of bob) assert.deepEqual(c.frames.filter(direct), []);
  assert.deepEqual(bystander.frames.filter(direct), []);
  assert.deepEqual(alice.frames.filter((f) => f.type === 'error'), [], 'no error for a delivered direct');

  alice.send({ type: 'direct', to: { user_id: 'nobody-here' }, data: 1, id: 'd2' });
  const e = await alice.next((f) => f.type === 'error');
  assert.deepEqual([e.code, e.id], ['not_found', 'd2']);
  [...bob, alice, bystander].forEach((c) => c.terminate());
});

test('a client direct to a connection works across rooms', async () => {
  const a = await join(server, 'x-1', 'alice');
  const b = await join(server, 'x-2', 'bob');
  a.send({ type: 'direct', to: { connection_id: b.connectionId }, data: 'over there' });
  assert.deepEqual(await b.next(direct), { type: 'direct', from: { user_id: 'alice', connection_id: a.connectionId }, data: 'over there' });
  a.send({ type: 'direct', to: { connection_id: 'x-2.0123456789abcdef' }, data: 1, id: 'gone' });
  const e = await a.next((f) => f.type === 'error');
  assert.deepEqual([e.code, e.id], ['not_found', 'gone']);
  a.send({ type: 'direct', to: { connection_id: 'not-a-connection-id' }, data: 1, id: 'junk' });
  assert.equal((await a.next((f) => f.type === 'error')).code, 'not_found');
  a.terminate(); b.terminate();
});

test('a user id with any Unicode is addressable through the registry', async () => {
  const name = 'Zoë 🚀 ü/ß?#';
  const z = await join(server, 'uni', name);
  await registryKnows(name, 1);
  const r = await api.post(`/users/${encodeURIComponent(name)}/messages`, { data: 'ok' });
  assert.deepEqual(r.body, { delivered: 1 });
  assert.equal((await z.next(direct)).data, 'ok');
  z.terminate();
});
