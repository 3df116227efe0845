// Rooms hibernate: after ~10 s without events local workerd evicts the room object while its
// WebSockets stay open. Each step below waits for an eviction (proved by a new instance id)
// and then checks that the state carried by the sockets — tags and attachments — is enough
// for welcome, members, presence, broadcast and direct messages to work as before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';

// workerd evicts an idle object after 10 s of inactivity; a little margin on top.
const EVICTION_WAIT_MS = 12_500;
const ROOM = 'sleepy';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const debug = async () => (await fetch(`${server.url}/dev/rooms/${ROOM}/debug`)).json();
const presence = (f) => f.type === 'presence';
const message = (f) => f.type === 'message';

/** Waits until the object must have been evicted; `check()` later proves it was. */
async function idleUntilEvicted() {
  const { instance } = await debug();
  await sleep(EVICTION_WAIT_MS);
  return {
    async check() {
      const now = await debug();
      assert.notEqual(now.instance, instance, 'the room object was evicted and constructed anew');
      return now;
    },
  };
}

test('a hibernated room keeps its sockets, tags, attachments, members and behaviour', { timeout: 90_000 }, async () => {
  const a1 = await join(server, ROOM, 'alice');
  const a2 = await join(server, ROOM, 'alice');
  const b = await join(server, ROOM, 'bob');
  for (const x of [a1, a2]) assert.equal((await x.next(presence)).user_id, 'bob');

  // 1. Woken by a message: broadcast and direct work from the restored index.
  let evicted = await idleUntilEvicted();
  a1.send({ type: 'publish', data: 'after sleep 1', id: 's1' });
  for (const c of [a1, a2, b]) {
    const m = await c.next(message);
    assert.deepEqual([m.data, m.id, m.from.connection_id], ['after sleep 1', 's1', a1.connectionId]);
  }
  b.send({ type: 'direct', to: { connection_id: a2.connectionId }, data: 'dm' });
  assert.equal((await a2.next((f) => f.type === 'direct')).data, 'dm');
  const state = await evicted.check();
  assert.equal(state.sockets, 3);
  const byConn = Object.fromEntries(state.connections.map((c) => [c.attachment.connection_id, c]));
  const { user_id, connection_id, exp } = byConn[a1.connectionId].attachment;
  assert.deepEqual({ user_id, connection_id }, { user_id: 'alice', connection_id: a1.connectionId });
  assert.ok(exp > Date.now() / 1000, 'the session (token expiry) survives hibernation with the socket');
  assert.deepEqual(byConn[a1.connectionId].tags, [`c:${a1.connectionId}`, 'u:alice']);
  assert.deepEqual(byConn[b.connectionId].tags, [`c:${b.connectionId}`, 'u:bob']);

  // 2. Woken by a new connection: welcome lists everyone, presence goes out once.
  evicted = await idleUntilEvicted();
  const c = await join(server, ROOM, 'carol');
  assert.deepEqual(c.welcome.members, [
    { user_id: 'alice', connections: 2 },
    { user_id: 'bob', connections: 1 },
    { user_id: 'carol', connections: 1 },
  ]);
  for (const x of [a1, a2, b]) assert.deepEqual(await x.next(presence), { type: 'presence', event: 'join', user_id: 'carol' });
  await evicted.check();

  // 3. Woken by closes: per-user presence still holds, and the index empties.
  evicted = await idleUntilEvicted();
  await a1.close();
  await b.close();
  assert.deepEqual(await c.next(presence), { type: 'presence', event: 'leave', user_id: 'bob' });
  assert.deepEqual(await c.collect((f) => presence(f) && f.user_id === 'alice', 300), [], 'alice still has a tab');
  await evicted.check();
  await a2.close();
  assert.deepEqual(await c.next(presence), { type: 'presence', event: 'leave', user_id: 'alice' });
  await c.close();
  await sleep(200);
  assert.equal((await debug()).sockets, 0);
});

test('ping is answered while the room sleeps, without waking it', { timeout: 60_000 }, async () => {
  const a = await join(server, ROOM, 'pinger');
  const { instance } = await debug();
  await sleep(EVICTION_WAIT_MS);
  a.send('ping');
  assert.equal((await a.next((f) => f.raw === 'pong')).raw, 'pong');
  // The pong came from the runtime: the next event constructs a new instance.
  assert.notEqual((await debug()).instance, instance);
  a.terminate();
});
