// The chat app's load (issue 14): a room of 64 where everyone publishes, types every 2 s and
// marks the room read after every WebSocket message that brings messages — at most once per
// 500 ms per connection, the newest seq at the interval's end, as the TypeScript client's
// `markRead` does (`loadgen --chatty`; issue 24); with `--read-every-message`, a read after
// every such WebSocket message (a naive client, the model before) —, against the same room with
// messages only. Reports delivered messages/s of each and their
// ratio (the target: ≥ 0.8). Runs alternate (plain, chatty, plain, chatty, … with the order
// rotating), each one a fresh server pinned to core 0 and the generator on core 1
// (bench/scripts/ab.sh); every delivery is verified as in the matrix.
//
//   node bench/scripts/chatty_room.mjs [--runs N] [--seconds S] [--read-every-message | --both] [--json FILE]
//
// --both runs the two models in every round (messages only, throttled reads, a read per
// WebSocket message; the order rotating), so that both meet the same machine.
//
// Called by bench/scripts/matrix.mjs (the scenarios of `make bench`); needs `make bench-tools`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './peers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const RUNS = Number(opt('runs', 3));
const SECONDS = Number(opt('seconds', 5));
const JSON_OUT = opt('json');
const EVERY_MESSAGE = argv.includes('--read-every-message');
// --both: every round also runs the naive clients, so both models meet the same machine.
const BOTH = argv.includes('--both');
const KINDS = ['plain', ...(BOTH ? ['throttled', 'every'] : [EVERY_MESSAGE ? 'every' : 'throttled'])];
const ARGS = { plain: [], throttled: ['--chatty'], every: ['--chatty', '--read-every-message'] };
const LABEL = {
  plain: 'messages only',
  throttled: '+ typing every 2 s and reads at most every 500 ms per connection',
  every: '+ typing every 2 s and a read after every WebSocket message received',
};
const BASE = ['--rooms', '1', '--conns', '64', '--in-flight', '4', '--batch', '--duration', String(SECONDS), '--warmup', '1'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-chatty-'));

function run(kind, n) {
  const json = path.join(tmp, `${n}.json`);
  const args = ['rust', '--', ...BASE, ...ARGS[kind], '--json', json];
  let failed;
  try {
    execFileSync(path.join(ROOT, 'bench/scripts/ab.sh'), args, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  } catch (e) {
    failed = String(e.message).split('\n')[0];
  }
  const summary = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined;
  return { kind, chatty: kind !== 'plain', round: Math.floor(n / KINDS.length), summary, ...(failed ? { failed } : {}) };
}

// Each round runs every kind once, the order rotating from round to round.
const runs = [];
for (let round = 0; round < RUNS; round++) {
  for (let i = 0; i < KINDS.length; i++) {
    const kind = KINDS[(round + i) % KINDS.length];
    process.stderr.write(`  chatty room · round ${round + 1} · ${LABEL[kind]}\n`);
    runs.push(run(kind, runs.length));
  }
}
const ok = (kind) => runs.filter((r) => r.kind === kind && r.summary && !r.failed);
const rate = (kind) => median(ok(kind).map((r) => r.summary.delivered_per_s));
const cpu = (kind) => median(ok(kind).filter((r) => r.summary.server_cpu_s_per_million_deliveries).map((r) => r.summary.server_cpu_s_per_million_deliveries));
// Per second of the whole run (warm-up included, as the frames are counted).
const perS = (kind, field) => median(ok(kind).map((r) => r.summary[field] / (r.summary.duration_s + 1)));
const fmt = (x, d = 0) => (x === undefined ? '–' : x.toFixed(d));
// Each round's runs are adjacent in time: the median of the rounds' own ratios is less exposed
// to a machine whose load drifts between rounds. The server's CPU per delivery is the steadier
// figure on a shared machine: its ratio (messages only ÷ chatty) is the throughput ratio a
// server that is CPU-bound on its core would show.
function compare(kind) {
  const rounds = [];
  for (let round = 0; round < RUNS; round++) {
    const [c, p] = [kind, 'plain'].map((k) => runs.find((r) => r.round === round && r.kind === k));
    if (c?.summary && p?.summary && !c.failed && !p.failed) rounds.push(c.summary.delivered_per_s / p.summary.delivered_per_s);
  }
  const [plain, chatty] = [rate('plain'), rate(kind)];
  return {
    delivered_per_s: chatty,
    ratio: plain && chatty ? chatty / plain : undefined,
    round_ratios: rounds,
    round_ratio: median(rounds),
    cpu_ratio: cpu('plain') && cpu(kind) ? cpu('plain') / cpu(kind) : undefined,
    frames_per_s: perS(kind, 'chat_frames_received'),
    reads_sent_per_s: perS(kind, 'read_frames_sent'),
    receipts_per_s: perS(kind, 'read_frames_received'),
  };
}
const models = Object.fromEntries(KINDS.slice(1).map((k) => [k, compare(k)]));
const main = models[KINDS[1]];
const markdown = [
  `1 room × 64 connections (\`?batch=1\`), every connection publishing (4 in flight); median of ${RUNS} alternated runs of ${SECONDS} s each:`,
  '',
  '| load | delivered messages/s | server CPU s per million deliveries |',
  '|---|---|---|',
  ...KINDS.map((k) => `| ${LABEL[k]} | ${fmt(rate(k))} | ${fmt(cpu(k), 1)} |`),
  ...Object.entries(models).flatMap(([k, m]) => [
    '',
    `Ratio chatty${BOTH ? ` (${k === 'every' ? 'a read per WebSocket message' : 'reads every 500 ms'})` : ''} / messages only: **${fmt(m.ratio, 2)}** of the medians, **${fmt(m.round_ratio, 2)}** as the median of the rounds' own ratios (${m.round_ratios.map((r) => r.toFixed(2)).join(', ')}), ${fmt(m.cpu_ratio, 2)} by the server's CPU per delivery (target ≥ 0.8). Typing and read frames received by the clients: ${fmt(m.frames_per_s)}/s; reads sent ${fmt(m.reads_sent_per_s)}/s, receipts received ${fmt(m.receipts_per_s)}/s.`,
  ]),
].join('\n');
console.log(markdown);
if (JSON_OUT) {
  const summary = { read_every_message: EVERY_MESSAGE, both: BOTH, runs, delivered_per_s: { plain: rate('plain'), chatty: main.delivered_per_s }, ratio: main.ratio, round_ratios: main.round_ratios, round_ratio: main.round_ratio, cpu_ratio: main.cpu_ratio, models, markdown };
  fs.writeFileSync(JSON_OUT, JSON.stringify(summary, null, 2));
}
fs.rmSync(tmp, { recursive: true, force: true });
if (runs.some((r) => r.failed || r.summary?.lost || r.summary?.duplicated)) process.exitCode = 1;
