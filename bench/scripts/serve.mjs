// Serves a peer in local workerd (Miniflare) for the load generator, until stopped.
// Prints one JSON line: {"url": ..., "pid": <this process>} — pass the pid to
// `loadgen --server-of` so it accounts the workerd processes under it.
//
//   node bench/scripts/serve.mjs [--peer rust|js] [--persist DIR] [--metrics] [VAR=value ...]
//
// `--peer js` serves the JS twin (bench/peers/js-room) instead of the Rust worker, in the same
// kind of workerd, with the same bindings and variables. `--persist DIR` keeps the objects'
// storage in DIR, so a server started again on it finds it (the reconnect storm).
import { startPeer } from './peers.mjs';

const argv = process.argv.slice(2);
const opt = (name) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
const peer = opt('peer') ?? 'rust';
const persistDir = opt('persist');
const vars = Object.fromEntries(argv.filter((a) => a.includes('=') && !a.startsWith('--')).map((kv) => kv.split('=')));

// `--metrics`: the Rust worker binds METRICS, so `GET /dev/metrics` lists the rooms' points
// (their `sends` per turn: bench/scripts/big_room.mjs); the twin has no such binding.
const metrics = argv.includes('--metrics') && peer !== 'js';
const server = await startPeer(peer, vars, { persistDir, ...(metrics ? { metrics } : {}) });
console.log(JSON.stringify({ url: server.url, pid: process.pid }));
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
