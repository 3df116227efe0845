// The connection to a room, kept up: attempts, tokens, refusals, reconnects with backoff,
// timers, browser events, the server's own closes and the token refreshed in place. `Room`
// (room.ts) adds what the application sees on top.

import type { State } from './frames.js';
import type { ClosedEvent, Events, FailedEvent, RetryReason, StateReason } from './events.js';
import type { ConnectOptions } from './options.js';
import { Backoff } from './backoff.js';
import { isOffline, watchBrowser, watchesNetwork } from './browser.js';
import { Emitter } from './emitter.js';
import { ChatError, errorMessage } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import type { FetchLike } from './history.js';
import { Log } from './logger.js';
import { probeToken } from './probe.js';
import { OutboundQueue } from './queue.js';
import { TokenRefresh } from './refresh.js';
import { ResumeTracker } from './resume.js';
import { CLIENT_DROP, closeQuietly, FINAL_CLOSES, OPEN, TOKEN_EXPIRED, type SocketLike, type WebSocketLike } from './socket.js';
import { TokenSource, type TokenReason } from './token-source.js';
import { later } from './timers.js';
import { fitsProtocol, socketTarget, type SocketTarget } from './urls.js';

/** Why the server removed the connection, by close code: the state's reason. */
const REMOVED: Record<number, StateReason> = { 4003: 'kicked', 4004: 'banned', 4005: 'revoked', 4006: 'room_deleted' };

/** The connection's life cycle, for {@link Room}. Not exported from the package. */
export abstract class Connection {
  protected _state: State = 'connecting';
  protected _failure: FailedEvent | undefined;
  protected _closeInfo: ClosedEvent | undefined;

  protected readonly events: Emitter<Events>;
  protected readonly resume: ResumeTracker;
  protected readonly queue: OutboundQueue;
  protected readonly random: () => number;
  protected readonly fetchFn: FetchLike | undefined;
  /** The `logger` option's calls, for this room. */
  protected readonly log: Log;
  private readonly backoff: Backoff;
  private readonly Socket: WebSocketLike;

  /** The current socket (connecting or open) and the token it was opened with. */
  protected ws: SocketLike | undefined;
  private wsToken: string | undefined;
  /** The current socket got its welcome. */
  protected welcomed = false;
  /** Bumped by every new attempt, `reconnect()`, `close()` and failure: an async step (token,
   * probe) or timer from an older cycle sees the change and stops. */
  protected cycle = 0;
  /** The token and the requests to `getToken` for a new one. */
  private readonly tokens: TokenSource;
  private openedOnce = false;
  /** `close()` was called, or the server removed the connection: state `closed`, for good. */
  protected ended = false;
  protected refusals = 0;
  /** Retries since the last welcome (see `maxRetries`). */
  protected retries = 0;
  /** Offline: the next attempt waits for the browser's `online`. */
  private waitingOnline = false;
  /** Whether `online` will come to end such a wait (else attempts are never held back). */
  private readonly watchingNetwork: boolean;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly heartbeat: Heartbeat;
  private readonly refresh: TokenRefresh;
  private readonly unwatch: () => void;

  /** Sets everything up; the subclass makes the first `attempt()` once it is ready too (unless
   * `autoConnect` is false). */
  constructor(protected readonly opts: ConnectOptions) {
    if (opts.autoConnect === false) this._state = 'idle';
    this.random = opts.random ?? Math.random;
    this.events = new Emitter<Events>(opts.onHandlerError);
    this.log = new Log(opts.logger, opts.room);
    this.log.watch(this.events);
    this.resume = new ResumeTracker(opts.since);
    this.queue = new OutboundQueue(opts.queueLimit ?? 100);
    this.backoff = opts.shared?.backoff.member() ?? new Backoff(opts.backoff, this.random);
    const Socket = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (!Socket) throw new Error('no WebSocket available: pass one as `WebSocket`');
    this.Socket = Socket;
    if (!opts.token && !opts.getToken) throw new Error('pass `token` or `getToken`');
    // A request is bounded like the attempt that waits for it.
    this.tokens = new TokenSource(opts.room, opts.token, opts.getToken, opts.connectTimeoutMs ?? 10000);
    this.fetchFn = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
    this.heartbeat = new Heartbeat(
      opts.heartbeat,
      () => this.ws,
      () =>
        // Silent past the timeout: drop it and start over.
        this.lost(CLIENT_DROP, 'heartbeat timeout', 'heartbeat_timeout', CLIENT_DROP),
      opts.shared?.heartbeat,
    );
    this.refresh = new TokenRefresh({
      attempts: opts.getToken ? (opts.refreshAttempts ?? 3) : 0,
      backoff: opts.backoff,
      random: this.random,
      current: () => this.ws,
      newToken: () => {
        // Should this fail, the next connection needs a new token too: this one expires soon.
        this.discardToken('expired');
        return this.freshToken('refresh');
      },
      accepted: (token, exp) => {
        this.wsToken = token;
        this.events.emit('refreshed', { exp });
      },
      failed: (event, refused) => {
        // A token the server refused is not worth connecting with either.
        if (refused) this.discardToken('refused');
        this.events.emit('refresh_failed', event);
      },
    });
    this.unwatch =
      opts.browserEvents === false
        ? () => {}
        : watchBrowser({ offline: () => this.onOffline(), online: () => this.wake(), visible: () => this.wake() });
    this.watchingNetwork = opts.browserEvents !== false && watchesNetwork();
  }

