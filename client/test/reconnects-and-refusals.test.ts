// Reconnects and refusals: bugs reproduced against the client through the fake socket, and the features
// added with the fixes (refusals and the `failed` state, browser lifecycle events, reconnect(),
// publish timeouts and aborts, the history helper).
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, fetchHistory, utf8Length, ChatError, type ConnectOptions, type Member } from '../src/index.js';
import { FakeSocket, tick, settled, msg, fakeFetch } from '../test-support/fake.js';
import { fakeBrowser } from '../test-support/browser.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
/** A publish whose outcome the test does not look at (close() rejects what is pending). */
const fire = (p: Promise<unknown>) => void p.catch(() => {});
const isChatError = (code: string, id?: string) => (e: unknown) =>
  e instanceof ChatError && e.code === code && (id === undefined || e.id === id);
/** The publish has already been rejected with this code (a publish left pending fails the
 * test instead of hanging it). */
async function rejected(p: Promise<unknown>, code: string, id?: string): Promise<ChatError> {
  const outcome = await settled(p);
  assert.ok(outcome !== 'pending' && 'err' in outcome && isChatError(code, id)(outcome.err), `expected ${code} ${id ?? ''}, got ${outcome === 'pending' ? 'pending' : JSON.stringify(outcome)}`);
  return (outcome as { err: ChatError }).err;
}

afterEach(() => {
  mock.timers.reset();
  FakeSocket.all = [];
});

// ---- 1. refusals the server cannot attribute; sizes ----------------------------------------

test('bug 1: a publish over the size limit is refused by the client, never sent, never queued', async () => {
  const room = connect(base());
  await rejected(room.publish('x'.repeat(70_000), { id: 'offline' }), 'too_large', 'offline'); // at once, not when connected
  await tick();
  last().accept({ seq: 0 });
  // 40,000 "é" are 40,000 UTF-16 units but 80,000 UTF-8 bytes: over the default 65,536.
  const big = room.publish('é'.repeat(40_000), { id: 'big' });
  await rejected(big, 'too_large', 'big');
  assert.deepEqual(last().publishes(), [], 'nothing sent');
  const ok = room.publish('x', { id: 'ok' });
  assert.deepEqual(last().publishes().map((f) => f.id), ['ok']);
  last().push({ type: 'ack', id: 'ok', seq: 1 });
  assert.deepEqual(await ok, { id: 'ok', seq: 1 });
  room.close();
});

test("bug 1: the welcome's max_message_bytes replaces the default, also for what was queued before", async () => {
  const room = connect(base());
  const queued = room.publish('y'.repeat(200), { id: 'queued' }); // fits 65,536: queued while connecting
  fire(room.publish('z', { id: 'small' }));
  await tick();
  last().accept({ seq: 0, max_message_bytes: 100 });
  await rejected(queued, 'too_large', 'queued');
  assert.deepEqual(last().publishes().map((f) => f.id), ['small'], 'the oversize one is not sent');
  await rejected(room.publish('w'.repeat(100), { id: 'now' }), 'too_large', 'now');
  // The limit is on the whole frame, in bytes: {"type":"publish","data":"…","id":"e"} is 36 bytes + data.
  const frameOf = (data: string) => JSON.stringify({ type: 'publish', data, id: 'e' });
  const fits = 'é'.repeat(Math.floor((100 - Buffer.byteLength(frameOf(''))) / 2));
  assert.ok(Buffer.byteLength(frameOf(fits)) <= 100 && Buffer.byteLength(frameOf(fits + 'é')) > 100);
  fire(room.publish(fits, { id: 'e' }));
  await rejected(room.publish(fits + 'é', { id: 'e2' }), 'too_large', 'e2');
  assert.deepEqual(last().publishes().map((f) => f.id), ['small', 'e']);
  room.close();
});

test('bug 1: rate_limited with the id rejects that publish, frees its slot, and it is never re-sent', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base({ queueLimit: 2 }));
  await tick();
  last().accept({ seq: 0 });
  const a = room.publish('a', { id: 'a' });
  const b = room.publish('b', { id: 'b' });
  last().push({ type: 'error', code: 'rate_limited', message: 'too many frames; slow down', id: 'a' });
  await rejected(a, 'rate_limited', 'a');
  const c = room.publish('c', { id: 'c' }); // the freed slot
  last().drop();
  await tick();
  mock.timers.tick(60_000);
  await tick();
  last().accept({ seq: 0 });
  assert.deepEqual(last().publishes().map((f) => f.id), ['b', 'c'], 'a is not re-sent');
  last().push({ type: 'ack', id: 'b', seq: 1 });
  last().push({ type: 'ack', id: 'c', seq: 2 });
  assert.deepEqual(await Promise.all([b, c]), [{ id: 'b', seq: 1 }, { id: 'c', seq: 2 }]);
  room.close();
});

