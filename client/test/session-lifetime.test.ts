// Sessions that end. The token refreshed in place on `token_expiring` (getToken, then
// an `auth` frame; retried a bounded number of times; the connection kept), 4001 reconnects
// with a new token and resumes, 4003/4004/4005/4006 stop the handle with a `closed` event — acted on
// at the `closing` frame, since the close event itself may come seconds later.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type Events, type Room } from '../src/index.js';
import { FakeSocket, tick, settled, msg, fakeFetch } from '../test-support/fake.js';
import { open, closeOpened, last } from '../test-support/rooms.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});
const now = () => Math.floor(Date.now() / 1000);
/** A JWT-shaped token with this `exp` (the client only reads `exp`); `n` tells tokens apart. */
const jwt = (exp: number, n: string) => `h.${Buffer.from(JSON.stringify({ exp, n })).toString('base64url')}.s`;
const auths = (s: FakeSocket) => s.publishes().filter((f) => f.type === 'auth') as unknown as { type: 'auth'; token: string; id: string }[];

/** Every event of these kinds, in order, as `[kind, value]`. */
function record(room: Room, kinds: (keyof Events)[]) {
  const log: [string, unknown][] = [];
  for (const k of kinds) room.on(k, (v) => log.push([k, v]));
  return log;
}

/** getToken answering from a list, counting its calls; an Error in the list is thrown. */
function tokens(...list: (string | Error)[]) {
  const given: string[] = [];
  const getToken = () => {
    const next = list[given.length] ?? list[list.length - 1];
    given.push(next instanceof Error ? 'threw' : next);
    if (next instanceof Error) throw next;
    return next;
  };
  return Object.assign(getToken, { given });
}

/** Every handle a test opens is closed after it, even when an assertion failed midway (a
 * handle left reconnecting would keep the test process alive). */

afterEach(() => {
  closeOpened();
  mock.timers.reset();
  FakeSocket.all = [];
});

// ---- refreshing in place ---------------------------------------------------------------------

test('token_expiring: a new token from getToken goes in an auth frame on the open connection; auth_ok keeps it and says refreshed', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const exp1 = now() + 60;
  const exp2 = now() + 3600;
  const getToken = tokens(jwt(exp1, 'first'), jwt(exp2, 'second'));
  const room = open(base({ token: undefined, getToken }));
  const log = record(room, ['refreshed', 'refresh_failed', 'disconnect', 'error', 'state']);
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: exp1 });
  await tick();
  assert.equal(getToken.given.length, 2, 'getToken asked for a new token');
  const [auth] = auths(last());
  assert.equal(auth.token, jwt(exp2, 'second'));
  assert.match(auth.id, /^auth-/);
  last().push({ type: 'auth_ok', exp: exp2, id: auth.id });
  assert.deepEqual(log, [['state', 'open'], ['refreshed', { exp: exp2 }]]);
  assert.equal(FakeSocket.all.length, 1, 'no new connection');
  assert.equal(room.state, 'open');
  // The refreshed token is the one a later reconnect uses (no further getToken call).
  last().drop();
  mock.timers.tick(60_000);
  await tick();
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(last().token, jwt(exp2, 'second'));
  assert.equal(getToken.given.length, 2);
  room.close();
});

