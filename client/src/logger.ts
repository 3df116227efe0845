// The `logger` option: the client's notable steps, for debugging a connection in the field.
// Each step is one call `logger[level](message, detail)`: a readable message (so `logger:
// console` prints something useful) and a detail object with the step's name and fields (so a
// program can filter or forward them). Tokens and URLs carrying them are never logged.

import { reportLater, type Emitter } from './emitter.js';
import type { Events } from './events.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The client's notable steps, by level:
 * - `debug`: `attempt` (a socket is opened), `refresh` (the server announced the token's
 *   expiry: a refresh in place starts);
 * - `info`: `open` (welcomed), `retry` (a reconnect is scheduled), `reconnect` (`reconnect()` was
 *   called), `fill`/`filled` (a `replay_limit` gap is being read from history / was read),
 *   `refreshed`, `closed` (by `close()`), `disconnect` (the client's own close);
 * - `warn`: `disconnect` (the connection ended otherwise), `refused` (the server refused the token
 *   or the room, or the WebSocket could not be opened), `fill_failed` (a history read of a fill
 *   failed; it is retried), `refresh_failed`, `gap`, `reset`, `closed` (removed by the server);
 * - `error`: `failed` (the handle gave up).
 */
export type LogStep =
  | 'attempt' | 'open' | 'disconnect' | 'retry' | 'reconnect' | 'refused' | 'failed' | 'closed'
  | 'refresh' | 'refreshed' | 'refresh_failed' | 'gap' | 'reset' | 'fill' | 'fill_failed' | 'filled';

/** What each log call carries besides its message: the step, the room, and the step's fields
 * (e.g. `retry`: `attempt`, `delayMs`, `reason`). */
export interface LogDetail {
  step: LogStep;
  room: string;
  [field: string]: unknown;
}

/** Receives the client's notable steps. Every method is optional (a missing level is not
 * logged); `console` fits. A method that throws is reported like a throwing event handler and
 * changes nothing. */
export interface Logger {
  debug?(message: string, detail: LogDetail): void;
  info?(message: string, detail: LogDetail): void;
  warn?(message: string, detail: LogDetail): void;
  error?(message: string, detail: LogDetail): void;
}

/** One room's log: `logger` calls with the room's name in every message and detail. */
export class Log {
  constructor(
    private readonly logger: Logger | undefined,
    private readonly room: string,
  ) {}

  /** Whether anything is logged at all (callers may skip building details). */
  get on(): boolean {
    return this.logger !== undefined;
  }

  write(level: LogLevel, step: LogStep, message: string, fields: Record<string, unknown> = {}): void {
    const method = this.logger?.[level];
    if (typeof method !== 'function') return;
    try {
      method.call(this.logger, `edge-chat ${this.room}: ${message}`, { step, room: this.room, ...fields });
    } catch (e) {
      reportLater(e, 'the logger'); // a broken logger must not break the connection
    }
  }

  /** Logs the steps the room's own events tell of, as they are emitted (before the
   * application's handlers, which subscribe later). */
  watch(events: Emitter<Events>): void {
    if (!this.on) return;
    events.on('welcome', (w) => this.write('info', 'open', `open (connection ${w.connection_id}, seq ${w.seq})`, { connectionId: w.connection_id, seq: w.seq }));
    events.on('disconnect', (d) => {
      const own = d.code === 1000 || d.reason === 'reconnect';
      this.write(own ? 'info' : 'warn', 'disconnect', `disconnected: ${d.code} ${d.reason}${d.wasOpen ? '' : ' (before its welcome)'}`, {
        code: d.code, reason: d.reason, wasOpen: d.wasOpen, ...(d.message !== undefined ? { message: d.message } : {}),
      });
    });
    events.on('retry', (r) => this.write('info', 'retry', `retry ${r.attempt} in ${Math.round(r.delayMs)} ms (${r.reason})`, { ...r }));
    events.on('failed', (f) => this.write('error', 'failed', `gave up: ${f.code}: ${f.message}`, { ...f }));
    events.on('closed', (c) => this.write(c.byServer ? 'warn' : 'info', 'closed', `closed: ${c.reason} (${c.code})${c.message ? `: ${c.message}` : ''}`, { ...c }));
    events.on('refreshed', (r) => this.write('info', 'refreshed', `token refreshed in place, the connection now expires at ${r.exp}`, { ...r }));
    events.on('refresh_failed', (r) => this.write('warn', 'refresh_failed', `token refresh ${r.attempt} failed: ${r.code}: ${r.message}${r.retrying ? ' (retrying)' : ''}`, { ...r }));
    events.on('gap', (g) => this.write('warn', 'gap', `messages ${g.from}–${g.to} not delivered${g.reason ? ` (${g.reason})` : ''}`, { from: g.from, to: g.to, ...(g.reason ? { reason: g.reason } : {}) }));
    events.on('reset', (r) => this.write('warn', 'reset', `the room's seq restarted: ${r.lastSeq} → ${r.seq}`, { ...r }));
  }
}
