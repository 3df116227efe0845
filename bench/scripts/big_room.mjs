// A big room (issue 25): 1 room × N connections (1,000, 2,000, 5,000), 20 publishers at a fixed
// total rate, batch (`?batch=1`) and v1 frames, and the JS twin at the same cells (v1 only).
// The publishers are spread over the connections (`loadgen --spread-publishers`: every
// N ÷ 20-th), so with fan-out they sit on every object, as a big room's members do.
// What it is for: today one object sends every message to every socket, so the room object's
// SENDS per message grow linearly with N; once fan-out objects carry the sockets past
// `ROOM_FANOUT_CONNECTIONS`, the same cells with `--fanout K` must show them flat (and the
// room's SUB-REQUESTS per message at ~N/K per turn).
//
// Per cell and peer, a fresh server on core 0 (`serve.mjs --metrics`) and the load generator on
// core 1 (`loadgen --connect-concurrency 250`: 5,000 connects at once overflow the listen queue
// and are reset). Once the publishes start (the generator starts them when every connection is
// welcomed) and the warm-up is over, this script reads, before and after a window while only
// the publishers run (a window that saw a connect or a close is flagged and not counted):
//   - the objects' meter (`GET /dev/meter`): object requests of every class (a future `fanout`
//     class included) and the room's incoming WebSocket messages (the publishes): sub-requests
//     per message = Δrequests ÷ Δwebsocket_messages;
//   - the room's metrics points (`GET /dev/metrics`, Rust): its `sends` and `messages` per turn
//     (docs/operations.md), summed over the points written in the window: sends per message.
//     The JS twin counts its sends in its meter (`sends`, broadcasts and acks).
// Delivered/s, p50/p99 and server CPU are the generator's (its measured window).
//
//   node bench/scripts/big_room.mjs [--quick] [--runs N] [--seconds S] [--rate R] [--conns 1000,2000]
//                                   [--peers rust-batch,rust,js] [--fanout K [--fanout-degree D]] [--json FILE]
//
// `--quick`: N = 500, 1 run, 3 s (a smoke). `--fanout K`: adds the Rust peers again with
// `ROOM_FANOUT_CONNECTIONS=K` (the fan-out column), and `ROOM_FANOUT_DEGREE=D` if given.
// Called by bench/scripts/matrix.mjs (the scenarios of `make bench`); needs `make bench-tools`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SECRET } from '../../tests/support/server.mjs';
import { getJson, median, servePinned, stopServed } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const QUICK = argv.includes('--quick');
const RUNS = Number(opt('runs', 1));
const SECONDS = Number(opt('seconds', QUICK ? 4 : 8));
const WARMUP = 2;
/** Total publishes/s of the 20 publishers (see docs/benchmarks.md, "A big room"). */
const RATE = Number(opt('rate', 10));
const PUBLISHERS = 20;
const CONNS = opt('conns', QUICK ? '500' : '1000,2000,5000').split(',').map(Number);
/** The twin's connect is O(N) work per connect (a join to everyone, the whole member list):
 * 12.5 M sends just to open 5,000 — it runs the cells up to this size. */
const TWIN_MAX = Number(opt('twin-max', 2000));
const FANOUT = opt('fanout');
/** `ROOM_FANOUT_DEGREE` for the fan-out peers (`--fanout-degree D`; the worker's default else). */
const DEGREE = opt('fanout-degree');
const BASE_PEERS = [
  { id: 'rust-batch', label: 'Rust, `?batch=1`', peer: 'rust', args: ['--batch'], vars: [] },
  { id: 'rust', label: 'Rust, v1 frames', peer: 'rust', args: [], vars: [] },
  { id: 'js', label: 'JS twin (v1)', peer: 'js', args: [], vars: [] },
];
const FANOUT_PEERS = FANOUT ? BASE_PEERS.filter((p) => p.peer === 'rust').map((p) => ({
  ...p, id: `${p.id}-fanout`, label: `${p.label}, fan-out ${FANOUT}${DEGREE ? ` (degree ${DEGREE})` : ''}`,
  vars: [`ROOM_FANOUT_CONNECTIONS=${FANOUT}`, ...(DEGREE ? [`ROOM_FANOUT_DEGREE=${DEGREE}`] : [])],
})) : [];
const wanted = opt('peers');
const PEERS = [...BASE_PEERS, ...FANOUT_PEERS].filter((p) => !wanted || wanted.split(',').includes(p.id));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bigroom-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const serve = (peer) => servePinned(peer.peer, ['--metrics', ...peer.vars], peer.id);
const stop = (server) => stopServed(server);

