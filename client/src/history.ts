// History over HTTP: a page of a room's log (`GET /rooms/{room}/messages`).

import type { MessageFrame } from './frames.js';
import { ChatError, errorMessage } from './errors.js';
import { httpBase, roomPath } from './urls.js';

/** The part of `fetch` the client uses (history, and the check of a refused token). */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; statusText?: string; json(): Promise<unknown> }>;

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
  messages: MessageFrame<T>[];
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
  const doFetch = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (!doFetch) throw new ChatError('network_error', 'no fetch available: pass one as `fetch`');
  const q = new URLSearchParams();
  if (opts.before !== undefined) q.set('before', String(opts.before));
  if (opts.since !== undefined) q.set('since', String(opts.since));
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const query = q.toString();
  const url = `${httpBase(opts.url)}${roomPath(opts.room)}/messages${query ? `?${query}` : ''}`;
  let res: Awaited<ReturnType<FetchLike>>;
  try {
    res = await doFetch(url, {
      headers: { authorization: `Bearer ${opts.token}` },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (e) {
    throw new ChatError(opts.signal?.aborted ? 'aborted' : 'network_error', errorMessage(e));
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new ChatError(
      typeof err?.code === 'string' ? err.code : `http_${res.status}`,
      typeof err?.message === 'string' ? err.message : `HTTP ${res.status} ${res.statusText ?? ''}`.trim(),
      undefined,
      res.status,
    );
  }
  const page = body as Partial<HistoryPage<T>> | undefined;
  if (!page || !Array.isArray(page.messages)) throw new ChatError('bad_response', 'the history answer has no `messages`', undefined, res.status);
  return { messages: page.messages, next: typeof page.next === 'number' ? page.next : null };
}
