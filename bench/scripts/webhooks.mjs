// Webhooks on vs off in the base cell (1 room × 64 members, 32 B, 4 publishes in flight per
// member, `?batch=1`): the delivered messages/s with webhooks on (default WEBHOOK_EVENTS, a
// local receiver that answers 200 at once) over the same without them, and how many POSTs the
// room makes per 1,000 messages (batching: one POST in flight per room, so a busy room sends
// many events per POST).
//
//   node bench/scripts/webhooks.mjs [--runs 3] [--seconds 3] [--v1] [--rate R] [--json FILE]
//
// Each run is one bench/scripts/ab.sh (server pinned to core 0, generator to core 1, the server
// fresh and stopped after); off and on alternate, the order rotating every round. The receiver
// runs in this process, pinned to the server's core; every event it gets is counted, and a
// lost or duplicated chat message still fails the run.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, dflt) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : dflt);
const RUNS = Number(arg('runs', 3));
const SECONDS = Number(arg('seconds', 3));
const JSON_OUT = arg('json');
const RATE = arg('rate'); // publishes/s: a fixed arrival rate instead of the closed loop
const LOAD = RATE ? ['--mode', 'rate', '--rate', RATE] : ['--in-flight', '4'];
// `--v1`: the members take v1 frames (one send per message each) instead of `?batch=1`.
const FRAMES = process.argv.includes('--v1') ? [] : ['--batch'];
const CELL = [...FRAMES, '--rooms', '1', '--conns', '64', ...LOAD, '--duration', String(SECONDS), '--warmup', '1'];

// The receiver shares the server's core (0): on a two-core machine the generator must have core
// 1 to itself, and this way whatever the receiver costs counts against webhooks, not for them.
execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// The receiver: answers every POST 200 at once and counts what it gets — by scanning the body
// for each event's opening (`{"id":"…","type":"…"`) rather than parsing it, so that it costs the
// shared core as little as a receiver can.
const counts = { posts: 0, events: 0, messages: 0, ids: new Set(), duplicates: 0 };
const EVENT = /\{"id":("[^"]*"),"type":"([a-z_]+)"/g;
const receiver = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    res.writeHead(200).end();
    counts.posts++;
    for (const [, id, type] of body.matchAll(EVENT)) {
      counts.events++;
      if (type === 'message') counts.messages++;
      if (counts.ids.has(id)) counts.duplicates++;
      counts.ids.add(id);
    }
  });
});
await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
const hook = `http://127.0.0.1:${receiver.address().port}/hooks`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-webhooks-'));
let n = 0;
/** One ab.sh run (asynchronously: the receiver in this process must keep answering). */
function run(on) {
  const json = path.join(tmp, `${n++}.json`);
  const vars = on ? [`WEBHOOK_URL=${hook}`, 'WEBHOOK_SECRET=bench-secret'] : [];
  Object.assign(counts, { posts: 0, events: 0, messages: 0, ids: new Set(), duplicates: 0 });
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'bench/scripts/ab.sh'), ['rust', ...vars, '--', ...CELL, '--json', json], { timeout: 180_000 }, (err) => {
      const summary = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined;
      const hooks = { posts: counts.posts, events: counts.events, messages: counts.messages, duplicates: counts.duplicates };
      resolve({ webhooks: on, summary, hooks, ...(err ? { failed: String(err.message).split('\n')[0] } : {}) });
    });
  });
}

const runs = [];
for (let round = 0; round < RUNS; round++) {
  for (const on of round % 2 ? [true, false] : [false, true]) {
    process.stderr.write(`  webhooks ${on ? 'on ' : 'off'} · round ${round + 1}/${RUNS}\n`);
    runs.push(await run(on));
  }
}
receiver.close();
fs.rmSync(tmp, { recursive: true, force: true });

const ok = (on) => runs.filter((r) => r.webhooks === on && r.summary && !r.failed);
const perS = (rs) => median(rs.map((r) => r.summary.delivered_per_s));
const off = perS(ok(false));
const on = perS(ok(true));
const messagesPerS = (rs) => median(rs.map((r) => r.summary.delivered_per_s / 64));
const hooked = ok(true).filter((r) => r.hooks.messages > 0);
const postsPer1000 = median(hooked.map((r) => (1000 * r.hooks.posts) / r.hooks.messages));
const eventsPerPost = median(hooked.map((r) => r.hooks.events / r.hooks.posts));
const ratio = on / off;
// Each round's two runs are adjacent in time: the median of the rounds' own ratios is less
// exposed to a machine whose load drifts between rounds.
const rounds = [];
for (let i = 0; i + 1 < runs.length; i += 2) {
  const [x, y] = [runs[i], runs[i + 1]];
  const [a, b] = x.webhooks ? [x, y] : [y, x];
  if (a.summary && b.summary && !a.failed && !b.failed) rounds.push(a.summary.delivered_per_s / b.summary.delivered_per_s);
}
const roundRatio = median(rounds);
const fmt = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
const markdown = [
  `Base cell (1 room × 64, 32 B, ${FRAMES.length ? '\`?batch=1\`' : 'v1 frames'}${RATE ? `, ${RATE} publishes/s` : ''}), ${RUNS} alternated runs of ${SECONDS} s each way; webhooks on = \`WEBHOOK_URL\` to a local receiver that answers 200 at once, default \`WEBHOOK_EVENTS\`:`,
  '',
  '| | delivered/s (median) | messages/s | POSTs per 1,000 messages | events per POST |',
  '|---|---|---|---|---|',
  `| webhooks off | ${fmt(off)} | ${fmt(messagesPerS(ok(false)))} | — | — |`,
  `| webhooks on | ${fmt(on)} | ${fmt(messagesPerS(ok(true)))} | ${postsPer1000?.toFixed(1) ?? '—'} | ${eventsPerPost?.toFixed(1) ?? '—'} |`,
  '',
  `On ÷ off: **${ratio.toFixed(2)}×** of the medians, **${roundRatio?.toFixed(2)}×** as the median of the rounds' own ratios (${rounds.map((r) => r.toFixed(2)).join(', ')}) (target ≥ 0.9).`,
].join('\n');
const result = { runs, delivered_per_s_off: off, delivered_per_s_on: on, ratio, round_ratios: rounds, round_ratio: roundRatio, posts_per_1000_messages: postsPer1000, events_per_post: eventsPerPost, markdown };
console.log(markdown);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(result, null, 2));
const bad = runs.filter((r) => r.failed || !r.summary || r.summary.lost || r.summary.duplicated);
if (bad.length) {
  process.stderr.write(`${bad.length} run(s) failed or lost/duplicated messages\n`);
  process.exitCode = 1;
}
