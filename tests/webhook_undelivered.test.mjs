// `direct_undelivered` is bounded (issue 22, finding 4): a direct to a user id nobody connected
// as within HISTORY_MAX_AGE_DAYS (30 days when unset) records nothing — made-up ids cannot
// fill an outbox — and one sender gets at most one such event per second; the server API's
// own directs (the backend's doing) are not limited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { seenOnce, startReceiver, webhookVars } from './support/webhooks.mjs';

const VARS = { WEBHOOK_EVENTS: 'direct_undelivered' };

async function withHooks(vars, fn) {
  const receiver = await startReceiver();
  const server = await startServer({ vars: webhookVars(receiver, { ...VARS, ...vars }) });
  try {
    return await fn(server, receiver, admin(server));
  } finally {
    await server.stop();
    await receiver.stop();
  }
}

/** A direct from `client` to `user`, who has no connection: refused as `not_found`. */
async function directTo(client, user, id) {
  client.send({ type: 'direct', to: { user_id: user }, data: id, id });
  assert.equal((await client.next((f) => f.type === 'error' && f.id === id)).code, 'not_found');
}

const undelivered = (receiver) => receiver.delivered().filter((e) => e.type === 'direct_undelivered');

test('a direct to a user id never seen connected records no event; once the user has connected, it does', { timeout: 60_000 }, () => withHooks({}, async (server, receiver, api) => {
  const alice = await join(server, 'dm', 'alice');
  await directTo(alice, 'ghost', 'g1');
  assert.equal((await api.post('/users/ghost/messages', { data: 'g2' })).body.delivered, 0);
  await sleep(1_100); // past the sender's second
  await seenOnce(server, 'ghost');
  await directTo(alice, 'ghost', 'g3');
  const events = await receiver.waitFor((evs) => evs.some((e) => e.direct?.data === 'g3'));
  await sleep(300);
  assert.deepEqual(undelivered(receiver).map((e) => [e.user_id, e.direct.data]), [['ghost', 'g3']], 'nothing for the ids nobody had connected as');
  assert.ok(events.length >= 1);
  alice.terminate();
}));

test('at most one direct_undelivered per sender per second; the server API is not limited', { timeout: 60_000 }, () => withHooks({}, async (server, receiver, api) => {
  await seenOnce(server, 'sleeper');
  const alice = await join(server, 'dm', 'alice');
  const started = Date.now();
  for (const n of [1, 2, 3, 4, 5]) await directTo(alice, 'sleeper', `a${n}`);
  const burst = Date.now() - started;
  await sleep(1_100);
  await directTo(alice, 'sleeper', 'a6');
  for (const n of [1, 2, 3]) assert.equal((await api.post('/users/sleeper/messages', { data: `s${n}` })).body.delivered, 0);
  await receiver.waitFor((evs) => evs.filter((e) => e.type === 'direct_undelivered').length >= 5);
  await sleep(300);
  const got = undelivered(receiver).map((e) => e.direct.data);
  if (burst < 1_000) assert.deepEqual(got, ['a1', 'a6', 's1', 's2', 's3'], `the burst took ${burst} ms`);
  else assert.ok(got.filter((d) => d.startsWith('a')).length <= 1 + Math.ceil(burst / 1_000) + 1, JSON.stringify(got));
  alice.terminate();
}));

test('a user last seen longer ago than HISTORY_MAX_AGE_DAYS is no one to notify', { timeout: 60_000 }, () =>
  // 0.00003 days = 2.6 s.
  withHooks({ HISTORY_MAX_AGE_DAYS: '0.00003' }, async (server, receiver, api) => {
    await seenOnce(server, 'long-gone');
    assert.equal((await api.post('/users/long-gone/messages', { data: 'fresh' })).body.delivered, 0);
    await receiver.waitFor((evs) => evs.length >= 1);
    // Last seen is when the registry heard of the leave: LEAVE_HOLD_MS (1 s) after the close.
    await sleep(4_000);
    assert.equal((await api.post('/users/long-gone/messages', { data: 'stale' })).body.delivered, 0);
    await sleep(500);
    assert.deepEqual(undelivered(receiver).map((e) => e.direct.data), ['fresh']);
  }));