// ---- 2. publishes from handlers --------------------------------------------------------------

test('bug 2: a publish made in a state, welcome or members handler is sent once, after the backlog', async () => {
  const room = connect(base());
  fire(room.publish('backlog', { id: 'old' })); // queued while connecting
  let n = 0;
  const onOpen = () => fire(room.publish('from handler', { id: `h${++n}` }));
  room.on('state', (s) => s === 'open' && onOpen());
  room.on('welcome', onOpen);
  room.on('members', onOpen);
  await tick();
  last().accept({ seq: 0 });
  assert.deepEqual(last().publishes().map((f) => f.id), ['old', 'h1', 'h2', 'h3']);
  room.close();
});

// ---- 3. tokens ---------------------------------------------------------------------------------

test('bug 3: getToken is asked again after every failed attempt, not only before the first success', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  let calls = 0;
  const room = connect(base({ token: undefined, getToken: () => `t${++calls}` }));
  await tick();
  assert.equal(calls, 1);
  last().accept({ seq: 0 });
  last().drop(); // was open: the token is still good, no new one needed
  for (const expected of [1, 2, 3, 4]) {
    mock.timers.tick(60_000);
    await tick();
    assert.equal(calls, expected, `attempt ${FakeSocket.all.length}`);
    assert.equal(last().token, `t${expected}`);
    last().drop(); // refused before opening: ask for a fresh token next time
    await tick();
  }
  room.close();
});

// ---- 4. seqs that restart ----------------------------------------------------------------------

test('bug 4: a welcome seq below the last seq seen is a reset: later messages are delivered, and an event says so', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base());
  const seen: number[] = [];
  const resets: unknown[] = [];
  room.on('message', (m) => seen.push(m.seq));
  room.on('reset', (r) => resets.push(r));
  await tick();
  last().accept({ seq: 10 });
  last().push(msg(11));
  last().push(msg(12));
  last().drop();
  mock.timers.tick(60_000);
  await tick();
  assert.match(last().url, /since=12/);
  last().accept({ seq: 0 }); // the room restarted its count (HISTORY_STORAGE=none, evicted)
  last().push(msg(1));
  last().push(msg(2));
  assert.deepEqual(seen, [11, 12, 1, 2]);
  assert.deepEqual(resets, [{ lastSeq: 12, seq: 0 }]);
  assert.equal(room.lastSeq, 2);
  room.close();
});

// ---- 5. close() inside a handler ----------------------------------------------------------------

test('bug 5: close() in a handler stops the rest of the batch', async () => {
  const room = connect(base());
  const seen: number[] = [];
  room.on('message', (m) => {
    seen.push(m.seq);
    room.close();
  });
  await tick();
  last().accept({ seq: 1 });
  last().push({ type: 'batch', frames: [msg(2), msg(3), msg(4)] });
  assert.deepEqual(seen, [2]);
  assert.equal(room.state, 'closed');
});

test("bug 5: close() in a welcome handler stops the welcome's later events and sends nothing", async () => {
  const room = connect(base());
  const events: string[] = [];
  room.on('welcome', () => {
    events.push('welcome');
    room.close();
  });
  room.on('members', () => events.push('members'));
  room.on('message', () => events.push('message'));
  await tick();
  last().accept({ seq: 1 });
  last().push(msg(2));
  assert.deepEqual(events, ['welcome']);
});

// ---- 6. a throwing WebSocket constructor -----------------------------------------------------

