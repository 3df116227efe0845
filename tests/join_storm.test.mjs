// A join storm into one room (issue 13): what a connect sends to the others (`join`) waits for
// the room's next turn, so the joins of a burst reach a `?batch=1` connection together, and a
// v1 connection still gets each join as its own frame. Whatever the timing, every connection
// ends up knowing exactly the room's members: its welcome plus the joins it got, each user
// once — a newcomer never hears of a user its welcome already listed — and a join always
// arrives before anything its user says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isPresence, messageWith, unwrapBatches } from './support/frames.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const N = 40;

/** The members a client knows of: its welcome's, then the presence frames it got, in order. */
function knownMembers(client) {
  const { frames } = unwrapBatches(client.log);
  const members = new Set(frames.find((f) => f.type === 'welcome').members.map((m) => m.user_id));
  const dupes = [];
  for (const p of frames.filter(isPresence)) {
    if (p.event === 'join' && members.has(p.user_id)) dupes.push(p.user_id);
    if (p.event === 'join') members.add(p.user_id);
    else members.delete(p.user_id);
  }
  return { members, dupes };
}

test('a burst of joins: batch watchers get them together, everyone ends up with the exact member list', async () => {
  const room = 'join-storm';
  const batched = await join(server, room, 'watcher-b', { query: '&batch=1' });
  const plain = await join(server, room, 'watcher-p');
  await batched.next(isPresence); // watcher-p's join
  const from = batched.log.length;
  const users = Array.from({ length: N }, (_, i) => `storm-${String(i).padStart(2, '0')}`);
  // Every newcomer batches too, and says something the moment it is welcomed.
  const newcomers = await Promise.all(users.map(async (u) => {
    const c = await join(server, room, u, { query: '&batch=1' });
    c.send({ type: 'publish', data: `hello from ${u}`, id: u });
    return c;
  }));
  const all = ['watcher-b', 'watcher-p', ...users];
  const expected = new Set(all);
  for (const c of [batched, plain, ...newcomers]) {
    await until(() => knownMembers(c).members.size === expected.size, { ms: 10_000, what: `${c.user} knows everyone` });
  }
  for (const c of [batched, plain, ...newcomers]) {
    const { members, dupes } = knownMembers(c);
    assert.deepEqual([...members].sort(), [...expected].sort(), `${c.user}'s member list`);
    assert.deepEqual(dupes, [], `${c.user} never hears of a user its welcome listed`);
  }
  // v1: one frame per join, never a batch.
  assert.equal(plain.log.filter(isPresence).length, N);
  assert.ok(plain.log.every((f) => f.type !== 'batch'));
  // The batch watcher got the N joins in fewer WebSocket messages than joins.
  const joinsIn = batched.log.slice(from).filter((f) => f.type === 'batch' ? f.frames.some(isPresence) : isPresence(f));
  assert.ok(joinsIn.length < N, `${N} joins reached the batch watcher in ${joinsIn.length} messages`);
  // Each user's join reached the watchers before that user's first message.
  for (const watcher of [batched, plain]) {
    await until(() => users.every((u) => unwrapBatches(watcher.log).frames.some(messageWith(`hello from ${u}`))), { ms: 10_000, what: 'every hello' });
    const frames = unwrapBatches(watcher.log).frames;
    for (const u of users) {
      const joined = frames.findIndex((f) => isPresence(f) && f.event === 'join' && f.user_id === u);
      const spoke = frames.findIndex(messageWith(`hello from ${u}`));
      assert.ok(joined >= 0 && joined < spoke, `${u}: join (${joined}) before hello (${spoke})`);
    }
  }
  assert.equal((await admin(server).get(`/rooms/${room}`)).body.users.length, N + 2);
  for (const c of [batched, plain, ...newcomers]) c.terminate();
});
