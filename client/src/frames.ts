// Wire types: the frames of docs/protocol.md as the client sees them, and the handle's state.

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
