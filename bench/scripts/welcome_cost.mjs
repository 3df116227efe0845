// What `read_seq` and `unread` cost a connect (issue 14): the welcome's one indexed statement
// (the user's cursor, the ordinal at it, and a count of the user's own messages after it over
// an index). Sequential connects to rooms on the built worker in local workerd, time to the
// welcome, for: an empty room; a room of 10,000 messages for a user with a cursor at the end;
// and the worst case, a user who wrote 5,000 of them and never read (their own messages are
// counted over the index). The differences are the statement's cost.
//
//   node bench/scripts/welcome_cost.mjs [CONNECTS=300]
import { startServer } from '../../tests/support/server.mjs';
import { join } from '../../tests/support/client.mjs';

const CONNECTS = Number(process.argv[2] ?? 300);
const MESSAGES = 10_000;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const server = await startServer({
  vars: { RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_BURST: '1000000', HISTORY_MAX_MESSAGES: '20000' },
  ipLimit: null,
});
try {
  // The full room: 'heavy' writes half the messages, 'other' the rest; 'reader' reads them all.
  const heavy = await join(server, 'full', 'heavy');
  const other = await join(server, 'full', 'other');
  let acked = 0;
  const done = new Promise((resolve) => {
    for (const c of [heavy, other]) {
      c.ws.removeAllListeners('message');
      c.ws.on('message', (raw) => {
        if (String(raw).startsWith('{"type":"ack"') && ++acked === MESSAGES) resolve();
      });
    }
  });
  for (let i = 0; i < MESSAGES; i++) (i % 2 ? other : heavy).send(`{"type":"publish","data":${i},"id":"f${i}"}`);
  await done;
  const reader = await join(server, 'full', 'reader');
  reader.send({ type: 'read', seq: MESSAGES });
  await reader.next((f) => f.type === 'read');
  heavy.terminate();
  other.terminate();

  // The three cases interleaved, connect by connect, so that the machine's noise falls on all.
  const cases = [['empty room', 'empty', 'someone'], ['10,000 messages, cursor at the end', 'full', 'reader'],
    ['10,000 messages, 5,000 of them own, never read', 'full', 'heavy']];
  const times = cases.map(() => []);
  const welcomes = [];
  for (let i = 0; i < CONNECTS + 20; i++) {
    for (const [k, [, room, user]] of cases.entries()) {
      const t0 = performance.now();
      const c = await join(server, room, user);
      if (i >= 20) times[k].push(performance.now() - t0);
      welcomes[k] = c.welcome;
      c.terminate();
    }
  }
  const rows = cases.map(([name], k) => [name, { p50: pct(times[k], 50), p90: pct(times[k], 90), welcome: welcomes[k] }]);
  console.log(`time to welcome, ${CONNECTS} sequential connects each, the cases interleaved (after 20 to warm up):`);
  for (const [name, r] of rows) {
    console.log(`  ${name.padEnd(48)} p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  (read_seq ${r.welcome.read_seq}, unread ${r.welcome.unread})`);
  }
} finally {
  await server.stop();
}
