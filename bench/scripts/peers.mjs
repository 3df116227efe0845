// What the benchmark scripts share: starting a peer in this process (the Rust worker or the JS
// twin, in the same kind of local workerd, with the same bindings) and one median.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import WebSocket from 'ws';
import jwt from '../../tests/support/jwt.mjs';
import { startServer, ROOT, SECRET, COMPATIBILITY_DATE } from '../../tests/support/server.mjs';

/** Limits out of the way: the generator floods on purpose, from one address, with many
 * connections per room and many directs. */
export const BENCH_VARS = {
  RATE_LIMIT_PER_SECOND: '1000000',
  RATE_LIMIT_BURST: '1000000',
  DIRECT_RATE_PER_SECOND: '1000000',
  DIRECT_RATE_BURST: '1000000',
  MAX_CONNECTIONS_PER_USER: '1000000',
  MAX_ROOM_CONNECTIONS: '1000000',
};

async function startJsTwin(vars, extra = {}) {
  const mf = new Miniflare({
    ...extra,
    modules: true,
    scriptPath: path.join(ROOT, 'bench', 'peers', 'js-room', 'worker.mjs'),
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: { ROOMS: { className: 'JsRoom', useSQLite: true } },
    bindings: { AUTH_SECRET: SECRET, ...vars },
    host: '127.0.0.1',
    port: 0,
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  return { url, wsUrl: url.replace(/^http/, 'ws'), stop: () => mf.dispose() };
}

/** `rust` or `js`, with extra variables and server options (`extra`, e.g. `{inspectorPort}` for
 * profiling); `persistDir` keeps the objects' storage there (a restart finds it); resolves to
 * `{url, wsUrl, stop}`.
 *
 * Both peers are served the same way: the worker alone, no static-assets binding. With one,
 * Miniflare routes every request through its asset router (three more isolates) before the
 * worker — 0.56 ms of CPU per connect locally (docs/benchmarks.md, "Where a connect's CPU
 * goes"), which on Cloudflare is the platform's, not the worker's, and which the twin (no
 * assets) never paid. */
export function startPeer(peer, vars = {}, { persistDir, ...extra } = {}) {
  return peer === 'js'
    ? startJsTwin(vars, { ...extra, ...(persistDir ? { durableObjectsPersist: persistDir } : {}) })
    : startServer({ vars: { ...BENCH_VARS, ...vars }, ipLimit: null, assets: false, persistDir, ...extra });
}

/** The median; for an even count, the mean of the two middle values (as `bench-report`). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A token of the load generator's `user-{i}`. */
const token = (i) => {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub: `user-${i}`, iat: now, exp: now + 3600 }, SECRET);
};

/** Connects `user-{i}` to room `{prefix}-{i mod rooms}` for every i < users, as the load
 * generator names them (250 at a time), and resolves once all were welcomed: the sockets. */
export async function population(url, prefix, users, rooms) {
  const sockets = [];
  for (let start = 0; start < users; start += 250) {
    const batch = [];
    for (let i = start; i < Math.min(users, start + 250); i++) {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/rooms/${prefix}-${i % rooms}/ws?token=${token(i)}`);
      sockets.push(ws);
      batch.push(new Promise((resolve, reject) => {
        ws.once('message', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      }));
    }
    await Promise.all(batch);
  }
  return sockets;
}

/** `node bench/scripts/serve.mjs --peer PEER ARGS…` in a process of its own on core 0 (the
 * scenarios that restart or reconfigure the server between runs); resolves to `{url, pid,
 * child}` once it prints them. `label` names it in errors. */
export function servePinned(peer, args = [], label = peer) {
  const child = spawn('taskset', ['-c', '0', process.execPath, 'bench/scripts/serve.mjs', '--peer', peer, ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${label}: no server after 30 s`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"pid"'));
      if (!line) return;
      clearTimeout(timer);
      resolve({ ...JSON.parse(line), child });
    });
    child.once('exit', (code) => reject(new Error(`${label}: server exited (${code})`)));
  });
}

/** Stops a server `servePinned` started (bounded: 10 s). */
export async function stopServed(server, signal = 'SIGTERM') {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
}

/** GET `url` as JSON, tried again for 5 s: during a storm the listen queue overflows and a read
 * may be refused. */
export async function getJson(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await (await fetch(url)).json();
    } catch (e) {
      if (attempt === 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
