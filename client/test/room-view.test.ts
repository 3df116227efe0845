// RoomView: a room as a UI shows it — one frozen snapshot per change (what React's
// useSyncExternalStore and the hooks of @edge-chat/client/react read), starting with the recent
// past from history, messages in their current state, a message that did not change keeping its
// identity, and nothing heard once disposed.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, RoomView, type ConnectOptions } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { fakeHistory } from '../test-support/history.js';

afterEach(() => {
  FakeSocket.all = [];
});

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, ...extra,
});

test('a view starts with the recent past from history, then follows live messages in seq order', async () => {
  const history = fakeHistory([1, 2, 3]);
  const room = connect(base({ fetch: history }));
  const view = new RoomView(room, { history: 2 });
  await tick();
  let changes = 0;
  view.subscribe(() => changes++);
  FakeSocket.all[0].accept({ seq: 3 });
  await tick(5);
  assert.deepEqual(view.getSnapshot().messages.map((m) => m.seq), [2, 3], 'the newest 2 from history');
  FakeSocket.all[0].push(msg(4));
  const s = view.getSnapshot();
  assert.deepEqual([s.state, s.messages.map((m) => m.seq)], ['open', [2, 3, 4]]);
  assert.ok(changes >= 3, `a new snapshot per change (${changes})`);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.messages), 'snapshots are never mutated');
  room.close();
});

test('edits, deletions and reactions are applied; an unchanged message keeps its identity', async () => {
  const room = connect(base({ fetch: fakeHistory([]) }));
  const view = new RoomView(room, { history: 0 });
  await tick();
  FakeSocket.all[0].accept({ seq: 0, user_id: 'u' });
  FakeSocket.all[0].push(msg(1));
  FakeSocket.all[0].push(msg(2));
  const [one, two] = view.getSnapshot().messages;
  FakeSocket.all[0].push({ type: 'edit', seq: 3, target: 2, from: { user_id: 'x' }, data: 'fixed', ts: 0 });
  FakeSocket.all[0].push({ type: 'react', seq: 4, target: 2, emoji: '👍', on: true, from: { user_id: 'y' }, ts: 0 });
  let [first, second] = view.getSnapshot().messages;
  assert.equal(first, one, 'message 1 did not change: the same object');
  assert.notEqual(second, two, 'message 2 changed: a new object');
  assert.deepEqual([second.data, second.edited, second.reactions], ['fixed', true, { '👍': ['y'] }]);
  assert.ok(Object.isFrozen(second) && Object.isFrozen(second.reactions['👍']));
  FakeSocket.all[0].push({ type: 'delete', seq: 5, target: 2, from: { user_id: 'x' }, ts: 0 });
  [first, second] = view.getSnapshot().messages;
  assert.deepEqual([second.deleted, second.data, second.reactions], [true, null, {}]);
  room.close();
});

test('the view keeps the newest `limit` messages and follows state, members, typing and unread', async () => {
  const room = connect(base({ fetch: fakeHistory([]) }));
  const view = new RoomView(room, { history: 0, limit: 2 });
  await tick();
  FakeSocket.all[0].accept({ seq: 0, user_id: 'me', members: [{ user_id: 'me', connections: 1 }], unread: 0 });
  for (const seq of [1, 2, 3]) FakeSocket.all[0].push(msg(seq));
  FakeSocket.all[0].push({ type: 'presence', event: 'join', user_id: 'x' });
  FakeSocket.all[0].push({ type: 'typing', user_id: 'x' });
  const s = view.getSnapshot();
  assert.deepEqual(s.messages.map((m) => m.seq), [2, 3]);
  assert.deepEqual([s.members.map((m) => m.user_id), s.typing, s.unread], [['me', 'x'], ['x'], 3]);
  room.close();
  assert.equal(view.getSnapshot().state, 'closed');
});

test('a big room: member_count frames move the view\'s count, the list stays as it was', async () => {
  const room = connect(base({ fetch: fakeHistory([]) }));
  const view = new RoomView(room, { history: 0 });
  await tick();
  const counts: number[] = [];
  room.on('member_count', (n) => counts.push(n));
  FakeSocket.all[0].accept({ seq: 0, user_id: 'me', members: [{ user_id: 'me', connections: 1 }], member_count: 1500, truncated: true });
  FakeSocket.all[0].push({ type: 'member_count', count: 1502 });
  const s = view.getSnapshot();
  assert.deepEqual([s.memberCount, s.members.map((m) => m.user_id), counts], [1502, ['me'], [1502]]);
  room.close();
});

test('a disposed view hears nothing more (the room is not closed by it)', async () => {
  const room = connect(base({ fetch: fakeHistory([]) }));
  const view = new RoomView(room, { history: 0 });
  await tick();
  let changes = 0;
  view.subscribe(() => changes++);
  FakeSocket.all[0].accept({ seq: 0 });
  view.dispose();
  const before = changes;
  FakeSocket.all[0].push(msg(1));
  assert.equal(changes, before);
  assert.equal(room.state, 'open');
  room.close();
});
