// Rooms hibernate: after 10 s without events local workerd evicts the room object while its
// WebSockets stay open. Each test below waits for an eviction (proved by a new instance,
// constructed after the room went idle, with nothing loaded), wakes the room with one kind of
// event, and checks that the state carried by the sockets — tags and attachments — is enough
// for welcome, members, presence, broadcast and direct messages to work as before. The tests
// use separate rooms and run side by side, so their idle periods overlap.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { isDirect, isMessage, isPong, isPresence, messageWith } from './support/frames.mjs';
import { allConnections, clockPast, idleForEviction, roomDebug, waitForEviction } from './support/eviction.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** alice with two tabs and bob, in `room`, with the presence they exchanged taken. */
async function populate(room) {
  const a1 = await join(server, room, 'alice');
  const a2 = await join(server, room, 'alice');
  const b = await join(server, room, 'bob');
  for (const x of [a1, a2]) assert.equal((await x.next(isPresence)).user_id, 'bob');
  return { a1, a2, b };
}

/** The event just handled ran on the instance constructed after the eviction, and loaded the room there. */
async function wokeOn(room, fresh, what) {
  const now = await roomDebug(server, room);
  assert.equal(now.instance, fresh.instance, `${what} was handled by the instance constructed after the eviction`);
  assert.equal(now.loaded_before_this_call, true, `${what} rebuilt the room`);
  return now;
}

describe('hibernation', { concurrency: true }, () => {
  test('woken by a message: broadcast and direct work from the restored index, tags and attachments intact', { timeout: 60_000 }, async () => {
    const ROOM = 'sleepy-message';
    const { a1, a2, b } = await populate(ROOM);
    const fresh = await waitForEviction(server, ROOM);
    a1.send({ type: 'publish', data: 'after sleep', id: 's1' });
    for (const c of [a1, a2, b]) {
      const m = await c.next(isMessage);
      assert.deepEqual([m.data, m.id, m.from.connection_id], ['after sleep', 's1', a1.connectionId]);
    }
    b.send({ type: 'direct', to: { connection_id: a2.connectionId }, data: 'dm' });
    assert.equal((await a2.next(isDirect)).data, 'dm');
    const state = await wokeOn(ROOM, fresh, 'the message');
    const connections = await allConnections(server, ROOM, state);
    assert.equal(connections.length, 3);
    const byConn = Object.fromEntries(connections.map((c) => [c.attachment.connection_id, c]));
    const { user_id, connection_id, exp } = byConn[a1.connectionId].attachment;
    assert.deepEqual({ user_id, connection_id }, { user_id: 'alice', connection_id: a1.connectionId });
    assert.ok(exp > Date.now() / 1000, 'the session (token expiry) survives hibernation with the socket');
    assert.deepEqual(byConn[a1.connectionId].tags, [`c:${a1.connectionId}`, 'u:alice']);
    assert.deepEqual(byConn[b.connectionId].tags, [`c:${b.connectionId}`, 'u:bob']);
    for (const c of [a1, a2, b]) c.terminate();
  });

  test('woken by a new connection: welcome lists everyone, presence goes out once', { timeout: 60_000 }, async () => {
    const ROOM = 'sleepy-connect';
    const { a1, a2, b } = await populate(ROOM);
    const fresh = await waitForEviction(server, ROOM);
    const from = [a1, a2, b].map((x) => x.mark());
    const c = await join(server, ROOM, 'carol');
    assert.deepEqual(c.welcome.members, [
      { user_id: 'alice', connections: 2 },
      { user_id: 'bob', connections: 1 },
      { user_id: 'carol', connections: 1 },
    ]);
    await wokeOn(ROOM, fresh, 'the connect');
    // carol's first message comes after anything her join caused: one join each, nothing else.
    c.send({ type: 'publish', data: 'marker' });
    for (const [i, x] of [a1, a2, b].entries()) {
      assert.deepEqual(await x.framesBefore(messageWith('marker'), from[i]), [{ type: 'presence', event: 'join', user_id: 'carol' }]);
    }
    for (const x of [a1, a2, b, c]) x.terminate();
  });

  test('woken by closes: per-user presence still holds, and the index empties', { timeout: 60_000 }, async () => {
    const ROOM = 'sleepy-close';
    const { a1, a2, b } = await populate(ROOM);
    const c = await join(server, ROOM, 'carol');
    for (const x of [a1, a2, b]) await x.next(isPresence);
    const fresh = await waitForEviction(server, ROOM);
    const from = c.mark();
    await a1.close();
    await b.close();
    await wokeOn(ROOM, fresh, 'the close');
    // alice still has a tab: her other tab's message is the next thing carol hears after bob's leave.
    a2.send({ type: 'publish', data: 'marker' });
    const ahead = await c.framesBefore(messageWith('marker'), from);
    assert.deepEqual(ahead, [{ type: 'presence', event: 'leave', user_id: 'bob' }], 'no leave for alice while she has a tab');
    await a2.close();
    assert.deepEqual(await c.next(isPresence), { type: 'presence', event: 'leave', user_id: 'alice' });
    await c.close();
    await until(async () => (await roomDebug(server, ROOM)).sockets === 0, { what: 'the room holds no socket' });
  });

  test('ping is answered while the room sleeps, without waking it', { timeout: 60_000 }, async () => {
    const ROOM = 'sleepy-ping';
    const a = await join(server, ROOM, 'pinger');
    let seen = await roomDebug(server, ROOM);
    for (let attempt = 1; ; attempt++) {
      await idleForEviction();
      a.send('ping');
      assert.deepEqual(await a.next(isPong), { raw: 'pong', binary: false });
      const pongAt = Date.now();
      await clockPast(pongAt);
      const now = await roomDebug(server, ROOM);
      // Still the old instance: it was not evicted yet, and this probe restarted its clock.
      if (now.instance === seen.instance && attempt < 3) { seen = now; continue; }
      assert.notEqual(now.instance, seen.instance, 'the room was evicted while idle');
      // Had the ping woken the room, the instance answering now would predate the pong.
      assert.ok(now.created_ms > pongAt, `the instance was constructed after the pong (created ${now.created_ms}, pong ${pongAt}): the ping did not wake the room`);
      assert.equal(now.loaded_before_this_call, false, 'nothing loaded the room before this probe');
      break;
    }
    a.terminate();
  });
});
