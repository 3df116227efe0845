// Minimal HMAC JWT signer for tests (node:crypto), so tests can forge expired, unsigned,
// wrongly signed and other-algorithm tokens without depending on the code under test.
import { createHmac } from 'node:crypto';

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const HASH = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** A token for `claims`, signed with `secret` using `alg` (HS256, HS384, HS512 or none). */
function sign(claims, secret, alg = 'HS256') {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  if (alg === 'none') return `${head}.`;
  const sig = createHmac(HASH[alg], secret).update(head).digest('base64url');
  return `${head}.${sig}`;
}

/** The claims of a token (not verified). */
function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

export default { sign, claims };
