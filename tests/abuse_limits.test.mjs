// Abuse limits (issue 12), each in workerd over real sockets: one rate bucket per user per
// room shared by all of the user's sockets (with per-socket flood strikes), the direct
// bucket, the connection caps per user and per room, the size check before anything is
// queued (order kept), and the per-IP limit on upgrades and history reads.
//
// Refill rates are set to the minimum (0.001/s), so a bucket that is empty stays empty for the
// whole test: every count below is exact, whatever the machine's speed. Absence is proved with
// markers: a later frame that must arrive after anything that should not have.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from './support/jwt.mjs';
import { startServer, SECRET } from './support/server.mjs';
import { devToken, join, tryConnect, WAIT_MS } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { roomDebug, waitForEviction } from './support/eviction.mjs';
import { within } from './support/sessions.mjs';

const BURST = 6;
const DIRECT_BURST = 3;
const MAX_BYTES = 2000;
let server, api;
before(async () => {
  server = await startServer({
    vars: {
      RATE_LIMIT_PER_SECOND: '0.001',
      RATE_LIMIT_BURST: String(BURST),
      DIRECT_RATE_PER_SECOND: '0.001',
      DIRECT_RATE_BURST: String(DIRECT_BURST),
      MAX_CONNECTIONS_PER_USER: '2',
      MAX_ROOM_CONNECTIONS: '3',
      MAX_MESSAGE_BYTES: String(MAX_BYTES),
    },
  });
  api = admin(server);
});
after(async () => { await server?.stop(); });

const isError = (code, id) => (f) => f.type === 'error' && f.code === code && (id === undefined || f.id === id);
const ackOf = (id) => (f) => f.type === 'ack' && f.id === id;
const messageWith = (data) => (f) => f.type === 'message' && f.data === data;
const direct = (f) => f.type === 'direct';
const roomInfo = async (room) => (await api.get(`/rooms/${room}`)).body;

/** Records every frame `c` receives from now on, in order, so a test can look behind a marker. */
function record(c) {
  c.seen = [];
  c.ws.on('message', (data) => {
    try { c.seen.push(JSON.parse(data.toString())); } catch { c.seen.push({ raw: data.toString() }); }
  });
  return c;
}

/** Waits for the first frame matching `marker` and returns what `c` received before it (since
 * the previous marker); the marker and those frames are consumed. */
async function framesBefore(c, marker) {
  await c.next(marker);
  const at = c.seen.findIndex(marker);
  const before = c.seen.slice(0, at);
  c.seen = c.seen.slice(at + 1);
  return before;
}

test('all sockets of a user in a room share one bucket; a flooding socket is closed alone', async () => {
  const a1 = await join(server, 'shared', 'alice');
  const a2 = await join(server, 'shared', 'alice');
  const bob = record(await join(server, 'shared', 'bob'));

  // Half of alice's burst from each socket: all accepted.
  for (let i = 0; i < BURST; i++) {
    const c = i < BURST / 2 ? a1 : a2;
    c.send({ type: 'publish', data: `s${i}`, id: `s${i}` });
    await c.next(ackOf(`s${i}`));
  }
  // The bucket is the user's, not the socket's: either socket is now refused (with the id).
  a2.send({ type: 'publish', data: 'over-2', id: 'over-2' });
  assert.equal((await a2.next(isError('rate_limited'))).id, 'over-2');
  a1.send({ type: 'publish', data: 'over-1', id: 'over-1' });
  assert.equal((await a1.next(isError('rate_limited'))).id, 'over-1');

  // Bob's bucket is his own. His message is the marker: before it he saw exactly alice's
  // accepted burst, in order, and none of the refused frames.
  bob.send({ type: 'publish', data: 'bob-1', id: 'bob-1' });
  const seen = await framesBefore(bob, messageWith('bob-1'));
  assert.deepEqual(seen.filter((f) => f.type === 'message').map((f) => f.data),
    Array.from({ length: BURST }, (_, i) => `s${i}`));
  await a1.next(messageWith('bob-1'));

  // a2 floods on. Strikes are per socket: max(burst, 10) = 10 refusals in all (it has had one),
  // then 1008. Every refusal names its frame.
  const flood = 20;
  for (let i = 0; i < flood; i++) a2.send({ type: 'publish', data: i, id: `f${i}` });
  const closed = await within(a2.closed, WAIT_MS, 'a2 closed for flooding');
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, 'rate limit exceeded');
  const refused = a2.frames.filter(isError('rate_limited')).map((f) => f.id);
  assert.deepEqual(refused, Array.from({ length: 9 }, (_, i) => `f${i}`), 'nine more refusals, then the close');
  assert.deepEqual(a2.frames.filter((f) => f.type === 'ack'), []);

  // The user's other socket stays open, alice is still a member (no leave), and a1 still has
  // strikes of its own: it is refused, not closed.
  assert.deepEqual(await roomInfo('shared'), {
    room: 'shared', connections: 2,
    users: [{ user_id: 'alice', connections: 1 }, { user_id: 'bob', connections: 1 }],
  });
  a1.send({ type: 'publish', data: 'over-3', id: 'over-3' });
  assert.equal((await a1.next(isError('rate_limited'))).id, 'over-3');
  bob.send({ type: 'publish', data: 'bob-2', id: 'bob-2' });
  await a1.next(messageWith('bob-2'));
  const later = await framesBefore(bob, messageWith('bob-2'));
  assert.deepEqual(later.filter((f) => f.type !== 'ack'), [], 'no leave for alice, nothing of the flood broadcast');
  a1.terminate(); bob.terminate();
});

