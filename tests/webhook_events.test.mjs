// Webhooks (issue 15): every room event reaches the application's backend — a real HTTP
// receiver started here — signed (the signature is recomputed with node:crypto), as
// `{"events":[...]}` with a unique id, a type, a time and the room on each; a room's events
// in order, batched under a burst with one POST in flight per room; and, with WEBHOOK_URL
// unset, nothing at all: no outbox table anywhere, however much happens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck, presenceOf, range } from './support/frames.mjs';
import {
  WEBHOOK_SECRET, ofRoom, seenOnce, startReceiver, tablesIn, verifySignature, webhookVars,
} from './support/webhooks.mjs';

const ALL_KINDS = 'message,presence,occupancy,moderation,direct_undelivered';

async function withHooks(vars, fn, receiverOpts) {
  const receiver = await startReceiver(receiverOpts);
  const server = await startServer({ vars: webhookVars(receiver, vars) });
  try {
    return await fn(server, receiver, admin(server));
  } finally {
    await server.stop();
    await receiver.stop();
  }
}

/** What an event says, without its id and time (which the test checks separately). */
const gist = (e) => {
  const { id, ts, ...rest } = e;
  return rest;
};

/** The log's frames: a message and the events about one. */
const LOGGED = ['message', 'edit', 'delete', 'react'];
/** The frame a log event was made from: its fields, its `client_id` as `id`, `room` only on a
 * message (edits, deletions and reactions name no room). */
const asFrame = ({ id, client_id: clientId, room, ...rest }) => ({
  ...rest, ...(rest.type === 'message' ? { room } : {}), ...(clientId !== undefined ? { id: clientId } : {}),
});

