// Presence held across a restart (issue 24, the reconnect storm; src/room/holds.rs). A deploy
// or a crash drops every socket without a close event: no `leave` went out, and everyone
// reconnects at once. The room, loading, holds the users its registry counts there but who
// have no connection (RESTART_PRESENCE_HOLD_SECONDS): they stay members — listed in `welcome`
// and `/members` with `connections: 0` — and their reconnect announces nothing, because for
// everyone else they never left. Whoever is not back by the deadline leaves then, with the
// `leave` frame a last close sends. A stranger arriving meanwhile is announced as
// usual, and with the setting at 0 every reconnect is a `join` again.
//
// SIGKILL of workerd is the local stand-in for a deploy: objects start cold, their SQLite is
// there, no close was ever handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, killable } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isPresence, presenceOf } from './support/frames.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';
import { roomDebug } from './support/eviction.mjs';

const members = (welcome) => welcome.members.map((m) => [m.user_id, m.connections]);
/** Under `make test-fanout` (2 sockets per object) cat's connection was on a fan-out object: the
 * room knows it lost only once that object answers the check a restarted room makes, so until
 * then cat is listed with the connection it had. */
const catListed = process.env.EDGE_CHAT_TEST_FANOUT ? [0, 1] : [0];
const fits = (list, want) => list.length === want.length
  && list.every(([u, n], i) => u === want[i][0] && (u === 'cat' ? catListed.includes(n) : n === want[i][1]));

/** Connects `users` to `room`, then kills workerd (after `settled()`, if given): returns the
 * options to start it again. */
async function membersThenKill(room, users, vars, settled = async () => {}) {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-hold-'));
  const first = await killable(() => startServer({ persistDir, vars }));
  try {
    const clients = [];
    for (const u of users) clients.push(await join(first, room, u));
    await sleep(500); // the registry stores what it answered a moment after answering
    await settled();
    await first.killHard();
    for (const c of clients) c.terminate();
  } finally {
    await first.mf.dispose().catch(() => {});
  }
  return { persistDir, vars };
}

test('after a restart, members coming back are not announced again, and those not back by the deadline leave', { timeout: 90_000 }, async () => {
  const vars = { RESTART_PRESENCE_HOLD_SECONDS: '4' };
  const options = await membersThenKill('hold-room', ['ann', 'ben', 'cat'], vars);
  const server = await startServer(options);
  try {
    const api = admin(server);
    const ann = await join(server, 'hold-room', 'ann');
    const loaded = Date.now();
    assert.ok(fits(members(ann.welcome), [['ann', 1], ['ben', 0], ['cat', 0]]), `ben and cat are held: ${JSON.stringify(ann.welcome.members)}`);
    assert.equal(ann.welcome.member_count, 3);
    const page = (await api.get('/rooms/hold-room/members')).body;
    assert.ok(fits(members(page), [['ann', 1], ['ben', 0], ['cat', 0]]), `/members too: ${JSON.stringify(page.members)}`);

    const from = ann.mark();
    const ben = await join(server, 'hold-room', 'ben');
    assert.ok(fits(members(ben.welcome), [['ann', 1], ['ben', 1], ['cat', 0]]), JSON.stringify(ben.welcome.members));
    // A stranger is announced as ever; what ann got before that `join` says ben's return was not.
    await join(server, 'hold-room', 'dan');
    const before = await ann.framesBefore(presenceOf('join', 'dan'), from);
    assert.deepEqual(before.filter(isPresence), [], 'ben\'s reconnect announced nothing');

    // cat never comes back: their hold ends at the deadline, as a last close would.
    const leave = await ann.next(presenceOf('leave', 'cat'), 15_000);
    assert.ok(leave);
    const waited = Date.now() - loaded;
    assert.ok(waited >= 3_000, `cat left at the deadline, not before (after ${waited} ms)`);
    await ben.next(presenceOf('leave', 'cat'));
    const after = (await api.get('/rooms/hold-room/members')).body;
    assert.deepEqual(after.members.map((m) => m.user_id), ['ann', 'ben', 'dan']);
  } finally {
    await server.stop();
  }
});

