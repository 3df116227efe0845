// Who is typing now. The server relays `typing` frames and keeps no timer (docs/protocol.md,
// Typing): a receiver treats a user as typing for 5 s after their last `typing` frame, or until
// their `stop`, a message from them, or their leave. A `stop` may be dropped by the server's
// throttle, so the 5 s are what ends most indicators.

/** How long a user counts as typing after their last `typing` frame, ms. */
export const TYPING_TIMEOUT_MS = 5000;

/** The users typing now, each with the timer that ends it. */
export class TypingUsers {
  /** User → their timer, in the order they started typing. */
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private list: string[] = frozen([]);

  /** `changed`: the new list, after every change. */
  constructor(
    private readonly changed: (users: string[]) => void,
    private readonly timeoutMs = TYPING_TIMEOUT_MS,
  ) {}

  /** Frozen, in the order they started typing; a new array on every change. */
  get users(): string[] {
    return this.list;
  }

  /** A `typing` frame from `user`: typing for `timeoutMs` from now. */
  typing(user: string): void {
    const known = this.timers.has(user);
    clearTimeout(this.timers.get(user));
    this.timers.set(user, setTimeout(() => this.stopped(user), this.timeoutMs));
    if (!known) this.update();
  }

  /** `user` stopped (their `stop`, a message, their leave, or their time ran out). */
  stopped(user: string): void {
    if (!this.timers.has(user)) return;
    clearTimeout(this.timers.get(user));
    this.timers.delete(user);
    this.update();
  }

  /** Forgets everyone, timers included, without a change event (the handle is closing). */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.list = frozen([]);
  }

  private update(): void {
    this.list = frozen([...this.timers.keys()]);
    this.changed(this.list);
  }
}

function frozen(list: string[]): string[] {
  return Object.freeze(list) as string[];
}
