// The worker's URLs: a room's HTTP path and its WebSocket.

export function httpBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/^ws/, 'http');
}

export function roomPath(room: string): string {
  return `/rooms/${encodeURIComponent(room)}`;
}

/** The WebSocket URL of a connection attempt: the token (browsers cannot set WebSocket
 * headers), the resume point and the batch opt-in in the query. */
export function socketUrl(url: string, room: string, token: string, since: number | undefined, batch: boolean): string {
  const base = url.replace(/\/+$/, '').replace(/^http/, 'ws');
  const q = new URLSearchParams({ token });
  if (since !== undefined) q.set('since', String(since));
  if (batch) q.set('batch', '1');
  return `${base}${roomPath(room)}/ws?${q}`;
}
