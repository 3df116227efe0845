// The connection's life cycle as an application drives and watches it: `statechange` events
// saying the previous state and why; a handle created idle (`autoConnect: false`) until
// `open()`; giving up after `maxRetries` retries in a row; reconnects paused while the browser
// is offline (no attempt, no refusal, no getToken call) and resumed at once when it is back.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type Events, type Room } from '../src/index.js';
import { FakeSocket, tick, settled, fakeFetch } from '../test-support/fake.js';
import { fakeBrowser } from '../test-support/browser.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];

const opened: Room[] = [];
function open(opts: ConnectOptions): Room {
  const room = connect(opts);
  opened.push(room);
  return room;
}
/** Every statechange, as `previous→state reason`. */
function changes(room: Room): string[] {
  const log: string[] = [];
  room.on('statechange', (c) => log.push(`${c.previous}→${c.state} ${c.reason}`));
  return log;
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

// ---- statechange -------------------------------------------------------------------------------

test('statechange says the previous state and why, beside the state event', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base());
  const log = changes(room);
  const states: string[] = [];
  room.on('state', (s) => states.push(s));
  await tick();
  last().accept({ seq: 0 });
  last().drop();
  mock.timers.tick(375);
  await tick();
  last().accept({ seq: 0 });
  room.reconnect();
  await tick();
  last().accept({ seq: 0 });
  room.close();
  assert.deepEqual(log, [
    'connecting→open welcome',
    'open→reconnecting closed',
    'reconnecting→open welcome',
    'open→reconnecting reconnect',
    'reconnecting→open welcome',
    'open→closed close',
  ]);
  assert.deepEqual(states, ['open', 'reconnecting', 'open', 'reconnecting', 'open', 'closed'], 'the state event is unchanged');
});

test('statechange to failed and closed names the cause: refused, token_expired, kicked, banned, revoked', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const refused = open(base({ fetch: fakeFetch(401, 'unauthorized'), maxRefusals: 1 }));
  const r = changes(refused);
  await tick();
  last().drop();
  await tick();
  assert.deepEqual(r, ['connecting→failed refused']);
  refused.reconnect();
  assert.deepEqual(r.slice(1), ['failed→connecting reconnect']);

  const jwt = `h.${Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 30 })).toString('base64url')}.s`;
  const expired = open(base({ token: jwt }));
  const e = changes(expired);
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'closing', code: 4001, reason: 'token_expired' });
  assert.deepEqual(e, ['connecting→open welcome', 'open→failed token_expired']);

  for (const [code, reason] of [[4003, 'kicked'], [4004, 'banned'], [4005, 'revoked']] as const) {
    const removed = open(base());
    const log = changes(removed);
    await tick();
    last().accept({ seq: 0 });
    last().push({ type: 'closing', code, reason });
    assert.deepEqual(log, ['connecting→open welcome', `open→closed ${reason}`]);
  }
});

// ---- autoConnect: false ---------------------------------------------------------------------------

test('autoConnect: false creates the handle idle — no socket, no getToken — until open()', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  let calls = 0;
  const room = open(base({ token: undefined, getToken: () => `t${++calls}`, autoConnect: false }));
  const log = changes(room);
  const queued = room.publish('early', { id: 'early' });
  await tick();
  mock.timers.tick(60_000);
  assert.equal(room.state, 'idle');
  assert.equal(FakeSocket.all.length, 0);
  assert.equal(calls, 0);
  room.open();
  room.open(); // already connecting: nothing more
  await tick();
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(calls, 1);
  last().accept({ seq: 0 });
  assert.deepEqual(last().publishes().map((f) => f.id), ['early'], 'what was published while idle goes out');
  last().push({ type: 'ack', id: 'early', seq: 1 });
  await queued;
  room.open(); // open: nothing
  assert.equal(FakeSocket.all.length, 1);
  assert.deepEqual(log, ['idle→connecting open', 'connecting→open welcome']);
});

test('an idle handle starts with reconnect() too, and close() ends it without a socket', async () => {
  const room = open(base({ autoConnect: false }));
  room.reconnect();
  await tick();
  assert.equal(FakeSocket.all.length, 1);
  const idle = open(base({ autoConnect: false }));
  const log = changes(idle);
  idle.close();
  assert.equal(idle.state, 'closed');
  assert.deepEqual(log, ['idle→closed close']);
  assert.equal(FakeSocket.all.length, 1);
});

