// When the server ends a connection (kick 4003, ban 4004, revocation 4005, expiry 4001 from the
// room's alarm) the client's `close` event comes within 1 s, with the right code — for the
// TypeScript client over Node's `ws` and for the demo page (the same client) in headless
// Chromium — and an upgrade refused `503 room_full` ends the socket within 1 s as well.
// (Issue 24 item 5: local workerd released the TCP connection of a socket the server closed only
// when the room object was evicted, ~10–12 s later.) How: the server sends `closing` and leaves
// the close to the client, which closes with the same code; the room answers inside
// `webSocketClose`, which the runtime completes at once (src/room/closing.rs). Each latency is
// measured on the socket the client library really used (a recording `ws` class in Node, a
// wrapped `WebSocket` in the page), from the operator's call (from `exp` for an expiry). A raw
// `ws` client that ignores `closing` is not answered any more (a marker proves it) and gets the
// close frame from the server's fallback a few seconds later (CLIENT_CLOSE_GRACE_MS); its close
// event then comes at once if it ever sent a frame, else when workerd releases the connection
// (~10 s later): asserted with those bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect } from '../client/dist/index.js';
import { startServer } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { launchBrowser } from './support/browser.mjs';
import { join, until, within, recordingSockets } from './support/client.mjs';
import { nowS, token, expectClosing } from './support/sessions.mjs';
import { isPong, presenceOf } from './support/frames.mjs';

const WITHIN_MS = 1_000;
const GRACE_MS = 3_000; // CLIENT_CLOSE_GRACE_MS in src/room/closing.rs
const figures = [];

let server; // the ordinary server
let full; // MAX_ROOM_CONNECTIONS=1
let browser;

before(async () => {
  [server, full, browser] = await Promise.all([
    startServer(),
    startServer({ vars: { MAX_ROOM_CONNECTIONS: '1' } }),
    launchBrowser(),
  ]);
});
after(async () => {
  console.log(JSON.stringify({ close_event_ms: figures }));
  await Promise.all([server?.stop(), full?.stop(), browser?.close()]);
});

/** The ways the server ends a connection: the token to connect with, and what ends it, with the
 * time from which the close event is measured. */
const CASES = {
  kick: { code: 4003, reason: 'kicked', end: (s, room, user) => admin(s).post(`/rooms/${room}/kick`, { user_id: user }) },
  ban: { code: 4004, reason: 'banned', end: (s, room, user) => admin(s).post(`/rooms/${room}/kick`, { user_id: user, ban_seconds: 60 }) },
  revoke: { code: 4005, reason: 'revoked', end: (s, room, user) => admin(s).post(`/users/${user}/revoke`, {}) },
  expiry: { code: 4001, reason: 'token_expired', exp: 3 },
};

const tokenFor = (user, c) => token(user, { iat: nowS() - 5, ...(c.exp ? { exp: nowS() + c.exp } : {}) });

/** Ends the connection as `c` says; resolves with the time (ms) the end was asked for. */
async function end(c, room, user, tok) {
  if (c.exp) return JSON.parse(Buffer.from(tok.split('.')[1], 'base64url')).exp * 1000;
  const t0 = Date.now();
  const r = await c.end(server, room, user);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return t0;
}

