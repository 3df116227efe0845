// The WebSocket as the client uses it.

/** The subset of the WebSocket API the client uses. */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketLike = new (url: string, protocols?: string | string[]) => SocketLike;

export const OPEN = 1;
/** The close code the client uses when it drops a connection itself. */
export const CLIENT_DROP = 4000;

/** The server's close codes for connections it ends on purpose (each preceded by a `closing`
 * frame). */
export const TOKEN_EXPIRED = 4001;
/** After these the handle stops: reconnecting would be refused, or is not wanted. */
export const FINAL_CLOSES: readonly number[] = [4003, 4004, 4005]; // kicked, banned, revoked

export function closeQuietly(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    /* already closing, or a code the platform rejects: the socket is detached anyway */
  }
}
