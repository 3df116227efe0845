// Minting an edge-chat user token on your own backend, in Node with jose (`npm install jose`).
// See docs/auth.md. As a script:
//
//   SIGNING_KEY_FILE=private.pem node mint-token.mjs my-key-1 alice [lobby,random]  # RS256
//   SIGNING_KEY_FILE=ec.pem ALG=ES256 node mint-token.mjs my-key-2 alice           # ES256, EdDSA
//   SIGNING_SECRET=... ALG=HS256 node mint-token.mjs 2026-06 alice                 # AUTH_SECRETS
//
// ISSUER and AUDIENCE set `iss` and `aud` (when the worker has AUTH_ISSUER, AUTH_AUDIENCE).
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, importPKCS8 } from 'jose';

/**
 * A token for `user`, signed with a PKCS#8 PEM private key (RS256, ES256, EdDSA: the worker
 * finds its public half in AUTH_JWKS_URL's set under `kid`) or with `secret` (HS256: the
 * worker's AUTH_SECRETS lists it under `kid`).
 */
export async function mintToken({ user, kid, alg = 'RS256', privateKeyPem, secret, rooms, issuer, audience, ttlSeconds = 3600 }) {
  const key = alg === 'HS256' ? new TextEncoder().encode(secret) : await importPKCS8(privateKeyPem, alg);
  const jwt = new SignJWT(rooms ? { rooms } : {})
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setSubject(user)
    .setIssuedAt() // what a revocation compares
    .setExpirationTime(`${ttlSeconds}s`); // at most MAX_TOKEN_LIFETIME_SECONDS (7 days)
  if (issuer) jwt.setIssuer(issuer);
  if (audience) jwt.setAudience(audience);
  return jwt.sign(key);
}

/** The public JWK of a PEM key (private or public), as your JWKS endpoint lists it:
 * `{"keys": [jwk, ...]}`. */
export async function publicJwk(pem, kid, alg = 'RS256') {
  return { ...(await exportJWK(createPublicKey(pem))), kid, alg, use: 'sig' };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [kid, user, rooms] = process.argv.slice(2);
  const env = process.env;
  console.log(await mintToken({
    user,
    kid,
    alg: env.ALG ?? 'RS256',
    privateKeyPem: env.SIGNING_KEY_FILE && readFileSync(env.SIGNING_KEY_FILE, 'utf8'),
    secret: env.SIGNING_SECRET,
    rooms: rooms?.split(','),
    issuer: env.ISSUER,
    audience: env.AUDIENCE,
  }));
}
