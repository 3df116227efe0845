// Who is typing now: `room.typingUsers()` and the `typing_users` event. A user is typing from
// their `typing` frame until 5 s after their last one, or until their `stop`, their leave or a
// message from them (docs/protocol.md, Typing: the server keeps no timer, receivers expire it);
// the timers go with the handle.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const typing = (user_id: string, stop = false) => ({ type: 'typing', user_id, ...(stop ? { stop: true } : {}) });

const opened: Room[] = [];
async function openRoom(): Promise<{ room: Room; changes: string[][] }> {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const room = connect(base());
  opened.push(room);
  const changes: string[][] = [];
  room.on('typing_users', (users) => changes.push([...users]));
  await tick();
  last().accept({ seq: 0, user_id: 'me' });
  return { room, changes };
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

test('a user types until 5 s after their last typing frame; each frame restarts the 5 s', async () => {
  const { room, changes } = await openRoom();
  assert.deepEqual(room.typingUsers(), []);
  last().push(typing('bob')); // t = 0
  mock.timers.tick(1000);
  last().push(typing('ann')); // t = 1 s: until 6 s
  mock.timers.tick(1000);
  last().push(typing('bob')); // t = 2 s, bob again: until 7 s
  assert.deepEqual(room.typingUsers(), ['bob', 'ann'], 'in the order they started');
  mock.timers.tick(3999);
  assert.deepEqual(room.typingUsers(), ['bob', 'ann']);
  mock.timers.tick(1);
  assert.deepEqual(room.typingUsers(), ['bob']);
  mock.timers.tick(999);
  assert.deepEqual(room.typingUsers(), ['bob']);
  mock.timers.tick(1);
  assert.deepEqual(room.typingUsers(), []);
  assert.deepEqual(changes, [['bob'], ['bob', 'ann'], ['bob'], []], 'one event per change: a repeated frame changes nothing');
});

test('a stop, a leave or a message from the user ends their typing at once', async () => {
  const { room, changes } = await openRoom();
  last().push(typing('ann'));
  last().push(typing('bob'));
  last().push(typing('cat'));
  last().push(typing('ann', true));
  assert.deepEqual(room.typingUsers(), ['bob', 'cat']);
  last().push({ type: 'presence', event: 'leave', user_id: 'bob' });
  assert.deepEqual(room.typingUsers(), ['cat']);
  last().push({ ...msg(1), from: { user_id: 'cat' } });
  assert.deepEqual(room.typingUsers(), []);
  last().push(typing('dan', true)); // a stop from someone not typing changes nothing
  assert.deepEqual(changes, [['ann'], ['ann', 'bob'], ['ann', 'bob', 'cat'], ['bob', 'cat'], ['cat'], []]);
  mock.timers.tick(10_000);
  assert.equal(changes.length, 6, "the stopped users' timers fire no event");
});

test('the typing event still comes for each frame, before typing_users', async () => {
  const { room } = await openRoom();
  const order: string[] = [];
  room.on('typing', (t) => order.push(`typing ${t.user_id}${t.stop ? ' stop' : ''}`));
  room.on('typing_users', (u) => order.push(`users ${u.join(',')}`));
  last().push(typing('bob'));
  last().push(typing('bob', true));
  assert.deepEqual(order, ['typing bob', 'users bob', 'typing bob stop', 'users ']);
});

test('close drops the typing users and their timers: nothing fires after it', async () => {
  const { room, changes } = await openRoom();
  last().push(typing('bob'));
  last().push(typing('ann'));
  room.close();
  assert.deepEqual(room.typingUsers(), []);
  const timers = (room as unknown as { typers: { timers: Map<string, unknown> } }).typers.timers;
  assert.equal(timers.size, 0, 'no timer left');
  mock.timers.tick(10_000);
  assert.deepEqual(changes, [['bob'], ['bob', 'ann']]);
});

test('typingUsers() is a frozen list, replaced on every change', async () => {
  const { room } = await openRoom();
  last().push(typing('bob'));
  const before = room.typingUsers();
  assert.ok(Object.isFrozen(before));
  assert.throws(() => (before as string[]).push('x'), TypeError);
  last().push(typing('ann'));
  assert.deepEqual(before, ['bob']);
  assert.notEqual(room.typingUsers(), before);
});