/** The meter's totals: object requests of every class, the room's incoming WebSocket messages,
 * and the twin's sends. */
async function meter(url) {
  const m = await getJson(`${url}/dev/meter`);
  const classes = Object.values(m).filter((c) => typeof c === 'object');
  return {
    requests: classes.reduce((n, c) => n + (c.requests ?? 0), 0),
    by_class: Object.fromEntries(Object.entries(m).map(([k, c]) => [k, c?.requests ?? 0])),
    // Publishes reach the room's own object or, past ROOM_FANOUT_CONNECTIONS, a fan-out object.
    messages_in: (m.room?.websocket_messages ?? 0) + (m.fanout?.websocket_messages ?? 0),
    twin_sends: m.room?.sends ?? 0,
    closes: classes.reduce((n, c) => n + (c.websocket_closes ?? 0), 0),
    // The isolate's Wasm memory (every object of the worker shares it locally; it never shrinks).
    wasm_memory_bytes: m.wasm_memory_bytes,
    // Requests the room objects sent to fan-out objects (relays' own are counted under `fanout`).
    room_to_fanout: m.room?.fanout_requests ?? 0,
  };
}

/** The room's metrics points (Rust; the twin has none): `[]` when the endpoint is absent. */
async function roomPoints(url, room) {
  const res = await fetch(`${url}/dev/metrics`).catch(() => undefined);
  if (!res?.ok) return [];
  const { points } = await res.json();
  return points.filter((p) => p.kind === 'room' && p.index === room);
}

