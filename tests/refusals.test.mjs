// Every HTTP refusal of contract v1 comes from the front worker with the exact status and
// `{"error":{"code","message"}}` body, before any room object is touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from './support/jwt.mjs';
import { startServer, SECRET } from './support/server.mjs';
import { devToken, tryConnect } from './support/client.mjs';
import { roomDebug } from './support/eviction.mjs';

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
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now - 60 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a' }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ exp: now + 60 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'x'.repeat(129), exp: now + 60 }, SECRET)}`), 401, 'unauthorized');
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now + 60 }, SECRET, 'none')}`), 401, 'unauthorized');
  await refused(ws('lobby'), 401, 'unauthorized', { headers: { Authorization: 'Bearer garbage' } });
  await refused(ws('lobby'), 401, 'unauthorized', { headers: { Authorization: 'Basic abc' } });
  const body = await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now - 35 }, SECRET)}`), 401, 'unauthorized');
  assert.match(body.error.message, /expired/);
  // AUTH_LEEWAY_SECONDS (30) is the only grace: a token expired 31 s ago is refused.
  await refused(ws('lobby', `?token=${jwt.sign({ sub: 'a', exp: now - 31 }, SECRET)}`), 401, 'unauthorized');
  // Control characters are not allowed in `sub`; an empty `sub` is not a user.
  for (const sub of ['a\u0007b', 'line\nbreak', '']) {
    await refused(ws('lobby', `?token=${jwt.sign({ sub, exp: now + 60 }, SECRET)}`), 401, 'unauthorized');
  }
});

test('only HS256 is accepted: correctly signed HS384 and HS512 tokens are 401', async () => {
  const claims = { sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 };
  for (const alg of ['HS384', 'HS512']) {
    const body = await refused(ws('lobby', `?token=${jwt.sign(claims, SECRET, alg)}`), 401, 'unauthorized');
    assert.match(body.error.message, /HS256/, alg);
  }
  const ok = await tryConnect(ws('lobby', `?token=${jwt.sign(claims, SECRET, 'HS256')}`));
  assert.ok(ok.client, 'the same claims signed HS256 are accepted');
  ok.client.terminate();
});

