// The `logger` option: the client's notable steps — attempts, refusals, retries, opens, gap
// fills, token refreshes, disconnects, reconnects, closes — each at a level (`debug`, `info`,
// `warn`, `error`), as `logger[level](message, {step, room, …})`, so `logger: console` works.
// Never a token; a logger that throws or lacks a level breaks nothing.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createSession, type ConnectOptions, type LogDetail, type Logger, type Room } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { open, closeOpened, last } from '../test-support/rooms.js';
import { fakeHistory, range } from '../test-support/history.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'lobby', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const now = () => Math.floor(Date.now() / 1000);
const jwt = (exp: number, n: string) => `h.${Buffer.from(JSON.stringify({ exp, n })).toString('base64url')}.s`;

afterEach(() => {
  closeOpened();
  mock.timers.reset();
  FakeSocket.all = [];
});

/** A logger recording `[level, step, message, detail]`. */
function recorder() {
  const entries: [string, string, string, LogDetail][] = [];
  const at = (level: string) => (message: string, detail: LogDetail) => entries.push([level, detail.step, message, detail]);
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, entries, steps: () => entries.map(([level, step]) => `${level} ${step}`) };
}

test('a connection life told step by step at its levels, and never a token', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const given: string[] = [];
  const getToken = () => {
    const t = jwt(now() + 3600 * (given.length + 1), `secret-${given.length}`);
    given.push(t);
    return t;
  };
  const history = fakeHistory(range(1, 20));
  let probes = 0;
  const fetch: ConnectOptions['fetch'] = async (url, init) => {
    if (!url.includes('limit=0')) return history(url, init);
    const status = ++probes === 1 ? 401 : 400;
    return { ok: false, status, json: async () => ({ error: { code: status === 401 ? 'unauthorized' : 'bad_request', message: 'no' } }) };
  };
  const { logger, entries, steps } = recorder();
  const room = open(base({
    token: undefined, getToken, tokenTransport: 'query', since: 0, probe: true, fetch, logger,
    backoff: { initialMs: 1000, jitter: 0 },
  }));
  await tick();
  last().drop(); // refused before its welcome; the probe says 401
  await tick(5);
  mock.timers.tick(1000);
  await tick();
  last().accept({ seq: 20, connection_id: 'lobby.1' });
  history.fail('network');
  last().push({ type: 'gap', from: 1, to: 15, reason: 'replay_limit' });
  for (const s of range(16, 20)) last().push(msg(s));
  await tick();
  mock.timers.tick(1000); // the fill's retry
  await tick(10);
  assert.equal(room.lastSeq, 20);
  last().push({ type: 'token_expiring', exp: now() + 60 });
  await tick();
  const auth = last().publishes().find((f) => f.type === 'auth')!;
  last().push({ type: 'auth_ok', exp: now() + 7200, id: auth.id });
  last().drop(1006, 'gone');
  room.reconnect();
  await tick();
  room.close();

  assert.deepEqual(steps(), [
    'debug attempt',
    'warn disconnect',
    'warn refused',
    'info retry',
    'debug attempt',
    'info open',
    'info fill',
    'warn fill_failed',
    'info filled',
    'debug refresh',
    'info refreshed',
    'warn disconnect',
    'info retry',
    'info reconnect',
    'debug attempt',
    'info disconnect',
    'info closed',
  ]);
  const byStep = (step: string) => entries.filter(([, s]) => s === step).map(([, , , d]) => d);
  assert.ok(entries.every(([, , message, d]) => d.room === 'lobby' && message.startsWith('edge-chat lobby: ')));
  assert.deepEqual(byStep('refused')[0], { step: 'refused', room: 'lobby', code: 'unauthorized', message: 'no', status: 401, refusals: 1, maxRefusals: 3 });
  assert.deepEqual(byStep('retry')[0], { step: 'retry', room: 'lobby', attempt: 1, delayMs: 1000, reason: 'refused' });
  assert.deepEqual(byStep('open')[0], { step: 'open', room: 'lobby', connectionId: 'lobby.1', seq: 20 });
  assert.deepEqual(byStep('fill')[0], { step: 'fill', room: 'lobby', from: 1, to: 15 });
  assert.equal(byStep('fill_failed')[0].attempt, 1);
  assert.deepEqual(byStep('filled')[0], { step: 'filled', room: 'lobby', from: 1, to: 15 });
  assert.deepEqual(byStep('disconnect')[1], { step: 'disconnect', room: 'lobby', code: 1006, reason: 'gone', wasOpen: true });
  assert.deepEqual(byStep('attempt')[1], { step: 'attempt', room: 'lobby', since: 0, transport: 'query' });
  assert.deepEqual(byStep('closed')[0], { step: 'closed', room: 'lobby', code: 1000, reason: 'client closed', byServer: false });
  const logged = JSON.stringify(entries);
  assert.ok(given.length >= 3);
  for (const t of [...given, 't']) assert.ok(!logged.includes(t.length > 1 ? t : '"t"'), 'no token in the log');
  assert.ok(!logged.includes('token='), 'no URL carrying a token');
});

test('a logger with only some levels gets those; the rest are skipped', async () => {
  const warned: string[] = [];
  const room = open(base({ logger: { warn: (_m: string, d: LogDetail) => warned.push(d.step) } }));
  await tick();
  last().accept({ seq: 0 });
  last().push({ type: 'gap', from: 1, to: 3 });
  assert.deepEqual(warned, ['gap']);
  assert.equal(room.state, 'open');
});

test('a logger that throws breaks nothing: the error is reported and the client goes on', async () => {
  const reported: unknown[] = [];
  const g = globalThis as { reportError?: (e: unknown) => void };
  const before = g.reportError;
  g.reportError = (e) => reported.push(e);
  const boom = () => {
    throw new Error('logger down');
  };
  const room = connect(base({ logger: { debug: boom, info: boom, warn: boom, error: boom } }));
  try {
    const seen: number[] = [];
    room.on('message', (m) => seen.push(m.seq));
    await tick();
    last().accept({ seq: 0 });
    last().push(msg(1));
    assert.equal(room.state, 'open');
    assert.deepEqual(seen, [1]);
    assert.ok(reported.length >= 2 && reported.every((e) => (e as Error).message === 'logger down'));
  } finally {
    room.close(); // logged too: while reportError is still the test's
    g.reportError = before;
  }
});

test("a session's rooms log with their own room names", async () => {
  const { logger, entries } = recorder();
  const session = createSession({ url: 'ws://h', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, browserEvents: false, logger });
  try {
    session.join('a');
    session.join('b');
    await tick();
    assert.deepEqual(entries.filter(([, s]) => s === 'attempt').map(([, , , d]) => d.room), ['a', 'b']);
  } finally {
    session.close(); // a room left reconnecting would keep the test process alive
  }
});
