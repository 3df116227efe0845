// A room typed with its message data: `connect<T>` and `session.join<T>` give a `Room<T>` whose
// `publish` and `edit` take a T and whose `message`/`edit` events, history pages and message
// states carry one (null for a deleted message). Untyped rooms are `Room<unknown>`, as before.
// Most of this is proven by the compiler: a line marked @ts-expect-error that compiles fails the
// build, and so does an `Equal` check that does not hold.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, createSession, MessageStates, type ConnectOptions, type EditFrame, type HistoryPage, type MessageFrame, type Room,
} from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { fakeHistory } from '../test-support/history.js';

interface Chat {
  text: string;
}

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Equal<A, B>) => proof;

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const opened: Room<unknown>[] = [];

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  FakeSocket.all = [];
});

test('connect<T>: publish and edit take a T; message and edit events and history pages carry one', async () => {
  const history = fakeHistory([1]);
  const room = connect<Chat>(base({ fetch: history }));
  opened.push(room);
  same<typeof room, Room<Chat>>(true);
  const texts: string[] = [];
  room.on('message', (m) => {
    same<typeof m, MessageFrame<Chat>>(true);
    same<typeof m.data, Chat | null>(true); // null: a replayed message deleted meanwhile
    texts.push(m.data?.text ?? '(deleted)');
  });
  room.once('edit', (e) => {
    same<typeof e, EditFrame<Chat>>(true);
    same<typeof e.data, Chat | null>(true); // null: replayed after the message was deleted
    texts.push(`edit ${e.data?.text}`);
  });
  await tick();
  last().accept({ seq: 0 });
  const sent = room.publish({ text: 'hi' }, { id: 'p' });
  void room.edit(1, { text: 'fixed' }, { id: 'e' }).catch(() => {});
  // @ts-expect-error: not a Chat
  const wrong = () => room.publish({ txt: 'hi' });
  // @ts-expect-error: not a Chat
  const wrongEdit = () => room.edit(1, 'hi');
  void [wrong, wrongEdit];
  assert.deepEqual(last().publishes().map((f) => f.data), [{ text: 'hi' }, { text: 'fixed' }]);
  last().push({ type: 'ack', id: 'p', seq: 1 });
  await sent;
  last().push({ ...msg(1), data: { text: 'hi' } });
  last().push({ ...msg(2), data: null, deleted: true });
  last().push({ type: 'edit', seq: 3, target: 1, from: { user_id: 'x' }, data: { text: 'fixed' }, ts: 0 });
  assert.deepEqual(texts, ['hi', '(deleted)', 'edit fixed']);
  const page = await room.history({ since: 0 });
  same<typeof page, HistoryPage<Chat>>(true);
  assert.equal(page.messages.length, 1);
});

test('session.join<T> gives a Room<T>; MessageStates<T> keeps T data', async () => {
  const session = createSession({ url: 'ws://h', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, browserEvents: false });
  const room = session.join<Chat>('lobby');
  same<typeof room, Room<Chat>>(true);
  // @ts-expect-error: not a Chat
  const wrong = () => room.publish(42);
  void wrong;
  const states = new MessageStates<Chat>();
  const state = states.message({ ...msg(1), type: 'message', data: { text: 'a' } });
  same<typeof state.data, Chat | null>(true);
  assert.equal(state.data?.text, 'a');
  session.close();
});

test('an untyped room is a Room<unknown>: any data goes, and events carry unknown', async () => {
  const room = connect(base());
  opened.push(room);
  same<typeof room, Room<unknown>>(true);
  same<typeof room, Room>(true);
  room.on('message', (m) => {
    same<typeof m.data, unknown>(true);
    // @ts-expect-error: unknown data must be narrowed first
    void m.data.text;
  });
  void room.publish(42).catch(() => {});
  void room.publish({ any: ['thing'] }).catch(() => {});
});
