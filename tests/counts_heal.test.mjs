// Counts that heal (issue 23): a workerd killed with sockets open (SIGKILL: no close event
// reaches any room — the local stand-in for a crash or a deploy) and restarted on the same
// persistence directory leaves the stats shards' room totals and the registry shards' presence
// rows counting dead sockets. The first read of each shard instance has the rooms checked, so
// `GET /stats` and `GET /rooms?active=1` reach the truth (zero) within 60 s of the first read,
// reconnects are counted exactly afterwards, and an idle system then costs nothing (the meter of
// `GET /dev/meter` does not move over a window longer than an object's local eviction).
// Also: `GET /rooms?active=1` pages by name (after/limit), needs the admin token and `active=1`,
// and refuses a bad limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, killable } from './support/server.mjs';
import { join, until, sleep } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';

const stats = (server) => async () => (await admin(server).get('/stats')).body;
const active = (server, query = '') => async () => (await admin(server).get(`/rooms?active=1${query}`)).body;
const meter = async (server) => (await fetch(`${server.url}/dev/meter`)).json();
/** What the objects were billed for, per class, without the memory figure. */
const billed = (m) => ({ room: m.room, registry: m.registry, stats: m.stats });

test('after workerd is killed with 50 sockets open, the counts heal within 60 s of the first read, and idle costs nothing', { timeout: 240_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-heal-'));
  const first = await killable(() => startServer({ persistDir }));
  try {
    // 50 connections in 5 rooms, 17 users (most in several rooms, some with several tabs).
    const clients = [];
    for (let i = 0; i < 50; i++) clients.push(await join(first, `heal-${i % 5}`, `u${i % 17}`));
    await eventually(stats(first), { connections: 50, rooms: 5, users: 17 }, { ms: 15_000 });
    await first.killHard();
    for (const c of clients) c.terminate();
  } finally {
    await first.mf.dispose().catch(() => {});
  }

  const second = await startServer({ persistDir });
  try {
    // No client is connected. The first read still sees what the restart left behind: that is
    // the bug this heals (and proves the rows survived the kill).
    assert.deepEqual(await stats(second)(), { connections: 50, rooms: 5, users: 17 }, 'the first read: rows as the kill left them');
    const firstRead = Date.now();
    await eventually(stats(second), { connections: 0, rooms: 0, users: 0 }, { ms: 60_000, every: 500 });
    const healedMs = Date.now() - firstRead;
    console.log(`# healed ${healedMs} ms after the first read`);
    assert.deepEqual(await active(second)(), { rooms: [] }, 'no room is active');
    assert.deepEqual((await admin(second).get('/users/u3')).body, { user_id: 'u3', connections: 0, rooms: {} });

    // Reconnects are counted exactly again.
    const back = [
      await join(second, 'heal-0', 'u1'),
      await join(second, 'heal-0', 'u1'),
      await join(second, 'heal-0', 'u2'),
      await join(second, 'heal-3', 'u2'),
    ];
    await eventually(stats(second), { connections: 4, rooms: 2, users: 2 }, { ms: 10_000 });
    assert.deepEqual(await active(second)(), {
      rooms: [{ room: 'heal-0', connections: 3 }, { room: 'heal-3', connections: 1 }],
    });

    // Idle, sockets open: nothing may run. First let the reconnects' own tail settle (a room's
    // report waits a second before it ends), then watch the meter for 20 s — longer than an
    // object's local eviction (~10 s), so every object the healing touched is evicted inside
    // the window and could only run again through a request or an alarm: both are counted.
    let settled = billed(await meter(second));
    await until(async () => {
      await sleep(1_500);
      const now = billed(await meter(second));
      const same = JSON.stringify(now) === JSON.stringify(settled);
      settled = now;
      return same;
    }, { ms: 15_000, every: 0, what: 'the reconnects\' reports are done' });
    await sleep(20_000);
    assert.deepEqual(billed(await meter(second)), settled, 'an idle system makes no request, wakes nothing, writes nothing');
    // The marker: a read is counted, so the meter was live all along.
    assert.deepEqual(await stats(second)(), { connections: 4, rooms: 2, users: 2 });
    assert.ok((await meter(second)).stats.requests >= settled.stats.requests + 16, 'the read was metered');
    for (const c of back) c.terminate();
  } finally {
    await second.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('GET /rooms?active=1 pages the rooms with connections by name; admin only; bad queries are 400', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const api = admin(server);
    const counts = { 'pg-a': 1, 'pg-b': 3, 'pg-c': 1, 'pg-d': 2, 'pg-e': 1 };
    const clients = [];
    for (const [room, n] of Object.entries(counts)) {
      for (let i = 0; i < n; i++) clients.push(await join(server, room, `p${i}`));
    }
    const all = Object.entries(counts).map(([room, connections]) => ({ room, connections }));
    await eventually(active(server), { rooms: all }, { ms: 10_000 });
    // Pages of 2, following next_after.
    const pages = [];
    let after = '';
    for (;;) {
      const page = (await api.get(`/rooms?active=1&limit=2${after}`)).body;
      pages.push(page.rooms.map((r) => r.room));
      if (!page.next_after) break;
      after = `&after=${page.next_after}`;
    }
    assert.deepEqual(pages, [['pg-a', 'pg-b'], ['pg-c', 'pg-d'], ['pg-e']]);
    assert.deepEqual(await active(server, '&after=pg-c&limit=1000')(), { rooms: all.slice(3) });
    // A closed room leaves the list.
    await Promise.all(clients.filter((c) => c.welcome.room === 'pg-b').map((c) => c.close()));
    await eventually(active(server), { rooms: all.filter((r) => r.room !== 'pg-b') }, { ms: 10_000 });
    // Admin only; `active=1` required; limit 1-1000; `after` a room name.
    assert.equal((await admin(server, null).get('/rooms?active=1')).status, 401);
    assert.equal((await admin(server, 'wrong').get('/rooms?active=1')).status, 401);
    for (const q of ['', '?active=0', '?active=1&limit=0', '?active=1&limit=1001', '?active=1&limit=x', '?active=1&after=a%2Fb']) {
      const res = await api.get(`/rooms${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.body.error.code, 'bad_request', q);
    }
    assert.match((await api.get('/rooms')).body.error.message, /active=1/);
    assert.equal((await api.call('POST', '/rooms?active=1')).status, 405);
    for (const c of clients) c.terminate();
  } finally {
    await server.stop();
  }
});
