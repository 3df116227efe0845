// The token travels as a WebSocket subprotocol by default (`?token=` only on request),
// and a resume's `replay_limit` gap is filled from the history API before anything after it is
// delivered — held frames in seq order, no duplicate; failed pages retried with backoff; a lost
// connection resumes after the last seq delivered; what history no longer has is a `gap`.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Events, type Room } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { fakeHistory, range } from '../test-support/history.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const replayLimit = (from: number, to: number) => ({ type: 'gap', from, to, reason: 'replay_limit' });

const opened: Room[] = [];
function open(opts: ConnectOptions): Room {
  const room = connect(opts);
  opened.push(room);
  return room;
}

/** The seqs of the `message` events and the `gap` events, in the order they came. */
function record(room: Room) {
  const seqs: number[] = [];
  const gaps: Events['gap'][] = [];
  const order: (number | string)[] = [];
  room.on('message', (m) => (seqs.push(m.seq), order.push(m.seq)));
  room.on('gap', (g) => (gaps.push(g), order.push(`gap ${g.from}-${g.to}${g.reason ? ` ${g.reason}` : ''}`)));
  return { seqs, gaps, order };
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

// ---- the token's transport ---------------------------------------------------------------------

test('the token is offered as a subprotocol beside edge-chat.v1, and is in no URL', async () => {
  const room = open(base({ token: 'h.p.s', since: 3 }));
  await tick();
  assert.deepEqual(last().protocols, ['edge-chat.v1', 'edge-chat.token.h.p.s']);
  assert.equal(last().url, 'ws://h/rooms/r/ws?since=3&batch=1');
  last().accept({ seq: 3 });
  assert.equal(room.state, 'open');
});

test("tokenTransport 'query' sends ?token= and offers no subprotocol", async () => {
  open(base({ tokenTransport: 'query', batch: false }));
  await tick();
  assert.equal(last().url, 'ws://h/rooms/r/ws?token=t');
  assert.equal(last().protocols, undefined);
});

test('a token a subprotocol cannot carry is refused with a reason, never sent', async () => {
  const room = open(base({ token: 'not a jwt', maxRefusals: 1 }));
  const failed = new Promise<Events['failed']>((r) => room.on('failed', r));
  await tick();
  assert.equal(FakeSocket.all.length, 0, 'no socket opened');
  const f = await failed;
  assert.equal(f.code, 'socket_error');
  assert.match(f.message, /tokenTransport 'query'/);
  // The same token in the query works.
  open(base({ token: 'not a jwt', tokenTransport: 'query' }));
  await tick();
  assert.equal(last().token, 'not a jwt');
});

// ---- filling a replay_limit gap ------------------------------------------------------------------

test('a replay_limit gap is read from history, page by page, before the held replay and live messages', async () => {
  const history = fakeHistory(range(1, 460));
  const room = open(base({ since: 0, fetch: history }));
  const r = record(room);
  await tick();
  history.hold();
  // What the server sends on a resume: welcome, the gap, the newest messages (in a batch here),
  // then live traffic.
  last().accept({ seq: 455 });
  last().push({ type: 'batch', frames: [replayLimit(1, 450), ...range(451, 455).map(msg)] });
  last().push(msg(456));
  await tick();
  assert.deepEqual(r.seqs, [], 'nothing after the gap is delivered before it');
  assert.equal(room.lastSeq, 0, 'the resume point has not moved');
  history.release();
  await tick(10);
  last().push(msg(457)); // live, after the fill
  assert.deepEqual(r.seqs, range(1, 457), 'every message once, in order');
  assert.deepEqual(r.gaps, []);
  // Pages of at most 200 after the last seq delivered, the last one only what the gap lacks;
  // the token in the header.
  assert.deepEqual(history.calls.map((c) => [c.since, c.limit]), [[0, 200], [200, 200], [400, 50]]);
  assert.ok(history.calls.every((c) => c.authorization === 'Bearer t' && !c.url.includes('token')));
  assert.match(history.calls[0].url, /^http:\/\/h\/rooms\/r\/messages\?since=0&limit=200$/);
});

test('a failed page is retried with the backoff delays; the held messages wait for it', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const history = fakeHistory(range(1, 50));
  const room = open(base({ since: 0, fetch: history, backoff: { initialMs: 1000, jitter: 0 } }));
  const r = record(room);
  await tick();
  history.fail(503, 'network');
  last().accept({ seq: 50 });
  last().push(replayLimit(1, 45));
  for (const s of range(46, 50)) last().push(msg(s));
  await tick();
  assert.equal(history.calls.length, 1);
  mock.timers.tick(999);
  await tick();
  assert.equal(history.calls.length, 1, 'not before the first delay');
  mock.timers.tick(1);
  await tick();
  assert.equal(history.calls.length, 2, 'retried after 1 s');
  mock.timers.tick(1999);
  await tick();
  assert.equal(history.calls.length, 2, 'the delay grows');
  assert.deepEqual(r.seqs, []);
  mock.timers.tick(1);
  await tick(5);
  assert.equal(history.calls.length, 3);
  assert.deepEqual(r.seqs, range(1, 50));
  assert.deepEqual(r.gaps, []);
  assert.ok(history.calls.every((c) => c.since === 0 && c.limit === 45));
});

