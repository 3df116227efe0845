// Async iteration of a room's messages: `for await (const m of room.messages())`. Messages are
// pushed by the socket, not pulled, and a socket cannot be told to wait: a consumer that falls
// behind is buffered up to a bound, and past it the iteration fails rather than skip messages
// silently (the client promises every message once, in order).

import { ChatError } from './errors.js';
import type { Events } from './events.js';
import type { Handler } from './emitter.js';
import type { MessageFrame } from './frames.js';

/** Options of `room.messages()`. */
export interface MessagesOptions {
  /** Messages kept for a consumer that has not asked for them yet (default 1000). One more
   * makes the iteration fail with an `overflow` ChatError once the buffered ones are consumed. */
  bufferSize?: number;
  /** Ends the iteration when it aborts (a waiting `next()` is done; buffered messages dropped). */
  signal?: AbortSignal;
}

/** What the iteration needs of the room handle. */
export interface MessagesHost {
  /** The handle is `closed` or `failed`: there is nothing to wait for. */
  over(): boolean;
  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void;
}

export const DEFAULT_BUFFER = 1000;

type Waiter<V> = { resolve: (r: IteratorResult<V>) => void; reject: (e: unknown) => void };

/**
 * An async iterator fed by `push`: values wait in a buffer of at most `limit` until asked for.
 * `end()` finishes it after the buffered values, `abort()` at once; one value too many fails it
 * (the buffered values first, then the error from `overflow`). `stop` runs once, when no more
 * values will be taken.
 */
export class PushIterator<V> implements AsyncIterableIterator<V> {
  private buffer: V[] = [];
  private readonly waiters: Waiter<V>[] = [];
  /** No more values will be taken. */
  private closed = false;
  /** Thrown once the buffer is drained. */
  private error: unknown;

  constructor(
    private readonly limit: number,
    private readonly overflow: (buffered: V[]) => unknown,
    private readonly stop: () => void,
  ) {}

  push(value: V): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve({ value, done: false });
    if (this.buffer.length >= this.limit) {
      this.error = this.overflow(this.buffer);
      this.finish();
      return;
    }
    this.buffer.push(value);
  }

  /** No more values: the buffered ones are still delivered, then it is done. */
  end(): void {
    this.finish();
  }

  /** Done now: the buffered values are dropped. */
  abort(): void {
    this.buffer = [];
    this.error = undefined;
    this.finish();
  }

  next(): Promise<IteratorResult<V>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The consumer is done (a `break` out of `for await`). */
  return(): Promise<IteratorResult<V>> {
    this.abort();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<V> {
    return this;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    // Whoever waits has an empty buffer in front: the error, if any, goes to the first.
    for (const waiter of this.waiters.splice(0)) {
      if (this.error !== undefined) {
        waiter.reject(this.error);
        this.error = undefined;
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
  }
}

/**
 * The `message` events of `host` from now on, as an async iterator: ends when the handle closes
 * or fails (after what was buffered), when `signal` aborts, or when the consumer stops.
 */
export function iterateMessages<T>(host: MessagesHost, options: MessagesOptions = {}): AsyncIterableIterator<MessageFrame<T>> {
  const limit = Math.max(1, options.bufferSize ?? DEFAULT_BUFFER);
  const signal = options.signal;
  const unsubscribe: (() => void)[] = [];
  const onAbort = () => it.abort();
  const it = new PushIterator<MessageFrame<T>>(
    limit,
    (buffered) =>
      new ChatError(
        'overflow',
        `the consumer fell more than ${limit} messages behind: those after seq ${buffered[buffered.length - 1].seq} were not ` +
          'given to it (read them with history({since}))',
      ),
    () => {
      for (const off of unsubscribe.splice(0)) off();
      signal?.removeEventListener('abort', onAbort);
    },
  );
  if (host.over() || signal?.aborted) {
    it.end();
    return it;
  }
  unsubscribe.push(
    host.on('message', (m) => it.push(m as MessageFrame<T>)),
    host.on('closed', () => it.end()),
    host.on('failed', () => it.end()),
  );
  signal?.addEventListener('abort', onAbort, { once: true });
  return it;
}