test('with RESTART_PRESENCE_HOLD_SECONDS=0 nobody is held: every reconnect after a restart is a join', { timeout: 60_000 }, async () => {
  const vars = { RESTART_PRESENCE_HOLD_SECONDS: '0' };
  const options = await membersThenKill('nohold-room', ['ann', 'ben'], vars);
  const server = await startServer(options);
  try {
    const ann = await join(server, 'nohold-room', 'ann');
    assert.deepEqual(members(ann.welcome), [['ann', 1]]);
    await join(server, 'nohold-room', 'ben');
    assert.ok(await ann.next(presenceOf('join', 'ben')));
  } finally {
    await server.stop();
  }
});

/** A webhook event as `join ann`, `leave ben`, `room_occupied`… */
const kinds = (events) => events.map((e) => (e.type === 'presence' ? `${e.event} ${e.user_id}` : e.type));

/**
 * ann and ben in `room` with presence and occupancy webhooks to a receiver here, every event of
 * that first run answered (so none comes again after the kill); workerd killed and started
 * again on its storage; then `body(server, receiver)`. Events after the restart are
 * `receiver.delivered().slice(3)`.
 */
async function afterKillWithHooks(room, holdSeconds, body) {
  const receiver = await startReceiver();
  const vars = webhookVars(receiver, { WEBHOOK_EVENTS: 'presence,occupancy', RESTART_PRESENCE_HOLD_SECONDS: holdSeconds });
  try {
    const options = await membersThenKill(room, ['ann', 'ben'], vars,
      () => receiver.waitFor((evs) => evs.length === 3));
    assert.deepEqual(kinds(receiver.delivered()), ['room_occupied', 'join ann', 'join ben']);
    const server = await startServer(options);
    try {
      await body(server, receiver);
    } finally {
      await server.stop();
    }
  } finally {
    await receiver.stop();
  }
}

test('webhooks follow the hold: no repeated join or room_occupied for members coming back, a leave for those who do not', { timeout: 90_000 }, async () => {
  await afterKillWithHooks('hook-hold', '3', async (server, receiver) => {
    const ann = await join(server, 'hook-hold', 'ann');
    await ann.next(presenceOf('leave', 'ben'), 15_000);
    await ann.close();
    const events = await receiver.waitFor((evs) => evs.some((e) => e.type === 'room_vacated'));
    assert.deepEqual(kinds(events.slice(3)), ['leave ben', 'leave ann', 'room_vacated'],
      'ann\'s return is no event; ben leaves at the deadline; the room empties with ann');
  });
});

test('a room nobody comes back to ends its holds at the deadline, even when evicted before it', { timeout: 90_000 }, async () => {
  // A hold longer than local workerd's idle eviction (10 s): the alarm at the deadline meets a
  // fresh instance, with no socket to learn the room's name from.
  await afterKillWithHooks('gone-room', '13', async (server, receiver) => {
    // Something other than a member starts the room (here an operator's read): it holds both.
    const page = (await admin(server).get('/rooms/gone-room/members')).body;
    assert.deepEqual(members(page), [['ann', 0], ['ben', 0]]);
    const before = await roomDebug(server, 'gone-room');
    const events = await receiver.waitFor((evs) => evs.some((e) => e.type === 'room_vacated'), { ms: 40_000 });
    assert.deepEqual(kinds(events.slice(3)), ['leave ann', 'leave ben', 'room_vacated']);
    const after = await roomDebug(server, 'gone-room');
    assert.notEqual(after.instance, before.instance, 'the holds ended in an instance constructed after an eviction');
    assert.deepEqual(members((await admin(server).get('/rooms/gone-room/members')).body), []);
  });
});
