// Presence at scale (`ROOM_PRESENCE_MAX`, here 2): while a room has more members than the limit,
// a user's first connection or last close sends no `presence` frame; a `member_count` frame
// with the latest count goes to everyone instead, at most once a second, and the last change
// of a burst always follows. Within the limit, `join`/`leave` come back. `GET /rooms/{room}` and
// `/members` stay exact throughout. Each member's frames are timestamped as they arrive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { isPresence } from './support/frames.mjs';
import { admin } from './support/admin.mjs';

let server;
before(async () => { server = await startServer({ vars: { ROOM_PRESENCE_MAX: '2' } }); });
after(async () => { await server?.stop(); });

/** Joins `user` and records when each `member_count` frame reached it. */
async function member(room, user) {
  const c = await join(server, room, user);
  c.counts = [];
  c.ws.on('message', (data) => {
    const f = JSON.parse(String(data));
    if (f.type === 'member_count') c.counts.push({ at: Date.now(), count: f.count });
  });
  return c;
}

const lastCount = (c) => c.counts.at(-1)?.count;

test('past the limit, joins and leaves become a member count, at most once a second', async () => {
  const room = 'big-room';
  const alice = await member(room, 'alice');
  const bob = await member(room, 'bob');
  assert.deepEqual(await alice.next(isPresence), { type: 'presence', event: 'join', user_id: 'bob' }, 'within the limit');
  const carol = await member(room, 'carol');
  assert.equal(carol.welcome.member_count, 3);
  const dave = await member(room, 'dave');
  const eve = await member(room, 'eve');
  await until(() => lastCount(alice) === 5 && lastCount(bob) === 5, { what: 'the latest count (5) reached alice and bob' });
  await until(() => lastCount(carol) === 5, { what: 'carol hears of dave and eve as a count' });
  for (const c of [alice, bob]) {
    assert.deepEqual(c.log.filter(isPresence).map((p) => p.user_id), c === alice ? ['bob'] : [], 'no join past the limit');
    const gaps = c.counts.slice(1).map((x, i) => x.at - c.counts[i].at);
    assert.ok(gaps.every((g) => g >= 900), `at most one count a second: ${JSON.stringify(c.counts)}`);
    assert.ok(c.counts.length <= 3, `a burst is coalesced: ${JSON.stringify(c.counts)}`);
  }
  const info = (await admin(server).get(`/rooms/${room}`)).body;
  assert.deepEqual([info.connections, info.users.map((u) => u.user_id)], [5, ['alice', 'bob', 'carol', 'dave', 'eve']], 'exact');
  const members = (await admin(server).get(`/rooms/${room}/members`)).body;
  assert.equal(members.members.length, 5, 'exact');

  // Leaves: 5, 4 and 3 members before them — counts; then 2 before bob's — a `leave` again.
  for (const c of [eve, dave, carol]) await c.close();
  await until(() => lastCount(alice) === 2 && lastCount(bob) === 2, { what: 'the count back to 2' });
  assert.deepEqual(alice.log.filter(isPresence).map((p) => p.event), ['join'], 'no leave past the limit');
  await bob.close();
  assert.deepEqual(await alice.next((f) => isPresence(f) && f.event === 'leave'), { type: 'presence', event: 'leave', user_id: 'bob' }, 'within the limit again');
  alice.terminate();
});

test('a room within the limit never sends a member count', async () => {
  const room = 'small-room';
  const a = await member(room, 'a');
  const b = await member(room, 'b');
  assert.deepEqual(await a.next(isPresence), { type: 'presence', event: 'join', user_id: 'b' });
  await b.close();
  assert.deepEqual(await a.next(isPresence), { type: 'presence', event: 'leave', user_id: 'b' });
  assert.deepEqual(a.counts, []);
  a.terminate();
});
