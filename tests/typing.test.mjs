// Typing indicators (issue 14): `{"type":"typing"}` reaches the room's *other users* as
// `{"type":"typing","user_id":U}` (with `"stop":true` when stopping) — never the typer's own
// connections — at most once per user per TYPING_INTERVAL_MS (extras dropped silently), and it
// is never logged: no seq, no ack, nothing in history. Absence is proven with markers: a
// message published after the frames must arrive, and what arrived before it is checked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { messageWith } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import { isTyping, post, refused } from './support/chat.mjs';

let server;
before(async () => { server = await startServer({ vars: { TYPING_INTERVAL_MS: '1500' } }); });
after(async () => { await server?.stop(); });

test('typing reaches the other users, not the typer\'s own connections, and is never logged', { timeout: 30_000 }, async () => {
  const room = 'typing-basic';
  const a1 = await join(server, room, 'alice');
  const a2 = await join(server, room, 'alice');
  const b = await join(server, room, 'bob', { query: '&batch=1' });
  const marks = [a1, a2].map((c) => c.mark());
  a1.send({ type: 'typing' });
  const t = await b.next(isTyping('alice'));
  assert.deepEqual(t, { type: 'typing', user_id: 'alice' });
  // Sent after bob got the typing frame: the marker comes after anything that turn sent.
  await post(a1, 'marker-1');
  for (const [c, from, who] of [[a1, marks[0], 'the typing socket itself'], [a2, marks[1], 'the typer\'s other connection']]) {
    const before = await c.framesBefore(messageWith('marker-1'), from);
    assert.deepEqual(before.filter((f) => f.type === 'typing'), [], `${who} gets nothing`);
  }
  // No ack, no seq: the marker is seq 1, the first thing in the log.
  const history = await admin(server).get(`/rooms/${room}/messages?since=0`);
  assert.deepEqual(history.body.messages.map((m) => [m.type, m.seq]), [['message', 1]]);
  assert.deepEqual(a1.log.filter((f) => f.type === 'ack').map((f) => f.seq), [1], 'one ack: the marker\'s');
  for (const c of [a1, a2, b]) c.terminate();
});

test('at most one typing frame per user per interval; extras, stop included, are dropped silently', { timeout: 30_000 }, async () => {
  const room = 'typing-throttle';
  const a = await join(server, room, 'alice');
  const a2 = await join(server, room, 'alice');
  const b = await join(server, room, 'bob');
  const from = b.mark();
  a.send({ type: 'typing' });
  a2.send({ type: 'typing' }); // the same user from another connection: within the interval
  a.send({ type: 'typing', stop: true });
  await post(a, 'marker-2');
  const before = await b.framesBefore(messageWith('marker-2'), from);
  assert.deepEqual(before.filter((f) => f.type === 'typing'), [{ type: 'typing', user_id: 'alice' }]);
  assert.deepEqual(a.log.filter((f) => f.type === 'error'), [], 'dropped silently');
  // After the interval, the next one (a stop) goes through; bob's own interval is his.
  await sleep(1600);
  a.send({ type: 'typing', stop: true });
  assert.deepEqual(await b.next(isTyping('alice')), { type: 'typing', user_id: 'alice', stop: true });
  b.send({ type: 'typing' });
  await a.next(isTyping('bob'));
  await a2.next(isTyping('bob'));
  for (const c of [a, a2, b]) c.terminate();
});

test('a bad typing frame is refused with bad_frame and harms nobody', { timeout: 30_000 }, async () => {
  const room = 'typing-bad';
  const a = await join(server, room, 'alice');
  const b = await join(server, room, 'bob');
  const from = b.mark();
  const e = await refused(a, { type: 'typing', stop: 'yes' });
  assert.equal(e.code, 'bad_frame');
  await post(a, 'marker-3');
  const before = await b.framesBefore(messageWith('marker-3'), from);
  assert.deepEqual(before, []);
  for (const c of [a, b]) c.terminate();
});