test('the connection lost during a fill: the held frames are dropped and the next resume starts after the last seq delivered', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const history = fakeHistory(range(1, 460));
  const room = open(base({ since: 0, fetch: history }));
  const r = record(room);
  await tick();
  history.hold(1); // the second page is still on its way when the connection drops
  last().accept({ seq: 455 });
  last().push(replayLimit(1, 450));
  await tick(5);
  for (const s of range(451, 455)) last().push(msg(s));
  // By now the first page (1..200) is delivered, and the second one requested.
  assert.deepEqual(r.seqs, range(1, 200));
  assert.equal(history.calls.length, 2);
  last().drop();
  history.release(); // its answer arrives after the drop: not delivered
  await tick(10);
  assert.deepEqual(r.seqs, range(1, 200));
  assert.equal(room.lastSeq, 200);
  mock.timers.tick(60_000);
  await tick();
  assert.match(last().url, /\?since=200&/, 'resumes after the last seq delivered');
  last().accept({ seq: 456 });
  last().push(replayLimit(201, 451));
  for (const s of range(452, 456)) last().push(msg(s));
  await tick(10);
  assert.deepEqual(r.seqs, range(1, 456), 'every message once, in order');
  assert.deepEqual(r.gaps, []);
  assert.deepEqual(history.calls.slice(2).map((c) => [c.since, c.limit]), [[200, 200], [400, 51]]);
});

test('what history no longer has (trimmed meanwhile) is a gap event, in its place', async () => {
  // 1..10 were trimmed, and so were 20..22 (as a test of the general case).
  const history = fakeHistory([...range(11, 19), ...range(23, 50)]);
  const room = open(base({ since: 0, fetch: history }));
  const r = record(room);
  await tick();
  last().accept({ seq: 50 });
  last().push(replayLimit(1, 45));
  for (const s of range(46, 50)) last().push(msg(s));
  await tick(5);
  assert.deepEqual(r.order, ['gap 1-10', ...range(11, 19), 'gap 20-22', ...range(23, 50)]);

  // All of it gone by the time it is read: one gap for all of it, then the replay.
  const gone = fakeHistory(range(48, 60));
  const room2 = open(base({ since: 0, fetch: gone }));
  const r2 = record(room2);
  await tick();
  last().accept({ seq: 50 });
  last().push(replayLimit(1, 45));
  for (const s of range(46, 50)) last().push(msg(s));
  await tick(5);
  assert.deepEqual(r2.order, ['gap 1-45', ...range(46, 50)]);
  assert.equal(room2.lastSeq, 50);
});

test('after fillAttempts failed reads the rest is a replay_limit gap event, and delivery goes on', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const history = fakeHistory(range(1, 250));
  const room = open(base({ since: 0, fetch: history, fillAttempts: 3 }));
  const r = record(room);
  await tick();
  history.fail(null, 500, 500, 500);
  last().accept({ seq: 250 });
  last().push(replayLimit(1, 245));
  for (const s of range(246, 250)) last().push(msg(s));
  await tick(5); // the first page answers at once, before the clock moves past the read's timeout
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(60_000);
    await tick(5);
  }
  assert.equal(history.calls.length, 4, 'one page, then three failed reads');
  assert.deepEqual(r.order, [...range(1, 200), 'gap 201-245 replay_limit', ...range(246, 250)]);
  assert.equal(room.lastSeq, 250);
});

test('fillGaps: false passes the replay_limit gap on with its reason and reads nothing', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const history = fakeHistory(range(1, 50));
  const room = open(base({ since: 0, fetch: history, fillGaps: false }));
  const r = record(room);
  await tick();
  last().accept({ seq: 50 });
  last().push(replayLimit(1, 45));
  for (const s of range(46, 50)) last().push(msg(s));
  assert.deepEqual(r.gaps, [replayLimit(1, 45)]);
  assert.deepEqual(r.seqs, range(46, 50));
  await tick();
  assert.equal(history.calls.length, 0);
  last().drop();
  mock.timers.tick(60_000);
  await tick();
  assert.match(last().url, /\?since=50&/);
});

test('a handler that closes the room during a fill stops it', async () => {
  const history = fakeHistory(range(1, 450));
  const room = open(base({ since: 0, fetch: history }));
  const seen: number[] = [];
  room.on('message', (m) => {
    seen.push(m.seq);
    if (m.seq === 150) room.close();
  });
  await tick();
  last().accept({ seq: 450 });
  last().push(replayLimit(1, 445));
  for (const s of range(446, 450)) last().push(msg(s));
  await tick(10);
  assert.deepEqual(seen, range(1, 150));
  assert.equal(history.calls.length, 1);
});
