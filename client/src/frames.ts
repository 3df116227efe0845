// Wire types: the frames of docs/protocol.md as the client sees them, and the handle's state.

/**
 * `idle` until `open()` (a handle created with `autoConnect: false`), `connecting` until the
 * first welcome, `open` while welcomed, `reconnecting` after a connection was lost, `failed`
 * when the client gave up — the server keeps refusing, or `maxRetries` (see
 * {@link FailedEvent}; `reconnect()` or `open()` tries again) —, `closed` after `close()` or
 * when the server removed the connection (4003 kicked, 4004 banned, 4005 revoked, 4006 room
 * deleted; see
 * {@link ClosedEvent}) — for good.
 */
export type State = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';

export interface Sender {
  user_id?: string;
  connection_id?: string;
  server?: true;
  /** The author was erased (`POST /users/{user}/erase`): their messages are `deleted`. */
  erased?: true;
}

/** A message. `T`: the type of its data, as the application publishes it (see
 * `connect<T>`); the client does not check it. */
export interface MessageFrame<T = unknown> {
  type: 'message';
  room: string;
  from: Sender;
  /** What was published; null for a message that was `deleted` (a replayed or history message
   * in its current state). */
  data: T | null;
  id?: string;
  ts: number;
  seq: number;
  /** Current state, in history and resume (live messages arrive as first sent; their events
   * follow): the data was replaced by an edit. */
  edited?: true;
  /** Deleted: `data` is null (deleted means gone). */
  deleted?: true;
  /** Reactions: emoji → the users who reacted, in the order they did. */
  reactions?: Record<string, string[]>;
  /** The seq of the latest event already applied to this state: skip events up to it. */
  updated?: number;
}

/** A user is typing (`stop`: stopped). Treat them as typing for 5 s after the last one. */
export interface TypingFrame {
  type: 'typing';
  user_id: string;
  stop?: true;
}

/** A user's read cursor in the room moved to `seq` (a read receipt; the user's own devices
 * get theirs too). */
export interface ReadFrame {
  type: 'read';
  user_id: string;
  seq: number;
}

/** Message `target` now has `data` (logged as `seq`). `T`: the messages' data type. */
export interface EditFrame<T = unknown> {
  type: 'edit';
  seq: number;
  target: number;
  from: Sender;
  /** The new data; null when the message was deleted since (a replayed or history event). */
  data: T | null;
  id?: string;
  ts: number;
}

/** Message `target` was deleted: its data is gone (logged as `seq`). */
export interface DeleteFrame {
  type: 'delete';
  seq: number;
  target: number;
  from: Sender;
  id?: string;
  ts: number;
}

/** A user's reaction `emoji` to message `target` was added (`on`) or removed. */
export interface ReactFrame {
  type: 'react';
  seq: number;
  target: number;
  emoji: string;
  on: boolean;
  from: Sender;
  id?: string;
  ts: number;
}

/** What the room's log holds, and so a history page and a resume: messages and the events on
 * them, each with its own seq. Tell them apart by `type`. */
export type LogFrame<T = unknown> = MessageFrame<T> | EditFrame<T> | DeleteFrame | ReactFrame;

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

/** How many users the room has. Sent instead of `presence` frames while the room has more
 * members than the server's `ROOM_PRESENCE_MAX` (default 1,000), at most once a second; the
 * member list (`members`) is then partial — page it with `Room.members()` if needed. */
export interface MemberCountFrame {
  type: 'member_count';
  count: number;
}

/** Messages `from..=to` that are not delivered: gone for good (trimmed by retention), or, with
 * `reason: 'replay_limit'`, left out of a resume's replay but still readable over HTTP (the
 * client reads them itself unless `fillGaps` is off or the reads failed). */
export interface GapFrame {
  type: 'gap';
  from: number;
  to: number;
  reason?: 'replay_limit';
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
  /** How many users the room has; `members` lists only the first ones when `truncated`. */
  member_count?: number;
  /** Set when `members` is the first page only: page the rest with `GET /rooms/{room}/members`. */
  truncated?: boolean;
  /** The connecting user's read cursor in the room (0: never read). */
  read_seq?: number;
  /** Messages after `read_seq` not sent by the connecting user. */
  unread?: number;
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

/** The connection's token expires at `exp` (unix s): sent once, `TOKEN_REFRESH_NOTICE_SECONDS`
 * before. The client answers with an `auth` frame carrying a new token. */
export interface TokenExpiringFrame {
  type: 'token_expiring';
  exp: number;
}

/** An `auth` frame was accepted: the connection now expires at `exp` (unix s). */
export interface AuthOkFrame {
  type: 'auth_ok';
  exp: number;
  id?: string;
}

/** The server is about to close the connection on purpose, with this close code and reason
 * (4001 `token_expired`, 4003 `kicked`, 4004 `banned`, 4005 `revoked`, 4006 `room_deleted`) and
 * the operator's
 * `message`, if one was given. */
export interface ClosingFrame {
  type: 'closing';
  code: number;
  reason: string;
  message?: string;
}
