/**
 * @edge-chat/client — a client for edge-chat rooms (protocol: docs/protocol.md).
 *
 * - `connect({url, room, token | getToken})` returns a {@link Room}.
 * - Reconnects with jittered exponential backoff and resumes with `since=<last seq seen>`,
 *   so the application sees every message once, in order, with a `gap` event only when the
 *   server no longer retains what was missed (and a `reset` event when the room's count
 *   restarted).
 * - Publishes made while disconnected are queued (bounded) and sent with their ids after
 *   reconnect, oldest first; unacknowledged ones are re-sent too. The server's idempotency
 *   (same user, same id → same seq) makes that safe. Every publish settles: ack, error frame,
 *   a client-side refusal (`too_large`, `queue_full`), its timeout or abort, `closed`, `failed`.
 * - Sends the text frame `ping` as a heartbeat; a connection that stays silent past the
 *   timeout is considered dead and replaced. In browsers, `offline`/`online` and the page
 *   becoming visible are acted on at once.
 * - No runtime dependencies: browsers, Node ≥ 22 and Workers have a global `WebSocket`;
 *   on Node 20 pass one (e.g. from the `ws` package) as `WebSocket`.
 *
 * The file is one module (it is served as it is to the demo page); its sections are: wire
 * types, options and events, small parts (size, backoff, resume, outbound queue, emitter,
 * tokens, history over HTTP), then {@link Room}: the connection's life cycle, then frames.
 */

// ============================================================================================
// Wire types (docs/protocol.md)
// ============================================================================================

/**
 * `connecting` until the first welcome, `open` while welcomed, `reconnecting` after a
 * connection was lost, `failed` when the server keeps refusing (see {@link FailedEvent};
 * `reconnect()` tries again), `closed` after `close()` (for good).
 */
export type State = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';

export interface Sender {
  user_id?: string;
  connection_id?: string;
  server?: true;
}

export interface MessageFrame {
  type: 'message';
  room: string;
  from: Sender;
  data: unknown;
  id?: string;
  ts: number;
  seq: number;
}

export interface DirectFrame {
  type: 'direct';
  from: Sender;
  data: unknown;
}

export interface PresenceFrame {
  type: 'presence';
  event: 'join' | 'leave';
  user_id: string;
}

export interface GapFrame {
  type: 'gap';
  from: number;
  to: number;
}

export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  id?: string;
}

export interface WelcomeFrame {
  type: 'welcome';
  room: string;
  connection_id: string;
  user_id: string;
  members: Member[];
  seq: number;
  /** The largest text frame the server accepts, in bytes (servers that send it). */
  max_message_bytes?: number;
}

export interface Member {
  user_id: string;
  connections: number;
}

/** What `publish` resolves with: the message's place in the room's log. */
export interface Ack {
  id: string;
  seq: number;
}

/**
 * Rejection of `publish` (and of the history helpers): the server's error code, or a
 * client-side one — `too_large`, `queue_full`, `duplicate_id`, `timeout`, `aborted`, `closed`,
 * `failed`, `bad_data`, `network_error`.
 */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly id?: string,
    /** The HTTP status, for errors of HTTP requests (history). */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

// ============================================================================================
// Events and options
// ============================================================================================

/** A connection ended: closed by the server or the network, or dropped by the client. */
export interface DisconnectEvent {
  /** The close code: the server's (e.g. 1008 "rate limit exceeded"), 1006 for a connection
   * that failed or was cut, or the client's own: 1000 for `close()`, 4000 when it dropped the
   * connection (reason `heartbeat timeout`, `connect timeout`, `offline` or `reconnect`). */
  code: number;
  reason: string;
  /** Whether the connection had been welcomed (false: the attempt failed). */
  wasOpen: boolean;
}

/** Why a reconnect was scheduled. */
export type RetryReason =
  | 'closed' // the connection closed (see the `disconnect` event before it)
  | 'connect_timeout' // no welcome within `connectTimeoutMs`
  | 'heartbeat_timeout' // silent past the heartbeat timeout
  | 'offline' // the browser went offline
  | 'token_error' // `getToken` threw or gave no token
  | 'refused'; // the server refused the token or the room (see `maxRefusals`)

/** A reconnect is scheduled: attempt number (1 = first retry) and its delay. */
export interface RetryEvent {
  attempt: number;
  delayMs: number;
  reason: RetryReason;
}

/** The room's seq count restarted (a room with `HISTORY_STORAGE=none` that was evicted, or a
 * `since` beyond the room's latest seq): messages are delivered again from `seq`. */
export interface ResetEvent {
  /** The last seq seen before. */
  lastSeq: number;
  /** The welcome's seq, where delivery resumes. */
  seq: number;
}

/** Why the room handle stopped trying (state `failed`). */
export interface FailedEvent {
  /** `unauthorized`, `forbidden`, `bad_room` (the server's answer), or `socket_error` (the
   * platform's WebSocket refused to open the URL). */
  code: string;
  message: string;
  /** The HTTP status of the refusal, when the server gave one. */
  status?: number;
}

export interface Events {
  message: MessageFrame;
  direct: DirectFrame;
  presence: PresenceFrame;
  gap: GapFrame;
  error: ErrorFrame;
  state: State;
  members: Member[];
  welcome: WelcomeFrame;
  disconnect: DisconnectEvent;
  retry: RetryEvent;
  reset: ResetEvent;
  failed: FailedEvent;
}

