// What `GET /me/unread` may cost (issue 22, finding 2): each read costs the user's registry
// shard one request to every shard that counts one of their rooms, so it is counted per
// address (the `IP_LIMITER` binding, as history reads are) and per user (the registry's
// cross-room budget, `CROSS_ROOM_*`): past either it is `429 rate_limited`. And the read
// cursors a user leaves behind are capped (`READ_CURSORS_MAX_PER_USER`, the least recently
// moved dropped first), so neither the shard's storage nor a read grows without end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { devToken, join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { isReceipt, post } from './support/chat.mjs';

const me = async (server, token) => {
  const res = await fetch(`${server.url}/me/unread`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
};
const code = (r) => [r.status, r.body.error?.code ?? 'ok'];

test('/me/unread is counted by the per-IP limiter', { timeout: 30_000 }, async () => {
  const server = await startServer({ ipLimit: { simple: { limit: 5, period: 60 } } });
  try {
    const token = await devToken(server, 'reader');
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(code(await me(server, token)));
    assert.deepEqual(answers, [...Array(5).fill([200, 'ok']), [429, 'rate_limited']]);
    // Another user from the same address is refused too: the limit is the address's.
    assert.deepEqual(code(await me(server, await devToken(server, 'neighbour'))), [429, 'rate_limited']);
  } finally {
    await server.stop();
  }
});

test('/me/unread is limited per user by the cross-room budget; operators are not', { timeout: 30_000 }, async () => {
  const server = await startServer({
    vars: { CROSS_ROOM_RATE_PER_SECOND: '0.001', CROSS_ROOM_BURST: '4' },
    ipLimit: null,
  });
  try {
    const token = await devToken(server, 'greedy');
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(code(await me(server, token)));
    assert.deepEqual(answers, [...Array(4).fill([200, 'ok']), [429, 'rate_limited'], [429, 'rate_limited']]);
    const refused = await me(server, token);
    assert.match(refused.body.error.message, /slow down/);
    // The budget is the user's: another user, and the operator's reads of this user, still get in.
    assert.deepEqual(code(await me(server, await devToken(server, 'modest'))), [200, 'ok']);
    const api = admin(server);
    for (let i = 0; i < 6; i++) assert.equal((await api.get('/users/greedy/unread')).status, 200);
  } finally {
    await server.stop();
  }
});

test('READ_CURSORS_MAX_PER_USER: a user keeps that many read cursors, the least recently moved are dropped', { timeout: 60_000 }, async () => {
  const server = await startServer({ vars: { READ_CURSORS_MAX_PER_USER: '3' } });
  try {
    const api = admin(server);
    const rooms = ['cur-a', 'cur-b', 'cur-c', 'cur-d', 'cur-e'];
    const conns = {};
    for (const room of rooms) {
      const c = await join(server, room, 'scholar');
      conns[room] = c;
      await post(c, `in ${room}`);
    }
    // A read in each room, one after the other: each cursor is stored before the next moves.
    const readIn = async (room, seq, want) => {
      conns[room].send({ type: 'read', seq });
      await conns[room].next(isReceipt('scholar', seq));
      await eventually(async () => Object.keys((await api.get('/users/scholar/unread')).body.rooms).sort(), want, { ms: 10_000 });
    };
    await readIn('cur-a', 1, ['cur-a']);
    await readIn('cur-b', 1, ['cur-a', 'cur-b']);
    await readIn('cur-c', 1, ['cur-a', 'cur-b', 'cur-c']);
    await readIn('cur-d', 1, ['cur-b', 'cur-c', 'cur-d']);
    // Moving an old cursor makes it the newest: cur-b stays, cur-c (now the oldest) goes.
    await post(conns['cur-b'], 'more');
    await readIn('cur-b', 2, ['cur-b', 'cur-c', 'cur-d']);
    await readIn('cur-e', 1, ['cur-b', 'cur-d', 'cur-e']);
    Object.values(conns).forEach((c) => c.terminate());
  } finally {
    await server.stop();
  }
});
