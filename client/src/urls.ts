// The worker's URLs: a room's HTTP path and its WebSocket, and how a token reaches it.

export function httpBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/^ws/, 'http');
}

export function roomPath(room: string): string {
  return `/rooms/${encodeURIComponent(room)}`;
}

/** How the token travels with the WebSocket upgrade: `protocol` (default) offers it as the
 * subprotocol `edge-chat.token.<jwt>` next to `edge-chat.v1` (the 101 selects `edge-chat.v1`);
 * `query` puts it in the URL as `?token=`, for platforms whose WebSocket cannot offer
 * subprotocols — the URL then ends up in proxy and server logs. */
export type TokenTransport = 'protocol' | 'query';

/** The protocol the server selects, and the prefix of the one carrying the token
 * (docs/protocol.md, Connecting). */
export const PROTOCOL = 'edge-chat.v1';
export const TOKEN_PROTOCOL_PREFIX = 'edge-chat.token.';

/** What a subprotocol may contain (RFC 6455: an RFC 7230 token). A JWT always fits. */
const PROTOCOL_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `token` can be offered as a subprotocol (a WebSocket refuses other characters). */
export function fitsProtocol(token: string): boolean {
  return PROTOCOL_CHARS.test(TOKEN_PROTOCOL_PREFIX + token);
}

/** A connection attempt: the URL (the resume point and the batch opt-in in its query, and the
 * token with `query`) and the subprotocols to offer (with `protocol`). */
export interface SocketTarget {
  url: string;
  protocols?: string[];
}

export function socketTarget(
  url: string,
  room: string,
  token: string,
  since: number | undefined,
  batch: boolean,
  transport: TokenTransport = 'protocol',
): SocketTarget {
  const base = url.replace(/\/+$/, '').replace(/^http/, 'ws');
  const q = new URLSearchParams(transport === 'query' ? { token } : {});
  if (since !== undefined) q.set('since', String(since));
  if (batch) q.set('batch', '1');
  const query = q.toString();
  const target = `${base}${roomPath(room)}/ws${query ? `?${query}` : ''}`;
  return transport === 'query' ? { url: target } : { url: target, protocols: [PROTOCOL, TOKEN_PROTOCOL_PREFIX + token] };
}
