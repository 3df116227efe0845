// Waiting until a room is open: `await room.ready()` resolves on the next welcome (at once when
// open), rejects with a ChatError when the handle fails or closes first, or when its own timeout
// or AbortSignal fires — and leaves no handler or timer behind.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket, tick, settled } from '../test-support/fake.js';
import { open, closeOpened, last } from '../test-support/rooms.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});

afterEach(() => {
  closeOpened();
  mock.timers.reset();
  FakeSocket.all = [];
});

/** How the promise settled: 'open', or the ChatError's code. */
async function outcome(p: Promise<void>): Promise<string> {
  const r = await settled(p);
  if (r === 'pending') return 'pending';
  if ('ok' in r) return 'open';
  assert.ok(r.err instanceof ChatError, `not a ChatError: ${String(r.err)}`);
  return r.err.code;
}

/** The handlers the room's emitter holds for these events (none may be left behind). */
function handlerCount(room: Room, events: string[]): number {
  const map = (room as unknown as { events: { handlers: Map<string, Map<unknown, unknown>> } }).events.handlers;
  return events.reduce((n, e) => n + (map.get(e)?.size ?? 0), 0);
}
const WATCHED = ['welcome', 'failed', 'closed'];

test('ready resolves on the first welcome, at once while open, and on the next welcome while reconnecting', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base());
  const first = room.ready();
  await tick();
  assert.equal(await outcome(first), 'pending');
  last().accept({ seq: 0 });
  assert.equal(await outcome(first), 'open');
  assert.equal(await outcome(room.ready()), 'open', 'already open');
  last().drop();
  const again = room.ready();
  assert.equal(await outcome(again), 'pending', 'reconnecting: not open');
  mock.timers.tick(20_000);
  await tick();
  last().accept({ seq: 0 });
  assert.equal(await outcome(again), 'open');
  assert.equal(handlerCount(room, WATCHED), 0);
});

test('ready rejects with closed when the handle is closed first, by close() or by the server, and at once after', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base());
  const waiting = room.ready();
  await tick();
  room.close();
  assert.equal(await outcome(waiting), 'closed');
  assert.equal(await outcome(room.ready()), 'closed');

  const kicked = open(base());
  const w = kicked.ready();
  await tick();
  last().accept({ seq: 0 });
  assert.equal(await outcome(w), 'open');
  last().drop(); // lost…
  const w2 = kicked.ready();
  mock.timers.tick(20_000);
  await tick();
  assert.equal(FakeSocket.all.length, 3);
  // …and the server's removal, on the next attempt's socket, before its welcome.
  last().push({ type: 'closing', code: 4003, reason: 'kicked', message: 'behave' });
  const err = (await settled(w2)) as { err: ChatError };
  assert.equal(err.err.code, 'closed');
  assert.match(err.err.message, /kicked \(4003\): behave/);
  assert.equal(handlerCount(kicked, WATCHED), 0);
});

test('ready rejects with failed when the handle gives up first (the refusal in the message), and at once while failed', async () => {
  const room = open(base({ token: 'not a jwt', maxRefusals: 1 }));
  const waiting = room.ready().catch((e: unknown) => e);
  await tick();
  assert.equal(room.state, 'failed');
  const err = await waiting;
  assert.ok(err instanceof ChatError);
  assert.equal(err.code, 'failed');
  assert.match(err.message, /subprotocol/);
  assert.equal(await outcome(room.ready()), 'failed');
  assert.equal(handlerCount(room, WATCHED), 0);
});

test('ready rejects with timeout after timeoutMs, and with aborted when its signal aborts (or had)', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = open(base({ connectTimeoutMs: 0 }));
  const timed = room.ready({ timeoutMs: 1000 });
  const untimed = room.ready();
  await tick();
  mock.timers.tick(999);
  assert.equal(await outcome(timed), 'pending');
  mock.timers.tick(1);
  assert.equal(await outcome(timed), 'timeout');
  const controller = new AbortController();
  const aborted = room.ready({ signal: controller.signal });
  controller.abort(new Error('unmounted'));
  const r = (await settled(aborted)) as { err: ChatError };
  assert.equal(r.err.code, 'aborted');
  assert.match(r.err.message, /unmounted/);
  assert.equal(await outcome(room.ready({ signal: controller.signal })), 'aborted', 'an aborted signal rejects at once');
  assert.equal(await outcome(untimed), 'pending', 'the others wait on');
  last().accept({ seq: 0 });
  assert.equal(await outcome(untimed), 'open');
  assert.equal(handlerCount(room, WATCHED), 0);
});