export interface BackoffOptions {
  /** First delay, ms (default 500). */
  initialMs?: number;
  /** Cap, ms (default 15000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is randomised (0–1, default 0.5). */
  jitter?: number;
  /** The delays start over only once a connection has stayed open this long, ms (default
   * 5000): a server that welcomes and drops at once is not hammered. */
  resetAfterMs?: number;
}

/** The part of `fetch` the client uses (history, and the check of a refused token). */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; statusText?: string; json(): Promise<unknown> }>;

export interface ConnectOptions {
  /** The worker's base URL: `https://chat.example.com` or `ws://127.0.0.1:8787`. */
  url: string;
  room: string;
  /** A fixed token. */
  token?: string;
  /** Called for the first token, again whenever the current one has expired, after any
   * connection attempt that failed before it was welcomed (which is how a refused token
   * looks), and on `reconnect()`. */
  getToken?: () => string | Promise<string>;
  /** Resume after this seq from the start (e.g. the newest message of a history page). */
  since?: number;
  /** Take coalesced `batch` frames (default true): under load the server then sends each
   * turn's frames in one WebSocket message; the events the application sees are the same. */
  batch?: boolean;
  backoff?: BackoffOptions;
  /** Most publishes kept while disconnected or unacknowledged (default 100). */
  queueLimit?: number;
  /** The largest publish frame, in UTF-8 bytes, until a welcome says otherwise (default
   * 65536, the server's default `MAX_MESSAGE_BYTES`). Larger publishes are refused with
   * `too_large` without being sent. */
  maxMessageBytes?: number;
  /** Default timeout of a publish, ms: it rejects with `timeout` if no ack came by then
   * (default: none, it waits). `publish(data, {timeoutMs})` overrides it. */
  publishTimeoutMs?: number;
  /** A connection attempt not welcomed within this time (including `getToken`) is dropped and
   * retried, ms (default 10000; 0 disables). */
  connectTimeoutMs?: number;
  /** Heartbeat: `ping` every `intervalMs` (default 20000); dead after `timeoutMs` of
   * silence (default 10000). `intervalMs: 0` disables it. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** After this many refusals in a row the handle gives up: state `failed`, `failed` event,
   * pending publishes rejected (default 3). A refusal is the server's 401/403 (or `bad_room`)
   * for the token, learnt from `probe`, or a WebSocket constructor that throws. */
  maxRefusals?: number;
  /** WebSockets hide the HTTP status of a refused handshake. When an attempt is closed before
   * its welcome, the client therefore asks the front worker over HTTP whether it refuses the
   * token (`GET /rooms/{room}/messages?limit=0` with `Authorization: Bearer`: answered before
   * the room is touched). Default true where `fetch` exists. A cross-origin page needs the
   * server to allow that request; where it is blocked nothing is learnt and the client keeps
   * retrying. */
  probe?: boolean;
  /** The `fetch` to use (default the global one). */
  fetch?: FetchLike;
  /** Where `window`/`document` exist, act on `offline` (drop the connection), `online` and the
   * page becoming visible (reconnect at once, or check the connection with a ping)
   * (default true). */
  browserEvents?: boolean;
  /** Called when an event handler throws (default: `reportError`, else rethrown in a task).
   * The connection carries on either way. */
  onHandlerError?: (error: unknown, event: keyof Events) => void;
  /** A WebSocket constructor, when the platform has no global one. */
  WebSocket?: WebSocketLike;
  /** Random source in [0, 1), for the jitter (tests pass a fixed one). */
  random?: () => number;
}

export interface PublishOptions {
  /** `false`: the server leaves out this connection (default true). */
  echo?: boolean;
  /** The idempotency id (default: generated). */
  id?: string;
  /** Reject with `timeout` if there is no ack after this many ms (default
   * `publishTimeoutMs`). */
  timeoutMs?: number;
  /** Reject with `aborted` when this signal aborts. */
  signal?: AbortSignal;
}

/** The subset of the WebSocket API the client uses. */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketLike = new (url: string, protocols?: string | string[]) => SocketLike;

const OPEN = 1;
/** The close code the client uses when it drops a connection itself. */
const CLIENT_DROP = 4000;

// ============================================================================================
// Sizes
// ============================================================================================

/** The UTF-8 length of a string, in bytes (what the server's size limit counts). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one code point beyond the BMP
      i++;
    } else n += 3; // the rest of the BMP (a lone surrogate becomes U+FFFD, also 3 bytes)
  }
  return n;
}

// ============================================================================================
// Backoff
// ============================================================================================

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, jittered. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 15000;
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, attempt));
  // "Equal jitter": keep (1 - jitter) of the delay, randomise the rest, so clients that
  // dropped together do not come back together.
  return base * (1 - jitter) + base * jitter * random();
}

/** The attempt counter behind the delays: grows on every retry, reset by a stable connection. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {}

  /** Retries since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The next retry: its number (1-based) and delay. */
  next(): { attempt: number; delayMs: number } {
    const delayMs = backoffDelay(this.attempt, this.opts, this.random);
    return { attempt: ++this.attempt, delayMs };
  }

  reset(): void {
    this.attempt = 0;
  }
}

