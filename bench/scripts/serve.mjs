// Serves the built worker in local workerd (Miniflare) for the load generator, until stopped.
// Prints one JSON line: {"url": ..., "pid": <this process>} — pass the pid to
// `loadgen --workerd-of` so it accounts the workerd processes under it.
//
//   node bench/scripts/serve.mjs [VAR=value ...]
import { startServer } from '../../tests/support/server.mjs';

const vars = Object.fromEntries(process.argv.slice(2).map((kv) => kv.split('=')));
const server = await startServer({ vars: { RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000', ...vars } });
console.log(JSON.stringify({ url: server.url, pid: process.pid }));
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
