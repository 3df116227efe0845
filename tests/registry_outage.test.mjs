// A user registry that is down, unreachable or slow never holds up room chat: registry reports
// are fire-and-forget. Only what truly needs the registry (a direct to a user, the per-user
// routes of the server API, the global counts) reports the outage, with a clear error:
// `unavailable` (503 over HTTP), never an internal error. (REGISTRY_FAULT is a DEV_MODE-only
// test hook of the registry: `down` answers 503, `unreachable` makes the call itself fail.)
// With `REVOCATION_CHECK_FAIL=closed` an operator chooses the other side: a first connect whose
// revocation check cannot be made (after one retry) is refused 503 `unavailable`, and so is a
// history or member read with a user token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, devToken, tryConnect } from './support/client.mjs';
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

/** Every HTTP route that needs a registry shard answers 503 `unavailable` with no internal
 * detail (with `incident`: and the incident id the detail was logged under). */
async function everythingThatNeedsTheRegistrySaysUnavailable(server, { incident = false } = {}) {
  const api = admin(server);
  const token = await devToken(server, 'alice');
  const calls = [
    ['POST /users/bob/messages', () => api.post('/users/bob/messages', { data: 1 })],
    ['GET /users/bob', () => api.get('/users/bob')],
    ['GET /users/bob/unread', () => api.get('/users/bob/unread')],
    ['GET /me/unread', () => admin(server, token).get('/me/unread')],
    ['POST /users/bob/disconnect', () => api.post('/users/bob/disconnect', {})],
    ['POST /users/bob/revoke', () => api.post('/users/bob/revoke', {})],
    ['GET /stats', () => api.get('/stats')],
    ['GET /registry/webhooks/dead', () => api.get('/registry/webhooks/dead')],
    ['POST /registry/webhooks/dead/retry', () => api.post('/registry/webhooks/dead/retry')],
  ];
  for (const [what, call] of calls) {
    const r = await call();
    assert.deepEqual([r.status, r.body.error?.code], [503, 'unavailable'], `${what}: ${r.text}`);
    assert.doesNotMatch(r.body.error.message, /Error|rust/i, `${what}: no internal detail`);
    if (incident) assert.match(r.body.error.incident ?? '', /^[0-9a-f]{12}$/, `${what}: the incident id of the logged detail`);
  }
}

test('with the registry down, rooms chat normally and a direct to a user and every route that needs the registry say unavailable', async () => {
  const server = await startServer({ vars: { REGISTRY_FAULT: 'down' } });
  try {
    const { a, b } = await roomChatStillFlows(server, 'down-room', { within: 3000 });
    a.send({ type: 'direct', to: { user_id: 'bob' }, data: 1, id: 'u1' });
    const e = await a.next((f) => f.type === 'error');
    assert.deepEqual([e.code, e.id], ['unavailable', 'u1']);
    a.send({ type: 'publish', data: 'after the error' });
    assert.equal((await b.next((f) => message(f) && f.data === 'after the error')).data, 'after the error');
    await everythingThatNeedsTheRegistrySaysUnavailable(server);
    a.terminate(); b.terminate();
  } finally {
    await server.stop();
  }
});

test('with the registry unreachable, rooms chat normally and everything that needs it answers unavailable, never internal', async () => {
  const server = await startServer({ vars: { REGISTRY_FAULT: 'unreachable' } });
  try {
    const { a, b } = await roomChatStillFlows(server, 'gone-room', { within: 3000 });
    a.send({ type: 'direct', to: { user_id: 'bob' }, data: 1, id: 'u1' });
    const e = await a.next((f) => f.type === 'error');
    assert.deepEqual([e.code, e.id], ['unavailable', 'u1']);
    await everythingThatNeedsTheRegistrySaysUnavailable(server, { incident: true });
    // Nothing of the room was affected meanwhile.
    a.send({ type: 'publish', data: 'still here' });
    assert.equal((await b.next((f) => message(f) && f.data === 'still here')).data, 'still here');
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

test('REVOCATION_CHECK_FAIL=closed: a first connect whose revocation check cannot be made is refused 503 unavailable', { timeout: 60_000 }, async () => {
  for (const fault of ['down', 'unreachable', 'slow:6000']) {
    const server = await startServer({ vars: { REGISTRY_FAULT: fault, REVOCATION_CHECK_FAIL: 'closed' } });
    try {
      const started = Date.now();
      const r = await tryConnect(`${server.wsUrl}/rooms/closed-room/ws?token=${await devToken(server, 'alice')}`);
      r.client?.terminate();
      assert.equal(r.client, undefined, `${fault}: refused`);
      assert.deepEqual([r.status, r.body.error.code], [503, 'unavailable'], fault);
      assert.doesNotMatch(r.body.error.message, /Error|rust|REGISTRY_FAULT/i, `${fault}: no internal detail`);
      // One attempt and one retry, each bounded by the 1 s check: never the registry's 6 s.
      assert.ok(Date.now() - started < 4000, `${fault}: refused after ${Date.now() - started} ms`);
      // History and member reads with a user token follow the same rule.
      const token = await devToken(server, 'alice');
      for (const path of ['/rooms/closed-room/messages', '/rooms/closed-room/members']) {
        const read = await admin(server, token).get(path);
        assert.deepEqual([read.status, read.body.error?.code], [503, 'unavailable'], `${fault}: ${path}`);
      }
    } finally {
      await server.stop();
    }
  }
  // With the registry up, `closed` changes nothing.
  const server = await startServer({ vars: { REVOCATION_CHECK_FAIL: 'closed' } });
  try {
    const a = await join(server, 'closed-room', 'alice');
    a.terminate();
    const read = await admin(server, await devToken(server, 'alice')).get('/rooms/closed-room/messages');
    assert.equal(read.status, 200);
  } finally {
    await server.stop();
  }
});
