// A user registry that is down or slow never holds up room chat: registry reports are
// fire-and-forget. Only what truly needs the registry (a direct to a user) reports the
// outage, with a clear error. (REGISTRY_FAULT is a DEV_MODE-only test hook of the registry.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';

const message = (f) => f.type === 'message';

/** `join`, which must complete (welcome received) within `within` ms. */
async function timedJoin(server, room, user, within) {
  const started = Date.now();
  const c = await join(server, room, user);
  const took = Date.now() - started;
  assert.ok(took < within, `${user}'s join took ${took} ms: it must not wait for the registry (bound ${within} ms)`);
  return c;
}

async function roomChatStillFlows(server, room, { within }) {
  const a = await timedJoin(server, room, 'alice', within);
  const b = await timedJoin(server, room, 'bob', within);
  assert.deepEqual(await a.next((f) => f.type === 'presence', within), { type: 'presence', event: 'join', user_id: 'bob' });
  for (let i = 0; i < 5; i++) a.send({ type: 'publish', data: i });
  for (let i = 0; i < 5; i++) assert.equal((await b.next(message, within)).data, i);
  b.send({ type: 'direct', to: { connection_id: a.connectionId }, data: 'dm' });
  assert.equal((await a.next((f) => f.type === 'direct', within)).data, 'dm');
  const started = Date.now();
  const r = await admin(server).post(`/rooms/${room}/messages`, { data: 'srv' });
  assert.equal(r.body.delivered, 2);
  assert.ok(Date.now() - started < within, 'a room post does not wait for the registry');
  // A second tab and a close: per-user count changes, reported in the background only.
  const a2 = await timedJoin(server, room, 'alice', within);
  const closing = Date.now();
  await a2.close();
  assert.ok(Date.now() - closing < within, 'a close does not wait for the registry');
  return { a, b };
}

test('with the registry down, rooms chat normally and a direct to a user says unavailable', async () => {
  const server = await startServer({ vars: { REGISTRY_FAULT: 'down' } });
  try {
    const { a, b } = await roomChatStillFlows(server, 'down-room', { within: 3000 });
    a.send({ type: 'direct', to: { user_id: 'bob' }, data: 1, id: 'u1' });
    const e = await a.next((f) => f.type === 'error');
    assert.deepEqual([e.code, e.id], ['unavailable', 'u1']);
    a.send({ type: 'publish', data: 'after the error' });
    assert.equal((await b.next((f) => message(f) && f.data === 'after the error')).data, 'after the error');
    const r = await admin(server).post('/users/bob/messages', { data: 1 });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'unavailable');
    a.terminate(); b.terminate();
  } finally {
    await server.stop();
  }
});

test('with a registry that takes 6 s per call, joins and room traffic are not delayed', async () => {
  const server = await startServer({ vars: { REGISTRY_FAULT: 'slow:6000' } });
  try {
    // Every join and every frame must complete well inside the registry's delay (a functional
    // bound with a wide margin on both sides, not a performance assertion): nothing waits for it.
    const { a, b } = await roomChatStillFlows(server, 'slow-room', { within: 3000 });
    // The registry still catches up in the end.
    await eventually(async () => (await admin(server).get('/users/alice')).body.connections, 1, { ms: 20_000, every: 500 });
    a.terminate(); b.terminate();
  } finally {
    await server.stop();
  }
});
