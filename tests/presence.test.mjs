// Presence is per user, not per tab: join on a user's first connection, leave on their last,
// whether sockets close cleanly or are dropped; an emptied room has an empty user index.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const presence = (f) => f.type === 'presence';

test('extra tabs of the same user produce no presence events', async () => {
  const b = await join(server, 'tabs', 'bob');
  const a1 = await join(server, 'tabs', 'alice');
  assert.deepEqual(await b.next(presence), { type: 'presence', event: 'join', user_id: 'alice' });
  assert.deepEqual(await a1.collect(presence, 0), [], 'the joiner is not told about itself');
  const a2 = await join(server, 'tabs', 'alice');
  await a1.close();
  assert.deepEqual(await b.collect(presence, 300), [], 'second tab opening and first closing are silent');
  await a2.close();
  assert.deepEqual(await b.next(presence), { type: 'presence', event: 'leave', user_id: 'alice' });
  b.terminate();
});

test('everyone else gets join and leave; the leaver gets nothing', async () => {
  const a = await join(server, 'many', 'alice');
  const b = await join(server, 'many', 'bob');
  assert.equal((await a.next(presence)).user_id, 'bob');
  const c = await join(server, 'many', 'carol');
  for (const x of [a, b]) assert.deepEqual(await x.next(presence), { type: 'presence', event: 'join', user_id: 'carol' });
  await c.close();
  for (const x of [a, b]) assert.deepEqual(await x.next(presence), { type: 'presence', event: 'leave', user_id: 'carol' });
  a.terminate(); b.terminate();
});

test('an abrupt drop (no close frame) still produces leave', async () => {
  const watcher = await join(server, 'drop', 'watcher');
  const d = await join(server, 'drop', 'dropper');
  await watcher.next(presence);
  await d.terminate();
  assert.deepEqual(await watcher.next(presence, 10_000), { type: 'presence', event: 'leave', user_id: 'dropper' });
  watcher.terminate();
});

test('closing every socket empties the room index', async () => {
  const clients = [];
  for (const u of ['u1', 'u2', 'u2', 'u3']) clients.push(await join(server, 'empty', u));
  await Promise.all(clients.map((c, i) => (i % 2 ? c.close() : c.terminate())));
  await sleep(300);
  const fresh = await join(server, 'empty', 'newcomer');
  assert.deepEqual(fresh.welcome.members, [{ user_id: 'newcomer', connections: 1 }]);
  await fresh.close();
  await sleep(200);
  const debug = await (await fetch(`${server.url}/dev/rooms/empty/debug`)).json();
  assert.equal(debug.sockets, 0);
});

test('the server answers a client close with the same code', async () => {
  const a = await join(server, 'closing', 'alice');
  const closed = await a.close(4001, 'bye now');
  assert.equal(closed.code, 4001);
  const b = await join(server, 'closing', 'bob');
  assert.equal((await b.close(1000)).code, 1000);
});
