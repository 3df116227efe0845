// A publish with `echo: false` is never sent back to its connection, so its seq only arrives in
// the ack: the resume point moves past it once everything before it was seen, and a resume never
// brings it back as a message.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const mine = (seq: number, id: string) => ({ ...msg(seq), from: { user_id: 'u' }, id });

const opened: Room[] = [];
async function openRoom(): Promise<{ room: Room; seen: number[] }> {
  const room = connect(base());
  opened.push(room);
  const seen: number[] = [];
  room.on('message', (m) => seen.push(m.seq));
  await tick();
  last().accept({ seq: 5 });
  return { room, seen };
}

/** Drops the connection and lets the reconnect happen: the new socket. */
async function reconnected(): Promise<FakeSocket> {
  last().drop();
  mock.timers.tick(60_000);
  await tick();
  return last();
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

test("an acked echo:false publish moves the resume point past it: the resume does not bring it back", async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { room, seen } = await openRoom();
  const p = room.publish('quiet', { id: 'q', echo: false });
  last().push({ type: 'ack', id: 'q', seq: 6 });
  await p;
  assert.equal(room.lastSeq, 6);
  const s = await reconnected();
  assert.match(s.url, /since=6&/);
  assert.deepEqual(seen, []);
});

test('an ack that comes before the messages it follows (batch=1) skips none of them', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { room, seen } = await openRoom();
  const p = room.publish('quiet', { id: 'q', echo: false });
  // One turn: someone's message 6, then this publish as 7. Acks come first on a batch connection.
  last().push({ type: 'batch', frames: [{ type: 'ack', id: 'q', seq: 7 }] });
  assert.equal(room.lastSeq, 5, 'not past 6, which has not arrived');
  last().push({ type: 'batch', frames: [msg(6), msg(8)] });
  await p;
  assert.deepEqual(seen, [6, 8]);
  assert.equal(room.lastSeq, 8);
});

test('a resume that replays it anyway (lost before the messages ahead of it came) does not deliver it', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { room, seen } = await openRoom();
  const p = room.publish('quiet', { id: 'q', echo: false });
  last().push({ type: 'ack', id: 'q', seq: 7 });
  await p;
  const s = await reconnected();
  assert.match(s.url, /since=5&/);
  s.accept({ seq: 8 });
  s.push(msg(6));
  s.push(mine(7, 'q'));
  s.push(msg(8));
  assert.deepEqual(seen, [6, 8]);
  assert.equal(room.lastSeq, 8);
});
