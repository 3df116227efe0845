// What a room handle emits: the payloads of its own events, and the map of every event.

import type { DirectFrame, ErrorFrame, GapFrame, Member, MessageFrame, PresenceFrame, State, WelcomeFrame } from './frames.js';

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
