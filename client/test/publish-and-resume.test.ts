// Unit tests of the client: backoff, resume bookkeeping, queue bounds, ack/error correlation,
// and reconnect behaviour against a scripted fake WebSocket (no server, no network).
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { ChatError, tokenExpiry, connect, type Ack } from '../src/index.js';
import { backoffDelay, ResumeTracker, OutboundQueue } from '../src/internal.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';

test('backoff grows exponentially, is capped, and is jittered within bounds', () => {
  const opts = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
  assert.equal(backoffDelay(0, opts, () => 0), 50);
  assert.equal(backoffDelay(0, opts, () => 0.999999), 99.99995);
  assert.equal(backoffDelay(3, opts, () => 1), 800);
  assert.equal(backoffDelay(10, opts, () => 1), 1000, 'capped');
  assert.equal(backoffDelay(10, opts, () => 0), 500, 'jitter keeps at least half');
  assert.equal(backoffDelay(2, { ...opts, jitter: 0 }, () => 0.7), 400, 'no jitter');
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4, opts)));
  assert.ok(spread.size > 40, 'random jitter spreads clients apart');
});

test('resume tracking: first welcome sets the start, replays and live messages never repeat', () => {
  const r = new ResumeTracker();
  assert.equal(r.since, undefined);
  r.welcome(10);
  assert.equal(r.since, 10);
  assert.equal(r.accept(10), false, 'already seen');
  assert.equal(r.accept(11), true);
  r.welcome(50); // a reconnect's welcome does not skip the replay
  assert.equal(r.since, 11);
  assert.deepEqual([12, 12, 13, 11].map((s) => r.accept(s)), [true, false, true, false]);
  r.gap(20);
  assert.equal(r.since, 20);
  r.gap(5);
  assert.equal(r.since, 20, 'a gap never moves backwards');
  const fromHistory = new ResumeTracker(7);
  fromHistory.welcome(100);
  assert.equal(fromHistory.since, 7, 'an explicit since wins over welcome');
});

function pending(id: string, log: string[]) {
  return {
    id,
    frame: `{"id":"${id}"}`,
    resolve: (a: Ack) => log.push(`ok ${a.id} ${a.seq}`),
    reject: (e: ChatError) => log.push(`err ${e.id} ${e.code}`),
  };
}

test('the outbound queue is bounded, ordered, and settles by id', () => {
  const log: string[] = [];
  const q = new OutboundQueue(2);
  q.add(pending('a', log));
  q.add(pending('b', log));
  q.add(pending('c', log));
  assert.deepEqual(log, ['err c queue_full']);
  q.add(pending('a', log));
  assert.equal(log[1], 'err a duplicate_id');
  assert.deepEqual(q.frames(), ['{"id":"a"}', '{"id":"b"}']);
  assert.equal(q.ack('b', 7), true);
  assert.equal(q.ack('b', 7), false, 'settled once');
  assert.equal(q.fail('a', new ChatError('too_large', 'x', 'a')), true);
  assert.equal(q.ack(undefined, 1), false);
  assert.deepEqual(log.slice(2), ['ok b 7', 'err a too_large']);
  assert.equal(q.size, 0);
});

test('tokenExpiry reads exp from a JWT and tolerates junk', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 1234 })).toString('base64url');
  assert.equal(tokenExpiry(`h.${payload}.s`), 1234);
  assert.equal(tokenExpiry('junk'), undefined);
  assert.equal(tokenExpiry('a.!!!.b'), undefined);
});

test('reconnects with since=last seq, delivers each message once, re-sends unacked publishes with their ids', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    FakeSocket.all = [];
    const room = connect({ url: 'http://h', room: 'r', token: 't', WebSocket: FakeSocket, random: () => 0.5, heartbeat: { intervalMs: 0 } });
    const seen: number[] = [];
    const states: string[] = [];
    room.on('message', (m) => seen.push(m.seq));
    room.on('state', (s) => states.push(s));
    await tick();
    const s1 = FakeSocket.all[0];
    assert.equal(s1.url, 'ws://h/rooms/r/ws?batch=1', 'no token in the URL');
    assert.deepEqual(s1.protocols, ['edge-chat.v1', 'edge-chat.token.t'], 'the token in a subprotocol');
    s1.accept({ seq: 4 });
    s1.push(msg(5));
    s1.push(msg(6));
    const p1 = room.publish('one', { id: 'p1' });
    s1.push({ type: 'ack', id: 'p1', seq: 7 });
    assert.deepEqual(await p1, { id: 'p1', seq: 7 });
    const p2 = room.publish('two', { id: 'p2' }); // sent, never acked
    s1.drop();
    assert.equal(room.state, 'reconnecting');
    const p3 = room.publish('three', { id: 'p3' }); // queued while down
    mock.timers.tick(10_000);
    await tick();
    const s2 = FakeSocket.all[1];
    assert.match(s2.url, /since=6/);
    s2.accept({ seq: 9 });
    assert.deepEqual(s2.publishes().map((f) => f.id), ['p2', 'p3'], 'unacked and queued, in order, same ids');
    s2.push(msg(6)); // a duplicate the client must drop
    s2.push(msg(7));
    s2.push(msg(8));
    s2.push({ type: 'ack', id: 'p2', seq: 8 });
    s2.push({ type: 'ack', id: 'p3', seq: 9 });
    s2.push(msg(9));
    assert.deepEqual(await Promise.all([p2, p3]), [{ id: 'p2', seq: 8 }, { id: 'p3', seq: 9 }]);
    assert.deepEqual(seen, [5, 6, 7, 8, 9]);
    assert.deepEqual(states, ['open', 'reconnecting', 'open']);
    room.close();
    assert.equal(room.state, 'closed');
  } finally {
    mock.timers.reset();
  }
});

