// Connect storms and idle cost (issue 13): every peer through the same load generator, server
// on core 0 and generator on core 1 (bench/scripts/ab.sh), runs alternated peer by peer.
//
//   node bench/scripts/storms.mjs [--json FILE] [--storms N] [--quick]
//
// - Storm of new users: 2,000 connections of 2,000 new users in 20 rooms, opened at once
//   (every connect concurrent); connections/s, connect p99, failed upgrades, the server's CPU
//   per connect, then the latency of the first messages published after the storm (20
//   publishers at 40 publishes/s for 2 s). N storms per peer (default 5), medians.
// - Join storm: 1,000 new users join one room at once, against the same storm spread over 100
//   rooms of 10: connect p99 and the server's CPU per connect.
// - Idle memory: 1,000 and 10,000 connections, no publisher, 20 s (past the ~10 s hibernation
//   timeout): RSS per idle, hibernated connection.
// Prints Markdown; with --json writes {scenarios: {name: {runs, markdown}}} for matrix.mjs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const QUICK = argv.includes('--quick');
const STORMS = Number(opt('storms', QUICK ? 1 : 5));
const PEERS = [
  { id: 'rust', label: 'Rust worker', peer: 'rust', args: [] },
  { id: 'rust-batch', label: 'Rust worker, `?batch=1`', peer: 'rust', args: ['--batch'] },
  { id: 'js', label: 'JS twin', peer: 'js', args: [] },
];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-storms-'));
let counter = 0;

/** One pinned generator run; `{summary}` or `{summary?, failed}`. */
function run(peer, loadArgs, label) {
  process.stderr.write(`  ${label} · ${peer.label}\n`);
  const json = path.join(tmp, `${counter++}.json`);
  const read = () => (fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined);
  try {
    execFileSync(path.join(ROOT, 'bench/scripts/ab.sh'), [peer.peer, '--', ...peer.args, ...loadArgs, '--json', json],
      { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    return { peer: peer.id, summary: read() };
  } catch (e) {
    return { peer: peer.id, summary: read(), failed: String(e.message).split('\n')[0] };
  }
}

const f = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
const med = (runs, key) => median(runs.filter((r) => r.summary).map((r) => key(r.summary)));

function storm(peers) {
  const args = ['--rooms', '20', '--conns', '2000', '--publishers', '20', '--mode', 'rate', '--rate', '40',
    '--duration', '2', '--warmup', '0'];
  const runs = [];
  for (let i = 0; i < STORMS; i++) {
    const order = peers.map((_, k) => peers[(k + i) % peers.length]);
    for (const p of order) runs.push({ storm: i + 1, ...run(p, args, `storm ${i + 1}/${STORMS}`) });
  }
  const rows = peers.map((p) => {
    const mine = runs.filter((r) => r.peer === p.id);
    const failed = mine.reduce((n, r) => n + (r.summary?.failed_connections ?? 0), 0);
    return `| ${p.label} | ${f(med(mine, (s) => s.connections_per_s))} | ${f(med(mine, (s) => s.connect_p99_ms))} ms | ${failed} | ${f(med(mine, (s) => s.server_cpu_ms_per_connect), 2)} ms | ${f(med(mine, (s) => s.latency.p50_ms), 1)} ms | ${mine.filter((r) => r.failed).length} |`;
  });
  return {
    runs,
    markdown: [`${STORMS} storms per peer, medians; failed upgrades summed over all storms.`, '',
      '| peer | connections/s | connect p99 | failed upgrades | server CPU per connect | first messages after, p50 | failed runs |',
      '|---|---|---|---|---|---|---|', ...rows].join('\n'),
  };
}

function joinStorm(peers) {
  const shapes = [
    { id: 'one', label: '1 room × 1,000', args: ['--rooms', '1', '--conns', '1000'] },
    { id: 'spread', label: '100 rooms × 10', args: ['--rooms', '100', '--conns', '1000'] },
  ];
  const runs = [];
  for (const shape of shapes) {
    for (const p of peers) {
      const r = run(p, [...shape.args, '--publishers', '0', '--duration', '1', '--warmup', '0'], `join storm ${shape.label}`);
      runs.push({ shape: shape.id, ...r });
    }
  }
  const cell = (p, shape, key, d) => f(med(runs.filter((r) => r.peer === p.id && r.shape === shape), key), d);
  const rows = peers.map((p) => `| ${p.label} | ${cell(p, 'one', (s) => s.connect_p99_ms)} ms | ${cell(p, 'spread', (s) => s.connect_p99_ms)} ms | ${cell(p, 'one', (s) => s.server_cpu_ms_per_connect, 2)} ms | ${cell(p, 'spread', (s) => s.server_cpu_ms_per_connect, 2)} ms |`);
  return {
    runs,
    markdown: ['| peer | connect p99, 1 room × 1,000 | connect p99, 100 rooms × 10 | CPU per connect, 1 room | CPU per connect, 100 rooms |',
      '|---|---|---|---|---|', ...rows].join('\n'),
  };
}

function idle(peers) {
  const runs = [];
  for (const conns of [1000, 10000]) {
    for (const p of peers) {
      const rooms = String(conns / 100);
      const r = run(p, ['--rooms', rooms, '--conns', String(conns), '--publishers', '0', '--duration', '20', '--warmup', '0'], `idle memory ${conns}`);
      runs.push({ conns, ...r });
    }
  }
  const cell = (p, n) => {
    const r = runs.find((x) => x.peer === p.id && x.conns === n);
    return r?.summary ? `${f(r.summary.server_rss_per_connection_bytes / 1024, 1)} KiB` : `failed: ${r?.failed}`;
  };
  return {
    runs,
    markdown: ['| peer | per idle connection, 1,000 (10 rooms) | per idle connection, 10,000 (100 rooms) |', '|---|---|---|',
      ...peers.map((p) => `| ${p.label} | ${cell(p, 1000)} | ${cell(p, 10000)} |`)].join('\n'),
  };
}

const v1 = PEERS.filter((p) => p.id !== 'rust-batch');
const scenarios = {
  'Storm of new users (2,000 connections of 2,000 new users in 20 rooms, all at once)': storm(v1),
  'Join storm: 1,000 new users into one room, against the same storm over 100 rooms of 10': joinStorm(PEERS),
  'Idle memory per hibernated connection (after 20 s idle)': idle(v1),
};
for (const [name, s] of Object.entries(scenarios)) process.stdout.write(`\n### ${name}\n\n${s.markdown}\n`);
const out = opt('json');
if (out) fs.writeFileSync(out, JSON.stringify({ scenarios }, null, 2));
fs.rmSync(tmp, { recursive: true, force: true });
