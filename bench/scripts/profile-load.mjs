// Where a message's CPU goes (issue 24): a V8 CPU profile of our isolate during one load
// generator run of the base cell (1 room × 64, 32 B, 4 in flight, `?batch=1`), optionally with
// the chatty clients (typing and read receipts) or with webhooks on, aggregated per
// acknowledged publish (= per message).
//
//   node bench/scripts/profile-load.mjs [--chatty] [--webhooks] [--seconds 5] [--interval 500]
//        [--out FILE.cpuprofile]
//   node bench/scripts/profile-load.mjs --from FILE.cpuprofile   # FILE.json: the run's summary
//
// The same machinery as bench/scripts/profile-storm.mjs (which says how: Miniflare's
// `inspectorPort`, the DevTools Profiler over CDP on the `core:user:` target, Rust names from
// the release Wasm's name section), here around a publishing run: this process and the server
// on core 0, the generator on core 1. `--webhooks` points `WEBHOOK_URL` at a receiver in this
// process that answers 200 at once. Prints our isolate's busy time per message, the time under
// each GROUP (any frame of a sample's stack matching: groups overlap), and the functions of ours
// closest to the leaf under which the time is spent (self time of everything they call).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cdp } from './cdp.mjs';
import { startPeer } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const INTERVAL_US = Number(opt('interval', 500));
const CAP_US = 5 * INTERVAL_US;

const GROUPS = [
  ['read receipts (room::receipts, the cursor read and write)', /receipts::|save_cursor|read_position|cursor_of/],
  ['read-state reports queue (read_states)', /room::read_states/],
  ['sends (shell::room::sends)', /shell::room::sends::/],
  ['WebSocket.send (runtime)', /^send$/],
  ['SQLite exec', /__wbg_exec_|^exec$/],
  ['the log write (SqliteLog::append)', /SqliteLog as .*MessageLog>::append/],
  ['webhook outbox write (Webhooks::flush)', /shell::webhooks::Webhooks::flush/],
  ['webhook events built (Webhooks::record)', /shell::webhooks::Webhooks::record/],
  ['webhook delivery (shell::webhooks::delivery/store)', /shell::webhooks::(delivery|store)::/],
  ['webSocketMessage handler', /websocket_message|webSocketMessage/],
  ['runtime: (program)', /^\(program\)$/],
  ['runtime: garbage collector', /^\(garbage collector\)$/],
];

/** A receiver that answers every POST 200 at once; resolves to its URL. */
async function receiver() {
  const rx = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
  await new Promise((ok) => rx.listen(0, '127.0.0.1', ok));
  rx.unref();
  return `http://127.0.0.1:${rx.address().port}/hooks`;
}

/** Runs the cell under the profiler; writes OUT (the profile) and OUT.json (the run's summary). */
async function profileRun(out) {
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const vars = argv.includes('--webhooks') ? { WEBHOOK_URL: await receiver(), WEBHOOK_SECRET: 'bench-secret' } : {};
  const inspectorPort = 9300 + Math.floor(Math.random() * 500);
  const server = await startPeer('rust', vars, { inspectorPort });
  try {
    const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
    const client = await cdp(targets.find((t) => t.title.includes('core:user:')).webSocketDebuggerUrl);
    await client.send('Profiler.enable');
    await client.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
    await client.send('Profiler.start');
    const args = ['-c', '1', path.join(ROOT, 'target/release/loadgen'), '--url', server.url, '--secret', 'test-secret',
      '--rooms', '1', '--conns', '64', '--in-flight', '4', '--batch', '--duration', opt('seconds', '5'), '--warmup', '1',
      ...(argv.includes('--chatty') ? ['--chatty'] : []), '--server-of', String(process.pid), '--server-name', 'workerd',
      '--no-progress', '--json', `${out}.json`];
    await new Promise((ok) => spawn('taskset', args, { stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', ok));
    const { profile } = await client.send('Profiler.stop');
    client.close();
    fs.writeFileSync(out, JSON.stringify(profile));
  } finally {
    await server.stop();
  }
}

/** Busy time per message: in all, per group, and under our functions nearest the leaf. */
function report(file) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const run = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map();
  const stack = (id) => {
    if (!stacks.has(id)) {
      const names = [];
      for (let x = id; x !== undefined; x = parent.get(x)) names.push(nodes.get(x).callFrame.functionName);
      stacks.set(id, names);
    }
    return stacks.get(id);
  };
  let busy = 0;
  const groups = new Map();
  const ours = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const names = stack(p.samples[i]);
    if (names[0] === '(idle)') continue;
    // Sampled only while workerd is inside the isolate: a long gap is time spent elsewhere.
    const dt = Math.min(p.timeDeltas[i + 1] ?? INTERVAL_US, CAP_US) / 1000;
    busy += dt;
    for (const [g, re] of GROUPS) if (names.some((n) => re.test(n))) groups.set(g, (groups.get(g) ?? 0) + dt);
    const mine = names.find((n) => n.startsWith('edge_chat::') || n.startsWith('<edge_chat::'));
    const key = mine ? mine.replace(/::h[0-9a-f]{16}$/, '') : '(no function of ours on the stack)';
    ours.set(key, (ours.get(key) ?? 0) + dt);
  }
  const per = (ms) => `${((1000 * ms) / run.acked).toFixed(1)} µs`;
  const lines = [`${file}: ${run.acked} messages, ${Math.round(run.delivered_per_s)} delivered/s; our isolate busy ` +
    `${busy.toFixed(0)} ms = ${per(busy)} per message (server CPU, all of workerd: ` +
    `${(run.server_cpu_s_per_million_deliveries * 64).toFixed(0)} µs per message)`, '', '| group | per message | share |', '|---|---|---|'];
  for (const [g] of GROUPS) lines.push(`| ${g} | ${per(groups.get(g) ?? 0)} | ${((100 * (groups.get(g) ?? 0)) / busy).toFixed(1)} % |`);
  lines.push('', '| under our function (nearest the leaf) | per message |', '|---|---|');
  for (const [k, ms] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`| \`${k.slice(-100)}\` | ${per(ms)} |`);
  return lines.join('\n');
}

const from = opt('from');
const out = from ?? opt('out', path.join(os.tmpdir(), `load-${Date.now()}.cpuprofile`));
if (!from) await profileRun(out);
process.stdout.write(`${report(out)}\n`);
