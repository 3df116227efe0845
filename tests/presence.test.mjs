// Presence is per user, not per tab: join on a user's first connection, leave on their last,
// whether sockets close cleanly or are dropped; an emptied room has an empty user index.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { isPresence, presenceOf } from './support/frames.mjs';
import { roomDebug } from './support/eviction.mjs';
import { admin } from './support/admin.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('extra tabs of the same user produce no presence events', async () => {
  const b = await join(server, 'tabs', 'bob');
  const a1 = await join(server, 'tabs', 'alice');
  assert.deepEqual(await b.next(isPresence), { type: 'presence', event: 'join', user_id: 'alice' });
  const from = b.mark();
  const a2 = await join(server, 'tabs', 'alice');
  await a1.close();
  // A newcomer's join is the marker: it comes after anything the second tab or the close caused.
  const marker = await join(server, 'tabs', 'marker');
  assert.deepEqual(await b.framesBefore(presenceOf('join', 'marker'), from), [], 'second tab opening and first closing are silent');
  assert.deepEqual(a1.log.filter(isPresence), [], 'the joiner is not told about itself');
  await a2.close();
  assert.deepEqual(await b.next(isPresence), { type: 'presence', event: 'leave', user_id: 'alice' });
  b.terminate(); marker.terminate();
});

test('everyone else gets join and leave; the leaver gets nothing', async () => {
  const a = await join(server, 'many', 'alice');
  const b = await join(server, 'many', 'bob');
  assert.equal((await a.next(isPresence)).user_id, 'bob');
  const c = await join(server, 'many', 'carol');
  for (const x of [a, b]) assert.deepEqual(await x.next(isPresence), { type: 'presence', event: 'join', user_id: 'carol' });
  await c.close();
  for (const x of [a, b]) assert.deepEqual(await x.next(isPresence), { type: 'presence', event: 'leave', user_id: 'carol' });
  assert.deepEqual(c.log.filter(isPresence), [], 'carol was told neither of her own join nor of her leave');
  a.terminate(); b.terminate();
});

test('an abrupt drop (no close frame) still produces leave', async () => {
  const watcher = await join(server, 'drop', 'watcher');
  const d = await join(server, 'drop', 'dropper');
  await watcher.next(isPresence);
  await d.terminate();
  assert.deepEqual(await watcher.next(isPresence, 10_000), { type: 'presence', event: 'leave', user_id: 'dropper' });
  watcher.terminate();
});

test('closing every socket empties the room index', async () => {
  const clients = [];
  for (const u of ['u1', 'u2', 'u2', 'u3']) clients.push(await join(server, 'empty', u));
  await Promise.all(clients.map((c, i) => (i % 2 ? c.close() : c.terminate())));
  // Abrupt drops are noticed asynchronously: wait (bounded) for the index to empty.
  await until(async () => (await admin(server).get('/rooms/empty')).body.connections === 0, { what: 'the index emptied' });
  const fresh = await join(server, 'empty', 'newcomer');
  assert.deepEqual(fresh.welcome.members, [{ user_id: 'newcomer', connections: 1 }]);
  await fresh.close();
  await until(async () => (await roomDebug(server, 'empty')).sockets === 0, { what: 'the room holds no socket' });
});

test('the server answers a client close with the same code, or 1000 when it may not send that code', async () => {
  const a = await join(server, 'closing', 'alice');
  const closed = await a.close(4001, 'bye now');
  assert.equal(closed.code, 4001);
  const b = await join(server, 'closing', 'bob');
  assert.equal((await b.close(1000)).code, 1000);
  // A close frame without a code arrives as 1005, which must never be sent back.
  const c = await join(server, 'closing', 'carol');
  c.ws.close();
  assert.equal((await c.closedWithin()).code, 1000);
});