test('open() is the way out of failed too', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base({ fetch: fakeFetch(401, 'unauthorized'), maxRefusals: 1 }));
  await tick();
  last().drop();
  await tick();
  assert.equal(room.state, 'failed');
  room.open();
  await tick();
  assert.equal(FakeSocket.all.length, 2);
  last().accept({ seq: 0 });
  assert.equal(room.state, 'open');
});

// ---- maxRetries ----------------------------------------------------------------------------------

test('maxRetries: after that many retries in a row the handle fails (max_retries); a welcome starts the count over', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base({ maxRetries: 2, probe: false }));
  const retries: number[] = [];
  const failures: Events['failed'][] = [];
  room.on('retry', (r) => retries.push(r.attempt));
  room.on('failed', (f) => failures.push(f));
  const pending = room.publish('x', { id: 'p' });
  pending.catch(() => {}); // looked at below
  await tick();
  last().accept({ seq: 0 });
  for (let i = 0; i < 2; i++) {
    last().drop();
    mock.timers.tick(60_000);
    await tick();
  }
  last().accept({ seq: 0 }); // welcomed: the count starts over
  for (let i = 0; i < 3; i++) {
    last().drop();
    mock.timers.tick(60_000);
    await tick();
  }
  assert.equal(room.state, 'failed');
  assert.equal(failures.length, 1);
  assert.equal(failures[0].code, 'max_retries');
  assert.match(failures[0].message, /2 retries/);
  assert.equal(FakeSocket.all.length, 5, 'no attempt after the last retry failed');
  assert.deepEqual(retries, [1, 2, 3, 4]);
  const outcome = await settled(pending);
  assert.ok(outcome !== 'pending' && 'err' in outcome && (outcome.err as ChatError).code === 'failed', 'pending publishes are rejected');
});

test('maxRetries: 0 gives up at the first failure; without maxRetries it never gives up', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base({ maxRetries: 0, probe: false }));
  await tick();
  last().drop();
  assert.equal(room.state, 'failed');
  assert.equal(room.failure?.code, 'max_retries');
  FakeSocket.all = [];
  const stubborn = open(base({ probe: false }));
  for (let i = 0; i < 50; i++) {
    await tick();
    last().drop();
    mock.timers.tick(60_000);
  }
  assert.equal(stubborn.state, 'connecting');
});

// ---- offline -------------------------------------------------------------------------------------

test('offline: no attempt while the browser is offline, no getToken call, no refusal; online reconnects at once', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const browser = fakeBrowser();
  try {
    let calls = 0;
    const room = open(base({
      token: undefined, getToken: () => `t${++calls}`, browserEvents: true, maxRetries: 1, maxRefusals: 1,
      fetch: fakeFetch(401, 'unauthorized'),
    }));
    const log = changes(room);
    const retries: string[] = [];
    room.on('retry', (r) => retries.push(r.reason));
    await tick();
    last().accept({ seq: 0 });
    browser.fire('offline');
    for (let i = 0; i < 10; i++) {
      mock.timers.tick(60_000);
      await tick();
    }
    assert.equal(FakeSocket.all.length, 1, 'no attempt while offline');
    assert.equal(room.state, 'reconnecting');
    browser.fire('online');
    await tick();
    assert.equal(FakeSocket.all.length, 2, 'at once');
    // Offline again while this attempt is under way: it fails, which is no refusal, and the
    // token it carried is not asked for again.
    browser.fire('offline');
    await tick();
    mock.timers.tick(60_000);
    await tick();
    browser.fire('online');
    await tick();
    assert.equal(FakeSocket.all.length, 3);
    assert.deepEqual(FakeSocket.all.map((s) => s.token), ['t1', 't1', 't1']);
    assert.equal(calls, 1);
    last().accept({ seq: 0 });
    assert.equal(room.state, 'open', 'neither maxRetries nor maxRefusals counted the offline time');
    assert.deepEqual(retries, []);
    assert.deepEqual(log, [
      'connecting→open welcome',
      'open→reconnecting offline',
      'reconnecting→open welcome',
    ]);
  } finally {
    opened.splice(0).forEach((r) => r.close()); // while the fake globals it listens to are there
    browser.restore();
  }
});

test('a handle created while offline waits for online before its first attempt', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const browser = fakeBrowser();
  try {
    browser.fire('offline');
    const room = open(base({ browserEvents: true }));
    await tick();
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.all.length, 0);
    assert.equal(room.state, 'connecting');
    browser.fire('online');
    await tick();
    assert.equal(FakeSocket.all.length, 1);
  } finally {
    opened.splice(0).forEach((r) => r.close());
    browser.restore();
  }
});