test('refusals come in the documented order: 400 bad_room, 426, 401, 403, whatever else is wrong', async () => {
  const now = Math.floor(Date.now() / 1000);
  const good = jwt.sign({ sub: 'a', exp: now + 60 }, SECRET);
  const elsewhere = jwt.sign({ sub: 'a', exp: now + 60, rooms: ['other'] }, SECRET);
  const expiredElsewhere = jwt.sign({ sub: 'a', exp: now - 60, rooms: ['other'] }, SECRET);
  const plain = async (room, token) => {
    const res = await fetch(`${server.url}/rooms/${room}/ws${token === undefined ? '' : `?token=${token}`}`);
    return [res.status, (await res.json()).error.code];
  };
  const upgrade = async (room, token) => {
    const r = await tryConnect(ws(room, token === undefined ? '' : `?token=${token}`));
    r.client?.terminate();
    return [r.status, r.body?.error?.code];
  };
  // bad room beats everything
  assert.deepEqual(await plain('bad%20room', 'garbage'), [400, 'bad_room'], 'bad room + no upgrade + bad token');
  assert.deepEqual(await plain('bad%20room', elsewhere), [400, 'bad_room'], 'bad room + no upgrade + forbidden');
  assert.deepEqual(await upgrade('bad%20room'), [400, 'bad_room'], 'bad room + no token');
  assert.deepEqual(await upgrade('bad%20room', elsewhere), [400, 'bad_room'], 'bad room + forbidden');
  // then the upgrade
  assert.deepEqual(await plain('lobby'), [426, 'upgrade_required'], 'no upgrade + no token');
  assert.deepEqual(await plain('lobby', 'garbage'), [426, 'upgrade_required'], 'no upgrade + bad token');
  assert.deepEqual(await plain('lobby', elsewhere), [426, 'upgrade_required'], 'no upgrade + forbidden');
  // then the token
  assert.deepEqual(await upgrade('lobby', expiredElsewhere), [401, 'unauthorized'], 'expired + forbidden');
  assert.deepEqual(await upgrade('lobby', `${elsewhere}x`), [401, 'unauthorized'], 'bad signature + forbidden');
  // and a valid token for another room last
  assert.deepEqual(await upgrade('lobby', elsewhere), [403, 'forbidden']);
  assert.deepEqual(await upgrade('lobby', good), [undefined, undefined], 'and nothing wrong: upgraded');
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

test('/dev/token signs for a day by default and for a week at most', async () => {
  const before = Math.floor(Date.now() / 1000);
  const day = jwt.claims(await devToken(server, 'alice'));
  assert.ok(day.exp >= before + 86_400 && day.exp <= Math.floor(Date.now() / 1000) + 86_400, `default ttl: exp ${day.exp - before} s ahead`);
  assert.equal(day.sub, 'alice');
  assert.equal('rooms' in day, false, 'no rooms claim unless asked');
  const week = jwt.claims(await devToken(server, 'alice', { ttl: 604_800, rooms: ['a', 'b'] }));
  assert.ok(week.exp >= before + 604_800);
  assert.deepEqual(week.rooms, ['a', 'b']);
  const tooLong = await fetch(`${server.url}/dev/token?user=alice&ttl=604801`);
  assert.deepEqual([tooLong.status, (await tooLong.json()).error.code], [400, 'bad_request']);
});

test('without DEV_MODE=1 there is no /dev/token, /dev/meter or /dev/rooms/{room}/debug', async () => {
  for (const vars of [{ DEV_MODE: '0' }, { DEV_MODE: null }, { DEV_MODE: 'true' }]) {
    const prod = await startServer({ vars });
    try {
      for (const p of ['/dev/token?user=alice', '/dev/meter', '/dev/rooms/lobby/debug']) {
        const res = await fetch(`${prod.url}${p}`);
        assert.equal(res.status, 404, `${p} with ${JSON.stringify(vars)}`);
        assert.equal((await res.json()).error.code, 'not_found');
      }
    } finally {
      await prod.stop();
    }
  }
  // With it, the debug route answers.
  assert.equal((await fetch(`${server.url}/dev/rooms/lobby/debug`)).status, 200);
});

test('without AUTH_SECRET every token is refused, and /dev/token issues none', async () => {
  for (const vars of [{ AUTH_SECRET: null }, { AUTH_SECRET: '' }]) {
    const open = await startServer({ vars });
    try {
      const now = Math.floor(Date.now() / 1000);
      const url = (t) => `${open.wsUrl}/rooms/lobby/ws?token=${t}`;
      for (const secret of ['', SECRET]) {
        const r = await tryConnect(url(jwt.sign({ sub: 'a', exp: now + 60 }, secret)));
        r.client?.terminate();
        assert.deepEqual([r.status, r.body?.error?.code], [401, 'unauthorized'], `signed with ${JSON.stringify(secret)}, ${JSON.stringify(vars)}`);
      }
      const res = await fetch(`${open.url}/dev/token?user=alice`);
      const body = await res.json();
      assert.deepEqual([res.status, body.error.code], [500, 'internal'], JSON.stringify(vars));
      assert.equal('token' in body, false);
      // History over HTTP with a user token is refused the same way.
      const hist = await fetch(`${open.url}/rooms/lobby/messages?token=${jwt.sign({ sub: 'a', exp: now + 60 }, '')}`);
      assert.equal(hist.status, 401);
    } finally {
      await open.stop();
    }
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
  const debug = await roomDebug(server, room);
  assert.ok(debug.created_ms >= afterRefusals, 'the room object was first constructed by the debug call');
  assert.equal(debug.sockets, 0);
});
