// Refreshing the connection's token in place: on `token_expiring` the client asks `getToken`
// for a new token and sends it in an `auth` frame; `auth_ok` means the connection lives on.

import { backoffDelay, type BackoffOptions } from './backoff.js';
import { errorMessage } from './errors.js';
import type { RefreshFailedEvent } from './events.js';
import { newId } from './ids.js';
import { OPEN, type SocketLike } from './socket.js';
import { tokenExpiry } from './tokens.js';

export interface RefreshHost {
  /** Attempts per notice (0: never refresh in place). */
  attempts: number;
  backoff: BackoffOptions | undefined;
  random: () => number;
  /** The room's current socket: a refresh of another socket is dropped. */
  current(): SocketLike | undefined;
  /** A new token from `getToken` (rejects when it throws or gives none). */
  newToken(): Promise<string>;
  /** `auth_ok`: the connection runs on `token` until `exp` now. */
  accepted(token: string, exp: number): void;
  /** An attempt failed (`refused`: the server refused `token`). */
  failed(event: RefreshFailedEvent, refused: boolean): void;
}

interface Run {
  ws: SocketLike;
  /** The connection's current expiry (unix s), from `token_expiring`. */
  exp: number;
  attempt: number;
  /** The id of the `auth` frame waiting for its answer, and its token. */
  id?: string;
  token?: string;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One refresh at a time, for the current socket. An attempt fails when `getToken` throws, when
 * it gives a token that expires no later than the connection (sending it would gain nothing,
 * and the server would notice it again at once), or when the server refuses the token (an
 * `error` frame with the `auth` frame's id). Failed attempts are retried after the backoff's
 * delays, up to `attempts`, and only while the retry falls before `exp`; the connection is
 * never dropped for it: if no refresh succeeds, the server closes with 4001 at `exp`.
 */
export class TokenRefresh {
  private run: Run | undefined;

  constructor(private readonly host: RefreshHost) {}

  /** `token_expiring` arrived on `ws`. */
  expiring(ws: SocketLike, exp: number): void {
    if (this.host.attempts <= 0 || this.run?.ws === ws) return;
    this.stop();
    const run: Run = { ws, exp, attempt: 0 };
    this.run = run;
    void this.attempt(run);
  }

  /** An `auth_ok` or `error` frame: true when it answers the pending `auth` frame (then it is
   * handled here and means nothing else). */
  answer(ws: SocketLike, f: { type?: string; id?: unknown; exp?: unknown; code?: unknown; message?: unknown }): boolean {
    const run = this.run;
    if (!run || run.ws !== ws || run.id === undefined || f.id !== run.id) return false;
    const token = run.token!;
    run.id = run.token = undefined;
    if (f.type === 'auth_ok') {
      this.run = undefined;
      this.host.accepted(token, typeof f.exp === 'number' ? f.exp : run.exp);
    } else {
      this.fail(run, String(f.code ?? 'error'), String(f.message ?? ''), true);
    }
    return true;
  }

  /** The socket is gone (or the handle stopped): forget the refresh. */
  stop(): void {
    clearTimeout(this.run?.timer);
    this.run = undefined;
  }

  private live(run: Run): boolean {
    return this.run === run && this.host.current() === run.ws;
  }

  private async attempt(run: Run): Promise<void> {
    run.attempt++;
    let token: string;
    try {
      token = await this.host.newToken();
    } catch (e) {
      if (this.live(run)) this.fail(run, 'token_error', errorMessage(e), false);
      return;
    }
    if (!this.live(run)) return;
    const exp = tokenExpiry(token);
    if (exp !== undefined && exp <= run.exp) {
      const message = `getToken gave a token that expires at ${exp}, no later than the connection (${run.exp})`;
      return this.fail(run, 'stale_token', message, false);
    }
    if (run.ws.readyState !== OPEN) return; // closing: its close event follows
    run.id = `auth-${newId(this.host.random)}`;
    run.token = token;
    run.ws.send(JSON.stringify({ type: 'auth', token, id: run.id }));
  }

  private fail(run: Run, code: string, message: string, refused: boolean): void {
    const delayMs = backoffDelay(run.attempt - 1, this.host.backoff, this.host.random);
    const retrying = run.attempt < this.host.attempts && Date.now() + delayMs < run.exp * 1000;
    if (retrying) {
      run.timer = setTimeout(() => {
        run.timer = undefined;
        if (this.live(run)) void this.attempt(run);
      }, delayMs);
    } else {
      this.run = undefined;
    }
    this.host.failed({ code, message, attempt: run.attempt, retrying }, refused);
  }
}
