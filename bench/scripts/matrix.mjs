// The benchmark matrix: every peer through the same load generator, the same way every time.
//
//   node bench/scripts/matrix.mjs            # `make bench`: full matrix + scenarios → docs/benchmarks.md
//   node bench/scripts/matrix.mjs --quick    # `make bench-quick`: a slice, < 3 minutes, no doc change
//   options: --runs N (runs per cell and peer), --seconds S (measured seconds per run),
//            --cells id,id  --peers id,id  --no-scenarios  --no-latency
//
// Design (one factor at a time around a base cell, not the full cross product — 48 cells × 4
// peers × 5 runs would take hours on the reference machine and say little more):
//   base       1 room × 64 members, 32 B payload, 1 connection per user, 4 publishes in flight
//   room size  2, 16, 256 members (256 with 1 in flight, so ~256 publishes are in flight as in base)
//   payload    256 B, 4 KiB
//   rooms      100 rooms × 8 members (800 connections, 2 in flight each)
//   users      1 room × 63 connections of 21 users (3 connections each)
// Each run is one `bench/scripts/ab.sh` (server on core 0, generator on core 1, the server
// started fresh and stopped after), peers alternate run by run (the order rotates), and every
// run verifies every delivery: a lost or duplicated message fails the benchmark.
// Then latency at a fixed arrival rate of half the JS twin's measured maximum, and the scenarios
// (connect storms, join storm, idle memory per hibernated connection — bench/scripts/storms.mjs —,
// a deploy's reconnect storm — bench/scripts/reconnect_storm.mjs —, a big room —
// bench/scripts/big_room.mjs —,
// what the platform bills — bench/scripts/billing.mjs —, wake cost, per-user broadcast, webhooks
// on vs off). The repeated scenarios run min(--runs, 3) alternated rounds per peer, medians.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const QUICK = flag('quick');
const RUNS = Number(opt('runs', QUICK ? 2 : 5));
const SECONDS = Number(opt('seconds', 3));
const SCENARIO_RUNS = Math.min(RUNS, 3);

const CELLS = [
  { id: 'base', factor: 'base', name: '1 room × 64, 32 B', args: ['--rooms', '1', '--conns', '64', '--in-flight', '4'] },
  { id: 'size-2', factor: 'room size', name: '1 room × 2', args: ['--rooms', '1', '--conns', '2', '--in-flight', '4'] },
  { id: 'size-16', factor: 'room size', name: '1 room × 16', args: ['--rooms', '1', '--conns', '16', '--in-flight', '4'] },
  { id: 'size-256', factor: 'room size', name: '1 room × 256', args: ['--rooms', '1', '--conns', '256', '--in-flight', '1'] },
  { id: 'payload-256', factor: 'payload', name: '1 room × 64, 256 B', args: ['--rooms', '1', '--conns', '64', '--in-flight', '4', '--payload', '256'] },
  { id: 'payload-4k', factor: 'payload', name: '1 room × 64, 4 KiB', args: ['--rooms', '1', '--conns', '64', '--in-flight', '4', '--payload', '4096'] },
  { id: 'rooms-100', factor: 'rooms', name: '100 rooms × 8', args: ['--rooms', '100', '--conns', '800', '--in-flight', '2'] },
  { id: 'users-3', factor: 'connections per user', name: '1 room × 63, 3 per user', args: ['--rooms', '1', '--conns', '63', '--users', '21', '--in-flight', '4'] },
];
const QUICK_CELLS = ['base', 'payload-4k'];
const PEERS = [
  { id: 'rust-batch', label: 'Rust, `?batch=1` (durable)', peer: 'rust', args: ['--batch'] },
  { id: 'rust', label: 'Rust, v1 frames (durable)', peer: 'rust', args: [] },
  { id: 'js', label: 'JS twin (durable)', peer: 'js', args: [] },
  { id: 'fastapi', label: 'FastAPI + Redis (no write)', peer: 'fastapi', args: [] },
];