/** One run: the generator's summary plus the counted sends and sub-requests per message. */
async function run(peer, conns, round) {
  process.stderr.write(`  big room · ${conns} connections · round ${round} · ${peer.label}\n`);
  const prefix = `big-${peer.id}-${conns}-${process.pid}-${round}`;
  const room = `${prefix}-0`;
  const server = await serve(peer);
  const json = path.join(tmp, `${prefix}.json`);
  const loadgen = spawn('taskset', ['-c', '1', path.join(ROOT, 'target/release/loadgen'), '--url', server.url,
    '--secret', SECRET, '--server-of', String(server.pid), '--server-name', 'workerd', '--no-progress',
    '--label', peer.id, '--room-prefix', prefix, '--rooms', '1', '--conns', String(conns), '--connect-concurrency', '250',
    '--publishers', String(PUBLISHERS), '--spread-publishers', '--mode', 'rate', '--rate', String(RATE),
    '--duration', String(SECONDS), '--warmup', String(WARMUP), ...peer.args, '--json', json],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  let done = false;
  const exited = new Promise((resolve) => loadgen.once('exit', (code) => { done = true; resolve(code); }));
  try {
    // The first publish (the generator publishes only once the last welcome is in), then the
    // warm-up and half a second; the window ends 1.5 s before the generator stops.
    while (!done && (await meter(server.url)).messages_in === 0) await sleep(100);
    await sleep((WARMUP + 0.5) * 1000);
    const m0 = await meter(server.url);
    const p0 = await roomPoints(server.url, room);
    const last0 = Math.max(0, ...p0.map((p) => p.at));
    await sleep((SECONDS - 2) * 1000);
    const m1 = await meter(server.url);
    const window = (await roomPoints(server.url, room)).filter((p) => p.at > last0);
    const early = done; // the generator had stopped before the window closed
    const code = await exited;
    const summary = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined;
    const messagesIn = m1.messages_in - m0.messages_in;
    const sum = (key) => window.reduce((n, p) => n + (p.named?.[key] ?? 0), 0);
    // The twin runs no turns: each message is its own.
    const counted = peer.peer === 'js'
      ? { messages: messagesIn, sends: m1.twin_sends - m0.twin_sends, turns: messagesIn }
      // The room object's own sends: `sends` counts its fan-out objects' too (`fanout_sends`).
      : { messages: sum('messages'), sends: sum('sends') - sum('fanout_sends'), fanout_sends: sum('fanout_sends'), deliveries: sum('deliveries'), turns: sum('turns') };
    // Exact only if nothing but publishes happened: no connect, no close, the generator running.
    const clean = !early && m1.closes === m0.closes && sum('connects') + sum('disconnects') === 0;
    const per = (x, y) => (clean && y ? x / y : undefined);
    return {
      peer: peer.id, conns, round, summary,
      failed: code === 0 ? undefined : `the load generator exited ${code}`,
      window: {
        ...counted, messages_in: messagesIn, requests: m1.requests - m0.requests, points: window.length, clean,
        wasm_memory_bytes: m1.wasm_memory_bytes,
        requests_by_class: Object.fromEntries(Object.keys(m1.by_class).map((k) => [k, m1.by_class[k] - (m0.by_class[k] ?? 0)])),
      },
      sends_per_message: per(counted.sends, counted.messages),
      sends_per_turn: per(counted.sends, counted.turns),
      subrequests_per_message: per(m1.requests - m0.requests, messagesIn),
      room_to_fanout_per_turn: per(m1.room_to_fanout - m0.room_to_fanout, counted.turns),
    };
  } catch (e) {
    return { peer: peer.id, conns, round, failed: String(e.message).split('\n')[0] };
  } finally {
    if (loadgen.exitCode === null && !done) {
      loadgen.kill();
      await exited;
    }
    await stop(server);
  }
}

const runs = [];
for (let round = 1; round <= RUNS; round++) {
  for (const conns of CONNS) {
    const here = PEERS.filter((p) => p.peer !== 'js' || conns <= TWIN_MAX);
    for (const peer of here.map((_, k) => here[(k + round - 1) % here.length])) runs.push(await run(peer, conns, round));
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const f = (x, d = 0) => (x == null || Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const rows = CONNS.flatMap((conns) => PEERS.map((p) => {
  const mine = runs.filter((r) => r.peer === p.id && r.conns === conns);
  if (!mine.length) return `| ${f(conns)} | ${p.label} | not run (the twin's connect is O(N): above ${f(TWIN_MAX)}) | | | | | | | | | | |`;
  const ok = mine.filter((r) => r.summary);
  const med = (key) => median(ok.map(key).filter(Number.isFinite));
  const rate = med((r) => r.summary.delivered_per_s);
  const unclean = mine.filter((r) => r.window && !r.window.clean).length;
  return `| ${f(conns)} | ${p.label} | ${f(rate)} | ${f(rate / (conns * RATE) * 100)} % | ` +
    `${f(med((r) => r.summary.latency.p50_ms), 1)} ms | ${f(med((r) => r.summary.latency.p99_ms), 1)} ms | ` +
    `**${f(med((r) => r.sends_per_message), 1)}** | ${f(med((r) => r.sends_per_turn), 1)} | **${f(med((r) => r.subrequests_per_message), 3)}** | ` +
    `**${f(med((r) => r.room_to_fanout_per_turn), 2)}** | ` +
    `${f(med((r) => r.summary.server_cpu_s_per_million_deliveries), 1)} s | ${f(med((r) => r.summary.connections_per_s))} | ` +
    `${mine.filter((r) => r.failed || r.summary?.lost || r.summary?.duplicated).length}` +
    `${unclean ? ` (${unclean} window${unclean === 1 ? '' : 's'} not clean)` : ''} |`;
}));
const markdown = [`1 room × N connections, ${PUBLISHERS} publishers at ${RATE} publishes/s in total (echo on: every member, ` +
  `the publisher included, gets every message), 32 B; ${RUNS} run${RUNS === 1 ? '' : 's'} per cell and peer of ${SECONDS} s ` +
  `after a ${WARMUP} s warm-up${RUNS > 1 ? ', medians' : ''}. Sends and sub-requests per message are counted, not timed: the room's ` +
  "metrics points (`sends` ÷ `messages` and ÷ `turns`; the twin's own counter, one turn per message) and the objects' meter " +
  '(object requests of every class ÷ publishes received) over a window while only the publishers run.', '',
  '| N | peer | delivered/s | of N × rate | p50 | p99 | room sends per message | room sends per turn | sub-requests per message | room → fan-out requests per turn | server CPU s per million deliveries | connects/s | failed runs |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
const name = `A big room (1 room × ${CONNS.map((n) => f(n)).join(', ')} connections, ${RATE} publishes/s)`;
process.stdout.write(`\n### ${name}\n\n${markdown}\n`);
const out = opt('json');
if (out) fs.writeFileSync(out, JSON.stringify({ scenarios: { [name]: { rate: RATE, publishers: PUBLISHERS, runs, markdown } } }, null, 1));
if (runs.some((r) => r.failed || r.summary?.lost || r.summary?.duplicated)) process.exitCode = 1;
