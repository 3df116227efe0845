// Starts the real built worker (build/index.js + build/index_bg.wasm) in workerd through
// Miniflare, on a free loopback port, and stops exactly that instance.
//
// The options mirror wrangler.toml (bindings, SQLite-backed classes, compatibility date);
// `config_matches_wrangler_toml` in tests/deploy_config.test.mjs keeps the two in step.
import { execFileSync } from 'node:child_process';
import { Miniflare } from 'miniflare';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const COMPATIBILITY_DATE = '2026-04-01';
export const SECRET = 'test-secret';
export const ADMIN_TOKEN = 'test-admin-token';

/** The per-IP limit of wrangler.toml's `[[ratelimits]]` binding `IP_LIMITER`. */
export const IP_LIMIT = { simple: { limit: 600, period: 60 } };

/**
 * Miniflare options for our worker; `vars` override the defaults (`null` removes one).
 * `ipLimit`: the `IP_LIMITER` rate-limit binding (wrangler.toml's by default; `null` for none,
 * as a load generator from one address needs). `inspectorPort` and `log` are for profiling.
 * `metrics: true` binds the Analytics Engine dataset `METRICS` (off in wrangler.toml, so off
 * here by default; miniflare's binding accepts and drops the points — with DEV_MODE the worker
 * lists what it handed it at `GET /dev/metrics`).
 */
export function workerOptions({ vars = {}, persistDir, port = 0, ipLimit = IP_LIMIT, inspectorPort, log, metrics = false, assets = true } = {}) {
  const build = path.join(ROOT, 'build');
  if (!fs.existsSync(path.join(build, 'index.js'))) {
    throw new Error('build/index.js is missing: run `make build` first');
  }
  return {
    modules: true,
    scriptPath: path.join(build, 'index.js'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: {
      ROOMS: { className: 'ChatRoom', useSQLite: true },
      USERS: { className: 'UserRegistry', useSQLite: true },
      STATS: { className: 'StatsShard', useSQLite: true },
      FANOUT: { className: 'RoomFanout', useSQLite: true },
    },
    bindings: Object.fromEntries(Object.entries({
      AUTH_SECRET: SECRET,
      ADMIN_TOKEN,
      DEV_MODE: '1',
      ...fanoutPass(),
      ...vars,
    }).filter(([, v]) => v !== null)),
    ...(ipLimit ? { ratelimits: { IP_LIMITER: ipLimit } } : {}),
    ...(metrics ? { analyticsEngineDatasets: { METRICS: { dataset: 'edge_chat' } } } : {}),
    ...(inspectorPort ? { inspectorPort } : {}),
    ...(log ? { log } : {}),
    // The demo page and the client library, served before the worker like Workers assets
    // (`assets: false` leaves them out: the benchmarks measure the worker, see peers.mjs).
    ...(assets ? { assets: { directory: path.join(ROOT, 'public'), routerConfig: { has_user_worker: true } } } : {}),
    host: '127.0.0.1',
    port,
    ...(persistDir ? { durableObjectsPersist: persistDir } : {}),
  };
}

/**
 * `make test-fanout` runs the whole suite again with every room spread over fan-out objects:
 * `EDGE_CHAT_TEST_FANOUT=N` sets `ROOM_FANOUT_CONNECTIONS=N` and `ROOM_FANOUT_DEGREE=2` for
 * every server a test starts (a test's own `vars` still win), so a room of 3 connections spans
 * two objects and one of 7 already has a fan-out object relaying to others.
 */
function fanoutPass() {
  const n = process.env.EDGE_CHAT_TEST_FANOUT;
  return n ? { ROOM_FANOUT_CONNECTIONS: n, ROOM_FANOUT_DEGREE: '2' } : {};
}

/** A running worker: `url` (http://127.0.0.1:PORT), `wsUrl`, and `stop()`. */
export async function startServer(opts = {}) {
  const mf = new Miniflare(workerOptions(opts));
  const url = await mf.ready;
  const base = url.toString().replace(/\/$/, '');
  return {
    mf,
    url: base,
    wsUrl: base.replace(/^http/, 'ws'),
    async stop() {
      await mf.dispose();
    },
  };
}

/** The workerd processes node process `ppid` (this one by default) started — Miniflare spawns
 * workerd as a child: a test that kills one hard (SIGKILL, no close event anywhere) finds it here. */
export function workerdChildren(ppid = process.pid) {
  const out = execFileSync('ps', ['--ppid', String(ppid), '-o', 'pid=,comm='], { encoding: 'utf8' });
  return out.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, comm]) => comm === 'workerd').map(([pid]) => Number(pid));
}

/**
 * Starts a server with `start()` and finds the one workerd process it spawned; the server gets
 * `killHard()`: SIGKILL to that workerd (no close event anywhere, its storage as it was), resolved
 * once the process is gone. Throws unless exactly one new workerd appeared.
 */
export async function killable(start) {
  const before = new Set(workerdChildren());
  const server = await start();
  const spawned = workerdChildren().filter((p) => !before.has(p));
  if (spawned.length !== 1) {
    await server.mf?.dispose().catch(() => {});
    throw new Error(`expected the one workerd this server started, found ${spawned.length}`);
  }
  const [pid] = spawned;
  server.killHard = async () => {
    process.kill(pid, 'SIGKILL');
    for (const deadline = Date.now() + 5000; workerdChildren().includes(pid);) {
      if (Date.now() > deadline) throw new Error('workerd is still there 5 s after SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return server;
}
