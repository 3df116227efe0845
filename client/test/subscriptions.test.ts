// Subscribing to a room's events: `on`, `once` and `off`, on the room and on the Emitter under
// it — a handler called once is called exactly once (also when it makes the same event happen
// again), and a handler removed is not called any more, even later in the same event.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Room, type State } from '../src/index.js';
import { Emitter } from '../src/internal.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';

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
  return room;
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  FakeSocket.all = [];
});

test('once: the handler gets the first event only, and its unsubscribe works before it fires', async () => {
  const room = await openRoom();
  const first: number[] = [];
  const never: number[] = [];
  room.once('message', (m) => first.push(m.seq));
  const cancel = room.once('message', (m) => never.push(m.seq));
  cancel();
  last().accept({ seq: 0 });
  last().push(msg(1));
  last().push(msg(2));
  assert.deepEqual(first, [1]);
  assert.deepEqual(never, []);
});

test('once: a handler that makes its own event happen again is not called for that one', async () => {
  const room = await openRoom();
  const seen: State[] = [];
  // close() inside the `state` handler for `open` emits `state` `closed` before it returns.
  room.once('state', (s) => {
    seen.push(s);
    room.close();
  });
  last().accept({ seq: 0 });
  assert.equal(room.state, 'closed');
  assert.deepEqual(seen, ['open']);
});

test('off removes a handler added with on or with once', async () => {
  const room = await openRoom();
  const seen: string[] = [];
  const a = (m: { seq: number }) => seen.push(`a${m.seq}`);
  const b = (m: { seq: number }) => seen.push(`b${m.seq}`);
  room.on('message', a);
  room.once('message', b);
  last().accept({ seq: 0 });
  room.off('message', b);
  last().push(msg(1));
  room.off('message', a);
  room.off('message', a); // removing twice, or a handler never added, is harmless
  room.off('gap', a as never);
  last().push(msg(2));
  assert.deepEqual(seen, ['a1']);
});

test('a handler removed by an earlier handler of the same event is not called for it', async () => {
  const room = await openRoom();
  const seen: string[] = [];
  const later = () => seen.push('later');
  room.on('message', () => {
    seen.push('first');
    room.off('message', later);
  });
  room.on('message', later);
  last().accept({ seq: 0 });
  last().push(msg(1));
  assert.deepEqual(seen, ['first']);
});

test('the Emitter itself has once and off, and a throwing once handler is reported and still removed', () => {
  const errors: unknown[] = [];
  const e = new Emitter<{ ping: number }>((err) => errors.push(err));
  const got: number[] = [];
  const h = (n: number) => got.push(n);
  e.on('ping', h);
  e.once('ping', () => {
    throw new Error('boom');
  });
  e.emit('ping', 1);
  e.emit('ping', 2);
  e.off('ping', h);
  e.emit('ping', 3);
  assert.deepEqual(got, [1, 2]);
  assert.equal(errors.length, 1);
});
