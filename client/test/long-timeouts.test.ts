// Timeouts longer than a timer can hold (2^31-1 ms, about 24.8 days) — Infinity included — mean
// "no timeout": a platform timer given more fires at once instead.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket, tick, settled, fakeFetch } from '../test-support/fake.js';
import { open, closeOpened, last } from '../test-support/rooms.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});

afterEach(() => {
  closeOpened();
  mock.timers.reset();
  FakeSocket.all = [];
});

for (const ms of [Infinity, 2 ** 31]) {
  test(`connectTimeoutMs ${ms} never times out an attempt`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const room = open(base({ connectTimeoutMs: ms }));
    const retries: string[] = [];
    room.on('retry', (r) => retries.push(r.reason));
    for (let i = 0; i < 20; i++) {
      mock.timers.tick(10);
      await tick();
    }
    assert.deepEqual(retries, []);
    assert.equal(FakeSocket.all.length, 1);
    assert.equal(last().closedWith, undefined);
    last().accept({ seq: 0 });
    assert.equal(room.state, 'open');
  });

  test(`a publish with timeoutMs ${ms} (or publishTimeoutMs ${ms}) waits for its ack`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const room = open(base({ publishTimeoutMs: ms }));
    await tick();
    last().accept({ seq: 0 });
    const own = room.publish('a', { id: 'a', timeoutMs: ms });
    const byDefault = room.publish('b', { id: 'b' });
    mock.timers.tick(1000);
    assert.equal(await settled(own), 'pending');
    assert.equal(await settled(byDefault), 'pending');
    last().push({ type: 'ack', id: 'a', seq: 1 });
    last().push({ type: 'ack', id: 'b', seq: 2 });
    assert.deepEqual(await Promise.all([own, byDefault]), [{ id: 'a', seq: 1 }, { id: 'b', seq: 2 }]);
  });

  test(`heartbeat timeoutMs ${ms} never declares the connection dead; intervalMs ${ms} never pings`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const room = open(base({ heartbeat: { intervalMs: 1000, timeoutMs: ms } }));
    await tick();
    last().accept({ seq: 0 });
    for (let i = 0; i < 50; i++) mock.timers.tick(100);
    assert.equal(room.state, 'open', 'silent, but no timeout');
    assert.ok(last().sent.filter((s) => s === 'ping').length >= 1, 'pinged every second');
    const quiet = open(base({ heartbeat: { intervalMs: ms } }));
    await tick();
    last().accept({ seq: 0 });
    mock.timers.tick(100);
    assert.deepEqual(last().sent, [], 'no ping loop');
    assert.equal(quiet.state, 'open');
  });

  test(`a backoff delay of ${ms} waits (it does not retry at once); resetAfterMs ${ms} never resets the delays`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const room = open(base({ backoff: { initialMs: ms, maxMs: ms } }));
    await tick();
    last().drop();
    await tick();
    for (let i = 0; i < 20; i++) {
      mock.timers.tick(10);
      await tick();
    }
    assert.equal(FakeSocket.all.length, 1, 'no retry at once');
    assert.equal(room.state, 'connecting');
    room.close();

    const steady = open(base({ backoff: { resetAfterMs: ms } }));
    const retries: number[] = [];
    steady.on('retry', (r) => retries.push(r.attempt));
    for (let i = 0; i < 3; i++) {
      await tick();
      last().accept({ seq: 0 });
      mock.timers.tick(10);
      last().drop();
      mock.timers.tick(60_000);
    }
    assert.deepEqual(retries, [1, 2, 3], 'the delays keep growing: the connection never proved stable');
  });
}
