// Where a connect's CPU goes (issue 24): a V8 CPU profile of local workerd during the storm of
// new users (2,000 connections of 2,000 new users in 20 rooms, all at once), aggregated by
// function and grouped into the connect path's parts.
//
//   node bench/scripts/profile-storm.mjs [--conns 2000] [--rooms 20] [--interval 500]
//        [--cap US] [--after 1] [--top 30] [--out FILE.cpuprofile]
//        [--peer js] [--assets] [--reconnect] [--no-profile]
//   node bench/scripts/profile-storm.mjs --from FILE.cpuprofile [--window START_MS,END_MS]
//
// How: this process pins itself (and so the workerd it starts) to core 0, starts the peer as
// the benchmarks do (bench/scripts/peers.mjs: the bench's limits, no IP limiter) with
// Miniflare's `inspectorPort`, and runs the load generator (`target/release/loadgen`, the
// storm without publishers) on core 1. workerd serves the V8 inspector on that port:
// `/json/list` names one target per isolate — ours is `core:user:` (in local workerd the front
// worker and every Durable Object class of a script share ONE isolate), the others are
// workerd's entry worker and Miniflare's asset router. Over the Chrome DevTools Protocol (a
// WebSocket to each target's `webSocketDebuggerUrl`): `Profiler.enable`,
// `Profiler.setSamplingInterval` (µs), `Profiler.start`, the storm, `Profiler.stop`. Our
// isolate's profile is written to --out (Chrome DevTools' Performance panel or speedscope read
// it) and aggregated over the connect window (the generator's start until every socket is
// welcomed: what `server CPU per connect` measures), and again with `--after` seconds more:
// - busy time per connect in each isolate;
// - our isolate's time in buckets (BUCKETS below: each sample's whole stack, first rule wins),
//   by owner (front, room, registry, stats: OWNERS below), and the top functions by self time.
// Wasm frames carry their Rust names: the release .wasm keeps its name section.
// The sampler shares core 0 with the isolate: 500 µs costs the storm ~10 % (100 µs: ~2×).
// `--peer js` profiles the JS twin (its functions, not our buckets); `--assets` serves the
// Rust worker with its static-assets binding; `--no-profile` runs the same storm with no
// inspector (what the profiler costs).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import { cdp } from './cdp.mjs';
import { BENCH_VARS, population, startPeer } from './peers.mjs';
import { workerOptions, workerdChildren } from '../../tests/support/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const CONNS = Number(opt('conns', 2000));
const ROOMS = Number(opt('rooms', 20));
const INTERVAL_US = Number(opt('interval', 500));
const TOP = Number(opt('top', 30));
const AFTER_S = Number(opt('after', 1));
const CAP_US = Number(opt('cap', Math.max(1000, 5 * INTERVAL_US)));
// `--no-profile`: the same storm, no inspector: what the profiler itself costs.
const NO_PROFILE = argv.includes('--no-profile');
// `--peer js`: the JS twin instead (bench/peers/js-room), for comparison.
const PEER = opt('peer', 'rust');
// `--assets`: the Rust worker with its static-assets binding, as it was benchmarked before
// issue 24, so a request goes through Miniflare's asset router (three more isolates) before the
// worker. The benchmarks now serve both peers without it (peers.mjs).
const ASSETS = argv.includes('--assets');

// `--reconnect`: the reconnect storm instead (reconnect_storm.mjs): the same users were
// connected to the same rooms when workerd was killed; the profiled server starts on that
// storage.
const RECONNECT = argv.includes('--reconnect');
const PREFIX = `profile-${process.pid}`;
const STORAGE = RECONNECT ? fs.mkdtempSync(path.join(os.tmpdir(), 'profile-storm-')) : undefined;

/** For `--reconnect`: every user connected to their room, then workerd killed under them. */
async function populate() {
  const before = new Set(workerdChildren());
  const server = await startPeer(PEER, {}, { persistDir: STORAGE });
  const sockets = await population(server.url, PREFIX, CONNS, ROOMS);
  await new Promise((r) => setTimeout(r, 3000));
  for (const pid of workerdChildren().filter((p) => !before.has(p))) process.kill(pid, 'SIGKILL');
  for (const ws of sockets) ws.terminate();
  await server.stop().catch(() => {});
}

