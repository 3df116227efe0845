// Per-user delivery across rooms through the user registry: every connection of the user, in
// every room, exactly once per call; nobody else; `not_found` when the user has no connection;
// and how soon after its welcome a new connection can be reached per user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { directWith, isDirect, isError } from './support/frames.mjs';

let server, api;
before(async () => { server = await startServer(); api = admin(server); });
after(async () => { await server?.stop(); });

/** Waits until the registry knows `user` has `n` connections (reports are asynchronous). */
const registryKnows = (user, n) => eventually(async () => (await api.get(`/users/${encodeURIComponent(user)}`)).body.connections, n);
const postToUser = (user, data) => api.post(`/users/${encodeURIComponent(user)}/messages`, { data });

/**
 * Proves that each of `clients` (all of `user`'s connections) received exactly the directs
 * carrying `expected` since `from[i]` (their `mark()`s), one copy each: a marker posted to the
 * user afterwards reaches them after anything else could have.
 */
async function exactlyOnce(user, clients, from, expected) {
  const r = await postToUser(user, 'marker');
  assert.equal(r.body.delivered, clients.length);
  for (const [i, c] of clients.entries()) {
    const ahead = (await c.framesBefore(directWith('marker'), from[i])).filter(isDirect);
    assert.deepEqual(ahead.map((d) => d.data), [expected], 'exactly one copy each');
  }
}

test('a user with 3 connections in 2 rooms gets exactly 3 copies; others none', async () => {
  const a = [await join(server, 'ud-1', 'alice'), await join(server, 'ud-2', 'alice'), await join(server, 'ud-2', 'alice')];
  const others = [await join(server, 'ud-1', 'bob'), await join(server, 'ud-2', 'carol')];
  await registryKnows('alice', 3);

  let from = a.map((c) => c.mark());
  const r = await postToUser('alice', { n: 1 });
  assert.deepEqual([r.status, r.body], [200, { delivered: 3 }]);
  for (const c of a) assert.deepEqual(await c.next(isDirect), { type: 'direct', from: { server: true }, data: { n: 1 } });
  await exactlyOnce('alice', a, from, { n: 1 });
  await postToUser('bob', 'marker');
  await postToUser('carol', 'marker');
  for (const c of others) assert.deepEqual((await c.framesBefore(directWith('marker'), 1)).filter(isDirect), [], 'other users get nothing');

  await a[1].close();
  await registryKnows('alice', 2);
  const left = [a[0], a[2]];
  from = left.map((c) => c.mark());
  const r2 = await postToUser('alice', 2);
  assert.deepEqual(r2.body, { delivered: 2 });
  for (const c of left) assert.equal((await c.next(isDirect)).data, 2);
  await exactlyOnce('alice', left, from, 2);
  assert.deepEqual(a[1].log.filter(isDirect).map((d) => d.data), [{ n: 1 }, 'marker'], 'the closed tab got nothing after its close');

  await a[0].close();
  await a[2].terminate();
  await registryKnows('alice', 0);
  const r3 = await postToUser('alice', 3);
  assert.deepEqual([r3.status, r3.body], [200, { delivered: 0 }]);
  others.forEach((c) => c.terminate());
});

test('a client direct to a user reaches every connection of theirs in every room, once', async () => {
  const bob = [await join(server, 'dm-a', 'bob'), await join(server, 'dm-b', 'bob'), await join(server, 'dm-b', 'bob')];
  const alice = await join(server, 'dm-a', 'alice');
  const bystander = await join(server, 'dm-b', 'carol');
  await registryKnows('bob', 3);
  const from = bob.map((c) => c.mark());
  alice.send({ type: 'direct', to: { user_id: 'bob' }, data: 'hey', id: 'd1' });
  for (const c of bob) {
    assert.deepEqual(await c.next(isDirect), { type: 'direct', from: { user_id: 'alice', connection_id: alice.connectionId }, data: 'hey' });
  }
  await exactlyOnce('bob', bob, from, 'hey');
  await postToUser('carol', 'marker');
  assert.deepEqual((await bystander.framesBefore(directWith('marker'), 1)).filter(isDirect), [], 'the bystander got nothing');

  // The first error alice gets is the one for the missing recipient: none for the delivered direct.
  alice.send({ type: 'direct', to: { user_id: 'nobody-here' }, data: 1, id: 'd2' });
  const e = await alice.next(isError);
  assert.deepEqual([e.code, e.id], ['not_found', 'd2']);
  [...bob, alice, bystander].forEach((c) => c.terminate());
});

test('a direct to yourself reaches each of your connections once, the sender\'s included', async () => {
  const me = [await join(server, 'self-a', 'narcissus'), await join(server, 'self-a', 'narcissus'), await join(server, 'self-b', 'narcissus')];
  await registryKnows('narcissus', 3);
  const from = me.map((c) => c.mark());
  me[0].send({ type: 'direct', to: { user_id: 'narcissus' }, data: 'mirror', id: 's1' });
  for (const c of me) {
    assert.deepEqual(await c.next(isDirect), { type: 'direct', from: { user_id: 'narcissus', connection_id: me[0].connectionId }, data: 'mirror' });
  }
  await exactlyOnce('narcissus', me, from, 'mirror');
  // No error for a delivered direct. The marker: a direct through the registry to a user with no
  // connection, sent after the delivered one arrived everywhere; its not_found comes after any
  // error the delivered direct could have earned.
  me[0].send({ type: 'direct', to: { user_id: 'nobody-self' }, data: 'marker', id: 's2' });
  const ahead = await me[0].framesBefore((f) => isError(f) && f.id === 's2', from[0]);
  assert.deepEqual(ahead.filter(isError), [], 'no error for a delivered direct');
  me.forEach((c) => c.terminate());
});

