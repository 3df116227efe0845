// No token can make the platform do unbounded work across rooms (issue 22, findings 1 and 3):
// `MAX_ROOMS_PER_USER` caps a user's live rooms across the deployment (the user's registry
// shard refuses a first connect to one more room, `429 too_many_rooms`, in the answer to the
// report the room awaits anyway), and the registry's cross-room budget (`CROSS_ROOM_*`) pays
// one token per room a direct to a user is forwarded to: past it the sender gets `rate_limited`.
//
// The worst token one user can build: in every room it may join, sending directs to itself from
// each, so that each direct fans out to all of those rooms — 5·M·N room sub-requests per second
// before. The sub-requests are counted by the objects themselves (`GET /dev/meter`). Refill
// rates are the minimum (0.001/s): every count is exact, whatever the machine's speed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { devToken, join, tryConnect, until } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';

const MAX_ROOMS = 8;
const CROSS_ROOM_BURST = 16;
const DIRECT_BURST = 5;
let server, api;
before(async () => {
  server = await startServer({
    vars: {
      MAX_ROOMS_PER_USER: String(MAX_ROOMS),
      CROSS_ROOM_RATE_PER_SECOND: '0.001',
      CROSS_ROOM_BURST: String(CROSS_ROOM_BURST),
      DIRECT_RATE_PER_SECOND: '0.001',
      DIRECT_RATE_BURST: String(DIRECT_BURST),
    },
    ipLimit: null,
  });
  api = admin(server);
});
after(async () => { await server?.stop(); });

const meter = async () => (await fetch(`${server.url}/dev/meter`)).json();
const refusal = async (room, user) => {
  const r = await tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${await devToken(server, user)}`);
  r.client?.terminate();
  return r.client ? 'connected' : [r.status, r.body.error?.code, typeof r.body.error?.message];
};
const rooms = (prefix) => Array.from({ length: MAX_ROOMS }, (_, i) => `${prefix}-${i}`);

/** Records every frame `c` receives from now on. */
function record(c) {
  c.seen = [];
  c.ws.on('message', (data) => { try { c.seen.push(JSON.parse(data.toString())); } catch { /* pong */ } });
  return c;
}

test('MAX_ROOMS_PER_USER: one room more is 429 too_many_rooms; a reconnect into a room the user has is allowed', { timeout: 60_000 }, async () => {
  const names = rooms('cap');
  const conns = [];
  for (const room of names) conns.push(await join(server, room, 'roamer'));
  await eventually(async () => (await api.get('/users/roamer')).body.connections, MAX_ROOMS);
  assert.deepEqual(await refusal('cap-extra', 'roamer'), [429, 'too_many_rooms', 'string']);
  // The refused room kept nothing of the user.
  assert.deepEqual(Object.keys((await api.get('/users/roamer')).body.rooms).sort(), [...names].sort());
  // A second connection into a room the user is in is always allowed, at the cap.
  const again = await join(server, names[3], 'roamer');
  // Others are not affected by roamer's cap.
  const other = await join(server, 'cap-extra', 'homebody');
  // Leaving a room frees a slot (once the registry heard of it).
  await conns[0].close();
  await until(async () => {
    const r = await tryConnect(`${server.wsUrl}/rooms/cap-extra/ws?token=${await devToken(server, 'roamer')}`);
    if (!r.client) return false;
    conns.push(r.client);
    return true;
  }, { ms: 10_000, what: 'a slot freed by leaving a room' });
  assert.deepEqual(await refusal(names[0], 'roamer'), [429, 'too_many_rooms', 'string'], 'and the cap holds again');
  [...conns, again, other].forEach((c) => c.terminate());
});

test('the worst token: directs to itself from every room it may join are bounded by the cross-room budget', { timeout: 60_000 }, async () => {
  // mallory in MAX_ROOMS rooms (the most a token gets), each direct to herself fanning out to
  // all of them: before, every direct cost MAX_ROOMS room sub-requests, without bound.
  const conns = [];
  for (const room of rooms('amp')) conns.push(record(await join(server, room, 'mallory')));
  await eventually(async () => (await api.get('/users/mallory')).body.connections, MAX_ROOMS);
  const m0 = await meter();
  const ids = [];
  for (const [i, c] of conns.entries()) {
    for (let k = 0; k < DIRECT_BURST; k++) {
      const id = `d${i}.${k}`;
      ids.push(id);
      c.send({ type: 'direct', to: { user_id: 'mallory' }, data: id, id });
    }
  }
  // Every direct is either delivered (to all of mallory's connections) or refused to its sender.
  const outcome = () => {
    const frames = conns.flatMap((c) => c.seen);
    const refused = new Set(frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').map((f) => f.id));
    const delivered = new Set(frames.filter((f) => f.type === 'direct').map((f) => f.data));
    const copies = frames.filter((f) => f.type === 'direct').length;
    return { refused, delivered, copies, done: ids.every((id) => refused.has(id) || delivered.has(id)) };
  };
  await until(() => outcome().done, { ms: 20_000, what: 'every direct delivered or refused' });
  const wanted = CROSS_ROOM_BURST / MAX_ROOMS;
  await until(() => outcome().copies >= wanted * MAX_ROOMS, { what: 'every copy of the delivered directs' });
  // Count after the registry's last forward has landed (the fan-outs are concurrent).
  await until(async () => (await meter()).room.requests - m0.room.requests >= wanted * MAX_ROOMS, { what: 'the room sub-requests' });
  const m1 = await meter();
  const { refused, delivered, copies } = outcome();
  const roomCalls = m1.room.requests - m0.room.requests;
  const registryCalls = m1.registry.requests - m0.registry.requests;
  process.stdout.write(`# ${ids.length} self-directs from ${MAX_ROOMS} rooms: ${roomCalls} room sub-requests `
    + `(${(roomCalls / ids.length).toFixed(2)} per direct), ${registryCalls} registry requests; `
    + `${delivered.size} delivered, ${refused.size} refused\n`);
  assert.equal(delivered.size, wanted, 'the burst pays for this many fan-outs to MAX_ROOMS rooms');
  assert.equal(refused.size, ids.length - wanted, 'every other direct is refused rate_limited');
  assert.equal(copies, wanted * MAX_ROOMS, 'each delivered direct reached each connection once');
  assert.equal(roomCalls, CROSS_ROOM_BURST, 'room sub-requests: exactly the budget');
  assert.equal(registryCalls, ids.length, 'one registry request per direct frame, no more');
  // Others still reach mallory: the budget is the sender's.
  const friend = await join(server, 'amp-0', 'friend');
  friend.send({ type: 'direct', to: { user_id: 'mallory' }, data: 'hi', id: 'f1' });
  await until(() => conns.every((c) => c.seen.some((f) => f.type === 'direct' && f.data === 'hi')), { what: 'the friend\'s direct' });
  [...conns, friend].forEach((c) => c.terminate());
});
