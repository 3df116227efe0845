// A small test client over real WebSockets (the `ws` package), with helpers to wait for the
// frames a test expects and to prove that unexpected ones never arrive.
import WebSocket from 'ws';

export const WAIT_MS = 5000;

/** GET /dev/token for `user` (DEV_MODE servers only). */
export async function devToken(server, user, { rooms, ttl } = {}) {
  const q = new URLSearchParams({ user });
  if (rooms) q.set('rooms', rooms.join(','));
  if (ttl) q.set('ttl', String(ttl));
  const res = await fetch(`${server.url}/dev/token?${q}`);
  if (res.status !== 200) throw new Error(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/**
 * Opens a WebSocket and resolves with either `{ client }` (upgraded) or `{ status, body }`
 * (the HTTP refusal, body parsed as JSON when possible).
 */
export function tryConnect(url, { headers = {}, perMessageDeflate = false } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate });
    const client = new Client(ws);
    ws.once('open', () => resolve({ client }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* keep text */ }
        resolve({ status: res.statusCode, body, headers: res.headers });
      });
    });
    ws.once('error', (e) => reject(e));
  });
}

/** Connects `user` to `room` and waits for `welcome`. */
export async function join(server, room, user, { token, query = '' } = {}) {
  const t = token ?? (await devToken(server, user));
  const { client, status, body } = await tryConnect(
    `${server.wsUrl}/rooms/${room}/ws?token=${encodeURIComponent(t)}${query}`,
  );
  if (!client) throw new Error(`join refused: ${status} ${JSON.stringify(body)}`);
  client.welcome = await client.next((f) => f.type === 'welcome');
  client.connectionId = client.welcome.connection_id;
  client.user = user;
  return client;
}

export class Client {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let frame;
      try { frame = JSON.parse(text); } catch { frame = { raw: text, binary: isBinary }; }
      this.frames.push(frame);
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.waiters]) {
      const i = this.frames.findIndex(w.pred);
      if (i >= 0) {
        const [f] = this.frames.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(f);
      }
    }
  }

  /** The first received (and not yet taken) frame matching `pred`; fails after `ms`. */
  next(pred = () => true, ms = WAIT_MS) {
    const i = this.frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no matching frame within ${ms} ms; have ${JSON.stringify(this.frames).slice(0, 500)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Resolves with the matching frames received within `ms` (taking them). */
  async collect(pred, ms) {
    await sleep(ms);
    const out = this.frames.filter(pred);
    this.frames = this.frames.filter((f) => !pred(f));
    return out;
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Publishes and waits for our own echo (so the server has processed it). */
  async publish(data, extra = {}) {
    const id = extra.id ?? `m-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'publish', data, id, ...extra });
    return id;
  }

  close(code = 1000, reason = '') {
    this.ws.close(code, reason);
    return this.closed;
  }

  /** Drops the TCP connection without a close frame, as a killed client would. */
  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
