// `make bench-quick`: a small, fixed slice of the benchmark matrix, every peer the same way,
// alternating peers within each round, medians over ROUNDS. Writes bench/results/quick.json
// and prints a Markdown table. Finishes in under 3 minutes on the reference machine.
//
//   node bench/scripts/quick.mjs [ROUNDS=2]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROUNDS = Number(process.argv[2] ?? 2);
const CELLS = [
  { name: '1 room × 64, 32 B', args: ['--rooms', '1', '--conns', '64', '--in-flight', '4'] },
  { name: '16 rooms × 16, 256 B', args: ['--rooms', '16', '--conns', '256', '--in-flight', '2', '--payload', '256'] },
];
const PEERS = [
  { name: 'rust', label: 'Rust worker (durable)', vars: [] },
  { name: 'js', label: 'JS twin (durable)', vars: [] },
  { name: 'fastapi', label: 'FastAPI + Redis (no write)', vars: [] },
  { name: 'rust', label: 'Rust worker (no write)', vars: ['HISTORY_STORAGE=none'] },
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-quick-'));
const results = [];
for (const cell of CELLS) {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...PEERS].reverse() : PEERS; // A/B alternation
    for (const peer of order) {
      const json = path.join(tmp, `${results.length}.json`);
      const args = [peer.name, ...peer.vars, '--', ...cell.args, '--duration', '4', '--warmup', '1', '--json', json];
      process.stderr.write(`${cell.name} · ${peer.label} · round ${round + 1}\n`);
      try {
        execFileSync(path.join(ROOT, 'bench/scripts/ab.sh'), args, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
        results.push({ cell: cell.name, peer: peer.label, ...JSON.parse(fs.readFileSync(json, 'utf8')) });
      } catch (e) {
        results.push({ cell: cell.name, peer: peer.label, failed: String(e.message).split('\n')[0] });
      }
    }
  }
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const rows = [];
for (const cell of CELLS) {
  for (const peer of PEERS) {
    const runs = results.filter((r) => r.cell === cell.name && r.peer === peer.label && !r.failed);
    const failed = results.filter((r) => r.cell === cell.name && r.peer === peer.label && r.failed).length;
    if (!runs.length) { rows.push(`| ${cell.name} | ${peer.label} | failed | | | | |`); continue; }
    rows.push(`| ${cell.name} | ${peer.label} | ${median(runs.map((r) => r.delivered_per_s)).toFixed(0)} | ${median(runs.map((r) => r.latency.p99_ms)).toFixed(1)} ms | ${median(runs.map((r) => r.server_cpu_s_per_million_deliveries ?? 0)).toFixed(1)} | ${runs.reduce((a, r) => a + r.lost + r.duplicated, 0)} | ${runs.length}${failed ? ` (+${failed} failed)` : ''} |`);
  }
}
const table = ['| cell | peer | delivered/s (median) | p99 | CPU s/M | lost+dup | runs |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(ROOT, 'bench/results/quick.json'), JSON.stringify(results, null, 2));
console.log(table);
if (results.some((r) => r.failed || r.lost || r.duplicated)) process.exitCode = 1;
