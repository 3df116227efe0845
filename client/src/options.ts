// The options of `connect` and `publish`.

import type { BackoffOptions } from './backoff.js';
import type { Events } from './events.js';
import type { FetchLike } from './history.js';
import type { Logger, LogStep } from './logger.js';
import type { WebSocketLike } from './socket.js';
import type { GetToken } from './token-source.js';
import type { TokenTransport } from './urls.js';

/** Every duration is in ms; one beyond what a platform timer holds (2^31-1 ms, about 24.8
 * days), `Infinity` included, means "never" (no timeout, no ping, no reset, no retry) instead
 * of firing at once. */
export interface ConnectOptions {
  /** The worker's base URL: `https://chat.example.com` or `ws://127.0.0.1:8787`. */
  url: string;
  room: string;
  /** A fixed token. */
  token?: string;
  /** Called with `{room, reason}` for the first token (`connect`), again whenever the current
   * one has expired (`expired`), after any connection attempt that failed before it was
   * welcomed (`refused`: which is how a refused token looks), on `reconnect()` (`reconnect`),
   * after a history read refused with 401 (`history`), and when the server says the
   * connection's token expires soon (`refresh`: the new token is sent on the open connection,
   * see `refreshAttempts`). It must then give a new token, not a cached one that expires as
   * soon. One request at a time; one not answered within `connectTimeoutMs` is abandoned (its
   * late answer ignored) and the next attempt asks again. A function of no arguments works too. */
  getToken?: GetToken;
  /** On `token_expiring`, how many times to try refreshing the token in place (`getToken`, then
   * an `auth` frame) before the token expires (default 3; 0: never — the server then closes
   * with 4001 at `exp` and the client reconnects with a new token). Needs `getToken`. */
  refreshAttempts?: number;
  /** Resume after this seq from the start (e.g. the newest message of a history page). */
  since?: number;
  /** Fill a resume's `replay_limit` gap (more was missed than one resume replays) from the
   * history API before delivering what follows it, so the application sees every message once,
   * in order (default true where `fetch` exists). `false`: the gap is a `gap` event with
   * `reason: 'replay_limit'` (those messages can be read with `history`). */
  fillGaps?: boolean;
  /** Failed history reads in a row before a fill gives up (default 5, with the `backoff`
   * delays between them; a read not answered within `connectTimeoutMs` counts as failed): what
   * it could not read is then a `gap` event with `reason: 'replay_limit'`, and delivery goes
   * on. Each failed read is a `fill_failed` event. */
  fillAttempts?: number;
  /** Take coalesced `batch` frames (default true): under load the server then sends each
   * turn's frames in one WebSocket message; the events the application sees are the same. */
  batch?: boolean;
  /** How the token reaches the server with the upgrade: `'protocol'` (default) offers it as the
   * WebSocket subprotocol `edge-chat.token.<jwt>` beside `edge-chat.v1`, so it is in no URL;
   * `'query'` sends it as `?token=` in the URL, for a WebSocket that cannot offer subprotocols
   * (the URL may then be logged by proxies and servers). */
  tokenTransport?: TokenTransport;
  backoff?: BackoffOptions;
  /** Most publishes kept while disconnected or unacknowledged (default 100). */
  queueLimit?: number;
  /** The largest publish frame, in UTF-8 bytes, until a welcome says otherwise (default
   * 65536, the server's default `MAX_MESSAGE_BYTES`). Larger publishes are refused with
   * `too_large` without being sent. */
  maxMessageBytes?: number;
  /** Default timeout of a publish, ms: it rejects with `timeout` if no ack came by then
   * (default: none, it waits; `Infinity` too). `publish(data, {timeoutMs})` overrides it. */
  publishTimeoutMs?: number;
  /** A connection attempt not welcomed within this time (including `getToken`) is dropped and
   * retried, ms (default 10000; 0 or `Infinity` disables). It also bounds every `getToken`
   * request (for a refresh or a history read too), the refusal check, and each history read of
   * a gap fill. */
  connectTimeoutMs?: number;
  /** Heartbeat: `ping` every `intervalMs` (default 20000); dead after `timeoutMs` of
   * silence (default 10000; `Infinity`: never). `intervalMs: 0` (or `Infinity`) disables it. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** `false`: the handle is created `idle` — no socket, no `getToken` call — until `open()` (or
   * `reconnect()`) (default true: it connects at once). Publishes made meanwhile are queued. */
  autoConnect?: boolean;
  /** After this many retries in a row (connections lost or attempts failed since the last
   * welcome) the handle gives up: state `failed`, `failed` event with code `max_retries`,
   * pending publishes rejected (default: unlimited). Retries waiting for the browser to be
   * online do not count. */
  maxRetries?: number;
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
  /** The `fetch` for history, member pages and probes (default the global one). */
  fetch?: FetchLike;
  /** Where `window`/`document` exist, act on `offline` (drop the connection; while
   * `navigator.onLine` is false no attempt is made: no retry, no `getToken` call, no refusal
   * counted), `online` and the page becoming visible (reconnect at once, or check the
   * connection with a ping) (default true). */
  browserEvents?: boolean;
  /** Called when an event handler throws (default: `reportError` where it exists — browsers,
   * Workers —, else `console.error`, e.g. in Node). The connection carries on either way. */
  onHandlerError?: (error: unknown, event: keyof Events) => void;
  /** Receives the client's notable steps — attempts, refusals, retries, opens, disconnects,
   * gap fills, token refreshes, closes — as `logger[level](message, {step, room, …})` with
   * `level` `debug`, `info`, `warn` or `error` (see {@link LogStep}). `console` fits; a missing
   * level is skipped. Tokens are never logged. Default: nothing is logged. */
  logger?: Logger;
  /** A WebSocket constructor, when the platform has no global one. */
  WebSocket?: WebSocketLike;
  /** Random source in [0, 1), for the jitter (tests pass a fixed one). */
  random?: () => number;
  /** `typing()` sends at most one frame this often, ms (default 2000: the server's
   * `TYPING_INTERVAL_MS`). */
  typingIntervalMs?: number;
  /** `markRead` sends at most one `read` frame this often, ms (default 500): a call when none
   * went out within the interval is sent at once, the ones within it are held and the highest
   * seq asked for goes out at its end. Each incoming frame costs the room about what a publish
   * does, and an application marking read on every message shown would otherwise send one per
   * WebSocket message. 0: every forward `markRead` is sent at once (as before 1.1). */
  readIntervalMs?: number;
  /** Shared with the other rooms of a {@link Session} (set by the session). */
  shared?: SharedParts;
}

/** What the rooms of one session share: one retry schedule (each room counting its own
 * retries on it) and one heartbeat timer (the token is shared through the session's
 * `getToken`). */
export interface SharedParts {
  backoff: import('./backoff.js').SharedBackoff;
  heartbeat: import('./heartbeat.js').HeartbeatSchedule;
}

export interface PublishOptions {
  /** `false`: the server leaves out this connection (default true). Its seq, learnt from the
   * ack, counts as seen: no resume brings the message back. */
  echo?: boolean;
  /** The idempotency id (default: generated). */
  id?: string;
  /** Reject with `timeout` if there is no ack after this many ms (default
   * `publishTimeoutMs`; 0 or `Infinity`: no timeout). */
  timeoutMs?: number;
  /** Reject with `aborted` when this signal aborts. */
  signal?: AbortSignal;
}

