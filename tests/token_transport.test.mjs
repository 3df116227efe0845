// How a token reaches the server (issue 12), from node's `ws` (the browser is tested with the
// demo page): as a WebSocket subprotocol `edge-chat.token.<jwt>` offered with `edge-chat.v1`
// (the 101 selects `edge-chat.v1` and never echoes the token), still as `?token=` and as
// `Authorization: Bearer` — the scheme matched case-insensitively, for user tokens and for the
// admin token alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import jwt from './support/jwt.mjs';
import { startServer, SECRET, ADMIN_TOKEN } from './support/server.mjs';
import { Client, devToken, tryConnect } from './support/client.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const wsUrl = (room, query = '') => `${server.wsUrl}/rooms/${room}/ws${query}`;

/** Opens a WebSocket offering `protocols`: `{client, protocol, upgradeHeaders}` when upgraded,
 * `{status, body}` when refused. */
function connectWith(url, protocols, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false });
    const client = new Client(ws);
    let upgradeHeaders;
    ws.once('upgrade', (res) => { upgradeHeaders = res.headers; });
    ws.once('open', () => resolve({ client, protocol: ws.protocol, upgradeHeaders }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* keep text */ }
        resolve({ status: res.statusCode, body });
      });
    });
    ws.once('error', reject);
  });
}

test('a token offered as a subprotocol with edge-chat.v1 connects; the 101 selects edge-chat.v1 only', async () => {
  const token = await devToken(server, 'alice');
  const r = await connectWith(wsUrl('tt-lobby'), ['edge-chat.v1', `edge-chat.token.${token}`]);
  assert.ok(r.client, `refused ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.protocol, 'edge-chat.v1');
  assert.equal(r.upgradeHeaders['sec-websocket-protocol'], 'edge-chat.v1');
  assert.ok(!JSON.stringify(r.upgradeHeaders).includes(token), 'the token is never echoed');
  const welcome = await r.client.next((f) => f.type === 'welcome');
  assert.equal(welcome.user_id, 'alice');
  // The connection is a normal one.
  r.client.send({ type: 'publish', data: 'via subprotocol', id: 's1' });
  assert.equal((await r.client.next((f) => f.type === 'ack')).id, 's1');
  // The order of the offer does not matter.
  const reversed = await connectWith(wsUrl('tt-lobby'), [`edge-chat.token.${token}`, 'edge-chat.v1']);
  assert.equal(reversed.protocol, 'edge-chat.v1');
  r.client.terminate(); reversed.client.terminate();
});

test('the token subprotocol without edge-chat.v1 is 400 bad_request; a bad token in it is 401', async () => {
  const token = await devToken(server, 'alice');
  const alone = await connectWith(wsUrl('tt-lobby'), [`edge-chat.token.${token}`]);
  assert.equal(alone.client, undefined);
  assert.deepEqual([alone.status, alone.body.error.code], [400, 'bad_request']);
  assert.ok(!JSON.stringify(alone.body).includes(token));
  const other = await connectWith(wsUrl('tt-lobby'), ['chat', `edge-chat.token.${token}`]);
  assert.deepEqual([other.status, other.body.error.code], [400, 'bad_request']);

  const now = Math.floor(Date.now() / 1000);
  for (const bad of [jwt.sign({ sub: 'alice', exp: now - 60 }, SECRET), jwt.sign({ sub: 'alice', exp: now + 60 }, 'wrong'), 'not.a.jwt']) {
    const r = await connectWith(wsUrl('tt-lobby'), ['edge-chat.v1', `edge-chat.token.${bad}`]);
    assert.deepEqual([r.status, r.body.error.code], [401, 'unauthorized']);
  }
  // edge-chat.v1 alone carries no token.
  const none = await connectWith(wsUrl('tt-lobby'), ['edge-chat.v1']);
  assert.deepEqual([none.status, none.body.error.code], [401, 'unauthorized']);
  // The rooms claim applies as with any token.
  const lobbyOnly = await devToken(server, 'alice', { rooms: ['tt-lobby'] });
  const elsewhere = await connectWith(wsUrl('tt-other'), ['edge-chat.v1', `edge-chat.token.${lobbyOnly}`]);
  assert.deepEqual([elsewhere.status, elsewhere.body.error.code], [403, 'forbidden']);
});

test('?token= and Authorization: Bearer keep working, with or without edge-chat.v1', async () => {
  const token = await devToken(server, 'bob');
  const viaQuery = await connectWith(wsUrl('tt-lobby', `?token=${token}`), []);
  assert.equal(viaQuery.protocol, '', 'no subprotocol offered, none selected');
  const viaQueryV1 = await connectWith(wsUrl('tt-lobby', `?token=${token}`), ['edge-chat.v1']);
  assert.equal(viaQueryV1.protocol, 'edge-chat.v1');
  const viaHeader = await connectWith(wsUrl('tt-lobby'), [], { Authorization: `Bearer ${token}` });
  assert.ok(viaHeader.client);
  for (const c of [viaQuery, viaQueryV1, viaHeader]) {
    assert.equal((await c.client.next((f) => f.type === 'welcome')).user_id, 'bob');
    c.client.terminate();
  }
});

test('the Bearer scheme matches case-insensitively, for user and admin tokens', async () => {
  const token = await devToken(server, 'carol');
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    const up = await tryConnect(wsUrl('tt-lobby'), { headers: { Authorization: `${scheme} ${token}` } });
    assert.ok(up.client, `${scheme}: upgrade refused ${up.status}`);
    up.client.terminate();
    const read = await fetch(`${server.url}/rooms/tt-lobby/messages`, { headers: { Authorization: `${scheme} ${token}` } });
    assert.equal(read.status, 200, `${scheme}: user history read`);
    const adminRead = await fetch(`${server.url}/rooms/tt-lobby`, { headers: { Authorization: `${scheme} ${ADMIN_TOKEN}` } });
    assert.equal(adminRead.status, 200, `${scheme}: admin API`);
  }
  // Anything but the exact admin token is refused, however close.
  for (const wrong of [ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`, ADMIN_TOKEN.toUpperCase(), `${ADMIN_TOKEN.slice(0, -1)}X`, '']) {
    const r = await fetch(`${server.url}/rooms/tt-lobby`, { headers: { Authorization: `Bearer ${wrong}` } });
    assert.equal(r.status, 401, `admin token ${JSON.stringify(wrong)}`);
    assert.equal((await r.json()).error.code, 'unauthorized');
  }
  // Another scheme is not a bearer token.
  const basic = await fetch(`${server.url}/rooms/tt-lobby`, { headers: { Authorization: `Basic ${ADMIN_TOKEN}` } });
  assert.equal(basic.status, 401);
});
