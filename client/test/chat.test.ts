// The chat extensions in the client: typing, markRead, edit, delete,
// react, their events, readSeq/unread, the message states rebuilt from frames, and the session
// (one token request, one backoff, one heartbeat for a user's rooms) — against the fake socket.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createSession, MessageStates, ChatError, type MessageFrame } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';

const sentOf = (s: FakeSocket) =>
  s.sent.filter((x) => x !== 'ping').map((x) => JSON.parse(x)).map((f) => (f.type === 'typing' || f.type === 'read' ? { ...f, id: undefined } : f));
const noId = <T extends object>(f: T) => ({ ...f, id: undefined });
const from = (user: string) => ({ type: 'message', room: 'r', from: { user_id: user }, data: 'x', ts: 0 });

async function openRoom(welcome: object = {}, opts: object = {}) {
  FakeSocket.all = [];
  const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, ...opts });
  await tick();
  const s = FakeSocket.all[0];
  s.accept({ user_id: 'me', ...welcome });
  return { room, s };
}

test('typing is sent at most once per interval, a stop only after a start, nothing while disconnected', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    const { room, s } = await openRoom();
    assert.equal(room.typing(true), false, 'no stop before a start');
    assert.equal(room.typing(), true);
    assert.equal(room.typing(), false);
    mock.timers.tick(1999);
    assert.equal(room.typing(true), false, 'the server would drop it too');
    mock.timers.tick(1);
    assert.equal(room.typing(true), true);
    assert.deepEqual(sentOf(s), [noId({ type: 'typing' }), noId({ type: 'typing', stop: true })]);
    assert.match(JSON.parse(s.sent[0]).id, /^t-/, 'with an id, for its refusals');
    s.drop();
    mock.timers.tick(5000);
    assert.equal(room.typing(), false, 'not connected');
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('markRead sends forward moves only; one made while disconnected goes out after the welcome', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    // readIntervalMs 0: every call is a frame (the throttle has tests of its own below).
    const { room, s } = await openRoom({ seq: 10, read_seq: 4, unread: 3 }, { readIntervalMs: 0 });
    room.markRead(3); // behind the server's cursor
    room.markRead(6);
    room.markRead(6);
    room.markRead(5);
    assert.deepEqual(sentOf(s), [noId({ type: 'read', seq: 6 })]);
    // A refused read (e.g. rate_limited) can be asked for again.
    s.push({ type: 'error', code: 'rate_limited', message: 'slow down', id: JSON.parse(s.sent[0]).id });
    room.markRead(6);
    assert.equal(sentOf(s).length, 2);
    s.drop();
    room.markRead(9);
    mock.timers.tick(20_000);
    await tick();
    const s2 = FakeSocket.all[1];
    s2.accept({ user_id: 'me', seq: 10, read_seq: 6, unread: 1 });
    assert.deepEqual(sentOf(s2), [noId({ type: 'read', seq: 9 })]);
    room.close();
  } finally {
    mock.timers.reset();
  }
});

// ---- the read throttle (issue 24): at most one `read` frame per room per `readIntervalMs` ----

const readsOf = (s: FakeSocket) => sentOf(s).filter((f) => f.type === 'read').map((f) => f.seq);

