// The client library (client/dist, as built by `make build`) fills a resume's `replay_limit` gap
// from the history API (issue 12), in Node against the real worker with REPLAY_MAX_MESSAGES=5:
// a client resuming from 0 delivers every message exactly once, in seq order — also when live
// messages arrive during the fill, a history page fails, the fill takes several pages, and the
// connection is cut mid-fill; and what retention trims meanwhile is a `gap` event in its place.
//
// Each socket the client opens records the frames it receives, so the tests also show that the
// server really sent a replay_limit gap (the client filled it, the server did not replay all).
// The client's `fetch` is wrapped to act at the moment a page is read (post live messages and
// wait until the socket has them, fail a page, cut the connection): markers, not sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect } from '../client/dist/index.js';
import { startServer } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { devToken, until, recordingSockets } from './support/client.mjs';

const REPLAY_MAX_MESSAGES = 5;
let server, api;
before(async () => {
  server = await startServer({ vars: { REPLAY_MAX_MESSAGES: String(REPLAY_MAX_MESSAGES) } });
  api = admin(server);
});
after(async () => { await server?.stop(); });

const range = (a, b) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);

/** Posts `n` server messages to `room`; resolves with the last seq. */
async function post(a, room, n, label = 'm') {
  let last;
  for (let i = 0; i < n; i++) {
    const r = await a.post(`/rooms/${room}/messages`, { data: `${label}${i}` });
    assert.equal(r.status, 200, r.text);
    last = r.body.seq;
  }
  return last;
}

/** Connects the client library to `room` from seq 0; records its messages and gaps. */
function resumeFromZero(room, { fetch, WebSocket: Socket, user = 'reader' }) {
  const r = connect({
    url: server.url,
    room,
    since: 0,
    getToken: () => devToken(server, user),
    WebSocket: Socket,
    fetch,
    backoff: { initialMs: 50, maxMs: 200 },
    heartbeat: { intervalMs: 0 },
  });
  const seqs = [];
  const order = [];
  r.on('message', (m) => { seqs.push(m.seq); order.push(m.seq); });
  r.on('gap', (g) => order.push(`gap ${g.from}-${g.to}${g.reason ? ` ${g.reason}` : ''}`));
  return { room: r, seqs, order };
}

const sawReplayLimit = (socket) => socket.received.find((f) => f.type === 'gap' && f.reason === 'replay_limit');

test('a client resuming from 0 gets every message exactly once, in order, although the server replays 5', { timeout: 60_000 }, async (t) => {
  const last = await post(api, 'fill-plain', 50);
  assert.equal(last, 50);
  const { Recorded, sockets } = recordingSockets();
  const c = resumeFromZero('fill-plain', { WebSocket: Recorded });
  t.after(() => c.room.close()); // also when an assertion fails: a reconnecting handle keeps the process alive
  await until(() => c.seqs.includes(50), { ms: 20_000, what: 'message 50 delivered' });
  // A live message after the fill.
  await post(api, 'fill-plain', 1, 'live');
  await until(() => c.seqs.includes(51), { what: 'the live message 51' });
  assert.deepEqual(c.order, range(1, 51), 'every message once, in order, and no gap event');
  assert.deepEqual(sawReplayLimit(sockets[0]), { type: 'gap', from: 1, to: 45, reason: 'replay_limit' });
  assert.deepEqual(sockets[0].received.filter((f) => f.type === 'message').map((f) => f.seq), range(46, 51), 'the socket itself replayed only 5');
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].protocol, 'edge-chat.v1', 'the token went as a subprotocol');
  assert.doesNotMatch(sockets[0].url, /token=/);
  c.room.close();
});