test('reconnecting does not refill the user\'s bucket', async () => {
  const a1 = await join(server, 'refill', 'alice');
  const bob = await join(server, 'refill', 'bob');
  for (let i = 0; i < BURST; i++) {
    a1.send({ type: 'publish', data: i, id: `r${i}` });
    await a1.next(ackOf(`r${i}`));
  }
  a1.send({ type: 'publish', data: 'over', id: 'over' });
  await a1.next(isError('rate_limited', 'over'));
  await a1.close();
  await eventually(async () => (await roomInfo('refill')).connections, 1);
  const a2 = await join(server, 'refill', 'alice');
  a2.send({ type: 'publish', data: 'again', id: 'again' });
  const answer = await a2.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === 'again');
  a2.terminate(); bob.terminate();
  assert.equal(answer.type, 'error', 'the bucket emptied a moment ago is still empty');
  assert.equal(answer.code, 'rate_limited');
});

test('directs take a token from a per-user direct bucket as well', async () => {
  const a1 = await join(server, 'dbucket', 'alice');
  const a2 = await join(server, 'dbucket', 'alice');
  const bob = await join(server, 'dbucket', 'bob');
  const to = { connection_id: bob.connectionId };
  for (let i = 0; i < DIRECT_BURST; i++) {
    const c = i % 2 ? a2 : a1;
    c.send({ type: 'direct', to, data: `d${i}`, id: `d${i}` });
    assert.equal((await bob.next(direct)).data, `d${i}`);
  }
  // Both of alice's sockets draw on one direct bucket: the next direct from either is refused.
  a2.send({ type: 'direct', to, data: 'no-2', id: 'no-2' });
  assert.equal((await a2.next(isError('rate_limited'))).id, 'no-2');
  a1.send({ type: 'direct', to: { user_id: 'bob' }, data: 'no-1', id: 'no-1' });
  assert.equal((await a1.next(isError('rate_limited'))).id, 'no-1');
  // Nothing of the refused ones reached bob: the next direct he gets is the server's marker.
  const marker = await api.post(`/connections/${bob.connectionId}/messages`, { data: 'marker' });
  assert.deepEqual(marker.body, { delivered: 1 });
  assert.deepEqual(await bob.next(direct), { type: 'direct', from: { server: true }, data: 'marker' });
  // Publishes draw on the frame bucket only (BURST = 6; alice has used 5 frames so far, the
  // refused directs included): the 6th frame is accepted, the 7th is not.
  a1.send({ type: 'publish', data: 'still', id: 'p1' });
  await a1.next(ackOf('p1'));
  a1.send({ type: 'publish', data: 'one too many', id: 'p2' });
  const seventh = await a1.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === 'p2');
  assert.deepEqual([seventh.type, seventh.code], ['error', 'rate_limited'], 'the 7th frame of a burst of 6 is refused');
  // Bob's direct bucket is his own.
  bob.send({ type: 'direct', to: { connection_id: a1.connectionId }, data: 'back', id: 'b1' });
  assert.equal((await a1.next(direct)).data, 'back');
  [a1, a2, bob].forEach((c) => c.terminate());
});

