// Tokens from your own identity provider (issue 21): with AUTH_JWKS_URL, a token signed RS256,
// ES256 or EdDSA whose header `kid` names a key of the provider's JWKS (served here by a real
// HTTP endpoint, tests/support/jwks.mjs; keys made with node:crypto, tokens signed by jose, and
// by PyJWT through docs/examples/mint_token.py) is a user token like an HS256 one: it upgrades,
// reads history, members and unread, and refreshes a connection in place — one verification
// for all of them. A refresh may switch the key and the algorithm, never the user.
//
// Refused 401 unauthorized: `alg: none`; HS256 keyed with a public key's text (the algorithm
// confusion); a `kid` naming a key of another type, or an algorithm the key is not for; a
// signature by another key; a wrong `iss` or `aud` (AUTH_ISSUER, AUTH_AUDIENCE); expired, not
// yet valid or issued in the future beyond AUTH_LEEWAY_SECONDS (30 by default); a rooms entry
// that is not a room name. AUTH_USER_CLAIM and AUTH_ROOMS_CLAIM (an Auth0-style namespaced
// claim) name the claims read. Without DEV_MODE an http:// JWKS URL is never fetched.
//
// Every key is in the JWKS from the start: the worker fetches it once and these tests never
// depend on a refetch (tests/key_rotation.test.mjs is about those).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, ROOT } from './support/server.mjs';
import { join } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { nowS, token as hsToken, refusedUpgrade } from './support/sessions.mjs';
import {
  newKey, mint, hmacSigned, unsigned, startJwks, jwksVars, upgradeVerdict, readVerdict, refresh,
} from './support/jwks.mjs';
import { mintToken, publicJwk } from '../docs/examples/mint-token.mjs';

const PYTHON = path.join(ROOT, 'tests', '.venv', 'bin', 'python');
const MINT_PY = path.join(ROOT, 'docs', 'examples', 'mint_token.py');
const ISSUER = 'https://id.example.com/';
const AUDIENCE = 'edge-chat';
const ROOMS_CLAIM = 'https://example.com/rooms';
const WEEK = 604_800; // the default MAX_TOKEN_LIFETIME_SECONDS

const rsa = newKey('RS256');
const ec = newKey('ES256');
const ed = newKey('EdDSA');
const KEYS = [rsa, ec, ed];
// A key published the way docs/examples/mint-token.mjs says (its `publicJwk`, set before the
// JWKS starts).
const docsKey = newKey('RS256');

let jwks, plain, strict, custom, keyDir;

/** Runs the Python example (PyJWT, tests/.venv) and resolves with the token it prints. */
function pyjwtToken(key, user, rooms) {
  const keyFile = path.join(keyDir, `${key.kid}.pem`);
  fs.writeFileSync(keyFile, key.privatePem);
  const args = [MINT_PY, key.kid, user, ...(rooms ? [rooms.join(',')] : [])];
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { env: { ...process.env, SIGNING_KEY_FILE: keyFile, ALG: key.alg }, timeout: 30_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`${MINT_PY} failed (make pyjwt makes tests/.venv): ${err.message}\n${errOut}`));
      else resolve(out.trim());
    });
  });
}

/** A token for the strict server: its issuer and audience, unless `claims` says otherwise. */
const strictToken = (key, sub, claims = {}) => mint(key, sub, { iss: ISSUER, aud: AUDIENCE, ...claims });


