// Typed event handlers; a throwing handler is reported, never fatal.

export type Handler<T> = (value: T) => void;

/** A browser's (or a Worker's) `reportError`; elsewhere (Node) `console.error` — rethrowing
 * there would end the process. */
function defaultHandlerError(error: unknown, event: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else console.error(`@edge-chat/client: a '${String(event)}' handler threw:`, error);
}

/** Typed handlers per event; a handler that throws does not stop the others. */
export class Emitter<E> {
  private readonly handlers = new Map<keyof E, Set<Handler<never>>>();

  constructor(private readonly onError: (error: unknown, event: keyof E) => void = defaultHandlerError) {}

  on<K extends keyof E>(event: K, handler: Handler<E[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => {
      set.delete(handler as Handler<never>);
    };
  }

  emit<K extends keyof E>(event: K, value: E[K]): void {
    const set = this.handlers.get(event);
    if (!set || set.size === 0) return;
    for (const h of [...set]) {
      try {
        (h as Handler<E[K]>)(value);
      } catch (e) {
        // An application handler's bug must not break the connection.
        this.onError(e, event);
      }
    }
  }
}
