// What the platform bills is counted by the objects themselves (issue 13): `GET /dev/meter`
// (DEV_MODE only) counts object requests, incoming WebSocket messages, close events, wakes and
// SQLite rows written per object class, as they happen. bench/scripts/billing.mjs divides
// these counts by what a scenario did; this test proves each counter moves with its event,
// and only with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const meter = async () => (await fetch(`${server.url}/dev/meter`)).json();
const diff = (a, b) => Object.fromEntries(['room', 'registry', 'stats'].map((cls) => [cls,
  Object.fromEntries(Object.keys(b[cls]).map((k) => [k, b[cls][k] - a[cls][k]]))]));
/** One counter of each class, from a `diff`. */
const counter = (name) => (d) => ({ room: d.room[name], registry: d.registry[name], stats: d.stats[name] });
const wakes = counter('wakes');
const alarms = counter('alarms');

test('a connect, a publish, a heartbeat and a close each count where they happen', async () => {
  const m0 = await meter();
  for (const cls of ['registry', 'room', 'stats']) assert.equal(typeof m0[cls].requests, 'number', cls);
  assert.ok(m0.wasm_memory_bytes >= 65_536, 'and the isolate\'s Wasm memory');
  const a = await join(server, 'metered', 'meter-alice');
  // The connect's reports (registry, stats) are asynchronous: wait for the stats report.
  await until(async () => (await meter()).stats.requests > m0.stats.requests, { what: 'the stats report' });
  const m1 = await meter();
  const connect = diff(m0, m1);
  assert.equal(connect.room.requests, 1, 'one request into the room');
  assert.equal(connect.registry.requests, 1, 'one presence report to the user\'s registry shard');
  assert.ok(connect.registry.rows_written >= 1, 'the registry stored the room');
  assert.equal(connect.room.websocket_messages, 0);
  // This file's server is fresh: the connect constructed exactly three objects, once each —
  // the room, meter-alice's registry shard (registry-15) and the room's stats shard (stats-3).
  assert.deepEqual(wakes(connect), { room: 1, registry: 1, stats: 1 }, 'one wake per object the connect reached');

  const acked = a.next((f) => f.type === 'ack');
  a.send({ type: 'publish', data: 'x', id: 'p1' });
  await acked;
  a.send('ping');
  await a.next((f) => f.raw === 'pong');
  // The stored message changes the room's count: reported in the background to the room's
  // counter shard (registry-51 for 'metered', not meter-alice's registry-15); and meter-alice
  // is a new author here, reported to her own shard (registry-15), which keeps the rooms each
  // user posted in for `POST /users/{user}/erase` — once per author per room wake. Wait for both.
  await until(async () => (await meter()).registry.requests >= m1.registry.requests + 2, { what: 'the count and author reports' });
  const m2 = await meter();
  const publish = diff(m1, m2);
  assert.equal(publish.room.websocket_messages, 1, 'the publish; the auto-answered ping never reaches the object');
  assert.ok(publish.room.rows_written >= 1, 'the message was stored');
  assert.equal(publish.room.requests, 0);
  assert.equal(publish.registry.requests, 2, 'one count report, one author report');
  assert.deepEqual(wakes(publish), { room: 0, registry: 1, stats: 0 }, 'the awake room took the publish; only the counter shard was new');

  await a.close();
  await until(async () => (await meter()).room.websocket_closes > m2.room.websocket_closes, { what: 'the close event' });
  // The leave is reported to the registry and stats shards already awake: wait for the stats report.
  await until(async () => (await meter()).stats.requests > m2.stats.requests, { what: 'the leave\'s stats report' });
  const m3 = await meter();
  const close = diff(m2, m3);
  assert.equal(close.room.websocket_closes, 1);
  assert.deepEqual(wakes(close), { room: 0, registry: 0, stats: 0 }, 'a close wakes nothing: every object it reaches is awake');
  // No alarm was due in all of this: no webhooks, the retention trim is 30 days away, the
  // token's expiry a day.
  assert.deepEqual(alarms(diff(m0, m3)), { room: 0, registry: 0, stats: 0 }, 'no alarm ran');
});
