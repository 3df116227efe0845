// Key rotation and provider outages (issue 21). The worker caches the JWKS per isolate for
// AUTH_JWKS_CACHE_SECONDS (600 by default), or for the response's Cache-Control max-age when
// that is shorter; an unknown `kid` refetches it at most once per 30 s. So a key the provider
// adds works after one refetch, a key it removes stops working when the cached set expires,
// and 100 tokens with made-up kids cost at most a handful of fetches. A failed fetch keeps the
// cached set in use (stale or not); with no usable set — never fetched, or the kid unknown
// while the provider is down — the answer is 503 `unavailable` (retryable), never an
// acceptance and never 401, on upgrades, reads and `auth` frames alike. HS256 with
// AUTH_SECRETS (`kid:secret,...`) rotates by restarting with the new list; a token without
// `kid` uses AUTH_SECRET, and HS256 and JWKS work side by side.
//
// Each test has its own JWKS endpoint and worker (the cache and the throttle are per isolate),
// and the tests run concurrently: several wait out the 30 s refetch throttle, and those waits
// overlap. A wait for a clock is a bound (`until`), never a guess at how long something takes.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, sleep, until } from './support/client.mjs';
import { nowS, token as hsToken } from './support/sessions.mjs';
import {
  newKey, mint, hmacSigned, unsigned, startJwks, jwksVars, upgradeVerdict, readVerdict, refresh,
} from './support/jwks.mjs';
import { mintToken } from '../docs/examples/mint-token.mjs';

/** The refetch throttle of an unknown kid (per isolate), and a margin past it. */
const THROTTLE_MS = 30_000;
const PAST_THROTTLE_MS = THROTTLE_MS + 1_500;
/** workerd and node read the same clock; slack for whole seconds and the fetch's own time. */
const CLOCK_SLACK_MS = 1_000;

const started = [];
/** A JWKS endpoint and a worker using it (with `vars`), both stopped after the file. */
async function provider(keys, { vars = {}, cacheControl } = {}) {
  const jwks = await startJwks({ keys, cacheControl });
  const server = await startServer({ vars: jwksVars(jwks, vars) });
  started.push(jwks, server);
  return { jwks, server };
}

/** Waits until `ms` have passed since `t` (a bound on a clock, like an `exp`). */
const untilPast = (t, ms) => sleep(Math.max(0, t + ms - Date.now()));


/**
 * Removes `key` from the provider's set right after a fetch, then reads with a token of it
 * until it is refused; resolves with {acceptedAfterRemoval, refusedAfterMs} (ms since that
 * fetch). `boundMs`: how long it may take at most.
 */
async function removalTakesEffect({ jwks, server }, key, room, boundMs) {
  const t = await mint(key, 'rotated');
  assert.equal(await readVerdict(server, room, t), 'ok', 'the key works while listed');
  const fetchedAt = jwks.lastServed();
  assert.ok(fetchedAt, 'the worker fetched the set');
  jwks.remove(key.kid);
  // Right after the removal the cached set still lists it.
  const acceptedAfterRemoval = await readVerdict(server, room, t);
  let verdict;
  await until(async () => {
    verdict = await readVerdict(server, room, t);
    assert.ok(['ok', '401 unauthorized'].includes(verdict), `a removed key's token: ${verdict}`);
    return verdict !== 'ok';
  }, { ms: boundMs, every: 200, what: `the removed key ${key.kid} refused` });
  return { acceptedAfterRemoval, refusedAfterMs: Date.now() - fetchedAt };
}

