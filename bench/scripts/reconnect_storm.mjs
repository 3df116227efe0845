// A deploy's reconnect storm (issue 24): the same 2,000 users reconnect to their 20 rooms after
// a restart of workerd — the local stand-in for a deploy: every object starts cold, its SQLite
// is there, and no close was ever handled (the sockets died with the process, as they do when
// a deploy restarts the objects).
//
// Per peer and storm, on a fresh persistence directory:
//   1. 2,000 users (`user-{i}`, room `{prefix}-{i mod 20}`, what the load generator names them)
//      connect from this process and stay connected: the population that was there;
//   2. workerd is killed (SIGKILL: nothing closes), the sockets here dropped;
//   3. a new server starts on the same directory, and the load generator (pinned to core 1,
//      the server to core 0, as every scenario) runs the storm of the storm scenario with the
//      same users and rooms: 2,000 connections at once, then 20 publishers at 40/s for 4 s;
//   4. the objects' meter (GET /dev/meter, reset by the restart) gives the object requests
//      per connect: read once every upgrade reached its room plus a second, while the
//      publishers run (a publish is a WebSocket message, not a request), before any close.
// Storms alternate peer by peer, the order rotating every storm; medians.
// `rust-batch` is the same Rust worker with the storm's connections taking `batch` frames
// (`?batch=1`, what the TypeScript client asks for by default): the joins a burst of reconnects
// sends each member then travel in one frame per member per turn (docs/protocol.md, the
// deferral of a connect's frames). The twin has v1 frames only.
//
//   node bench/scripts/reconnect_storm.mjs [--storms N] [--quick] [--json FILE] [--peers rust,rust-batch,js]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SECRET, workerdChildren } from '../../tests/support/server.mjs';
import { getJson, median, population, servePinned, stopServed } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const QUICK = argv.includes('--quick');
const STORMS = Number(opt('storms', QUICK ? 1 : 3));
const USERS = 2000;
const ROOMS = 20;
/** Seconds the 20 publishers publish after the storm (long enough to read the meter before
 * the generator closes its sockets). */
const PUBLISH_S = 4;
/** Each peer: its label, the server it runs and what the generator's connections ask for
 * (the shape of storms.mjs's peers). */
const PEER_OF = {
  rust: { label: 'Rust worker (v1 frames)', server: 'rust', args: [] },
  'rust-batch': { label: 'Rust worker, `?batch=1`', server: 'rust', args: ['--batch'] },
  js: { label: 'JS twin', server: 'js', args: [] },
};
const PEERS = opt('peers', 'rust,rust-batch,js').split(',');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-reconnect-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `node serve.mjs` on core 0 with its storage in `dir`; resolves to `{url, pid, child}`. */
const serve = (peer, dir) => servePinned(peer, ['--persist', dir]);
const stop = stopServed;

/** Object requests so far, per class (`room`, `registry`, `stats`; the twin has rooms only). */
const meter = async (url) => {
  const m = await getJson(`${url}/dev/meter`);
  return Object.fromEntries(Object.entries(m).filter(([, c]) => typeof c === 'object').map(([k, c]) => [k, c.requests ?? 0]));
};

