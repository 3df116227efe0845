// Messages in their current state, rebuilt from what the server sends: message frames (live
// ones as first sent, history and resume ones in their current state, with `updated`) and
// the events that change them (`edit`, `delete`, `react`). The rule (docs/protocol.md): apply
// an event to a message only if its seq is above the last one applied (`updated`). Events for
// a message not seen yet (reading history backwards) are kept until it arrives.

import type { DeleteFrame, EditFrame, MessageFrame, ReactFrame, Sender } from './frames.js';

/** A message in its current state. `T`: the messages' data type. */
export interface MessageState<T = unknown> {
  seq: number;
  from: Sender;
  /** The current data; null once deleted. */
  data: T | null;
  ts: number;
  id?: string;
  edited: boolean;
  deleted: boolean;
  /** emoji → users, in the order they reacted. */
  reactions: Record<string, string[]>;
  /** The seq of the last change applied (the message's own seq when none). */
  updated: number;
}

type ChangeFrame<T> = EditFrame<T> | DeleteFrame | ReactFrame;

/** Events kept for messages not seen yet, at most this many (the oldest go). */
const EARLY_LIMIT = 1000;

export interface MessageStatesOptions {
  /** Keep at most this many messages: those with the highest seqs; the oldest are dropped
   * (default: no limit). A positive integer. */
  limit?: number;
}

/** Messages in their current state, by seq. `T`: the messages' data type. */
export class MessageStates<T = unknown> {
  readonly bySeq = new Map<number, MessageState<T>>();
  private readonly early: ChangeFrame<T>[] = [];
  private readonly limit: number;
  /** The seqs kept, ascending (the oldest is dropped first). */
  private readonly seqs: number[] = [];

  constructor(options: MessageStatesOptions = {}) {
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && !(Number.isInteger(limit) && limit > 0)) throw new RangeError(`limit must be a positive integer, not ${limit}`);
    this.limit = limit;
  }

  /** A message frame: added, or replacing an older state of it. Returns its state — which is
   * not kept when the limit is reached and every message kept is newer. */
  message(m: MessageFrame<T>): MessageState<T> {
    const updated = m.updated ?? m.seq;
    const known = this.bySeq.get(m.seq);
    if (known && known.updated >= updated) return known;
    const state: MessageState<T> = {
      seq: m.seq,
      from: m.from,
      data: m.deleted ? null : m.data,
      ts: m.ts,
      ...(m.id !== undefined ? { id: m.id } : {}),
      edited: m.edited === true,
      deleted: m.deleted === true,
      reactions: Object.fromEntries(Object.entries(m.reactions ?? {}).map(([e, users]) => [e, [...users]])),
      updated,
    };
    this.bySeq.set(m.seq, state);
    if (!known) this.keep(m.seq);
    for (const e of this.early.filter((x) => x.target === m.seq).sort((a, b) => a.seq - b.seq)) this.apply(state, e);
    this.early.splice(0, this.early.length, ...this.early.filter((x) => x.target !== m.seq));
    return state;
  }

  /** A new seq is kept; past the limit the oldest go. */
  private keep(seq: number): void {
    if (this.limit === Infinity) return;
    // Where it goes, by binary search (history read backwards arrives descending).
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    this.seqs.splice(lo, 0, seq);
    while (this.seqs.length > this.limit) this.bySeq.delete(this.seqs.shift()!);
  }

  /** An event: applied to its message (the changed state is returned), or kept for later. */
  event(e: ChangeFrame<T>): MessageState<T> | undefined {
    const state = this.bySeq.get(e.target);
    if (!state) {
      this.early.push(e);
      if (this.early.length > EARLY_LIMIT) this.early.shift();
      return undefined;
    }
    return this.apply(state, e) ? state : undefined;
  }

  private apply(s: MessageState<T>, e: ChangeFrame<T>): boolean {
    if (e.seq <= s.updated) return false;
    s.updated = e.seq;
    if (e.type === 'edit') {
      if (!s.deleted) {
        s.data = e.data;
        s.edited = true;
      }
    } else if (e.type === 'delete') {
      s.deleted = true;
      s.data = null;
      s.reactions = {};
    } else if (!s.deleted) {
      const user = e.from.user_id ?? '';
      const users = (s.reactions[e.emoji] ?? []).filter((u) => u !== user);
      if (e.on) users.push(user);
      if (users.length) s.reactions[e.emoji] = users;
      else delete s.reactions[e.emoji];
    }
    return true;
  }
}
