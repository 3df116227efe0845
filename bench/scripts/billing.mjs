// What the platform bills (issue 13), counted by the objects themselves: object requests,
// incoming WebSocket messages (billed 20:1), alarms, wakes and SQLite rows written, read from
// `GET /dev/meter` of each peer (src/common/meter.rs; the JS twin keeps the same counters) before and
// after each phase, divided by what the phase did:
//
//   connect     new users open one connection each, all at once, in two shapes: the storm of
//               the storm scenario (2,000 users in 20 rooms) and small rooms (1,000 in 100 rooms)
//   message     one publisher per room publishes MESSAGES messages (acked)
//   idle        every socket sends a heartbeat ping every 10 s for IDLE seconds, after the
//               objects had 15 s to hibernate; scaled to one hour (small rooms only)
//   disconnect  every socket closes
// Each phase ends only when the peer's background work is done (reports, deferred writes:
// 3 s of quiet), so what a phase triggers is billed to it. Every shape runs RUNS rounds
// (default 3, `--quick` 1) of one run per peer, each on a fresh server, the peer order rotating
// every round; the table shows the median of every count over the rounds.
//
//   node bench/scripts/billing.mjs [--quick] [--runs N] [--json FILE] [--peers rust,js]
import fs from 'node:fs';
import { SECRET } from '../../tests/support/server.mjs';
import { tryConnect, socketUrl, sleep } from '../../tests/support/client.mjs';
import jwt from '../../tests/support/jwt.mjs';
import { startPeer, median } from './peers.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const QUICK = argv.includes('--quick');
const SHAPES = QUICK
  ? [{ users: 200, rooms: 2, idle: false }, { users: 200, rooms: 20, idle: true }]
  : [{ users: 2000, rooms: 20, idle: false }, { users: 1000, rooms: 100, idle: true }];
const MESSAGES = 20;
const IDLE_S = QUICK ? 30 : 60;
const SETTLE_MS = 3000;
const LABELS = { rust: 'Rust worker', js: 'JS twin' };
const PEERS = opt('peers', 'rust,js').split(',');
const RUNS = Number(opt('runs', QUICK ? 1 : 3));
const PHASES = ['per_connect', 'per_disconnect', 'per_message', 'per_idle_hour'];

// Day-long tokens: a token's expiry notice is a (rare, deliberate) room alarm, not idle cost.
const token = (sub) => jwt.sign({ sub, exp: Math.floor(Date.now() / 1000) + 86_400 }, SECRET);

async function meter(server) {
  const res = await fetch(`${server.url}/dev/meter`);
  if (res.status !== 200) throw new Error(`GET /dev/meter: ${res.status}`);
  return res.json();
}

