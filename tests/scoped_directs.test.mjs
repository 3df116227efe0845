// Directs honour the token's `rooms` claim (issue 12). A connection whose token lists rooms:
// - directing a *connection* in a room outside its claim gets `forbidden` (with the frame's
//   id) — whether or not that connection exists, so the answer reveals nothing;
// - directing a *user* reaches only that user's connections in the claimed rooms; a user with
//   none there is `not_found` (with the id), which says nothing about the user's other rooms.
// Nothing is delivered in either case. Absence is proved with a marker: a server post to the
// same recipient through the same path, which must be the next direct it gets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { devToken, join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { waitForEviction } from './support/eviction.mjs';

let server, api;
before(async () => { server = await startServer(); api = admin(server); });
after(async () => { await server?.stop(); });

const direct = (f) => f.type === 'direct';
const errorFor = (id) => (f) => f.type === 'error' && f.id === id;
const registryKnows = (user, n) => eventually(async () => (await api.get(`/users/${encodeURIComponent(user)}`)).body.connections, n);

/** Alice, restricted to rooms `<t>-a` (hers) and `<t>-c`; bob in all three rooms; carol
 * only in `<t>-b`, outside alice's claim. Each test has its own rooms and users. */
async function cast(t) {
  const token = await devToken(server, `alice-${t}`, { rooms: [`${t}-a`, `${t}-c`] });
  const alice = await join(server, `${t}-a`, `alice-${t}`, { token });
  const bob = {
    a: await join(server, `${t}-a`, `bob-${t}`),
    b: await join(server, `${t}-b`, `bob-${t}`),
    c: await join(server, `${t}-c`, `bob-${t}`),
  };
  const carol = await join(server, `${t}-b`, `carol-${t}`);
  await registryKnows(`bob-${t}`, 3);
  await registryKnows(`carol-${t}`, 1);
  return { alice, bob, carol, all: [alice, ...Object.values(bob), carol], from: { user_id: `alice-${t}`, connection_id: alice.connectionId } };
}

/** The server's marker to a user (through their registry, to every room): each of `clients`
 * gets it as its next direct, so nothing else was delivered to them before. */
async function markUser(user, clients, data) {
  const r = await api.post(`/users/${user}/messages`, { data });
  assert.deepEqual(r.body, { delivered: clients.length });
  for (const c of clients) {
    assert.deepEqual(await c.next(direct), { type: 'direct', from: { server: true }, data }, `${c.connectionId} got something before the marker`);
  }
}

test('a restricted connection directing a connection outside its rooms gets forbidden; nothing is delivered', async () => {
  const { alice, bob, carol, all, from } = await cast('sd1');
  alice.send({ type: 'direct', to: { connection_id: carol.connectionId }, data: 'psst', id: 'x1' });
  const e1 = await alice.next(errorFor('x1'));
  assert.deepEqual([e1.code, typeof e1.message], ['forbidden', 'string']);
  alice.send({ type: 'direct', to: { connection_id: bob.b.connectionId }, data: 'psst', id: 'x2' });
  assert.equal((await alice.next(errorFor('x2'))).code, 'forbidden');
  // The same answer for a connection that does not exist: no existence oracle.
  alice.send({ type: 'direct', to: { connection_id: 'sd1-b.0123456789abcdef' }, data: 'psst', id: 'x3' });
  assert.equal((await alice.next(errorFor('x3'))).code, 'forbidden');
  // ... while in a claimed room a missing connection is simply not found.
  alice.send({ type: 'direct', to: { connection_id: 'sd1-c.0123456789abcdef' }, data: 'psst', id: 'x4' });
  assert.equal((await alice.next(errorFor('x4'))).code, 'not_found');
  await markUser('carol-sd1', [carol], 'marker-1');
  await markUser('bob-sd1', Object.values(bob), 'marker-1');

  // Within the claim, connection directs work: in her own room and in another claimed room.
  const from2 = alice.mark();
  alice.send({ type: 'direct', to: { connection_id: bob.a.connectionId }, data: 'here', id: 'y1' });
  alice.send({ type: 'direct', to: { connection_id: bob.c.connectionId }, data: 'there', id: 'y2' });
  assert.deepEqual(await bob.a.next(direct), { type: 'direct', from, data: 'here' });
  assert.deepEqual(await bob.c.next(direct), { type: 'direct', from, data: 'there' });
  // The claim is what forbids: bob (no claim) reaches carol's connection from the same room.
  const fromBob = bob.a.mark();
  bob.a.send({ type: 'direct', to: { connection_id: carol.connectionId }, data: 'hi carol', id: 'z1' });
  assert.equal((await carol.next(direct)).data, 'hi carol');
  // No error for the delivered ones. The markers: a direct to a missing connection of a room
  // each sender's delivered direct was forwarded to, sent once that direct had arrived; its
  // not_found comes after any error the delivered direct could have earned.
  alice.send({ type: 'direct', to: { connection_id: 'sd1-c.0123456789abcdef' }, data: 'marker', id: 'y3' });
  const aliceSaw = await alice.framesBefore(errorFor('y3'), from2);
  assert.deepEqual(aliceSaw.filter((f) => f.type === 'error'), [], 'no error for the delivered ones');
  bob.a.send({ type: 'direct', to: { connection_id: 'sd1-b.0123456789abcdef' }, data: 'marker', id: 'z2' });
  const bobSaw = await bob.a.framesBefore(errorFor('z2'), fromBob);
  assert.deepEqual(bobSaw.filter((f) => f.type === 'error'), [], 'no error for bob\'s delivered direct');
  all.forEach((c) => c.terminate());
});

