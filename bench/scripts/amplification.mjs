// Measures the worst cross-room amplification one user token can cause (issue 22): the token
// joins ROOMS rooms (default settings otherwise: MAX_ROOMS_PER_USER, DIRECT_RATE_*, CROSS_ROOM_*)
// and, from every room, sends directs to its own user id — each one is forwarded to every room
// the user is in — at the per-room direct rate (5/s) for SECONDS. The objects count what they
// were asked (`GET /dev/meter`): room sub-requests and registry requests, per direct frame and
// per second. Run it on any build (build/) to compare before and after.
//
//   node bench/scripts/amplification.mjs [ROOMS=20] [SECONDS=3] [--json FILE]
import fs from 'node:fs';
import { startServer } from '../../tests/support/server.mjs';
import { join, sleep, tryConnect, devToken } from '../../tests/support/client.mjs';
import { admin, eventually } from '../../tests/support/admin.mjs';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--json');
const ROOMS = Number(positional[0] ?? 20);
const SECONDS = Number(positional[1] ?? 3);
const PER_ROOM_RATE = 5; // DIRECT_RATE_PER_SECOND's default
const JSON_OUT = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;

const server = await startServer({ ipLimit: null });
try {
  const meter = async () => (await fetch(`${server.url}/dev/meter`)).json();
  const api = admin(server);
  const conns = [];
  for (let i = 0; i < ROOMS; i++) {
    const c = await join(server, `amp-${i}`, 'mallory');
    c.ws.on('message', () => {}); // frames are not awaited: the meter counts
    conns.push(c);
  }
  await eventually(async () => (await api.get('/users/mallory')).body.connections, ROOMS, { ms: 20_000 });
  // One room more than the cap, when the build has one (before: no cap at all).
  const extra = await tryConnect(`${server.wsUrl}/rooms/amp-extra/ws?token=${await devToken(server, 'mallory')}`);
  extra.client?.terminate();
  const m0 = await meter();
  const t0 = performance.now();
  let sent = 0;
  for (let tick = 0; tick < SECONDS * PER_ROOM_RATE; tick++) {
    for (const c of conns) {
      c.send({ type: 'direct', to: { user_id: 'mallory' }, data: sent, id: `d${sent}` });
      sent++;
    }
    await sleep(1000 / PER_ROOM_RATE);
  }
  // Let the last forwards land: until the room count stops moving.
  let last = -1;
  for (;;) {
    const now = (await meter()).room.requests;
    if (now === last) break;
    last = now;
    await sleep(500);
  }
  const seconds = (performance.now() - t0) / 1000;
  const m1 = await meter();
  const rooms = m1.room.requests - m0.room.requests;
  const registry = m1.registry.requests - m0.registry.requests;
  const result = {
    rooms: ROOMS,
    directs: sent,
    window_s: Number(seconds.toFixed(2)),
    room_subrequests: rooms,
    registry_requests: registry,
    room_subrequests_per_direct: Number((rooms / sent).toFixed(2)),
    room_subrequests_per_s: Math.round(rooms / SECONDS),
    extra_room: extra.client ? 'connected' : `${extra.status} ${extra.body.error?.code}`,
  };
  console.log(JSON.stringify(result));
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, `${JSON.stringify(result, null, 2)}\n`);
  conns.forEach((c) => c.terminate());
} finally {
  await server.stop();
}