/** Sums every object class into one set of counts. */
function total(m) {
  const sum = {};
  for (const counts of Object.values(m)) {
    for (const [k, v] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + v;
  }
  return sum;
}

function delta(before, after, per) {
  const a = total(after);
  const b = total(before);
  const d = Object.fromEntries(Object.keys(a).map((k) => [k, ((a[k] ?? 0) - (b[k] ?? 0)) / per]));
  d.billed_requests = d.requests + d.alarms + d.websocket_messages / 20;
  return d;
}

async function connectAll(server, runId, { users, rooms }) {
  const clients = [];
  for (let start = 0; start < users; start += 250) {
    const batch = [];
    for (let i = start; i < Math.min(users, start + 250); i++) {
      const room = `bill-${runId}-${i % rooms}`;
      batch.push(tryConnect(socketUrl(server, room, token(`u-${runId}-${i}`))).then(async ({ client, status }) => {
        if (!client) throw new Error(`upgrade refused: ${status}`);
        await client.welcomed();
        return { client, room };
      }));
    }
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

async function publishAll(clients) {
  const publishers = new Map();
  for (const c of clients) if (!publishers.has(c.room)) publishers.set(c.room, c.client);
  await Promise.all([...publishers.values()].map(async (client, k) => {
    for (let i = 0; i < MESSAGES; i++) {
      const id = `m${k}-${i}`;
      const acked = client.next((f) => f.type === 'ack' && f.id === id, 30_000);
      client.send({ type: 'publish', data: { i }, id });
      await acked;
    }
  }));
  return publishers.size * MESSAGES;
}

async function idle(clients) {
  await sleep(15_000);
  const start = Date.now();
  while (Date.now() - start < IDLE_S * 1000) {
    for (const { client } of clients) client.ws.send('ping');
    await sleep(10_000);
  }
}

async function measure(peer, shape, round) {
  process.stderr.write(`  billing ${shape.users} users in ${shape.rooms} rooms, round ${round}/${RUNS} · ${LABELS[peer]}\n`);
  const server = await startPeer(peer);
  try {
    const runId = `${peer}${process.pid}r${round}`;
    const m0 = await meter(server);
    const clients = await connectAll(server, runId, shape);
    await sleep(SETTLE_MS);
    const m1 = await meter(server);
    const messages = await publishAll(clients);
    await sleep(SETTLE_MS);
    const m2 = await meter(server);
    const idleStart = Date.now();
    if (shape.idle) await idle(clients);
    const m3 = await meter(server);
    const idleHours = (Date.now() - idleStart) / 3_600_000;
    // 2,000 closes at once queue up on the rooms' threads: each is answered, in its turn.
    await Promise.all(clients.map(({ client }) => client.close(1000, '', 60_000)));
    await sleep(SETTLE_MS);
    const m4 = await meter(server);
    return {
      peer,
      ...shape,
      round,
      messages,
      per_connect: delta(m0, m1, shape.users),
      per_message: delta(m1, m2, messages),
      per_idle_hour: shape.idle ? delta(m2, m3, idleHours) : undefined,
      per_disconnect: delta(m3, m4, shape.users),
      raw: [m0, m1, m2, m3, m4],
    };
  } finally {
    await server.stop();
  }
}

/** One run; a run that throws is kept as `{peer, users, rooms, idle, round, failed}`. */
async function attempt(peer, shape, round) {
  try {
    return await measure(peer, shape, round);
  } catch (e) {
    process.stderr.write(`  failed: ${e.message}\n`);
    return { peer, ...shape, round, failed: String(e.message).split('\n')[0] };
  }
}

/** Every count's median over `runs` (undefined when no run has the phase). */
function medianCounts(runs) {
  const keys = [...new Set(runs.flatMap((d) => Object.keys(d)))];
  return runs.length ? Object.fromEntries(keys.map((k) => [k, median(runs.map((d) => d[k]).filter(Number.isFinite))])) : undefined;
}

/** Per peer and shape: the medians of every phase over the successful runs. */
function medians(results) {
  return SHAPES.flatMap((shape) => PEERS.map((peer) => {
    const mine = results.filter((r) => r.peer === peer && r.users === shape.users && r.rooms === shape.rooms);
    const ok = mine.filter((r) => !r.failed);
    const phases = PHASES.map((ph) => [ph, medianCounts(ok.map((r) => r[ph]).filter(Boolean))]);
    return { peer, ...shape, runs: ok.length, failed_runs: mine.length - ok.length, ...Object.fromEntries(phases) };
  }));
}

const f = (x) => (x === undefined ? '–' : Number.isInteger(x) ? String(x) : x.toFixed(2));

function markdown(results) {
  const rows = [];
  for (const phase of PHASES) {
    for (const r of results) {
      const d = r[phase];
      if (!d) continue;
      const what = `${phase.replace('per_', '').replace('_', ' ')}, ${r.users} users in ${r.rooms} rooms`;
      rows.push(`| ${what} | ${LABELS[r.peer]} | ${f(d.billed_requests)} | ${f(d.requests)} | ${f(d.websocket_messages)} | ${f(d.alarms)} | ${f(d.wakes)} | ${f(d.rows_written)} | ${f(d.websocket_closes)} |`);
    }
  }
  const failed = results.reduce((n, r) => n + r.failed_runs, 0);
  return [`New users, all connecting at once; ${MESSAGES} messages per room, one publisher per room; ` +
    `idle ${15 + IDLE_S} s with a heartbeat every 10 s from every socket (scaled to an hour). ` +
    'Counted by the objects (GET /dev/meter); billed requests = object requests + alarms + WebSocket messages / 20. ' +
    `Medians of ${RUNS} alternated run${RUNS === 1 ? '' : 's'} per peer and shape (the peer order rotating every round)` +
    `${failed ? `; ${failed} failed run(s) left out` : ''}.`, '',
    '| per | peer | billed requests | object requests | WebSocket messages in | alarms | wakes | rows written | close events |',
    '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

const results = [];
for (const shape of SHAPES) {
  for (let i = 0; i < RUNS; i++) {
    const order = PEERS.map((_, k) => PEERS[(k + i) % PEERS.length]);
    for (const peer of order) results.push(await attempt(peer, shape, i + 1));
  }
}
const med = medians(results);
const md = markdown(med);
console.log(md);
const out = opt('json');
const scenario = { runs: results, medians: med, markdown: md };
if (out) fs.writeFileSync(out, JSON.stringify({ scenarios: { 'What the platform bills (counted by the objects)': scenario } }, null, 2));
