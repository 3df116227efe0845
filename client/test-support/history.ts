// A scripted fake of the worker's history API (`GET /rooms/{room}/messages?since=N|before=N&limit=L`)
// for the client's unit tests: it answers from `log` like the worker (oldest first after `since`,
// newest first before `before` or from the newest; `next` the last seq of a page when more
// follow, else null), records every request, fails the ones the test scripts, and
// can hold its answers until the test releases them.
import { msg } from './fake.js';

type Answer = { ok: boolean; status: number; json(): Promise<unknown> };
type Failure = number | 'network';

export function fakeHistory(seqs: number[]) {
  /** The seqs the "server" still has (tests may trim it). */
  const log = { seqs };
  const calls: { url: string; since: number; limit: number; authorization: string | undefined }[] = [];
  const failures: (Failure | null)[] = [];
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  let heldFrom = 0;
  const fetch = async (url: string, init: { headers: Record<string, string>; signal?: AbortSignal }): Promise<Answer> => {
    const q = new URL(url).searchParams;
    const since = Number(q.get('since') ?? 0);
    const limit = Number(q.get('limit') ?? 50);
    // Newest first with `before`, or with neither cursor (from the newest).
    const backwards = q.has('before') || !q.has('since');
    const before = q.has('before') ? Number(q.get('before')) : Infinity;
    calls.push({ url, since, limit, authorization: init.headers.authorization });
    if (gate && calls.length > heldFrom) await gate;
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const failure = failures.shift();
    if (failure === 'network') throw new TypeError('fetch failed');
    if (failure !== undefined && failure !== null) {
      return { ok: false, status: failure, json: async () => ({ error: { code: 'internal', message: `HTTP ${failure}` } }) };
    }
    if (backwards) {
      const page = log.seqs.filter((s) => s < before).reverse().slice(0, limit);
      const more = log.seqs.some((s) => s < (page[page.length - 1] ?? before)) && page.length === limit;
      return { ok: true, status: 200, json: async () => ({ messages: page.map(msg), next: more ? page[page.length - 1] : null }) };
    }
    const page = log.seqs.filter((s) => s > since).slice(0, limit);
    const more = log.seqs.some((s) => s > (page[page.length - 1] ?? since)) && page.length === limit;
    return { ok: true, status: 200, json: async () => ({ messages: page.map(msg), next: more ? page[page.length - 1] : null }) };
  };
  return Object.assign(fetch, {
    calls,
    log,
    /** How the next answers go: an HTTP status, `network` (fetch rejects), or null (normal). */
    fail(...next: (Failure | null)[]) {
      failures.push(...next);
    },
    /** Answers wait until `release()`: all of them, or those after the first `after` calls. */
    hold(after = 0) {
      heldFrom = after;
      gate = new Promise<void>((r) => (open = r));
    },
    release() {
      gate = undefined;
      open();
    },
  });
}

export const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
