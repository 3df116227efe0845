// A user's session: one socket per room (a connection belongs to exactly one room), sharing
// what should not be repeated per room — one token request, one backoff schedule, one
// heartbeat timer. The seed's `join_room` / `leave_room` for this protocol's shape.

import { SharedBackoff } from './backoff.js';
import { HeartbeatSchedule } from './heartbeat.js';
import type { ConnectOptions } from './options.js';
import { Room } from './room.js';
import { expiresSoon } from './tokens.js';

/** `connect`'s options without the room (and without `token`/`getToken` per room). */
export type SessionOptions = Omit<ConnectOptions, 'room' | 'shared'>;

/** A token fetched this recently is handed to every room that asks (they asked together). */
const SHARED_TOKEN_MS = 2000;

export class Session {
  private readonly joined = new Map<string, Room>();
  private readonly backoff: SharedBackoff;
  private readonly heartbeat: HeartbeatSchedule;
  private token: string | undefined;
  private fetchedAt = -Infinity;
  private request: Promise<string> | undefined;

  constructor(private readonly opts: SessionOptions) {
    if (!opts.token && !opts.getToken) throw new Error('pass `token` or `getToken`');
    this.backoff = new SharedBackoff(opts.backoff, opts.random ?? Math.random);
    this.heartbeat = new HeartbeatSchedule(opts.heartbeat?.intervalMs ?? 20000);
    this.token = opts.token;
  }

  /** The rooms joined, by name. */
  get rooms(): ReadonlyMap<string, Room> {
    return this.joined;
  }

  /** Joins `room` (or returns the room already joined): its own socket, the session's token,
   * backoff and heartbeat. `options` override the session's for this room. `T`: the type of
   * the room's message data (see {@link Room}). */
  join<T = unknown>(room: string, options: Partial<SessionOptions> = {}): Room<T> {
    const existing = this.joined.get(room);
    if (existing && existing.state !== 'closed') return existing as Room<T>;
    const handle = new Room<T>({
      ...this.opts,
      ...options,
      room,
      ...(this.opts.getToken ? { getToken: () => this.sharedToken() } : {}),
      shared: { backoff: this.backoff, heartbeat: this.heartbeat },
    });
    this.joined.set(room, handle);
    handle.on('closed', () => {
      if (this.joined.get(room) === handle) this.joined.delete(room);
    });
    return handle;
  }

  /** Leaves `room`: its socket is closed for good (pending publishes are rejected `closed`). */
  leave(room: string): void {
    const handle = this.joined.get(room);
    this.joined.delete(room);
    handle?.close();
  }

  /** Leaves every room. */
  close(): void {
    for (const room of [...this.joined.keys()]) this.leave(room);
  }

  /**
   * One token for all the rooms: rooms asking at once share one `getToken` call, and a token
   * fetched moments ago is handed to the next room asking (rooms that reconnect together after
   * an outage, or whose token expired together, refresh once).
   */
  private sharedToken(): Promise<string> {
    if (this.request) return this.request;
    const fresh = this.token !== undefined && !expiresSoon(this.token);
    if (fresh && Date.now() - this.fetchedAt < SHARED_TOKEN_MS) return Promise.resolve(this.token!);
    const request = (async () => {
      const t = await this.opts.getToken!();
      this.token = t;
      this.fetchedAt = Date.now();
      return t;
    })();
    const forget = () => {
      if (this.request === request) this.request = undefined;
    };
    this.request = request;
    request.then(forget, forget);
    return request;
  }
}

/** A session for one user: `session.join(room)`, `session.leave(room)`, `session.rooms`. */
export function createSession(opts: SessionOptions): Session {
  return new Session(opts);
}
