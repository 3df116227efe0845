// Every HTTP refusal of contract v1 comes from the front worker with the exact status and
// `{"error":{"code","message"}}` body, before any room object is touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from './support/jwt.mjs';
import { startServer, SECRET } from './support/server.mjs';
import { devToken, tryConnect } from './support/client.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const ws = (room, query = '') => `${server.wsUrl}/rooms/${room}/ws${query}`;

async function refused(url, status, code, opts) {
  const r = await tryConnect(url, opts);
  assert.equal(r.client, undefined, `expected a refusal for ${url}`);
  assert.equal(r.status, status);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.match(r.headers['content-type'], /application\/json/);
  return r.body;
}

test('bad room names are 400 bad_room', async () => {
  const token = await devToken(server, 'alice');
  for (const room of ['a%20b', 'x'.repeat(65), 'caf%C3%A9', 'a%2Fb', '%00']) {
    await refused(ws(room, `?token=${token}`), 400, 'bad_room');
  }
  // An empty room segment is a bad room too.
  await refused(`${server.wsUrl}/rooms//ws?token=${token}`, 400, 'bad_room');
});

test('missing, invalid and expired tokens are 401 unauthorized', async () => {
  const now = Math.floor(Date.now() / 1000);
  await refused(ws('lobby'), 401, 'unauthorized');
  await refused(ws('lobby', '?token='), 401, 'unauthorized');
  await refused(ws('lobby', '?token=not.a.jwt'), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now + 60 }, 'wrong-secret')}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now - 1 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a' }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ exp: now + 60 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'x'.repeat(129), exp: now + 60 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now + 60 }, SECRET, 'none')}`), 401, 'unauthorized');
  await refused(ws('lobby'), 401, 'unauthorized', { headers: { Authorization: 'Bearer garbage' } });
  await refused(ws('lobby'), 401, 'unauthorized', { headers: { Authorization: 'Basic abc' } });
  const body = await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now - 5 }, SECRET)}`), 401, 'unauthorized');
  assert.match(body.error.message, /expired/);
});

test('a token is accepted from the query or an Authorization: Bearer header', async () => {
  const token = await devToken(server, 'alice');
  const viaQuery = await tryConnect(ws('lobby', `?token=${token}`));
  assert.ok(viaQuery.client);
  const viaHeader = await tryConnect(ws('lobby'), { headers: { Authorization: `Bearer ${token}` } });
  assert.ok(viaHeader.client);
  viaQuery.client.terminate();
  viaHeader.client.terminate();
});

test('a room outside the token\'s rooms claim is 403 forbidden', async () => {
  const token = await devToken(server, 'alice', { rooms: ['red', 'blue'] });
  await refused(ws('green', `?token=${token}`), 403, 'forbidden');
  const ok = await tryConnect(ws('blue', `?token=${token}`));
  assert.ok(ok.client, 'a listed room is allowed');
  ok.client.terminate();
  const empty = jwt.sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60, rooms: [] }, SECRET);
  await refused(ws('blue', `?token=${empty}`), 403, 'forbidden');
});

test('a plain HTTP request to the socket endpoint is 426 upgrade_required', async () => {
  const token = await devToken(server, 'alice');
  const res = await fetch(ws('lobby', `?token=${token}`).replace(/^ws/, 'http'));
  assert.equal(res.status, 426);
  assert.equal((await res.json()).error.code, 'upgrade_required');
});

test('unknown paths are 404 not_found in the same JSON shape', async () => {
  const res = await fetch(`${server.url}/nope`);
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, 'not_found');
});

test('GET /health answers without credentials', async () => {
  const res = await fetch(`${server.url}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});

test('/dev/token validates its input', async () => {
  for (const q of ['', 'user=', `user=${'u'.repeat(129)}`, 'user=a&rooms=bad%20room', 'user=a&ttl=0', 'user=a&ttl=x']) {
    const res = await fetch(`${server.url}/dev/token?${q}`);
    assert.equal(res.status, 400, q);
    assert.ok((await res.json()).error.code, q);
  }
});

test('without DEV_MODE there is no /dev/token', async () => {
  const prod = await startServer({ vars: { DEV_MODE: '0' } });
  try {
    const res = await fetch(`${prod.url}/dev/token?user=alice`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.code, 'not_found');
  } finally {
    await prod.stop();
  }
});

test('refusals never reach (and so never create or wake) a room object', async () => {
  const now = Math.floor(Date.now() / 1000);
  const room = `untouched-${process.pid}`;
  await refused(ws(room), 401, 'unauthorized');
  await refused(ws(room, `?token=${jwt.sign({ sub: 'a', exp: now + 60, rooms: ['x'] }, SECRET)}`), 403, 'forbidden');
  const res = await fetch(ws(room, `?token=${jwt.sign({ sub: 'a', exp: now + 60 }, SECRET)}`).replace(/^ws/, 'http'));
  assert.equal(res.status, 426);
  const afterRefusals = Date.now();
  const debug = await (await fetch(`${server.url}/dev/rooms/${room}/debug`)).json();
  assert.ok(debug.created_ms >= afterRefusals, 'the room object was first constructed by the debug call');
  assert.equal(debug.sockets, 0);
});
