// Browser life cycle: `offline`/`online` and the page becoming visible.

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** Listens to `offline`/`online` and `visibilitychange` where the globals exist; returns the
 * function that stops listening. */
export function watchBrowser(on: { offline(): void; online(): void; visible(): void }): () => void {
  const g = globalThis as {
    addEventListener?: unknown;
    navigator?: { onLine?: unknown };
    document?: EventTargetLike & { visibilityState?: string };
  };
  const stops: (() => void)[] = [];
  const listen = (target: EventTargetLike, type: string, fn: () => void) => {
    try {
      target.addEventListener(type, fn);
      stops.push(() => target.removeEventListener(type, fn));
    } catch {
      /* a platform that has the method but not these events */
    }
  };
  if (watchesNetwork()) {
    const target = g as unknown as EventTargetLike;
    listen(target, 'offline', () => on.offline());
    listen(target, 'online', () => on.online());
  }
  const doc = g.document;
  if (doc && typeof doc.addEventListener === 'function') {
    listen(doc, 'visibilitychange', () => {
      if (doc.visibilityState === 'visible') on.visible();
    });
  }
  return () => stops.splice(0).forEach((stop) => stop());
}

/** Whether the platform says when it goes offline and online (`online`/`offline` events and
 * `navigator.onLine`): a browser's window or worker. */
export function watchesNetwork(): boolean {
  const g = globalThis as { addEventListener?: unknown; navigator?: { onLine?: unknown } };
  return typeof g.addEventListener === 'function' && typeof g.navigator?.onLine === 'boolean';
}

export function isOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: unknown } }).navigator?.onLine === false;
}
