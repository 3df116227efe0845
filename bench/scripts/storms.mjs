// Connect storms and idle cost (issue 13): every peer through the same load generator, server
// on core 0 and generator on core 1 (bench/scripts/ab.sh), runs alternated peer by peer.
//
//   node bench/scripts/storms.mjs [--json FILE] [--storms N] [--runs N] [--quick] [--only TEXT]
//
// - Storm of new users: 2,000 connections of 2,000 new users in 20 rooms, opened at once
//   (every connect concurrent); connections/s, connect p99, failed upgrades, the server's CPU
//   per connect, then the latency of the first messages published after the storm (20
//   publishers at 40 publishes/s for 2 s). N storms per peer (default 5), medians.
// - Join storm: 1,000 new users join one room at once, against the same storm spread over 100
//   rooms of 10: connect p99 and the server's CPU per connect, and one over the other. N runs
//   per peer and shape (default 3), medians.
// - Idle memory: 1,000 and 10,000 connections, no publisher, 20 s (past the ~10 s hibernation
//   timeout): RSS per idle, hibernated connection, and connections/s. N runs per peer and size
//   (default 3), medians.
// - Storm by token algorithm (issue 21): the storm of new users on the Rust worker with HS256
//   tokens (AUTH_SECRET) against RS256, ES256 and EdDSA tokens verified with a key set
//   (AUTH_JWKS_URL, served here): the CPU a connect costs with each. N storms per algorithm.
// Every repeated figure alternates the peers round by round, the order rotating every round.
// `--quick`: 1 storm and 1 run.
// Prints Markdown; with --json writes {scenarios: {name: {runs, markdown}}} for matrix.mjs.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
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
const RUNS = Number(opt('runs', QUICK ? 1 : 3));
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
    execFileSync(path.join(ROOT, 'bench/scripts/ab.sh'), [peer.peer, ...(peer.vars ?? []), '--', ...peer.args, ...loadArgs, '--json', json],
      { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    return { peer: peer.id, summary: read() };
  } catch (e) {
    return { peer: peer.id, summary: read(), failed: String(e.message).split('\n')[0] };
  }
}

/** `n` rounds of one run per peer, the order rotating every round (no peer always first or
 * last); every run tagged with its round and `tags`. */
function alternated(peers, n, loadArgs, label, tags = {}) {
  const runs = [];
  for (let i = 0; i < n; i++) {
    const order = peers.map((_, k) => peers[(k + i) % peers.length]);
    for (const p of order) runs.push({ ...tags, round: i + 1, ...run(p, loadArgs, `${label} ${i + 1}/${n}`) });
  }
  return runs;
}

const f = (x, d = 0) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(d));
const med = (runs, key) => median(runs.filter((r) => r.summary).map((r) => key(r.summary)).filter(Number.isFinite));
const ratio = (a, b) => (a === undefined || b === undefined || !b ? '–' : `${(a / b).toFixed(2)}×`);
const failedRuns = (runs, p) => runs.filter((r) => r.peer === p.id && r.failed).length;
const caption = (what) => `Medians of ${RUNS} alternated run${RUNS === 1 ? '' : 's'} per peer and ${what} ` +
  '(the peer order rotating every round).';

function storm(peers) {
  const args = ['--rooms', '20', '--conns', '2000', '--publishers', '20', '--mode', 'rate', '--rate', '40',
    '--duration', '2', '--warmup', '0'];
  const runs = alternated(peers, STORMS, args, 'storm');
  const rows = peers.map((p) => {
    const mine = runs.filter((r) => r.peer === p.id);
    const failed = mine.reduce((n, r) => n + (r.summary?.failed_connections ?? 0), 0);
    return `| ${p.label} | ${f(med(mine, (s) => s.connections_per_s))} | ${f(med(mine, (s) => s.connect_p99_ms))} ms | ${failed} | ${f(med(mine, (s) => s.server_cpu_ms_per_connect), 2)} ms | ${f(med(mine, (s) => s.latency.p50_ms), 1)} ms | ${mine.filter((r) => r.failed).length} |`;
  });
  return {
    runs,
    markdown: [`${STORMS} storms per peer, alternated (the peer order rotating every storm), medians; ` +
      'failed upgrades summed over all storms.', '',
      '| peer | connections/s | connect p99 | failed upgrades | server CPU per connect | first messages after, p50 | failed runs |',
      '|---|---|---|---|---|---|---|', ...rows].join('\n'),
  };
}