test('batch frames are unwrapped in order: messages, acks and presence as if sent one by one', async () => {
  FakeSocket.all = [];
  const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 } });
  const seen: number[] = [];
  const members: string[][] = [];
  room.on('message', (m) => seen.push(m.seq));
  room.on('members', (ms) => members.push(ms.map((m) => m.user_id)));
  await tick();
  FakeSocket.all[0].accept({ seq: 1 });
  const p = room.publish('x', { id: 'a' });
  FakeSocket.all[0].push({
    type: 'batch',
    frames: [{ type: 'ack', id: 'a', seq: 2 }, msg(2), msg(2), msg(3), { type: 'presence', event: 'join', user_id: 'v' }],
  });
  assert.deepEqual(await p, { id: 'a', seq: 2 });
  assert.deepEqual(seen, [2, 3], 'in order, the duplicate dropped');
  assert.deepEqual(members.at(-1), ['v']);
  room.close();

  const plain = connect({ url: 'ws://h', room: 'r', token: 't', batch: false, WebSocket: FakeSocket, heartbeat: { intervalMs: 0 } });
  await tick();
  assert.doesNotMatch(FakeSocket.all[1].url, /batch/);
  plain.close();
});

test('error frames reject the publish with the same id; others stay pending', async () => {
  FakeSocket.all = [];
  const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 } });
  await tick();
  FakeSocket.all[0].accept({});
  const a = room.publish('x'.repeat(10), { id: 'a' });
  const b = room.publish('y', { id: 'b' });
  const errors: string[] = [];
  room.on('error', (e) => errors.push(e.code));
  FakeSocket.all[0].push({ type: 'error', code: 'too_large', message: 'no', id: 'a' });
  await assert.rejects(a, (e: ChatError) => e.code === 'too_large' && e.id === 'a');
  FakeSocket.all[0].push({ type: 'ack', id: 'b', seq: 1 });
  assert.deepEqual(await b, { id: 'b', seq: 1 });
  assert.deepEqual(errors, ['too_large']);
  room.close();
  await assert.rejects(room.publish('late'), (e: ChatError) => e.code === 'closed');
});

test('getToken is called again when the token has expired or a connection attempt failed', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    FakeSocket.all = [];
    const exp = (s: number) => `h.${Buffer.from(JSON.stringify({ exp: s })).toString('base64url')}.s`;
    const calls: string[] = [];
    let next = exp(Math.floor(Date.now() / 1000) + 3600);
    const room = connect({
      url: 'ws://h', room: 'r', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, probe: false,
      getToken: () => { calls.push(next); return next; },
    });
    await tick();
    assert.equal(calls.length, 1);
    FakeSocket.all[0].drop(); // refused before open (e.g. 401): ask for a fresh token
    mock.timers.tick(60_000);
    await tick();
    assert.equal(calls.length, 2);
    FakeSocket.all[1].accept({});
    // Now the current token expires while connected, and the connection drops.
    mock.timers.tick(3600_000);
    next = exp(Math.floor(Date.now() / 1000) + 7200);
    FakeSocket.all[1].drop();
    mock.timers.tick(60_000);
    await tick();
    assert.equal(calls.length, 3);
    assert.equal(FakeSocket.all[2].token, next);
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('the heartbeat replaces a connection that stops answering', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    FakeSocket.all = [];
    const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 1000, timeoutMs: 500 } });
    await tick();
    const s1 = FakeSocket.all[0];
    s1.accept({});
    mock.timers.tick(1000);
    assert.deepEqual(s1.sent, ['ping']);
    s1.push('pong');
    mock.timers.tick(1000); // ping again, answered
    s1.push('pong');
    mock.timers.tick(1000); // ping, silence...
    mock.timers.tick(600);
    assert.equal(room.state, 'reconnecting');
    mock.timers.tick(20_000);
    await tick();
    assert.equal(FakeSocket.all.length, 2, 'a new connection was opened');
    room.close();
  } finally {
    mock.timers.reset();
  }
});

test('members follow welcome and presence', async () => {
  FakeSocket.all = [];
  const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 } });
  await tick();
  const updates: string[][] = [];
  room.on('members', (m) => updates.push(m.map((x) => x.user_id)));
  FakeSocket.all[0].accept({ members: [{ user_id: 'u', connections: 1 }] });
  FakeSocket.all[0].push({ type: 'presence', event: 'join', user_id: 'b' });
  FakeSocket.all[0].push({ type: 'presence', event: 'join', user_id: 'a' });
  FakeSocket.all[0].push({ type: 'presence', event: 'leave', user_id: 'b' });
  assert.deepEqual(updates, [['u'], ['b', 'u'], ['a', 'b', 'u'], ['a', 'u']]);
  assert.equal(room.memberCount, 2);
  room.close();
});

test('a truncated welcome keeps memberCount exact while members lists the first page', async () => {
  FakeSocket.all = [];
  const room = connect({ url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 } });
  await tick();
  FakeSocket.all[0].accept({ members: [{ user_id: 'a', connections: 1 }], member_count: 500, truncated: true });
  assert.equal(room.memberCount, 500);
  FakeSocket.all[0].push({ type: 'presence', event: 'join', user_id: 'zz' });
  FakeSocket.all[0].push({ type: 'presence', event: 'leave', user_id: 'm' });
  FakeSocket.all[0].push({ type: 'presence', event: 'leave', user_id: 'n' });
  assert.equal(room.memberCount, 499);
  assert.deepEqual(room.members.map((m) => m.user_id), ['a', 'zz']);
  room.close();
});
