// Token requests: `getToken` is told the room and why a token is wanted; each request is bounded
// by the connect timeout (a hung one is abandoned and its late answer ignored), for attempts,
// refreshes and history reads alike; a session never hands a room back the token that room is
// replacing, serves room-scoped tokens, and honours a room's own getToken.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createSession, ChatError, type ConnectOptions, type Events, type Room, type Session, type TokenRequest } from '../src/index.js';
import { FakeSocket, tick, settled, fakeFetch } from '../test-support/fake.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const now = () => Math.floor(Date.now() / 1000);
/** A JWT-shaped token (the client reads only its payload); `n` tells tokens apart. */
const jwt = (claims: { exp?: number; rooms?: string[] }, n: string) =>
  `h.${Buffer.from(JSON.stringify({ exp: now() + 3600, ...claims, n })).toString('base64url')}.s`;
/** room → the token its socket carries. */
const tokensByRoom = () => Object.fromEntries(FakeSocket.all.map((s) => [new URL(s.url).pathname.split('/')[2], s.token]));
const auths = (s: FakeSocket) => s.publishes().filter((f) => f.type === 'auth') as unknown as { token: string; id: string }[];

/** getToken answering from a script: a string, an Error to throw, or 'hang' (never answers; the
 * answer can be given later with `answer(i, token)`). Records every request. */
function script(...list: (string | Error | 'hang')[]) {
  const requests: (TokenRequest | undefined)[] = [];
  const late: ((t: string) => void)[] = [];
  const getToken = (request?: TokenRequest) => {
    const next = list[requests.length] ?? list[list.length - 1];
    requests.push(request);
    if (next instanceof Error) throw next;
    if (next === 'hang') return new Promise<string>((resolve) => (late[requests.length - 1] = resolve));
    return next;
  };
  return Object.assign(getToken, { requests, answer: (i: number, t: string) => late[i]?.(t) });
}

const opened: (Room | Session)[] = [];
function open(opts: ConnectOptions): Room {
  const room = connect(opts);
  opened.push(room);
  return room;
}

afterEach(() => {
  for (const h of opened.splice(0)) h.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

// ---- a getToken that never answers --------------------------------------------------------------

test('a getToken that never answers is abandoned at the connect timeout: the next attempt asks again, and the late answer is ignored', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = script('hang', 'good');
  const room = open(base({ getToken, connectTimeoutMs: 1000 }));
  const retries: string[] = [];
  room.on('retry', (r) => retries.push(r.reason));
  await tick();
  mock.timers.tick(1000);
  await tick();
  assert.deepEqual(retries, ['connect_timeout']);
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.requests.length, 2, 'asked again');
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(last().token, 'good');
  last().accept({ seq: 0 });
  getToken.answer(0, 'late');
  await tick();
  last().drop(); // was open: the token it has is still good
  mock.timers.tick(60_000);
  await tick();
  assert.equal(last().token, 'good', 'the late answer was not kept');
  assert.equal(getToken.requests.length, 2);
});

test("a getToken that never answers does not freeze a session's rooms", async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const getToken = script('hang', 'good');
  const session = createSession({ ...base(), getToken, connectTimeoutMs: 1000 });
  opened.push(session);
  const a = session.join('a');
  const b = session.join('b');
  await tick();
  assert.equal(getToken.requests.length, 1, 'one request for both rooms');
  mock.timers.tick(1000);
  await tick();
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.requests.length, 2, 'one new request for both rooms');
  assert.deepEqual(FakeSocket.all.map((s) => s.token), ['good', 'good']);
  FakeSocket.all.forEach((s) => s.accept({ seq: 0 }));
  assert.deepEqual([a.state, b.state], ['open', 'open']);
});

test('a refresh whose getToken never answers fails at the connect timeout (token_error) and the next attempt asks again', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = script(jwt({ exp: now() + 60 }, 'first'), 'hang', jwt({}, 'second'));
  const room = open(base({ getToken, connectTimeoutMs: 1000 }));
  const failures: Events['refresh_failed'][] = [];
  room.on('refresh_failed', (f) => failures.push(f));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  mock.timers.tick(1000);
  await tick();
  assert.deepEqual(failures.map((f) => [f.code, f.attempt, f.retrying]), [['token_error', 1, true]]);
  assert.match(failures[0].message, /did not answer within 1000 ms/);
  mock.timers.tick(375);
  await tick();
  assert.equal(getToken.requests.length, 3);
  assert.deepEqual(auths(last()).map((a) => a.token), [jwt({}, 'second')]);
});

test('history() with a getToken that never answers rejects with ChatError token_error at the connect timeout; the next read asks again', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = script('hang', 't2');
  const fetch = fakeFetch(200, '', { messages: [], next: null });
  const room = open(base({ getToken, fetch, connectTimeoutMs: 1000 }));
  const read = room.history({ limit: 1 });
  mock.timers.tick(1000);
  const outcome = await settled(read);
  assert.ok(outcome !== 'pending' && 'err' in outcome, `rejected, got ${JSON.stringify(outcome)}`);
  assert.ok(outcome.err instanceof ChatError, `a ChatError, got ${outcome.err}`);
  assert.equal(outcome.err.code, 'token_error');
  assert.deepEqual(await room.history({ limit: 1 }), { messages: [], next: null });
  assert.equal(fetch.calls.at(-1)?.headers.authorization, 'Bearer t2');
});

