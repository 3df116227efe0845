// A resume's `replay_limit` gap filled from the history API, so that the application still sees
// every message once, in seq order. The server replays at most REPLAY_MAX_MESSAGES on a resume
// and says what it left out with `{"type":"gap","from":A,"to":B,"reason":"replay_limit"}`
// (docs/protocol.md, Resume): those messages still exist. While they are read over HTTP, the
// frames that follow the gap on the socket (the replayed newest messages, then live ones) are
// held, and delivered after them.
//
//   gap(replay_limit) ──▶ filling: messages and gaps held ──pages──▶ delivered in order ──▶ held ones
//                            │ a page fails (or does not answer within `timeoutMs`): `failed`,
//                            │   retried with backoff; `attempts` in a row: give up, the rest
//                            │   is a `gap` with reason replay_limit
//                            │ history has fewer (trimmed meanwhile): a `gap` for what is missing
//                            └ the connection is lost: stop(), the held frames are dropped — the
//                              next resume starts after the last seq delivered and replays them

import type { DeleteFrame, EditFrame, GapFrame, MessageFrame, ReactFrame } from './frames.js';
import type { FillFailedEvent } from './events.js';
import type { HistoryPage } from './history.js';
import type { ResumeTracker } from './resume.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { ChatError, errorMessage } from './errors.js';
import type { Log } from './logger.js';
import { later, type Timer } from './timers.js';

/** The server's largest history page. */
export const PAGE_LIMIT = 200;

/** The frames whose order matters: messages and the log's events on them (each with its own
 * seq), and the gaps between them. */
export type Ordered = MessageFrame | EditFrame | DeleteFrame | ReactFrame | GapFrame;

/** What is delivered in order: everything with a seq. */
export type Sequenced = Exclude<Ordered, GapFrame>;

/** A page read: oldest first, `seq > since`. */
export type ReadPage = (query: { since: number; limit: number; signal?: AbortSignal }) => Promise<HistoryPage>;

export interface GapFillOptions {
  resume: ResumeTracker;
  /** How pages are read (with the room's token); undefined: `replay_limit` gaps are not filled
   * (no `fetch`, or `fillGaps: false`) and are reported like any gap. */
  read: ReadPage | undefined;
  /** Failed reads in a row before giving up (at least 1). */
  attempts: number;
  /** A read not answered within this time is abandoned and counts as failed, ms (0: never). */
  timeoutMs: number;
  backoff?: BackoffOptions;
  random: () => number;
  /** Delivers a message or a log event to the application. */
  ordered(f: Sequenced): void;
  /** Tells the application about messages it will not get. */
  gap(g: GapFrame): void;
  /** Tells the application a read failed (a hung one too): what is held waits longer. */
  failed(f: FillFailedEvent): void;
  /** The `logger` option's calls (a fill's start, failed reads, end). */
  log?: Log;
}

/**
 * Message and gap frames of the current connection, in order: delivered at once, except
 * while a `replay_limit` gap is being filled. One per room handle; `stop()` when the
 * connection goes.
 */
export class GapFill {
  private held: Ordered[] = [];
  private filling = false;
  /** Bumped by `stop()`: a page or a timer of a stopped fill sees it and does nothing more. */
  private run = 0;
  private timer: Timer | undefined;
  private readTimer: Timer | undefined;
  private abort: AbortController | undefined;

  constructor(private readonly o: GapFillOptions) {}

  /** A `message` or `gap` frame from the socket, in arrival order. */
  push(f: Ordered): void {
    if (this.filling) this.held.push(f);
    else this.process(f);
  }

  /** The connection is gone: the fill stops, and what was held is dropped (the next resume
   * starts after the last seq delivered, so the server replays it). */
  stop(): void {
    this.run++;
    this.filling = false;
    this.held = [];
    clearTimeout(this.timer);
    clearTimeout(this.readTimer);
    this.timer = this.readTimer = undefined;
    this.abort?.abort();
    this.abort = undefined;
  }

  private process(f: Ordered): void {
    if (f.type !== 'gap') {
      if (this.o.resume.accept(f.seq)) this.o.ordered(f);
      return;
    }
    if (f.reason === 'replay_limit' && this.o.read) {
      const since = this.o.resume.since;
      if (since !== undefined && f.to <= since) return; // all of it was delivered already
      this.filling = true;
      void this.fill(this.run, f);
      return;
    }
    this.o.resume.gap(f.to);
    this.o.gap(f);
  }