test('a refused refresh keeps the connection and is retried with another token; the refusal is no error event and fails no publish', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const exp1 = now() + 60;
  const getToken = tokens(jwt(exp1, 'first'), jwt(exp1 + 3600, 'refused'), jwt(exp1 + 7200, 'good'));
  const room = open(base({ token: undefined, getToken }));
  const log = record(room, ['refreshed', 'refresh_failed', 'disconnect', 'error']);
  await tick();
  last().accept({ seq: 0 });
  const pending = room.publish('x', { id: 'p' });
  last().push({ type: 'token_expiring', exp: exp1 });
  await tick();
  const [first] = auths(last());
  last().push({ type: 'error', code: 'unauthorized', message: 'the token was revoked', id: first.id });
  assert.deepEqual(log, [['refresh_failed', { code: 'unauthorized', message: 'the token was revoked', attempt: 1, retrying: true }]]);
  assert.equal(await settled(pending), 'pending', 'the publish is not touched');
  assert.equal(room.state, 'open');
  mock.timers.tick(374);
  await tick();
  assert.equal(auths(last()).length, 1, 'not before the backoff delay (375 ms)');
  mock.timers.tick(1);
  await tick();
  const [, second] = auths(last());
  assert.equal(second.token, jwt(exp1 + 7200, 'good'));
  assert.notEqual(second.id, first.id);
  last().push({ type: 'auth_ok', exp: exp1 + 7200, id: second.id });
  assert.deepEqual(log.slice(1), [['refreshed', { exp: exp1 + 7200 }]]);
  assert.equal(FakeSocket.all.length, 1);
  last().push({ type: 'ack', id: 'p', seq: 1 });
  assert.deepEqual(await pending, { id: 'p', seq: 1 });
  room.close();
});

test('refresh attempts are bounded; getToken throwing and a token that expires no later count as failed attempts, and neither is sent', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const exp1 = now() + 600;
  const same = jwt(exp1, 'first');
  const getToken = tokens(same, new Error('backend down'), same, jwt(exp1 + 3600, 'refused'), jwt(exp1 + 3600, 'never asked'));
  const room = open(base({ token: undefined, getToken, refreshAttempts: 3 }));
  const failures: Events['refresh_failed'][] = [];
  room.on('refresh_failed', (f) => failures.push(f));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: exp1 });
  await tick();
  mock.timers.tick(375); // attempt 2 (375 ms after the first)
  await tick();
  mock.timers.tick(750); // attempt 3
  await tick();
  const sent = auths(last());
  assert.deepEqual(sent.map((a) => a.token), [jwt(exp1 + 3600, 'refused')], 'only the usable token was sent');
  last().push({ type: 'error', code: 'unauthorized', message: 'no', id: sent[0].id });
  mock.timers.tick(600_000);
  await tick();
  assert.deepEqual(
    failures.map((f) => [f.code, f.attempt, f.retrying]),
    [['token_error', 1, true], ['stale_token', 2, true], ['unauthorized', 3, false]],
  );
  assert.equal(getToken.given.length, 4, 'the connect, then three attempts: no fourth');
  assert.equal(auths(last()).length, 1);
  assert.equal(room.state, 'open', 'the connection carries on until the server closes it');
  assert.equal(FakeSocket.all.length, 1);
  room.close();
});

test('a refresh is not retried past the expiry, and refreshAttempts: 0 never refreshes', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = tokens(jwt(now() + 60, 'a'), jwt(now() + 3600, 'b'));
  const room = open(base({ token: undefined, getToken }));
  const failures: Events['refresh_failed'][] = [];
  room.on('refresh_failed', (f) => failures.push(f));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() }); // the retry's 375 ms would fall after it
  await tick();
  last().push({ type: 'error', code: 'unauthorized', message: 'no', id: auths(last())[0].id });
  assert.deepEqual(failures.map((f) => [f.attempt, f.retrying]), [[1, false]]);
  room.close();

  const never = tokens(jwt(now() + 60, 'a'), jwt(now() + 3600, 'b'));
  const quiet = open(base({ token: undefined, getToken: never, refreshAttempts: 0 }));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  assert.equal(never.given.length, 1);
  assert.deepEqual(auths(last()), []);
  quiet.close();
});

test('a token the server refused for the refresh is not the one a reconnect uses', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const refused = jwt(now() + 3600, 'refused');
  const next = jwt(now() + 7200, 'next');
  const getToken = tokens(jwt(now() + 60, 'first'), refused, next);
  const room = open(base({ token: undefined, getToken, refreshAttempts: 1 }));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  last().push({ type: 'error', code: 'forbidden', message: 'not this room', id: auths(last())[0].id });
  last().drop(); // the network, not the expiry
  mock.timers.tick(60_000);
  await tick();
  assert.equal(getToken.given.length, 3);
  assert.equal(last().token, next);
  room.close();
});