test('a restricted user direct reaches only the claimed rooms; none there is not_found', async () => {
  const { alice, bob, carol, all, from } = await cast('sd2');
  // Carol is only in sd2-b: not_found, and she gets nothing.
  alice.send({ type: 'direct', to: { user_id: 'carol-sd2' }, data: 'psst', id: 'u1' });
  const e = await alice.next(errorFor('u1'));
  assert.deepEqual([e.code, typeof e.message], ['not_found', 'string']);
  await markUser('carol-sd2', [carol], 'marker-2');

  // Bob is in all three rooms: his connections in sd2-a and sd2-c get it, the one in sd2-b not.
  alice.send({ type: 'direct', to: { user_id: 'bob-sd2' }, data: 'scoped', id: 'u2' });
  assert.deepEqual(await bob.a.next(direct), { type: 'direct', from, data: 'scoped' });
  assert.deepEqual(await bob.c.next(direct), { type: 'direct', from, data: 'scoped' });
  await markUser('bob-sd2', Object.values(bob), 'marker-3');
  // A delivered direct is not answered; an error, if any, would come before the answer to a
  // later direct to a missing user.
  alice.send({ type: 'direct', to: { user_id: 'nobody-at-all' }, data: 1, id: 'u3' });
  assert.equal((await alice.next(errorFor('u3'))).code, 'not_found');
  assert.deepEqual(alice.frames.filter((f) => f.type === 'error'), []);

  // Without a claim, a user direct reaches every room of the user.
  carol.send({ type: 'direct', to: { user_id: 'bob-sd2' }, data: 'everywhere', id: 'u4' });
  for (const c of Object.values(bob)) assert.equal((await c.next(direct)).data, 'everywhere');
  all.forEach((c) => c.terminate());
});

test('an invalid to.user_id is bad_frame (with the id); a 128-character one is valid', async () => {
  const a = await join(server, 'sd-ids', 'alice');
  for (const [user, id] of [['', 'e1'], ['x'.repeat(129), 'e2'], ['a\u0001b', 'e3'], ['tab\there', 'e4'], ['\u007f', 'e5']]) {
    a.send({ type: 'direct', to: { user_id: user }, data: 1, id });
    const e = await a.next(errorFor(id));
    assert.equal(e.code, 'bad_frame', JSON.stringify(user));
  }
  a.send({ type: 'direct', to: { user_id: 'y'.repeat(128) }, data: 1, id: 'e6' });
  assert.equal((await a.next(errorFor('e6'))).code, 'not_found');
  a.terminate();
});

test('a refresh to a narrower token narrows the directs, also after the room was evicted', { timeout: 90_000 }, async () => {
  const dave = await join(server, 'sd4-a', 'dave-sd4');
  const carol = await join(server, 'sd4-b', 'carol-sd4');
  dave.send({ type: 'direct', to: { connection_id: carol.connectionId }, data: 'before', id: 'd1' });
  assert.equal((await carol.next(direct)).data, 'before', 'any room while the token allows any');
  const narrow = await devToken(server, 'dave-sd4', { rooms: ['sd4-a'] });
  dave.send({ type: 'auth', token: narrow, id: 'r1' });
  assert.equal((await dave.next((f) => f.id === 'r1')).type, 'auth_ok');
  dave.send({ type: 'direct', to: { connection_id: carol.connectionId }, data: 'after', id: 'd2' });
  assert.equal((await dave.next(errorFor('d2'))).code, 'forbidden');
  // The claim is in the socket's attachment: a room rebuilt from its sockets keeps it.
  await waitForEviction(server, 'sd4-a');
  dave.send({ type: 'direct', to: { connection_id: carol.connectionId }, data: 'evicted', id: 'd3' });
  assert.equal((await dave.next(errorFor('d3'))).code, 'forbidden');
  await markUser('carol-sd4', [carol], 'marker');
  [dave, carol].forEach((c) => c.terminate());
});
