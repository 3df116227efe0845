// A scripted fake WebSocket for the client's unit tests (no server, no network). Like a
// browser's, its `close()` only starts the closing handshake: the `close` event follows in a
// later task, so the client must not rely on it arriving synchronously.
import type { SocketLike } from '../src/index.js';

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  /** The code and reason the client closed it with, if it did. */
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    /** The subprotocols offered (the token travels in one by default). */
    readonly protocols?: string | string[],
  ) {
    FakeSocket.all.push(this);
  }
  /** The token the attempt carries: in its `edge-chat.token.` subprotocol, else `?token=`. */
  get token(): string | undefined {
    const offered = ([] as string[]).concat(this.protocols ?? []).find((p) => p.startsWith('edge-chat.token.'));
    return offered?.slice('edge-chat.token.'.length) ?? new URL(this.url).searchParams.get('token') ?? undefined;
  }
  send(data: string) {
    if (this.readyState !== 1) throw new Error(`send on a socket in state ${this.readyState}`);
    this.sent.push(data);
  }
  close(code?: number, reason?: string) {
    if (this.readyState >= 2) return;
    this.closedWith = { code, reason };
    this.readyState = 2; // CLOSING; the event comes later, as in a browser
    setImmediate(() => this.end(code ?? 1005, reason ?? ''));
  }
  // ---- test controls ----
  /** The server accepts the connection and sends `welcome`. */
  accept(welcome: object = {}) {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ type: 'welcome', room: 'r', connection_id: 'r.0', user_id: 'u', members: [], seq: 0, ...welcome });
  }
  push(frame: object | string) {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
  /** The connection ends now, from the server's or the network's side. */
  drop(code = 1006, reason = '') {
    if (this.readyState === 3) return;
    this.end(code, reason);
  }
  publishes(): { type: string; id: string; data: unknown }[] {
    return this.sent.filter((s) => s !== 'ping').map((s) => JSON.parse(s));
  }
  private end(code: number, reason: string) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** Lets pending promise callbacks and immediates run (real ones: the fake timers leave them). */
export async function tick(times = 3): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise((r) => setImmediate(r));
}

/** 'pending', or how the promise settled, without waiting for it. */
export async function settled<T>(p: Promise<T>): Promise<'pending' | { ok: T } | { err: unknown }> {
  const mark = Symbol('pending');
  const r = await Promise.race([p.then((ok) => ({ ok }), (err) => ({ err })), tick().then(() => mark)]);
  return r === mark ? 'pending' : (r as { ok: T } | { err: unknown });
}

export const msg = (seq: number) => ({ type: 'message', room: 'r', from: { user_id: 'x' }, data: seq, ts: 0, seq });

/** A fake `fetch` answering every request with `status` and `{"error":{code,message}}` (or
 * `body`); it records the requests. */
export function fakeFetch(status = 400, code = 'bad_request', body?: unknown) {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  const fetch = async (url: string, init: { headers: Record<string, string> }) => {
    calls.push({ url, headers: init.headers });
    return {
      ok: status >= 200 && status < 300,
      status,
      json: async () => body ?? { error: { code, message: `${code} (${status})` } },
    };
  };
  return Object.assign(fetch, { calls });
}
