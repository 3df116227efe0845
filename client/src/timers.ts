// Timers as the options mean them: a platform timer given more than 2^31-1 ms (about 24.8 days)
// fires at once — browsers, Node and Workers alike — so `connectTimeoutMs: Infinity` would time
// every attempt out at once, and `publish(data, {timeoutMs: Infinity})` reject at once. Here a
// delay beyond that reach (Infinity included) means "never".

/** The longest delay a platform timer holds, ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export type Timer = ReturnType<typeof setTimeout>;

/** Whether a timer can hold `ms` (else it is "never"). */
export function reachable(ms: number): boolean {
  return ms <= MAX_TIMER_MS;
}

/** `setTimeout(fn, ms)`, or no timer at all when `ms` is beyond a timer's reach. */
export function later(fn: () => void, ms: number): Timer | undefined {
  return reachable(ms) ? setTimeout(fn, ms) : undefined;
}

/** `setInterval(fn, ms)`, or no timer at all when `ms` is beyond a timer's reach. */
export function every(fn: () => void, ms: number): ReturnType<typeof setInterval> | undefined {
  return reachable(ms) ? setInterval(fn, ms) : undefined;
}
