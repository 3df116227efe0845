// How long a client waits for its `close` event after the SERVER closes a hibernatable socket
// (issue 24 item 5), in local workerd. Two parts, each a real workerd through Miniflare:
//  1. a minimal hibernating Durable Object (below, in JS) that closes a socket from each place a
//     server can: the socket's own webSocketMessage, another socket's webSocketMessage, an HTTP
//     request to the object (also inside blockConcurrencyWhile), and its alarm; and the closes
//     the CLIENT starts — on its own, or on a `closing` frame from an HTTP request or the alarm —
//     answered inside webSocketClose (what edge-chat does since issue 24 item 5); and server
//     closes of a socket that has sent a frame (a message, or a `ping` the runtime answers),
//     or that is only older: the first complete at once, even after an eviction;
//  2. the real built worker (build/, `make build` first): a Node `ws` client kicked through the
//     server API (POST /rooms/{room}/kick).
// For each: ms from the close being asked for to the client seeing the close frame (readyState
// CLOSING) and to its `close` event. Env: DATE (compatibility date, default 2026-04-01), FLAGS
// (comma-separated compatibility flags, e.g. web_socket_auto_reply_to_close), N (runs per case).
// Run from the repository root: `node bench/scripts/close_handshake.mjs`.
import { Miniflare } from 'miniflare';
import WebSocket from 'ws';
import { workerOptions } from '../../tests/support/server.mjs';
import { join } from '../../tests/support/client.mjs';
import { admin } from '../../tests/support/admin.mjs';

const DATE = process.env.DATE || '2026-04-01';
const FLAGS = (process.env.FLAGS || '').split(',').filter(Boolean);
const N = Number(process.env.N || 2);

const MINIMAL_ROOM = `
export default { fetch: (req, env) => env.ROOMS.get(env.ROOMS.idFromName('r')).fetch(req) };
export class Room {
  constructor(ctx) { this.ctx = ctx; ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong')); }
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === '/ws') {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    if (path === '/kick') for (const ws of this.ctx.getWebSockets()) ws.close(4003, 'kicked');
    if (path === '/kick-alarm') await this.ctx.storage.setAlarm(Date.now());
    // "Ask the client to close": a closing frame, no close(); the answer goes in webSocketClose.
    // The close held behind the input gate for 50 ms (does the pump's continuation then run after
    // the peer's Close came back?).
    if (path === '/kick-gated') await this.ctx.blockConcurrencyWhile(async () => {
      for (const ws of this.ctx.getWebSockets()) ws.close(4003, 'kicked');
      await new Promise((r) => setTimeout(r, 50));
    });
    if (path === '/ask') for (const ws of this.ctx.getWebSockets()) ws.send('closing');
    if (path === '/ask-alarm') { this.ask = true; await this.ctx.storage.setAlarm(Date.now()); }
    return new Response('ok');
  }
  alarm() { for (const ws of this.ctx.getWebSockets()) this.ask ? ws.send('closing') : ws.close(4001, 'expired'); }
  webSocketMessage(ws, m) {
    if (m === 'kick-me') ws.close(4003, 'kicked');
    if (m === 'kick-others') for (const o of this.ctx.getWebSockets()) if (o !== ws) o.close(4003, 'kicked');
  }
  webSocketClose(ws, code) { try { ws.close(code === 1005 ? 1000 : code); } catch {} }
}`;

/** Times one server close of `ws`, which `trigger()` asks for. */
async function timeClose(ws, trigger) {
  const t0 = performance.now();
  let closing;
  const poll = setInterval(() => { if (closing === undefined && ws.readyState === WebSocket.CLOSING) closing = performance.now() - t0; }, 1);
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  await trigger();
  const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
  clearInterval(poll);
  return { code, closing_ms: Math.round(closing ?? -1), close_ms: Math.round(performance.now() - t0) };
}

async function minimalRoom() {
  const mf = new Miniflare({ modules: true, script: MINIMAL_ROOM, compatibilityDate: DATE, compatibilityFlags: FLAGS,
    durableObjects: { ROOMS: { className: 'Room', useSQLite: true } }, host: '127.0.0.1', port: 0 });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const open = async () => { const ws = new WebSocket(url.replace('http', 'ws') + '/ws'); await new Promise((r) => ws.once('open', r)); return ws; };
  const cases = {
    'own webSocketMessage': (ws) => () => ws.send('kick-me'),
    'another socket\'s webSocketMessage': () => async () => (await open()).send('kick-others'),
    'HTTP request to the object': () => () => fetch(url + '/kick'),
    'alarm': () => () => fetch(url + '/kick-alarm'),
    'HTTP request, close() inside blockConcurrencyWhile (50 ms)': () => () => fetch(url + '/kick-gated'),
    'HTTP request, 1 s after the socket opened (nothing sent)': () => async () => { await new Promise((r) => setTimeout(r, 1000)); return fetch(url + '/kick'); },
    'HTTP request, 12 s after the socket opened (object evicted meanwhile)': () => async () => { await new Promise((r) => setTimeout(r, 12000)); return fetch(url + '/kick'); },
    'HTTP request, after a message and an eviction (12 s)': (ws) => async () => { ws.send('hello'); await new Promise((r) => setTimeout(r, 12000)); return fetch(url + '/kick'); },
    'HTTP request, after the client sent a message': (ws) => async () => { ws.send('hello'); await new Promise((r) => setTimeout(r, 50)); return fetch(url + '/kick'); },
    'HTTP request, after the client sent an auto-answered ping': (ws) => async () => { ws.send('ping'); await new Promise((r) => ws.once('message', r)); return fetch(url + '/kick'); },
    'client closes first (ws.close(1000))': (ws) => () => ws.close(1000),
    'client closes on a closing frame (HTTP request)': (ws) => () => { onClosing(ws); return fetch(url + '/ask'); },
    'client closes on a closing frame (alarm)': (ws) => () => { onClosing(ws); return fetch(url + '/ask-alarm'); },
  };
  const onClosing = (ws) => ws.on('message', (m) => { if (String(m) === 'closing') ws.close(4003, 'kicked'); });
  try {
    for (const [where, make] of Object.entries(cases)) {
      for (let i = 0; i < N; i++) {
        const ws = await open();
        console.log(JSON.stringify({ part: 'minimal room', close_from: where, ...(await timeClose(ws, make(ws))) }));
      }
    }
  } finally { await mf.dispose(); }
}

async function realWorker() {
  const o = { ...workerOptions(), compatibilityDate: DATE, compatibilityFlags: FLAGS };
  const mf = new Miniflare(o);
  const base = (await mf.ready).toString().replace(/\/$/, '');
  const server = { url: base, wsUrl: base.replace(/^http/, 'ws') };
  try {
    for (let i = 0; i < N; i++) {
      const room = `close-${i}`;
      const c = await join(server, room, 'victim');
      const r = await timeClose(c.ws, () => admin(server).post(`/rooms/${room}/kick`, { user_id: 'victim' }));
      console.log(JSON.stringify({ part: 'edge-chat', close_from: 'POST /rooms/{room}/kick', ...r }));
    }
  } finally { await mf.dispose(); }
}

console.log(JSON.stringify({ compatibility_date: DATE, compatibility_flags: FLAGS }));
await minimalRoom();
await realWorker();
