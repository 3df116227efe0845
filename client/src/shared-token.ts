// One token for a session's rooms: rooms asking together share one `getToken` call, and a token
// fetched moments ago is handed to the next room asking (rooms that reconnect together after an
// outage, or whose token expired together, renew once) — but never to a room that is replacing
// that very token (refused, expired, or its connection's own on a refresh), nor to a room its
// `rooms` claim leaves out (room-scoped tokens): such a room gets a request of its own.

import type { GetToken, TokenRequest } from './token-source.js';
import { allowsRoom, expiresSoon, tokenExpiry } from './tokens.js';

/** A token fetched this recently is handed to every room that asks (they asked together). */
const RECENT_MS = 2000;

interface Request {
  promise: Promise<string>;
}

export class SharedToken {
  private token: string | undefined;
  private fetchedAt = -Infinity;
  /** The request out, if any: rooms asking meanwhile share it. */
  private pending: Request | undefined;
  /** The request each room waits for (a room that asks again has given up on it). */
  private readonly asking = new Map<string, Request>();
  /** The token each room was last given: the one it replaces when it asks again. */
  private readonly given = new Map<string, string>();

  constructor(
    private readonly getToken: GetToken,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token for `request.room` (the session's rooms call this as their `getToken`). */
  get(request: TokenRequest): Promise<string> {
    const { room } = request;
    const usable = this.usableFor(request);
    const pending = this.pending;
    // A room asking again while the request it waits for is still out has given up on it (its
    // attempt timed out): it starts a new one, which the others join from then on.
    if (pending && this.asking.get(room) !== pending) {
      this.asking.set(room, pending);
      return pending.promise.then((t) => {
        if (this.asking.get(room) !== pending) return t; // given up meanwhile: ignored by the room
        return usable(t) ? this.give(room, t) : this.fetch(request);
      });
    }
    if (this.token !== undefined && usable(this.token) && this.now() - this.fetchedAt < RECENT_MS) {
      return Promise.resolve(this.give(room, this.token));
    }
    return this.fetch(request);
  }

  /** The room left the session. */
  forget(room: string): void {
    this.asking.delete(room);
    this.given.delete(room);
  }

  /** Whether a token may be handed to the room asking. */
  private usableFor({ room, reason }: TokenRequest): (t: string) => boolean {
    // Every reason but `connect` means the room's current token is no good any more.
    const replaced = reason === 'connect' ? undefined : this.given.get(room);
    const replacedExp = replaced === undefined ? undefined : tokenExpiry(replaced);
    return (t) => {
      if (t === replaced || expiresSoon(t) || !allowsRoom(t, room)) return false;
      // A refresh needs a token that outlives the connection's.
      const exp = tokenExpiry(t);
      return reason !== 'refresh' || replacedExp === undefined || exp === undefined || exp > replacedExp;
    };
  }

  private fetch(request: TokenRequest): Promise<string> {
    const { room } = request;
    const entry: Request = { promise: (async () => this.getToken(request))() };
    this.pending = entry;
    this.asking.set(room, entry);
    entry.promise.then(
      (t) => {
        if (this.pending !== entry) return; // superseded by a newer request: not shared
        this.pending = undefined;
        this.token = t;
        this.fetchedAt = this.now();
      },
      () => {
        if (this.pending === entry) this.pending = undefined;
      },
    );
    return entry.promise.then((t) => (this.asking.get(room) === entry ? this.give(room, t) : t));
  }

  private give(room: string, token: string): string {
    this.asking.delete(room);
    this.given.set(room, token);
    return token;
  }
}