// ============================================================================================
// Resume
// ============================================================================================

/**
 * Resume bookkeeping: the last seq the application has seen, and the filter that keeps
 * replayed and live messages from being delivered twice.
 */
export class ResumeTracker {
  private last: number | undefined;

  constructor(since?: number) {
    this.last = since;
  }

  /** The `since` to reconnect with (undefined before anything was seen). */
  get since(): number | undefined {
    return this.last;
  }

  /**
   * On welcome: a first connection without a resume point starts from the room's present. A
   * welcome seq below the last seq seen means the room's count restarted: the resume point
   * moves back to it, and the old last seq is returned (otherwise undefined).
   */
  welcome(seq: number): number | undefined {
    if (this.last === undefined) {
      this.last = seq;
      return undefined;
    }
    if (seq < this.last) {
      const before = this.last;
      this.last = seq;
      return before;
    }
    return undefined;
  }

  /** True when the message is new (and records it); false for a duplicate or an old one. */
  accept(seq: number): boolean {
    if (this.last !== undefined && seq <= this.last) return false;
    this.last = seq;
    return true;
  }

  /** A gap moves the resume point past what can no longer be had. */
  gap(to: number): void {
    if (this.last === undefined || to > this.last) this.last = to;
  }
}

// ============================================================================================
// Outbound queue
// ============================================================================================

export interface Pending {
  id: string;
  frame: string;
  resolve: (ack: Ack) => void;
  reject: (err: ChatError) => void;
  /** The frame's UTF-8 length (computed when missing). */
  bytes?: number;
  /** The connection it was last sent on: it is sent again on a new one only. */
  sentOn?: object;
}

/**
 * Publishes not yet acknowledged, in order: queued while offline, re-sent after reconnect,
 * settled by `ack` or `error` frames carrying their id. Bounded.
 */
export class OutboundQueue {
  private items = new Map<string, Pending>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.items.size;
  }

  /** Adds a publish; refuses with `queue_full` when the bound is reached. True if added. */
  add(p: Pending): boolean {
    if (this.items.has(p.id)) {
      p.reject(new ChatError('duplicate_id', `a publish with id ${p.id} is already pending`, p.id));
      return false;
    }
    if (this.items.size >= this.limit) {
      p.reject(new ChatError('queue_full', `more than ${this.limit} publishes are waiting`, p.id));
      return false;
    }
    this.items.set(p.id, p);
    return true;
  }

  /** Every pending frame, oldest first. */
  frames(): string[] {
    return [...this.items.values()].map((p) => p.frame);
  }

  /**
   * Sends, oldest first, every pending frame not yet sent on `conn`; a frame over `maxBytes`
   * is rejected with `too_large` instead. Frames added while sending (none today: sending
   * runs no application code) would be sent in the same pass, after the older ones.
   */
  sendUnsent(conn: object, send: (frame: string) => void, maxBytes: number): void {
    for (const p of this.items.values()) {
      if (p.sentOn === conn) continue;
      const bytes = (p.bytes ??= utf8Length(p.frame));
      if (bytes > maxBytes) {
        this.settle(p)?.reject(tooLarge(bytes, maxBytes, p.id));
        continue;
      }
      p.sentOn = conn;
      send(p.frame);
    }
  }

  ack(id: string | undefined, seq: number): boolean {
    const p = this.settle(id === undefined ? undefined : this.items.get(id));
    p?.resolve({ id: p.id, seq });
    return p !== undefined;
  }

  fail(id: string | undefined, err: ChatError): boolean {
    const p = this.settle(id === undefined ? undefined : this.items.get(id));
    p?.reject(err);
    return p !== undefined;
  }

  /** Rejects this very entry, if it is still pending (not another one with its id). */
  failEntry(p: Pending, err: ChatError): boolean {
    if (this.items.get(p.id) !== p) return false;
    this.items.delete(p.id);
    p.reject(err);
    return true;
  }

  failAll(err: (id: string) => ChatError): void {
    const all = [...this.items.values()];
    this.items.clear();
    for (const p of all) p.reject(err(p.id));
  }

  private settle(p: Pending | undefined): Pending | undefined {
    if (p) this.items.delete(p.id);
    return p;
  }
}

function tooLarge(bytes: number, max: number, id?: string): ChatError {
  return new ChatError('too_large', `the frame is ${bytes} bytes; the limit is ${max}`, id);
}

// ============================================================================================
// Events
// ============================================================================================

type Handler<T> = (value: T) => void;

function defaultHandlerError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else
    setTimeout(() => {
      throw error;
    });
}

/** Typed handlers per event; a handler that throws does not stop the others. */
export class Emitter<E> {
  private readonly handlers = new Map<keyof E, Set<Handler<never>>>();

  constructor(private readonly onError: (error: unknown, event: keyof E) => void = defaultHandlerError) {}

  on<K extends keyof E>(event: K, handler: Handler<E[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => {
      set.delete(handler as Handler<never>);
    };
  }

  emit<K extends keyof E>(event: K, value: E[K]): void {
    const set = this.handlers.get(event);
    if (!set || set.size === 0) return;
    for (const h of [...set]) {
      try {
        (h as Handler<E[K]>)(value);
      } catch (e) {
        // An application handler's bug must not break the connection.
        this.onError(e, event);
      }
    }
  }
}

// ============================================================================================
// Tokens
// ============================================================================================

/** Seconds-since-epoch `exp` of a JWT, or undefined if it cannot be read. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = JSON.parse(json).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** True when the token's `exp` is within `marginMs` of now (or past). */
function expiresSoon(token: string, marginMs = 5000): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp * 1000 <= Date.now() + marginMs;
}

