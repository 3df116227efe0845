// An identity provider as the worker sees one (issue 21): signing keys made here with
// node:crypto, tokens signed with them by `jose` (panva/jose, the library a Node backend would
// use), and a real JWKS endpoint (node:http on a free loopback port) that the worker fetches
// through AUTH_JWKS_URL. The endpoint counts its fetches, serves what the test says (keys added
// and removed, a Cache-Control header), answers an error status, or goes down (the port closed).
//
// Hand-made tokens too, for what no library signs on purpose: `alg: none`, and HS256 keyed with
// a public key's text (the algorithm confusion attack).
import http from 'node:http';
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { nowS } from './sessions.mjs';
import { tryConnect } from './client.mjs';

const KINDS = {
  RS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};

let kids = 0;

/**
 * A signing key for `alg` (RS256, ES256 or EdDSA): `{alg, kid, privateKey, publicKey,
 * privatePem, publicPem, jwk}`; `jwk` is the public key as a JWKS lists it (`kid`, `use: sig`,
 * and `alg` as Auth0, Clerk, Cognito and Firebase publish it).
 */
export function newKey(alg, kid = `${alg.toLowerCase()}-${process.pid}-${++kids}`) {
  const [type, opts] = KINDS[alg];
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type, opts);
  return {
    alg,
    kid,
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg },
  };
}

/**
 * A token for `sub` signed with `key` by jose: `exp` an hour ahead and `iat` now unless
 * `claims` says otherwise (`undefined` removes a claim); `header` overrides the protected
 * header (`{alg, kid, typ: 'JWT'}` by default).
 */
export function mint(key, sub, claims = {}, header = {}) {
  const now = nowS();
  const all = Object.fromEntries(Object.entries({ sub, iat: now, exp: now + 3600, ...claims })
    .filter(([, v]) => v !== undefined));
  return new SignJWT(all)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A token with `header` and `claims`, signed HMAC-SHA256 with `secret` (any bytes or text),
 * whatever the header says: how an attacker signs with a public key's text. */
export function hmacSigned(header, claims, secret) {
  const head = `${b64(header)}.${b64(claims)}`;
  return `${head}.${crypto.createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** A token with `header` (its `alg` as given, e.g. `none`) and `claims`, and no signature. */
export function unsigned(header, claims) {
  return `${b64(header)}.${b64(claims)}.`;
}

/** The header of a token (not verified). */
export function headerOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
}

/**
 * Starts a JWKS endpoint serving `keys` (from `newKey`) at `url`. `fetches` is every GET it
 * answered ({at, status}); `count()` how many. `setKeys`, `add`, `remove` change the set from
 * the next fetch on; `cacheControl` is the Cache-Control header sent (none when undefined);
 * `fail(status)` answers every fetch with that status from now on (`fail(null)` stops);
 * `down()`/`up()` close and reopen the port; `stop()` closes it for good.
 */
export async function startJwks({ keys = [], cacheControl } = {}) {
  let served = [...keys];
  let failing = null;
  const fetches = [];
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url, 'http://x').pathname !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    const status = failing ?? 200;
    fetches.push({ at: Date.now(), status });
    if (status !== 200) {
      res.writeHead(status, { 'content-type': 'text/plain' }).end('provider trouble');
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(j.cacheControl === undefined ? {} : { 'cache-control': j.cacheControl }),
    });
    res.end(JSON.stringify({ keys: served.map((k) => k.jwk) }));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const port = server.address().port;
  const j = {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    cacheControl,
    fetches,
    count: () => fetches.length,
    /** When the last fetch was answered 200 (ms), or undefined. */
    lastServed: () => fetches.filter((f) => f.status === 200).at(-1)?.at,
    get kids() { return served.map((k) => k.kid); },
    setKeys(next) { served = [...next]; },
    add(key) { served = [...served, key]; },
    remove(kid) { served = served.filter((k) => k.kid !== kid); },
    fail(status) { failing = status; },
    down: () => new Promise((done) => { server.close(done); server.closeAllConnections(); }),
    up: () => new Promise((done) => server.listen(port, '127.0.0.1', done)),
    stop: () => new Promise((done) => {
      if (!server.listening) return done();
      server.close(done);
      server.closeAllConnections();
    }),
  };
  return j;
}

/** The vars that turn JWKS verification on towards `jwks`, plus `extra`. */
export const jwksVars = (jwks, extra = {}) => ({ AUTH_JWKS_URL: jwks.url, ...extra });

/**
 * What the worker answers an upgrade to `room` with `token` (in `?token=`): `ok <user_id of
 * the welcome>`, or `<status> <error code>`. The socket is dropped again at once.
 */
export async function upgradeVerdict(server, room, token) {
  const r = await tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${encodeURIComponent(token)}`);
  if (!r.client) return `${r.status} ${r.body?.error?.code}`;
  try {
    const welcome = await r.client.welcomed();
    return `ok ${welcome.user_id}`;
  } finally {
    r.client.terminate();
  }
}

/** What the worker answers a history read of `room` with `token` (Authorization: Bearer):
 * `ok` (200), or `<status> <error code>`. */
export async function readVerdict(server, room, token, path = `/rooms/${room}/messages`) {
  const res = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({}));
  return res.status === 200 ? 'ok' : `${res.status} ${body?.error?.code}`;
}

/** Sends an `auth` frame with `token` on `client` and resolves with its answer: `auth_ok <exp>`
 * or the error frame's code. */
export async function refresh(client, token, id) {
  client.send({ type: 'auth', token, id });
  const f = await client.next((x) => x.id === id && (x.type === 'auth_ok' || x.type === 'error'));
  return f.type === 'auth_ok' ? `auth_ok ${f.exp}` : f.code;
}