function joinStorm(peers) {
  const shapes = [
    { id: 'one', label: '1 room × 1,000', args: ['--rooms', '1', '--conns', '1000'] },
    { id: 'spread', label: '100 rooms × 10', args: ['--rooms', '100', '--conns', '1000'] },
  ];
  const load = ['--publishers', '0', '--duration', '1', '--warmup', '0'];
  const runs = shapes.flatMap((shape) =>
    alternated(peers, RUNS, [...shape.args, ...load], `join storm ${shape.label}`, { shape: shape.id }));
  const m = (p, shape, key) => med(runs.filter((r) => r.peer === p.id && r.shape === shape), key);
  const pair = (p, key, d) => {
    const [one, spread] = [m(p, 'one', key), m(p, 'spread', key)];
    return `${f(one, d)} ms | ${f(spread, d)} ms | ${ratio(one, spread)}`;
  };
  const rows = peers.map((p) => `| ${p.label} | ${pair(p, (s) => s.connect_p99_ms, 0)} | ${pair(p, (s) => s.server_cpu_ms_per_connect, 2)} | ${failedRuns(runs, p)} |`);
  return {
    runs,
    markdown: [caption('shape'), '',
      '| peer | connect p99, 1 room × 1,000 | connect p99, 100 rooms × 10 | p99: 1 room ÷ 100 rooms | CPU per connect, 1 room | CPU per connect, 100 rooms | CPU: 1 room ÷ 100 rooms | failed runs |',
      '|---|---|---|---|---|---|---|---|', ...rows].join('\n'),
  };
}

function idle(peers) {
  const load = (conns) => ['--rooms', String(conns / 100), '--conns', String(conns), '--publishers', '0',
    '--duration', '20', '--warmup', '0'];
  const runs = [1000, 10000].flatMap((conns) => alternated(peers, RUNS, load(conns), `idle memory ${conns}`, { conns }));
  const cells = (p, n) => {
    const mine = runs.filter((x) => x.peer === p.id && x.conns === n);
    if (!mine.some((r) => r.summary)) return `failed: ${mine.find((r) => r.failed)?.failed} | –`;
    return `${f(med(mine, (s) => s.server_rss_per_connection_bytes) / 1024, 1)} KiB | ${f(med(mine, (s) => s.connections_per_s))}`;
  };
  return {
    runs,
    markdown: [caption('size'), '',
      '| peer | per idle connection, 1,000 (10 rooms) | connections/s, 1,000 | per idle connection, 10,000 (100 rooms) | connections/s, 10,000 | failed runs |',
      '|---|---|---|---|---|---|',
      ...peers.map((p) => `| ${p.label} | ${cells(p, 1000)} | ${cells(p, 10000)} | ${failedRuns(runs, p)} |`)].join('\n'),
  };
}

/** The Rust worker once per token algorithm: keys made here, their JWKS served here. */
async function algorithmPeers() {
  const keys = [
    ['RS256', 'rs256', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', 'es256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['EdDSA', 'eddsa', crypto.generateKeyPairSync('ed25519')],
  ];
  const jwks = JSON.stringify({ keys: keys.map(([, kid, k]) => ({ ...k.publicKey.export({ format: 'jwk' }), kid })) });
  const server = http.createServer((_, res) => res.end(jwks));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/jwks`;
  const peers = [{ id: 'hs256', label: 'HS256 (AUTH_SECRET)', peer: 'rust', args: [] }];
  for (const [label, kid, k] of keys) {
    const pem = path.join(tmp, `${kid}.pem`);
    fs.writeFileSync(pem, k.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    peers.push({ id: kid, label: `${label} (AUTH_JWKS_URL)`, peer: 'rust', vars: [`AUTH_JWKS_URL=${url}`],
      args: ['--token-alg', kid, '--token-key', pem, '--token-kid', kid] });
  }
  return { peers, stop: () => server.close() };
}

const v1 = PEERS.filter((p) => p.id !== 'rust-batch');
const algorithms = await algorithmPeers();
// `--only TEXT`: just the scenarios whose name contains TEXT (e.g. `--only algorithm`).
const ONLY = opt('only')?.toLowerCase();
const all = {
  'Storm of new users (2,000 connections of 2,000 new users in 20 rooms, all at once)': () => storm(v1),
  'Join storm: 1,000 new users into one room, against the same storm over 100 rooms of 10': () => joinStorm(PEERS),
  'Idle memory per hibernated connection (after 20 s idle)': () => idle(v1),
  'Storm of new users by token algorithm (Rust worker; HS256 against RS256, ES256, EdDSA with a key set)': () => storm(algorithms.peers),
};
const scenarios = Object.fromEntries(Object.entries(all)
  .filter(([name]) => !ONLY || name.toLowerCase().includes(ONLY))
  .map(([name, make]) => [name, make()]));
algorithms.stop();
for (const [name, s] of Object.entries(scenarios)) process.stdout.write(`\n### ${name}\n\n${s.markdown}\n`);
const out = opt('json');
if (out) fs.writeFileSync(out, JSON.stringify({ scenarios }, null, 2));
fs.rmSync(tmp, { recursive: true, force: true });
