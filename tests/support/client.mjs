// A small test client over real WebSockets (the `ws` package), with helpers to wait for the
// frames a test expects and to prove that unexpected ones never arrived (see `framesBefore`).
import WebSocket from 'ws';

export const WAIT_MS = 5000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with `promise`, or fails after `ms` saying what was awaited: no wait unbounded. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `fn` (sync or async) until it returns something truthy, and resolves with that; fails
 * after `ms`. A bound, not a sleep: it returns as soon as the condition holds.
 */
export async function until(fn, { ms = WAIT_MS, every = 20, what = 'the condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await sleep(every);
  }
}

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

/** The socket URL of `room` for `token`, with extra query text (`&since=3`). */
export const socketUrl = (server, room, token, query = '') =>
  `${server.wsUrl}/rooms/${room}/ws?token=${encodeURIComponent(token)}${query}`;

/** Connects `user` to `room` and waits for `welcome`, which must be the connection's first frame. */
export async function join(server, room, user, { token, query = '' } = {}) {
  const t = token ?? (await devToken(server, user));
  const { client, status, body } = await tryConnect(socketUrl(server, room, t, query));
  if (!client) throw new Error(`join refused: ${status} ${JSON.stringify(body)}`);
  await client.welcomed();
  client.user = user;
  return client;
}

export class Client {
  constructor(ws) {
    this.ws = ws;
    /** Received frames not taken yet by `next`. */
    this.frames = [];
    /** Every frame received, in arrival order (never taken from). */
    this.log = [];
    /** The byte length of each received WebSocket message, in arrival order. */
    this.sizes = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let frame;
      try { frame = JSON.parse(text); } catch { frame = { raw: text, binary: isBinary }; }
      this.frames.push(frame);
      this.log.push(frame);
      this.sizes.push(Buffer.byteLength(text));
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

  /** Waits for `welcome` (unwrapped from a batch if need be) and checks it came first. */
  async welcomed() {
    const isWelcome = (f) => f.type === 'welcome' || (f.type === 'batch' && f.frames[0]?.type === 'welcome');
    const first = await this.next(isWelcome);
    if (this.log[0] !== first) {
      throw new Error(`welcome was not the first frame: ${JSON.stringify(this.log.slice(0, 3))}`);
    }
    if (first.type === 'batch') {
      // Give the batch's other frames back, in place of the batch.
      this.frames.unshift(...first.frames.slice(1));
      this.welcome = first.frames[0];
    } else {
      this.welcome = first;
    }
    this.connectionId = this.welcome.connection_id;
    return this.welcome;
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

  /** A position in the arrival log, for `framesBefore`. */
  mark() {
    return this.log.length;
  }

  /**
   * Waits for the first frame matching `marker` that arrived after `from` (a `mark()`), takes
   * it and the frames ahead of it, and resolves with every frame that arrived between `from`
   * and it, in arrival order — whether or not something else took them meanwhile. This is how a test proves that
   * something did *not* happen: make the server send a marker that must come after it, and
   * assert on what arrived ahead of the marker. No sleeping, no guessing how long to wait.
   */
  async framesBefore(marker, from, ms = WAIT_MS) {
    const m = await this.next((f) => marker(f) && this.log.indexOf(f, from) >= 0, ms);
    const ahead = this.log.slice(from, this.log.indexOf(m, from));
    // They have been looked at: take them, so that a later `next` does not find them again.
    this.frames = this.frames.filter((f) => !ahead.includes(f));
    return ahead;
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a publish (with a random id unless given) and returns its id. */
  async publish(data, extra = {}) {
    const id = extra.id ?? `m-${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'publish', data, id, ...extra });
    return id;
  }

  /** Closes with `code` and resolves with the close event, which must come within `ms`. */
  close(code = 1000, reason = '', ms = WAIT_MS) {
    this.ws.close(code, reason);
    return within(this.closed, ms, `${this.user ?? 'the client'}'s close, answered`);
  }

  /** Drops the TCP connection without a close frame, as a killed client would. */
  terminate() {
    this.ws.terminate();
    return within(this.closed, WAIT_MS, `${this.user ?? 'the client'}'s dropped connection`);
  }

  /** The close event of a connection the server is to close, within `ms`. */
  closedWithin(ms = WAIT_MS, what = `${this.user ?? 'the client'} closed by the server`) {
    return within(this.closed, ms, what);
  }
}

/** A WebSocket class (the `ws` package) whose sockets record the frames they receive
 * (batches unwrapped) and the protocol the server selected. */
export function recordingSockets() {
  const sockets = [];
  class Recorded extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { perMessageDeflate: false });
      this.received = [];
      this.on('message', (d, binary) => {
        if (binary || String(d) === 'pong') return;
        const f = JSON.parse(String(d));
        this.received.push(...(f.type === 'batch' ? f.frames : [f]));
      });
      sockets.push(this);
    }
  }
  return { Recorded, sockets };
}
