// Serves the built worker in local workerd (Miniflare) for the load generator, until stopped.
// Prints one JSON line: {"url": ..., "pid": <this process>} — pass the pid to
// `loadgen --workerd-of` so it accounts the workerd processes under it.
//
//   node bench/scripts/serve.mjs [--peer rust|js] [VAR=value ...]
//
// `--peer js` serves the JS twin (bench/peers/js-room) instead of the Rust worker, in the same
// kind of workerd, with the same bindings and variables.
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { startServer, ROOT, SECRET, COMPATIBILITY_DATE } from '../../tests/support/server.mjs';

const argv = process.argv.slice(2);
const peer = argv[0] === '--peer' ? argv[1] : 'rust';
const vars = Object.fromEntries(argv.filter((a) => a.includes('=')).map((kv) => kv.split('=')));
const fast = { RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000' };

async function startJsTwin() {
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(ROOT, 'bench', 'peers', 'js-room', 'worker.mjs'),
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: { ROOMS: { className: 'JsRoom', useSQLite: true } },
    bindings: { AUTH_SECRET: SECRET, ...vars },
    host: '127.0.0.1',
    port: 0,
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  return { url, stop: () => mf.dispose() };
}

const server = peer === 'js' ? await startJsTwin() : await startServer({ vars: { ...fast, ...vars } });
console.log(JSON.stringify({ url: server.url, pid: process.pid }));
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
