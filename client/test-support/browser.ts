// A scripted fake of the browser globals the client listens to (`addEventListener` for
// `offline`/`online`, `navigator.onLine`, `document` and `visibilitychange`) for the client's unit
// tests. `restore()` puts the real globals back.

export function fakeBrowser() {
  const listeners = new Map<string, Set<() => void>>();
  const target = () => ({
    addEventListener: (type: string, fn: () => void) => {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type)!.add(fn);
    },
    removeEventListener: (type: string, fn: () => void) => void listeners.get(type)?.delete(fn),
  });
  const win = target();
  const doc = { ...target(), visibilityState: 'visible' };
  const nav = { onLine: true };
  const g = globalThis as Record<string, unknown>;
  const saved = ['addEventListener', 'removeEventListener', 'navigator', 'document'].map(
    (k) => [k, Object.getOwnPropertyDescriptor(g, k)] as const,
  );
  const set = (k: string, value: unknown) => Object.defineProperty(g, k, { value, configurable: true, writable: true });
  set('addEventListener', win.addEventListener);
  set('removeEventListener', win.removeEventListener);
  set('navigator', nav);
  set('document', doc);
  return {
    fire(type: string) {
      if (type === 'offline' || type === 'online') nav.onLine = type === 'online';
      for (const fn of [...(listeners.get(type) ?? [])]) fn();
    },
    show(visible: boolean) {
      doc.visibilityState = visible ? 'visible' : 'hidden';
      this.fire('visibilitychange');
    },
    count: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
    restore() {
      for (const [k, d] of saved) {
        if (d) Object.defineProperty(g, k, d);
        else delete g[k];
      }
    },
  };
}
