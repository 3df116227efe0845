// Measures a per-user broadcast (POST /users/{user}/messages) to a user with one connection
// in each of ROOMS rooms, on the built worker in local workerd. Reports the HTTP reply time
// (registry + all rooms answered) and the end-to-end time until every socket has the frame.
//
//   node bench/scripts/user_broadcast.mjs [ROOMS=10] [ROUNDS=300] [--json FILE]
import fs from 'node:fs';
import { startServer } from '../../tests/support/server.mjs';
import { join } from '../../tests/support/client.mjs';
import { admin, eventually } from '../../tests/support/admin.mjs';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--json');
const ROOMS = Number(positional[0] ?? 10);
const ROUNDS = Number(positional[1] ?? 300);
const JSON_OUT = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(2)} ms, p90 ${pct(xs, 90).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;

const server = await startServer();
try {
  const api = admin(server);
  const sockets = [];
  for (let i = 0; i < ROOMS; i++) sockets.push(await join(server, `bench-room-${i}`, 'target'));
  await eventually(async () => (await api.get('/users/target')).body.connections, ROOMS);

  const reply = [], endToEnd = [];
  for (let round = 0; round < ROUNDS + 20; round++) {
    const t0 = performance.now();
    const arrivals = sockets.map((s) => s.next((f) => f.type === 'direct' && f.data === round).then(() => performance.now()));
    const r = await api.post('/users/target/messages', { data: round });
    const t1 = performance.now();
    if (r.body.delivered !== ROOMS) throw new Error(`delivered ${JSON.stringify(r.body)}, want ${ROOMS}`);
    const last = Math.max(...(await Promise.all(arrivals)));
    if (round >= 20) { // the first rounds warm up the isolates
      reply.push(t1 - t0);
      endToEnd.push(last - t0);
    }
  }
  reply.sort((a, b) => a - b);
  endToEnd.sort((a, b) => a - b);
  console.log(`per-user broadcast to a user in ${ROOMS} rooms, ${ROUNDS} rounds, sequential:`);
  console.log(`  HTTP reply (delivered=${ROOMS}): ${fmt(reply)}`);
  console.log(`  last socket received:       ${fmt(endToEnd)}`);
  if (JSON_OUT) {
    const p = (xs) => ({ p50_ms: pct(xs, 50), p90_ms: pct(xs, 90), p99_ms: pct(xs, 99) });
    const row = (name, xs) => `| ${name} | ${pct(xs, 50).toFixed(2)} ms | ${pct(xs, 90).toFixed(2)} ms | ${pct(xs, 99).toFixed(2)} ms |`;
    const markdown = [
      `\`POST /users/{user}/messages\` to a user with one connection in each of ${ROOMS} rooms, ${ROUNDS} sequential rounds (Rust worker; the twin has no registry):`,
      '',
      '| | p50 | p90 | p99 |', '|---|---|---|---|',
      row(`HTTP reply (\`delivered: ${ROOMS}\`)`, reply),
      row(`last of the ${ROOMS} sockets received`, endToEnd),
    ].join('\n');
    fs.writeFileSync(JSON_OUT, JSON.stringify({ rooms: ROOMS, rounds: ROUNDS, reply: p(reply), end_to_end: p(endToEnd), markdown }, null, 2));
  }
  sockets.forEach((s) => s.terminate());
} finally {
  await server.stop();
}
