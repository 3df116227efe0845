// Wake cost: how long the first message takes to reach the other member of a room whose
// object hibernated (evicted from memory, sockets kept by the runtime), against the same
// message in a warm room. Runs ROOMS rooms side by side, so one idle wait covers them all.
//
//   node bench/scripts/wake_cost.mjs --peer rust|js [--rooms 5] [--json FILE]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT, SECRET } from '../../tests/support/server.mjs';
import jwt from '../../tests/support/jwt.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const PEER = arg('peer', 'rust');
const ROOMS = Number(arg('rooms', 5));
const JSON_OUT = arg('json');
// Local workerd evicts an object after ~10 s without events; the margin makes it certain.
const IDLE_MS = 15_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startPeer() {
  const child = spawn('node', [path.join(ROOT, 'bench/scripts/serve.mjs'), '--peer', PEER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"url"'));
      if (line) resolve({ url: JSON.parse(line).url, child });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const waiters = [];
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
    });
    ws.next = (pred) => new Promise((res) => waiters.push({ pred, resolve: res }));
    const welcome = ws.next((f) => f.type === 'welcome');
    ws.once('open', () => welcome.then(() => resolve(ws)));
    ws.once('error', reject);
  });
}

/** Milliseconds from A's publish until B has the message. */
async function oneMessage(a, b, data) {
  const t0 = performance.now();
  const got = b.next((f) => f.type === 'message' && f.data === data);
  a.send(JSON.stringify({ type: 'publish', data, id: data }));
  await got;
  return performance.now() - t0;
}

const { url, child } = await startPeer();
const base = url.replace(/^http/, 'ws');
const token = (sub) => jwt.sign({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET);
try {
  const pairs = [];
  const prefix = `wake-${process.pid}`;
  for (let i = 0; i < ROOMS; i++) {
    const room = `${prefix}-${i}`;
    const a = await open(`${base}/rooms/${room}/ws?token=${token(`a${i}`)}`);
    const b = await open(`${base}/rooms/${room}/ws?token=${token(`b${i}`)}`);
    pairs.push({ a, b });
  }
  const warm = [];
  for (const [i, { a, b }] of pairs.entries()) {
    await oneMessage(a, b, `first-${i}`);
    warm.push(await oneMessage(a, b, `warm-${i}`));
  }
  await sleep(IDLE_MS);
  const cold = [];
  for (const [i, { a, b }] of pairs.entries()) cold.push(await oneMessage(a, b, `cold-${i}`));
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const result = {
    peer: PEER,
    rooms: ROOMS,
    idle_ms: IDLE_MS,
    warm_ms: warm,
    cold_ms: cold,
    warm_median_ms: median(warm),
    cold_median_ms: median(cold),
    wake_cost_ms: median(cold) - median(warm),
  };
  console.log(JSON.stringify(result));
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(result, null, 2));
  for (const { a, b } of pairs) { a.terminate(); b.terminate(); }
} finally {
  child.kill('SIGTERM');
}
