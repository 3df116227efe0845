// Session lifetime (issue 11): a connection lives on its token's `exp` and no longer.
// `token_expiring` comes TOKEN_REFRESH_NOTICE_SECONDS before `exp` (right after `welcome` when
// less is left), `closing` + close 4001 `token_expired` at `exp` — driven by the room's alarm,
// also when the room was evicted in between — unless the client refreshed in place with `auth`.
// A refresh for another user, with an expired, not-yet-valid, over-long or badly signed token,
// or for a room the token does not allow is refused and the old expiry stands. At the upgrade,
// `nbf` and MAX_TOKEN_LIFETIME_SECONDS are honoured.
//
// The tests share servers and run concurrently (each has its own rooms and users): most of
// them wait for a clock (an `exp`) or for an eviction, and those waits overlap.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, tryConnect } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import jwt from './support/jwt.mjs';
import { roomDebug } from './support/eviction.mjs';
import {
  AFTER_CLOSE_MS, converges, nowS, token, expectClosing, expectClosed, isClosing, refusedUpgrade,
} from './support/sessions.mjs';

const NOTICE = 2; // TOKEN_REFRESH_NOTICE_SECONDS of the main server
const GROUPING_MS = 5_000; // notices due within 5 s of a wake are sent in that wake
const WEEK = 604_800; // the default MAX_TOKEN_LIFETIME_SECONDS

const expiring = (f) => f.type === 'token_expiring';
const message = (f) => f.type === 'message';
const presence = (event, user) => (f) => f.type === 'presence' && f.event === event && f.user_id === user;
/** How long from now until `exp` (s) plus `extra` ms: the bound for something due at `exp`. */
const untilExp = (exp, extra = 5_000) => Math.max(exp * 1000 - Date.now(), 0) + extra;

let server; // TOKEN_REFRESH_NOTICE_SECONDS=2, default lifetime cap
let early; // TOKEN_REFRESH_NOTICE_SECONDS=30 (short tokens are noticed at welcome), no lifetime cap
let api;