  /** A text or binary frame arrived on `ws` (which may no longer be the current socket). */
  protected abstract onFrame(ws: SocketLike, raw: unknown): void;

  // ---- connection life cycle --------------------------------------------------------------------
  //
  //   attempt() ──token──▶ socket ──welcome──▶ open ──close/drop──▶ lost() ─▶ scheduleReconnect()
  //     │                    │                     │                  ▲          │ maxRetries: failed
  //     │ offline: waits     │                     └─ closing 4003-4006 ─▶ end(): closed
  //     │ for online         └── closed/timeout before welcome ───────┴─▶ attemptFailed(): fresh
  //     ▼                        token next time; probe → refusal → refused() → failed
  //   (idle: autoConnect false, until open())

  /** True while `cycle` is the current one and the handle is not closed. */
  protected live(cycle: number): boolean {
    return cycle === this.cycle && !this.ended;
  }

  protected isOpen(): boolean {
    return this.welcomed && this.ws !== undefined && this.ws.readyState === OPEN;
  }

  /** `state`, then `statechange` — unless a `state` handler changed the state meanwhile (its
   * own change is said instead). */
  protected setState(s: State, reason: StateReason): void {
    const previous = this._state;
    if (previous === s) return;
    this._state = s;
    this.events.emit('state', s);
    if (this._state === s) this.events.emit('statechange', { state: s, previous, reason });
  }

  /** Whether the browser is offline and will say when it is back: attempts wait for that. */
  private offline(): boolean {
    return this.watchingNetwork && isOffline();
  }

  /** `open()`, `reconnect()`: a new start, with the counts of refusals and retries at zero. */
  protected startOver(): void {
    this._failure = undefined;
    this.refusals = 0;
    this.retries = 0;
  }

