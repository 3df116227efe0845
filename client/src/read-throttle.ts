// The coalescing of `markRead` calls into at most one `read` frame per room per interval.
//
// Why: a client that marks the room read whenever messages arrive would send about one `read`
// frame per WebSocket message it receives, and every incoming frame costs the room about what
// a publish costs (docs/benchmarks.md, "A chatty room"), while the server settles a user's
// reads once per turn anyway. Element (Matrix) waits 500 ms between its read receipts for the
// same reason; 500 ms is the default here, far below what a person notices in "seen by".

import { later, type Timer } from './timers.js';

/** The default `readIntervalMs`. */
export const READ_INTERVAL_MS = 500;

/**
 * Leading and trailing throttle of one room's reads. A read asked for when no frame went out
 * within the interval is sent at once (the leading send: a single read is not delayed); reads
 * asked for within it are held, and `due` is called once when the interval ends (the trailing
 * send, with the newest seq: the last read asked for is never lost). Time is `Date.now()`-like
 * ms, given by the caller. `intervalMs` 0 (or anything not above 0) sends every read at once;
 * one beyond a timer's reach holds reads until `stop` (see timers.ts).
 */
export class ReadThrottle {
  /** When the last `read` frame went out. */
  private last = -Infinity;
  private timer: Timer | undefined;
  /** A trailing send is waiting (its timer may be "never"). */
  private holding = false;

  constructor(
    private readonly intervalMs: number,
    private readonly due: () => void,
  ) {}

  /** A read is wanted at `now`: true to send it now; false when it is held for `due`. */
  request(now: number): boolean {
    if (this.holding) return false;
    const wait = this.intervalMs > 0 ? this.last + this.intervalMs - now : 0;
    if (wait <= 0) return true;
    this.holding = true;
    this.timer = later(() => {
      this.timer = undefined;
      this.holding = false;
      this.due();
    }, wait);
    return false;
  }

  /** A `read` frame went out at `now` (leading, trailing or after a welcome). */
  sent(now: number): void {
    this.last = now;
  }

  /** Whether a read is held for the end of the interval. */
  get held(): boolean {
    return this.holding;
  }

  /** The connection went (or the handle closes): no trailing send on it. What was held stays
   * wanted by the room, which sends it after the next welcome. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.holding = false;
  }
}
