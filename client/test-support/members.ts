// A scripted fake of the worker's member list (`GET /rooms/{room}/members?after=U&limit=L`) for
// the client's unit tests: it answers from `users` like the worker (ordered by user id, after
// `after`, at most `limit` (default 100); `next_after` only when more follow), records every
// request, and fails the ones the test scripts.
import type { Member } from '../src/index.js';

type Failure = number | 'network';

export function fakeMembers(ids: string[]) {
  const users: Member[] = [...ids].sort().map((user_id) => ({ user_id, connections: 1 }));
  const calls: { url: string; after: string | null; limit: number; authorization: string | undefined }[] = [];
  const failures: (Failure | null)[] = [];
  /** What the server answers instead of the real next_after (a broken server), when set. */
  let cursor: ((real: string | undefined) => string | undefined) | undefined;
  const fetch = async (url: string, init: { headers: Record<string, string>; signal?: AbortSignal }) => {
    const q = new URL(url).searchParams;
    const after = q.get('after');
    const limit = Number(q.get('limit') ?? 100);
    calls.push({ url, after, limit, authorization: init.headers.authorization });
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const failure = failures.shift();
    if (failure === 'network') throw new TypeError('fetch failed');
    if (failure !== undefined && failure !== null) {
      const code = failure === 401 ? 'unauthorized' : failure === 403 ? 'banned' : 'internal';
      return { ok: false, status: failure, json: async () => ({ error: { code, message: `HTTP ${failure}` } }) };
    }
    const rest = users.filter((m) => after === null || m.user_id > after);
    const page = rest.slice(0, limit);
    const real = rest.length > limit ? page[page.length - 1].user_id : undefined;
    const next = cursor ? cursor(real) : real;
    const room = decodeURIComponent(new URL(url).pathname.split('/')[2]);
    return {
      ok: true,
      status: 200,
      json: async () => ({ room, member_count: users.length, members: page, ...(next !== undefined ? { next_after: next } : {}) }),
    };
  };
  return Object.assign(fetch, {
    calls,
    users,
    /** How the next answers go: an HTTP status, `network` (fetch rejects), or null (normal). */
    fail(...next: (Failure | null)[]) {
      failures.push(...next);
    },
    /** Answer this `next_after` instead of the right one. */
    brokenCursor(answer: (real: string | undefined) => string | undefined) {
      cursor = answer;
    },
  });
}
