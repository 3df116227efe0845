// Why did an attempt fail? Asking the front worker whether it refuses the token.

import type { FailedEvent } from './events.js';
import { ChatError } from './errors.js';
import { fetchHistory, type HistoryOptions } from './history.js';
import { later } from './timers.js';

/**
 * Asks the front worker whether it refuses this token for this room, without touching the
 * room: a history request with `limit=0`. The worker checks the room name, then the token,
 * then the query, so the answer is 400 `bad_room`, 401/403 (refused: returned), or 400
 * `bad_request` (the token is accepted; the invalid limit stops the request before the room).
 * Anything else — unreachable, blocked (CORS), a changed order of checks — teaches nothing:
 * undefined.
 */
export async function probeToken(opts: HistoryOptions, timeoutMs: number): Promise<FailedEvent | undefined> {
  const abort = typeof AbortController === 'function' ? new AbortController() : undefined;
  const timer = abort && timeoutMs > 0 ? later(() => abort.abort(), timeoutMs) : undefined;
  try {
    await fetchHistory({ ...opts, limit: 0, ...(abort ? { signal: abort.signal } : {}) });
    return undefined;
  } catch (e) {
    if (e instanceof ChatError && (e.status === 401 || e.status === 403 || (e.status === 400 && e.code === 'bad_room'))) {
      return { code: e.code, message: e.message, status: e.status };
    }
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
