// What a room handle emits: the payloads of its own events, and the map of every event.

import type {
  DeleteFrame, DirectFrame, EditFrame, ErrorFrame, GapFrame, Member, MessageFrame, PresenceFrame, ReactFrame, ReadFrame, State, TypingFrame,
  WelcomeFrame,
} from './frames.js';

/** A connection ended: closed by the server or the network, or dropped by the client. */
export interface DisconnectEvent {
  /** The close code: the server's (e.g. 1008 "rate limit exceeded", 4001 `token_expired`,
   * 4003 `kicked`, 4004 `banned`, 4005 `revoked`), 1006 for a connection that failed or was
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
  | 'offline' // the browser went offline
  | 'token_error' // `getToken` threw or gave no token
  | 'refused' // the server refused the token or the room (see `maxRefusals`)
  | 'token_expired'; // the server closed with 4001: the token expired unrefreshed

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
   * platform's WebSocket refused to open the URL), or `token_expired` (the server closed with
   * 4001 and there is no `getToken` to get a new token from). */
  code: string;
  message: string;
  /** The HTTP status of the refusal, when the server gave one. */
  status?: number;
}

/** The handle stopped for good (state `closed`): the server removed the connection, or the
 * application called `close()`. */
export interface ClosedEvent {
  /** 4003 (`kicked`: may join again later), 4004 (`banned`: joining is refused while the ban
   * lasts), 4005 (`revoked`: only a token issued after the revocation is accepted), or 1000
   * for `close()`. */
  code: number;
  /** `kicked`, `banned`, `revoked`, or `client closed`. */
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

/** Every event of a room handle and its value. `T`: the messages' data type (see `connect<T>`). */
export interface Events<T = unknown> {
  message: MessageFrame<T>;
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
}