test('MAX_CONNECTIONS_PER_USER is 429 too_many_connections, MAX_ROOM_CONNECTIONS 503 room_full', async () => {
  const url = async (room, user) => `${server.wsUrl}/rooms/${room}/ws?token=${await devToken(server, user)}`;
  const refusal = async (room, user) => {
    const r = await tryConnect(await url(room, user));
    assert.equal(r.client, undefined, `${user} should be refused in ${room}`);
    return [r.status, r.body.error.code, typeof r.body.error.message];
  };
  const a1 = await join(server, 'caps', 'alice');
  const a2 = await join(server, 'caps', 'alice');
  assert.deepEqual(await refusal('caps', 'alice'), [429, 'too_many_connections', 'string']);
  const bob = record(await join(server, 'caps', 'bob'));
  // Three connections: the room is full for anyone, alice still hears her own cap first.
  assert.deepEqual(await refusal('caps', 'carol'), [503, 'room_full', 'string']);
  assert.deepEqual(await refusal('caps', 'alice'), [429, 'too_many_connections', 'string']);
  // The caps are per room.
  const elsewhere = [await join(server, 'caps-2', 'alice'), await join(server, 'caps-2', 'carol')];
  // Refused upgrades leave no trace: no presence, no member.
  bob.send({ type: 'publish', data: 'm1', id: 'm1' });
  const seen = await framesBefore(bob, messageWith('m1'));
  assert.deepEqual(seen.filter((f) => f.type === 'presence'), []);
  assert.equal((await roomInfo('caps')).connections, 3);
  // A slot freed is a slot usable.
  await a1.close();
  await eventually(async () => (await roomInfo('caps')).connections, 2);
  const a3 = await join(server, 'caps', 'alice');
  assert.deepEqual(await refusal('caps', 'carol'), [503, 'room_full', 'string']);
  [a2, a3, bob, ...elsewhere].forEach((c) => c.terminate());
});

test('the caps hold after the room object was evicted and rebuilt its index from its sockets', { timeout: 90_000 }, async () => {
  const refusal = async (room, user) => {
    const r = await tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${await devToken(server, user)}`);
    r.client?.terminate();
    assert.equal(Boolean(r.client), false, `${user} should be refused in ${room}`);
    return [r.status, r.body.error.code, typeof r.body.error.message];
  };
  // One room where alice is at her cap, one that is full; both evicted side by side with their
  // sockets open. The refused upgrades are the first events of the new instances.
  const atUserCap = [await join(server, 'caps-evicted', 'alice'), await join(server, 'caps-evicted', 'alice')];
  const atRoomCap = [await join(server, 'full-evicted', 'alice'), await join(server, 'full-evicted', 'bob'), await join(server, 'full-evicted', 'carol')];
  const fresh = await Promise.all(['caps-evicted', 'full-evicted'].map((room) => waitForEviction(server, room)));
  assert.deepEqual(await refusal('caps-evicted', 'alice'), [429, 'too_many_connections', 'string']);
  assert.deepEqual(await refusal('full-evicted', 'dave'), [503, 'room_full', 'string']);
  assert.deepEqual(await refusal('full-evicted', 'alice'), [503, 'room_full', 'string']);
  for (const [i, room] of ['caps-evicted', 'full-evicted'].entries()) {
    const now = await roomDebug(server, room);
    assert.equal(now.instance, fresh[i].instance, `${room}: refused by the instance constructed after the eviction`);
    assert.equal(now.loaded_before_this_call, true, `${room}: the refusal rebuilt the room`);
    // (Sockets of the room's own object and, past ROOM_FANOUT_CONNECTIONS, of its fan-out objects.)
    assert.equal(now.sockets + now.fanout.connections, room === 'caps-evicted' ? 2 : 3, `${room}: the refused upgrades left no socket`);
  }
  // In the room with a slot left, someone else still gets it — then it is full.
  const bob = await join(server, 'caps-evicted', 'bob');
  assert.deepEqual(await refusal('caps-evicted', 'carol'), [503, 'room_full', 'string']);
  assert.deepEqual(await roomInfo('caps-evicted'), {
    room: 'caps-evicted', connections: 3,
    users: [{ user_id: 'alice', connections: 2 }, { user_id: 'bob', connections: 1 }],
  });
  [...atUserCap, ...atRoomCap, bob].forEach((c) => c.terminate());
});

test('the caps hold for upgrades that arrive at once, while a new user\'s first connect waits for its registry', async () => {
  // Each of these upgrades is its user's first in the room, so each waits for the registry's
  // answer about revocations; the limits must be checked again after that wait.
  const at = async (room, user) => tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${await devToken(server, user)}`);
  const outcome = async (room, users) => {
    const results = await Promise.all(users.map((u) => at(room, u)));
    const accepted = results.filter((r) => r.client).map((r) => r.client);
    const refused = results.filter((r) => !r.client).map((r) => `${r.status} ${r.body.error.code}`);
    return { accepted, refused };
  };
  const dave = await outcome('caps-burst', Array(8).fill('dave'));
  assert.equal(dave.accepted.length, 2, 'MAX_CONNECTIONS_PER_USER');
  assert.deepEqual(dave.refused, Array(6).fill('429 too_many_connections'));
  const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'];
  const many = await outcome('caps-burst-2', users);
  assert.equal(many.accepted.length, 3, 'MAX_ROOM_CONNECTIONS');
  assert.deepEqual(many.refused, Array(5).fill('503 room_full'));
  assert.equal((await roomInfo('caps-burst')).connections, 2);
  assert.equal((await roomInfo('caps-burst-2')).connections, 3);
  [...dave.accepted, ...many.accepted].forEach((c) => c.terminate());
});

