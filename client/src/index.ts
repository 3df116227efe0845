/**
 * @edge-chat/client — a client for edge-chat rooms (protocol: docs/protocol.md).
 *
 * - `connect({url, room, token | getToken})` returns a {@link Room}.
 * - Reconnects with jittered exponential backoff and resumes with `since=<last seq seen>`,
 *   so the application sees every message once, in order, with a `gap` event only when the
 *   server no longer retains what was missed.
 * - Publishes made while disconnected are queued (bounded) and sent with their ids after
 *   reconnect; unacknowledged ones are re-sent too. The server's idempotency (same user, same
 *   id → same seq) makes that safe.
 * - Sends the text frame `ping` as a heartbeat; a connection that stays silent past the
 *   timeout is considered dead and replaced.
 * - No runtime dependencies: browsers, Node ≥ 22 and Workers have a global `WebSocket`;
 *   on Node 20 pass one (e.g. from the `ws` package) as `WebSocket`.
 */

export type State = 'connecting' | 'open' | 'reconnecting' | 'closed';

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

/** Rejection of `publish`: the server's error frame, or a client-side refusal. */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly id?: string,
  ) {
    super(message);
    this.name = 'ChatError';
  }
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
}

export interface ConnectOptions {
  /** The worker's base URL: `https://chat.example.com` or `ws://127.0.0.1:8787`. */
  url: string;
  room: string;
  /** A fixed token. */
  token?: string;
  /** Called for the first token and again whenever the current one has expired (or a
   * connection attempt failed before it opened, which is how a refused token looks). */
  getToken?: () => string | Promise<string>;
  /** Resume after this seq from the start (e.g. the newest message of a history page). */
  since?: number;
  /** Take coalesced `batch` frames (default true): under load the server then sends each
   * turn's frames in one WebSocket message; the events the application sees are the same. */
  batch?: boolean;
  backoff?: BackoffOptions;
  /** Most publishes kept while disconnected or unacknowledged (default 100). */
  queueLimit?: number;
  /** Heartbeat: `ping` every `intervalMs` (default 20000); dead after `timeoutMs` of
   * silence (default 10000). `intervalMs: 0` disables it. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** A WebSocket constructor, when the platform has no global one. */
  WebSocket?: WebSocketLike;
  /** Random source in [0, 1), for the jitter (tests pass a fixed one). */
  random?: () => number;
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
export type WebSocketLike = new (url: string) => SocketLike;

const OPEN = 1;

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

