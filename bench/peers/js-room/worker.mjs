// The JS twin: a small, clean-room JavaScript Durable Object speaking the same protocol subset
// the load generator uses (welcome, presence, publish → message with seq + ack, ping/pong),
// doing the same work per message: hibernatable sockets with tags and attachments, and one
// SQLite insert before the broadcast when history is on (HISTORY_STORAGE != "none").
// It runs in the same local workerd as the Rust worker, so the difference between the two is
// what Rust/Wasm costs or saves.
import { DurableObject } from 'cloudflare:workers';

const enc = new TextEncoder();

// What the platform bills, counted as it happens (the same counters as the Rust worker's
// src/meter.rs, read by bench/scripts/billing.mjs at GET /dev/meter). Local workerd runs the
// worker and its objects in one isolate, so this module state sees them all.
// `sends`: WebSocket sends of broadcasts and acks (bench/scripts/big_room.mjs divides them by
// the messages: the Rust room counts its own in its metrics points).
const meter = { requests: 0, websocket_messages: 0, websocket_closes: 0, alarms: 0, wakes: 0, rows_written: 0, sends: 0 };
let keyPromise;

/** HS256 JWT check with WebCrypto: returns the `sub` or null. */
async function verify(token, secret) {
  const parts = (token ?? '').split('.');
  if (parts.length !== 3) return null;
  keyPromise ??= crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  try {
    const ok = await crypto.subtle.verify('HMAC', await keyPromise, b64(parts[2]), enc.encode(`${parts[0]}.${parts[1]}`));
    if (!ok) return null;
    const claims = JSON.parse(new TextDecoder().decode(b64(parts[1])));
    if (typeof claims.sub !== 'string' || !(claims.exp > Date.now() / 1000)) return null;
    return claims.sub;
  } catch {
    return null;
  }
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === '/dev/meter') return Response.json({ room: meter, registry: {}, stats: {} });
    const m = url.pathname.match(/^\/rooms\/([A-Za-z0-9._~-]{1,64})\/ws$/);
    if (!m) return Response.json({ error: { code: 'not_found', message: 'no such endpoint' } }, { status: 404 });
    if (req.headers.get('upgrade') !== 'websocket') return Response.json({ error: { code: 'upgrade_required', message: 'websocket only' } }, { status: 426 });
    const user = await verify(url.searchParams.get('token'), env.AUTH_SECRET);
    if (!user) return Response.json({ error: { code: 'unauthorized', message: 'bad token' } }, { status: 401 });
    const stub = env.ROOMS.get(env.ROOMS.idFromName(m[1]));
    return stub.fetch(`https://room/ws?${new URLSearchParams({ user, room: m[1] })}`, { headers: { upgrade: 'websocket' } });
  },
};

export class JsRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    meter.wakes++;
    this.history = env.HISTORY_STORAGE !== 'none';
    const sql = ctx.storage.sql;
    this.sql = {
      exec(...args) {
        const cursor = sql.exec(...args);
        meter.rows_written += cursor.rowsWritten;
        return cursor;
      },
    };
    if (this.history) {
      this.sql.exec('CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, ts INTEGER, user_id TEXT, client_id TEXT, frame TEXT)');
      this.sql.exec('CREATE UNIQUE INDEX IF NOT EXISTS log_client_id ON log(user_id, client_id)');
      this.seq = this.sql.exec('SELECT COALESCE(MAX(seq), 0) AS s FROM log').one().s;
    } else {
      this.seq = 0;
    }
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  members() {
    const counts = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (a) counts.set(a.user_id, (counts.get(a.user_id) ?? 0) + 1);
    }
    return counts;
  }

  broadcast(text, except) {
    for (const ws of this.ctx.getWebSockets()) {
      if (ws !== except) {
        try { ws.send(text); meter.sends++; } catch { /* closing */ }
      }
    }
  }

  async fetch(req) {
    meter.requests++;
    const url = new URL(req.url);
    const user = url.searchParams.get('user');
    const room = url.searchParams.get('room');
    const pair = new WebSocketPair();
    const server = pair[1];
    const id = `${room}.${crypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
    const first = !this.members().has(user);
    this.ctx.acceptWebSocket(server, [`c:${id}`, `u:${user}`]);
    server.serializeAttachment({ user_id: user, connection_id: id });
    if (first) this.broadcast(JSON.stringify({ type: 'presence', event: 'join', user_id: user }), server);
    const members = [...this.members()].sort().map(([user_id, connections]) => ({ user_id, connections }));
    server.send(JSON.stringify({ type: 'welcome', room, connection_id: id, user_id: user, members, seq: this.seq }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  webSocketMessage(ws, text) {
    meter.websocket_messages++;
    if (typeof text !== 'string') return;
    let f;
    try { f = JSON.parse(text); } catch { ws.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'invalid JSON' })); return; }
    if (f.type !== 'publish' || !('data' in f)) { ws.send(JSON.stringify({ type: 'error', code: 'bad_frame', message: 'publish only', id: f.id })); return; }
    const me = ws.deserializeAttachment();
    const seq = this.seq + 1;
    const frame = JSON.stringify({ type: 'message', room: me.connection_id.slice(0, -17), from: { user_id: me.user_id, connection_id: me.connection_id }, data: f.data, id: f.id, ts: Date.now(), seq });
    if (this.history) {
      const written = this.sql.exec('INSERT INTO log(seq, ts, user_id, client_id, frame) VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_id, client_id) DO NOTHING', seq, Date.now(), me.user_id, f.id ?? null, frame).rowsWritten;
      if (written === 0) {
        const original = this.sql.exec('SELECT seq FROM log WHERE user_id = ? AND client_id = ?', me.user_id, f.id).one().seq;
        ws.send(JSON.stringify({ type: 'ack', id: f.id, seq: original }));
        return;
      }
    }
    this.seq = seq;
    this.broadcast(frame, f.echo === false ? ws : undefined);
    ws.send(JSON.stringify({ type: 'ack', id: f.id, seq }));
    meter.sends++;
  }

  webSocketClose(ws, code) {
    meter.websocket_closes++;
    this.left(ws, code);
  }

  left(ws, code) {
    try { ws.close(code === 1005 || code === 1006 ? 1000 : code); } catch { /* already closed */ }
    const me = ws.deserializeAttachment();
    if (me && !this.ctx.getWebSockets(`u:${me.user_id}`).some((s) => s !== ws && s.readyState === 1)) {
      this.broadcast(JSON.stringify({ type: 'presence', event: 'leave', user_id: me.user_id }), ws);
    }
  }

  webSocketError(ws) {
    meter.websocket_closes++;
    this.left(ws, 1006);
  }
}