test('an oversize frame is refused too_large without an id, in order, and the connection carries on', async () => {
  const a = await join(server, 'oversize', 'alice');
  const b = await join(server, 'oversize', 'bob');
  const big = JSON.stringify({ type: 'publish', id: 'big', data: 'x'.repeat(MAX_BYTES) });
  const bigAndBroken = `{"type":"publish","id":"broken","data":"${'y'.repeat(MAX_BYTES)}`; // not even JSON
  a.ws.send(JSON.stringify({ type: 'publish', data: 'before', id: 'before' }));
  a.ws.send(big);
  a.ws.send(JSON.stringify({ type: 'publish', data: 'between', id: 'between' }));
  a.ws.send(bigAndBroken);
  a.ws.send(JSON.stringify({ type: 'publish', data: 'after', id: 'after' }));
  const last = await a.next(ackOf('after'));
  // Alice's acks and errors, in the order she received them: the refusals sit exactly where
  // their frames were, carry no id (the frame was never parsed) and need no valid JSON.
  const mine = [...a.frames.filter((f) => f.type === 'ack' || f.type === 'error'), last];
  assert.deepEqual(mine.map((f) => (f.type === 'ack' ? `ack ${f.id}` : `${f.code} ${f.id}`)), [
    'ack before',
    'too_large undefined',
    'ack between',
    'too_large undefined',
    'ack after',
  ]);
  for (const e of mine.filter((f) => f.type === 'error')) {
    assert.ok(!('id' in e));
    assert.equal(typeof e.message, 'string');
  }
  // Bob got exactly the three accepted messages, in seq order.
  const got = [await b.next((f) => f.type === 'message'), await b.next((f) => f.type === 'message'), await b.next((f) => f.type === 'message')];
  assert.deepEqual(got.map((f) => f.data), ['before', 'between', 'after']);
  assert.deepEqual(got.map((f) => f.seq), [got[0].seq, got[0].seq + 1, got[0].seq + 2]);
  // A frame of exactly the limit is accepted.
  const exact = { type: 'publish', id: 'exact', data: '' };
  exact.data = 'z'.repeat(MAX_BYTES - JSON.stringify(exact).length);
  assert.equal(JSON.stringify(exact).length, MAX_BYTES);
  a.send(exact);
  await a.next(ackOf('exact'));
  a.terminate(); b.terminate();
});

/** The local rate-limit binding (Miniflare) counts in fixed windows aligned to the clock
 * (multiples of 60 s here): a test that straddled a window's end would see its counts reset.
 * Start each per-IP test with at least 10 s of its window left (a bounded wait, 1 run in 6). */
async function freshWindowMargin() {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 10_000) await new Promise((r) => setTimeout(r, left + 50));
}

