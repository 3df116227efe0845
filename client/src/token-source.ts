// The token a room handle connects with, and the requests to `getToken` for a new one: one at a
// time, told the room and why, and bounded — a `getToken` that never answers would otherwise
// hold every attempt, refresh and history read that waits for it, for good.

import { later } from './timers.js';
import { expiresSoon } from './tokens.js';

/**
 * Why a token is wanted:
 * - `connect`: the handle has none yet (its first attempt);
 * - `refused`: an attempt failed before its welcome (which is how a refused token looks), or
 *   the server refused the token (a refresh's `auth`, the refusal check);
 * - `expired`: the token expired or expires within 5 s (also: the server closed with 4001, or
 *   a refresh of an expiring connection failed);
 * - `refresh`: the server announced the connection's expiry (`token_expiring`): the token goes
 *   in an `auth` frame, and must expire later than the connection's;
 * - `reconnect`: `reconnect()` was called;
 * - `history`: a history read was refused with 401.
 *
 * For every reason but `connect` the handle's current token is not to be given again.
 */
export type TokenReason = 'connect' | 'refused' | 'expired' | 'refresh' | 'reconnect' | 'history';

/** What `getToken` is told. */
export interface TokenRequest {
  /** The room the token is for. */
  room: string;
  reason: TokenReason;
}

/** Gives a token (a JWT) for `request.room`; a function of no arguments does too. */
export type GetToken = (request: TokenRequest) => string | Promise<string>;

export class TokenSource {
  private token: string | undefined;
  /** Why the current token may not be used again (undefined: it may, until it expires). */
  private stale: TokenReason | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly room: string,
    token: string | undefined,
    private readonly getToken: GetToken | undefined,
    /** A request not answered within this time is abandoned, ms (0: never). */
    private readonly timeoutMs: number,
  ) {
    this.token = token;
  }

  /** The current token must not be used again, because of `reason` (with no `getToken` there
   * is nothing else to use: the fixed token stays). */
  discard(reason: TokenReason): void {
    this.stale = reason;
  }

  /**
   * The token to use now: the current one, unless there is none, it was discarded or it expires
   * within 5 s — then `getToken`'s next. `forced`: ask `getToken` whatever the current one is.
   * Callers asking while a request is out share it. Rejects when `getToken` throws, gives no
   * token, or does not answer within `timeoutMs` (the request is then forgotten: the next call
   * asks again, and its late answer is ignored).
   */
  get(forced?: TokenReason): Promise<string> {
    const get = this.getToken;
    const reason = forced ?? (this.token === undefined ? 'connect' : (this.stale ?? (expiresSoon(this.token) ? 'expired' : undefined)));
    if (!get || reason === undefined) return Promise.resolve(this.token!);
    return (this.pending ??= this.request(get, reason));
  }

  private request(get: GetToken, reason: TokenReason): Promise<string> {
    const ms = this.timeoutMs;
    const request = new Promise<string>((resolve, reject) => {
      const timer = ms > 0 ? later(() => reject(new Error(`getToken did not answer within ${ms} ms`)), ms) : undefined;
      // Called now (not in a later task), so that callers asking at the same time share it; a
      // getToken that throws at once rejects like one that rejects later.
      (async () => get({ room: this.room, reason }))().then(
        (t) => {
          clearTimeout(timer);
          if (typeof t === 'string' && t !== '') resolve(t);
          else reject(new Error('getToken gave no token'));
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
    // Once settled (answered in time, or abandoned — a promise settles once, so an answer after
    // the timeout changes nothing) it is forgotten, and an answer is the token from then on.
    const forget = () => {
      if (this.pending === request) this.pending = undefined;
    };
    request.then((t) => {
      if (this.pending === request) {
        this.token = t;
        this.stale = undefined;
      }
      forget();
    }, forget);
    return request;
  }
}