describe('session lifetime', { concurrency: true }, () => {
  before(async () => {
    [server, early] = await Promise.all([
      startServer({ vars: { TOKEN_REFRESH_NOTICE_SECONDS: String(NOTICE) } }),
      startServer({ vars: { TOKEN_REFRESH_NOTICE_SECONDS: '30', MAX_TOKEN_LIFETIME_SECONDS: '0' } }),
    ]);
    api = admin(server);
  });
  after(async () => { await Promise.all([server?.stop(), early?.stop()]); });

  test('a token with less than the notice left: token_expiring right after welcome, closing and close 4001 at exp, the others see the leave', { timeout: 60_000 }, async () => {
    // On the server whose notice period is 30 s: 8 s left is less than that, and leaves the
    // upgrade plenty of time even on a loaded machine.
    const room = 'exp-short';
    const eapi = admin(early);
    const watcher = await join(early, room, 'watcher');
    const exp = nowS() + 8;
    const c = await join(early, room, 'brief', { token: token('brief', { exp, iat: nowS() }) });
    assert.deepEqual(await c.next(), { type: 'token_expiring', exp }, 'the first frame after welcome');
    await watcher.next(presence('join', 'brief'));

    await expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp));
    assert.ok(Date.now() >= exp * 1000, 'not closed before exp');
    assert.deepEqual(c.frames, [], 'one notice, nothing after closing');
    assert.deepEqual(await watcher.next(presence('leave', 'brief')), { type: 'presence', event: 'leave', user_id: 'brief' });
    await converges(async () => (await eapi.get(`/rooms/${room}`)).body,
      { room, connections: 1, users: [{ user_id: 'watcher', connections: 1 }] });
    await converges(async () => (await eapi.get('/users/brief')).body, { user_id: 'brief', connections: 0, rooms: {} });
    await expectClosed(c, 4001, 'token_expired');
    watcher.terminate();
  });

  test('notice and expiry of a room evicted meanwhile: the alarm wakes it for token_expiring, then closes 4001 at exp', { timeout: 90_000 }, async () => {
    const room = 'exp-evicted';
    const watcher = await join(server, room, 'watcher');
    // The room is evicted ~10 s after its last event (the debug call below); notice at exp-2.
    const exp = nowS() + 22;
    const c = await join(server, room, 'sleeper', { token: token('sleeper', { exp, iat: nowS() }) });
    await watcher.next(presence('join', 'sleeper'));
    const lastEventAt = Date.now();
    const asleep = await roomDebug(server, room);

    const notice = await c.next(expiring, untilExp(exp));
    const noticedAt = Date.now();
    assert.deepEqual(notice, { type: 'token_expiring', exp });
    assert.ok(noticedAt >= (exp - NOTICE) * 1000 - GROUPING_MS, 'not before it is due');
    await expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp));
    assert.ok(Date.now() >= exp * 1000, 'not closed before exp');
    assert.deepEqual(c.frames.filter(expiring), [], 'noticed once');

    const awake = await roomDebug(server, room);
    assert.notEqual(awake.instance, asleep.instance, 'the room object was evicted and woken anew');
    assert.ok(awake.created_ms >= lastEventAt && awake.created_ms <= noticedAt,
      `the instance that noticed and closed was constructed after the last event, by the alarm (created ${awake.created_ms - lastEventAt} ms after it)`);
    assert.deepEqual(await watcher.next(presence('leave', 'sleeper')), { type: 'presence', event: 'leave', user_id: 'sleeper' });
    // The expired socket left the room; the runtime holds it (marked closing) until the client
    // closes, or the server's fallback does (src/room/closing.rs).
    const inRoom = (debug) => debug.connections.filter((x) => !x.attachment.closing);
    assert.deepEqual(inRoom(awake).map((x) => x.attachment.user_id), ['watcher']);
    await expectClosed(c, 4001, 'token_expired');
    watcher.terminate();
  });

  test('an expiry whose notice came at welcome closes 4001 from an evicted room (the close is the first wake)', { timeout: 90_000 }, async () => {
    const room = 'exp-evicted-close';
    const exp = nowS() + 18; // under the 30 s notice: noticed at welcome; evicted ~10 s later
    const c = await join(early, room, 'dozer', { token: token('dozer', { exp, iat: nowS() }) });
    assert.deepEqual(await c.next(), { type: 'token_expiring', exp });
    const lastEventAt = Date.now();
    const asleep = await roomDebug(early, room);

    await expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp));
    const closedAt = Date.now();
    assert.ok(closedAt >= exp * 1000, 'not closed before exp');
    const awake = await roomDebug(early, room);
    assert.notEqual(awake.instance, asleep.instance, 'the room object was evicted and woken anew');
    assert.ok(awake.created_ms >= lastEventAt && awake.created_ms <= closedAt,
      'the instance that closed was constructed after the last event, by the alarm');
    assert.deepEqual(awake.connections.filter((x) => !x.attachment.closing), [],
      'the expired socket is gone from the room (held, marked closing, until it closes)');
    await expectClosed(c, 4001, 'token_expired');
  });

  test('one wake closes every connection due and sends every notice due within 5 s; a close is never early', { timeout: 90_000 }, async () => {
    // A server of its own, so that its meter counts this room's alarms only (GET /dev/meter).
    const own = await startServer({ vars: { TOKEN_REFRESH_NOTICE_SECONDS: '10' } });
    try {
      const alarms = async () => (await (await fetch(`${own.url}/dev/meter`)).json()).room.alarms;
      const room = 'exp-together';
      const t0 = nowS();
      const exp = t0 + 15; // the twins' notices are due at exp - 10, 4-5 s from now
      const lateExp = exp + 3; // its notice is due 3 s after the twins', within the 5 s
      const twins = [
        await join(own, room, 'twin-a', { token: token('twin-a', { exp, iat: t0 }) }),
        await join(own, room, 'twin-b', { token: token('twin-b', { exp, iat: t0 }) }),
      ];
      const late = await join(own, room, 'late', { token: token('late', { exp: lateExp, iat: t0 }) });
      const all = [...twins, late];
      const before = await alarms();

      // The first wake, at the twins' notice time, notices all three (none was due at welcome).
      for (const c of all) {
        const e = c === late ? lateExp : exp;
        assert.deepEqual(await c.next(expiring, untilExp(e)), { type: 'token_expiring', exp: e });
      }
      assert.equal(await alarms() - before, 1, 'the three notices came with one wake');

      // The second, at the twins' exp, closes both; late is not due for 3 s more: it stays.
      await Promise.all(twins.map((c) => expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp))));
      assert.ok(Date.now() >= exp * 1000, 'not closed before exp');
      assert.equal(await alarms() - before, 2, 'both twins were closed by one wake');
      assert.deepEqual(late.frames.filter(isClosing), [], 'a close is never early');

      // The third, at its own exp.
      await expectClosing(late, 4001, 'token_expired', undefined, untilExp(lateExp, AFTER_CLOSE_MS));
      assert.ok(Date.now() >= lateExp * 1000, 'not closed before its exp');
      assert.equal(await alarms() - before, 3, 'three wakes in all');
      assert.deepEqual(all.flatMap((c) => c.frames.filter(expiring)), [], 'each was noticed once');
      await Promise.all(all.map((c) => expectClosed(c, 4001, 'token_expired')));
    } finally {
      await own.stop();
    }
  });

  test('a refresh in place extends the connection to the new exp; an unrefreshed twin closes at the old one', { timeout: 60_000 }, async () => {
    const room = 'renew';
    const t0 = nowS();
    // The old token's notice is due 4-5 s from now: the refresh is in before it.
    const old = token('renewer', { exp: t0 + 6, iat: t0 });
    const r = await join(server, room, 'renewer', { token: old });
    const twin = await join(server, room, 'renewer', { token: old }); // same token, no refresh
    const exp2 = t0 + 11;
    // A rooms claim that lists this room is fine.
    r.send({ type: 'auth', token: token('renewer', { exp: exp2, iat: t0, rooms: ['elsewhere', room] }), id: 'r1' });
    assert.deepEqual(await r.next((f) => f.type === 'auth_ok' || f.type === 'error'), { type: 'auth_ok', exp: exp2, id: 'r1' });

    // The twin's old expiry is the marker: when it is closed, the refreshed one lives on.
    assert.deepEqual(await twin.next(expiring, untilExp(t0 + 6)), { type: 'token_expiring', exp: t0 + 6 });
    await expectClosing(twin, 4001, 'token_expired', undefined, untilExp(t0 + 6));
    assert.deepEqual(r.frames.filter(isClosing), []);
    // (The room may hold events for a while after it closed a socket: support/sessions.mjs.)
    r.send({ type: 'publish', data: 'still here', id: 'p1' });
    const m = await r.next(message, AFTER_CLOSE_MS);
    assert.deepEqual([m.data, m.from.connection_id], ['still here', r.connectionId], 'same connection, same id');
    assert.equal((await api.get(`/rooms/${room}`)).body.connections, 1);

    // A later notice for the new exp (possibly grouped with the twin's close), then 4001 at exp2.
    assert.deepEqual(await r.next(expiring, untilExp(exp2, AFTER_CLOSE_MS)), { type: 'token_expiring', exp: exp2 });
    await expectClosing(r, 4001, 'token_expired', undefined, untilExp(exp2, AFTER_CLOSE_MS));
    assert.ok(Date.now() >= exp2 * 1000, 'not closed before the new exp');
    assert.deepEqual(r.frames.filter(expiring), [], 'no notice for the old exp after the refresh');
    await Promise.all([expectClosed(twin, 4001, 'token_expired'), expectClosed(r, 4001, 'token_expired')]);
  });

  test('a refresh survives the room\'s eviction: the new exp travels in the socket\'s attachment', { timeout: 90_000 }, async () => {
    const room = 'renew-evicted';
    const t0 = nowS();
    // The old token's notice is due 4-5 s from now: the refresh is in before it.
    const c = await join(server, room, 'renewer2', { token: token('renewer2', { exp: t0 + 7, iat: t0 }) });
    // The new notice (exp2 - 2) comes after the room was evicted: ~10 s after its last event,
    // the alarm at the old notice time (t0 + 5).
    const exp2 = t0 + 24;
    c.send({ type: 'auth', token: token('renewer2', { exp: exp2, iat: t0 }), id: 'r' });
    assert.deepEqual(await c.next((f) => f.id === 'r'), { type: 'auth_ok', exp: exp2, id: 'r' });
    const lastEventAt = Date.now();
    const asleep = await roomDebug(server, room);

    const notice = await c.next(expiring, untilExp(exp2));
    const noticedAt = Date.now();
    assert.deepEqual(notice, { type: 'token_expiring', exp: exp2 }, 'no notice for the old exp');
    assert.ok(noticedAt >= (exp2 - NOTICE) * 1000 - GROUPING_MS);
    await expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp2));
    assert.ok(Date.now() >= exp2 * 1000, 'not closed at the old exp, nor before the new one');
    const awake = await roomDebug(server, room);
    assert.notEqual(awake.instance, asleep.instance, 'the room object was evicted after the refresh');
    assert.ok(awake.created_ms >= lastEventAt && awake.created_ms <= noticedAt,
      'the instance that noticed and closed knew the new exp only from the socket');
    await expectClosed(c, 4001, 'token_expired');
  });

  test('refused refreshes (other sub, expired, not yet valid, over the cap, bad signature, forbidden room) leave the old expiry standing', { timeout: 60_000 }, async () => {
    const room = 'stubborn';
    const exp = nowS() + 6;
    const c = await join(server, room, 'stubborn', { token: token('stubborn', { exp, iat: nowS() }) });
    const now = nowS();
    const refusals = [
      ['other-user', token('mallory', { exp: now + 600, iat: now }), 'unauthorized'],
      ['expired', token('stubborn', { exp: now - 60, iat: now - 120 }), 'unauthorized'],
      ['not-yet', token('stubborn', { exp: now + 600, nbf: now + 300 }), 'unauthorized'],
      ['over-cap', token('stubborn', { exp: now + WEEK + 600 }), 'unauthorized'],
      ['bad-sig', jwt.sign({ sub: 'stubborn', exp: now + 600 }, 'wrong-secret'), 'unauthorized'],
      ['unsigned', jwt.sign({ sub: 'stubborn', exp: now + 600 }, 'x', 'none'), 'unauthorized'],
      ['garbage', 'not.a.token', 'unauthorized'],
      ['forbidden', token('stubborn', { exp: now + 600, rooms: ['elsewhere'] }), 'forbidden'],
    ];
    for (const [id, t, code] of refusals) {
      c.send({ type: 'auth', token: t, id });
      const e = await c.next((f) => f.id === id);
      assert.equal(e.type, 'error', id);
      assert.equal(e.code, code, `${id}: ${e.message}`);
    }
    c.send({ type: 'auth', id: 'no-token' });
    assert.equal((await c.next((f) => f.id === 'no-token')).code, 'bad_frame');

    // The socket keeps working...
    c.send({ type: 'publish', data: 'after refusals', id: 'p' });
    assert.equal((await c.next(message)).data, 'after refusals');
    assert.deepEqual(c.frames.filter((f) => f.type === 'auth_ok'), []);
    // ...until its own exp: noticed for it, closed at it.
    assert.deepEqual(await c.next(expiring, untilExp(exp)), { type: 'token_expiring', exp });
    await expectClosing(c, 4001, 'token_expired', undefined, untilExp(exp));
    assert.ok(Date.now() >= exp * 1000);
    await expectClosed(c, 4001, 'token_expired');
  });

  test('upgrades honour nbf and the lifetime cap; iat is optional', async () => {
    const room = 'claims';
    const now = nowS();
    const accepted = async (srv, t) => {
      const r = await tryConnect(`${srv.wsUrl}/rooms/${room}/ws?token=${encodeURIComponent(t)}`);
      assert.ok(r.client, `refused: ${r.status} ${JSON.stringify(r.body)}`);
      r.client.terminate();
    };
    let body = await refusedUpgrade(server, room, token('nbf', { nbf: now + 60 }), 401, 'unauthorized');
    assert.match(body.error.message, /nbf|not valid yet/);
    await accepted(server, token('nbf', { nbf: now - 1 }));
    await accepted(server, token('nbf', { nbf: now }));
    body = await refusedUpgrade(server, room, token('cap', { exp: now + WEEK + 60 }), 401, 'unauthorized');
    assert.match(body.error.message, /MAX_TOKEN_LIFETIME_SECONDS/);
    await accepted(server, token('cap', { exp: now + WEEK - 60 }));
    await accepted(server, token('no-iat', {})); // no iat claim at all
    // MAX_TOKEN_LIFETIME_SECONDS=0: no cap.
    await accepted(early, token('cap', { exp: now + 10 * 365 * 86_400 }));
    // The history endpoint reads user tokens through the same rules.
    const history = await fetch(`${server.url}/rooms/${room}/messages?token=${token('nbf', { nbf: now + 60 })}`);
    assert.equal(history.status, 401);
  });
});