  /** On welcome: a first connection without a resume point starts from the room's present. */
  welcome(seq: number): void {
    if (this.last === undefined) this.last = seq;
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

interface Pending {
  id: string;
  frame: string;
  resolve: (ack: Ack) => void;
  reject: (err: ChatError) => void;
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

  /** Adds a publish; refuses with `queue_full` when the bound is reached. */
  add(p: Pending): void {
    if (this.items.has(p.id)) {
      p.reject(new ChatError('duplicate_id', `a publish with id ${p.id} is already pending`, p.id));
      return;
    }
    if (this.items.size >= this.limit) {
      p.reject(new ChatError('queue_full', `more than ${this.limit} publishes are waiting`, p.id));
      return;
    }
    this.items.set(p.id, p);
  }

  /** Every pending frame, oldest first (to send after (re)connecting). */
  frames(): string[] {
    return [...this.items.values()].map((p) => p.frame);
  }

  ack(id: string | undefined, seq: number): boolean {
    const p = id === undefined ? undefined : this.items.get(id);
    if (!p) return false;
    this.items.delete(p.id);
    p.resolve({ id: p.id, seq });
    return true;
  }

  fail(id: string | undefined, err: ChatError): boolean {
    const p = id === undefined ? undefined : this.items.get(id);
    if (!p) return false;
    this.items.delete(p.id);
    p.reject(err);
    return true;
  }

  failAll(err: (id: string) => ChatError): void {
    for (const p of this.items.values()) p.reject(err(p.id));
    this.items.clear();
  }
}

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

let idCounter = 0;
function newId(random: () => number): string {
  idCounter = (idCounter + 1) % 1e9;
  return `c${Date.now().toString(36)}${Math.floor(random() * 1e9).toString(36)}${idCounter.toString(36)}`;
}

type Handler<T> = (value: T) => void;

/** A room handle. Create it with {@link connect}. */
export class Room {
  state: State = 'connecting';
  /** The room's users and their connection counts (join/leave keep the set exact). */
  members: Member[] = [];
  connectionId: string | undefined;
  userId: string | undefined;

  private ws: SocketLike | undefined;
  private readonly handlers = new Map<keyof Events, Set<Handler<never>>>();
  private readonly resume: ResumeTracker;
  private readonly queue: OutboundQueue;
  private token: string | undefined;
  private attempt = 0;
  private openedOnce = false;
  private userClosed = false;
  private welcomed = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly random: () => number;
  private readonly Socket: WebSocketLike;

  constructor(private readonly opts: ConnectOptions) {
    this.random = opts.random ?? Math.random;
    this.resume = new ResumeTracker(opts.since);
    this.queue = new OutboundQueue(opts.queueLimit ?? 100);
    this.token = opts.token;
    const Socket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (!Socket) throw new Error('no WebSocket available: pass one as `WebSocket`');
    this.Socket = Socket;
    if (!opts.token && !opts.getToken) throw new Error('pass `token` or `getToken`');
    void this.open();
  }

  /** The seq the next reconnect resumes after. */
  get lastSeq(): number | undefined {
    return this.resume.since;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => set!.delete(handler as Handler<never>);
  }

  /**
   * Publishes `data` to the room. Resolves with `{id, seq}` once the server has stored it;
   * rejects with a {@link ChatError} for an `error` frame (e.g. `too_large`, `rate_limited`),
   * `queue_full`, or `closed`. While disconnected the publish waits in the queue.
   */
  publish(data: unknown, options: { echo?: boolean; id?: string } = {}): Promise<Ack> {
    const id = options.id ?? newId(this.random);
    const frame = JSON.stringify({ type: 'publish', data, id, ...(options.echo === false ? { echo: false } : {}) });
    return new Promise<Ack>((resolve, reject) => {
      if (this.state === 'closed') {
        reject(new ChatError('closed', 'the room handle is closed', id));
        return;
      }
      const before = this.queue.size;
      this.queue.add({ id, frame, resolve, reject });
      if (this.queue.size > before && this.isOpen()) this.ws!.send(frame);
    });
  }

  /** Sends `data` to one connection or to every connection of a user. Refusals arrive as
   * `error` events carrying the returned id (`not_found`, `unavailable`). */
  direct(to: { userId: string } | { connectionId: string }, data: unknown): string | undefined {
    const id = newId(this.random);
    const target = 'userId' in to ? { user_id: to.userId } : { connection_id: to.connectionId };
    if (!this.isOpen()) return undefined;
    this.ws!.send(JSON.stringify({ type: 'direct', to: target, data, id }));
    return id;
  }

  /** Closes for good: no reconnect; pending publishes are rejected with `closed`. */
  close(): void {
    this.userClosed = true;
    this.clearTimers();
    clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, 'client closed');
    this.queue.failAll((id) => new ChatError('closed', 'the room handle was closed', id));
    this.setState('closed');
  }

  private isOpen(): boolean {
    return this.welcomed && this.ws !== undefined && this.ws.readyState === OPEN;
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const h of this.handlers.get(event) ?? []) {
      try {
        (h as Handler<Events[K]>)(value);
      } catch (e) {
        // An application handler's bug must not break the connection.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  private setState(s: State): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  private async freshToken(): Promise<string> {
    const exp = this.token ? tokenExpiry(this.token) : undefined;
    const expired = exp !== undefined && exp * 1000 <= Date.now() + 5000;
    if (this.opts.getToken && (!this.token || expired || (this.attempt > 0 && !this.openedOnce))) {
      this.token = await this.opts.getToken();
    }
    return this.token!;
  }

  private socketUrl(token: string): string {
    const base = this.opts.url.replace(/\/+$/, '').replace(/^http/, 'ws');
    const q = new URLSearchParams({ token });
    const since = this.resume.since;
    if (since !== undefined) q.set('since', String(since));
    if (this.opts.batch !== false) q.set('batch', '1');
    return `${base}/rooms/${encodeURIComponent(this.opts.room)}/ws?${q}`;
  }

  private async open(): Promise<void> {
    if (this.userClosed) return;
    let token: string;
    try {
      token = await this.freshToken();
    } catch {
      this.scheduleReconnect();
      return;
    }
    if (this.userClosed) return;
    this.welcomed = false;
    const ws = new this.Socket(this.socketUrl(token));
    this.ws = ws;
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onclose = () => this.onClose(ws);
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onopen = () => this.armHeartbeat(ws);
  }

  private onFrame(ws: SocketLike, raw: unknown): void {
    if (ws !== this.ws) return;
    this.alive(ws);
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
        if (ws !== this.ws) return; // a handler closed this socket
        this.handle(ws, inner);
      }
      return;
    }
    this.handle(ws, f);
  }