test('every event type arrives signed, with a unique id, in the order the room saw it', { timeout: 60_000 }, () => withHooks({ WEBHOOK_EVENTS: ALL_KINDS }, async (server, receiver, api) => {
  const ROOM = 'hooked';
  const OTHER = 'hooked-too';
  const started = Date.now();
  const alice = await join(server, ROOM, 'alice');
  const bob = await join(server, ROOM, 'bob');
  await alice.next(presenceOf('join', 'bob'));
  // Carol will be kicked; dave, here and in another room, disconnected everywhere.
  const carol = await join(server, ROOM, 'carol');
  await alice.next(presenceOf('join', 'carol'));
  const dave = await join(server, ROOM, 'dave');
  await alice.next(presenceOf('join', 'dave'));
  const daveElsewhere = await join(server, OTHER, 'dave');
  const id = 'm-1';
  alice.send({ type: 'publish', data: { text: 'hi' }, id });
  const seq = (await alice.next(isAck(id))).seq;
  const post = await api.post(`/rooms/${ROOM}/messages`, { data: 'from the server' });
  assert.equal(post.status, 200);
  // The events about a message: an edit, a reaction (its repeat changes nothing: no event), a
  // deletion by the server API.
  alice.send({ type: 'edit', target: seq, data: { text: 'hi!' }, id: 'e-1' });
  assert.equal((await alice.next(isAck('e-1'))).seq, seq + 2);
  for (const r of ['r-1', 'r-2']) {
    alice.send({ type: 'react', target: seq, emoji: '👍', on: true, id: r });
    await alice.next(isAck(r));
  }
  // (Once the server post's event is delivered: a deletion erases the data of events still
  // waiting, and this test checks the event as it was sent.)
  await receiver.waitFor((evs) => evs.some((e) => e.type === 'message' && e.seq === seq + 1));
  assert.equal((await api.call('DELETE', `/rooms/${ROOM}/messages/${seq + 1}`)).status, 200);
  // A direct to a user with no connection (users who have connected before), from a client
  // and from the server; one to a user who is online is no event.
  await seenOnce(server, 'nobody');
  await seenOnce(server, 'offline');
  alice.send({ type: 'direct', to: { user_id: 'nobody' }, data: 'psst', id: 'd-1' });
  assert.equal((await alice.next((f) => f.type === 'error' && f.id === 'd-1')).code, 'not_found');
  assert.equal((await api.post('/users/offline/messages', { data: { push: 1 } })).body.delivered, 0);
  assert.equal((await api.post('/users/bob/messages', { data: 'online' })).body.delivered, 1);
  // Moderation: a ban (bob leaves), its lifting, a plain kick (carol), a user disconnected
  // everywhere (dave: each of his rooms kicks him), a revocation, a disconnect (the room empties).
  assert.equal((await api.post(`/rooms/${ROOM}/kick`, { user_id: 'bob', ban_seconds: 60, reason: 'spam' })).body.closed, 1);
  assert.equal((await api.call('DELETE', `/rooms/${ROOM}/bans/bob`)).body.removed, true);
  assert.equal((await api.post(`/rooms/${ROOM}/kick`, { user_id: 'carol', reason: 'too loud' })).body.closed, 1);
  assert.equal((await api.post('/users/dave/disconnect', { reason: 'bye' })).body.closed, 2);
  for (const user of ['bob', 'carol', 'dave']) await alice.next(presenceOf('leave', user));
  assert.equal((await api.post('/users/alice/revoke', { before: 1 })).body.closed, 0, 'her token is newer');
  assert.equal((await api.post(`/connections/${alice.connectionId}/disconnect`, {})).body.closed, 1);

  // The room's own events (a direct_undelivered names the sender's room too, but comes from the
  // recipient's registry shard).
  const ofTheRoom = (evs) => ofRoom(evs, ROOM).filter((e) => e.type !== 'direct_undelivered');
  // Each room's last event is its `room_vacated`: once both came, everything before them did.
  const vacated = (evs) => evs.some((e) => e.type === 'room_vacated');
  const events = await receiver.waitFor((evs) => vacated(ofTheRoom(evs)) && vacated(ofRoom(evs, OTHER))
    && evs.filter((e) => e.type === 'direct_undelivered').length >= 2);
  const aliceFrom = { user_id: 'alice', connection_id: alice.connectionId };
  const until = ofTheRoom(events).find((e) => e.action === 'ban')?.until;
  assert.deepEqual(ofTheRoom(events).map(gist), [
    { type: 'room_occupied', room: ROOM },
    { type: 'presence', room: ROOM, event: 'join', user_id: 'alice' },
    { type: 'presence', room: ROOM, event: 'join', user_id: 'bob' },
    { type: 'presence', room: ROOM, event: 'join', user_id: 'carol' },
    { type: 'presence', room: ROOM, event: 'join', user_id: 'dave' },
    { type: 'message', room: ROOM, seq, from: aliceFrom, data: { text: 'hi' }, client_id: id },
    { type: 'message', room: ROOM, seq: seq + 1, from: { server: true }, data: 'from the server' },
    { type: 'edit', room: ROOM, seq: seq + 2, target: seq, from: aliceFrom, data: { text: 'hi!' }, client_id: 'e-1' },
    { type: 'react', room: ROOM, seq: seq + 3, target: seq, emoji: '👍', on: true, from: aliceFrom, client_id: 'r-1' },
    { type: 'delete', room: ROOM, seq: seq + 4, target: seq + 1, from: { server: true } },
    { type: 'moderation', room: ROOM, action: 'ban', user_id: 'bob', reason: 'spam', until, closed: 1 },
    { type: 'presence', room: ROOM, event: 'leave', user_id: 'bob' },
    { type: 'moderation', room: ROOM, action: 'unban', user_id: 'bob', closed: 0 },
    { type: 'moderation', room: ROOM, action: 'kick', user_id: 'carol', reason: 'too loud', closed: 1 },
    { type: 'presence', room: ROOM, event: 'leave', user_id: 'carol' },
    { type: 'moderation', room: ROOM, action: 'kick', user_id: 'dave', reason: 'bye', closed: 1 },
    { type: 'presence', room: ROOM, event: 'leave', user_id: 'dave' },
    { type: 'moderation', room: ROOM, action: 'revoke', user_id: 'alice', before: 1, closed: 0 },
    { type: 'moderation', room: ROOM, action: 'disconnect', user_id: 'alice', connection_id: alice.connectionId, closed: 1 },
    { type: 'presence', room: ROOM, event: 'leave', user_id: 'alice' },
    { type: 'room_vacated', room: ROOM },
  ]);
  // The other room's part of dave's disconnect: its own kick event.
  assert.deepEqual(ofRoom(events, OTHER).map(gist), [
    { type: 'room_occupied', room: OTHER },
    { type: 'presence', room: OTHER, event: 'join', user_id: 'dave' },
    { type: 'moderation', room: OTHER, action: 'kick', user_id: 'dave', reason: 'bye', closed: 1 },
    { type: 'presence', room: OTHER, event: 'leave', user_id: 'dave' },
    { type: 'room_vacated', room: OTHER },
  ]);
  assert.ok(until > started + 55_000 && until < Date.now() + 61_000, 'the ban ends in 60 s');
  const undelivered = events.filter((e) => e.type === 'direct_undelivered').map(gist);
  assert.deepEqual(undelivered.sort((a, b) => a.user_id.localeCompare(b.user_id)), [
    { type: 'direct_undelivered', room: ROOM, user_id: 'nobody', direct: { type: 'direct', from: { user_id: 'alice', connection_id: alice.connectionId }, data: 'psst' } },
    { type: 'direct_undelivered', room: null, user_id: 'offline', direct: { type: 'direct', from: { server: true }, data: { push: 1 } } },
  ]);
  // A log event carries its frame's fields exactly as members of the room got them.
  assert.deepEqual(events.filter((e) => LOGGED.includes(e.type)).map(asFrame), alice.log.filter((f) => LOGGED.includes(f.type)));

  for (const e of events) {
    assert.equal(typeof e.id, 'string');
    assert.ok(e.ts >= started && e.ts <= Date.now(), `ts ${e.ts} is the time of the event`);
  }
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
  for (const p of receiver.posts) {
    assert.equal(p.method, 'POST');
    assert.equal(p.headers['content-type'], 'application/json');
    assert.ok(verifySignature(WEBHOOK_SECRET, p.headers['x-edge-chat-signature'], p.body), `POST ${p.n} is signed`);
    assert.ok(!verifySignature('another secret', p.headers['x-edge-chat-signature'], p.body));
    const t = Number(/t=(\d+)/.exec(p.headers['x-edge-chat-signature'])[1]);
    assert.ok(Math.abs(t * 1000 - p.at) < 5_000, 'signed at the time it was sent');
    assert.deepEqual(Object.keys(p.json), ['events']);
    assert.equal(p.rooms.length, 1, 'a POST carries one object\'s events');
  }
  assert.equal(ofTheRoom(receiver.delivered()).length, 21, 'nothing else, nothing twice');
  assert.equal(ofRoom(receiver.delivered(), OTHER).length, 5, 'nothing else, nothing twice');
  for (const c of [bob, carol, dave, daveElsewhere]) c.terminate();
}));