test('live messages during the fill, a failed page, several pages and a connection cut mid-fill: still each message once, in order', { timeout: 60_000 }, async (t) => {
  const room = 'fill-rough';
  await post(api, room, 50);
  const { Recorded, sockets } = recordingSockets();
  const reads = [];
  // The client asks for up to 200 a page; the wrapper asks the server for 10, so the fill
  // follows the server's `next` cursors over several pages.
  const fetchWrapper = async (url, init) => {
    const u = new URL(url);
    if (u.searchParams.has('since')) u.searchParams.set('limit', '10');
    reads.push(u.search);
    const n = reads.length;
    if (n === 1) {
      // During the fill: three live messages, held by the client until the fill is done.
      // Wait until the socket has them (the marker), then answer.
      const liveSeq = await post(api, room, 3, 'live');
      await until(() => sockets[0].received.some((f) => f.type === 'message' && f.seq === liveSeq), { what: 'the live messages reached the socket' });
    }
    if (n === 2) return { ok: false, status: 503, json: async () => ({ error: { code: 'internal', message: 'unavailable' } }) };
    if (n === 4) {
      // Cut the connection while this page is on its way: it is not delivered; the client
      // resumes after the last seq it delivered.
      sockets[0].terminate();
      await until(() => sockets[0].readyState === WebSocket.CLOSED, { what: 'the socket closed' });
    }
    return fetch(u, init);
  };
  const c = resumeFromZero(room, { WebSocket: Recorded, fetch: fetchWrapper });
  t.after(() => c.room.close());
  await until(() => c.seqs.includes(53), { ms: 30_000, what: 'message 53 delivered' });
  await post(api, room, 1, 'after');
  await until(() => c.seqs.includes(54), { what: 'the live message 54' });
  assert.deepEqual(c.order, range(1, 54), 'every message once, in order, and no gap event');

  assert.deepEqual(sawReplayLimit(sockets[0]), { type: 'gap', from: 1, to: 45, reason: 'replay_limit' });
  assert.equal(sockets.length, 2, 'one reconnect, after the cut');
  // Pages 1 (1..10) and 3 (after the failed 2: 11..20) were delivered before the cut.
  assert.equal(new URL(sockets[1].url).searchParams.get('since'), '20', 'resumed after the last seq delivered');
  assert.ok(sawReplayLimit(sockets[1]), 'the resume had its own replay_limit gap');
  assert.deepEqual(reads.slice(0, 4), ['?since=0&limit=10', '?since=10&limit=10', '?since=10&limit=10', '?since=20&limit=10']);
  c.room.close();
});

test('messages trimmed by retention before the fill reads them are a gap event, in their place', { timeout: 60_000 }, async (t) => {
  // A room keeps 40 messages (count trimming runs once the log is a tenth over).
  const s = await startServer({ vars: { REPLAY_MAX_MESSAGES: String(REPLAY_MAX_MESSAGES), HISTORY_MAX_MESSAGES: '40' } });
  try {
    const a = admin(s);
    const room = 'fill-trimmed';
    await post(a, room, 30);
    const { Recorded, sockets } = recordingSockets();
    let trimmed;
    const fetchWrapper = async (url, init) => {
      if (trimmed === undefined) {
        // Before the first page is read, 20 more messages trim the oldest 10.
        const liveSeq = await post(a, room, 20, 'live');
        await until(() => sockets[0].received.some((f) => f.type === 'message' && f.seq === liveSeq), { what: 'the live messages reached the socket' });
        trimmed = (await a.get(`/rooms/${room}/messages?since=0&limit=1`)).body.messages[0].seq - 1;
      }
      return fetch(url, init);
    };
    const c = connect({
      url: s.url, room, since: 0, getToken: () => devToken(s, 'reader'), WebSocket: Recorded, fetch: fetchWrapper,
      heartbeat: { intervalMs: 0 },
    });
    t.after(() => c.close());
    const order = [];
    c.on('message', (m) => order.push(m.seq));
    c.on('gap', (g) => order.push(`gap ${g.from}-${g.to}${g.reason ? ` ${g.reason}` : ''}`));
    await until(() => order.includes(50), { ms: 20_000, what: 'message 50 delivered' });
    assert.ok(trimmed > 0 && trimmed < 25, `retention trimmed 1..${trimmed} of the gap meanwhile`);
    assert.deepEqual(sawReplayLimit(sockets[0]), { type: 'gap', from: 1, to: 25, reason: 'replay_limit' });
    assert.deepEqual(order, [`gap 1-${trimmed}`, ...range(trimmed + 1, 50)]);
    c.close();
  } finally {
    await s.stop();
  }
});
