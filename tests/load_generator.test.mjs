// A tiny smoke run of the Rust load generator (bench/) against the built worker: correctness
// only — every publish acked, every acked message delivered to every member once, in order —
// never timing. `--chatty` (typing and reads) also: its reads are throttled as the TypeScript
// client's markRead is — at most one per connection per 500 ms — unless `--read-every-message`,
// and the receipts they cause reach the room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, ROOT, SECRET } from './support/server.mjs';

const LOADGEN = process.env.LOADGEN ?? path.join(ROOT, 'target', 'debug', 'loadgen');
let server;
before(async () => { server = await startServer({ vars: { RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000' } }); });
after(async () => { await server?.stop(); });

function loadgen(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // only our own child
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

for (const [name, extra] of [
  ['closed loop, 2 rooms, users with 2 connections', ['--mode', 'closed', '--rooms', '2', '--conns', '8', '--users', '4', '--in-flight', '2']],
  ['fixed rate, 3 rooms', ['--mode', 'rate', '--rate', '200', '--rooms', '3', '--conns', '6']],
  ['coalesced batch frames, 1 room', ['--mode', 'closed', '--rooms', '1', '--conns', '8', '--in-flight', '4', '--batch']],
  ['readers that never publish, 2 rooms', ['--mode', 'closed', '--rooms', '2', '--conns', '8', '--publishers', '2']],
  ['chatty, reads at most every 500 ms', ['--mode', 'closed', '--rooms', '1', '--conns', '8', '--in-flight', '2', '--batch', '--chatty']],
  ['chatty, a read after every WebSocket message', ['--mode', 'closed', '--rooms', '1', '--conns', '8', '--in-flight', '2', '--batch', '--chatty', '--read-every-message']],
]) {
  test(`the generator verifies every delivery: ${name}`, { timeout: 90_000 }, async (t) => {
    assert.ok(fs.existsSync(LOADGEN), `${LOADGEN} is missing: run \`cargo build -p edge-chat-bench\``);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadgen-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const json = path.join(dir, 'report.json');
    const { code, out } = await loadgen([
      '--url', server.url, '--secret', SECRET, '--duration', '1', '--warmup', '0.5',
      '--no-progress', '--json', json, '--workerd-of', String(process.pid), ...extra,
    ]);
    assert.equal(code, 0, out);
    const r = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.ok(r.acked > 0 && r.delivered > 0, out);
    // Every publish sent was acked: a publish the server dropped without a word would otherwise
    // go unnoticed, as the expected deliveries are computed from the acked publishes.
    assert.equal(r.acked, r.publishes, 'every publish acked');
    assert.equal(r.delivered, r.expected_deliveries);
    assert.deepEqual([r.lost, r.duplicated, r.errors], [0, 0, []]);
    assert.ok(r.server_processes >= 1, 'found the workerd process');
    assert.match(out, /\| peer \|/);
    // With batches on, the server really coalesced: more messages than WebSocket messages
    // (acks count in the denominator, so v1 frames stay below 1).
    if (extra.includes('--batch')) assert.ok(r.deliveries_per_ws_message > 1, `${r.deliveries_per_ws_message}`);
    else assert.ok(r.deliveries_per_ws_message <= 1, `${r.deliveries_per_ws_message}`);
    if (extra.includes('--chatty')) chattyReads(r, extra.includes('--read-every-message'));
  });
}

/** The reads of a `--chatty` run (8 connections, 0.5 + 1 s): throttled, at most the first at
 * once and one per 500 ms after it per connection; unthrottled, one per WebSocket message that
 * brought messages — far more. Either way every read moves its user's cursor, so each one is a
 * receipt for the room's 8 connections: at least as many receipts arrive as reads went out. */
function chattyReads(r, everyMessage) {
  const bound = 8 * (1 + 1.5 / 0.5);
  const figures = JSON.stringify({ sent: r.read_frames_sent, received: r.read_frames_received, interval: r.read_interval_ms });
  assert.equal(r.read_interval_ms, everyMessage ? 0 : 500, figures);
  assert.ok(r.read_frames_sent > 0, figures);
  if (everyMessage) assert.ok(r.read_frames_sent > bound, `unthrottled: more than ${bound} reads: ${figures}`);
  else assert.ok(r.read_frames_sent <= bound, `throttled: at most ${bound} reads: ${figures}`);
  assert.ok(r.read_frames_received >= r.read_frames_sent, `the receipts arrive: ${figures}`);
}
