// Rooms bigger than one object (issue 25, docs/architecture.md "Rooms bigger than one object"):
// past ROOM_FANOUT_CONNECTIONS sockets in a room's own object, upgrades are held by fan-out
// objects (`RoomFanout`) while the room still orders, stores, acks and moderates. Here the
// limit is 2, so a room of 50 connections spans 25 objects, and ROOM_FANOUT_DEGREE is 3: the
// room sends to fan-out objects 0–2 only, which relay to 3–11, which relay to 12–23
// (src/fanout/tree.rs). Proven over real sockets:
// - every member gets every message once, in seq order, while members join, leave, are
//   kicked and resume — publishers on the room's own object and on fan-out objects alike;
// - a fan-out object evicted (its sockets hibernating) wakes mid-conversation and carries on;
// - a workerd SIGKILL loses no acked message, and the connections the kill took are forgotten
//   by the restarted room (their objects say they no longer hold them).
// (`make test-fanout` runs the whole suite again with the limit at 2; this file proves the
// shape itself, whatever that pass sets.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, killable } from './support/server.mjs';
import { join, sleep, until } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { isAck } from './support/frames.mjs';
import { roomDebug, fanoutDebug, waitForFanoutEviction } from './support/eviction.mjs';

const FANOUT = { ROOM_FANOUT_CONNECTIONS: '2', ROOM_FANOUT_DEGREE: '3' };

/** Every frame a client received, `batch` frames unwrapped, in arrival order. */
const frames = (c) => c.log.flatMap((f) => (f.type === 'batch' ? f.frames : [f]));
const seqsOf = (c) => frames(c).filter((f) => f.type === 'message').map((f) => f.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Asserts `seqs` is strictly increasing (every message once, in order). */
function inOrderOnce(seqs, who) {
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `${who}: seq ${seqs[i]} after ${seqs[i - 1]} (${seqs.join(',')})`);
  }
}