/** The peer, served as the benchmarks do (or with assets); `{url, stop}`. */
async function serve(inspector) {
  if (RECONNECT) await populate();
  if (!ASSETS) return startPeer(PEER, {}, { ...inspector, persistDir: STORAGE });
  const mf = new Miniflare(workerOptions({ vars: BENCH_VARS, ipLimit: null, ...inspector }));
  const url = (await mf.ready).toString().replace(/\/$/, '');
  return { url, stop: () => mf.dispose() };
}

/**
 * The buckets, tried in order on each sample's whole stack (leaf to root); the first rule with
 * a matching frame takes the sample. V8's pseudo-frames first: `(idle)`, `(garbage collector)`,
 * `(program)` (workerd's own C++ while it holds the isolate but runs no JS frame: the
 * HTTP/WebSocket machinery, the event loop). Then what the time is spent doing, then whose code
 * it is. Release builds inline much of our code into the futures that poll it
 * (`js_sys::futures::future_to_promise::{{closure}}`), so a sample with no `edge_chat::` frame
 * is not necessarily outside our code: the last bucket says so.
 */
const BUCKETS = [
  ['idle (not counted)', /^\(idle\)$/],
  ['runtime: garbage collector', /^\(garbage collector\)$/],
  ['runtime: workerd inside the isolate, no JS frame ((program))', /^\(program\)$/],
  ['JWT verification (hmac, sha2, base64, claims)', /edge_chat::auth::|edge_chat::shell::auth::|jsonwebtoken|hmac::|sha2::|base64::/],
  ['SQLite (sql.exec, cursors)', /edge_chat::shell::common::sql::|__wbg_exec_|SqlStorage/],
  ['attachments and tags', /attachment|Attachment|getWebSockets|getTags|remember_connection_id/],
  ['registry and stats reports (room to shard requests)', /shell::room::registry_queue|shell::room::reports|shell::calls::call_registry|shell::calls::call_stats/],
  ['room: frames to the others (joined fan-out, WebSocket send)', /shell::room::sends::/],
  ['welcome JSON (members list, serde_json)', /members_page|edge_chat::protocol::server|serde_json::ser/],
  ['front worker (routing, forwarding the upgrade to the room)', /shell::front::|edge_chat::front::/],
  ['WebSocket accept (runtime)', /acceptWebSocket|WebSocketPair/],
  ['room: admission and turn (the rest of its code)', /shell::room::|edge_chat::room::/],
  ['registry shard (answering, storing)', /shell::registry::|edge_chat::registry::/],
  ['stats shard', /shell::stats::|edge_chat::stats::/],
  ['JSON parsing (serde_json, no caller named)', /serde_json::/],
  ['Request/Response objects and body streams (workers-rs)', /^(Request|Response|Headers|read|text|getReader|fetch|idFromName|get)$|__wbg_releaseLock|__wbg_read_|__wbg_text_/],
  ['runtime: futures, timers, wasm-bindgen glue (JS and Wasm)', /js_sys::futures|wasm_bindgen|queueMicrotask|setTimeout|clearTimeout|^wasm-to-js$|^js-to-wasm|__wbg|__wbindgen|_wbg_cb_unref|worker::/],
];

/** GET a JSON document. */
async function getJson(url) {
  const res = await fetch(url);
  return res.json();
}

/** The generator: the storm's connects, no publishers; resolves to its JSON summary. */
function storm(url, json) {
  const args = ['-c', '1', path.join(ROOT, 'target/release/loadgen'), '--url', url, '--secret', 'test-secret',
    '--rooms', String(ROOMS), '--conns', String(CONNS), '--publishers', '0', '--duration', String(AFTER_S + 1),
    '--warmup', '0', '--server-of', String(process.pid), '--server-name', 'workerd', '--no-progress', '--json', json,
    ...(RECONNECT ? ['--room-prefix', PREFIX] : [])];
  const child = spawn('taskset', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.on('exit', () => resolve(JSON.parse(fs.readFileSync(json, 'utf8')))));
}