  /** Reads `g` page by page, delivering each, then what was held. */
  private async fill(run: number, g: GapFrame): Promise<void> {
    const backoff = new Backoff(this.o.backoff, this.o.random);
    let failures = 0;
    this.o.log?.write('info', 'fill', `reading messages ${g.from}–${g.to} from history (more were missed than a resume replays)`, { from: g.from, to: g.to });
    for (;;) {
      const since = this.after(g);
      if (since >= g.to) break;
      let page: HistoryPage;
      try {
        page = await this.read(since, Math.min(PAGE_LIMIT, g.to - since));
      } catch (e) {
        if (run !== this.run) return;
        const attempt = ++failures;
        const retrying = attempt < Math.max(1, this.o.attempts);
        const code = e instanceof ChatError ? e.code : 'error';
        this.o.log?.write('warn', 'fill_failed', `history read ${attempt} failed: ${errorMessage(e)}${retrying ? ' (retrying)' : ''}`, { attempt, error: errorMessage(e), retrying });
        this.o.failed({ code, message: errorMessage(e), attempt, retrying, from: since + 1, to: g.to });
        if (run !== this.run) return;
        if (!retrying) {
          // Given up: the application is told these exist and were not delivered.
          this.missing(run, this.after(g) + 1, g.to, 'replay_limit');
          break;
        }
        await new Promise<void>((wake) => (this.timer = later(wake, backoff.next().delayMs)));
        if (run !== this.run) return;
        continue;
      }
      if (run !== this.run) return;
      failures = 0;
      backoff.reset();
      const progressed = this.deliver(run, g, page.messages);
      if (run !== this.run) return;
      if (!progressed || page.next === null) break;
    }
    // Whatever of the gap history no longer has (trimmed meanwhile) is gone for good.
    if (run !== this.run) return;
    if (this.after(g) < g.to) this.missing(run, this.after(g) + 1, g.to);
    if (run !== this.run) return;
    this.o.log?.write('info', 'filled', `messages ${g.from}–${g.to} read from history`, { from: g.from, to: g.to });
    this.filling = false;
    this.drain(run);
  }

  /** A page, or a rejection: the read's, or `timeout` when it does not answer within
   * `timeoutMs` (it is aborted then; one that ignores the signal is left to itself). */
  private read(since: number, limit: number): Promise<HistoryPage> {
    const abort = typeof AbortController === 'function' ? new AbortController() : undefined;
    this.abort = abort;
    const ms = this.o.timeoutMs;
    return new Promise<HistoryPage>((resolve, reject) => {
      this.readTimer = ms > 0 ? later(() => {
        abort?.abort();
        reject(new ChatError('timeout', `the history read did not answer within ${ms} ms`));
      }, ms) : undefined;
      const timer = this.readTimer;
      this.o.read!({ since, limit, ...(abort ? { signal: abort.signal } : {}) }).then(
        (page) => (clearTimeout(timer), resolve(page)),
        (e) => (clearTimeout(timer), reject(e)),
      );
    });
  }

  /** The last seq delivered, or just before the gap. */
  private after(g: GapFrame): number {
    return Math.max(g.from - 1, this.o.resume.since ?? g.from - 1);
  }

  /** Delivers a page's messages and events that belong to the gap, in order, with a `gap` before any that
   * skips seqs. False when nothing moved on (the page holds none of the gap). */
  private deliver(run: number, g: GapFrame, messages: Sequenced[]): boolean {
    const start = this.after(g);
    for (const m of messages) {
      if (typeof m?.seq !== 'number' || m.seq <= this.after(g)) continue;
      if (m.seq > g.to) break;
      const next = this.after(g) + 1;
      if (m.seq > next) this.missing(run, next, m.seq - 1);
      if (run !== this.run) return false;
      if (this.o.resume.accept(m.seq)) this.o.ordered(m);
      if (run !== this.run) return false;
    }
    return this.after(g) > start;
  }

  /** Seqs `from..=to` will not be delivered: the resume point moves past them, and the
   * application is told. */
  private missing(run: number, from: number, to: number, reason?: 'replay_limit'): void {
    if (run !== this.run) return;
    this.o.resume.gap(to);
    this.o.gap({ type: 'gap', from, to, ...(reason ? { reason } : {}) });
  }

  /** The held frames, in order, until one of them starts another fill. */
  private drain(run: number): void {
    while (!this.filling && this.held.length > 0) {
      this.process(this.held.shift()!);
      if (run !== this.run) return;
    }
  }
}
