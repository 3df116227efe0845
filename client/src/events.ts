// What a room handle emits: the payloads of its own events, and the map of every event.

import type {
  DeleteFrame, DirectFrame, EditFrame, ErrorFrame, GapFrame, Member, MessageFrame, PresenceFrame, ReactFrame, ReadFrame, State, TypingFrame,
  WelcomeFrame,
} from './frames.js';

/** A connection ended: closed by the server or the network, or dropped by the client. */
export interface DisconnectEvent {
  /** The close code: the server's (e.g. 1008 "rate limit exceeded", 4001 `token_expired`,
   * 4003 `kicked`, 4004 `banned`, 4005 `revoked`, 4006 `room_deleted`), 1006 for a connection that failed or was
   * cut, or the client's own: 1000 for `close()`, 4000 when it dropped the connection (reason
   * `heartbeat timeout`, `connect timeout`, `offline` or `reconnect`). */
  code: number;
  reason: string;
  /** Whether the connection had been welcomed (false: the attempt failed). */
  wasOpen: boolean;
  /** The operator's message, when the server's `closing` frame carried one. */
  message?: string;
}

/** Why a reconnect was scheduled. */
export type RetryReason =
  | 'closed' // the connection closed (see the `disconnect` event before it)
  | 'connect_timeout' // no welcome within `connectTimeoutMs`
  | 'heartbeat_timeout' // silent past the heartbeat timeout
  | 'offline' // the browser went offline (a `statechange` reason: no retry is scheduled then, the next attempt waits for `online`)
  | 'token_error' // `getToken` threw or gave no token
  | 'refused' // the server refused the token or the room (see `maxRefusals`)
  | 'token_expired'; // the server closed with 4001: the token expired unrefreshed

/** Why the state changed (see {@link StateChangeEvent}). */
export type StateReason =
  | 'open' // `open()`, or the handle's creation: connecting
  | 'reconnect' // `reconnect()`: connecting or reconnecting
  | 'welcome' // the server welcomed the connection: open
  // The connection (or an attempt) was lost and a retry is due: connecting or reconnecting
  // (`offline`: the retry waits for the browser to be online). To failed: `refused`
  // (`maxRefusals` reached) or `token_expired` (a 4001 close, and no `getToken`).
  | RetryReason
  | 'max_retries' // failed: `maxRetries` retries in a row failed
  | 'close' // `close()`: closed
  | 'kicked' // closed by the server: 4003
  | 'banned' // 4004
  | 'revoked' // 4005
  | 'room_deleted'; // 4006

/** The state changed (the `statechange` event; the `state` event carries `state` alone). */
export interface StateChangeEvent {
  state: State;
  previous: State;
  reason: StateReason;
}

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
  /** `unauthorized`, `forbidden`, `bad_room` (the server's answer), `socket_error` (the
   * platform's WebSocket refused to open the URL), `token_expired` (the server closed with
   * 4001 and there is no `getToken` to get a new token from), or `max_retries` (`maxRetries`
   * retries in a row failed). */
  code: string;
  message: string;
  /** The HTTP status of the refusal, when the server gave one. */
  status?: number;
}

/** The handle stopped for good (state `closed`): the server removed the connection, or the
 * application called `close()`. */
export interface ClosedEvent {
  /** 4003 (`kicked`: may join again later), 4004 (`banned`: joining is refused while the ban
   * lasts), 4005 (`revoked`: only a token issued after the revocation is accepted), 4006
   * (`room_deleted`: the room and its history were deleted; joining again starts a new room
   * from seq 1), or 1000 for `close()`. */
  code: number;
  /** `kicked`, `banned`, `revoked`, `room_deleted`, or `client closed`. */
  reason: string;
  /** The operator's reason, when the server gave one. */
  message?: string;
  /** True when the server ended the connection, false for `close()`. */
  byServer: boolean;
}

/** The connection's token was replaced in place (`auth` → `auth_ok`), without reconnecting. */
export interface RefreshedEvent {
  /** The connection's new expiry, unix s. */
  exp: number;
}

/** An attempt to refresh the token in place failed; the connection carries on with its old
 * token until `exp`. */
export interface RefreshFailedEvent {
  /** The server's refusal (`unauthorized`, `forbidden`, …), `token_error` (`getToken` threw or
   * gave no token) or `stale_token` (`getToken` gave a token that expires no later than the
   * connection's: a cached one). */
  code: string;
  message: string;
  /** The attempt, 1-based. */
  attempt: number;
  /** Whether another attempt is scheduled (else the server closes with 4001 at `exp` and the
   * client reconnects with a new token). */
  retrying: boolean;
}

/** A history read of a gap fill failed, or did not answer within `connectTimeoutMs` (it was
 * abandoned): the messages after the gap are held until the fill is done. */
export interface FillFailedEvent {
  /** `timeout` (no answer in time), `network_error`, or the server's code (e.g. `unauthorized`,
   * `rate_limited`, `http_503`). */
  code: string;
  message: string;
  /** Failed reads in a row, 1-based. */
  attempt: number;
  /** Whether another read follows, after the `backoff` delay (else, `fillAttempts` reached, the
   * rest is a `gap` event with `reason: 'replay_limit'`, and the held messages follow). */
  retrying: boolean;
  /** The seqs still to read. */
  from: number;
  to: number;
}

/** Every event of a room handle and its value. `T`: the messages' data type (see `connect<T>`). */
export interface Events<T = unknown> {
  message: MessageFrame<T>;
  direct: DirectFrame;
  presence: PresenceFrame;
  gap: GapFrame;
  error: ErrorFrame;
  state: State;
  /** The state changed: the new one, the previous one, and why. */
  statechange: StateChangeEvent;
  members: Member[];
  /** The room's member count changed without a `presence` frame (a room past the server's
   * `ROOM_PRESENCE_MAX`: `member_count` frames, at most once a second): the new count. */
  member_count: number;
  welcome: WelcomeFrame;
  disconnect: DisconnectEvent;
  retry: RetryEvent;
  reset: ResetEvent;
  failed: FailedEvent;
  closed: ClosedEvent;
  refreshed: RefreshedEvent;
  refresh_failed: RefreshFailedEvent;
  /** Another user is typing (or stopped). */
  typing: TypingFrame;
  /** The users typing now changed (see `Room.typingUsers()`): the new list, frozen. */
  typing_users: string[];
  /** A read receipt: a user's cursor moved (this user's too, from any of their devices). */
  read: ReadFrame;
  edit: EditFrame<T>;
  delete: DeleteFrame;
  /** A reaction was added or removed (the `react` frame). */
  reaction: ReactFrame;
  /** This user's unread count in the room changed (see `Room.unread`). */
  unread: number;
  /** A history read of a `replay_limit` gap fill failed or hung (see `fillAttempts`). */
  fill_failed: FillFailedEvent;
}
