// A gap fill's history reads are bounded: a read that does not answer within the connect
// timeout is abandoned and retried like a failed one, every failed read is a `fill_failed`
// event, and after `fillAttempts` of them the rest is a `replay_limit` gap and delivery goes on.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Events, type FetchLike, type Room } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { fakeHistory, range } from '../test-support/history.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const replayLimit = (from: number, to: number) => ({ type: 'gap', from, to, reason: 'replay_limit' });

/** A history API whose first `hung` reads never answer (and ignore their abort signal); the
 * later ones answer from `seqs`. */
function hangingHistory(seqs: number[], hung: number) {
  const history = fakeHistory(seqs);
  let calls = 0;
  const fetch: FetchLike = (url, init) => (++calls <= hung ? new Promise(() => {}) : history(url, init));
  return Object.assign(fetch, { calls: () => calls });
}

const opened: Room[] = [];
afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

/** A room resuming with a replay_limit gap 1..45, then 46..50 replayed. */
async function resumeWithGap(extra: Partial<ConnectOptions>) {
  const room = connect(base({ since: 0, ...extra }));
  opened.push(room);
  const order: (number | string)[] = [];
  const failures: Events['fill_failed'][] = [];
  room.on('message', (m) => order.push(m.seq));
  room.on('gap', (g) => order.push(`gap ${g.from}-${g.to}${g.reason ? ` ${g.reason}` : ''}`));
  room.on('fill_failed', (f) => failures.push(f));
  await tick();
  last().accept({ seq: 50 });
  last().push(replayLimit(1, 45));
  for (const s of range(46, 50)) last().push(msg(s));
  await tick();
  return { room, order, failures };
}

test('a history read that hangs during a fill is abandoned at the connect timeout and retried; fill_failed says so', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const fetch = hangingHistory(range(1, 50), 1);
  const { order, failures } = await resumeWithGap({ fetch, connectTimeoutMs: 1000 });
  mock.timers.tick(999);
  await tick();
  assert.equal(failures.length, 0);
  mock.timers.tick(1);
  await tick();
  assert.equal(failures.length, 1, 'the hung read is given up');
  const { message, ...rest } = failures[0];
  assert.deepEqual(rest, { code: 'timeout', attempt: 1, retrying: true, from: 1, to: 45 });
  assert.match(message, /within 1000 ms/);
  assert.deepEqual(order, [], 'still held');
  mock.timers.tick(375); // the backoff's first delay
  await tick(5);
  assert.equal(fetch.calls(), 2);
  assert.deepEqual(order, range(1, 50));
});

test('reads that keep hanging: after fillAttempts the rest is a replay_limit gap, and the held messages follow', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const fetch = hangingHistory(range(1, 50), Infinity);
  const { order, failures } = await resumeWithGap({ fetch, connectTimeoutMs: 1000, fillAttempts: 2 });
  for (let i = 0; i < 4; i++) {
    mock.timers.tick(1000);
    await tick();
  }
  assert.deepEqual(failures.map((f) => [f.code, f.attempt, f.retrying]), [['timeout', 1, true], ['timeout', 2, false]]);
  assert.deepEqual(order, ['gap 1-45 replay_limit', ...range(46, 50)]);
});

test('every failed read of a fill is a fill_failed event with the server’s code', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const history = fakeHistory(range(1, 50));
  history.fail(503);
  const { order, failures } = await resumeWithGap({ fetch: history });
  mock.timers.tick(375);
  await tick(5);
  assert.deepEqual(failures.map((f) => [f.code, f.attempt, f.retrying, f.from, f.to]), [['internal', 1, true, 1, 45]]);
  assert.deepEqual(order, range(1, 50));
});