/** One reconnect storm against `peer`: the generator's summary plus object requests per connect. */
async function storm(peer, round) {
  process.stderr.write(`  reconnect storm ${round}/${STORMS} · ${PEER_OF[peer].label}\n`);
  const dir = fs.mkdtempSync(path.join(tmp, `${peer}-`));
  const prefix = `reconnect-${peer}-${process.pid}-${round}`;
  const first = await serve(PEER_OF[peer].server, dir);
  const sockets = await population(first.url, prefix, USERS, ROOMS);
  await sleep(3000); // the bookkeeping a connect leaves behind (reports) lands first
  for (const pid of workerdChildren(first.pid)) process.kill(pid, 'SIGKILL');
  for (const ws of sockets) ws.terminate();
  await stop(first, 'SIGKILL');
  const second = await serve(PEER_OF[peer].server, dir);
  let loadgen;
  try {
    const before = await meter(second.url);
    const json = path.join(tmp, `${peer}-${round}.json`);
    loadgen = spawn('taskset', ['-c', '1', path.join(ROOT, 'target/release/loadgen'), '--url', second.url,
      '--secret', SECRET, '--server-of', String(second.pid), '--server-name', 'workerd', '--no-progress',
      '--label', peer, '--room-prefix', prefix, '--rooms', String(ROOMS), '--conns', String(USERS),
      '--publishers', '20', '--mode', 'rate', '--rate', '40', '--duration', String(PUBLISH_S), '--warmup', '0', '--json', json, ...PEER_OF[peer].args],
    { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((resolve) => loadgen.once('exit', resolve));
    // The storm's requests: once every upgrade reached its room, and a second for what the
    // connects leave behind (reports) — read while the publishers run, before any socket closes.
    let done = false;
    exited.then(() => { done = true; });
    while (!done && (await meter(second.url)).room - before.room < USERS) await sleep(100);
    await sleep(1000);
    const after = await meter(second.url);
    const code = await exited;
    const summary = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined;
    const requests = Object.keys(after).reduce((n, k) => n + after[k] - before[k], 0);
    const failed = code === 0 ? undefined : `the load generator exited ${code}`;
    return { peer, round, summary, failed, requests_per_connect: requests / USERS };
  } catch (e) {
    return { peer, round, failed: String(e.message).split('\n')[0] };
  } finally {
    if (loadgen && loadgen.exitCode === null) {
      loadgen.kill();
      await new Promise((resolve) => loadgen.once('exit', resolve));
    }
    await stop(second);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const runs = [];
for (let round = 1; round <= STORMS; round++) {
  const order = PEERS.map((_, k) => PEERS[(k + round - 1) % PEERS.length]);
  for (const peer of order) runs.push(await storm(peer, round));
}
fs.rmSync(tmp, { recursive: true, force: true });

const f = (x, d = 0) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(d));
const med = (peer, key) => median(runs.filter((r) => r.peer === peer && r.summary).map(key).filter(Number.isFinite));
const twin = med('js', (r) => r.summary.connections_per_s);
const rows = PEERS.map((p) => {
  const mine = runs.filter((r) => r.peer === p);
  const rate = med(p, (r) => r.summary.connections_per_s);
  const failed = mine.reduce((n, r) => n + (r.summary?.failed_connections ?? 0), 0);
  return `| ${PEER_OF[p].label} | ${f(rate)} | ${p === 'js' || !twin ? '–' : `${(rate / twin).toFixed(2)}×`} | ` +
    `${f(med(p, (r) => r.summary.connect_p99_ms))} ms | ${failed} | ${f(med(p, (r) => r.summary.server_cpu_ms_per_connect), 2)} ms | ` +
    `${f(med(p, (r) => r.requests_per_connect), 2)} | ${f(med(p, (r) => r.summary.latency.p50_ms), 1)} ms | ${mine.filter((r) => r.failed).length} |`;
});
const markdown = [`${STORMS} reconnect storm${STORMS === 1 ? '' : 's'} per peer, alternated (the order rotating every storm), medians; ` +
  'failed upgrades summed over all storms. Object requests per connect: counted by the objects (GET /dev/meter) from the restart until a second after the last upgrade.', '',
  '| peer | connections/s | ÷ JS twin | connect p99 | failed upgrades | server CPU per connect | object requests per connect | first messages after, p50 | failed runs |',
  '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
const name = 'Reconnect storm after a restart (the same 2,000 users back into their 20 rooms)';
process.stdout.write(`\n### ${name}\n\n${markdown}\n`);
const out = opt('json');
if (out) fs.writeFileSync(out, JSON.stringify({ scenarios: { [name]: { runs, markdown } } }, null, 1));
