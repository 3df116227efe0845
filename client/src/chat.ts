// The chat extensions' client-side bookkeeping: this user's read cursor and unread count, and
// the throttle of `typing` frames. Pure: no socket, no timer.

import type { MessageFrame } from './frames.js';

/**
 * This user's read cursor (`readSeq`) and unread count in one room. The welcome gives both;
 * then every message from someone else after the cursor adds one, and a read receipt of this
 * user (from any of their devices) moves the cursor and drops what it covers. What the welcome
 * counted is known only as a number: it is dropped once the cursor reaches the welcome's seq
 * (until then a cursor moved part of the way keeps it, an over-count at worst).
 */
export class ReadState {
  private cursor = 0;
  /** Unread messages the welcome counted (seqs up to `welcomeSeq`). */
  private counted = 0;
  private welcomeSeq = 0;
  /** Seqs of unread messages seen live, after the welcome. */
  private seen: number[] = [];

  get readSeq(): number {
    return this.cursor;
  }

  get unread(): number {
    return this.counted + this.seen.length;
  }

  /** A welcome (each connection's): the server's view replaces what was counted. */
  welcome(readSeq: number | undefined, unread: number | undefined, seq: number): void {
    this.cursor = Math.max(this.cursor, readSeq ?? 0);
    this.counted = unread ?? 0;
    this.welcomeSeq = seq;
    this.seen = [];
  }

  /** A message; `mine`: sent by this user. True when the count changed. */
  message(m: MessageFrame, mine: boolean): boolean {
    if (mine || m.seq <= this.cursor || m.seq <= this.welcomeSeq) return false;
    this.seen.push(m.seq);
    return true;
  }

  /** This user's cursor moved to `seq`. True when the count changed. */
  read(seq: number): boolean {
    if (seq <= this.cursor) return false;
    const before = this.unread;
    this.cursor = seq;
    if (seq >= this.welcomeSeq) this.counted = 0;
    this.seen = this.seen.filter((s) => s > seq);
    return this.unread !== before;
  }
}

/** At most one `typing` frame per interval (the server drops extras anyway). */
export class TypingThrottle {
  private last = -Infinity;
  private typing = false;

  constructor(private readonly intervalMs: number) {}

  /** Whether a `typing` frame (`stop`: a stop) should be sent now. */
  allow(stop: boolean, now: number): boolean {
    if (stop) {
      if (!this.typing) return false;
    } else if (this.typing && now - this.last < this.intervalMs) {
      return false;
    }
    if (now - this.last < this.intervalMs) return false;
    this.typing = !stop;
    this.last = now;
    return true;
  }
}
