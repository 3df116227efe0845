// Waiting until a room handle is open: the promise behind `room.ready()`.

import { ChatError, errorMessage } from './errors.js';
import type { Events } from './events.js';
import type { Handler } from './emitter.js';

/** How long `ready()` waits. */
export interface ReadyOptions {
  /** Reject with a `timeout` ChatError if the handle is not open within this many ms
   * (default: no limit — it waits as long as the handle keeps trying). */
  timeoutMs?: number;
  /** Reject with an `aborted` ChatError when this signal aborts. */
  signal?: AbortSignal;
}

/** What the wait needs of the room handle. */
export interface ReadyHost {
  /** The handle is open now. */
  isOpen(): boolean;
  /** Why it will not open: a `failed` or `closed` ChatError, or undefined while it keeps trying. */
  over(): ChatError | undefined;
  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void;
}

/**
 * Resolves at once while the handle is open, else on its next welcome; rejects when the handle
 * fails or closes first, or on `timeoutMs` or `signal`. Its handlers and timer go as soon as it
 * settles.
 */
export function untilOpen(host: ReadyHost, options: ReadyOptions = {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const over = host.over();
    if (over) return reject(over);
    if (host.isOpen()) return resolve();
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return reject(new ChatError('aborted', `aborted: ${errorMessage(signal.reason)}`));

    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => settle(new ChatError('aborted', `aborted: ${errorMessage(signal?.reason)}`));
    const ended = () => settle(host.over() ?? new ChatError('closed', 'the room handle ended'));
    const unsubscribe = [host.on('welcome', () => settle(undefined)), host.on('failed', ended), host.on('closed', ended)];
    function settle(error: ChatError | undefined): void {
      for (const off of unsubscribe) off();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    }
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => settle(new ChatError('timeout', `not open within ${timeoutMs} ms`)), timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
