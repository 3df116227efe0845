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
    const delayMs = backoffDelay(this.attempt, this.opts, this.random);
    return { attempt: ++this.attempt, delayMs };
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * One backoff for several connections (a session's rooms): connections that fail together wait
 * for the same retry — the first asks for a delay, the others get the time left until that
 * very retry, with the same attempt number — so a network outage costs one schedule of
 * retries, not one per room. A stable connection resets it for all.
 */
export class SharedBackoff extends Backoff {
  private retryAt = -Infinity;
  private current = { attempt: 0, delayMs: 0 };

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random, private readonly now: () => number = Date.now) {
    super(opts, random);
  }

  override next(): { attempt: number; delayMs: number } {
    const now = this.now();
    if (now < this.retryAt) return { attempt: this.current.attempt, delayMs: this.retryAt - now };
    this.current = super.next();
    this.retryAt = now + this.current.delayMs;
    return this.current;
  }

  override reset(): void {
    super.reset();
    this.retryAt = -Infinity;
  }
}