  private handle(ws: SocketLike, f: { type?: string; [k: string]: unknown }): void {
    switch (f.type) {
      case 'welcome': {
        const w = f as unknown as WelcomeFrame;
        this.welcomed = true;
        this.openedOnce = true;
        this.attempt = 0;
        this.connectionId = w.connection_id;
        this.userId = w.user_id;
        this.resume.welcome(w.seq);
        this.members = w.members.map((m) => ({ ...m }));
        this.setState('open');
        this.emit('welcome', w);
        this.emit('members', this.members);
        // Queued and unacknowledged publishes go out after the replay the server is sending.
        for (const frame of this.queue.frames()) ws.send(frame);
        break;
      }
      case 'message': {
        const m = f as unknown as MessageFrame;
        if (this.resume.accept(m.seq)) this.emit('message', m);
        break;
      }
      case 'ack':
        this.queue.ack(f.id as string | undefined, f.seq as number);
        break;
      case 'gap': {
        const g = f as unknown as GapFrame;
        this.resume.gap(g.to);
        this.emit('gap', g);
        break;
      }
      case 'presence': {
        const p = f as unknown as PresenceFrame;
        if (p.event === 'join') {
          if (!this.members.some((m) => m.user_id === p.user_id)) {
            this.members = [...this.members, { user_id: p.user_id, connections: 1 }].sort((a, b) => (a.user_id < b.user_id ? -1 : 1));
          }
        } else {
          this.members = this.members.filter((m) => m.user_id !== p.user_id);
        }
        this.emit('presence', p);
        this.emit('members', this.members);
        break;
      }
      case 'direct':
        this.emit('direct', f as unknown as DirectFrame);
        break;
      case 'error': {
        const e = f as unknown as ErrorFrame;
        this.queue.fail(e.id, new ChatError(e.code, e.message, e.id));
        this.emit('error', e);
        break;
      }
    }
  }

  private onClose(ws: SocketLike): void {
    if (ws !== this.ws) return;
    this.clearTimers();
    this.welcomed = false;
    if (this.userClosed) return;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.userClosed) return;
    this.setState(this.openedOnce ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.attempt++, this.opts.backoff, this.random);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.open(), delay);
  }

  private armHeartbeat(ws: SocketLike): void {
    const interval = this.opts.heartbeat?.intervalMs ?? 20000;
    if (interval <= 0) return;
    this.clearTimers();
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== OPEN) return;
      ws.send('ping');
      if (this.deadTimer === undefined) {
        this.deadTimer = setTimeout(() => {
          // Silent past the timeout: assume the path is dead, drop it and start over (its
          // eventual close event is ignored: it is no longer the current socket).
          this.ws = undefined;
          ws.close(4000, 'heartbeat timeout');
          this.clearTimers();
          this.welcomed = false;
          this.scheduleReconnect();
        }, this.opts.heartbeat?.timeoutMs ?? 10000);
      }
    }, interval);
  }

  private alive(ws: SocketLike): void {
    if (ws === this.ws && this.deadTimer !== undefined) {
      clearTimeout(this.deadTimer);
      this.deadTimer = undefined;
    }
  }

  private clearTimers(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.pingTimer = undefined;
    this.deadTimer = undefined;
  }
}

/** Opens a room: see {@link ConnectOptions}. */
export function connect(opts: ConnectOptions): Room {
  return new Room(opts);
}
