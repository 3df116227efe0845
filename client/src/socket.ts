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

export function closeQuietly(ws: SocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    /* already closing, or a code the platform rejects: the socket is detached anyway */
  }
}