test('bug 6: a WebSocket constructor that throws is a failed attempt: retried, no unhandled rejection', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    let constructed = 0;
    class Throwing extends FakeSocket {
      constructor(url: string) {
        if (++constructed <= 1) throw new SyntaxError('bad url');
        super(url);
      }
    }
    const room = connect(base({ WebSocket: Throwing }));
    await tick();
    assert.equal(constructed, 1);
    assert.equal(room.state, 'connecting');
    mock.timers.tick(60_000);
    await tick();
    assert.equal(constructed, 2, 'tried again');
    last().accept({ seq: 0 });
    assert.equal(room.state, 'open');
    room.close();
    await tick();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

// ---- 7. backoff and the connecting phase --------------------------------------------------------

test('bug 7: a server that welcomes and drops is not hammered: the backoff only resets after a stable connection', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  // random 0.5, jitter 0.5: delays 375, 750, 1500, 3000 ms.
  const room = connect(base({ backoff: { resetAfterMs: 5000 } }));
  await tick();
  const expectNextAfter = async (ms: number) => {
    const before = FakeSocket.all.length;
    mock.timers.tick(ms - 1);
    await tick();
    assert.equal(FakeSocket.all.length, before, `not before ${ms} ms`);
    mock.timers.tick(1);
    await tick();
    assert.equal(FakeSocket.all.length, before + 1, `after ${ms} ms`);
  };
  last().accept({ seq: 0 });
  last().drop();
  await tick();
  await expectNextAfter(375);
  last().accept({ seq: 0 });
  last().drop(); // welcomed, then dropped at once: keep backing off
  await tick();
  await expectNextAfter(750);
  last().accept({ seq: 0 });
  last().drop();
  await tick();
  await expectNextAfter(1500);
  last().accept({ seq: 0 });
  mock.timers.tick(5000); // stable for resetAfterMs
  last().drop();
  await tick();
  await expectNextAfter(375);
  room.close();
});

test('bug 7: a connection attempt that gets no welcome within the connect timeout is dropped and retried', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base());
  await tick();
  const s1 = last();
  mock.timers.tick(9_999);
  await tick();
  assert.equal(s1.closedWith, undefined);
  mock.timers.tick(1); // default connectTimeoutMs: 10 s
  await tick();
  assert.equal((s1 as FakeSocket).closedWith?.code, 4000);
  assert.equal(room.state, 'connecting');
  mock.timers.tick(60_000);
  await tick();
  assert.equal(FakeSocket.all.length, 2);
  last().accept({ seq: 0 });
  assert.equal(room.state, 'open');
  room.close();
});

// ---- 3. refusals and the failed state ---------------------------------------------------------

test('bug 3: refused tokens: a fresh one each time, the server is asked why, and after maxRefusals the handle fails and says why', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const fetch = fakeFetch(401, 'unauthorized');
  let calls = 0;
  const room = connect(base({ token: undefined, getToken: () => `t${++calls}`, fetch }));
  const retries: string[] = [];
  const failures: unknown[] = [];
  const states: string[] = [];
  room.on('retry', (r) => retries.push(r.reason));
  room.on('failed', (f) => failures.push(f));
  room.on('state', (s) => states.push(s));
  const pending = room.publish('queued', { id: 'q' });
  pending.catch(() => {}); // looked at below
  await tick();
  for (let i = 1; i <= 3; i++) {
    assert.equal(FakeSocket.all.length, i);
    assert.equal(last().token, `t${i}`);
    last().drop(); // a refused handshake looks like this in a browser: 1006, no status
    await tick();
    mock.timers.tick(60_000);
    await tick();
  }
  assert.equal(FakeSocket.all.length, 3, 'no attempt after the third refusal');
  assert.deepEqual(retries, ['refused', 'refused']);
  assert.deepEqual(failures, [{ code: 'unauthorized', message: 'unauthorized (401)', status: 401 }]);
  assert.equal(room.state, 'failed');
  assert.deepEqual(states, ['failed']);
  assert.deepEqual(room.failure, failures[0]);
  await rejected(pending, 'failed', 'q');
  await rejected(room.publish('later', { id: 'l' }), 'failed', 'l');
  // How the server was asked: the token in a header, never in the URL; limit=0 stops the
  // request in the front worker, before the room.
  assert.deepEqual(fetch.calls.map((c) => c.url), Array(3).fill('http://h/rooms/r/messages?limit=0'));
  assert.deepEqual(fetch.calls.map((c) => c.headers.authorization), ['Bearer t1', 'Bearer t2', 'Bearer t3']);
  // reconnect() is the way out: a fresh token, a new attempt.
  room.reconnect();
  await tick();
  assert.equal(calls, 4);
  assert.equal(FakeSocket.all.length, 4);
  last().accept({ seq: 0 });
  assert.equal(room.state, 'open');
  assert.equal(room.failure, undefined);
  room.close();
});

