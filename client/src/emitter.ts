// Typed event handlers; a throwing handler is reported, never fatal.

export type Handler<T> = (value: T) => void;

/** Reports an error thrown where the client cannot let it out (a handler, the logger): a
 * browser's (or a Worker's) `reportError`; elsewhere (Node) `console.error` — rethrowing there
 * would end the process. */
export function reportLater(error: unknown, what = 'a handler'): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else console.error(`@edge-chat/client: ${what} threw:`, error);
}

function defaultHandlerError(error: unknown, event: unknown): void {
  reportLater(error, `a '${String(event)}' handler`);
}

/**
 * Typed handlers per event; a handler that throws does not stop the others. A handler is
 * registered once per event: adding it again keeps its place (after `on` then `once`, or `once`
 * then `on`, the latter holds). A handler removed while an event is being delivered is
 * not called for it any more, like the DOM's `removeEventListener`.
 */
export class Emitter<E> {
  /** Per event: the application's handler → what is called for it (itself, or `once`'s
   * wrapper), in the order they were added. */
  private readonly handlers = new Map<keyof E, Map<Handler<never>, Handler<never>>>();

  constructor(private readonly onError: (error: unknown, event: keyof E) => void = defaultHandlerError) {}

  /** Adds `handler`; returns the function that removes it. */
  on<K extends keyof E>(event: K, handler: Handler<E[K]>): () => void {
    return this.add(event, handler, handler);
  }

  /** Adds `handler` for the next `event` only; returns the function that removes it before. */
  once<K extends keyof E>(event: K, handler: Handler<E[K]>): () => void {
    const call: Handler<E[K]> = (value) => {
      // Removed before it runs: an event it causes itself does not reach it again.
      if (!this.remove(event, handler, call)) return;
      handler(value);
    };
    return this.add(event, handler, call);
  }

  /** Removes `handler` (added with `on` or `once`); nothing if it is not there. */
  off<K extends keyof E>(event: K, handler: Handler<E[K]>): void {
    this.handlers.get(event)?.delete(handler as Handler<never>);
  }

  emit<K extends keyof E>(event: K, value: E[K]): void {
    const map = this.handlers.get(event);
    if (!map || map.size === 0) return;
    for (const [handler, call] of [...map]) {
      if (map.get(handler) !== call) continue; // removed (or replaced) by an earlier handler
      try {
        (call as Handler<E[K]>)(value);
      } catch (e) {
        // An application handler's bug must not break the connection.
        this.onError(e, event);
      }
    }
  }

  private add<K extends keyof E>(event: K, handler: Handler<E[K]>, call: Handler<E[K]>): () => void {
    let map = this.handlers.get(event);
    if (!map) this.handlers.set(event, (map = new Map()));
    map.set(handler as Handler<never>, call as Handler<never>);
    return () => {
      this.remove(event, handler, call);
    };
  }

  /** Removes `handler` if it is still registered with `call`. True when it was. */
  private remove<K extends keyof E>(event: K, handler: Handler<E[K]>, call: Handler<E[K]>): boolean {
    const map = this.handlers.get(event);
    if (map?.get(handler as Handler<never>) !== call) return false;
    map.delete(handler as Handler<never>);
    return true;
  }
}