function record(client, name, c, ms) {
  figures.push({ client, case: name, code: c, ms });
}

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: the TypeScript client over ws gets its close event ${c.code} within 1 s`, { timeout: 40_000 }, async (t) => {
    const room = `close-node-${name}`;
    const user = `node-${name}`;
    const tok = tokenFor(user, c);
    const { Recorded, sockets } = recordingSockets();
    const handle = connect({ url: server.url, room, token: tok, WebSocket: Recorded, heartbeat: { intervalMs: 0 } });
    t.after(() => handle.close());
    await handle.ready({ timeoutMs: 10_000 });
    const ws = sockets[0];
    const closed = new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason), at: Date.now() })));
    const t0 = await end(c, room, user, tok);
    const e = await within(closed, (c.exp ?? 0) * 1000 + 20_000, `the ${name} close`);
    record('node', name, e.code, e.at - t0);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: c.code, reason: c.reason });
    assert.ok(e.at - t0 <= WITHIN_MS, `close event ${e.at - t0} ms after the ${name}`);
    assert.equal(sockets.length, 1, 'one socket, not reconnected');
  });

  test(`${name}: the demo page in Chromium gets its close event ${c.code} within 1 s`, { timeout: 50_000 }, async (t) => {
    const room = `close-page-${name}`;
    const user = `page-${name}`;
    const tok = tokenFor(user, c);
    const page = await openPage(t, server, `/?name=${user}&room=${room}&autojoin=1&token=${encodeURIComponent(tok)}`);
    await page.waitForSelector('#state[data-state="open"]');
    const t0 = await end(c, room, user, tok);
    const [e] = await until(() => page.evaluate(() => window.__closes.length && window.__closes), { ms: (c.exp ?? 0) * 1000 + 20_000, what: `the page's ${name} close` });
    record('chromium', name, e.code, e.at - t0);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: c.code, reason: c.reason });
    assert.ok(e.at - t0 <= WITHIN_MS, `close event ${e.at - t0} ms after the ${name}`);
  });
}

/** A page whose WebSockets record their close events (code, reason, when) in `__closes`. */
async function openPage(t, s, path) {
  const page = await browser.newPage();
  t.after(() => page.close());
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.__closes = [];
    window.__opened = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__opened.push(Date.now());
        this.addEventListener('close', (e) => window.__closes.push({ code: e.code, reason: e.reason, at: Date.now() }));
      }
    };
  });
  await page.goto(`${s.url}${path}`);
  return page;
}

test('room_full: the refused upgrade ends the socket within 1 s (TypeScript client over ws, and the page)', { timeout: 30_000 }, async (t) => {
  const room = 'close-full';
  const occupant = await join(full, room, 'occupant');
  t.after(() => occupant.terminate());
  const sockets = [];
  class Timed extends WebSocket { // records its end from the moment it exists
    constructor(url, protocols) {
      super(url, protocols, { perMessageDeflate: false });
      const t0 = Date.now();
      this.ended = new Promise((r) => this.once('close', (code) => r({ code, ms: Date.now() - t0 })));
      sockets.push(this);
    }
  }
  const handle = connect({ url: full.url, room, token: token('node-full'), WebSocket: Timed, heartbeat: { intervalMs: 0 } });
  t.after(() => handle.close());
  await until(() => sockets.length > 0, { what: 'the client opened a socket' });
  const ended = await within(sockets[0].ended, 5_000, 'the refused socket ends');
  record('node', 'room_full', ended.code, ended.ms);
  assert.ok(ended.ms <= WITHIN_MS, `ended ${ended.ms} ms after it opened`);

  const page = await openPage(t, full, `/?name=page-full&room=${room}&autojoin=1`);
  const [e] = await until(() => page.evaluate(() => window.__closes.length && window.__closes), { ms: 5_000, what: 'the page\'s refused socket ends' });
  const opened = await page.evaluate(() => window.__opened[0]);
  record('chromium', 'room_full', e.code, e.at - opened);
  assert.ok(e.at - opened <= WITHIN_MS, `ended ${e.at - opened} ms after it opened`);
});

/** Times the close frame (ws: readyState CLOSING) and the close event of a raw client from t0. */
function timeClose(raw) {
  let frameAt;
  const poll = setInterval(() => { if (!frameAt && raw.ws.readyState === WebSocket.CLOSING) frameAt = Date.now(); }, 5);
  return async (t0, ms) => {
    try {
      const closed = await within(raw.closed, ms, 'the raw client\'s close event');
      const at = Date.now();
      return { closed, frame_ms: (frameAt ?? at) - t0, event_ms: at - t0 };
    } finally {
      clearInterval(poll);
    }
  };
}