test('markRead sends at most one read frame per readIntervalMs (default 500), the newest seq asked for at the end of the interval', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    const { room, s } = await openRoom({ seq: 20 });
    room.markRead(1); // nothing sent for 500 ms: at once
    room.markRead(2);
    room.markRead(3);
    assert.deepEqual(readsOf(s), [1], 'the calls within the interval are held');
    mock.timers.tick(499);
    assert.deepEqual(readsOf(s), [1]);
    mock.timers.tick(1);
    assert.deepEqual(readsOf(s), [1, 3], 'the trailing send carries the newest seq');
    mock.timers.tick(1000);
    assert.deepEqual(readsOf(s), [1, 3], 'nothing more was asked for: nothing more sent');
    room.markRead(4); // the last frame went 1000 ms ago: at once
    mock.timers.tick(200);
    room.markRead(5);
    mock.timers.tick(299);
    room.markRead(6);
    assert.deepEqual(readsOf(s), [1, 3, 4]);
    mock.timers.tick(1);
    assert.deepEqual(readsOf(s), [1, 3, 4, 6], '500 ms after the frame before it');
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('a held read goes out on close(), after the next welcome when the connection drops, and a refused one is retried', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    const { room, s } = await openRoom({ seq: 20 });
    room.markRead(1);
    // Refused (rate_limited) while a newer seq is held: the held one still goes out.
    room.markRead(2);
    s.push({ type: 'error', code: 'rate_limited', message: 'slow down', id: JSON.parse(s.sent.at(-1)!).id });
    mock.timers.tick(500);
    assert.deepEqual(readsOf(s), [1, 2]);
    // Refused with nothing newer held: a later markRead of the same seq asks again.
    s.push({ type: 'error', code: 'rate_limited', message: 'slow down', id: JSON.parse(s.sent.at(-1)!).id });
    room.markRead(2);
    mock.timers.tick(500);
    assert.deepEqual(readsOf(s), [1, 2, 2]);
    // Held when the connection drops: sent after the next welcome, once.
    room.markRead(3);
    s.drop();
    mock.timers.tick(20_000);
    await tick();
    const s2 = FakeSocket.all[1];
    s2.accept({ user_id: 'me', seq: 20, read_seq: 2 });
    assert.deepEqual(readsOf(s), [1, 2, 2], 'nothing on the dropped socket');
    assert.deepEqual(readsOf(s2), [3]);
    // Held when the application closes the handle: sent before the socket closes.
    room.markRead(4);
    assert.deepEqual(readsOf(s2), [3]);
    room.close();
    assert.deepEqual(readsOf(s2), [3, 4]);
    assert.equal(s2.closedWith?.code, 1000);
    mock.timers.tick(1000);
    assert.deepEqual(readsOf(s2), [3, 4], 'no timer left behind');
  } finally {
    mock.timers.reset();
  }
});

