// A room as a UI shows it: one immutable snapshot (state, messages in their current state,
// members, who is typing, unread) replaced on every change, and a subscribe function — the shape
// React's `useSyncExternalStore` (and most UI libraries) read. Framework-free: the React hooks
// (react.ts) are a thin layer on top, and other bindings can use it as it is.

import type { ClosedEvent, FailedEvent } from './events.js';
import type { Member, State } from './frames.js';
import type { Room } from './room.js';
import { MessageStates, type MessageState } from './state.js';

export interface RoomViewOptions {
  /** Most messages kept, the newest (default 200). */
  limit?: number;
  /** Messages read from history when the room first opens, so the view starts with the recent
   * past (default 50; 0: none). A failed read leaves the view with what arrives live. */
  history?: number;
}

/** What a UI renders of a room, at one moment. Never mutated: a change makes a new one. */
export interface RoomSnapshot<T = unknown> {
  state: State;
  /** The newest messages (at most `limit`), oldest first, in their current state: edits,
   * deletions and reactions applied. */
  messages: readonly MessageState<T>[];
  members: readonly Member[];
  /** Users in the room, also those a truncated welcome did not list. */
  memberCount: number;
  /** The other users typing now (see `Room.typingUsers()`). */
  typing: readonly string[];
  /** This user's unread count and read cursor here. */
  unread: number;
  readSeq: number;
  /** Why the room failed or closed, when it did. */
  failure: FailedEvent | undefined;
  closeInfo: ClosedEvent | undefined;
}

/** A live view of one room: `subscribe(listener)`, `getSnapshot()`, `dispose()`. */
export class RoomView<T = unknown> {
  private readonly states: MessageStates<T>;
  private readonly listeners = new Set<() => void>();
  private readonly stops: (() => void)[] = [];
  private snapshot: RoomSnapshot<T>;
  private historyRead = false;
  /** Frozen copies of the message states, by seq, kept while their `updated` is unchanged: a
   * message that did not change keeps its identity from one snapshot to the next (memoised
   * components skip it), one that changed gets a new object. */
  private readonly frozen = new Map<number, MessageState<T>>();

  constructor(
    readonly room: Room<T>,
    private readonly options: RoomViewOptions = {},
  ) {
    this.states = new MessageStates<T>({ limit: options.limit ?? 200 });
    this.snapshot = this.take();
    const changed = () => this.changed();
    const on = room.on.bind(room) as (event: string, handler: (v: never) => void) => () => void;
    for (const event of ['state', 'members', 'member_count', 'typing_users', 'unread', 'closed', 'failed'] as const) {
      this.stops.push(on(event, changed));
    }
    this.stops.push(room.on('message', (m) => (this.states.message(m), this.changed())));
    for (const event of ['edit', 'delete', 'reaction'] as const) {
      this.stops.push(on(event, ((e: Parameters<MessageStates<T>['event']>[0]) => (this.states.event(e), this.changed())) as never));
    }
    this.stops.push(room.on('welcome', () => void this.readHistory()));
    if (room.state === 'open') void this.readHistory();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): RoomSnapshot<T> => this.snapshot;

  /** Stops listening to the room (the room itself is not closed). */
  dispose(): void {
    this.stops.splice(0).forEach((stop) => stop());
    this.listeners.clear();
  }

  /** The recent past, once, when the room first opens (live messages meanwhile are merged: a
   * message is kept once, in its newest state). */
  private async readHistory(): Promise<void> {
    const limit = Math.min(200, this.options.history ?? 50);
    if (this.historyRead || limit <= 0) return;
    this.historyRead = true;
    try {
      const page = await this.room.history({ limit });
      for (const f of page.messages) {
        if (f.type === 'message') this.states.message(f);
        else this.states.event(f);
      }
      this.changed();
    } catch {
      // The view shows what arrives live; history can be read again by the application.
    }
  }

  private changed(): void {
    this.snapshot = this.take();
    for (const listener of [...this.listeners]) listener();
  }

  private copy(s: MessageState<T>): MessageState<T> {
    const known = this.frozen.get(s.seq);
    if (known && known.updated === s.updated) return known;
    const reactions = Object.freeze(Object.fromEntries(Object.entries(s.reactions).map(([e, users]) => [e, Object.freeze([...users])])));
    const copy = Object.freeze({ ...s, reactions }) as MessageState<T>;
    this.frozen.set(s.seq, copy);
    return copy;
  }

  private take(): RoomSnapshot<T> {
    const r = this.room;
    const messages = Object.freeze([...this.states.bySeq.values()].sort((a, b) => a.seq - b.seq).map((s) => this.copy(s)));
    for (const seq of this.frozen.keys()) if (!this.states.bySeq.has(seq)) this.frozen.delete(seq);
    return Object.freeze({
      state: r.state,
      messages,
      members: r.members,
      memberCount: r.memberCount,
      typing: r.typingUsers(),
      unread: r.unread,
      readSeq: r.readSeq,
      failure: r.failure,
      closeInfo: r.closeInfo,
    });
  }
}
