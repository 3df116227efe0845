// The outbound queue: publishes not yet acknowledged.

import type { Ack } from './frames.js';
import { ChatError, tooLarge } from './errors.js';
import { utf8Length } from './size.js';

export interface Pending {
  id: string;
  frame: string;
  resolve: (ack: Ack) => void;
  reject: (err: ChatError) => void;
  /** The frame's UTF-8 length (computed when missing). */
  bytes?: number;
  /** The connection it was last sent on: it is sent again on a new one only. */
  sentOn?: object;
}

/**
 * Publishes not yet acknowledged, in order: queued while offline, re-sent after reconnect,
 * settled by `ack` or `error` frames carrying their id. Bounded.
 */
export class OutboundQueue {
  private items = new Map<string, Pending>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.items.size;
  }

  /** Adds a publish; refuses with `queue_full` when the bound is reached. True if added. */
  add(p: Pending): boolean {
    if (this.items.has(p.id)) {
      p.reject(new ChatError('duplicate_id', `a publish with id ${p.id} is already pending`, p.id));
      return false;
    }
    if (this.items.size >= this.limit) {
      p.reject(new ChatError('queue_full', `more than ${this.limit} publishes are waiting`, p.id));
      return false;
    }
    this.items.set(p.id, p);
    return true;
  }

  /** Every pending frame, oldest first. */
  frames(): string[] {
    return [...this.items.values()].map((p) => p.frame);
  }

  /**
   * Sends, oldest first, every pending frame not yet sent on `conn`; a frame over `maxBytes`
   * is rejected with `too_large` instead. Frames added while sending (none today: sending
   * runs no application code) would be sent in the same pass, after the older ones.
   */
  sendUnsent(conn: object, send: (frame: string) => void, maxBytes: number): void {
    for (const p of this.items.values()) {
      if (p.sentOn === conn) continue;
      const bytes = (p.bytes ??= utf8Length(p.frame));
      if (bytes > maxBytes) {
        this.settle(p)?.reject(tooLarge(bytes, maxBytes, p.id));
        continue;
      }
      p.sentOn = conn;
      send(p.frame);
    }
  }

  ack(id: string | undefined, seq: number): boolean {
    const p = this.settle(id === undefined ? undefined : this.items.get(id));
    p?.resolve({ id: p.id, seq });
    return p !== undefined;
  }

  fail(id: string | undefined, err: ChatError): boolean {
    const p = this.settle(id === undefined ? undefined : this.items.get(id));
    p?.reject(err);
    return p !== undefined;
  }

  /** Rejects this very entry, if it is still pending (not another one with its id). */
  failEntry(p: Pending, err: ChatError): boolean {
    if (this.items.get(p.id) !== p) return false;
    this.items.delete(p.id);
    p.reject(err);
    return true;
  }

  failAll(err: (id: string) => ChatError): void {
    const all = [...this.items.values()];
    this.items.clear();
    for (const p of all) p.reject(err(p.id));
  }

  private settle(p: Pending | undefined): Pending | undefined {
    if (p) this.items.delete(p.id);
    return p;
  }
}