test('readIntervalMs: 0 sends a read frame for every forward markRead, as before', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    const { room, s } = await openRoom({ seq: 20 }, { readIntervalMs: 0 });
    for (const seq of [1, 2, 2, 3]) room.markRead(seq);
    assert.deepEqual(readsOf(s), [1, 2, 3]);
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('readSeq and unread follow the welcome, others\' messages and this user\'s receipts from any device', async () => {
  const { room, s } = await openRoom({ seq: 5, read_seq: 2, unread: 2 });
  const counts: number[] = [];
  const receipts: unknown[] = [];
  room.on('unread', (n) => counts.push(n));
  room.on('read', (r) => receipts.push(r));
  assert.deepEqual([room.readSeq, room.unread], [2, 2]);
  s.push({ ...from('bob'), seq: 6 });
  s.push({ ...from('me'), seq: 7 }); // mine: not unread
  s.push({ ...from('bob'), seq: 8 });
  assert.equal(room.unread, 4);
  s.push({ type: 'read', user_id: 'bob', seq: 8 }); // someone else's receipt: no change here
  assert.equal(room.readSeq, 2);
  s.push({ type: 'read', user_id: 'me', seq: 6 }); // from my phone
  assert.deepEqual([room.readSeq, room.unread], [6, 1]);
  s.push({ type: 'read', user_id: 'me', seq: 8 });
  assert.deepEqual([room.readSeq, room.unread], [8, 0]);
  assert.deepEqual(counts, [3, 4, 1, 0]);
  assert.deepEqual(receipts, [
    { type: 'read', user_id: 'bob', seq: 8 },
    { type: 'read', user_id: 'me', seq: 6 },
    { type: 'read', user_id: 'me', seq: 8 },
  ]);
  room.close();
});

test('edit, delete and react go through the publish queue: acked, refused, re-sent with their ids', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    const { room, s } = await openRoom({ seq: 3 });
    const e = room.edit(1, { text: 'fixed' }, { id: 'e1' });
    const d = room.delete(2, { id: 'd1' });
    const r = room.react(1, '👍', true, { id: 'r1' });
    assert.deepEqual(sentOf(s), [
      { type: 'edit', target: 1, data: { text: 'fixed' }, id: 'e1' },
      { type: 'delete', target: 2, id: 'd1' },
      { type: 'react', target: 1, emoji: '👍', on: true, id: 'r1' },
    ]);
    s.push({ type: 'ack', id: 'e1', seq: 4 });
    s.push({ type: 'error', code: 'forbidden', message: 'only its author may change a message', id: 'd1' });
    assert.deepEqual(await e, { id: 'e1', seq: 4 });
    await assert.rejects(d, (err: ChatError) => err.code === 'forbidden' && err.id === 'd1');
    s.drop();
    const off = room.react(1, '👍', false, { id: 'r2' });
    mock.timers.tick(20_000);
    await tick();
    const s2 = FakeSocket.all[1];
    s2.accept({ user_id: 'me', seq: 5 });
    assert.deepEqual(sentOf(s2).map((f) => [f.type, f.id]), [['react', 'r1'], ['react', 'r2']], 'unacked and queued, same ids');
    s2.push({ type: 'ack', id: 'r1', seq: 5 });
    s2.push({ type: 'ack', id: 'r2', seq: 6 });
    assert.deepEqual(await Promise.all([r, off]), [{ id: 'r1', seq: 5 }, { id: 'r2', seq: 6 }]);
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('typing, edit, delete and reaction events; events are delivered once, and count for the resume point', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    const { room, s } = await openRoom({ seq: 1 });
    const seen: string[] = [];
    room.on('typing', (t) => seen.push(`typing ${t.user_id}${t.stop ? ' stop' : ''}`));
    room.on('edit', (e) => seen.push(`edit ${e.seq}→${e.target}`));
    room.on('delete', (e) => seen.push(`delete ${e.seq}→${e.target}`));
    room.on('reaction', (e) => seen.push(`reaction ${e.emoji} ${e.on} ${e.seq}→${e.target}`));
    const ev = { from: { user_id: 'bob' }, ts: 0 };
    s.push({ type: 'typing', user_id: 'bob' });
    s.push({ type: 'batch', frames: [
      { type: 'edit', seq: 2, target: 1, data: 'y', ...ev },
      { type: 'react', seq: 3, target: 1, emoji: '👍', on: true, ...ev },
      { type: 'react', seq: 3, target: 1, emoji: '👍', on: true, ...ev }, // a duplicate
      { type: 'typing', user_id: 'bob', stop: true },
    ] });
    s.drop();
    mock.timers.tick(20_000);
    await tick();
    assert.match(FakeSocket.all[1].url, /since=3/, 'events are in the log: the resume point includes them');
    FakeSocket.all[1].accept({ user_id: 'me', seq: 4 });
    FakeSocket.all[1].push({ type: 'react', seq: 3, target: 1, emoji: '👍', on: true, ...ev }); // replayed again
    FakeSocket.all[1].push({ type: 'delete', seq: 4, target: 1, ...ev });
    assert.deepEqual(seen, ['typing bob', 'edit 2→1', 'reaction 👍 true 3→1', 'typing bob stop', 'delete 4→1']);
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('message states rebuild from live frames, from history in current state, and from events seen first', () => {
  const m = (seq: number, extra: Partial<MessageFrame> = {}) => ({ ...msg(seq), ...extra }) as MessageFrame;
  const ev = (seq: number, target: number, rest: object) => ({ seq, target, from: { user_id: 'b' }, ts: 0, ...rest });
  const live = new MessageStates();
  live.message(m(1));
  live.event(ev(2, 1, { type: 'edit', data: 'new' }) as never);
  live.event(ev(3, 1, { type: 'react', emoji: '👍', on: true }) as never);
  live.event(ev(4, 1, { type: 'react', emoji: '👍', on: true, from: { user_id: 'c' } }) as never);
  live.event(ev(5, 1, { type: 'react', emoji: '👍', on: false }) as never);
  assert.deepEqual([live.bySeq.get(1)!.data, live.bySeq.get(1)!.edited, live.bySeq.get(1)!.reactions], ['new', true, { '👍': ['c'] }]);
  // A replayed state with `updated`: older events are skipped, not applied twice.
  const replay = new MessageStates();
  replay.message(m(1, { data: 'new', edited: true, reactions: { '👍': ['c'] }, updated: 5 }));
  assert.equal(replay.event(ev(3, 1, { type: 'react', emoji: '👍', on: true }) as never), undefined);
  assert.deepEqual(replay.bySeq.get(1)!.reactions, { '👍': ['c'] });
  // History read newest first: the deletion comes before its message.
  const back = new MessageStates();
  back.event(ev(7, 6, { type: 'delete' }) as never);
  const state = back.message(m(6, { data: 'secret' }));
  assert.deepEqual([state.deleted, state.data], [true, null]);
});

test('a session shares one token request, one heartbeat timer and one backoff schedule across its rooms', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    FakeSocket.all = [];
    let calls = 0;
    const session = createSession({
      url: 'ws://h', WebSocket: FakeSocket, probe: false, random: () => 0.5,
      heartbeat: { intervalMs: 1000, timeoutMs: 500 },
      getToken: async () => `tok${++calls}`,
    });
    const a = session.join('a');
    const b = session.join('b');
    assert.equal(session.join('a'), a, 'joining twice gives the same room');
    await tick();
    assert.equal(calls, 1, 'one token for both rooms');
    assert.deepEqual(FakeSocket.all.map((s) => s.token), ['tok1', 'tok1']);
    FakeSocket.all.forEach((s, i) => s.accept({ room: ['a', 'b'][i] }));
    assert.deepEqual([...session.rooms.keys()], ['a', 'b']);
    mock.timers.tick(1000);
    assert.deepEqual(FakeSocket.all.map((s) => s.sent.filter((x) => x === 'ping').length), [1, 1], 'pinged together');
    FakeSocket.all.forEach((s) => s.push('pong'));
    // Both drop together: one retry for both, at the same time, with one fresh token.
    const retries: number[][] = [];
    a.on('retry', (r) => retries.push([r.attempt, r.delayMs]));
    b.on('retry', (r) => retries.push([r.attempt, r.delayMs]));
    FakeSocket.all[0].drop();
    mock.timers.tick(100);
    FakeSocket.all[1].drop();
    assert.deepEqual(retries, [[1, 375], [1, 275]], 'the second waits for the same retry');
    mock.timers.tick(275);
    await tick();
    assert.equal(FakeSocket.all.length, 4);
    assert.equal(calls, 1, 'the token is still good: no refresh needed');
    session.leave('a');
    assert.equal(a.state, 'closed');
    assert.deepEqual([...session.rooms.keys()], ['b']);
    session.close();
    assert.equal(b.state, 'closed');
  } finally {
    mock.timers.reset();
  }
});

test('rooms of a session that need a fresh token together share one getToken call', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    FakeSocket.all = [];
    let calls = 0;
    const session = createSession({ url: 'ws://h', WebSocket: FakeSocket, probe: false, heartbeat: { intervalMs: 0 }, getToken: async () => `t${++calls}` });
    session.join('a');
    session.join('b');
    await tick();
    mock.timers.tick(5000);
    // Both refused before their welcome (how an expired token looks): each asks for a fresh one.
    FakeSocket.all[0].drop();
    FakeSocket.all[1].drop();
    mock.timers.tick(20_000);
    await tick();
    assert.equal(calls, 2, 'one refresh for both rooms');
    assert.deepEqual(FakeSocket.all.slice(2).map((s) => s.token), ['t2', 't2']);
    session.close();
  } finally {
    mock.timers.reset();
  }
});