test('per-IP limit: upgrades and user history reads count; admin reads and refusals do not', { timeout: 30_000 }, async () => {
  const LIMIT = 5;
  await freshWindowMargin();
  const ipServer = await startServer({ ipLimit: { simple: { limit: LIMIT, period: 60 } } });
  try {
    const ipApi = admin(ipServer);
    const token = await devToken(ipServer, 'alice');
    const lobbyOnly = await devToken(ipServer, 'alice', { rooms: ['lobby'] });
    const now = Math.floor(Date.now() / 1000);
    const expired = jwt.sign({ sub: 'alice', exp: now - 60 }, SECRET);
    const ws = (room, query) => `${ipServer.wsUrl}/rooms/${room}/ws${query}`;
    const history = (room, t) => fetch(`${ipServer.url}/rooms/${room}/messages${t ? `?token=${t}` : ''}`);
    const statusOf = async (url, opts) => (await tryConnect(url, opts)).status;

    // None of these count: refusals before the limit (401, 403, 400) and admin reads.
    for (let i = 0; i < LIMIT + 2; i++) {
      assert.equal(await statusOf(ws('lobby', `?token=${expired}`)), 401);
      assert.equal(await statusOf(ws('other', `?token=${lobbyOnly}`)), 403);
      assert.equal(await statusOf(ws('bad%20room', `?token=${token}`)), 400);
      assert.equal(await statusOf(ws('lobby', ''), { headers: { 'sec-websocket-protocol': `edge-chat.token.${token}` } }), 400);
      assert.equal((await history('lobby', expired)).status, 401);
      assert.equal((await history('other', lobbyOnly)).status, 403);
      assert.equal((await ipApi.get('/rooms/lobby/messages')).status, 200);
    }
    // These do: upgrades and history reads with a user token, LIMIT of them in all.
    const open = [];
    for (let i = 0; i < 3; i++) open.push((await tryConnect(ws('lobby', `?token=${token}`))).client);
    assert.ok(open.every(Boolean), 'the first upgrades are let in');
    assert.equal((await history('lobby', token)).status, 200);
    assert.equal((await history('lobby', lobbyOnly)).status, 200);
    // Over the limit: both kinds are refused 429 rate_limited, in the contract's error shape.
    const over = await tryConnect(ws('lobby', `?token=${token}`));
    assert.equal(over.status, 429);
    assert.equal(over.body.error.code, 'rate_limited');
    const read = await history('lobby', token);
    assert.equal(read.status, 429);
    assert.equal((await read.json()).error.code, 'rate_limited');
    // The token is still checked first (a bad one is 401, not 429); admin reads still pass;
    // the connections already open still work.
    assert.equal(await statusOf(ws('lobby', `?token=${expired}`)), 401);
    assert.equal((await ipApi.get('/rooms/lobby/messages')).status, 200);
    open[0].send({ type: 'publish', data: 'still open', id: 'ok' });
    await open[0].next(ackOf('ok'));
    open.forEach((c) => c.terminate());
  } finally {
    await ipServer.stop();
  }
});

test('per-IP limit: an upgrade refused 400 for a bad since or batch is not counted', async () => {
  await freshWindowMargin();
  const ipServer = await startServer({ ipLimit: { simple: { limit: 2, period: 60 } } });
  try {
    const token = await devToken(ipServer, 'alice');
    // `since` must be a non-negative integer, `batch` one of 1, true, 0, false (absent: off):
    // nine refusals against a limit of 2.
    const bad = ['since=-1', 'since=abc', 'since=1.5', 'since=', 'batch=yes', 'batch=2', 'batch=', 'batch=on', 'batch=-1'];
    for (const q of bad) {
      const r = await tryConnect(`${ipServer.wsUrl}/rooms/lobby/ws?token=${token}&${q}`);
      r.client?.terminate();
      assert.deepEqual([r.status, r.body?.error?.code], [400, 'bad_request'], q);
    }
    const ok = await tryConnect(`${ipServer.wsUrl}/rooms/lobby/ws?token=${token}`);
    ok.client?.terminate();
    assert.ok(ok.client, `the upgrade after ${bad.length} refusals was refused ${ok.status}: they were counted`);
  } finally {
    await ipServer.stop();
  }
});