  /** A new connection attempt (`reason`: why, should the state change) — or, while the
   * browser is offline, a wait for `online`. */
  protected attempt(reason: StateReason): void {
    if (this.ended) return;
    const cycle = ++this.cycle;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.waitingOnline = false;
    const offline = this.offline();
    this.setState(this.openedOnce ? 'reconnecting' : 'connecting', offline ? 'offline' : reason);
    if (!this.live(cycle)) return;
    if (offline) {
      this.waitingOnline = true;
      return;
    }
    const timeoutMs = this.opts.connectTimeoutMs ?? 10000;
    if (timeoutMs > 0) {
      clearTimeout(this.connectTimer);
      this.connectTimer = later(() => this.connectTimedOut(cycle), timeoutMs);
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
    const transport = this.opts.tokenTransport ?? 'protocol';
    if (transport === 'protocol' && !fitsProtocol(token)) {
      // A browser's WebSocket would throw a bare SyntaxError: say what is wrong instead.
      this.discardToken('refused');
      this.refused(cycle, { code: 'socket_error', message: "the token has characters a WebSocket subprotocol cannot carry (a JWT never does); tokenTransport 'query' sends it in the URL" });
      return;
    }
    let ws: SocketLike;
    const since = this.resume.since;
    this.log.write('debug', 'attempt', `connecting${since !== undefined ? ` after seq ${since}` : ''}`, { ...(since !== undefined ? { since } : {}), transport });
    try {
      const { url, protocols } = this.socketTarget(token);
      ws = protocols ? new this.Socket(url, protocols) : new this.Socket(url);
    } catch (e) {
      // e.g. a SyntaxError for a bad URL, a SecurityError for ws: from an https page.
      this.discardToken('refused');
      this.refused(cycle, { code: 'socket_error', message: `the WebSocket could not be opened: ${errorMessage(e)}` });
      return;
    }
    this.ws = ws;
    this.wsToken = token;
    this.welcomed = false;
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onclose = (ev) => {
      if (ws === this.ws) this.serverClosed(ev.code ?? 1006, ev.reason ?? '', undefined, undefined);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onopen = () => {
      if (ws === this.ws) this.heartbeat.arm(ws);
    };
  }

  /** The token for the next attempt (or a refresh, `forced: 'refresh'`, or a history read):
   * `getToken` is asked when there is none, when it expires within 5 s, after it was discarded,
   * and when `forced`. One request at a time, bounded by the connect timeout (token-source.ts). */
  protected freshToken(forced?: TokenReason): Promise<string> {
    return this.tokens.get(forced);
  }

  /** The current token is not to be used again (`reason`: why the next one is wanted). */
  protected discardToken(reason: TokenReason): void {
    this.tokens.discard(reason);
  }

  /** The URL (resume point, batch) and the subprotocols carrying the token (see `tokenTransport`). */
  private socketTarget(token: string): SocketTarget {
    return socketTarget(this.opts.url, this.opts.room, token, this.resume.since, this.opts.batch !== false, this.opts.tokenTransport);
  }

  /** Forgets the current socket (its later events are ignored) and the timers tied to it. */
  protected detach(): { socket: SocketLike; wasOpen: boolean; token: string | undefined } | undefined {
    const socket = this.ws;
    const wasOpen = this.welcomed;
    const token = this.wsToken;
    this.ws = undefined;
    this.wsToken = undefined;
    this.welcomed = false;
    this.clearConnectionTimers();
    this.refresh.stop();
    return socket ? { socket, wasOpen, token } : undefined;
  }

  /**
   * The current connection was closed by the server (its `closing` frame, or the close event),
   * or by the network: 4003/4004/4005/4006 end the handle; 4001 (the token expired) reconnects with
   * a new token; anything else reconnects. `closeWith`: the code to close this side with, when
   * it is not closed yet.
   */
  protected serverClosed(code: number, reason: string, message: string | undefined, closeWith: number | undefined): void {
    if (FINAL_CLOSES.includes(code)) {
      return this.end({ code, reason, ...(message !== undefined ? { message } : {}), byServer: true }, closeWith);
    }
    const expired = code === TOKEN_EXPIRED;
    if (expired) this.discardToken('expired');
    this.lost(code, reason, expired ? 'token_expired' : 'closed', closeWith, message);
  }

  /** The current connection ended: closed by the server or the network, or dropped here
   * (`closeWith` a code). Says so, then retries. */
  private lost(code: number, reason: string, why: RetryReason, closeWith: number | undefined, message?: string): void {
    const ws = this.detach();
    if (!ws) return;
    if (closeWith !== undefined) closeQuietly(ws.socket, closeWith, reason);
    const cycle = this.cycle;
    this.events.emit('disconnect', { code, reason, wasOpen: ws.wasOpen, ...(message !== undefined ? { message } : {}) });
    if (!this.live(cycle)) return;
    if (why === 'token_expired' && !this.opts.getToken) {
      return this.fail({ code: 'token_expired', message: 'the token expired, and there is no getToken to ask for a new one' }, 'token_expired');
    }
    if (ws.wasOpen) this.scheduleReconnect(cycle, why);
    else void this.attemptFailed(cycle, why, ws.token);
  }

  /** The handle stops for good: `close()`, or the server removed the connection. Pending
   * publishes are rejected with `closed`; `closed` is emitted last. */
  protected end(info: ClosedEvent, closeWith: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.cycle++;
    this.clearTimers();
    this.unwatch();
    const ws = this.detach();
    if (ws && closeWith !== undefined) closeQuietly(ws.socket, closeWith, info.reason);
    this._closeInfo = info;
    this.queue.failAll((id) => new ChatError('closed', this.closedMessage(), id));
    if (ws) {
      const { code, reason, message } = info;
      this.events.emit('disconnect', { code, reason, wasOpen: ws.wasOpen, ...(message !== undefined ? { message } : {}) });
    }
    this.setState('closed', info.byServer ? (REMOVED[info.code] ?? 'close') : 'close');
    this.events.emit('closed', info);
  }

  /** Why publishes are refused once the handle is closed. */
  protected closedMessage(): string {
    const info = this._closeInfo;
    if (!info?.byServer) return 'the room handle was closed';
    return `the server closed the connection: ${info.reason} (${info.code})${info.message ? `: ${info.message}` : ''}`;
  }

  private connectTimedOut(cycle: number): void {
    if (!this.live(cycle) || this.welcomed) return;
    if (this.ws) {
      this.lost(CLIENT_DROP, 'connect timeout', 'connect_timeout', CLIENT_DROP);
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
    // Offline, no attempt can work, whatever the token: the failure says nothing about it. An
    // attempt that never got a token (getToken threw or hung) did not try one either.
    if (token !== undefined && !isOffline()) this.discardToken('refused');
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
    const maxRefusals = this.opts.maxRefusals ?? 3;
    this.log.write('warn', 'refused', `refused (${this.refusals + 1} of ${maxRefusals}): ${refusal.code}: ${refusal.message}`, { ...refusal, refusals: this.refusals + 1, maxRefusals });
    if (++this.refusals >= maxRefusals) this.fail(refusal, 'refused');
    else this.scheduleReconnect(cycle, 'refused');
  }

  private fail(refusal: FailedEvent, reason: StateReason): void {
    this.cycle++;
    this.clearTimers();
    this.waitingOnline = false;
    this._failure = refusal;
    this.queue.failAll((id) => new ChatError('failed', refusal.message, id));
    const cycle = this.cycle;
    this.setState('failed', reason);
    if (cycle === this.cycle) this.events.emit('failed', refusal);
  }

  /** A retry after the backoff's delay; while offline, at `online` instead (no delay used up,
   * no retry counted); after `maxRetries` in a row, none: failed. */
  private scheduleReconnect(cycle: number, reason: RetryReason): void {
    const offline = this.offline();
    const max = this.opts.maxRetries ?? Infinity;
    if (!offline && this.retries + 1 > max) {
      if (this.live(cycle)) this.fail({ code: 'max_retries', message: `gave up after ${max} retries in a row (the last failure: ${reason})` }, 'max_retries');
      return;
    }
    this.setState(this.openedOnce ? 'reconnecting' : 'connecting', offline ? 'offline' : reason);
    if (!this.live(cycle)) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (offline) {
      this.waitingOnline = true;
      return;
    }
    this.retries++;
    const { attempt, delayMs } = this.backoff.next();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = later(() => {
      this.reconnectTimer = undefined;
      if (this.live(cycle)) this.attempt(reason);
    }, delayMs);
    this.events.emit('retry', { attempt, delayMs, reason });
  }

  // ---- browser events ---------------------------------------------------------------------------

  /** The browser says the network is gone: the connection is dead, whatever it looks like. */
  private onOffline(): void {
    if (this.ws) this.lost(CLIENT_DROP, 'offline', 'offline', CLIENT_DROP);
  }

  /** Back online, or the page is visible again (timers may have been throttled for long):
   * reconnect now if waiting, or check that the open connection still answers. */
  private wake(): void {
    if (this.ended || this._state === 'failed') return;
    if (this.ws) {
      if (this.welcomed) this.heartbeat.check(this.ws);
    } else if (this.reconnectTimer !== undefined || this.waitingOnline) {
      this.attempt('open');
    }
  }

  // ---- timers -------------------------------------------------------------------------------------

  private clearConnectionTimers(): void {
    this.heartbeat.stop();
    clearTimeout(this.connectTimer);
    clearTimeout(this.stableTimer);
    this.connectTimer = this.stableTimer = undefined;
  }

  protected clearTimers(): void {
    this.clearConnectionTimers();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  // ---- welcome and liveness, for the frames ---------------------------------------------------------

  /** The current socket got its welcome: refusals start over, and so do the delays once the
   * connection has proved stable. */
  protected welcomedNow(): void {
    this.welcomed = true;
    this.openedOnce = true;
    this.refusals = 0;
    this.retries = 0;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    // The delays start over only once this connection has proved stable.
    clearTimeout(this.stableTimer);
    this.stableTimer = later(() => this.backoff.reset(), this.opts.backoff?.resetAfterMs ?? 5000);
  }

  /** Something arrived on the current socket. */
  protected alive(): void {
    this.heartbeat.alive();
  }

  // ---- the token refreshed in place ----------------------------------------------------------------

  protected tokenExpiring(ws: SocketLike, exp: number): void {
    this.refresh.expiring(ws, exp);
  }

  /** True when `f` (an `auth_ok` or `error` frame) answers the refresh's `auth` frame. */
  protected refreshAnswer(ws: SocketLike, f: { type?: string; id?: unknown; exp?: unknown; code?: unknown; message?: unknown }): boolean {
    return this.refresh.answer(ws, f);
  }
}