test('bug 3: attempts that fail while the server accepts the token (or cannot say) are retried without end', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  for (const fetch of [fakeFetch(400, 'bad_request'), fakeFetch(503, 'unavailable'), undefined]) {
    const room = connect(base(fetch ? { fetch } : { probe: false }));
    await tick();
    for (let i = 0; i < 6; i++) {
      last().drop();
      await tick();
      mock.timers.tick(60_000);
      await tick();
    }
    assert.equal(room.state, 'connecting');
    last().accept({ seq: 0 });
    assert.equal(room.state, 'open');
    room.close();
  }
});

test('bug 3: a refusal that arrives after close() or reconnect() changes nothing', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  for (const action of ['close', 'reconnect'] as const) {
    const answers: (() => void)[] = [];
    const slow = async () => {
      await new Promise<void>((r) => answers.push(r));
      return { ok: false, status: 401, json: async () => ({ error: { code: 'unauthorized', message: 'no' } }) };
    };
    const room = connect(base({ fetch: slow, maxRefusals: 1 }));
    const events: string[] = [];
    room.on('failed', () => events.push('failed'));
    room.on('retry', () => events.push('retry'));
    await tick();
    last().drop();
    await tick();
    assert.equal(answers.length, 1, 'the server is being asked');
    room[action]();
    answers[0]();
    await tick();
    assert.deepEqual(events, []);
    assert.equal(room.state, action === 'close' ? 'closed' : 'connecting');
    assert.equal(FakeSocket.all.length, action === 'close' ? 1 : 2, 'reconnect() made its own attempt');
    room.close();
    FakeSocket.all = [];
  }
});

test('bug 6: a WebSocket constructor that keeps throwing fails the handle with socket_error', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  class Throwing {
    constructor() {
      throw new SyntaxError("'wss://bad host' is not a valid URL");
    }
  }
  const room = connect(base({ WebSocket: Throwing as unknown as ConnectOptions['WebSocket'], maxRefusals: 2 }));
  const failures: { code: string; message: string }[] = [];
  room.on('failed', (f) => failures.push(f));
  await tick();
  mock.timers.tick(60_000);
  await tick();
  assert.equal(room.state, 'failed');
  assert.equal(failures.length, 1);
  assert.equal(failures[0].code, 'socket_error');
  assert.match(failures[0].message, /not a valid URL/);
  room.close();
  assert.equal(room.state, 'closed');
});

// ---- 8. browser life cycle, reconnect(), disconnect, publish timeouts, readonly, history -------

test('bug 8: offline drops the connection at once; online reconnects at once', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const browser = fakeBrowser();
  try {
    const room = connect(base({ browserEvents: true }));
    const disconnects: unknown[] = [];
    room.on('disconnect', (d) => disconnects.push(d));
    await tick();
    assert.equal(browser.count(), 3, 'offline, online, visibilitychange');
    const s1 = last();
    s1.accept({ seq: 0 });
    browser.fire('offline');
    assert.equal(room.state, 'reconnecting');
    assert.deepEqual(s1.closedWith, { code: 4000, reason: 'offline' });
    assert.deepEqual(disconnects, [{ code: 4000, reason: 'offline', wasOpen: true }]);
    await tick();
    browser.fire('online'); // no waiting for the backoff
    await tick();
    assert.equal(FakeSocket.all.length, 2);
    last().accept({ seq: 0 });
    assert.equal(room.state, 'open');
    room.close();
    assert.equal(browser.count(), 0, 'close() stops listening');
  } finally {
    browser.restore();
  }
});

test('bug 8: a page that becomes visible reconnects at once if waiting, or checks the open connection with a ping', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const browser = fakeBrowser();
  try {
    const room = connect(base({ browserEvents: true, heartbeat: { intervalMs: 20_000, timeoutMs: 1000 } }));
    await tick();
    last().accept({ seq: 0 });
    last().drop();
    await tick();
    browser.show(false);
    assert.equal(FakeSocket.all.length, 1, 'hidden: nothing happens');
    browser.show(true);
    await tick();
    assert.equal(FakeSocket.all.length, 2, 'visible: reconnects without waiting for the backoff');
    const s2 = last();
    s2.accept({ seq: 0 });
    browser.show(false);
    browser.show(true);
    assert.deepEqual(s2.sent, ['ping'], 'the open connection is checked at once');
    mock.timers.tick(1000); // no pong: dead
    assert.deepEqual(s2.closedWith, { code: 4000, reason: 'heartbeat timeout' });
    assert.equal(room.state, 'reconnecting');
    room.close();
  } finally {
    browser.restore();
  }
});