test('only the kinds in WEBHOOK_EVENTS; by default messages, occupancy and undelivered directs', { timeout: 60_000 }, () => withHooks({}, async (server, receiver, api) => {
  const ROOM = 'defaults';
  const a = await join(server, ROOM, 'alice');
  await api.post(`/rooms/${ROOM}/kick`, { user_id: 'nobody-here' });
  await seenOnce(server, 'gone');
  await api.post('/users/gone/messages', { data: 1 });
  a.send({ type: 'publish', data: 'last', id: 'last' });
  await a.next(isAck('last'));
  const events = (await receiver.waitFor((evs) => evs.some((e) => e.type === 'message') && evs.some((e) => e.type === 'direct_undelivered')))
    .filter((e) => e.room !== 'seen-once');
  assert.deepEqual(events.map((e) => e.type).sort(), ['direct_undelivered', 'message', 'room_occupied'], 'no presence, no moderation');
  a.terminate();
}));

test('a burst is delivered in seq order per room, in batches, one POST in flight per room', { timeout: 90_000 }, () => withHooks({
  WEBHOOK_EVENTS: 'message', RATE_LIMIT_BURST: '10000', RATE_LIMIT_PER_SECOND: '10000',
}, async (server, receiver) => {
  const ROOMS = ['burst-a', 'burst-b'];
  const PER = 150;
  const publishers = [];
  for (const room of ROOMS) {
    for (let i = 0; i < 2; i++) publishers.push(await join(server, room, `p${i}`));
  }
  await Promise.all(publishers.map(async (p, k) => {
    for (let n = 1; n <= PER; n++) p.send({ type: 'publish', data: n, id: `${k}-${n}` });
    await p.next(isAck(`${k}-${PER}`));
  }));
  const events = await receiver.waitFor((evs) => evs.length >= ROOMS.length * 2 * PER, { ms: 30_000 });
  for (const room of ROOMS) {
    const seqs = ofRoom(events, room).map((e) => e.seq);
    assert.deepEqual(seqs, range(1, 2 * PER), `${room}: every message once, in seq order`);
  }
  assert.equal(events.length, ROOMS.length * 2 * PER, 'nothing twice');
  const sizes = receiver.posts.map((p) => p.json.events.length);
  assert.ok(Math.max(...sizes) > 1 && receiver.posts.length < events.length / 2,
    `batched: ${receiver.posts.length} POSTs for ${events.length} events (largest ${Math.max(...sizes)})`);
  assert.ok(Math.max(...sizes) <= 100, 'at most 100 events per POST');
  assert.equal(receiver.overlap, 0, 'a room never had two POSTs open at once');
  publishers.forEach((p) => p.terminate());
}, { respond: () => ({ status: 200, after: 15 }) }));

