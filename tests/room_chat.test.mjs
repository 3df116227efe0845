// Chatting in a room: welcome, publish to everyone, echo:false, direct to a connection,
// isolation between rooms, server-stamped `from`, and the ping/pong auto-response.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isDirect, isMessage, isPresence, messageWith, directWith, presenceOf } from './support/frames.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });


test('welcome names the room, the connection, the user and the members', async () => {
  const a = await join(server, 'welcome', 'alice');
  assert.equal(a.welcome.room, 'welcome');
  assert.equal(a.welcome.user_id, 'alice');
  assert.match(a.welcome.connection_id, /^welcome\.[0-9a-f]{16}$/);
  assert.deepEqual(a.welcome.members, [{ user_id: 'alice', connections: 1 }]);
  const b = await join(server, 'welcome', 'bob');
  const a2 = await join(server, 'welcome', 'alice');
  assert.deepEqual(b.welcome.members, [
    { user_id: 'alice', connections: 1 },
    { user_id: 'bob', connections: 1 },
  ]);
  assert.deepEqual(a2.welcome.members, [
    { user_id: 'alice', connections: 2 },
    { user_id: 'bob', connections: 1 },
  ]);
  assert.notEqual(a.connectionId, a2.connectionId);
  for (const c of [a, b, a2]) c.terminate();
});

test('members are ordered by user_id, not by who joined first', async () => {
  const order = ['mallory', 'zoe', 'bob', 'zoe', 'alice', 'carol'];
  const clients = [];
  for (const u of order) clients.push(await join(server, 'ordered', u));
  const expected = [
    { user_id: 'alice', connections: 1 },
    { user_id: 'bob', connections: 1 },
    { user_id: 'carol', connections: 1 },
    { user_id: 'mallory', connections: 1 },
    { user_id: 'zoe', connections: 2 },
  ];
  assert.deepEqual(clients.at(-1).welcome.members, expected);
  assert.deepEqual(clients[2].welcome.members, [
    { user_id: 'bob', connections: 1 },
    { user_id: 'mallory', connections: 1 },
    { user_id: 'zoe', connections: 1 },
  ]);
  assert.deepEqual((await admin(server).get('/rooms/ordered')).body.users, expected, 'GET /rooms/{room} in the same order');
  for (const c of clients) c.terminate();
});

test('a room name of 64 characters, using every allowed symbol, is accepted', async () => {
  const room = `A-z_0.9~${'r'.repeat(56)}`;
  assert.equal(room.length, 64);
  const a = await join(server, room, 'alice');
  assert.equal(a.welcome.room, room);
  assert.match(a.connectionId, new RegExp(`^${room.replace(/[.~]/g, '\\$&')}\\.[0-9a-f]{16}$`));
  a.send({ type: 'publish', data: 'ok' });
  assert.equal((await a.next(isMessage)).room, room);
  a.terminate();
});

test('publish reaches every connection with the contract fields', async () => {
  const a = await join(server, 'pub', 'alice');
  const b = await join(server, 'pub', 'bob');
  const c = await join(server, 'pub', 'carol');
  const before = Date.now();
  a.send({ type: 'publish', data: { text: 'hello', n: [1, 2] }, id: 'm-1' });
  for (const client of [a, b, c]) {
    const m = await client.next(isMessage);
    assert.equal(m.room, 'pub');
    assert.deepEqual(m.from, { user_id: 'alice', connection_id: a.connectionId });
    assert.deepEqual(m.data, { text: 'hello', n: [1, 2] });
    assert.equal(m.id, 'm-1');
    assert.ok(m.ts >= before - 1000 && m.ts <= Date.now() + 1000, `ts ${m.ts} is unix ms`);
  }
  // data may be any JSON, including null and scalars; id is optional.
  b.send({ type: 'publish', data: null });
  const m = await c.next(isMessage);
  assert.equal(m.data, null);
  assert.equal('id' in m, false);
  for (const x of [a, b, c]) x.terminate();
});

test('echo:false excludes exactly the sender connection', async () => {
  const a1 = await join(server, 'echo', 'alice');
  const a2 = await join(server, 'echo', 'alice');
  const b = await join(server, 'echo', 'bob');
  a1.send({ type: 'publish', data: 'quiet', echo: false, id: 'q' });
  assert.equal((await a2.next(isMessage)).data, 'quiet', "the sender's other tab gets it");
  assert.equal((await b.next(isMessage)).data, 'quiet');
  // A marker published afterwards proves a1 had its chance to receive 'quiet'.
  b.send({ type: 'publish', data: 'marker' });
  assert.equal((await a1.next(isMessage)).data, 'marker');
  assert.equal(a1.frames.filter(isMessage).length, 0);
  for (const x of [a1, a2, b]) x.terminate();
});

