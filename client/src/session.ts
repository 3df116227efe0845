// A user's session: one socket per room (a connection belongs to exactly one room), sharing
// what should not be repeated per room — one token request, one backoff schedule, one
// heartbeat timer. The seed's `join_room` / `leave_room` for this protocol's shape.

import { SharedBackoff } from './backoff.js';
import { Emitter, type Handler } from './emitter.js';
import { HeartbeatSchedule } from './heartbeat.js';
import type { ConnectOptions } from './options.js';
import { Room } from './room.js';
import { SharedToken } from './shared-token.js';

/** `connect`'s options without the room. Its `getToken` serves every room, told which one asks
 * (`{room, reason}`); one token is shared where its `rooms` claim allows. */
export type SessionOptions = Omit<ConnectOptions, 'room' | 'shared'>;

/** What a session tells its subscribers (see {@link Session.on}). */
export interface SessionEvents {
  /** The rooms joined changed (a room joined, left, or closed by the server): the rooms now. */
  rooms: ReadonlyMap<string, Room>;
}

export class Session {
  private readonly joined = new Map<string, Room>();
  private readonly events: Emitter<SessionEvents>;
  private readonly backoff: SharedBackoff;
  private readonly heartbeat: HeartbeatSchedule;
  /** The session's `getToken`, shared by its rooms (shared-token.ts). */
  private readonly tokens: SharedToken | undefined;

  constructor(private readonly opts: SessionOptions) {
    if (!opts.token && !opts.getToken) throw new Error('pass `token` or `getToken`');
    this.backoff = new SharedBackoff(opts.backoff, opts.random ?? Math.random);
    this.heartbeat = new HeartbeatSchedule(opts.heartbeat?.intervalMs ?? 20000);
    this.tokens = opts.getToken ? new SharedToken(opts.getToken) : undefined;
    const onError = opts.onHandlerError as ((e: unknown, event: keyof SessionEvents) => void) | undefined;
    this.events = new Emitter<SessionEvents>(onError);
  }

  /** The rooms joined, by name. */
  get rooms(): ReadonlyMap<string, Room> {
    return this.joined;
  }

  /** Subscribes to the session's events (`rooms`: a room joined, left or closed); returns the
   * unsubscribe function. */
  on<K extends keyof SessionEvents>(event: K, handler: Handler<SessionEvents[K]>): () => void {
    return this.events.on(event, handler);
  }

  /** Joins `room` (or returns the room already joined): its own socket, the session's token,
   * backoff and heartbeat. `options` override the session's for this room — a `getToken` among
   * them serves this room alone. `T`: the type of the room's message data (see {@link Room}). */
  join<T = unknown>(room: string, options: Partial<SessionOptions> = {}): Room<T> {
    const existing = this.joined.get(room);
    if (existing && existing.state !== 'closed') return existing as Room<T>;
    const handle = new Room<T>({
      ...this.opts,
      ...options,
      room,
      ...(!options.getToken && this.tokens ? { getToken: this.tokens.get.bind(this.tokens) } : {}),
      shared: { backoff: this.backoff, heartbeat: this.heartbeat },
    });
    this.joined.set(room, handle);
    handle.on('closed', () => {
      if (this.joined.get(room) !== handle) return;
      this.joined.delete(room);
      this.tokens?.forget(room);
      this.events.emit('rooms', this.joined);
    });
    this.events.emit('rooms', this.joined);
    return handle;
  }

  /** Leaves `room`: its socket is closed for good (pending publishes are rejected `closed`). */
  leave(room: string): void {
    const handle = this.joined.get(room);
    if (!this.joined.delete(room)) return;
    this.tokens?.forget(room);
    handle?.close();
    this.events.emit('rooms', this.joined);
  }

  /** Leaves every room. */
  close(): void {
    for (const room of [...this.joined.keys()]) this.leave(room);
  }
}

/** A session for one user: `session.join(room)`, `session.leave(room)`, `session.rooms`. */
export function createSession(opts: SessionOptions): Session {
  return new Session(opts);
}