describe('key rotation', { concurrency: true }, () => {
  after(async () => { await Promise.all(started.map((s) => s.stop())); });

  test('a key the provider adds works after one refetch; its next tokens need none', { timeout: 90_000 }, async () => {
    const old = newKey('RS256');
    const { jwks, server } = await provider([old]);
    const room = 'kr-added';
    assert.equal(await upgradeVerdict(server, room, await mint(old, 'alice')), 'ok alice');
    const fetched = jwks.count();
    assert.ok(fetched >= 1);

    const added = newKey('ES256');
    jwks.add(added);
    // Whichever fetch starts the 30 s, it is over: the unknown kid may refetch now.
    await untilPast(jwks.lastServed(), PAST_THROTTLE_MS);
    assert.equal(await upgradeVerdict(server, room, await mint(added, 'bob')), 'ok bob', 'the new kid after one refetch');
    assert.equal(jwks.count(), fetched + 1, 'exactly one refetch for the new kid');
    assert.equal(await upgradeVerdict(server, room, await mint(added, 'carol')), 'ok carol');
    assert.equal(await readVerdict(server, room, await mint(added, 'carol')), 'ok');
    assert.equal(await upgradeVerdict(server, room, await mint(old, 'dave')), 'ok dave', 'the old key still listed, still good');
    assert.equal(jwks.count(), fetched + 1, 'no fetch for kids in the cached set');
  });

  test('a key the provider removes stops working once the set cached for AUTH_JWKS_CACHE_SECONDS expires, not before', { timeout: 60_000 }, async () => {
    const [keep, drop] = [newKey('RS256'), newKey('EdDSA')];
    const p = await provider([keep, drop], { vars: { AUTH_JWKS_CACHE_SECONDS: '3' } });
    const r = await removalTakesEffect(p, drop, 'kr-removed', 3_000 + 15_000);
    assert.equal(r.acceptedAfterRemoval, 'ok', 'the cached set is used: not a fetch per request');
    assert.ok(r.refusedAfterMs >= 3_000 - CLOCK_SLACK_MS, `refused ${r.refusedAfterMs} ms after the fetch, before the 3 s cache ended`);
    assert.equal(await upgradeVerdict(p.server, 'kr-removed', await mint(keep, 'keeper')), 'ok keeper', 'the key kept works');
  });

  test('Cache-Control: max-age shorter than AUTH_JWKS_CACHE_SECONDS (600 by default) ends the cache; a longer one does not extend it', { timeout: 60_000 }, async () => {
    const [a, b] = [newKey('RS256'), newKey('ES256')];
    const [short, long] = await Promise.all([
      provider([newKey('RS256'), a], { cacheControl: 'public, max-age=3, must-revalidate' }),
      provider([newKey('RS256'), b], { vars: { AUTH_JWKS_CACHE_SECONDS: '3' }, cacheControl: 'public, max-age=86400' }),
    ]);
    const [viaMaxAge, viaSetting] = await Promise.all([
      removalTakesEffect(short, a, 'kr-max-age', 3_000 + 15_000),
      removalTakesEffect(long, b, 'kr-setting', 3_000 + 15_000),
    ]);
    for (const [what, r] of [['max-age=3', viaMaxAge], ['AUTH_JWKS_CACHE_SECONDS=3 under max-age=86400', viaSetting]]) {
      assert.equal(r.acceptedAfterRemoval, 'ok', `${what}: cached`);
      assert.ok(r.refusedAfterMs >= 3_000 - CLOCK_SLACK_MS, `${what}: refused ${r.refusedAfterMs} ms after the fetch`);
    }
  });

  test('100 tokens with made-up kids: 401 each, and at most a handful of JWKS fetches', { timeout: 90_000 }, async () => {
    const key = newKey('RS256');
    const { jwks, server } = await provider([key]);
    const room = 'kr-random-kids';
    assert.equal(await readVerdict(server, room, await mint(key, 'alice')), 'ok');
    const before = jwks.count();
    const t0 = Date.now();
    const verdicts = [];
    for (let batch = 0; batch < 10; batch++) {
      verdicts.push(...await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const t = await mint(key, 'mallory', {}, { kid: `made-up-${batch}-${i}-${Math.random().toString(36).slice(2)}` });
        return i % 2 ? readVerdict(server, room, t) : upgradeVerdict(server, room, t);
      })));
    }
    const took = Date.now() - t0;
    assert.deepEqual([...new Set(verdicts)], ['401 unauthorized'], 'every made-up kid refused 401');
    const refetches = jwks.count() - before;
    assert.ok(refetches <= 1 + Math.floor(took / THROTTLE_MS), `${refetches} refetches for 100 unknown kids in ${took} ms`);
    assert.equal(await upgradeVerdict(server, room, await mint(key, 'alice')), 'ok alice', 'the listed key still works');
  });

  test('the provider down: the cached set stays in use after it expired; an unknown kid is 503 unavailable on upgrades, reads and auth frames, never 401; back up, the new key works', { timeout: 120_000 }, async () => {
    const [listed, later] = [newKey('RS256'), newKey('EdDSA')];
    const { jwks, server } = await provider([listed], { vars: { AUTH_JWKS_CACHE_SECONDS: '2' } });
    const room = 'kr-outage';
    const c = await join(server, room, 'steady', { token: await mint(listed, 'steady') });
    await jwks.down();
    // The set has expired and the refetch throttle is over: the worker wants to fetch.
    await untilPast(jwks.lastServed(), PAST_THROTTLE_MS);

    assert.equal(await upgradeVerdict(server, room, await mint(listed, 'alice')), 'ok alice', 'a cached key, provider down');
    assert.equal(await readVerdict(server, room, await mint(listed, 'alice')), 'ok');
    const unknown = await mint(later, 'bob');
    const r = await fetch(`${server.url}/rooms/${room}/messages`, { headers: { Authorization: `Bearer ${unknown}` } });
    const body = await r.json();
    assert.deepEqual([r.status, body.error.code, typeof body.error.message], [503, 'unavailable', 'string'], JSON.stringify(body));
    assert.equal(await upgradeVerdict(server, room, unknown), '503 unavailable');
    assert.equal(await readVerdict(server, room, await mint(later, 'carol')), '503 unavailable', 'again: the provider is still down');
    assert.equal(await refresh(c, await mint(later, 'steady'), 'to-unknown'), 'unavailable', 'an auth frame');
    const exp = nowS() + 1200;
    assert.equal(await refresh(c, await mint(listed, 'steady', { exp }), 'to-listed'), `auth_ok ${exp}`, 'a cached key refreshes');
    // What can never be valid is still 401, provider or not.
    assert.equal(await upgradeVerdict(server, room, unsigned({ alg: 'none', kid: later.kid, typ: 'JWT' }, { sub: 'bob', exp: nowS() + 60 })), '401 unauthorized', 'alg none');
    assert.equal(await upgradeVerdict(server, room, 'not.a.jwt'), '401 unauthorized', 'garbage');
    assert.equal(await upgradeVerdict(server, room, hsToken('hs-user')), 'ok hs-user', 'HS256 does not need the provider');

    // Back up, with the new key: it works as soon as the worker refetches; meanwhile 503.
    jwks.add(later);
    await jwks.up();
    const seen = new Set();
    await until(async () => {
      const v = await upgradeVerdict(server, room, await mint(later, 'bob'));
      seen.add(v);
      return v === 'ok bob';
    }, { ms: PAST_THROTTLE_MS + 10_000, every: 500, what: 'the new key accepted once the provider is back' });
    assert.deepEqual([...seen].filter((v) => v !== 'ok bob' && v !== '503 unavailable'), [], 'only 503 until then');
    c.send({ type: 'publish', data: 'still here', id: 'p' });
    assert.equal((await c.next((f) => f.type === 'message')).data, 'still here');
    c.terminate();
  });

  test('never fetched (the provider answers 500, or its port is closed): 503 unavailable for JWKS tokens, HS256 tokens still connect', { timeout: 60_000 }, async () => {
    const key = newKey('ES256');
    const failing = await provider([key]);
    failing.jwks.fail(500);
    const closed = await provider([key]);
    await closed.jwks.down();
    for (const [what, { jwks, server }] of [['500', failing], ['closed', closed]]) {
      const room = `kr-never-${what}`;
      assert.equal(await upgradeVerdict(server, room, await mint(key, 'alice')), '503 unavailable', `${what}: upgrade`);
      assert.equal(await readVerdict(server, room, await mint(key, 'alice')), '503 unavailable', `${what}: history`);
      assert.equal(await readVerdict(server, room, await mint(key, 'alice'), '/me/unread'), '503 unavailable', `${what}: unread`);
      assert.equal(await upgradeVerdict(server, room, hsToken('hs-user')), 'ok hs-user', `${what}: HS256`);
      assert.equal(await upgradeVerdict(server, room, hmacSigned({ alg: 'HS256', typ: 'JWT' }, { sub: 'x', exp: nowS() + 60 }, 'wrong')), '401 unauthorized', `${what}: a bad HS256 token`);
      if (what === '500') {
        assert.ok(jwks.count() >= 1, 'the worker tried');
        // It recovers when the provider does (the next attempt may wait out the throttle).
        jwks.fail(null);
        await until(async () => (await upgradeVerdict(server, room, await mint(key, 'alice'))) === 'ok alice',
          { ms: PAST_THROTTLE_MS + 10_000, every: 500, what: 'accepted once the provider answers' });
      }
    }
  });

  test('AUTH_SECRETS rotation: both kids accepted, a token without kid uses AUTH_SECRET; restarted without the old kid, its tokens are refused; JWKS alongside', { timeout: 60_000 }, async () => {
    const now = nowS();
    const claims = (sub) => ({ sub, iat: now, exp: now + 3600 });
    const hs = (kid, secret, sub) => hmacSigned({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) }, claims(sub), secret);
    const rsa = newKey('RS256');
    const room = 'kr-secrets';
    const oldTok = hs('2025-12', 'old-secret-0123456789', 'olga');
    // The new kid's token as the docs' Node example mints it.
    const newTok = await mintToken({ user: 'nina', kid: '2026-06', alg: 'HS256', secret: 'new-secret-9876543210' });

    const both = await provider([rsa], { vars: { AUTH_SECRETS: '2025-12:old-secret-0123456789,2026-06:new-secret-9876543210' } });
    let s = both.server;
    assert.equal(await upgradeVerdict(s, room, oldTok), 'ok olga', 'old kid');
    assert.equal(await upgradeVerdict(s, room, newTok), 'ok nina', 'new kid');
    assert.equal(await readVerdict(s, room, newTok), 'ok', 'new kid, history');
    assert.equal(await upgradeVerdict(s, room, hsToken('nokid')), 'ok nokid', 'no kid: AUTH_SECRET');
    assert.equal(await upgradeVerdict(s, room, await mint(rsa, 'jw')), 'ok jw', 'JWKS alongside');
    const refusedNow = [
      ['a kid signed with the other kid\'s secret', hs('2026-06', 'old-secret-0123456789', 'eve')],
      ['a kid signed with AUTH_SECRET', hs('2026-06', 'test-secret', 'eve')],
      ['no kid, signed with a listed secret', hs(undefined, 'new-secret-9876543210', 'eve')],
    ];
    for (const [what, t] of refusedNow) assert.equal(await upgradeVerdict(s, room, t), '401 unauthorized', what);
    // A refresh from the old kid to the new one.
    const c = await join(s, room, 'olga', { token: oldTok });
    const exp = now + 1800;
    const renewed = hmacSigned({ alg: 'HS256', typ: 'JWT', kid: '2026-06' }, { ...claims('olga'), exp }, 'new-secret-9876543210');
    assert.equal(await refresh(c, renewed, 'rotate'), `auth_ok ${exp}`);
    c.terminate();

    // The old secret retired: restart with the new list.
    started.splice(started.indexOf(s), 1);
    await s.stop();
    s = await startServer({ vars: jwksVars(both.jwks, { AUTH_SECRETS: '2026-06:new-secret-9876543210' }) });
    started.push(s);
    assert.equal(await upgradeVerdict(s, room, oldTok), '401 unauthorized', 'the removed kid');
    assert.equal(await readVerdict(s, room, oldTok), '401 unauthorized', 'the removed kid, history');
    assert.equal(await upgradeVerdict(s, room, newTok), 'ok nina');
    assert.equal(await upgradeVerdict(s, room, hsToken('nokid')), 'ok nokid');
    assert.equal(await upgradeVerdict(s, room, await mint(rsa, 'jw')), 'ok jw');
  });
});