const pick = (list, ids) => (ids ? list.filter((x) => ids.split(',').includes(x.id)) : list);
const cells = pick(CELLS, opt('cells', QUICK ? QUICK_CELLS.join(',') : undefined));
const peers = pick(PEERS, opt('peers'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-matrix-'));
const resultsDir = path.join(ROOT, 'bench/results');
fs.mkdirSync(resultsDir, { recursive: true });

let counter = 0;
/** Runs `cmd args… --json FILE` and returns `{summary}` (the JSON it wrote) or, when it failed,
 * `{summary?, failed}` (a generator that saw a loss exits 1 but still writes its report). */
function runJson(cmd, args, timeout) {
  const json = path.join(tmp, `${counter++}.json`);
  const read = () => (fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined);
  try {
    execFileSync(cmd, [...args, '--json', json], { stdio: ['ignore', 'ignore', 'inherit'], timeout });
    return { summary: read() };
  } catch (e) {
    return { summary: read(), failed: String(e.message).split('\n')[0] };
  }
}

/** One generator run against one peer (bench/scripts/ab.sh: pinned, fresh server). */
function run(peer, loadArgs, label) {
  process.stderr.write(`  ${label} · ${peer.label}\n`);
  return runJson(path.join(ROOT, 'bench/scripts/ab.sh'), [peer.peer, '--', ...peer.args, ...loadArgs], 180_000);
}

/** A/B alternation: the peer order rotates every round, so no peer always runs first (a warm
 * page cache, a cooler CPU) or last. */
const rotate = (list, round) => list.map((_, i) => list[(i + round) % list.length]);
const rotated = (round) => rotate(peers, round);
const total = cells.length * peers.length * RUNS;
const started = new Date();
process.stderr.write(`benchmark matrix: ${cells.length} cells × ${peers.length} peers × ${RUNS} runs = ${total} runs of ${SECONDS} s\n`);

const runs = [];
for (const cell of cells) {
  for (let round = 0; round < RUNS; round++) {
    for (const peer of rotated(round)) {
      const label = `[${runs.length + 1}/${total}] ${cell.name} · round ${round + 1}`;
      const r = run(peer, [...cell.args, '--duration', String(SECONDS), '--warmup', '1'], label);
      runs.push({ cell: cell.id, peer: peer.id, round, ...r });
    }
  }
}

// Latency at a fixed arrival rate: half of what the JS twin delivered at most in the base cell.
let latency;
const jsBase = median(runs.filter((r) => r.cell === 'base' && r.peer === 'js' && r.summary).map((r) => r.summary.delivered_per_s));
if (!QUICK && !flag('no-latency') && jsBase) {
  const rate = Math.round((0.5 * jsBase) / 64); // every publish reaches all 64 members (echo on)
  process.stderr.write(`latency at ${rate} publishes/s (half the JS twin's ${Math.round(jsBase)} deliveries/s)\n`);
  const lruns = [];
  for (let round = 0; round < RUNS; round++) {
    for (const peer of rotated(round)) {
      const r = run(peer, ['--rooms', '1', '--conns', '64', '--mode', 'rate', '--rate', String(rate), '--duration', '5', '--warmup', '1'], `latency · round ${round + 1}`);
      lruns.push({ cell: 'latency', peer: peer.id, round, ...r });
    }
  }
  latency = { rate, basis: `half the JS twin's median maximum in the base cell, ${Math.round(jsBase)} deliveries/s; 1 room × 64, 32 B`, runs: lruns };
}

/** `taskset` arguments for a script of bench/scripts with client and server on core 0 (one
 * message at a time, nothing to contend for). */
const node = (script, ...args) => ['-c', '0', 'node', path.join(ROOT, 'bench/scripts', script), ...args];

/** Wake cost: wake_cost.mjs SCENARIO_RUNS times per peer, alternated (the order rotating every
 * round); warm, cold and wake cost are each the median of the runs' own figures. */
function wakeCost() {
  const wakePeers = [...new Set(peers.map((p) => p.peer))].filter((p) => p !== 'fastapi');
  const wake = [];
  for (let round = 0; round < SCENARIO_RUNS; round++) {
    for (const peer of rotate(wakePeers, round)) {
      process.stderr.write(`  wake cost · round ${round + 1}/${SCENARIO_RUNS} · ${peer}\n`);
      const r = runJson('taskset', node('wake_cost.mjs', '--peer', peer, '--rooms', '5'), 120_000);
      wake.push(r.failed ? { peer, round, failed: r.failed } : { ...r.summary, round });
    }
  }
  const row = (peer) => {
    const ok = wake.filter((w) => w.peer === peer && !w.failed);
    const failed = wake.filter((w) => w.peer === peer && w.failed);
    const label = peer === 'rust' ? 'Rust worker' : 'JS twin';
    if (!ok.length) return `| ${label} | failed: ${failed[0]?.failed} | | | ${failed.length} |`;
    const ms = (key) => `${median(ok.map((w) => w[key])).toFixed(2)} ms`;
    return `| ${label} | ${ms('warm_median_ms')} | ${ms('cold_median_ms')} | **${ms('wake_cost_ms')}** | ${failed.length} |`;
  };
  return {
    runs: wake,
    markdown: [`Medians of ${SCENARIO_RUNS} alternated run${SCENARIO_RUNS === 1 ? '' : 's'} per peer (the peer order rotating ` +
      "every round) of each run's own figures: its medians over its 5 rooms, warm (a message 2 s after the room's " +
      'first, past the registry report that first message sends) and after hibernation, and the difference of the ' +
      'two (its wake cost).', '',
      '| peer | warm: publish → other member (median) | after hibernation (median) | wake cost | failed runs |',
      '|---|---|---|---|---|', ...wakePeers.map(row)].join('\n'),
  };
}

// Scenarios.
const scenarios = {};
if (!QUICK && !flag('no-scenarios')) {
  // Connect storms, the join storm and idle memory at 1,000 and 10,000 connections (issue 13):
  // their own script, with their own alternation (bench/scripts/storms.mjs).
  process.stderr.write('scenarios: connect storms, join storm, idle memory (bench/scripts/storms.mjs)\n');
  const storms = runJson('node', [path.join(ROOT, 'bench/scripts/storms.mjs'), '--runs', String(SCENARIO_RUNS)], 3_600_000);
  if (storms.summary) Object.assign(scenarios, storms.summary.scenarios);
  if (storms.failed) scenarios['Connect storms'] = { failed: storms.failed, markdown: `failed: ${storms.failed}` };

  // A deploy's reconnect storm (issue 24): the same 2,000 users back after workerd restarts.
  process.stderr.write('scenario: reconnect storm after a restart (bench/scripts/reconnect_storm.mjs)\n');
  const reconnect = runJson('node', [path.join(ROOT, 'bench/scripts/reconnect_storm.mjs'), '--storms', String(SCENARIO_RUNS)], 3_600_000);
  if (reconnect.summary) Object.assign(scenarios, reconnect.summary.scenarios);
  if (reconnect.failed) scenarios['Reconnect storm after a restart'] = { failed: reconnect.failed, markdown: `failed: ${reconnect.failed}` };

  process.stderr.write('scenario: what the platform bills (bench/scripts/billing.mjs)\n');
  const billing = runJson('node', [path.join(ROOT, 'bench/scripts/billing.mjs'), '--runs', String(SCENARIO_RUNS)], 3_600_000);
  if (billing.summary) Object.assign(scenarios, billing.summary.scenarios);
  if (billing.failed) scenarios['What the platform bills (counted by the objects)'] = { failed: billing.failed, markdown: `failed: ${billing.failed}` };

  process.stderr.write('scenario: wake cost (first message to a hibernated room)\n');
  scenarios['Wake cost (5 rooms of 2, first message after 15 s idle vs a warm message)'] = wakeCost();

  process.stderr.write('scenario: a chatty room (typing and read receipts, issue 14)\n');
  const chatty = runJson('node', [path.join(ROOT, 'bench/scripts/chatty_room.mjs'), '--runs', String(SCENARIO_RUNS)], 1_200_000);
  scenarios['A chat room with typing and read receipts (1 room × 64, everyone publishing)'] = chatty.failed
    ? { failed: chatty.failed, markdown: `failed: ${chatty.failed}` }
    : chatty.summary;

  // A big room (issue 25): 1 room × 1,000/2,000/5,000, the room's sends and sub-requests per
  // message counted (bench/scripts/big_room.mjs), with the fan-out rows: K = 1,000 sockets per
  // object and degree 2, so that 5,000 members make a tree of objects on this machine.
  process.stderr.write('scenario: a big room (bench/scripts/big_room.mjs)\n');
  const big = runJson('node', [path.join(ROOT, 'bench/scripts/big_room.mjs'), '--runs', String(Math.min(SCENARIO_RUNS, 2)),
    '--fanout', '1000', '--fanout-degree', '2'], 3_600_000);
  if (big.summary) Object.assign(scenarios, big.summary.scenarios);
  if (big.failed && !big.summary) scenarios['A big room'] = { failed: big.failed, markdown: `failed: ${big.failed}` };

  process.stderr.write('scenario: per-user broadcast to a user in 10 rooms\n');
  const ub = runJson('taskset', node('user_broadcast.mjs', '10', '300'), 180_000);
  scenarios['Per-user broadcast to a user in 10 rooms'] = ub.failed ? { failed: ub.failed, markdown: `failed: ${ub.failed}` } : ub.summary;

  process.stderr.write('scenario: webhooks on vs off (base cell)\n');
  const wh = runJson('node', [path.join(ROOT, 'bench/scripts/webhooks.mjs'), '--runs', String(SCENARIO_RUNS), '--seconds', String(SECONDS)], 900_000);
  scenarios['Webhooks on vs off (1 room × 64, 32 B)'] = wh.failed ? { failed: wh.failed, markdown: `failed: ${wh.failed}` } : wh.summary;
}

const cpuModel = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
const matrix = {
  started: started.toISOString().replace(/\.\d+Z$/, 'Z'),
  machine: `${os.cpus().length} × ${cpuModel}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`,
  runs_per_cell: RUNS,
  seconds_per_run: SECONDS,
  cells: cells.map(({ id, name, factor, args }) => ({ id, name, factor, args })),
  peers: peers.map(({ id, label }) => ({ id, label })),
  runs,
  latency,
  scenarios,
};
// Only the whole standard matrix rewrites docs/benchmarks.md; a slice prints its report.
const partial = QUICK || argv.length > 0;
const out = path.join(resultsDir, QUICK ? 'quick.json' : partial ? 'partial.json' : 'matrix.json');
fs.writeFileSync(out, JSON.stringify(matrix, null, 2));
process.stderr.write(`results: ${path.relative(ROOT, out)}\n`);

const report = path.join(ROOT, 'target/release/bench-report');
const reportArgs = partial
  ? [out, '--svg', out.replace(/\.json$/, '.svg')]
  : [out, '--doc', path.join(ROOT, 'docs/benchmarks.md'), '--svg', path.join(ROOT, 'docs/benchmarks-throughput.svg')];
execFileSync(report, reportArgs, { stdio: 'inherit' });
fs.rmSync(tmp, { recursive: true, force: true });
const scenarioRuns = Object.entries(scenarios).flatMap(([name, v]) =>
  (v.runs ?? [v]).map((r) => ({ cell: name, peer: r.peer ?? '-', ...r })));
const bad = [...runs, ...(latency?.runs ?? []), ...scenarioRuns].filter((r) => r.failed || r.summary?.lost || r.summary?.duplicated);
if (bad.length) {
  process.stderr.write(`${bad.length} run(s) failed or lost/duplicated messages: ${bad.map((r) => `${r.cell}/${r.peer}: ${r.failed ?? 'loss'}`).join('; ')}\n`);
  process.exitCode = 1;
}
