// The WebSocket as the client uses it.

/** A handler property checked like a method (bivariantly): the platforms' own socket types (the
 * DOM's `WebSocket`, `ws`'s) declare narrower event types than the client reads, and must still
 * be assignable as they are — `WebSocket: WebSocket`, no cast. */
type Listener<E> = { bivarianceHack(ev: E): void }['bivarianceHack'];

/** The subset of the WebSocket API the client uses. */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<{ code: number; reason?: string }> | null;
  onerror: Listener<unknown> | null;
}
export type WebSocketLike = new (url: string, protocols?: string | string[]) => SocketLike;

export const OPEN = 1;
/** The close code the client uses when it drops a connection itself. */
export const CLIENT_DROP = 4000;

/** The server's close codes for connections it ends on purpose (each preceded by a `closing`
 * frame). */
export const TOKEN_EXPIRED = 4001;
/** After these the handle stops: reconnecting would be refused, or is not wanted. */
export const FINAL_CLOSES: readonly number[] = [4003, 4004, 4005, 4006]; // kicked, banned, revoked, room_deleted

/** The code to close this side with when the server asks (`closing`): its own code where a
 * client may send it (1000, 3000–4999: browsers throw on others), else 1000. */
export function closeCodeFor(serverCode: number): number {
  return serverCode === 1000 || (serverCode >= 3000 && serverCode <= 4999) ? serverCode : 1000;
}

export function closeQuietly(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    /* already closing, or a code the platform rejects: the socket is detached anyway */
  }
}
