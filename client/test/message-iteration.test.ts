// Iterating a room's messages: `for await (const m of room.messages())` yields every `message`
// event from the call on, in order; it ends when the handle closes or fails, when its signal
// aborts, or when the loop breaks (its handler goes), and a consumer that falls more than
// `bufferSize` messages behind gets the ones buffered, then an `overflow` ChatError — never a
// silent hole.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type MessageFrame, type Room } from '../src/index.js';
import { FakeSocket, tick, settled, msg } from '../test-support/fake.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];

const opened: Room[] = [];
async function openRoom(extra: Partial<ConnectOptions> = {}): Promise<Room> {
  const room = connect(base(extra));
  opened.push(room);
  await tick();
  last().accept({ seq: 0 });
  return room;
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

const messageHandlers = (room: Room) =>
  (room as unknown as { events: { handlers: Map<string, Map<unknown, unknown>> } }).events.handlers.get('message')?.size ?? 0;

/** Runs a `for await` loop over `room.messages(…)` in the background, collecting seqs. */
function consume(iterable: AsyncIterable<MessageFrame>) {
  const seqs: number[] = [];
  const done = (async () => {
    for await (const m of iterable) seqs.push(m.seq);
  })();
  return { seqs, done };
}

test('for await yields every message from the call on, in order, and ends once the room is closed', async () => {
  const room = await openRoom();
  last().push(msg(1)); // before the call: not part of it
  const loop = consume(room.messages());
  last().push(msg(2));
  last().push({ type: 'batch', frames: [msg(3), msg(3), msg(4)] });
  await tick();
  assert.deepEqual(loop.seqs, [2, 3, 4]);
  last().push(msg(5)); // taken by the waiting loop at once…
  last().push(msg(6)); // …these two wait in the buffer
  last().push(msg(7));
  room.close();
  assert.equal(await settled(loop.done).then((r) => r !== 'pending'), true, 'the loop ended');
  assert.deepEqual(loop.seqs, [2, 3, 4, 5, 6, 7], 'what was buffered before the close is delivered first');
  assert.equal(messageHandlers(room), 0);
});

test('the iteration ends when the handle fails, and at once on a handle already closed or failed', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = await openRoom({ maxRefusals: 1, probe: true, fetch: async () => ({ ok: false, status: 401, json: async () => ({ error: { code: 'unauthorized', message: 'bad token' } }) }) });
  const it = room.messages();
  const next = it.next();
  last().drop(); // lost; the next attempt is refused before its welcome, and the probe says 401
  mock.timers.tick(20_000);
  await tick();
  last().drop();
  await tick(5);
  assert.equal(room.state, 'failed');
  assert.deepEqual(await next, { value: undefined, done: true });
  assert.deepEqual(await room.messages().next(), { value: undefined, done: true }, 'already failed');
  room.close();
  assert.deepEqual(await room.messages().next(), { value: undefined, done: true }, 'already closed');
  assert.equal(messageHandlers(room), 0);
});

test('breaking out of the loop unsubscribes; two iterations are independent', async () => {
  const room = await openRoom();
  const a = room.messages();
  const b = room.messages();
  last().push(msg(1));
  last().push(msg(2));
  for await (const m of a) {
    assert.equal(m.seq, 1);
    break;
  }
  assert.equal(messageHandlers(room), 1, "only b's handler is left");
  assert.deepEqual(await a.next(), { value: undefined, done: true }, 'a is finished, its buffer dropped');
  assert.deepEqual([(await b.next()).value?.seq, (await b.next()).value?.seq], [1, 2]);
  await b.return!();
  assert.equal(messageHandlers(room), 0);
});

test('a consumer more than bufferSize behind gets what was buffered, then an overflow error naming the last seq', async () => {
  const room = await openRoom();
  const it = room.messages({ bufferSize: 3 });
  for (const s of [1, 2, 3, 4, 5]) last().push(msg(s));
  assert.equal(messageHandlers(room), 0, 'it stopped listening at the overflow: no unbounded growth');
  assert.deepEqual([(await it.next()).value?.seq, (await it.next()).value?.seq, (await it.next()).value?.seq], [1, 2, 3]);
  const r = await settled(it.next());
  assert.ok(r !== 'pending' && 'err' in r && r.err instanceof ChatError, `expected an overflow error, got ${JSON.stringify(r)}`);
  assert.equal(r.err.code, 'overflow');
  assert.match(r.err.message, /after seq 3/);
  assert.deepEqual(await it.next(), { value: undefined, done: true }, 'finished after the error');
});

test('a consumer keeping up never overflows, however many messages pass', async () => {
  const room = await openRoom();
  const loop = consume(room.messages({ bufferSize: 2 }));
  for (let s = 1; s <= 50; s++) {
    last().push(msg(s));
    await tick(1);
  }
  room.close();
  await loop.done;
  assert.equal(loop.seqs.length, 50);
});

test('aborting the signal ends the iteration (a waiting next() is done); an aborted signal ends it at once', async () => {
  const room = await openRoom();
  const controller = new AbortController();
  const it = room.messages({ signal: controller.signal });
  last().push(msg(1));
  assert.equal((await it.next()).value?.seq, 1);
  const waiting = it.next();
  assert.equal(await settled(waiting), 'pending');
  controller.abort();
  assert.deepEqual(await waiting, { value: undefined, done: true });
  assert.equal(messageHandlers(room), 0);
  assert.deepEqual(await room.messages({ signal: controller.signal }).next(), { value: undefined, done: true });
  assert.equal(messageHandlers(room), 0);
});
