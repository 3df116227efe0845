// The worker's HTTP reads with a user token (history, members): one GET, the token in the
// `Authorization` header (never in the URL), the server's refusals turned into ChatErrors.

import { ChatError, errorMessage } from './errors.js';

/** The part of `fetch` the client uses (history, members, and the check of a refused token). */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; statusText?: string; json(): Promise<unknown> }>;

/**
 * GETs `url` with `token` and returns the JSON body of a 2xx answer. Rejects with a
 * {@link ChatError}: the server's `{"error":{code,message}}` (else `http_<status>`) with the HTTP
 * `status`, `network_error` (or `aborted`, when `signal` aborted the request).
 */
export async function getJson(url: string, token: string, fetch: FetchLike | undefined, signal?: AbortSignal): Promise<{ body: unknown; status: number }> {
  const doFetch = fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (!doFetch) throw new ChatError('network_error', 'no fetch available: pass one as `fetch`');
  let res: Awaited<ReturnType<FetchLike>>;
  try {
    res = await doFetch(url, { headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw new ChatError(signal?.aborted ? 'aborted' : 'network_error', errorMessage(e));
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
  return { body, status: res.status };
}
