// Resume bookkeeping: what `since` to reconnect with, and which messages are new.

/**
 * Resume bookkeeping: the last seq the application has seen, and the filter that keeps
 * replayed and live messages from being delivered twice.
 */
export class ResumeTracker {
  private last: number | undefined;
  /** Seqs above `last` this connection is not sent: its own `echo: false` publishes, acked. */
  private unsent = new Set<number>();

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
      this.advance();
      return undefined;
    }
    if (seq < this.last) {
      const before = this.last;
      this.last = seq;
      this.unsent.clear(); // seqs of the old count
      return before;
    }
    return undefined;
  }

  /** True when the message is new (and records it); false for a duplicate or an old one. */
  accept(seq: number): boolean {
    if (this.last !== undefined && seq <= this.last) return false;
    this.last = seq;
    // One of this connection's `echo: false` messages, replayed all the same: not delivered.
    const unsent = this.unsent.delete(seq);
    this.advance();
    return !unsent;
  }

  /** A gap moves the resume point past what can no longer be had. */
  gap(to: number): void {
    if (this.last === undefined || to > this.last) this.last = to;
    this.advance();
  }

  /**
   * An acked publish that this connection is not sent (`echo: false`): its seq arrives in the
   * ack alone. The resume point moves past it once everything before it was seen — not at
   * once: on a `batch=1` connection the ack comes before the other messages of its turn, which
   * may have lower seqs.
   */
  unechoed(seq: number): void {
    if (this.last !== undefined && seq <= this.last) return;
    this.unsent.add(seq);
    this.advance();
  }

  /** Past the unsent seqs that follow the last one seen. */
  private advance(): void {
    if (this.last === undefined) return;
    while (this.unsent.delete(this.last + 1)) this.last++;
    for (const seq of this.unsent) if (seq <= this.last) this.unsent.delete(seq);
  }
}
