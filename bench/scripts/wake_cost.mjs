// Wake cost: how long the first message takes to reach the other member of a room whose
// object hibernated (evicted from memory, sockets kept by the runtime), against the same
// message in a warm room. Runs ROOMS rooms side by side, so one idle wait covers them all.
//
// "Warm" is a message WARM_PAUSE_MS after the room's first one, not the message right after it:
// a room's first message sends its message count to a registry shard (unread counts, issue
// 14), and locally that shard wakes and writes on the same thread just as a message sent at
// once arrives — that message measured the shard's wake, not a warm room (7 ms against 2 ms
// two seconds later). The pause is well below the ~10 s after which local workerd evicts an
// idle object, so the room is still in memory.
//
//   node bench/scripts/wake_cost.mjs --peer rust|js [--rooms 5] [--json FILE]
import fs from 'node:fs';
import { SECRET } from '../../tests/support/server.mjs';
import { join, sleep } from '../../tests/support/client.mjs';
import jwt from '../../tests/support/jwt.mjs';
import { startPeer, median } from './peers.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const PEER = arg('peer', 'rust');
const ROOMS = Number(arg('rooms', 5));
const JSON_OUT = arg('json');
// Local workerd evicts an object after ~10 s without events; the margin makes it certain.
const IDLE_MS = 15_000;
// Past the registry report the first message sends (and its shard's write), well before eviction.
const WARM_PAUSE_MS = 2_000;

/** Milliseconds from A's publish until B has the message (fails after the client's timeout). */
async function oneMessage(a, b, data) {
  const t0 = performance.now();
  const got = b.next((f) => f.type === 'message' && f.data === data);
  a.send({ type: 'publish', data, id: data });
  await got;
  return performance.now() - t0;
}

const server = await startPeer(PEER);
// Stopped by its caller (a timeout sends SIGTERM): the server goes down with us.
process.on('SIGTERM', async () => { await server.stop(); process.exit(1); });
const token = (sub) => jwt.sign({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET);
try {
  const pairs = [];
  for (let i = 0; i < ROOMS; i++) {
    const room = `wake-${process.pid}-${i}`;
    const a = await join(server, room, `a${i}`, { token: token(`a${i}`) });
    const b = await join(server, room, `b${i}`, { token: token(`b${i}`) });
    pairs.push({ a, b });
  }
  const first = [];
  for (const [i, { a, b }] of pairs.entries()) first.push(await oneMessage(a, b, `first-${i}`));
  await sleep(WARM_PAUSE_MS);
  const warm = [];
  for (const [i, { a, b }] of pairs.entries()) warm.push(await oneMessage(a, b, `warm-${i}`));
  await sleep(IDLE_MS);
  const cold = [];
  for (const [i, { a, b }] of pairs.entries()) cold.push(await oneMessage(a, b, `cold-${i}`));
  const result = {
    peer: PEER,
    rooms: ROOMS,
    idle_ms: IDLE_MS,
    warm_pause_ms: WARM_PAUSE_MS,
    first_ms: first,
    first_median_ms: median(first),
    warm_ms: warm,
    cold_ms: cold,
    warm_median_ms: median(warm),
    cold_median_ms: median(cold),
    wake_cost_ms: median(cold) - median(warm),
  };
  console.log(JSON.stringify(result));
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(result, null, 2));
  for (const { a, b } of pairs) { a.terminate(); b.terminate(); }
} finally {
  await server.stop();
}