test('a refresh under way is dropped with its connection: nothing is sent on the old socket, the new one uses the new token', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  let answer: (t: string) => void = () => {};
  let calls = 0;
  const fresh = jwt(now() + 3600, 'fresh');
  const getToken = () => (++calls === 1 ? jwt(now() + 60, 'first') : new Promise<string>((r) => (answer = r)));
  const room = open(base({ token: undefined, getToken }));
  await tick();
  const s1 = last();
  s1.accept({ seq: 0 });
  s1.push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  s1.drop();
  answer(fresh);
  await tick();
  assert.deepEqual(auths(s1), []);
  mock.timers.tick(60_000);
  await tick();
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(last().token, fresh);
  assert.equal(calls, 2, 'the token the refresh asked for serves the reconnect');
  room.close();
});

test("a refresh's retry does not outlive its connection: no getToken call for it once the connection is gone", async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = tokens(jwt(now() + 3600, 'a'), new Error('backend down'), jwt(now() + 7200, 'c'));
  const room = open(base({ token: undefined, getToken }));
  await tick();
  last().accept({ seq: 0 });
  last().drop(); // so that the next reconnect waits 750 ms (the second delay), the refresh's retry 375
  await tick();
  mock.timers.tick(375);
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 3600 });
  await tick();
  assert.deepEqual(getToken.given.slice(1), ['threw'], 'the refresh failed once and waits 375 ms to retry');
  last().drop();
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.given.length, 2, 'no retry: its connection is gone');
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.given.length, 3, 'the reconnect asks');
  assert.equal(FakeSocket.all.length, 3);
  room.close();
});

// ---- 4001: expired ---------------------------------------------------------------------------

test('closing 4001: the connection ends at once (not at the late close event); it reconnects with a new token and resumes', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const second = jwt(now() + 7200, 'second');
  const getToken = tokens(jwt(now() + 3600, 'first'), second);
  const room = open(base({ token: undefined, getToken }));
  const log = record(room, ['disconnect', 'retry', 'state', 'closed']);
  await tick();
  const s1 = last();
  s1.accept({ seq: 0 });
  s1.push(msg(1));
  s1.push(msg(2));
  s1.push({ type: 'closing', code: 4001, reason: 'token_expired' });
  assert.deepEqual(log, [
    ['state', 'open'],
    ['disconnect', { code: 4001, reason: 'token_expired', wasOpen: true }],
    ['state', 'reconnecting'],
    ['retry', { attempt: 1, delayMs: 375, reason: 'token_expired' }],
  ]);
  assert.deepEqual(s1.closedWith, { code: 4001, reason: 'token_expired' }, 'this side is closed too, with the code of the closing frame');
  s1.drop(4001, 'token_expired'); // the close event, late: ignored
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.given.length, 2, 'a new token, although the cached one has not expired by the clock');
  assert.equal(last().token, second);
  assert.match(last().url, /\?since=2&/);
  last().accept({ seq: 2 });
  assert.equal(room.state, 'open');
  assert.equal(log.filter(([k]) => k === 'disconnect').length, 1);
  room.close();
});

test('closing 4001 with a fixed token (no getToken): failed with token_expired, no reconnect loop', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base({ token: jwt(now() + 30, 'fixed') }));
  const log = record(room, ['failed', 'retry']);
  await tick();
  last().accept({ seq: 0 });
  const pending = room.publish('x', { id: 'p' });
  last().push({ type: 'closing', code: 4001, reason: 'token_expired' });
  assert.equal(room.state, 'failed');
  assert.deepEqual(log.map(([k, v]) => [k, (v as { code: string }).code]), [['failed', 'token_expired']]);
  const outcome = await settled(pending);
  assert.ok(outcome !== 'pending' && 'err' in outcome && (outcome.err as ChatError).code === 'failed');
  mock.timers.tick(600_000);
  await tick();
  assert.equal(FakeSocket.all.length, 1);
  room.close();
});

