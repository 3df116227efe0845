// History over HTTP: a page of a room's log (`GET /rooms/{room}/messages`).

import type { LogFrame } from './frames.js';
import { ChatError } from './errors.js';
import { getJson, type FetchLike } from './http.js';
import { httpBase, roomPath } from './urls.js';
import type { MessageStates } from './state.js';

export type { FetchLike } from './http.js';

/** A page query: `before` (newest first, seq < before; neither: from the newest) or `since`
 * (oldest first, seq > since); `limit` 1–200 (server default 50). */
export interface HistoryQuery {
  before?: number;
  since?: number;
  limit?: number;
  signal?: AbortSignal;
}

/** A page of the room's log, in the server's order (newest first unless `since` was given);
 * `next` is the cursor for the following page (`null`: no more). `T`: the messages' data type. */
export interface HistoryPage<T = unknown> {
  /** Messages in their current state and the `edit`, `delete` and `react` events on them (see
   * {@link MessageStates}), by seq. */
  messages: LogFrame<T>[];
  next: number | null;
}

export interface HistoryOptions extends HistoryQuery {
  /** The worker's base URL (http(s) or ws(s)). */
  url: string;
  room: string;
  token: string;
  fetch?: FetchLike;
}

/**
 * Reads a page of a room's history (`GET /rooms/{room}/messages`). The token goes in the
 * `Authorization` header, never in the URL. Rejects with a {@link ChatError}: the server's
 * code and the HTTP `status`, or `network_error`. `T`: the messages' data type (not checked).
 */
export async function fetchHistory<T = unknown>(opts: HistoryOptions): Promise<HistoryPage<T>> {
  const q = new URLSearchParams();
  if (opts.before !== undefined) q.set('before', String(opts.before));
  if (opts.since !== undefined) q.set('since', String(opts.since));
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const query = q.toString();
  const url = `${httpBase(opts.url)}${roomPath(opts.room)}/messages${query ? `?${query}` : ''}`;
  const { body, status } = await getJson(url, opts.token, opts.fetch, opts.signal);
  const page = body as Partial<HistoryPage<T>> | undefined;
  if (!page || !Array.isArray(page.messages)) throw new ChatError('bad_response', 'the history answer has no `messages`', undefined, status);
  return { messages: page.messages, next: typeof page.next === 'number' ? page.next : null };
}
