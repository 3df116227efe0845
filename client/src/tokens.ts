// Tokens (JWTs) as far as the client reads them: their expiry and the rooms they may join.

/** The payload of a JWT, or undefined if it cannot be read. */
function claims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds-since-epoch `exp` of a JWT, or undefined if it cannot be read. */
export function tokenExpiry(token: string): number | undefined {
  const exp = claims(token)?.exp;
  return typeof exp === 'number' ? exp : undefined;
}

/** True when the token's `exp` is within `marginMs` of now (or past). */
export function expiresSoon(token: string, marginMs = 5000): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp * 1000 <= Date.now() + marginMs;
}

/** Whether the token may join `room` as far as the client can tell: its `rooms` claim lists
 * it, or it has none (any room), or the token cannot be read (the server decides). */
export function allowsRoom(token: string, room: string): boolean {
  const rooms = claims(token)?.rooms;
  return !Array.isArray(rooms) || rooms.includes(room);
}