/** Runs the storm under the profiler; `{profile, window: [startMs, endMs]}` in profile time. */
async function profileStorm() {
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const inspectorPort = 9300 + Math.floor(Math.random() * 500);
  const server = await serve(NO_PROFILE ? {} : { inspectorPort });
  try {
    // Every target is profiled (the entry and asset-router workers run before ours on each
    // request); the buckets are of our worker's (`core:user:`).
    const targets = NO_PROFILE ? [] : await getJson(`http://127.0.0.1:${inspectorPort}/json/list`);
    const clients = [];
    for (const t of targets) {
      try {
        const client = await cdp(t.webSocketDebuggerUrl);
        await client.send('Profiler.enable');
        await client.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
        clients.push({ name: t.title.replace(/^workerd: worker /, ''), client });
      } catch (e) {
        process.stderr.write(`not profiled: ${t.title} (${e.message})\n`);
      }
    }
    for (const { client } of clients) await client.send('Profiler.start');
    const started = performance.now();
    const json = path.join(os.tmpdir(), `profile-storm-${process.pid}.json`);
    const summary = await storm(server.url, json);
    const profiles = {};
    for (const { name, client } of clients) {
      profiles[name] = (await client.send('Profiler.stop')).profile;
      client.close();
    }
    const profile = profiles['core:user:'] ?? { nodes: [], samples: [], timeDeltas: [], startTime: 0, endTime: 0 };
    fs.rmSync(json, { force: true });
    // The connect window in profile time: the generator starts as the profiler does (tokens are
    // signed in milliseconds) and every socket is welcomed after conns / connections_per_s.
    const connectMs = (CONNS / summary.connections_per_s) * 1000;
    process.stderr.write(`profile ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms, ` +
      `wall ${(performance.now() - started).toFixed(0)} ms; connect ${connectMs.toFixed(0)} ms, ` +
      `${summary.connections_per_s.toFixed(0)} connections/s, ${summary.failed_connections} failed, ` +
      `server CPU per connect ${summary.server_cpu_ms_per_connect.toFixed(2)} ms (measured by the generator)\n`);
    return { profile, profiles, window: [0, connectMs + AFTER_S * 1000], connectMs, summary };
  } finally {
    await server.stop();
  }
}

/** Per sample: its node and its duration (ms), only those in `[fromMs, toMs)` of the profile. */
function samplesIn(profile, [fromMs, toMs]) {
  const out = [];
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // The isolate is sampled only while workerd is inside it: a long gap to the next sample is
    // time spent outside (I/O, other isolates, idle), not in this sample's function.
    const dt = Math.min(profile.timeDeltas[i + 1] ?? INTERVAL_US, CAP_US) / 1000;
    const ms = t / 1000;
    if (ms >= fromMs && ms < toMs) out.push([profile.samples[i], dt]);
  }
  return out;
}

/** Whose code a stack is: the first owner rule matching a frame, leaf to root. */
const OWNERS = [
  ['front worker', /shell::front::|edge_chat::front::/],
  ['room: reports to registry/stats shards', /shell::room::registry_queue|shell::room::reports|shell::calls::call_registry/],
  ['room', /shell::room::|edge_chat::room::/],
  ['registry shard', /shell::registry::|edge_chat::registry::|RegistryRequest/],
  ['stats shard', /shell::stats::|edge_chat::stats::/],
];
const FUTURE = /future_to_promise::\{\{closure\}\}::\{\{closure\}\}/;
const ownerOf = (names) => {
  for (const n of names) {
    const hit = OWNERS.find(([, re]) => re.test(n));
    if (hit) return hit[0];
  }
  return undefined;
};