let idCounter = 0;
function newId(random: () => number): string {
  idCounter = (idCounter + 1) % 1e9;
  return `c${Date.now().toString(36)}${Math.floor(random() * 1e9).toString(36)}${idCounter.toString(36)}`;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ============================================================================================
// History over HTTP
// ============================================================================================

/** A page query: `before` (newest first, seq < before; neither: from the newest) or `since`
 * (oldest first, seq > since); `limit` 1–200 (server default 50). */
export interface HistoryQuery {
  before?: number;
  since?: number;
  limit?: number;
  signal?: AbortSignal;
}

/** A page of the room's log, in the server's order (newest first unless `since` was given);
 * `next` is the cursor for the following page (`null`: no more). */
export interface HistoryPage {
  messages: MessageFrame[];
  next: number | null;
}

export interface HistoryOptions extends HistoryQuery {
  /** The worker's base URL (http(s) or ws(s)). */
  url: string;
  room: string;
  token: string;
  fetch?: FetchLike;
}

function httpBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/^ws/, 'http');
}

function roomPath(room: string): string {
  return `/rooms/${encodeURIComponent(room)}`;
}

/**
 * Reads a page of a room's history (`GET /rooms/{room}/messages`). The token goes in the
 * `Authorization` header, never in the URL. Rejects with a {@link ChatError}: the server's
 * code and the HTTP `status`, or `network_error`.
 */
