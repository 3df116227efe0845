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
//   node bench/scripts/chatty_room.mjs [--runs N] [--seconds S] [--read-every-message] [--json FILE]
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
const CHATTY = ['--chatty', ...(EVERY_MESSAGE ? ['--read-every-message'] : [])];
const BASE = ['--rooms', '1', '--conns', '64', '--in-flight', '4', '--batch', '--duration', String(SECONDS), '--warmup', '1'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-chatty-'));

function run(chatty, n) {
  const json = path.join(tmp, `${n}.json`);
  const args = ['rust', '--', ...BASE, ...(chatty ? CHATTY : []), '--json', json];
  let failed;
  try {
    execFileSync(path.join(ROOT, 'bench/scripts/ab.sh'), args, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  } catch (e) {
    failed = String(e.message).split('\n')[0];
  }
  const summary = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : undefined;
  return { chatty, summary, ...(failed ? { failed } : {}) };
}

const runs = [];
for (let round = 0; round < RUNS; round++) {
  for (const chatty of round % 2 ? [true, false] : [false, true]) {
    process.stderr.write(`  chatty room · round ${round + 1} · ${chatty ? 'typing + reads' : 'messages only'}\n`);
    runs.push(run(chatty, runs.length));
  }
}
const rate = (chatty) => median(runs.filter((r) => r.chatty === chatty && r.summary && !r.failed).map((r) => r.summary.delivered_per_s));
const plain = rate(false);
const chatty = rate(true);
const ratio = plain && chatty ? chatty / plain : undefined;
// Per second of the whole run (warm-up included, as the frames are counted).
const perS = (field) => median(runs.filter((r) => r.chatty && r.summary).map((r) => r.summary[field] / (r.summary.duration_s + 1)));
const frames = perS('chat_frames_received');
const readsSent = perS('read_frames_sent');
const receipts = perS('read_frames_received');
const cpu = (c) => median(runs.filter((r) => r.chatty === c && r.summary?.server_cpu_s_per_million_deliveries).map((r) => r.summary.server_cpu_s_per_million_deliveries));
const fmt = (x, d = 0) => (x === undefined ? '–' : x.toFixed(d));
// Each round's two runs are adjacent in time: the median of the rounds' own ratios is less
// exposed to a machine whose load drifts between rounds. The server's CPU per delivery is the
// steadier figure on a shared machine: its ratio (messages only ÷ chatty) is the throughput
// ratio a server that is CPU-bound on its core would show.
const rounds = [];
for (let i = 0; i + 1 < runs.length; i += 2) {
  const [c, p] = runs[i].chatty ? [runs[i], runs[i + 1]] : [runs[i + 1], runs[i]];
  if (c.summary && p.summary && !c.failed && !p.failed) rounds.push(c.summary.delivered_per_s / p.summary.delivered_per_s);
}
const roundRatio = median(rounds);
const cpuRatio = cpu(false) && cpu(true) ? cpu(false) / cpu(true) : undefined;
const markdown = [
  `1 room × 64 connections (\`?batch=1\`), every connection publishing (4 in flight); median of ${RUNS} alternated runs of ${SECONDS} s each:`,
  '',
  '| load | delivered messages/s | server CPU s per million deliveries |',
  '|---|---|---|',
  `| messages only | ${fmt(plain)} | ${fmt(cpu(false), 1)} |`,
  `| + typing every 2 s and ${EVERY_MESSAGE ? 'a read after every WebSocket message received' : 'reads at most every 500 ms per connection'} | ${fmt(chatty)} | ${fmt(cpu(true), 1)} |`,
  '',
  `Ratio chatty / messages only: **${fmt(ratio, 2)}** of the medians, **${fmt(roundRatio, 2)}** as the median of the rounds' own ratios (${rounds.map((r) => r.toFixed(2)).join(', ')}), ${fmt(cpuRatio, 2)} by the server's CPU per delivery (target ≥ 0.8). Typing and read frames received by the clients: ${fmt(frames)}/s; reads sent ${fmt(readsSent)}/s, receipts received ${fmt(receipts)}/s.`,
].join('\n');
console.log(markdown);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ read_every_message: EVERY_MESSAGE, runs, delivered_per_s: { plain, chatty }, ratio, round_ratios: rounds, round_ratio: roundRatio, cpu_ratio: cpuRatio, markdown }, null, 2));
fs.rmSync(tmp, { recursive: true, force: true });
if (runs.some((r) => r.failed || r.summary?.lost || r.summary?.duplicated)) process.exitCode = 1;