function aggregate(profile, window) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stack = (id) => {
    const names = [];
    for (let x = id; x !== undefined; x = parent.get(x)) names.push(nodes.get(x).callFrame.functionName);
    return names;
  };
  const samples = samplesIn(profile, window).map(([id, dt]) => [id, dt, stack(id)]);
  // Each top-level future (one per handler: the front's fetch, a room's fetch, a shard's...)
  // owned by whoever its samples with a named frame mostly belong to.
  const votes = new Map();
  for (const [, dt, names] of samples) {
    const f = names.findIndex((n) => FUTURE.test(n));
    const owner = f > 0 ? ownerOf(names.slice(0, f)) : undefined;
    if (!owner) continue;
    const v = votes.get(names[f]) ?? new Map();
    v.set(owner, (v.get(owner) ?? 0) + dt);
    votes.set(names[f], v);
  }
  const futureOwner = new Map([...votes].map(([f, v]) => [f, [...v].sort((a, b) => b[1] - a[1])[0][0]]));
  const self = new Map();
  const buckets = new Map(BUCKETS.map(([b]) => [b, 0]));
  const owners = new Map();
  let other = 0;
  for (const [id, dt, names] of samples) {
    const f = nodes.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? path.basename(f.url) : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    const hit = BUCKETS.find(([, re]) => names.some((n) => re.test(n)));
    if (hit) buckets.set(hit[0], buckets.get(hit[0]) + dt); else other += dt;
    if (/^\((idle|program|garbage collector)\)$/.test(names[0])) continue;
    const owner = ownerOf(names) ?? futureOwner.get(names.find((n) => FUTURE.test(n))) ?? 'no owner found (runtime, glue)';
    owners.set(owner, (owners.get(owner) ?? 0) + dt);
  }
  buckets.set('other (allocator, core, unnamed JS)', other);
  return { self, buckets, owners };
}

function report({ self, buckets, owners }, connects, label) {
  const idle = buckets.get('idle (not counted)');
  const busy = [...buckets.values()].reduce((a, b) => a + b, 0) - idle;
  const pct = (ms) => `${((100 * ms) / busy).toFixed(1)} %`;
  const per = (ms) => `${(ms / connects).toFixed(3)} ms`;
  const lines = [`\n### ${label}: ${busy.toFixed(0)} ms busy in the isolate's thread (${per(busy)} per connect), ${idle.toFixed(0)} ms idle\n`,
    '| bucket | share | ms | per connect |', '|---|---|---|---|'];
  for (const [b, ms] of [...buckets].sort((a, b) => b[1] - a[1])) {
    if (b.startsWith('idle')) continue;
    lines.push(`| ${b} | ${pct(ms)} | ${ms.toFixed(0)} | ${per(ms)} |`);
  }
  lines.push('', 'JS and Wasm time by whose code it is (a frame of ours on the stack, or the handler\'s future):', '',
    '| owner | share of busy | per connect |', '|---|---|---|');
  for (const [o, ms] of [...owners].sort((a, b) => b[1] - a[1])) lines.push(`| ${o} | ${pct(ms)} | ${per(ms)} |`);
  lines.push('', `Top ${TOP} functions by self time (idle left out):`, '', '| function | self | share |', '|---|---|---|');
  const top = [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, TOP);
  for (const [k, ms] of top) lines.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${ms.toFixed(1)} ms | ${pct(ms)} |`);
  return lines.join('\n');
}

const from = opt('from');
if (from) {
  const profile = JSON.parse(fs.readFileSync(from, 'utf8'));
  const [a, b] = (opt('window') ?? `0,${Infinity}`).split(',').map(Number);
  process.stdout.write(report(aggregate(profile, [a, b]), CONNS, `${from}, ${a}–${b} ms`) + '\n');
} else {
  const { profile, profiles, window, connectMs } = await profileStorm();
  if (STORAGE) fs.rmSync(STORAGE, { recursive: true, force: true });
  if (NO_PROFILE) process.exit(0);
  const out = opt('out', path.join(os.tmpdir(), `storm-${Date.now()}.cpuprofile`));
  fs.writeFileSync(out, JSON.stringify(profile));
  process.stderr.write(`profile written to ${out}\n`);
  // The other isolates on a request's way (workerd's entry worker, the asset router before our
  // worker): their busy time in the connect window, per connect.
  const busy = (p) => {
    const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
    return samplesIn(p, [0, connectMs]).reduce((a, [id, dt]) => a + (idle.has(id) ? 0 : dt), 0);
  };
  process.stdout.write(`\nBusy per connect in each isolate, connect window (ms, idle left out): ` +
    Object.entries(profiles).map(([n, p]) => `${n} ${(busy(p) / CONNS).toFixed(3)}`).join(', ') + '\n');
  process.stdout.write(report(aggregate(profile, [0, connectMs]), CONNS, `connect window (0–${connectMs.toFixed(0)} ms)`) + '\n');
  process.stdout.write(report(aggregate(profile, window), CONNS,
    `connect window + ${AFTER_S} s after (0–${window[1].toFixed(0)} ms)`) + '\n');
}