export async function fetchHistory(opts: HistoryOptions): Promise<HistoryPage> {
  const doFetch = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (!doFetch) throw new ChatError('network_error', 'no fetch available: pass one as `fetch`');
  const q = new URLSearchParams();
  if (opts.before !== undefined) q.set('before', String(opts.before));
  if (opts.since !== undefined) q.set('since', String(opts.since));
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const query = q.toString();
  const url = `${httpBase(opts.url)}${roomPath(opts.room)}/messages${query ? `?${query}` : ''}`;
  let res: Awaited<ReturnType<FetchLike>>;
  try {
    res = await doFetch(url, {
      headers: { authorization: `Bearer ${opts.token}` },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (e) {
    throw new ChatError(opts.signal?.aborted ? 'aborted' : 'network_error', errorMessage(e));
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new ChatError(
      typeof err?.code === 'string' ? err.code : `http_${res.status}`,
      typeof err?.message === 'string' ? err.message : `HTTP ${res.status} ${res.statusText ?? ''}`.trim(),
      undefined,
      res.status,
    );
  }
  const page = body as Partial<HistoryPage> | undefined;
  if (!page || !Array.isArray(page.messages)) throw new ChatError('bad_response', 'the history answer has no `messages`', undefined, res.status);
  return { messages: page.messages, next: typeof page.next === 'number' ? page.next : null };
}

/**
 * Asks the front worker whether it refuses this token for this room, without touching the
 * room: a history request with `limit=0`. The worker checks the room name, then the token,
 * then the query, so the answer is 400 `bad_room`, 401/403 (refused: returned), or 400
 * `bad_request` (the token is accepted; the invalid limit stops the request before the room).
 * Anything else — unreachable, blocked (CORS), a changed order of checks — teaches nothing:
 * undefined.
 */
async function probeToken(opts: HistoryOptions, timeoutMs: number): Promise<FailedEvent | undefined> {
  const abort = typeof AbortController === 'function' ? new AbortController() : undefined;
  const timer = abort && timeoutMs > 0 ? setTimeout(() => abort.abort(), timeoutMs) : undefined;
  try {
    await fetchHistory({ ...opts, limit: 0, ...(abort ? { signal: abort.signal } : {}) });
    return undefined;
  } catch (e) {
    if (e instanceof ChatError && (e.status === 401 || e.status === 403 || (e.status === 400 && e.code === 'bad_room'))) {
      return { code: e.code, message: e.message, status: e.status };
    }
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

// ============================================================================================
// Browser life cycle
// ============================================================================================

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** Listens to `offline`/`online` and `visibilitychange` where the globals exist; returns the
 * function that stops listening. */
function watchBrowser(on: { offline(): void; online(): void; visible(): void }): () => void {
  const g = globalThis as {
    addEventListener?: unknown;
    navigator?: { onLine?: unknown };
    document?: EventTargetLike & { visibilityState?: string };
  };
  const stops: (() => void)[] = [];
  const listen = (target: EventTargetLike, type: string, fn: () => void) => {
    try {
      target.addEventListener(type, fn);
      stops.push(() => target.removeEventListener(type, fn));
    } catch {
      /* a platform that has the method but not these events */
    }
  };
  if (typeof g.addEventListener === 'function' && typeof g.navigator?.onLine === 'boolean') {
    const target = g as unknown as EventTargetLike;
    listen(target, 'offline', () => on.offline());
    listen(target, 'online', () => on.online());
  }
  const doc = g.document;
  if (doc && typeof doc.addEventListener === 'function') {
    listen(doc, 'visibilitychange', () => {
      if (doc.visibilityState === 'visible') on.visible();
    });
  }
  return () => stops.splice(0).forEach((stop) => stop());
}

function isOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: unknown } }).navigator?.onLine === false;
}

// ============================================================================================
// Room
// ============================================================================================

function frozenMembers(list: Member[]): Member[] {
  return Object.freeze(list.map((m) => Object.freeze({ ...m }))) as Member[];
}

/** A room handle. Create it with {@link connect}. */
export class Room {
  private _state: State = 'connecting';
  private _members: Member[] = frozenMembers([]);
  private _connectionId: string | undefined;
  private _userId: string | undefined;
  private _failure: FailedEvent | undefined;

  private readonly events: Emitter<Events>;
  private readonly resume: ResumeTracker;
  private readonly queue: OutboundQueue;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly Socket: WebSocketLike;
  private readonly fetchFn: FetchLike | undefined;
  private maxBytes: number;

  /** The current socket (connecting or open) and the token it was opened with. */
  private ws: SocketLike | undefined;
  private wsToken: string | undefined;
  /** The current socket got its welcome. */
  private welcomed = false;
  /** Bumped by every new attempt, `reconnect()`, `close()` and failure: an async step (token,
   * probe) or timer from an older cycle sees the change and stops. */
  private cycle = 0;
  private token: string | undefined;
  private tokenRequest: Promise<string> | undefined;
  private needFreshToken = false;
  private openedOnce = false;
  private userClosed = false;
  private refusals = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly unwatch: () => void;

  constructor(private readonly opts: ConnectOptions) {
    this.random = opts.random ?? Math.random;
    this.events = new Emitter<Events>(opts.onHandlerError);
    this.resume = new ResumeTracker(opts.since);
    this.queue = new OutboundQueue(opts.queueLimit ?? 100);
    this.backoff = new Backoff(opts.backoff, this.random);
    this.maxBytes = opts.maxMessageBytes ?? 65536;
    this.token = opts.token;
    const Socket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (!Socket) throw new Error('no WebSocket available: pass one as `WebSocket`');
    this.Socket = Socket;
    if (!opts.token && !opts.getToken) throw new Error('pass `token` or `getToken`');
    this.fetchFn = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
    this.unwatch =
      opts.browserEvents === false
        ? () => {}
        : watchBrowser({ offline: () => this.onOffline(), online: () => this.wake(), visible: () => this.wake() });
    this.open();
  }

  // ---- public state ---------------------------------------------------------------------------

  get state(): State {
    return this._state;
  }

  /** The room's users and their connection counts (join/leave keep the set exact). A new
   * frozen array on every change. */
  get members(): Member[] {
    return this._members;
  }

  /** This connection's id, from the latest welcome. */
  get connectionId(): string | undefined {
    return this._connectionId;
  }

  /** The user id the server read from the token, from the latest welcome. */
  get userId(): string | undefined {
    return this._userId;
  }

  /** Why the handle is `failed` (undefined otherwise). */
  get failure(): FailedEvent | undefined {
    return this._failure;
  }

  /** The seq the next reconnect resumes after. */
  get lastSeq(): number | undefined {
    return this.resume.since;
  }

  /** The largest publish frame sent, in UTF-8 bytes (the option, then the welcome's). */
  get maxMessageBytes(): number {
    return this.maxBytes;
  }

  // ---- public methods -------------------------------------------------------------------------

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    return this.events.on(event, handler);
  }

  /**
   * Publishes `data` to the room. Resolves with `{id, seq}` once the server has stored it;
   * rejects with a {@link ChatError}: an `error` frame with its id (e.g. `rate_limited`),
   * `too_large` (checked here, before sending), `queue_full`, `duplicate_id`, `timeout`,
   * `aborted`, `closed` or `failed`. While disconnected the publish waits in the queue.
   * After `timeout` or `aborted` the client stops sending it, but a copy already sent may
   * still be stored: publishing again with the same id is safe.
   */
  publish(data: unknown, options: PublishOptions = {}): Promise<Ack> {
    const id = options.id ?? newId(this.random);
    return new Promise<Ack>((resolve, reject) => {
      if (this.userClosed) return reject(new ChatError('closed', 'the room handle is closed', id));
      if (this._state === 'failed') return reject(new ChatError('failed', this._failure?.message ?? 'the room handle failed', id));
      const signal = options.signal;
      if (signal?.aborted) return reject(new ChatError('aborted', `aborted: ${errorMessage(signal.reason)}`, id));
      let frame: string;
      try {
        frame = JSON.stringify({ type: 'publish', data, id, ...(options.echo === false ? { echo: false } : {}) });
      } catch (e) {
        return reject(new ChatError('bad_data', `the data cannot be sent as JSON: ${errorMessage(e)}`, id));
      }
      const bytes = utf8Length(frame);
      if (bytes > this.maxBytes) return reject(tooLarge(bytes, this.maxBytes, id));

      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => this.queue.failEntry(entry, new ChatError('aborted', `aborted: ${errorMessage(signal?.reason)}`, id));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const entry: Pending = {
        id,
        frame,
        bytes,
        resolve: (ack) => (done(), resolve(ack)),
        reject: (err) => (done(), reject(err)),
      };
      if (!this.queue.add(entry)) return;
      const timeoutMs = options.timeoutMs ?? this.opts.publishTimeoutMs;
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => this.queue.failEntry(entry, new ChatError('timeout', `no ack within ${timeoutMs} ms`, id)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.flush();
    });
  }

  /** Sends `data` to one connection or to every connection of a user. Refusals arrive as
   * `error` events carrying the returned id (`not_found`, `unavailable`, and `too_large`, which
   * the client reports itself without sending). Undefined when not connected. */
  direct(to: { userId: string } | { connectionId: string }, data: unknown): string | undefined {
    if (!this.isOpen()) return undefined;
    const id = newId(this.random);
    const target = 'userId' in to ? { user_id: to.userId } : { connection_id: to.connectionId };
    const frame = JSON.stringify({ type: 'direct', to: target, data, id });
    const bytes = utf8Length(frame);
    if (bytes > this.maxBytes) {
      const err = tooLarge(bytes, this.maxBytes, id);
      queueMicrotask(() => this.events.emit('error', { type: 'error', code: err.code, message: err.message, id }));
    } else {
      this.ws!.send(frame);
    }
    return id;
  }

  /**
   * Reads a page of the room's history over HTTP with the room's token (see
   * {@link fetchHistory}); on 401 it asks `getToken` once for a fresh token and tries again.
   * Messages read this way are not delivered as `message` events.
   */
  async history(query: HistoryQuery = {}): Promise<HistoryPage> {
    const read = async () => fetchHistory({ ...query, url: this.opts.url, room: this.opts.room, token: await this.freshToken(), fetch: this.fetchFn });
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof ChatError && e.status === 401 && this.opts.getToken)) throw e;
      this.needFreshToken = true;
      return read();
    }
  }

  /**
   * Drops the current connection (if any) and connects again now, asking `getToken` for a
   * fresh token. Also the way out of `failed`. Does nothing after `close()`.
   */
  reconnect(): void {
    if (this.userClosed) return;
    this.cycle++;
    this._failure = undefined;
    this.refusals = 0;
    if (this.opts.getToken) this.needFreshToken = true;
    this.clearTimers();
    const ws = this.detach();
    if (ws) {
      closeQuietly(ws.socket, CLIENT_DROP, 'reconnect');
      const cycle = this.cycle;
      this.events.emit('disconnect', { code: CLIENT_DROP, reason: 'reconnect', wasOpen: ws.wasOpen });
      if (!this.live(cycle)) return;
    }
    this.open();
  }

  /** Closes for good: no reconnect; pending publishes are rejected with `closed`. */
  close(): void {
    if (this.userClosed) return;
    this.userClosed = true;
    this.cycle++;
    this.clearTimers();
    this.unwatch();
    const ws = this.detach();
    if (ws) closeQuietly(ws.socket, 1000, 'client closed');
    this.queue.failAll((id) => new ChatError('closed', 'the room handle was closed', id));
    if (ws) this.events.emit('disconnect', { code: 1000, reason: 'client closed', wasOpen: ws.wasOpen });
    this.setState('closed');
  }

  // ---- connection life cycle --------------------------------------------------------------------
  //
  //   open() ──token──▶ socket ──welcome──▶ open ──close/drop──▶ lost() ─▶ scheduleReconnect()
  //                       │                                        ▲
  //                       └── closed/timeout before welcome ───────┴─▶ attemptFailed(): fresh
  //                           token next time; probe → refusal → refused() → failed

  /** True while `cycle` is the current one and the handle is not closed. */
  private live(cycle: number): boolean {
    return cycle === this.cycle && !this.userClosed;
  }

  private isOpen(): boolean {
    return this.welcomed && this.ws !== undefined && this.ws.readyState === OPEN;
  }

  private setState(s: State): void {
    if (this._state === s) return;
    this._state = s;
    this.events.emit('state', s);
  }

  /** A new connection attempt. */
  private open(): void {
    if (this.userClosed) return;
    const cycle = ++this.cycle;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.setState(this.openedOnce ? 'reconnecting' : 'connecting');
    if (!this.live(cycle)) return;
    const timeoutMs = this.opts.connectTimeoutMs ?? 10000;
    if (timeoutMs > 0) {
      clearTimeout(this.connectTimer);
      this.connectTimer = setTimeout(() => this.connectTimedOut(cycle), timeoutMs);
    }
    void this.openSocket(cycle);
  }

  private async openSocket(cycle: number): Promise<void> {
    let token: string;
    try {
      token = await this.freshToken();
    } catch {
      if (this.live(cycle)) void this.attemptFailed(cycle, 'token_error', undefined);
      return;
    }
    if (!this.live(cycle)) return;
    let ws: SocketLike;
    try {
      ws = new this.Socket(this.socketUrl(token));
    } catch (e) {
      // e.g. a SyntaxError for a bad URL, a SecurityError for ws: from an https page.
      this.needFreshToken = true;
      this.refused(cycle, { code: 'socket_error', message: `the WebSocket could not be opened: ${errorMessage(e)}` });
      return;
    }
    this.ws = ws;
    this.wsToken = token;
    this.welcomed = false;
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onclose = (ev) => {
      if (ws === this.ws) this.lost(ev.code ?? 1006, ev.reason ?? '', 'closed', false);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onopen = () => {
      if (ws === this.ws) this.armHeartbeat(ws);
    };
  }

  /** The token for the next attempt: `getToken` is asked when there is none, when it expires
   * within 5 s, and after a failed attempt. One request at a time. */
  private freshToken(): Promise<string> {
    const get = this.opts.getToken;
    if (!get || (this.token !== undefined && !this.needFreshToken && !expiresSoon(this.token))) {
      return Promise.resolve(this.token!);
    }
    this.tokenRequest ??= (async () => {
      try {
        const t = await get();
        if (typeof t !== 'string' || t === '') throw new Error('getToken gave no token');
        this.token = t;
        this.needFreshToken = false;
        return t;
      } finally {
        this.tokenRequest = undefined;
      }
    })();
    return this.tokenRequest;
  }

  private socketUrl(token: string): string {
    const base = this.opts.url.replace(/\/+$/, '').replace(/^http/, 'ws');
    const q = new URLSearchParams({ token });
    const since = this.resume.since;
    if (since !== undefined) q.set('since', String(since));
    if (this.opts.batch !== false) q.set('batch', '1');
    return `${base}${roomPath(this.opts.room)}/ws?${q}`;
  }

  /** Forgets the current socket (its later events are ignored) and the timers tied to it. */
  private detach(): { socket: SocketLike; wasOpen: boolean; token: string | undefined } | undefined {
    const socket = this.ws;
    const wasOpen = this.welcomed;
    const token = this.wsToken;
    this.ws = undefined;
    this.wsToken = undefined;
    this.welcomed = false;
    this.clearConnectionTimers();
    return socket ? { socket, wasOpen, token } : undefined;
  }

  /** The current connection ended: closed by the server or the network, or dropped here
   * (`closeIt`). Says so, then retries. */
  private lost(code: number, reason: string, why: RetryReason, closeIt: boolean): void {
    const ws = this.detach();
    if (!ws) return;
    if (closeIt) closeQuietly(ws.socket, code, reason);
    const cycle = this.cycle;
    this.events.emit('disconnect', { code, reason, wasOpen: ws.wasOpen });
    if (!this.live(cycle)) return;
    if (ws.wasOpen) this.scheduleReconnect(cycle, why);
    else void this.attemptFailed(cycle, why, ws.token);
  }

  private connectTimedOut(cycle: number): void {
    if (!this.live(cycle) || this.welcomed) return;
    if (this.ws) {
      this.lost(CLIENT_DROP, 'connect timeout', 'connect_timeout', true);
    } else {
      // Still waiting for getToken: that answer is no longer wanted.
      void this.attemptFailed(++this.cycle, 'connect_timeout', undefined);
    }
  }

  /**
   * An attempt ended before its welcome. A refused token looks like this (browsers hide the
   * HTTP status), so the next attempt asks for a fresh one, and the server is asked over HTTP
   * whether it refuses this one.
   */
  private async attemptFailed(cycle: number, why: RetryReason, token: string | undefined): Promise<void> {
    this.needFreshToken = true;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    // After a timeout the server is slow or unreachable: asking it more would not help.
    if (why === 'closed' && token !== undefined && this.opts.probe !== false && this.fetchFn && !isOffline()) {
      const refusal = await probeToken(
        { url: this.opts.url, room: this.opts.room, token, fetch: this.fetchFn },
        this.opts.connectTimeoutMs ?? 10000,
      );
      if (!this.live(cycle)) return;
      if (refusal) return this.refused(cycle, refusal);
    }
    this.scheduleReconnect(cycle, why);
  }

  /** The server (or the platform) refused: retry a few times, then give up. */
  private refused(cycle: number, refusal: FailedEvent): void {
    if (++this.refusals >= (this.opts.maxRefusals ?? 3)) this.fail(refusal);
    else this.scheduleReconnect(cycle, 'refused');
  }

  private fail(refusal: FailedEvent): void {
    this.cycle++;
    this.clearTimers();
    this._failure = refusal;
    this.queue.failAll((id) => new ChatError('failed', refusal.message, id));
    const cycle = this.cycle;
    this.setState('failed');
    if (cycle === this.cycle) this.events.emit('failed', refusal);
  }

  private scheduleReconnect(cycle: number, reason: RetryReason): void {
    this.setState(this.openedOnce ? 'reconnecting' : 'connecting');
    if (!this.live(cycle)) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const { attempt, delayMs } = this.backoff.next();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.live(cycle)) this.open();
    }, delayMs);
    this.events.emit('retry', { attempt, delayMs, reason });
  }

  // ---- browser events ---------------------------------------------------------------------------

  /** The browser says the network is gone: the connection is dead, whatever it looks like. */
  private onOffline(): void {
    if (this.ws) this.lost(CLIENT_DROP, 'offline', 'offline', true);
  }

  /** Back online, or the page is visible again (timers may have been throttled for long):
   * reconnect now if waiting, or check that the open connection still answers. */
  private wake(): void {
    if (this.userClosed || this._state === 'failed') return;
    if (this.ws) {
      if (this.welcomed) this.checkLink(this.ws);
    } else if (this.reconnectTimer !== undefined) {
      this.open();
    }
  }

  // ---- heartbeat ----------------------------------------------------------------------------------

  private armHeartbeat(ws: SocketLike): void {
    const interval = this.opts.heartbeat?.intervalMs ?? 20000;
    if (interval <= 0) return;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.checkLink(ws), interval);
  }

  /** Sends `ping`; if nothing at all arrives within the timeout, the connection is replaced. */
  private checkLink(ws: SocketLike): void {
    if ((this.opts.heartbeat?.intervalMs ?? 20000) <= 0 || ws !== this.ws || ws.readyState !== OPEN) return;
    ws.send('ping');
    if (this.deadTimer === undefined) {
      this.deadTimer = setTimeout(() => {
        this.deadTimer = undefined;
        // Silent past the timeout: assume the path is dead, drop it and start over (its
        // eventual close event is ignored: it is no longer the current socket).
        if (ws === this.ws) this.lost(CLIENT_DROP, 'heartbeat timeout', 'heartbeat_timeout', true);
      }, this.opts.heartbeat?.timeoutMs ?? 10000);
    }
  }

  private alive(): void {
    clearTimeout(this.deadTimer);
    this.deadTimer = undefined;
  }

  private clearConnectionTimers(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.stableTimer);
    this.pingTimer = this.deadTimer = this.connectTimer = this.stableTimer = undefined;
  }

  private clearTimers(): void {
    this.clearConnectionTimers();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  // ---- frames -------------------------------------------------------------------------------------

  /** Sends what is queued and not yet sent on this connection, oldest first. */
  private flush(): void {
    const ws = this.ws;
    if (!ws || !this.isOpen()) return;
    this.queue.sendUnsent(ws, (frame) => ws.send(frame), this.maxBytes);
  }

  private onFrame(ws: SocketLike, raw: unknown): void {
    if (ws !== this.ws) return;
    this.alive();
    if (typeof raw !== 'string' || raw === 'pong') return;
    let f: { type?: string; [k: string]: unknown };
    try {
      f = JSON.parse(raw);
    } catch {
      return;
    }
    // Under load the server coalesces a turn's frames into one `batch` (see docs/protocol.md).
    if (f.type === 'batch' && Array.isArray(f.frames)) {
      for (const inner of f.frames as { type?: string }[]) {
        if (ws !== this.ws) return; // a handler closed or replaced this connection
        this.handle(ws, inner);
      }
      return;
    }
    this.handle(ws, f);
  }

  /** One frame. After every event the handler may have closed or replaced the connection:
   * `ws !== this.ws` then stops what is left. */
  private handle(ws: SocketLike, f: { type?: string; [k: string]: unknown }): void {
    switch (f.type) {
      case 'welcome':
        return this.onWelcome(ws, f as unknown as WelcomeFrame);
      case 'message': {
        const m = f as unknown as MessageFrame;
        if (this.resume.accept(m.seq)) this.events.emit('message', m);
        return;
      }
      case 'ack':
        this.queue.ack(f.id as string | undefined, f.seq as number);
        return;
      case 'gap': {
        const g = f as unknown as GapFrame;
        this.resume.gap(g.to);
        this.events.emit('gap', g);
        return;
      }
      case 'presence': {
        const p = f as unknown as PresenceFrame;
        if (p.event === 'join') {
          if (!this._members.some((m) => m.user_id === p.user_id)) {
            this._members = frozenMembers(
              [...this._members, { user_id: p.user_id, connections: 1 }].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
            );
          }
        } else {
          this._members = frozenMembers(this._members.filter((m) => m.user_id !== p.user_id));
        }
        this.events.emit('presence', p);
        if (ws === this.ws) this.events.emit('members', this._members);
        return;
      }
      case 'direct':
        this.events.emit('direct', f as unknown as DirectFrame);
        return;
      case 'error': {
        const e = f as unknown as ErrorFrame;
        this.queue.fail(e.id, new ChatError(e.code, e.message, e.id));
        this.events.emit('error', e);
        return;
      }
    }
  }

  private onWelcome(ws: SocketLike, w: WelcomeFrame): void {
    this.welcomed = true;
    this.openedOnce = true;
    this.refusals = 0;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    // The delays start over only once this connection has proved stable.
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.opts.backoff?.resetAfterMs ?? 5000);
    this._connectionId = w.connection_id;
    this._userId = w.user_id;
    if (typeof w.max_message_bytes === 'number' && w.max_message_bytes > 0) this.maxBytes = w.max_message_bytes;
    const before = this.resume.welcome(w.seq);
    this._members = frozenMembers(Array.isArray(w.members) ? w.members : []);
    // Queued and unacknowledged publishes go out first (after the replay the server is
    // sending), so that whatever the handlers below publish comes after them.
    this.flush();
    const steps: (() => void)[] = [
      () => this.setState('open'),
      () => before !== undefined && this.events.emit('reset', { lastSeq: before, seq: w.seq }),
      () => this.events.emit('welcome', w),
      () => this.events.emit('members', this._members),
    ];
    for (const step of steps) {
      if (ws !== this.ws) return;
      step();
    }
  }
}

function closeQuietly(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    /* already closing, or a code the platform rejects: the socket is detached anyway */
  }
}

/** Opens a room: see {@link ConnectOptions}. */
export function connect(opts: ConnectOptions): Room {
  return new Room(opts);
}
