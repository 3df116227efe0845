// Reconnect delays: exponential, capped, jittered; reset only by a stable connection.

export interface BackoffOptions {
  /** First delay, ms (default 500). */
  initialMs?: number;
  /** Cap, ms (default 15000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is randomised (0–1, default 0.5). */
  jitter?: number;
  /** The delays start over only once a connection has stayed open this long, ms (default
   * 5000): a server that welcomes and drops at once is not hammered. */
  resetAfterMs?: number;
}


/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, jittered. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 15000;
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, attempt));
  // "Equal jitter": keep (1 - jitter) of the delay, randomise the rest, so clients that
  // dropped together do not come back together.
  return base * (1 - jitter) + base * jitter * random();
}

/** The attempt counter behind the delays: grows on every retry, reset by a stable connection. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {}

  /** Retries since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The next retry: its number (1-based) and delay. */
  next(): { attempt: number; delayMs: number } {
    const attempt = ++this.attempt;
    return { attempt, delayMs: this.delay(attempt) };
  }

  reset(): void {
    this.attempt = 0;
  }

  /** The delay before retry `attempt` (1-based). */
  protected delay(attempt: number): number {
    return backoffDelay(attempt - 1, this.opts, this.random);
  }
}

/**
 * One retry schedule for several connections (a session's rooms), on which each connection
 * counts its own retries ({@link SharedBackoff.member}): a connection at retry k joins the
 * retry k another one scheduled, while that is still ahead — connections that fail together
 * wait for the same retry, so a network outage costs one schedule of retries, not one per
 * room — and a connection that fails on its own (a room that refuses it, again and again)
 * grows its own delays only. A stable connection resets its own count.
 */
export class SharedBackoff {
  /** When each retry number is due, as the first connection to reach it scheduled it. */
  private readonly due = new Map<number, number>();

  constructor(
    private readonly opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  /** A connection's own count of retries, on this schedule. */
  member(): Backoff {
    return new ScheduledBackoff(this);
  }

  /** The delay before retry `attempt` (1-based) of a connection failing now. */
  delayOf(attempt: number): number {
    const now = this.now();
    for (const [k, at] of this.due) if (at <= now) this.due.delete(k);
    const at = this.due.get(attempt);
    if (at !== undefined) return at - now;
    const delayMs = backoffDelay(attempt - 1, this.opts, this.random);
    this.due.set(attempt, now + delayMs);
    return delayMs;
  }
}

/** One connection's count of retries, its delays taken from a shared schedule. */
class ScheduledBackoff extends Backoff {
  constructor(private readonly schedule: SharedBackoff) {
    super();
  }

  protected override delay(attempt: number): number {
    return this.schedule.delayOf(attempt);
  }
}