test('history() rejects with a ChatError (token_error) when getToken throws or gives no token', async () => {
  for (const bad of [new Error('backend down'), '']) {
    const room = open(base({ getToken: script(bad), fetch: fakeFetch(200, '', { messages: [], next: null }) }));
    await assert.rejects(room.history(), (e: unknown) => e instanceof ChatError && e.code === 'token_error');
    room.close();
  }
});

// ---- what getToken is told -------------------------------------------------------------------------

test('getToken is told the room and why: connect, refused, refresh, expired, reconnect, history', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const tokens = Array.from({ length: 8 }, (_, i) => jwt({}, `t${i}`));
  const getToken = script(...tokens);
  let refuseHistory = true;
  const fetch = async () => {
    const refused = refuseHistory;
    refuseHistory = false;
    return { ok: !refused, status: refused ? 401 : 200, json: async () => (refused ? { error: { code: 'unauthorized', message: 'expired' } } : { messages: [], next: null }) };
  };
  const room = open(base({ room: 'lobby', getToken, fetch, probe: false }));
  await tick();
  last().drop(); // an attempt that failed: the token may be refused
  mock.timers.tick(375);
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  last().push({ type: 'auth_ok', exp: now() + 3600, id: auths(last())[0].id });
  last().push({ type: 'closing', code: 4001, reason: 'token_expired' });
  mock.timers.tick(60_000);
  await tick();
  last().accept({ seq: 0 });
  room.reconnect();
  await tick();
  last().accept({ seq: 0 });
  await room.history();
  assert.deepEqual(getToken.requests, [
    { room: 'lobby', reason: 'connect' },
    { room: 'lobby', reason: 'refused' },
    { room: 'lobby', reason: 'refresh' },
    { room: 'lobby', reason: 'expired' },
    { room: 'lobby', reason: 'reconnect' },
    { room: 'lobby', reason: 'history' },
  ]);
});

test('an attempt whose getToken failed asks again for the same reason: it tried no token, so none was refused', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const getToken = script(jwt({}, 'first'), new Error('backend down'), 'hang', jwt({}, 'second'));
  const room = open(base({ getToken, connectTimeoutMs: 1000 }));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'closing', code: 4001, reason: 'token_expired' });
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(1000); // the retries' delays (375, 750, 1500 ms) and the hung request's timeout
    await tick();
  }
  assert.deepEqual(getToken.requests.map((r) => r?.reason), ['connect', 'expired', 'expired', 'expired']);
  assert.equal(last().token, jwt({}, 'second'));
  room.close();
});

// ---- sessions ------------------------------------------------------------------------------------

test('a session does not hand a room back the token it was refused', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const getToken = script('bad', 'good');
  // The server refuses `bad` (401) and accepts anything else (400 bad_request for limit=0).
  const fetch = async (_url: string, init: { headers: Record<string, string> }) => {
    const bad = init.headers.authorization === 'Bearer bad';
    return { ok: false, status: bad ? 401 : 400, json: async () => ({ error: { code: bad ? 'unauthorized' : 'bad_request', message: 'x' } }) };
  };
  const session = createSession({ ...base({ fetch }), getToken });
  opened.push(session);
  const room = session.join('a');
  await tick();
  last().drop();
  await tick();
  mock.timers.tick(375);
  await tick();
  assert.deepEqual(FakeSocket.all.map((s) => s.token), ['bad', 'good']);
  last().accept({ seq: 0 });
  assert.equal(room.state, 'open');
});

test("a session's refresh never sends back the refused token, nor the connection's own (a token with less than a minute left)", async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const short = jwt({ exp: now() + 50 }, 'short');
  const refused = jwt({}, 'refused');
  const good = jwt({ exp: now() + 7200 }, 'good');
  const getToken = script(short, refused, good);
  const session = createSession({ ...base(), getToken });
  opened.push(session);
  const room = session.join('a');
  const failures: string[] = [];
  room.on('refresh_failed', (f) => failures.push(f.code));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'token_expiring', exp: now() + 50 }); // right after the welcome
  await tick();
  const [first] = auths(last());
  assert.equal(first?.token, refused, "a new token, not the connection's own");
  last().push({ type: 'error', code: 'unauthorized', message: 'no', id: first.id });
  mock.timers.tick(375);
  await tick();
  assert.deepEqual(auths(last()).map((a) => a.token), [refused, good]);
  assert.deepEqual(failures, ['unauthorized']);
});

test("session.join(room, {getToken}) uses the room's own getToken", async () => {
  const shared = script('session-token');
  const own = script('room-token');
  const session = createSession({ ...base(), getToken: shared });
  opened.push(session);
  session.join('a');
  session.join('b', { getToken: own });
  await tick();
  assert.deepEqual(tokensByRoom(), { a: 'session-token', b: 'room-token' });
  assert.deepEqual(shared.requests, [{ room: 'a', reason: 'connect' }]);
  assert.deepEqual(own.requests, [{ room: 'b', reason: 'connect' }]);
});

test("a session serves room-scoped tokens: a token whose rooms claim leaves a room out is not handed to it", async () => {
  const getToken = (r: TokenRequest) => jwt({ rooms: [r.room] }, r.room);
  const session = createSession({ ...base(), getToken });
  opened.push(session);
  session.join('a');
  session.join('b');
  await tick();
  assert.deepEqual(tokensByRoom(), { a: jwt({ rooms: ['a'] }, 'a'), b: jwt({ rooms: ['b'] }, 'b') });
});