test('large events are split into POSTs of at most 256 KiB, still in order', { timeout: 60_000 }, () => withHooks({
  WEBHOOK_EVENTS: 'message',
}, async (server, receiver) => {
  const a = await join(server, 'large', 'alice');
  const big = 'x'.repeat(60_000);
  for (let i = 1; i <= 12; i++) a.send({ type: 'publish', data: { i, big }, id: `L${i}` });
  await a.next(isAck('L12'));
  const events = await receiver.waitFor((evs) => evs.length >= 12);
  assert.deepEqual(events.map((e) => e.data.i), range(1, 12));
  for (const p of receiver.posts) {
    assert.ok(Buffer.byteLength(p.body) <= 256 * 1024, `a POST of ${Buffer.byteLength(p.body)} bytes`);
  }
  assert.ok(receiver.posts.some((p) => p.json.events.length > 1), 'several large events still share a POST');
  a.terminate();
}, { respond: () => ({ status: 200, after: 50 }) }));

test('with WEBHOOK_URL unset nothing is recorded: no outbox table in any object', { timeout: 60_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-nohooks-'));
  const receiver = await startReceiver();
  // Everything but the URL: the events, the secret, a receiver that would answer.
  const server = await startServer({ persistDir, vars: { WEBHOOK_SECRET, WEBHOOK_EVENTS: ALL_KINDS } });
  try {
    const api = admin(server);
    const a = await join(server, 'quiet', 'alice');
    const b = await join(server, 'quiet', 'bob');
    a.send({ type: 'publish', data: 1, id: 'q1' });
    await a.next(isAck('q1'));
    a.send({ type: 'direct', to: { user_id: 'nobody' }, data: 1, id: 'q2' });
    await a.next((f) => f.type === 'error' && f.id === 'q2');
    await api.post('/users/nobody/messages', { data: 1 });
    await api.post('/rooms/quiet/kick', { user_id: 'bob', ban_seconds: 5 });
    await a.next(presenceOf('leave', 'bob'));
    const dead = await api.get('/rooms/quiet/webhooks/dead');
    assert.deepEqual([dead.status, dead.body], [200, { batches: [], total: 0 }]);
    const retry = await api.post('/rooms/quiet/webhooks/dead/retry');
    assert.deepEqual([retry.status, retry.body], [200, { requeued: 0, batches: 0 }]);
    a.terminate(); b.terminate();
  } finally {
    await server.stop();
    await receiver.stop();
  }
  try {
    const tables = Object.values(tablesIn(persistDir)).flatMap((files) => Object.values(files).flat());
    assert.ok(tables.includes('log') && tables.includes('bans'), `the room stored its message and ban: ${tables}`);
    assert.deepEqual(tables.filter((t) => t.startsWith('webhook')), [], 'no webhook table anywhere');
    assert.equal(receiver.posts.length, 0);
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});