describe('provider tokens', { concurrency: true }, () => {
  before(async () => {
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-keys-'));
    docsKey.jwk = await publicJwk(docsKey.publicPem, docsKey.kid, 'RS256');
    jwks = await startJwks({ keys: [...KEYS, docsKey] });
    [plain, strict, custom] = await Promise.all([
      startServer({ vars: jwksVars(jwks) }),
      startServer({ vars: jwksVars(jwks, { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_LEEWAY_SECONDS: '60' }) }),
      startServer({ vars: jwksVars(jwks, { AUTH_USER_CLAIM: 'uid', AUTH_ROOMS_CLAIM: ROOMS_CLAIM }) }),
    ]);
    // Each worker fetches the set once here; a burst on a cold set is a test of its own.
    for (const [server, mk] of [[plain, mint], [strict, strictToken], [custom, (k, sub) => mint(k, 'auth0|warm', { uid: sub })]]) {
      assert.equal(await readVerdict(server, 'pt-warm', await mk(rsa, 'warm')), 'ok', 'the key set fetched');
    }
  });
  after(async () => {
    await Promise.all([plain?.stop(), strict?.stop(), custom?.stop()]);
    await jwks?.stop();
    if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
  });

  test('RS256, ES256 and EdDSA tokens whose kid is in the JWKS connect as their sub, and read history, members and unread with the same token', async () => {
    const room = 'pt-lobby';
    await admin(plain).post(`/rooms/${room}/messages`, { data: 'earlier' });
    for (const key of KEYS) {
      const user = `user-${key.alg}`;
      const t = await mint(key, user, { rooms: [room] });
      assert.equal(await upgradeVerdict(plain, room, t), `ok ${user}`, `${key.alg} upgrade`);
      assert.equal(await readVerdict(plain, room, t), 'ok', `${key.alg} history`);
      assert.equal(await readVerdict(plain, room, t, `/rooms/${room}/members`), 'ok', `${key.alg} members`);
      assert.equal(await readVerdict(plain, room, t, '/me/unread'), 'ok', `${key.alg} unread`);
      // The rooms claim scopes it as any token's.
      assert.equal(await upgradeVerdict(plain, 'pt-elsewhere', t), '403 forbidden', `${key.alg} rooms claim`);
      assert.equal(await readVerdict(plain, 'pt-elsewhere', t), '403 forbidden', `${key.alg} rooms claim, history`);
    }
    // A connection on an RS256 token chats as its sub.
    const c = await join(plain, room, 'user-RS256', { token: await mint(rsa, 'user-RS256') });
    c.send({ type: 'publish', data: 'signed by my provider', id: 'p1' });
    const m = await c.next((f) => f.type === 'message' && f.data === 'signed by my provider');
    assert.equal(m.from.user_id, 'user-RS256');
    c.terminate();
    assert.ok(jwks.count() >= 1, 'the worker fetched the JWKS');
  });

  test('a burst on a cold key set (a fresh isolate): 30 upgrades and reads, then 10 refreshes in 10 rooms, all at once, each verified', { timeout: 60_000 }, async () => {
    const keys = [newKey('RS256'), newKey('ES256'), newKey('EdDSA')];
    const own = await startJwks({ keys });
    const [cold, coldRooms] = await Promise.all([startServer({ vars: jwksVars(own) }), startServer({ vars: jwksVars(own) })]);
    try {
      const verdicts = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        const t = await mint(keys[i % 3], `burst-${i}`);
        return i % 2 ? `${i} ${await readVerdict(cold, 'pt-burst', t)}` : `${i} ${await upgradeVerdict(cold, 'pt-burst', t)}`;
      }));
      assert.deepEqual(verdicts, Array.from({ length: 30 }, (_, i) => (i % 2 ? `${i} ok` : `${i} ok burst-${i}`)));

      // The rooms verify refreshes: connections on HS256 tokens (no key set needed), then every
      // one refreshes with a provider token at once, the set not fetched yet.
      const conns = await Promise.all(Array.from({ length: 10 }, (_, i) => join(coldRooms, `pt-burst-${i}`, `r${i}`, { token: hsToken(`r${i}`) })));
      const exp = nowS() + 1800;
      const answers = await Promise.all(conns.map(async (c, i) => refresh(c, await mint(keys[i % 3], `r${i}`, { exp }), `burst-${i}`)));
      assert.deepEqual(answers, conns.map(() => `auth_ok ${exp}`));
      for (const c of conns) c.terminate();
    } finally {
      await Promise.all([cold.stop(), coldRooms.stop()]);
      await own.stop();
    }
  });

  test('the docs examples mint accepted tokens: Node (jose) for a key published with publicJwk, Python (PyJWT) for RS256, ES256 and EdDSA', { timeout: 60_000 }, async () => {
    const room = 'pt-examples';
    const fromNode = await mintToken({ user: 'node-user', kid: docsKey.kid, privateKeyPem: docsKey.privatePem, rooms: [room] });
    assert.equal(await upgradeVerdict(plain, room, fromNode), 'ok node-user');
    assert.equal(await readVerdict(plain, room, fromNode), 'ok');
    const withIssuer = await mintToken({ user: 'node-user', kid: ec.kid, alg: 'ES256', privateKeyPem: ec.privatePem, issuer: ISSUER, audience: AUDIENCE });
    assert.equal(await upgradeVerdict(strict, room, withIssuer), 'ok node-user');
    for (const key of KEYS) {
      const t = await pyjwtToken(key, `py-${key.alg}`, [room]);
      assert.equal(await upgradeVerdict(plain, room, t), `ok py-${key.alg}`, `PyJWT ${key.alg}`);
      assert.equal(await readVerdict(plain, room, t), 'ok', `PyJWT ${key.alg} history`);
    }
  });

  test('refused 401 unauthorized on upgrades and reads: alg none, HS256 keyed with the public key, a kid of another key type, an algorithm the key is not for, a forged or tampered signature, an unknown kid', async () => {
    const room = 'pt-refusals';
    const now = nowS();
    const claims = { sub: 'mallory', iat: now, exp: now + 3600 };
    const other = newKey('RS256', rsa.kid); // same kid, another key: a forgery
    const good = await mint(rsa, 'mallory');
    const [h, p, s] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`;
    const refusals = [
      ['alg none with an RSA kid', unsigned({ alg: 'none', kid: rsa.kid, typ: 'JWT' }, claims)],
      ['alg none without kid', unsigned({ alg: 'none', typ: 'JWT' }, claims)],
      ['HS256 keyed with the RSA public key PEM', hmacSigned({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' }, claims, rsa.publicPem)],
      ['HS256 keyed with the RSA JWK text', hmacSigned({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' }, claims, JSON.stringify(rsa.jwk))],
      ['HS256 keyed with the EC public key PEM', hmacSigned({ alg: 'HS256', kid: ec.kid, typ: 'JWT' }, claims, ec.publicPem)],
      ['HS256 keyed with the RSA PEM, no kid', hmacSigned({ alg: 'HS256', typ: 'JWT' }, claims, rsa.publicPem)],
      ['RS256 whose kid names an EC key', await mint(rsa, 'mallory', {}, { kid: ec.kid })],
      ['RS256 whose kid names an Ed25519 key', await mint(rsa, 'mallory', {}, { kid: ed.kid })],
      ['ES256 whose kid names an RSA key', await mint(ec, 'mallory', {}, { kid: rsa.kid })],
      ['EdDSA whose kid names an EC key', await mint(ed, 'mallory', {}, { kid: ec.kid })],
      ['PS256 with the RS256 key', await mint(rsa, 'mallory', {}, { alg: 'PS256' })],
      ['RS512 with the RS256 key', await mint(rsa, 'mallory', {}, { alg: 'RS512' })],
      ['signed by another key under the same kid', await mint(other, 'mallory')],
      ['a tampered payload', tampered],
      ['a truncated signature', `${h}.${p}.${s.slice(0, -4)}`],
      ['an unknown kid', await mint(newKey('RS256'), 'mallory')],
    ];
    for (const [what, t] of refusals) {
      assert.equal(await upgradeVerdict(plain, room, t), '401 unauthorized', `upgrade: ${what}`);
      assert.equal(await readVerdict(plain, room, t), '401 unauthorized', `history: ${what}`);
    }
    const body = await refusedUpgrade(plain, room, refusals[2][1], 401, 'unauthorized');
    assert.ok(!body.error.message.includes(rsa.publicPem.slice(30, 60)), 'no key material in the message');
    // The genuine token of the same claims passes, so the refusals were about what was wrong.
    assert.equal(await upgradeVerdict(plain, room, good), 'ok mallory');
  });

  test('AUTH_ISSUER: iss must equal it; AUTH_AUDIENCE: aud (string or array) must contain it; unset, a JWKS token\'s aud is not checked', async () => {
    const room = 'pt-iss-aud';
    const accepted = [
      ['iss and aud', await strictToken(rsa, 'ia')],
      ['aud an array containing it', await strictToken(ec, 'ia', { aud: ['other-api', AUDIENCE] })],
    ];
    for (const [what, t] of accepted) {
      assert.equal(await upgradeVerdict(strict, room, t), 'ok ia', what);
      assert.equal(await readVerdict(strict, room, t), 'ok', `history: ${what}`);
    }
    const refused = [
      ['another iss', await strictToken(rsa, 'ia', { iss: 'https://evil.example.com/' })],
      ['iss without its trailing slash', await strictToken(rsa, 'ia', { iss: 'https://id.example.com' })],
      ['no iss', await strictToken(rsa, 'ia', { iss: undefined })],
      ['another aud', await strictToken(rsa, 'ia', { aud: 'other-api' })],
      ['an aud array without it', await strictToken(ed, 'ia', { aud: ['other-api', 'edge-chat-2'] })],
      ['no aud', await strictToken(rsa, 'ia', { aud: undefined })],
    ];
    for (const [what, t] of refused) {
      assert.equal(await upgradeVerdict(strict, room, t), '401 unauthorized', what);
      assert.equal(await readVerdict(strict, room, t), '401 unauthorized', `history: ${what}`);
    }
    // Without AUTH_AUDIENCE (nor AUTH_ISSUER), whatever aud and iss a JWKS token carries.
    for (const aud of ['anything', ['a', 'b']]) {
      assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'ia', { aud, iss: 'https://whoever/' })), 'ok ia', JSON.stringify(aud));
    }
  });

  test('AUTH_LEEWAY_SECONDS (60 here, 30 by default) for exp, nbf and iat in the future; beyond it 401', async () => {
    const room = 'pt-leeway';
    const now = nowS();
    // Within the leeway: accepted (a read: an upgrade on an expired token would be closed at once).
    for (const [server, leeway, mk] of [[strict, 60, strictToken], [plain, 30, mint]]) {
      const inside = Math.floor(leeway / 3);
      const beyond = leeway + 20;
      const ok = [
        ['exp just past', await mk(rsa, 'lee', { exp: now - inside, iat: now - 600 })],
        ['nbf just ahead', await mk(rsa, 'lee', { nbf: now + inside })],
        ['iat just ahead', await mk(rsa, 'lee', { iat: now + inside })],
      ];
      for (const [what, t] of ok) assert.equal(await readVerdict(server, room, t), 'ok', `leeway ${leeway}: ${what}`);
      for (const [what, t] of ok.slice(1)) assert.equal(await upgradeVerdict(server, room, t), 'ok lee', `leeway ${leeway}, upgrade: ${what}`);
      const refused = [
        ['expired beyond the leeway', await mk(ec, 'lee', { exp: now - beyond, iat: now - 3600 })],
        ['nbf beyond the leeway', await mk(ec, 'lee', { nbf: now + beyond })],
        ['iat in the future beyond the leeway', await mk(ed, 'lee', { iat: now + beyond })],
      ];
      for (const [what, t] of refused) {
        assert.equal(await upgradeVerdict(server, room, t), '401 unauthorized', `leeway ${leeway}: ${what}`);
        assert.equal(await readVerdict(server, room, t), '401 unauthorized', `leeway ${leeway}, history: ${what}`);
      }
    }
    // No exp at all is still refused, and so is one beyond MAX_TOKEN_LIFETIME_SECONDS.
    assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'lee', { exp: undefined })), '401 unauthorized', 'no exp');
    assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'lee', { exp: now + WEEK + 600 })), '401 unauthorized', 'over the lifetime cap');
  });

  test('a rooms entry that is not a room name (a comma, a slash, a space, empty, too long) refuses the token: 401 on upgrades, reads and refreshes', async () => {
    const room = 'pt-scoped';
    const bad = ['pt-scoped,pt-other', 'pt-scoped/x', 'pt scoped', '', 'r'.repeat(65)];
    for (const entry of bad) {
      const t = await mint(rsa, 'scoped', { rooms: [room, entry] });
      assert.equal(await upgradeVerdict(plain, room, t), '401 unauthorized', `rooms entry ${JSON.stringify(entry)}`);
      assert.equal(await readVerdict(plain, room, t), '401 unauthorized', `history, rooms entry ${JSON.stringify(entry)}`);
    }
    // Not a list of names at all.
    assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'scoped', { rooms: room })), '401 unauthorized', 'rooms a string');
    assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'scoped', { rooms: [room, 7] })), '401 unauthorized', 'rooms with a number');
    // HS256 tokens follow the same rule.
    assert.equal(await upgradeVerdict(plain, room, hsToken('scoped', { rooms: [room, 'a,b'] })), '401 unauthorized', 'HS256, rooms entry with a comma');
    // Valid entries scope the token as always.
    const ok = await mint(rsa, 'scoped', { rooms: [room, 'pt-other'] });
    assert.equal(await upgradeVerdict(plain, room, ok), 'ok scoped');
    assert.equal(await upgradeVerdict(plain, 'pt-third', ok), '403 forbidden');
    // A refresh with such a token is refused and the connection lives on.
    const c = await join(plain, room, 'scoped', { token: ok });
    assert.equal(await refresh(c, await mint(ec, 'scoped', { rooms: [room, 'x/y'] }), 'r1'), 'unauthorized');
    assert.equal(await refresh(c, await mint(ec, 'scoped', { rooms: ['pt-other'] }), 'r2'), 'forbidden');
    c.send({ type: 'publish', data: 'still in', id: 'p' });
    assert.equal((await c.next((f) => f.type === 'message')).data, 'still in');
    c.terminate();
  });

  test('custom claim names: AUTH_USER_CLAIM names the user, a namespaced AUTH_ROOMS_CLAIM the rooms; sub and rooms are then ordinary claims', async () => {
    const room = 'pt-ns';
    const claims = (uid, rooms, extra = {}) => ({ sub: 'auth0|65f0c1', uid, [ROOMS_CLAIM]: rooms, ...extra });
    const zoe = await mint(rsa, undefined, claims('zoe', [room]));
    assert.equal(await upgradeVerdict(custom, room, zoe), 'ok zoe', 'the user is uid, not sub');
    assert.equal(await readVerdict(custom, room, zoe), 'ok');
    assert.equal(await upgradeVerdict(custom, 'pt-ns-other', zoe), '403 forbidden', 'scoped by the namespaced claim');
    assert.equal(await readVerdict(custom, 'pt-ns-other', zoe), '403 forbidden');
    // A plain `rooms` claim is not the rooms claim here: it neither scopes nor refuses.
    const plainRooms = await mint(ec, undefined, { sub: 'auth0|65f0c1', uid: 'zoe', rooms: ['pt-ns-other', 'bad,entry'] });
    assert.equal(await upgradeVerdict(custom, room, plainRooms), 'ok zoe', 'rooms ignored: any room');
    // The configured claims are validated as sub and rooms are.
    const refused = [
      ['no uid (sub only)', await mint(rsa, 'auth0|65f0c1', { [ROOMS_CLAIM]: [room] })],
      ['uid with a control character', await mint(rsa, undefined, claims('zo\u0007e', [room]))],
      ['an empty uid', await mint(rsa, undefined, claims('', [room]))],
      ['a namespaced rooms entry with a comma', await mint(rsa, undefined, claims('zoe', [room, 'a,b']))],
      ['a namespaced rooms entry with a slash', await mint(rsa, undefined, claims('zoe', ['a/b']))],
    ];
    for (const [what, t] of refused) assert.equal(await upgradeVerdict(custom, room, t), '401 unauthorized', what);

    // A connection as zoe: her messages are from zoe; a refresh keeps uid, whatever sub says.
    const c = await join(custom, room, 'zoe', { token: zoe });
    c.send({ type: 'publish', data: 'hi from zoe', id: 'p' });
    assert.equal((await c.next((f) => f.type === 'message')).from.user_id, 'zoe');
    const exp = nowS() + 1800;
    assert.equal(await refresh(c, await mint(ed, undefined, claims('zoe', [room], { sub: 'auth0|other', exp })), 'same-uid'), `auth_ok ${exp}`);
    assert.equal(await refresh(c, await mint(ed, undefined, claims('max', [room])), 'other-uid'), 'unauthorized', 'another uid, same sub');
    assert.equal(await refresh(c, await mint(ed, undefined, claims('zoe', ['pt-ns-other'])), 'other-rooms'), 'forbidden');
    c.terminate();
  });

  test('a refresh in place may switch the key and the algorithm (HS256 → RS256 → ES256 → EdDSA → HS256), never the user; refused refreshes leave the connection as it was', async () => {
    const room = 'pt-switch';
    const now = nowS();
    const c = await join(plain, room, 'switcher', { token: hsToken('switcher', { iat: now }) });
    let exp = now + 600;
    for (const key of KEYS) {
      exp += 60;
      assert.equal(await refresh(c, await mint(key, 'switcher', { exp }), `to-${key.alg}`), `auth_ok ${exp}`, `to ${key.alg}`);
    }
    const refusals = [
      ['other-user', await mint(ed, 'mallory', { exp: exp + 60 })],
      ['alg-none', unsigned({ alg: 'none', kid: rsa.kid, typ: 'JWT' }, { sub: 'switcher', exp: exp + 60 })],
      ['confusion', hmacSigned({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' }, { sub: 'switcher', exp: exp + 60 }, rsa.publicPem)],
      ['kid-of-ec', await mint(rsa, 'switcher', { exp: exp + 60 }, { kid: ec.kid })],
      ['unknown-kid', await mint(newKey('ES256'), 'switcher', { exp: exp + 60 })],
      ['expired', await mint(rsa, 'switcher', { exp: now - 120, iat: now - 600 })],
      ['over-cap', await mint(rsa, 'switcher', { exp: now + WEEK + 600 })],
    ];
    for (const [id, t] of refusals) assert.equal(await refresh(c, t, id), 'unauthorized', id);
    exp += 60;
    assert.equal(await refresh(c, hsToken('switcher', { exp, iat: now }), 'back-to-hs256'), `auth_ok ${exp}`);
    c.send({ type: 'publish', data: 'same connection', id: 'p' });
    const m = await c.next((f) => f.type === 'message');
    assert.deepEqual([m.data, m.from.user_id, m.from.connection_id], ['same connection', 'switcher', c.connectionId]);
    c.terminate();

    // And the other way: a connection on an EdDSA token refreshes with an HS256 one.
    const d = await join(plain, room, 'switcher2', { token: await mint(ed, 'switcher2') });
    const exp2 = nowS() + 5400;
    assert.equal(await refresh(d, hsToken('switcher2', { exp: exp2, iat: nowS() }), 'to-hs'), `auth_ok ${exp2}`);
    d.terminate();
  });

  test('a revocation covers provider tokens: issued before it, 401 revoked; at or after it, accepted', async () => {
    const room = 'pt-revoke';
    const now = nowS();
    const r = await admin(plain).post('/users/revokee/revoke', { before: now - 100, reason: 'test' });
    assert.equal(r.status, 200, r.text);
    assert.equal(await upgradeVerdict(plain, room, await mint(rsa, 'revokee', { iat: now - 200 })), '401 revoked');
    assert.equal(await upgradeVerdict(plain, room, await mint(ec, 'revokee', { iat: undefined })), '401 revoked', 'no iat');
    assert.equal(await upgradeVerdict(plain, room, await mint(ed, 'revokee', { iat: now })), 'ok revokee');
  });

  test('without DEV_MODE an http:// AUTH_JWKS_URL is never fetched and no token is accepted through it', async () => {
    const key = newKey('RS256');
    const own = await startJwks({ keys: [key] });
    const prod = await startServer({ vars: jwksVars(own, { DEV_MODE: null }) });
    try {
      const verdict = await upgradeVerdict(prod, 'pt-prod', await mint(key, 'prod-user'));
      assert.notEqual(verdict, 'ok prod-user', 'a key from an http JWKS was trusted');
      assert.notEqual(await readVerdict(prod, 'pt-prod', await mint(key, 'prod-user')), 'ok');
      assert.equal(own.count(), 0, 'the http JWKS was fetched');
    } finally {
      await prod.stop();
      await own.stop();
    }
  });
});