test('a raw ws client that ignores closing: its frames are ignored; the server closes it after the grace, at once since it has sent frames', { timeout: 40_000 }, async () => {
  const room = 'close-raw';
  const watcher = await join(server, room, 'watcher');
  const raw = await join(server, room, 'raw');
  await watcher.next(presenceOf('join', 'raw'));
  const closeOf = timeClose(raw);
  const from = watcher.mark();
  const t0 = Date.now();
  assert.equal((await admin(server).post(`/rooms/${room}/kick`, { user_id: 'raw' })).status, 200);
  await expectClosing(raw, 4003, 'kicked');
  // It left the room at `closing`: what it sends now is ignored. The runtime's `pong` to its
  // `ping` comes after its publish was handled; the server's post is the watcher's marker.
  raw.send({ type: 'publish', data: 'after closing', id: 'late' });
  raw.ws.send('ping');
  await raw.next(isPong);
  assert.equal((await admin(server).post(`/rooms/${room}/messages`, { data: 'marker' })).status, 200);
  const ahead = await watcher.framesBefore((f) => f.type === 'message' && f.data === 'marker', from);
  assert.deepEqual(ahead, [{ type: 'presence', event: 'leave', user_id: 'raw' }], 'the leave, and nothing from the closing socket');
  assert.deepEqual(raw.frames, [], 'no ack, no error: the closing socket is not answered');
  // A socket that has sent a frame is released at once even when the server closes first
  // (bench/scripts/close_handshake.mjs): the fallback's close completes at once.
  const { closed, frame_ms, event_ms } = await closeOf(t0, GRACE_MS + 20_000);
  figures.push({ client: 'raw ws (ignores closing, sent frames)', case: 'kick', close_frame_ms: frame_ms, close_event_ms: event_ms });
  assert.deepEqual(closed, { code: 4003, reason: 'kicked' });
  assert.ok(frame_ms >= GRACE_MS - 100, `the fallback close came ${frame_ms} ms after the kick, not before the grace`);
  assert.ok(event_ms <= GRACE_MS + WITHIN_MS, `close event ${event_ms} ms after the kick`);
  watcher.terminate();
});

test('a raw ws client that ignores closing and never sent a frame: closed after the grace, its close event when workerd lets go', { timeout: 40_000 }, async () => {
  const room = 'close-raw-silent';
  const raw = await join(server, room, 'silent');
  const closeOf = timeClose(raw);
  const t0 = Date.now();
  assert.equal((await admin(server).post(`/rooms/${room}/kick`, { user_id: 'silent' })).status, 200);
  await expectClosing(raw, 4003, 'kicked');
  const { closed, frame_ms, event_ms } = await closeOf(t0, GRACE_MS + 20_000);
  figures.push({ client: 'raw ws (ignores closing, never sent)', case: 'kick', close_frame_ms: frame_ms, close_event_ms: event_ms });
  assert.deepEqual(closed, { code: 4003, reason: 'kicked' });
  assert.ok(frame_ms >= GRACE_MS - 100, `the fallback close frame came ${frame_ms} ms after the kick, not before the grace`);
  assert.ok(frame_ms <= GRACE_MS + 1_500, `the fallback close frame came ${frame_ms} ms after the kick`);
});

test('a raw ws client that answers closing with its close gets its close event at once', { timeout: 30_000 }, async () => {
  const room = 'close-raw-polite';
  const raw = await join(server, room, 'polite');
  const t0 = Date.now();
  assert.equal((await admin(server).post(`/rooms/${room}/kick`, { user_id: 'polite' })).status, 200);
  const f = await expectClosing(raw, 4003, 'kicked');
  raw.ws.close(f.code, f.reason);
  const closed = await within(raw.closed, 5_000, 'the close event');
  figures.push({ client: 'raw ws (answers closing)', case: 'kick', close_event_ms: Date.now() - t0 });
  assert.deepEqual(closed, { code: 4003, reason: 'kicked' }, 'the server echoes the code');
  assert.ok(Date.now() - t0 <= WITHIN_MS, `close event ${Date.now() - t0} ms after the kick`);
});
