// Names display as themselves (issue 22): a user id (`sub`, or whatever AUTH_USER_CLAIM names)
// may not hold Unicode control or format characters (Cc, Cf) — U+202E makes `\u202Enimda`
// display as `admin`, a zero-width space makes a second `bob` — nor line or paragraph
// separators; and room names `.` and `..`, which URL parsers resolve as path steps (a room
// that could be created but never reached), are refused wherever a room name is read. A token
// carrying such a name gets 401 `unauthorized`, as any bad token; an HTTP path or a frame
// naming such a user gets a clear 400 / error frame.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, SECRET } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { join, tryConnect, socketUrl } from './support/client.mjs';
import { hmacSigned } from './support/jwks.mjs';
import { nowS } from './support/sessions.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const token = (claims) => hmacSigned({ alg: 'HS256', typ: 'JWT' }, { iat: nowS(), exp: nowS() + 600, ...claims }, SECRET);
const INVISIBLE = {
  'right-to-left override': '\u202Enimda',
  'zero-width space': 'bo\u200Bb',
  'zero-width joiner': 'bob\u200D',
  'byte-order mark': '\uFEFFbob',
  'left-to-right isolate': '\u2066x\u2069',
  'line separator': 'a\u2028b',
  'delete (Cc)': 'a\u007F',
};

test('a token whose sub holds an invisible character is refused with 401, on the socket and over HTTP', async () => {
  for (const [what, sub] of Object.entries(INVISIBLE)) {
    const t = token({ sub });
    const r = await tryConnect(socketUrl(server, 'names', t));
    assert.equal(r.status, 401, what);
    assert.equal(r.body.error.code, 'unauthorized', what);
    assert.match(r.body.error.message, /invisible/, what);
    const h = await admin(server, t).get('/rooms/names/messages');
    assert.equal(h.status, 401, `${what}: history`);
  }
  // The same ids without the invisible character are fine.
  const ok = await tryConnect(socketUrl(server, 'names', token({ sub: 'nimda' })));
  assert.ok(ok.client, 'a plain sub connects');
  ok.client.terminate();
  const dev = await fetch(`${server.url}/dev/token?user=${encodeURIComponent(INVISIBLE['zero-width space'])}`);
  assert.equal(dev.status, 400, 'the dev token endpoint refuses it too');
});

test('a rooms claim naming `.` or `..` refuses the token (401)', async () => {
  for (const room of ['.', '..']) {
    const t = token({ sub: 'dotty', rooms: ['lobby', room] });
    const r = await tryConnect(socketUrl(server, 'lobby', t));
    assert.equal(r.status, 401, room);
  }
});

test('the server API and directs refuse a user id with an invisible character', async () => {
  for (const [what, user] of Object.entries(INVISIBLE)) {
    const info = await admin(server).get(`/users/${encodeURIComponent(user)}`);
    assert.equal(info.status, 400, `${what}: GET /users`);
    const post = await admin(server).post(`/users/${encodeURIComponent(user)}/messages`, { data: 1 });
    assert.equal(post.status, 400, `${what}: POST /users/…/messages`);
  }
  const alice = await join(server, 'names-direct', 'alice');
  alice.send({ type: 'direct', to: { user_id: 'bo\u200Bb' }, data: 'hi', id: 'zw' });
  const e = await alice.next((f) => f.type === 'error' && f.id === 'zw');
  assert.equal(e.code, 'bad_frame');
  alice.terminate();
});
