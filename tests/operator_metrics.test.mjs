// Operator metrics (issue 23, "See it"): with the Analytics Engine dataset `METRICS` bound,
// rooms, registry shards, webhook outboxes and the front worker write data points whose doubles add up exactly to what
// happened — a room at most one point per turn and per second —; without the binding nothing
// is written (docs/operations.md#metrics has the doubles' order and the SQL).
//
// How: the pinned miniflare offers the binding (its writeDataPoint accepts and drops the
// point), so the worker's real write path runs; with DEV_MODE the worker also keeps every
// point it handed the binding, per isolate, at `GET /dev/metrics` — local workerd runs the
// front and every object in one isolate, so one read sees them all. The test counts, on the
// client side, what it sent and received (bytes, WebSocket messages, message frames, error
// frames by code) and compares with the sums of the points. A room's counts of its last
// second wait for its next turn: a members read 1.1 s later is that turn (the marker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SECRET } from './support/server.mjs';
import { join, tryConnect, socketUrl, until, sleep, devToken } from './support/client.mjs';
import { publishAndAck, unwrapBatches } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import jwt from './support/jwt.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

async function points(server) {
  const res = await fetch(`${server.url}/dev/metrics`);
  assert.equal(res.status, 200);
  return (await res.json()).points;
}

/** The sums of the named doubles of the points of `kind` (and `index`). */
function sums(pts, kind, index) {
  const out = {};
  for (const p of pts.filter((p) => p.kind === kind && (index === undefined || p.index === index))) {
    for (const [k, v] of Object.entries(p.named)) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

/** Client-side bookkeeping: bytes and messages a socket sent. */
function sender(client) {
  const sent = { bytes: 0 };
  const send = client.ws.send.bind(client.ws);
  client.ws.send = (data, ...rest) => {
    sent.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    return send(data, ...rest);
  };
  client.sent = sent;
  return client;
}

async function conversation(server, room) {
  const alice = sender(await join(server, room, 'alice'));
  const bob = sender(await join(server, room, 'bob'));
  for (let i = 0; i < 3; i++) await publishAndAck(alice, { n: i });
  await publishAndAck(bob, 'hi');
  // Refused frames: binary, bad JSON (each answered with an error frame).
  alice.ws.send(Buffer.from([1, 2, 3]));
  alice.ws.send('not json');
  await until(() => alice.log.filter((f) => f.type === 'error').length === 2, { what: 'two refusals' });
  // A flood: refused (bad_json, then rate_limited) until the room closes the socket 1008.
  const dave = sender(await join(server, room, 'dave'));
  for (let i = 0; i < 300; i++) dave.ws.send(`flood ${i}`);
  assert.equal((await dave.closed).code, 1008);
  bob.ws.close(1000);
  await bob.closed;
  alice.ws.close(1000);
  await alice.closed;
  return [alice, bob, dave];
}

test('a room\'s points add up to the conversation, at most one per turn and per second; the front counts upgrades and refusals', async () => {
  const server = await startServer({ metrics: true });
  try {
    const room = 'obs-room';
    const clients = await conversation(server, room);
    // The marker: a members read 1.1 s later is a turn past the pace (counting nothing of
    // its own), which writes what was kept.
    await sleep(1_100);
    assert.equal((await admin(server).get(`/rooms/${room}/members`)).status, 200);

    const received = (c) => unwrapBatches(c.log).frames;
    const errors = (code) => clients.reduce((n, c) => n + received(c).filter((f) => f.type === 'error' && f.code === code).length, 0);
    const expected = {
      messages: 4,
      deliveries: clients.reduce((n, c) => n + received(c).filter((f) => f.type === 'message').length, 0),
      bytes_in: clients.reduce((n, c) => n + c.sent.bytes, 0),
      bytes_out: clients.reduce((n, c) => n + c.sizes.reduce((a, b) => a + b, 0), 0),
      sends: clients.reduce((n, c) => n + c.sizes.length, 0),
      connects: 3,
      disconnects: 3,
      refused_binary_unsupported: 1,
      refused_bad_json: errors('bad_json'),
      refused_rate_limited: errors('rate_limited'),
    };
    assert.equal(expected.deliveries, 8, 'each message reached alice and bob');
    assert.ok(expected.refused_rate_limited > 0 && expected.refused_bad_json > 1, JSON.stringify(expected));
    expected.refused = expected.refused_binary_unsupported + expected.refused_bad_json + expected.refused_rate_limited;

    const pick = (s) => Object.fromEntries(Object.keys(expected).map((k) => [k, s[k] ?? 0]));
    let pts = [];
    await until(async () => {
      pts = await points(server);
      return JSON.stringify(pick(sums(pts, 'room', room))) === JSON.stringify(expected);
    }, { what: 'room points adding up' }).catch(() => {});
    assert.deepEqual(pick(sums(pts, 'room', room)), expected);

    const mine = pts.filter((p) => p.kind === 'room' && p.index === room);
    // The registry shards the connects reported to wrote theirs, indexed `registry-N`.
    const shards = pts.filter((p) => p.kind === 'registry');
    assert.ok(shards.length > 0 && shards.every((p) => /^registry-\d+$/.test(p.index) && p.doubles.length === 3), JSON.stringify(shards));
    assert.ok(sums(pts, 'registry').presence_reports >= 3, 'each first connect reported its presence');
    const s = sums(pts, 'room', room);
    assert.ok(s.turns >= 1 && s.turn_ms >= 0 && s.turn_ms_max <= s.turn_ms, JSON.stringify(s));
    for (const p of mine) assert.equal(p.doubles.length, 20, 'the room doubles, in their fixed order');
    assert.deepEqual(mine.map((p) => p.doubles[0]), mine.map((p) => p.named.messages), 'double1 is messages');
    const at = mine.map((p) => p.at);
    for (let i = 1; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= 1_000, `one point per second at most: ${at}`);
    assert.ok(mine.length >= 2, `the marker's point came after the conversation's (${mine.length} points)`);

    // The front: 3 upgrades, then refusals by code and `401`s by reason.
    const token = await devToken(server, 'erin');
    const expired = jwt.sign({ sub: 'erin', exp: Math.floor(Date.now() / 1000) - 3600 }, SECRET);
    assert.equal((await tryConnect(socketUrl(server, 'bad%20room', token))).status, 400);
    assert.equal((await fetch(`${server.url}/rooms/${room}/ws?token=${token}`)).status, 426);
    assert.equal((await tryConnect(`${server.wsUrl}/rooms/${room}/ws`)).status, 401);
    assert.equal((await tryConnect(socketUrl(server, room, expired))).status, 401);
    assert.equal((await admin(server, 'wrong').get('/stats')).status, 401);
    await sleep(1_100);
    await fetch(`${server.url}/health`); // the marker: a request past the pace writes the point
    const front = await until(async () => {
      const f = sums(await points(server), 'front');
      return f.unauthorized_admin === 1 && f;
    }, { what: 'the front point' });
    assert.deepEqual(
      Object.fromEntries(Object.entries(front).filter(([, v]) => v > 0)),
      { upgrades: 3, refused_bad_room: 1, refused_upgrade_required: 1, unauthorized_missing: 1, unauthorized_expired: 1, unauthorized_admin: 1 },
    );
  } finally {
    await server.stop();
  }
});

test('without the METRICS binding nothing is written', async () => {
  const server = await startServer();
  try {
    await conversation(server, 'obs-off');
    await sleep(1_100);
    // The markers the bound run writes its last points on: a room turn and a front request
    // past the pace.
    assert.equal((await admin(server).get('/rooms/obs-off/members')).status, 200);
    await fetch(`${server.url}/health`);
    assert.deepEqual(await points(server), []);
  } finally {
    await server.stop();
  }
});

test('a webhook outbox counts failures and deliveries and says its backlog', async () => {
  // The first POST fails (500), the retry 120 ms later and the rest succeed.
  const receiver = await startReceiver({ respond: (post) => (post.n === 1 ? 500 : 200) });
  const server = await startServer({ metrics: true, vars: webhookVars(receiver, { WEBHOOK_RETRY_SCALE: '0.002', WEBHOOK_EVENTS: 'message' }) });
  try {
    const api = admin(server);
    for (let i = 0; i < 3; i++) assert.equal((await api.post('/rooms/hooked/messages', { data: i })).status, 200);
    await until(() => receiver.posts.filter((p) => p.status === 200).reduce((n, p) => n + p.json.events.length, 0) === 3, { what: 'three events delivered' });
    // The marker: one more event 1.1 s later; its delivery is past the pace and writes.
    await sleep(1_100);
    assert.equal((await api.post('/rooms/hooked/messages', { data: 'last' })).status, 200);
    let pts = [];
    await until(async () => {
      pts = (await points(server)).filter((p) => p.kind === 'webhooks' && p.index === 'hooked');
      return sums(pts, 'webhooks').delivered === 4;
    }, { what: 'the webhook points' }).catch(() => {});
    const s = sums(pts, 'webhooks');
    assert.deepEqual([s.delivered, s.failures, s.dead_letters], [4, 1, 0], JSON.stringify(pts));
    const [first, last] = [pts[0].named, pts.at(-1).named];
    assert.ok(first.waiting >= 1 && first.failures === 1, `the failure's point says what waits: ${JSON.stringify(first)}`);
    assert.deepEqual([last.waiting, last.oldest_age_ms], [0, 0], 'nothing waits after the last delivery');
  } finally {
    await server.stop();
    await receiver.stop();
  }
});
