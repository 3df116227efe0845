// The server HTTP API: bearer-token guard (constant-time, no data in refusals), posting to a
// room (with exclude), to a connection, and the JSON error contract for bad requests.
import { test, before, after } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import { startServer, ADMIN_TOKEN } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { directWith, isDirect, isMessage, messageWith } from './support/frames.mjs';

const MAX = 2048; // MAX_MESSAGE_BYTES of this file's server

let server, api;
before(async () => {
  server = await startServer({ vars: { MAX_MESSAGE_BYTES: String(MAX) } });
  api = admin(server);
});
after(async () => { await server?.stop(); });

const ENDPOINTS = [
  ['GET', '/stats'],
  ['GET', '/rooms/secret-room'],
  ['POST', '/rooms/secret-room/messages'],
  ['GET', '/users/secret-user'],
  ['POST', '/users/secret-user/messages'],
  ['POST', '/connections/secret-room.0123456789abcdef/messages'],
];

test('every admin endpoint refuses a missing or wrong token with 401 and leaks nothing', async () => {
  const c = await join(server, 'secret-room', 'secret-user');
  const attempts = [null, '', 'wrong', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`, ADMIN_TOKEN.toUpperCase()];
  for (const token of attempts) {
    for (const [method, path] of ENDPOINTS) {
      const r = await admin(server, token).call(method, path, method === 'POST' ? { data: 'x' } : undefined);
      assert.equal(r.status, 401, `${method} ${path} with ${token}`);
      assert.deepEqual(Object.keys(r.body), ['error']);
      assert.equal(r.body.error.code, 'unauthorized');
      assert.doesNotMatch(r.text, /secret-room|secret-user|connections|delivered|test-admin-token/);
    }
  }
  const basic = await api.get('/stats', { Authorization: `Basic ${ADMIN_TOKEN}` });
  assert.equal(basic.status, 401);
  assert.equal(c.frames.filter((f) => f.type === 'message' || f.type === 'direct').length, 0, 'nothing was delivered');
  c.terminate();
});

test('without ADMIN_TOKEN configured the API stays closed', async () => {
  const closed = await startServer({ vars: { ADMIN_TOKEN: '' } });
  try {
    for (const token of ['', 'anything']) {
      const r = await admin(closed, token).get('/stats');
      assert.equal(r.status, 401);
    }
  } finally {
    await closed.stop();
  }
});

test('GET /health needs no token', async () => {
  const r = await admin(server, null).get('/health');
  assert.deepEqual([r.status, r.body], [200, { ok: true }]);
});

test('POST /rooms/{room}/messages reaches every connection as a server message; exclude leaves one out', async () => {
  const a = await join(server, 'srv', 'alice');
  const b = await join(server, 'srv', 'bob');
  const before = Date.now();
  const r = await api.post('/rooms/srv/messages', { data: { notice: 'maintenance' } });
  assert.deepEqual([r.status, r.body], [200, { delivered: 2, seq: 1 }]);
  for (const c of [a, b]) {
    const m = await c.next((f) => f.type === 'message');
    assert.deepEqual({ ...m, ts: 0 }, { type: 'message', room: 'srv', from: { server: true }, data: { notice: 'maintenance' }, ts: 0, seq: 1 });
    assert.ok(m.ts >= before - 1000 && m.ts <= Date.now() + 1000);
  }
  const from = a.mark();
  const r2 = await api.post('/rooms/srv/messages', { data: 'not for alice', exclude: a.connectionId });
  assert.deepEqual(r2.body, { delivered: 1, seq: 2 });
  assert.equal((await b.next((f) => f.type === 'message')).data, 'not for alice');
  await api.post('/rooms/srv/messages', { data: 'marker' });
  assert.deepEqual(await a.framesBefore(messageWith('marker'), from), [], 'the excluded connection got nothing before the next post');
  const empty = await api.post('/rooms/nobody-here/messages', { data: 1 });
  assert.deepEqual([empty.status, empty.body], [200, { delivered: 0, seq: 1 }], 'stored even when nobody listens');
  a.terminate(); b.terminate();
});

test('POST /connections/{id}/messages reaches that connection or is 404', async () => {
  const a = await join(server, 'conn', 'alice');
  const b = await join(server, 'conn', 'bob');
  const r = await api.post(`/connections/${a.connectionId}/messages`, { data: [1, 2] });
  assert.deepEqual([r.status, r.body], [200, { delivered: 1 }]);
  assert.deepEqual(await a.next((f) => f.type === 'direct'), { type: 'direct', from: { server: true }, data: [1, 2] });
  await api.post(`/connections/${b.connectionId}/messages`, { data: 'marker' });
  assert.deepEqual((await b.framesBefore(directWith('marker'), 1)).filter(isDirect), [], 'the other connection got nothing');
  const fromA = a.mark();
  await api.post(`/connections/${a.connectionId}/messages`, { data: 'marker' });
  assert.deepEqual(await a.framesBefore(directWith('marker'), fromA), [], 'exactly one copy');
  for (const id of ['conn.0123456789abcdef', 'garbage', 'a%20b.0123456789abcdef']) {
    const miss = await api.post(`/connections/${id}/messages`, { data: 1 });
    assert.equal(miss.status, 404, id);
    assert.equal(miss.body.error.code, 'not_found');
  }
  a.terminate(); b.terminate();
});

test('bad requests are 400 bad_request with the JSON error body', async () => {
  const cases = [
    ['/rooms/r/messages', '{not json'],
    ['/rooms/r/messages', '[1,2]'],
    ['/rooms/r/messages', {}],
    ['/rooms/r/messages', { datum: 1 }],
    ['/rooms/r/messages', { data: 1, exclude: 7 }],
    ['/rooms/r/messages', { data: 'x'.repeat(3000) }],
    ['/users/u/messages', { data: 'x'.repeat(3000) }],
    ['/users/u/messages', ''],
    ['/connections/r.0123456789abcdef/messages', { nodata: true }],
    ['/rooms/r/messages', `{"data":${'['.repeat(200)}${']'.repeat(200)}}`],
  ];
  for (const [path, body] of cases) {
    const r = await api.post(path, body);
    assert.equal(r.status, 400, `${path} ${String(JSON.stringify(body)).slice(0, 40)}`);
    assert.equal(r.body.error.code, 'bad_request');
    assert.equal(typeof r.body.error.message, 'string');
  }
  const badRoom = await api.post('/rooms/bad%20room/messages', { data: 1 });
  assert.deepEqual([badRoom.status, badRoom.body.error.code], [400, 'bad_room']);
  const badUser = await api.get(`/users/${'u'.repeat(129)}`);
  assert.deepEqual([badUser.status, badUser.body.error.code], [400, 'bad_request']);
  // (DELETE /rooms/{room} deletes the room since issue 23; PUT is served nowhere.)
  const wrongMethod = await api.call('PUT', '/rooms/r');
  assert.deepEqual([wrongMethod.status, wrongMethod.body.error.code], [405, 'method_not_allowed']);
});

/** A `{"data":"..."}` body of exactly `bytes` bytes, its string made of `ch` (1 or 2 bytes). */
function bodyOf(bytes, ch = 'x') {
  const shell = Buffer.byteLength('{"data":""}');
  const per = Buffer.byteLength(ch);
  const n = Math.floor((bytes - shell) / per);
  const body = `{"data":"${ch.repeat(n)}${'y'.repeat(bytes - shell - n * per)}"}`;
  assert.equal(Buffer.byteLength(body), bytes);
  return body;
}

test('a body of exactly MAX_MESSAGE_BYTES is accepted; one byte more is refused, counted in bytes', async () => {
  for (const path of ['/rooms/limit/messages', '/users/limit-user/messages']) {
    const ok = await api.post(path, bodyOf(MAX));
    assert.equal(ok.status, 200, `${path} at the limit`);
    const over = await api.post(path, bodyOf(MAX + 1));
    assert.deepEqual([over.status, over.body.error.code], [400, 'bad_request'], `${path} one byte over`);
  }
  // Two-byte characters: fewer characters than the limit, more bytes.
  const wide = bodyOf(MAX + 1, 'é');
  assert.ok(wide.length < MAX);
  const r = await api.post('/rooms/limit/messages', wide);
  assert.deepEqual([r.status, r.body.error.code], [400, 'bad_request']);
  const fits = await api.post('/rooms/limit/messages', bodyOf(MAX, 'é'));
  assert.equal(fits.status, 200);
});

/** POSTs `chunks` with `Transfer-Encoding: chunked` (no Content-Length). */
function postChunked(path, chunks) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text), chunked: req.getHeader('content-length') === undefined }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('a chunked body (no Content-Length) over MAX_MESSAGE_BYTES is refused after reading; under it, accepted', async () => {
  const big = bodyOf(MAX + 1);
  const over = await postChunked('/rooms/chunked/messages', [big.slice(0, 1000), big.slice(1000)]);
  assert.equal(over.chunked, true, 'sent without Content-Length');
  assert.deepEqual([over.status, over.body.error.code], [400, 'bad_request']);
  const huge = await postChunked('/rooms/chunked/messages', Array(64).fill(bodyOf(MAX).slice(0, 1024)));
  assert.deepEqual([huge.status, huge.body.error.code], [400, 'bad_request'], 'far over: 64 KiB in chunks');
  const ok = bodyOf(MAX);
  const fine = await postChunked('/rooms/chunked/messages', [ok.slice(0, 1000), ok.slice(1000)]);
  assert.deepEqual([fine.status, fine.body.delivered], [200, 0]);
  const history = await api.get('/rooms/chunked/messages?since=0');
  assert.equal(history.body.messages.length, 1, 'only the body within the limit was stored');
});

/** One request over `agent`: resolves with the status and whether it reused a kept-alive socket. */
function request(agent, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, {
      agent,
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a refusal lets the refused body arrive, so the kept-alive connection serves the next request', async () => {
  // Answering before the body is read makes the connection reset under the client's *next*
  // request (seen once in CI). One socket, kept alive: the follow-up must reuse it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const body = JSON.stringify({ data: 'y'.repeat(256 * 1024) });
    assert.equal((await request(agent, 'GET', '/health')).status, 200);
    for (const path of ['/rooms/bad%20room/messages', '/nowhere', '/rooms/r/messages', '/users/u/messages']) {
      const refused = await request(agent, 'POST', path, body);
      assert.ok(refused.status >= 400 && refused.status < 500, `${path} ${refused.status}`);
      const next = await request(agent, 'GET', '/health');
      assert.deepEqual(next, { status: 200, reused: true }, `the request after refusing ${path}`);
    }
  } finally {
    agent.destroy();
  }
});

test('GET /rooms/{room} and GET /users/{user} describe what is open', async () => {
  const a1 = await join(server, 'desc', 'alice');
  const a2 = await join(server, 'desc', 'alice');
  const b = await join(server, 'desc', 'bob');
  const room = await api.get('/rooms/desc');
  assert.deepEqual(room.body, { room: 'desc', connections: 3, users: [{ user_id: 'alice', connections: 2 }, { user_id: 'bob', connections: 1 }] });
  const none = await api.get('/rooms/never-used');
  assert.deepEqual(none.body, { room: 'never-used', connections: 0, users: [] });
  const stranger = await api.get('/users/stranger');
  assert.deepEqual(stranger.body, { user_id: 'stranger', connections: 0, rooms: {} });
  [a1, a2, b].forEach((c) => c.terminate());
});
