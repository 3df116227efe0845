// Tokens (JWTs) as far as the client reads them: their expiry.

/** Seconds-since-epoch `exp` of a JWT, or undefined if it cannot be read. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = JSON.parse(json).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** True when the token's `exp` is within `marginMs` of now (or past). */
export function expiresSoon(token: string, marginMs = 5000): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp * 1000 <= Date.now() + marginMs;
}