/** Publishes `n` messages from `client`, one at a time, each awaited to its ack; the acked seqs. */
async function publishSeries(client, n, tag) {
  const acked = [];
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}`;
    client.send({ type: 'publish', data: { tag, i }, id });
    acked.push((await client.next(isAck(id), 10_000)).seq);
    await sleep(5);
  }
  return acked;
}

test('a room of 50 connections over 25 objects: every member gets every message once, in order, while members join, leave, are kicked and resume', { timeout: 120_000 }, async () => {
  const server = await startServer({ vars: FANOUT });
  const room = 'fan-50';
  try {
    const clients = [];
    for (let i = 0; i < 50; i++) {
      clients.push(await join(server, room, `m${i}`, { query: i % 2 ? '&batch=1' : '' }));
    }
    const debug = await roomDebug(server, room);
    assert.equal(debug.sockets, 2, "the room's own object holds ROOM_FANOUT_CONNECTIONS sockets");
    assert.equal(debug.fanout.connections, 48);
    assert.deepEqual(Object.values(debug.fanout.objects), Array(24).fill(2), '24 fan-out objects of 2');
    for (const i of [0, 5, 23]) assert.equal((await fanoutDebug(server, room, i)).sockets, 2, `fan-out object ${i}`);

    // Publishers on the room's own object (m0, m1) and on fan-out objects, v1 and batch.
    const publishers = [0, 1, 7, 24, 49].map((i) => clients[i]);
    const series = publishers.map((p, n) => publishSeries(p, 12, `p${n}`));
    const api = admin(server);
    // Meanwhile the membership changes.
    await sleep(30);
    const leaver = clients[10];
    await leaver.close();
    await sleep(30);
    const kicked = clients[20];
    assert.deepEqual((await api.post(`/rooms/${room}/kick`, { user_id: 'm20' })).body, { closed: 1 });
    // As a client does (docs/protocol.md): `closing` asks it to close, with that code.
    const asked = await kicked.next((f) => f.type === 'closing');
    await kicked.close(asked.code, asked.reason);
    await sleep(30);
    const dropped = clients[30];
    const before = seqsOf(dropped);
    await dropped.terminate();
    const since = before.length ? before[before.length - 1] : 0;
    const resumed = await join(server, room, 'm30', { query: `&batch=1&since=${since}` });
    const newcomer = await join(server, room, 'm50');
    const acked = (await Promise.all(series)).flat().sort((a, b) => a - b);
    const last = acked[acked.length - 1];
    assert.deepEqual(acked, range(1, last), 'the acks name every seq once');

    const stayed = clients.filter((c) => ![leaver, kicked, dropped].includes(c));
    await until(() => [...stayed, resumed].every((c) => seqsOf(c).at(-1) === last), { ms: 15_000, what: 'everyone has the last message' });
    for (const c of stayed) assert.deepEqual(seqsOf(c), range(1, last), `${c.user} got every message once, in order`);
    assert.deepEqual([...before, ...seqsOf(resumed)], range(1, last), 'the resumed member: before, replay and live, once each, in order');
    const news = seqsOf(newcomer);
    inOrderOnce(news, 'the newcomer');
    assert.deepEqual(news, range(newcomer.welcome.seq + 1, last), 'the newcomer: everything after its welcome');
    for (const [c, who] of [[leaver, 'the leaver'], [kicked, 'the kicked member']]) {
      const got = seqsOf(c);
      assert.deepEqual(got, range(1, got.length), `${who}: a prefix, once each, in order`);
    }
    assert.equal(asked.code, 4003, 'the kicked member was told why');
    // Presence crossed the objects both ways: a member on a fan-out object saw the room's own
    // member leave… and the leave of a member on a fan-out object reached the room's own.
    const watcher = clients[48];
    await until(() => frames(watcher).some((f) => f.type === 'presence' && f.event === 'join' && f.user_id === 'm50'), { what: 'the join of m50' });
    assert.ok(frames(watcher).some((f) => f.type === 'presence' && f.event === 'leave' && f.user_id === 'm10'));
    assert.ok(frames(clients[0]).some((f) => f.type === 'presence' && f.event === 'leave' && f.user_id === 'm20'));
    const info = (await api.get(`/rooms/${room}`)).body;
    assert.equal(info.connections, 49, 'GET /rooms/{room} counts every object\'s connections');
    for (const c of [...stayed, resumed, newcomer]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('a fan-out object evicted while its sockets hibernate wakes mid-conversation and carries on', { timeout: 90_000 }, async () => {
  const server = await startServer({ vars: FANOUT });
  const room = 'fan-evict';
  try {
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await join(server, room, `e${i}`, { query: i % 2 ? '&batch=1' : '' }));
    const [own, , onFirst, , onSecond] = clients; // e2, e3 on object 0; e4, e5 on object 1
    const first = await publishSeries(onFirst, 2, 'before');
    const woken = await waitForFanoutEviction(server, room, 0);
    assert.equal(woken.sockets, 2, 'its sockets survived the eviction');
    const after = [
      ...(await publishSeries(own, 2, 'own')),
      ...(await publishSeries(onFirst, 2, 'woken')),
      ...(await publishSeries(onSecond, 2, 'other')),
    ];
    const all = [...first, ...after];
    await until(() => clients.every((c) => seqsOf(c).at(-1) === all.at(-1)), { what: 'everyone has the last message' });
    for (const c of clients) assert.deepEqual(seqsOf(c), all, `${c.user}: every message once, in order, across the wake`);
    for (const c of clients) c.terminate();
  } finally {
    await server.stop();
  }
});

test('a workerd SIGKILL mid-conversation loses no acked message, and the restarted room forgets the connections the kill took', { timeout: 90_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-fanout-kill-'));
  const room = 'fan-kill';
  const first = await killable(() => startServer({ vars: FANOUT, persistDir }));
  const acked = [];
  try {
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await join(first, room, `k${i}`));
    const publishers = [clients[3], clients[5]];
    // Publish without waiting: the kill lands while publishes are in flight.
    let n = 0;
    const MAX = 120; // under MAX_HISTORY_LIMIT: one history page holds them all
    for (const p of publishers) {
      p.ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        for (const g of f.type === 'batch' ? f.frames : [f]) if (g.type === 'ack') acked.push(g.seq);
      });
    }
    const pump = setInterval(() => {
      for (const p of publishers) if (n < MAX) p.send({ type: 'publish', data: { n: n++ }, id: `kill-${n}` });
    }, 2);
    await until(() => acked.length >= 40, { what: '40 acks' });
    await first.killHard();
    clearInterval(pump);
    for (const c of clients) c.terminate();
  } finally {
    await first.mf.dispose().catch(() => {});
  }
  const second = await startServer({ vars: FANOUT, persistDir });
  try {
    const api = admin(second);
    const history = (await api.get(`/rooms/${room}/messages?since=0&limit=200`)).body.messages.map((m) => m.seq);
    for (const seq of acked) assert.ok(history.includes(seq), `acked seq ${seq} is in the log`);
    // The room's record still lists the connections on fan-out objects; their objects no
    // longer hold them, so the room forgets them.
    await eventually(async () => (await api.get(`/rooms/${room}`)).body.connections, 0, { ms: 10_000 });
    const back = await join(second, room, 'k3', { query: '&since=0' });
    await until(() => seqsOf(back).length >= history.length, { what: 'the replay' });
    assert.deepEqual(seqsOf(back), history, 'a resume replays the whole log');
    back.terminate();
  } finally {
    await second.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});
