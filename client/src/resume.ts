// Resume bookkeeping: what `since` to reconnect with, and which messages are new.

/**
 * Resume bookkeeping: the last seq the application has seen, and the filter that keeps
 * replayed and live messages from being delivered twice.
 */
export class ResumeTracker {
  private last: number | undefined;

  constructor(since?: number) {
    this.last = since;
  }

  /** The `since` to reconnect with (undefined before anything was seen). */
  get since(): number | undefined {
    return this.last;
  }

  /**
   * On welcome: a first connection without a resume point starts from the room's present. A
   * welcome seq below the last seq seen means the room's count restarted: the resume point
   * moves back to it, and the old last seq is returned (otherwise undefined).
   */
  welcome(seq: number): number | undefined {
    if (this.last === undefined) {
      this.last = seq;
      return undefined;
    }
    if (seq < this.last) {
      const before = this.last;
      this.last = seq;
      return before;
    }
    return undefined;
  }

  /** True when the message is new (and records it); false for a duplicate or an old one. */
  accept(seq: number): boolean {
    if (this.last !== undefined && seq <= this.last) return false;
    this.last = seq;
    return true;
  }

  /** A gap moves the resume point past what can no longer be had. */
  gap(to: number): void {
    if (this.last === undefined || to > this.last) this.last = to;
  }
}