// ---- 4003/4004/4005/4006: removed --------------------------------------------------------------

for (const [code, reason, message] of [
  [4003, 'kicked', 'spamming the lobby'],
  [4004, 'banned', 'ban evasion'],
  [4005, 'revoked', undefined],
  [4006, 'room_deleted', undefined],
] as const) {
  test(`closing ${code} (${reason}): the handle stops at once, emits closed with code, reason and message, rejects pending publishes, never reconnects`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const getToken = tokens(jwt(now() + 3600, 'a'), jwt(now() + 7200, 'b'));
    const room = open(base({ token: undefined, getToken }));
    const log = record(room, ['disconnect', 'retry', 'state', 'closed', 'failed']);
    await tick();
    const s = last();
    s.accept({ seq: 0 });
    const pending = room.publish('x', { id: 'p' });
    s.push({ type: 'closing', code, reason, ...(message ? { message } : {}) });
    const closed = { code, reason, ...(message ? { message } : {}), byServer: true };
    assert.deepEqual(log, [
      ['state', 'open'],
      ['disconnect', { code, reason, wasOpen: true, ...(message ? { message } : {}) }],
      ['state', 'closed'],
      ['closed', closed],
    ]);
    assert.equal(room.state, 'closed');
    assert.deepEqual(room.closeInfo, closed);
    assert.deepEqual(s.closedWith, { code, reason }, 'closed with the code of the closing frame, which the server echoes');
    for (const p of [pending, room.publish('later', { id: 'l' })]) {
      const outcome = await settled(p);
      assert.ok(outcome !== 'pending' && 'err' in outcome);
      const err = outcome.err as ChatError;
      assert.equal(err.code, 'closed');
      assert.match(err.message, new RegExp(`${reason} \\(${code}\\)${message ? `: ${message}` : '$'}`));
    }
    s.drop(code, reason); // the late close event
    room.reconnect(); // closed is for good: connect() again to rejoin
    mock.timers.tick(600_000);
    await tick();
    assert.equal(FakeSocket.all.length, 1, 'no reconnect');
    assert.equal(getToken.given.length, 1);
    assert.equal(log.length, 4, 'nothing after closed');
    room.close(); // a no-op now
    assert.equal(log.length, 4);
  });
}

test('a final close code in the close event alone (no closing frame) stops the handle too; other codes still reconnect', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base());
  const log = record(room, ['closed', 'retry']);
  await tick();
  last().accept({ seq: 0 });
  last().drop(4004, 'banned');
  assert.deepEqual(log, [['closed', { code: 4004, reason: 'banned', byServer: true }]]);
  mock.timers.tick(600_000);
  await tick();
  assert.equal(FakeSocket.all.length, 1);

  const other = open(base());
  const retries: string[] = [];
  other.on('retry', (r) => retries.push(r.reason));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'closing', code: 4999, reason: 'something new' });
  assert.deepEqual(retries, ['closed']);
  assert.equal(other.state, 'reconnecting');
  other.close();
});

test('a closing frame inside a batch stops the rest of the batch', async () => {
  const room = open(base());
  const seen: number[] = [];
  room.on('message', (m) => seen.push(m.seq));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'batch', frames: [msg(1), { type: 'closing', code: 4003, reason: 'kicked' }, msg(2)] });
  assert.deepEqual(seen, [1]);
  assert.equal(room.state, 'closed');
});

test('close() emits closed too, with byServer false', async () => {
  const room = open(base());
  const closed: unknown[] = [];
  room.on('closed', (c) => closed.push(c));
  await tick();
  last().accept({ seq: 0 });
  room.close();
  assert.deepEqual(closed, [{ code: 1000, reason: 'client closed', byServer: false }]);
  assert.deepEqual(room.closeInfo, closed[0]);
  room.close();
  assert.equal(closed.length, 1);
});
