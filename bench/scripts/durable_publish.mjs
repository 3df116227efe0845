// Publishes/s and publish→ack latency in one room, with the durable write (SQLite insert
// before broadcast, ack after) and without it (HISTORY_STORAGE=none), in alternating runs on
// the built worker in local workerd. The load is closed-loop: PUBLISHERS connections, each
// keeping IN_FLIGHT publishes outstanding (echo:false, so every publish is delivered to the
// other PUBLISHERS-1 members), for SECONDS per run.
//
//   node bench/scripts/durable_publish.mjs [PUBLISHERS=8] [IN_FLIGHT=4] [SECONDS=5] [RUNS=3]
import { startServer } from '../../tests/support/server.mjs';
import { join } from '../../tests/support/client.mjs';

const [PUBLISHERS, IN_FLIGHT, SECONDS, RUNS] = [8, 4, 5, 3].map((d, i) => Number(process.argv[2 + i] ?? d));
const FAST = { RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000' };
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function run(storage) {
  const server = await startServer({ vars: { ...FAST, HISTORY_STORAGE: storage } });
  try {
    const room = `bench-${storage}-${Math.random().toString(36).slice(2)}`;
    const pubs = [];
    for (let i = 0; i < PUBLISHERS; i++) pubs.push(await join(server, room, `u${i}`));
    const payload = 'x'.repeat(32);
    const latencies = [];
    let acked = 0;
    let stop = false;
    const startedAt = performance.now();
    const loops = pubs.map((p, i) => new Promise((resolve) => {
      const sent = new Map();
      let n = 0, outstanding = 0;
      const sendOne = () => {
        const id = `${i}-${n++}`;
        sent.set(id, performance.now());
        outstanding++;
        p.ws.send(`{"type":"publish","data":"${payload}","id":"${id}","echo":false}`);
      };
      // Bypass the test client's frame queue: only acks matter here.
      p.ws.removeAllListeners('message');
      p.ws.on('message', (raw) => {
        const text = raw.toString();
        if (!text.startsWith('{"type":"ack"')) return;
        const { id } = JSON.parse(text);
        const t = sent.get(id);
        sent.delete(id);
        outstanding--;
        if (performance.now() - startedAt > 1000) { // first second: warm-up
          latencies.push(performance.now() - t);
          acked++;
        }
        if (!stop) sendOne();
        else if (outstanding === 0) resolve();
      });
      for (let k = 0; k < IN_FLIGHT; k++) sendOne();
    }));
    await new Promise((r) => setTimeout(r, (SECONDS + 1) * 1000));
    stop = true;
    await Promise.all(loops);
    const elapsed = SECONDS; // measured window excludes the warm-up second
    latencies.sort((a, b) => a - b);
    pubs.forEach((p) => p.ws.terminate());
    return { storage, publishes_per_s: acked / elapsed, deliveries_per_s: (acked * (PUBLISHERS - 1)) / elapsed, p50: pct(latencies, 50), p99: pct(latencies, 99) };
  } finally {
    await server.stop();
  }
}

const results = { durable: [], none: [] };
for (let r = 0; r < RUNS; r++) {
  for (const storage of r % 2 ? ['none', 'durable'] : ['durable', 'none']) {
    const res = await run(storage);
    results[storage === 'durable' ? 'durable' : 'none'].push(res);
    console.log(`run ${r + 1} ${storage.padEnd(7)} ${res.publishes_per_s.toFixed(0).padStart(7)} publishes/s  ${res.deliveries_per_s.toFixed(0).padStart(7)} deliveries/s  ack p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms`);
  }
}
import { median } from './peers.mjs';
const summary = (k) => ({
  publishes_per_s: median(results[k].map((r) => r.publishes_per_s)),
  p50: median(results[k].map((r) => r.p50)),
  p99: median(results[k].map((r) => r.p99)),
});
const d = summary('durable'), n = summary('none');
console.log(`\nmedian of ${RUNS} runs, ${PUBLISHERS} publishers x ${IN_FLIGHT} in flight, 32 B, echo:false`);
console.log(`  durable write + ack: ${d.publishes_per_s.toFixed(0)} publishes/s, ack p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms`);
console.log(`  no write:            ${n.publishes_per_s.toFixed(0)} publishes/s, ack p50 ${n.p50.toFixed(2)} ms, p99 ${n.p99.toFixed(2)} ms`);
console.log(`  throughput ratio durable/none: ${(d.publishes_per_s / n.publishes_per_s).toFixed(2)}; latency added at p50: ${(d.p50 - n.p50).toFixed(2)} ms`);
