// Reading page after page: each page's cursor gives the next query, until there is none. Shared by
// `room.historyPages()` (history, by seq, either direction) and `room.memberPages()` (members,
// by user id).

import { ChatError } from './errors.js';
import type { HistoryPage, HistoryQuery } from './history.js';
import type { MemberPage, MembersQuery } from './members.js';

/**
 * The pages from `first` on, each read with the previous one's cursor (`next`), until the server
 * says there are no more. Pages without an item are not yielded. A cursor that does not move on
 * (`moved` false) ends the iteration with a `bad_response` ChatError, rather than reading the
 * same page forever.
 */
export async function* follow<Q, P extends { next: C | null }, C>(
  read: (query: Q) => Promise<P>,
  first: Q,
  size: (page: P) => number,
  nextQuery: (query: Q, cursor: C) => Q,
  moved: (query: Q, cursor: C) => boolean,
): AsyncGenerator<P, void, undefined> {
  let query = first;
  for (;;) {
    const page = await read(query);
    if (size(page) > 0) yield page;
    const cursor = page.next;
    if (cursor === null) return;
    if (!moved(query, cursor)) throw new ChatError('bad_response', `the server's next page cursor (${String(cursor)}) does not move on`);
    query = nextQuery(query, cursor);
  }
}

/** History pages: newest first from `before` (or from the newest), or oldest first from `since`. */
export function historyPages<T>(read: (query: HistoryQuery) => Promise<HistoryPage<T>>, first: HistoryQuery): AsyncGenerator<HistoryPage<T>, void, undefined> {
  const forward = first.since !== undefined;
  return follow<HistoryQuery, HistoryPage<T>, number>(
    read,
    first,
    (page) => page.messages.length,
    (query, next) => (forward ? { ...query, since: next } : { ...query, before: next }),
    (query, next) => (forward ? next > (query.since ?? -Infinity) : next < (query.before ?? Infinity)),
  );
}

/** Member pages, by user id, from after `first.after`. */
export function memberPages(read: (query: MembersQuery) => Promise<MemberPage>, first: MembersQuery): AsyncGenerator<MemberPage, void, undefined> {
  return follow<MembersQuery, MemberPage, string>(
    read,
    first,
    (page) => page.members.length,
    (query, next) => ({ ...query, after: next }),
    // Not `next > after`: the server orders by UTF-8 bytes, JavaScript compares UTF-16 units.
    (query, next) => next !== query.after,
  );
}