test('a client direct to a connection works across rooms', async () => {
  const a = await join(server, 'x-1', 'alice');
  const b = await join(server, 'x-2', 'bob');
  a.send({ type: 'direct', to: { connection_id: b.connectionId }, data: 'over there' });
  assert.deepEqual(await b.next(isDirect), { type: 'direct', from: { user_id: 'alice', connection_id: a.connectionId }, data: 'over there' });
  a.send({ type: 'direct', to: { connection_id: 'x-2.0123456789abcdef' }, data: 1, id: 'gone' });
  const e = await a.next(isError);
  assert.deepEqual([e.code, e.id], ['not_found', 'gone']);
  a.send({ type: 'direct', to: { connection_id: 'not-a-connection-id' }, data: 1, id: 'junk' });
  assert.equal((await a.next(isError)).code, 'not_found');
  a.terminate(); b.terminate();
});

test('a user id with any Unicode is addressable through the registry', async () => {
  const name = 'Zoë 🚀 ü/ß?#';
  const z = await join(server, 'uni', name);
  await registryKnows(name, 1);
  const r = await postToUser(name, 'ok');
  assert.deepEqual(r.body, { delivered: 1 });
  assert.equal((await z.next(isDirect)).data, 'ok');
  z.terminate();
});

// A room reports a new connection to its user's registry in the background, after the
// welcome: per-user delivery reaches a connection shortly after its welcome, not necessarily
// at once (docs/http-api.md, POST /users/{user}/messages). NEW_CONNECTIONS fresh users each
// connect and are posted to the moment their welcome arrives.
const NEW_CONNECTIONS = 40;
const REACHABLE_WITHIN_MS = 2000;

async function postRightAfterWelcome(prefix, { retry }) {
  const outcomes = [];
  for (let i = 0; i < NEW_CONNECTIONS; i++) {
    const user = `${prefix}-${i}`;
    const c = await join(server, 'window', user);
    const welcomed = Date.now();
    let first;
    let delivered = 0;
    let attempts = 0;
    while (delivered === 0) {
      attempts++;
      const r = await postToUser(user, { attempt: attempts });
      assert.equal(r.status, 200);
      delivered = r.body.delivered;
      first ??= delivered;
      if (!retry || Date.now() - welcomed > REACHABLE_WITHIN_MS) break;
    }
    outcomes.push({ c, user, first, delivered, attempts, after: Date.now() - welcomed });
  }
  return outcomes;
}

test('per-user delivery reaches a new connection within a bound after its welcome, exactly once', async () => {
  const outcomes = await postRightAfterWelcome('late', { retry: true });
  const missedFirst = outcomes.filter((o) => o.first === 0).length;
  console.log(`# per-user posts right after welcome: ${missedFirst}/${NEW_CONNECTIONS} missed the new connection; ` +
    `slowest delivery ${Math.max(...outcomes.map((o) => o.after))} ms after welcome`);
  for (const o of outcomes) {
    assert.equal(o.delivered, 1, `${o.user} reachable within ${REACHABLE_WITHIN_MS} ms of its welcome (${o.attempts} posts)`);
    // The posts that answered 0 delivered nothing: the one that answered 1 is the only copy.
    await exactlyOnce(o.user, [o.c], [0], { attempt: o.attempts });
    o.c.terminate();
  }
});

test('per-user delivery reaches a connection immediately after its welcome', async () => {
  const outcomes = await postRightAfterWelcome('now', { retry: false });
  for (const o of outcomes) o.c.terminate();
  assert.deepEqual(outcomes.filter((o) => o.first === 0).map((o) => o.user), [], 'every post right after a welcome reached the new connection');
});

test('right after a storm of new users, the registry knows every connection and a post reaches each', { timeout: 60_000 }, async () => {
  // 120 new users open their first connection at once, 12 per room in 10 rooms; once every
  // welcome is in, each user is asked for and posted to at once — no waiting for reports.
  const users = Array.from({ length: 120 }, (_, i) => `storm-${i}`);
  const clients = await Promise.all(users.map((u, i) => join(server, `ud-storm-${i % 10}`, u)));
  const [infos, posts] = await Promise.all([
    Promise.all(users.map((u) => api.get(`/users/${u}`))),
    Promise.all(users.map((u) => postToUser(u, `to ${u}`))),
  ]);
  assert.deepEqual(infos.filter((r) => r.body.connections !== 1).map((r) => r.body), [], 'GET /users/{u} sees every connection');
  assert.deepEqual(posts.map((r) => r.body.delivered).filter((n) => n !== 1), [], 'every post reached its user');
  for (const [i, c] of clients.entries()) {
    assert.equal((await c.next(isDirect)).data, `to ${users[i]}`);
    c.terminate();
  }
});