test('bug 8: reconnect() replaces the connection now, with a fresh token; disconnect events carry code and reason', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  let calls = 0;
  const room = connect(base({ token: undefined, getToken: () => `t${++calls}` }));
  const events: string[] = [];
  room.on('disconnect', (d) => events.push(`disconnect ${d.code} ${d.reason} ${d.wasOpen}`));
  room.on('retry', (r) => events.push(`retry ${r.attempt} ${r.delayMs} ${r.reason}`));
  room.on('state', (s) => events.push(`state ${s}`));
  await tick();
  const s1 = last();
  s1.accept({ seq: 0 });
  room.reconnect();
  assert.deepEqual(s1.closedWith, { code: 4000, reason: 'reconnect' });
  await tick();
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(calls, 2);
  last().accept({ seq: 0 });
  last().drop(1008, 'rate limit exceeded');
  await tick();
  mock.timers.tick(60_000);
  await tick();
  last().accept({ seq: 0 });
  room.close();
  assert.deepEqual(events, [
    'state open',
    'disconnect 4000 reconnect true',
    'state reconnecting',
    'state open',
    'disconnect 1008 rate limit exceeded true',
    'state reconnecting',
    'retry 1 375 closed',
    'state open',
    'disconnect 1000 client closed true',
    'state closed',
  ]);
});

test('bug 8: a publish times out or is aborted: rejected, removed from the queue, never sent afterwards', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base({ publishTimeoutMs: 5000 }));
  await tick();
  const timedOut = room.publish('a', { id: 'a', timeoutMs: 1000 });
  const byDefault = room.publish('b', { id: 'b' });
  const abort = new AbortController();
  const aborted = room.publish('c', { id: 'c', signal: abort.signal });
  const acked = room.publish('d', { id: 'd', timeoutMs: 3000 });
  abort.abort(new Error('user left'));
  assert.match((await rejected(aborted, 'aborted', 'c')).message, /user left/);
  mock.timers.tick(1000);
  await rejected(timedOut, 'timeout', 'a');
  assert.equal((await settled(acked)), 'pending', 'd is still waiting');
  last().accept({ seq: 0 });
  assert.deepEqual(last().publishes().map((f) => f.id), ['b', 'd']);
  last().push({ type: 'ack', id: 'd', seq: 1 });
  assert.deepEqual(await acked, { id: 'd', seq: 1 });
  mock.timers.tick(4000);
  await rejected(byDefault, 'timeout', 'b');
  const already = new AbortController();
  already.abort();
  await rejected(room.publish('e', { id: 'e', signal: already.signal }), 'aborted', 'e');
  assert.deepEqual(last().publishes().map((f) => f.id), ['b', 'd'], 'nothing else was sent');
  room.close();
});

test('bug 8: state, members and connectionId are read-only; members cannot be mutated from outside', async () => {
  const room = connect(base());
  await tick();
  last().accept({ seq: 0, connection_id: 'r.1', members: [{ user_id: 'u', connections: 1 }] });
  const r = room as unknown as Record<string, unknown>;
  assert.throws(() => { r.state = 'closed'; }, TypeError);
  assert.throws(() => { r.members = []; }, TypeError);
  assert.throws(() => { r.connectionId = 'x'; }, TypeError);
  assert.throws(() => (room.members as Member[]).push({ user_id: 'v', connections: 1 }), TypeError);
  assert.throws(() => { (room.members[0] as { connections: number }).connections = 5; }, TypeError);
  assert.equal(room.state, 'open');
  assert.equal(room.connectionId, 'r.1');
  assert.deepEqual(room.members, [{ user_id: 'u', connections: 1 }]);
  room.close();
});

