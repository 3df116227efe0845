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

  const acked = a.next((f) => f.type === 'ack');
  a.send({ type: 'publish', data: 'x', id: 'p1' });
  await acked;
  a.send('ping');
  await a.next((f) => f.raw === 'pong');
  const m2 = await meter();
  const publish = diff(m1, m2);
  assert.equal(publish.room.websocket_messages, 1, 'the publish; the auto-answered ping never reaches the object');
  assert.ok(publish.room.rows_written >= 1, 'the message was stored');
  assert.equal(publish.room.requests, 0);

  await a.close();
  await until(async () => (await meter()).room.websocket_closes > m2.room.websocket_closes, { what: 'the close event' });
  assert.equal(diff(m2, await meter()).room.websocket_closes, 1);
});