test('two rooms never see each other\'s traffic', async () => {
  const red = [await join(server, 'red', 'alice'), await join(server, 'red', 'bob')];
  const blue = [await join(server, 'blue', 'alice'), await join(server, 'blue', 'carol')];
  red[0].send({ type: 'publish', data: 'in red' });
  blue[1].send({ type: 'publish', data: 'in blue' });
  for (const c of red) assert.equal((await c.next(isMessage)).data, 'in red');
  for (const c of blue) assert.equal((await c.next(isMessage)).data, 'in blue');
  // Presence does not leak either: carol joined blue only. A marker in each room arrives
  // after anything that could have leaked.
  const from = [...red, ...blue].map((c) => c.mark());
  for (const room of ['red', 'blue']) await admin(server).post(`/rooms/${room}/messages`, { data: 'marker' });
  for (const [i, c] of [...red, ...blue].entries()) {
    const ahead = await c.framesBefore(messageWith('marker'), from[i]);
    // (The publishers' acks may trail their own echo.)
    assert.deepEqual(ahead.filter((f) => f.type !== 'ack'), [], 'nothing from the other room');
  }
  for (const c of red) assert.deepEqual(c.log.filter(presenceOf('join', 'carol')), []);
  for (const c of [...red, ...blue]) c.terminate();
});

test('direct reaches exactly the addressed connection, or says not_found', async () => {
  const a = await join(server, 'dm', 'alice');
  const b1 = await join(server, 'dm', 'bob');
  const b2 = await join(server, 'dm', 'bob');
  a.send({ type: 'direct', to: { connection_id: b2.connectionId }, data: { secret: 1 } });
  const d = await b2.next((f) => f.type === 'direct');
  assert.deepEqual(d, { type: 'direct', from: { user_id: 'alice', connection_id: a.connectionId }, data: { secret: 1 } });
  a.send({ type: 'direct', to: { connection_id: 'dm.0000000000000000' }, data: 1, id: 'x1' });
  const e = await a.next((f) => f.type === 'error');
  assert.deepEqual([e.code, e.id], ['not_found', 'x1']);
  // Nobody else saw the direct message: a second direct to each is the next one they get.
  a.send({ type: 'direct', to: { connection_id: b1.connectionId }, data: 'marker' });
  a.send({ type: 'direct', to: { connection_id: a.connectionId }, data: 'marker' });
  for (const c of [b1, a]) assert.deepEqual((await c.framesBefore(directWith('marker'), 1)).filter(isDirect), []);
  for (const x of [a, b1, b2]) x.terminate();
});

test('a direct to your own connection reaches it once', async () => {
  const a = await join(server, 'dm-self', 'alice');
  a.send({ type: 'direct', to: { connection_id: a.connectionId }, data: 'note to self', id: 's1' });
  const first = await a.next(isDirect);
  assert.deepEqual(first, { type: 'direct', from: { user_id: 'alice', connection_id: a.connectionId }, data: 'note to self' });
  a.send({ type: 'direct', to: { connection_id: a.connectionId }, data: 'marker' });
  assert.deepEqual(await a.framesBefore(directWith('marker'), a.log.indexOf(first) + 1), [], 'exactly one copy, no error');
  a.terminate();
});

test('a forged `from` is ignored: the server stamps the sender', async () => {
  const a = await join(server, 'forge', 'mallory');
  const b = await join(server, 'forge', 'bob');
  a.send({ type: 'publish', data: 'hi', from: { user_id: 'admin', connection_id: b.connectionId, server: true } });
  const m = await b.next(isMessage);
  assert.deepEqual(m.from, { user_id: 'mallory', connection_id: a.connectionId });
  a.send({ type: 'direct', to: { connection_id: b.connectionId }, data: 1, from: { server: true } });
  const d = await b.next((f) => f.type === 'direct');
  assert.deepEqual(d.from, { user_id: 'mallory', connection_id: a.connectionId });
  for (const x of [a, b]) x.terminate();
});

test('the text frame ping is answered pong', async () => {
  const a = await join(server, 'ping', 'alice');
  a.send('ping');
  assert.deepEqual(await a.next((f) => f.raw === 'pong'), { raw: 'pong', binary: false });
  a.terminate();
});

test('user ids may be any Unicode up to 128 characters', async () => {
  const name = '😀'.repeat(128);
  const a = await join(server, 'unicode', name);
  assert.equal(a.welcome.user_id, name);
  const b = await join(server, 'unicode', 'bob');
  const p = await a.next((f) => f.type === 'presence');
  assert.equal(p.user_id, 'bob');
  a.send({ type: 'publish', data: 'é' });
  assert.equal((await b.next(isMessage)).from.user_id, name);
  for (const x of [a, b]) x.terminate();
});