test('history: the token goes in the Authorization header, the query in the URL; errors carry code and status', async () => {
  const ok = fakeFetch(200, '', { messages: [msg(9), msg(8)], next: 8 });
  const page = await fetchHistory({ url: 'wss://chat.example/', room: 'a b', token: 'tok', before: 10, limit: 2, fetch: ok });
  assert.deepEqual(page, { messages: [msg(9), msg(8)], next: 8 });
  assert.deepEqual(ok.calls, [{ url: 'https://chat.example/rooms/a%20b/messages?before=10&limit=2', headers: { authorization: 'Bearer tok' } }]);
  await assert.rejects(
    fetchHistory({ url: 'http://h', room: 'r', token: 't', fetch: fakeFetch(403, 'forbidden') }),
    (e: ChatError) => e.code === 'forbidden' && e.status === 403,
  );
  const down = Object.assign(async () => { throw new TypeError('fetch failed'); }, {});
  await rejected(fetchHistory({ url: 'http://h', room: 'r', token: 't', fetch: down }), 'network_error');
});

test("history: room.history() uses the room's token and, after a 401, a fresh one from getToken", async () => {
  let calls = 0;
  const seen: string[] = [];
  const fetch = async (url: string, init: { headers: Record<string, string> }) => {
    seen.push(`${url} ${init.headers.authorization}`);
    const good = init.headers.authorization === 'Bearer t2';
    return { ok: good, status: good ? 200 : 401, json: async () => (good ? { messages: [], next: null } : { error: { code: 'unauthorized', message: 'token expired' } }) };
  };
  const room = connect(base({ token: undefined, getToken: () => `t${++calls}`, fetch }));
  await tick();
  assert.deepEqual(await room.history({ since: 3 }), { messages: [], next: null });
  assert.deepEqual(seen, ['http://h/rooms/r/messages?since=3 Bearer t1', 'http://h/rooms/r/messages?since=3 Bearer t2']);
  room.close();
});

test('utf8Length counts UTF-8 bytes like the server', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', 'a😀é€', '\u{10FFFF}']) assert.equal(utf8Length(s), Buffer.byteLength(s), s);
});

// ---- behaviour the mutations of the issue must break ------------------------------------------

test('gaps: the event is delivered and the resume point moves past the gap', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base({ since: 3 }));
  const gaps: unknown[] = [];
  const seen: number[] = [];
  room.on('gap', (g) => gaps.push(g));
  room.on('message', (m) => seen.push(m.seq));
  await tick();
  last().accept({ seq: 20 });
  last().push({ type: 'gap', from: 4, to: 17 });
  last().push(msg(10)); // inside the gap: cannot be new
  last().drop();
  await tick();
  mock.timers.tick(60_000);
  await tick();
  assert.deepEqual(gaps, [{ type: 'gap', from: 4, to: 17 }]);
  assert.deepEqual(seen, []);
  assert.match(last().url, /since=17/);
  room.close();
});

test('close() rejects every pending publish with closed: sent and unacknowledged, or still queued', async () => {
  const room = connect(base());
  const queued = room.publish('q', { id: 'q' });
  await tick();
  last().accept({ seq: 0 });
  const sent = room.publish('s', { id: 's' });
  assert.equal(await settled(sent), 'pending');
  room.close();
  await rejected(queued, 'closed', 'q');
  await rejected(sent, 'closed', 's');
});

test("a handler that throws is reported; the other handlers and later frames still run", async () => {
  const reported: [string, string][] = [];
  const room = connect(base({ onHandlerError: (e, event) => reported.push([String(event), (e as Error).message]) }));
  const seen: string[] = [];
  room.on('message', (m) => { throw new Error(`bad handler ${m.seq}`); });
  room.on('message', (m) => seen.push(`second ${m.seq}`));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'batch', frames: [msg(1), msg(2)] });
  assert.deepEqual(seen, ['second 1', 'second 2']);
  assert.deepEqual(reported, [['message', 'bad handler 1'], ['message', 'bad handler 2']]);
  assert.equal(room.state, 'open');
  room.close();
});

test('the room name is encoded in the WebSocket URL', async () => {
  const room = connect(base({ room: 'a b/é?#' }));
  await tick();
  assert.equal(last().url, 'ws://h/rooms/a%20b%2F%C3%A9%3F%23/ws?batch=1');
  room.close();
});

test('the function returned by on() unsubscribes that handler only', async () => {
  const room = connect(base());
  const a: number[] = [];
  const b: number[] = [];
  const off = room.on('message', (m) => a.push(m.seq));
  room.on('message', (m) => b.push(m.seq));
  await tick();
  last().accept({ seq: 0 });
  last().push(msg(1));
  off();
  last().push(msg(2));
  assert.deepEqual(a, [1]);
  assert.deepEqual(b, [1, 2]);
  room.close();
});
