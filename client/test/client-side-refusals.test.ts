// What the server would refuse in a way it cannot attribute — an error frame without the
// frame's id, so the publish would never settle and be re-sent after every reconnect — is
// refused by the client before sending: ids that are not 1-128 characters (or not well-formed
// UTF-16), data nested deeper than 64 levels, reactions that are not 1-32 characters without
// control characters. Such publishes reject at once and take no place in the queue.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket, tick, settled, fakeFetch } from '../test-support/fake.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  fetch: fakeFetch(), browserEvents: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const nested = (levels: number): unknown => (levels === 0 ? 1 : [nested(levels - 1)]);

const opened: Room[] = [];
async function openRoom(extra: Partial<ConnectOptions> = {}): Promise<Room> {
  const room = connect(base(extra));
  opened.push(room);
  await tick();
  last().accept({ seq: 5 });
  return room;
}

/** The promise has already been rejected with a ChatError of this code. */
async function refused(p: Promise<unknown>, code: string): Promise<ChatError> {
  const outcome = await settled(p);
  assert.ok(outcome !== 'pending' && 'err' in outcome, `expected ${code}, got ${outcome === 'pending' ? 'pending' : JSON.stringify(outcome)}`);
  assert.ok(outcome.err instanceof ChatError && outcome.err.code === code, `expected ${code}, got ${outcome.err}`);
  return outcome.err;
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

test('ids the server cannot read are refused (bad_frame) before sending, and take no place in the queue', async () => {
  const room = await openRoom({ queueLimit: 2 });
  for (const id of ['', 'x'.repeat(129), 'é'.repeat(129), 'a\ud800b', '\udc00']) {
    const err = await refused(room.publish('x', { id }), 'bad_frame');
    assert.equal(err.id, id);
  }
  await refused(room.edit(1, 'x', { id: '' }), 'bad_frame');
  await refused(room.delete(1, { id: '' }), 'bad_frame');
  await refused(room.react(1, '👍', true, { id: '' }), 'bad_frame');
  assert.deepEqual(last().publishes(), [], 'nothing sent');
  // 128 characters are fine, counted as the server does (code points, not UTF-16 units).
  const astral = '😀'.repeat(128);
  const ok = [room.publish('x', { id: astral }), room.publish('y', { id: 'x'.repeat(128) })];
  assert.deepEqual(last().publishes().map((f) => f.id), [astral, 'x'.repeat(128)], 'the queue had room for both');
  last().push({ type: 'ack', id: astral, seq: 6 });
  last().push({ type: 'ack', id: 'x'.repeat(128), seq: 7 });
  await Promise.all(ok);
});

test('data nested deeper than 64 levels is refused (bad_json) before sending; 64 levels are sent', async () => {
  const room = await openRoom();
  const err = await refused(room.publish(nested(65), { id: 'deep' }), 'bad_json');
  assert.equal(err.id, 'deep');
  await refused(room.edit(1, { a: nested(64) }, { id: 'deep-edit' }), 'bad_json');
  const fine = room.publish(nested(64), { id: 'fine' });
  // Brackets inside strings are not nesting.
  const text = room.publish({ s: '[{'.repeat(100) }, { id: 'text' });
  assert.deepEqual(last().publishes().map((f) => f.id), ['fine', 'text']);
  last().push({ type: 'ack', id: 'fine', seq: 6 });
  last().push({ type: 'ack', id: 'text', seq: 7 });
  await Promise.all([fine, text]);
});

test('reactions the server refuses are refused (bad_frame) before sending: not 1-32 characters, control characters, a lone surrogate', async () => {
  const room = await openRoom();
  for (const emoji of ['', 'x'.repeat(33), 'ok\u0007', '\u0085', '\ud83d', 42 as unknown as string]) {
    await refused(room.react(1, emoji, true, { id: `r${JSON.stringify(emoji)}` }), 'bad_frame');
  }
  assert.deepEqual(last().publishes(), []);
  const fine = ['👍🏽', '😀'.repeat(32), ':+1:'].map((emoji, i) => room.react(1, emoji, true, { id: `ok${i}` }));
  assert.deepEqual(last().publishes().map((f) => f.id), ['ok0', 'ok1', 'ok2']);
  ['ok0', 'ok1', 'ok2'].forEach((id, i) => last().push({ type: 'ack', id, seq: 6 + i }));
  await Promise.all(fine);
});

test('a direct the server could not attribute is not sent: an error event with its id says why', async () => {
  const room = await openRoom();
  const errors: { code: string; id?: string }[] = [];
  room.on('error', (e) => errors.push(e));
  const deep = room.direct({ userId: 'bob' }, nested(65));
  const badUser = room.direct({ userId: 'b\ud800' }, 'x');
  await tick();
  assert.deepEqual(last().publishes(), []);
  assert.deepEqual(errors.map((e) => [e.code, e.id]), [['bad_json', deep], ['bad_frame', badUser]]);
});
