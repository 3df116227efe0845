// Moderation (issue 11): the operator's calls of the server API — disconnect a connection,
// kick and ban from a room, list and lift bans, disconnect a user everywhere, revoke a user's
// tokens. Every connection the server closes on purpose gets `closing` first (code, reason,
// operator message), then the close with that code: 4003 `kicked`, 4004 `banned`, 4005
// `revoked`; presence `leave` and counts follow. Bans live in the room's SQLite (they survive
// eviction and a workerd restart), revocations in the user's registry (same). Every new
// endpoint needs the admin token; malformed bodies are 400, unknown connections 404.
//
// Tests share one server and run concurrently, each with its own rooms and users: a closed
// socket's close event arrives only when its room object is evicted (~10 s, see
// support/sessions.mjs), and those waits overlap.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, ADMIN_TOKEN } from './support/server.mjs';
import { join, sleep, tryConnect } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { roomDebug } from './support/eviction.mjs';
import {
  AFTER_CLOSE_MS, converges, nowS, token, expectClosing, expectClosed, expectServerClose, isClosing, refusedUpgrade,
} from './support/sessions.mjs';

// workerd evicts an idle object after 10 s without events; a little margin on top.
const EVICTION_WAIT_MS = 12_500;

const message = (f) => f.type === 'message';
const presence = (event, user) => (f) => f.type === 'presence' && f.event === event && f.user_id === user;
const leave = (user) => ({ type: 'presence', event: 'leave', user_id: user });

let server, api;

/** Publishes and waits until `watchers` (and the publisher) have it: everything the server sent
 * them before is in their `frames` by then. Bounded by AFTER_CLOSE_MS: the room may have just
 * closed a socket (see support/sessions.mjs). */
async function roundTrip(publisher, watchers = []) {
  const id = `mark-${Math.random().toString(36).slice(2)}`;
  publisher.send({ type: 'publish', data: id, id });
  for (const c of [publisher, ...watchers]) await c.next((f) => message(f) && f.data === id, AFTER_CLOSE_MS);
}

/** The registry shard of a user: `registry-{FNV-1a(user) % 64}` (src/registry/shards.rs: no REGISTRY_SHARD_KEY here). */
function registryOf(user) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(user, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `registry-${h % 64}`;
}

/** A user name starting with `prefix` whose registry shard is `user`'s. */
function sameShardAs(user, prefix) {
  for (let i = 0; ; i++) if (registryOf(`${prefix}-${i}`) === registryOf(user)) return `${prefix}-${i}`;
}

/** Connects `user` to `room` with `tok` and expects the upgrade to be accepted. */
async function accepted(srv, room, user, tok) {
  return join(srv, room, user, { token: tok ?? token(user, { iat: nowS() }) });
}

async function withServer(opts, fn) {
  const s = await startServer(opts);
  try { return await fn(s, admin(s)); } finally { await s.stop(); }
}

/** Proves `room` was evicted since `asleep` (a debug snapshot): when it was not yet, waits
 * until it must have been and checks again. */
async function evictedSince(srv, room, asleep) {
  let now = await roomDebug(srv, room);
  if (now.instance === asleep.instance) {
    await sleep(EVICTION_WAIT_MS);
    now = await roomDebug(srv, room);
  }
  assert.notEqual(now.instance, asleep.instance, 'the room object was evicted and constructed anew');
  return now;
}

describe('moderation', { concurrency: true }, () => {
  before(async () => {
    server = await startServer();
    api = admin(server);
  });
  after(async () => { await server?.stop(); });

  test('every moderation endpoint needs the admin token, leaks nothing and does nothing without it', async () => {
    const room = 'guarded';
    const c = await accepted(server, room, 'guarded-user', token('guarded-user')); // no iat: any revocation would cover it
    assert.deepEqual((await api.post(`/rooms/${room}/kick`, { user_id: 'already-banned', ban_seconds: -1 })).body, { closed: 0 });
    const endpoints = [
      ['POST', `/connections/${c.connectionId}/disconnect`, { reason: 'x' }],
      ['POST', `/rooms/${room}/kick`, { user_id: 'guarded-user', ban_seconds: -1 }],
      ['GET', `/rooms/${room}/bans`],
      ['DELETE', `/rooms/${room}/bans/already-banned`],
      ['POST', '/users/guarded-user/disconnect', {}],
      ['POST', '/users/guarded-user/revoke', {}],
    ];
    for (const t of [null, '', 'wrong', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`, ADMIN_TOKEN.toUpperCase()]) {
      for (const [method, p, body] of endpoints) {
        const r = await admin(server, t).call(method, p, body);
        assert.equal(r.status, 401, `${method} ${p} with ${t}`);
        assert.deepEqual(Object.keys(r.body), ['error']);
        assert.equal(r.body.error.code, 'unauthorized');
        assert.doesNotMatch(r.text, /guarded|already-banned|closed|bans|removed|test-admin-token/);
      }
    }
    // Nothing happened: the user is connected, the ban stands, no revocation.
    await roundTrip(c);
    assert.deepEqual(c.frames.filter(isClosing), []);
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body,
      { bans: [{ user_id: 'already-banned', until: null, reason: null }] });
    const fresh = await accepted(server, 'guarded-2', 'guarded-user', token('guarded-user'));
    fresh.terminate();
    c.terminate();
  });

  test('malformed bodies and user ids are 400, unknown connections 404, wrong methods 405 — and nobody is closed or banned', async () => {
    const room = 'mod-400';
    const target = await accepted(server, room, 'target');
    const expect = async (method, p, body, status, code) => {
      const r = await api.call(method, p, body);
      assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.error.code, code, `${method} ${p} ${JSON.stringify(body)}`);
      assert.equal(typeof r.body.error.message, 'string');
    };
    const long = 'r'.repeat(257);
    const badKicks = [
      '', 'nope', '[]', 'null', '"target"', '{}', '{"user_id":""}', '{"user_id":5}', `{"user_id":"${'u'.repeat(129)}"}`,
      '{"user_id":"target","ban_seconds":0}', '{"user_id":"target","ban_seconds":-2}',
      '{"user_id":"target","ban_seconds":1.5}', '{"user_id":"target","ban_seconds":"60"}',
      '{"user_id":"target","ban_seconds":true}', '{"user_id":"target","reason":7}',
      `{"user_id":"target","reason":"${long}"}`,
    ];
    for (const body of badKicks) await expect('POST', `/rooms/${room}/kick`, body, 400, 'bad_request');
    const badDisconnects = ['nope', '[]', '{"reason":5}', `{"reason":"${long}"}`];
    for (const body of badDisconnects) {
      await expect('POST', `/connections/${target.connectionId}/disconnect`, body, 400, 'bad_request');
      await expect('POST', '/users/target/disconnect', body, 400, 'bad_request');
    }
    const badRevokes = ['nope', '[]', '{"before":-5}', '{"before":"x"}', '{"before":1.5}', '{"reason":false}'];
    for (const body of badRevokes) await expect('POST', '/users/target/revoke', body, 400, 'bad_request');
    for (const user of ['u'.repeat(129), '%FF']) {
      await expect('POST', `/users/${user}/disconnect`, '{}', 400, 'bad_request');
      await expect('POST', `/users/${user}/revoke`, '{}', 400, 'bad_request');
      await expect('DELETE', `/rooms/${room}/bans/${user}`, undefined, 400, 'bad_request');
    }
    await expect('POST', '/rooms/bad%20room/kick', '{"user_id":"target"}', 400, 'bad_room');
    await expect('GET', '/rooms/bad%20room/bans', undefined, 400, 'bad_room');
    await expect('DELETE', '/rooms/bad%20room/bans/target', undefined, 400, 'bad_room');
    // Unknown connections: a well-formed id in a live room, an id of a room that never existed, junk.
    for (const id of [`${room}.0123456789abcdef`, 'nowhere.0123456789abcdef', 'garbage', '%FF']) {
      await expect('POST', `/connections/${id}/disconnect`, '{}', 404, 'not_found');
    }
    await expect('GET', `/rooms/${room}/kick`, undefined, 405, 'method_not_allowed');
    await expect('POST', `/rooms/${room}/bans`, '{}', 405, 'method_not_allowed');
    await expect('GET', '/users/target/revoke', undefined, 405, 'method_not_allowed');
    await expect('DELETE', `/connections/${target.connectionId}/disconnect`, undefined, 405, 'method_not_allowed');

    await roundTrip(target);
    assert.deepEqual(target.frames.filter(isClosing), [], 'nobody was closed');
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body, { bans: [] }, 'nobody was banned');
    const again = await accepted(server, 'mod-400-2', 'target', token('target')); // no iat: not revoked
    again.terminate();
    target.terminate();
  });

  test('disconnecting one connection closes it 4003 with the message; the other tab stays; a second call is 404', { timeout: 60_000 }, async () => {
    const room = 'dc-one';
    const a1 = await accepted(server, room, 'dc-alice');
    const a2 = await accepted(server, room, 'dc-alice');
    const b = await accepted(server, room, 'dc-bob');
    const r = await api.post(`/connections/${a1.connectionId}/disconnect`, { reason: 'bye' });
    assert.deepEqual([r.status, r.body], [200, { closed: 1 }]);
    await expectClosing(a1, 4003, 'kicked', 'bye');
    await roundTrip(a2, [b]);
    assert.deepEqual(b.frames.filter((f) => f.type === 'presence'), [], 'alice still has a tab: no leave');
    assert.deepEqual(a2.frames.filter(isClosing), []);
    assert.deepEqual((await api.get(`/rooms/${room}`)).body.users,
      [{ user_id: 'dc-alice', connections: 1 }, { user_id: 'dc-bob', connections: 1 }]);
    const again = await api.post(`/connections/${a1.connectionId}/disconnect`, {});
    assert.deepEqual([again.status, again.body.error.code], [404, 'not_found']);
    // An empty body is allowed; the closing frame then has no message.
    const r2 = await api.call('POST', `/connections/${a2.connectionId}/disconnect`);
    assert.deepEqual([r2.status, r2.body], [200, { closed: 1 }]);
    await expectClosing(a2, 4003, 'kicked', undefined);
    assert.deepEqual(await b.next(presence('leave', 'dc-alice')), leave('dc-alice'));
    await Promise.all([expectClosed(a1, 4003, 'kicked'), expectClosed(a2, 4003, 'kicked')]);
    b.terminate();
  });

  test('a kick closes every connection of the user in that room only, with 4003; one leave; counts follow; the user may come back', { timeout: 60_000 }, async () => {
    const room = 'kick-room';
    const k1 = await accepted(server, room, 'kickee');
    const k2 = await accepted(server, room, 'kickee');
    const elsewhere = await accepted(server, 'kick-other', 'kickee');
    const w = await accepted(server, room, 'kick-witness');
    const r = await api.post(`/rooms/${room}/kick`, { user_id: 'kickee', reason: 'spam' });
    assert.deepEqual([r.status, r.body], [200, { closed: 2 }]);
    await expectClosing(k1, 4003, 'kicked', 'spam');
    await expectClosing(k2, 4003, 'kicked', 'spam');
    assert.deepEqual(await w.next(presence('leave', 'kickee')), leave('kickee'));
    await roundTrip(w);
    assert.deepEqual(w.frames.filter((f) => f.type === 'presence'), [], 'exactly one leave');
    await roundTrip(elsewhere);
    assert.deepEqual(elsewhere.frames.filter(isClosing), [], 'the other room is untouched');
    assert.deepEqual((await api.get(`/rooms/${room}`)).body,
      { room, connections: 1, users: [{ user_id: 'kick-witness', connections: 1 }] });
    await converges(async () => (await api.get('/users/kickee')).body,
      { user_id: 'kickee', connections: 1, rooms: { 'kick-other': 1 } });
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body, { bans: [] }, 'a kick alone bans nobody');
    const back = await accepted(server, room, 'kickee');
    assert.deepEqual(await w.next(presence('join', 'kickee')), { type: 'presence', event: 'join', user_id: 'kickee' });
    assert.deepEqual((await api.post(`/rooms/${room}/kick`, { user_id: 'not-here' })).body, { closed: 0 });
    await Promise.all([expectClosed(k1, 4003, 'kicked'), expectClosed(k2, 4003, 'kicked')]);
    for (const c of [back, elsewhere, w]) c.terminate();
  });

  test('a ban closes 4004, refuses upgrades 403 banned with until, is listed, can be replaced, and unbanning lets the user back', { timeout: 60_000 }, async () => {
    const room = 'ban-room';
    const b1 = await accepted(server, room, 'banned-bob');
    const w = await accepted(server, room, 'ban-witness');
    const r = await api.post(`/rooms/${room}/kick`, { user_id: 'banned-bob', ban_seconds: -1, reason: 'abuse' });
    assert.deepEqual([r.status, r.body], [200, { closed: 1 }]);
    await expectClosing(b1, 4004, 'banned', 'abuse');
    assert.deepEqual(await w.next(presence('leave', 'banned-bob')), leave('banned-bob'));
    const refusal = await refusedUpgrade(server, room, token('banned-bob', { iat: nowS() }), 403, 'banned');
    assert.equal(refusal.error.until, null);
    assert.ok('until' in refusal.error);
    const other = await accepted(server, 'ban-elsewhere', 'banned-bob'); // a ban is per room
    other.terminate();
    // A banned user reads neither the room's history nor its members; elsewhere, and the
    // admin, read as before.
    const read = async (path, t) => {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${t}` } });
      const body = await res.json();
      return [res.status, body.error?.code];
    };
    const bobToken = token('banned-bob', { iat: nowS() });
    for (const path of [`/rooms/${room}/messages`, `/rooms/${room}/members`]) {
      assert.deepEqual(await read(path, bobToken), [403, 'banned'], path);
      assert.deepEqual(await read(path, ADMIN_TOKEN), [200, undefined], path);
    }
    assert.deepEqual(await read('/rooms/ban-elsewhere/messages', bobToken), [200, undefined]);

    // A timed ban of someone who is not connected: stored all the same.
    const t1 = Date.now();
    const timed = await api.post(`/rooms/${room}/kick`, { user_id: 'absent-ann', ban_seconds: 60 });
    const t2 = Date.now();
    assert.deepEqual(timed.body, { closed: 0 });
    const { bans } = (await api.get(`/rooms/${room}/bans`)).body;
    assert.deepEqual(bans.map((b) => [b.user_id, b.reason]), [['absent-ann', null], ['banned-bob', 'abuse']], 'ordered by user id');
    const until = bans[0].until;
    assert.ok(until >= t1 + 60_000 - 1000 && until <= t2 + 60_000 + 1000, `until ${until - t1} ms after the call`);
    assert.deepEqual(bans[1], { user_id: 'banned-bob', until: null, reason: 'abuse' });
    assert.equal((await refusedUpgrade(server, room, token('absent-ann'), 403, 'banned')).error.until, until);
    // Banning again replaces the ban.
    await api.post(`/rooms/${room}/kick`, { user_id: 'absent-ann', ban_seconds: -1, reason: 'worse' });
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body.bans[0], { user_id: 'absent-ann', until: null, reason: 'worse' });
    // User ids in the path are percent-encoded UTF-8.
    await api.post(`/rooms/${room}/kick`, { user_id: 'zoë', ban_seconds: -1 });
    await refusedUpgrade(server, room, token('zoë'), 403, 'banned');

    const lift = await api.call('DELETE', `/rooms/${room}/bans/banned-bob`);
    assert.deepEqual([lift.status, lift.body], [200, { removed: true }]);
    const back = await accepted(server, room, 'banned-bob');
    assert.deepEqual(await read(`/rooms/${room}/messages`, bobToken), [200, undefined], 'unbanned: reads again');
    assert.deepEqual(await w.next(presence('join', 'banned-bob')), { type: 'presence', event: 'join', user_id: 'banned-bob' });
    assert.deepEqual((await api.call('DELETE', `/rooms/${room}/bans/banned-bob`)).body, { removed: false });
    assert.deepEqual((await api.call('DELETE', `/rooms/${room}/bans/${encodeURIComponent('zoë')}`)).body, { removed: true });
    assert.deepEqual((await api.call('DELETE', `/rooms/${room}/bans/absent-ann`)).body, { removed: true });
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body, { bans: [] });
    const zoe = await accepted(server, room, 'zoë');
    await expectClosed(b1, 4004, 'banned');
    for (const c of [back, zoe, w]) c.terminate();
  });

  test('a timed ban ends by itself: refused until `until`, accepted from then on, no longer listed', { timeout: 60_000 }, async () => {
    const room = 'ban-timed';
    const c = await accepted(server, room, 'brief-ban');
    assert.deepEqual((await api.post(`/rooms/${room}/kick`, { user_id: 'brief-ban', ban_seconds: 2 })).body, { closed: 1 });
    await expectClosing(c, 4004, 'banned', undefined);
    const [{ until }] = (await api.get(`/rooms/${room}/bans`)).body.bans;
    // Poll upgrades: each is refused with that `until` until the ban is over.
    let back;
    while (!back) {
      assert.ok(Date.now() < until + 5_000, 'the ban ended within 5 s of its until');
      const r = await tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${token('brief-ban')}`);
      if (r.client) {
        back = r.client;
        assert.ok(Date.now() >= until, 'not accepted before the ban ends');
      } else {
        assert.deepEqual([r.status, r.body.error.code, r.body.error.until], [403, 'banned', until]);
        await sleep(100);
      }
    }
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body, { bans: [] }, 'expired bans are not listed');
    assert.deepEqual((await api.call('DELETE', `/rooms/${room}/bans/brief-ban`)).body, { removed: false });
    await expectClosed(c, 4004, 'banned');
    back.terminate();
  });

  test('a ban survives the room\'s eviction, and an evicted room still kicks', { timeout: 90_000 }, async () => {
    const room = 'ban-evict';
    const v = await accepted(server, room, 'evictee');
    const sleeper = await accepted(server, room, 'sleeper');
    const asleep = await roomDebug(server, room);
    const r = await api.post(`/rooms/${room}/kick`, { user_id: 'evictee', ban_seconds: -1, reason: 'out' });
    assert.deepEqual(r.body, { closed: 1 });
    // The close event comes when workerd evicts the room: the marker (checked below).
    await expectServerClose(v, 4004, 'banned', 'out');
    const kickAt = Date.now();
    const k = await api.post(`/rooms/${room}/kick`, { user_id: 'sleeper' });
    assert.deepEqual(k.body, { closed: 1 }, 'the woken room found the socket by its tags');
    await expectClosing(sleeper, 4003, 'kicked', undefined);
    const awake = await evictedSince(server, room, asleep);
    assert.ok(awake.created_ms > asleep.created_ms && awake.created_ms <= kickAt + 1000,
      'the kick was served by an instance constructed after the eviction');
    assert.deepEqual((await api.get(`/rooms/${room}/bans`)).body, { bans: [{ user_id: 'evictee', until: null, reason: 'out' }] });
    assert.equal((await refusedUpgrade(server, room, token('evictee', { iat: nowS() }), 403, 'banned')).error.until, null);
    await expectClosed(sleeper, 4003, 'kicked');
  });

  test('bans survive a workerd restart with persistence, and so does lifting one', { timeout: 60_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-bans-'));
    const room = 'ban-restart';
    try {
      let listed;
      await withServer({ persistDir: dir }, async (s, sapi) => {
        const c = await accepted(s, room, 'forever');
        assert.deepEqual((await sapi.post(`/rooms/${room}/kick`, { user_id: 'forever', ban_seconds: -1, reason: 'gone' })).body, { closed: 1 });
        await expectClosing(c, 4004, 'banned', 'gone');
        assert.deepEqual((await sapi.post(`/rooms/${room}/kick`, { user_id: 'timed', ban_seconds: 3600 })).body, { closed: 0 });
        listed = (await sapi.get(`/rooms/${room}/bans`)).body;
        assert.deepEqual(listed.bans.map((b) => b.user_id), ['forever', 'timed']);
        c.terminate();
      }); // workerd stops
      await withServer({ persistDir: dir }, async (s, sapi) => {
        assert.deepEqual((await sapi.get(`/rooms/${room}/bans`)).body, listed, 'the same bans after the restart');
        assert.equal((await refusedUpgrade(s, room, token('forever', { iat: nowS() }), 403, 'banned')).error.until, null);
        assert.equal((await refusedUpgrade(s, room, token('timed'), 403, 'banned')).error.until, listed.bans[1].until);
        assert.deepEqual((await sapi.call('DELETE', `/rooms/${room}/bans/forever`)).body, { removed: true });
        (await accepted(s, room, 'forever')).terminate();
      });
      await withServer({ persistDir: dir }, async (s, sapi) => {
        assert.deepEqual((await sapi.get(`/rooms/${room}/bans`)).body, { bans: [listed.bans[1]] }, 'the unban was stored');
        (await accepted(s, room, 'forever')).terminate();
        await refusedUpgrade(s, room, token('timed'), 403, 'banned');
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('disconnecting a user closes every connection in every room with 4003; others see the leave; counts follow', { timeout: 60_000 }, async () => {
    const a = await accepted(server, 'dis-a', 'roamer');
    const b1 = await accepted(server, 'dis-b', 'roamer');
    const b2 = await accepted(server, 'dis-b', 'roamer');
    const w = await accepted(server, 'dis-a', 'dis-witness');
    const r = await api.post('/users/roamer/disconnect', { reason: 'maintenance' });
    assert.deepEqual([r.status, r.body], [200, { closed: 3 }]);
    for (const c of [a, b1, b2]) await expectClosing(c, 4003, 'kicked', 'maintenance');
    assert.deepEqual(await w.next(presence('leave', 'roamer')), leave('roamer'));
    await converges(async () => (await api.get('/users/roamer')).body, { user_id: 'roamer', connections: 0, rooms: {} });
    assert.deepEqual((await api.get('/rooms/dis-b')).body, { room: 'dis-b', connections: 0, users: [] });
    assert.deepEqual((await api.post('/users/nobody-anywhere/disconnect', {})).body, { closed: 0 });
    // Not a ban: the user comes back, and an empty body works too.
    const again = await accepted(server, 'dis-b', 'roamer');
    const r2 = await api.call('POST', '/users/roamer/disconnect');
    assert.deepEqual([r2.status, r2.body], [200, { closed: 1 }]);
    await expectClosing(again, 4003, 'kicked', undefined);
    await Promise.all([a, b1, b2, again].map((c) => expectClosed(c, 4003, 'kicked')));
    w.terminate();
  });

  test('revoke closes the covered connections in every room with 4005; revoked tokens are refused 401 revoked, newer ones accepted', { timeout: 60_000 }, async () => {
    const user = 'rv-alice';
    const now = nowS();
    const cutoff = now - 5;
    const old = token(user, { iat: now - 10 });
    const noIat = token(user);
    const newer = token(user, { iat: cutoff }); // issued at `before`: not covered
    const a1 = await accepted(server, 'rv-a', user, old);
    const keep = await accepted(server, 'rv-a', user, newer);
    const a2 = await accepted(server, 'rv-b', user, noIat);
    const a3 = await accepted(server, 'rv-b', user, old);
    const bobA = await accepted(server, 'rv-a', 'rv-bob');
    const bobB = await accepted(server, 'rv-b', 'rv-bob');

    const r = await api.post(`/users/${user}/revoke`, { before: cutoff, reason: 'leaked' });
    assert.deepEqual([r.status, r.body], [200, { closed: 3 }]);
    for (const c of [a1, a2, a3]) await expectClosing(c, 4005, 'revoked', 'leaked');
    assert.deepEqual(await bobB.next(presence('leave', user)), leave(user));
    await roundTrip(keep, [bobA]);
    assert.deepEqual(bobA.frames.filter((f) => f.type === 'presence'), [], 'alice still has a connection in rv-a');
    assert.deepEqual(keep.frames.filter(isClosing), [], 'a token issued at `before` is not covered');

    // Refused: in a room alice never joined (the room asks her registry), in a room where she
    // is connected (checked by the room itself), and where she was (the room remembers).
    for (const room of ['rv-new', 'rv-a', 'rv-b']) {
      for (const t of [old, noIat]) await refusedUpgrade(server, room, t, 401, 'revoked');
    }
    // History and member reads with a user token are refused too; the newer token reads.
    const read = async (path, t) => {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${t}` } });
      const body = await res.json();
      return [res.status, body.error?.code];
    };
    for (const path of ['/rooms/rv-a/messages', '/rooms/rv-a/members', '/rooms/rv-elsewhere/messages']) {
      for (const t of [old, noIat]) assert.deepEqual(await read(path, t), [401, 'revoked'], path);
      assert.deepEqual(await read(path, newer), [200, undefined], path);
    }
    const fresh = await accepted(server, 'rv-new', user, newer);
    const fresher = await accepted(server, 'rv-new-2', user, token(user, { iat: nowS() }));
    // A refresh with a revoked token is refused; with a newer one accepted.
    keep.send({ type: 'auth', token: old, id: 'old' });
    assert.deepEqual(await keep.next((f) => f.id === 'old', AFTER_CLOSE_MS).then((f) => [f.type, f.code]), ['error', 'unauthorized']);
    const exp = nowS() + 600;
    keep.send({ type: 'auth', token: token(user, { iat: nowS(), exp }), id: 'new' });
    assert.deepEqual(await keep.next((f) => f.id === 'new', AFTER_CLOSE_MS), { type: 'auth_ok', exp, id: 'new' });

    // A later revocation with an earlier `before` does not shorten the first.
    assert.deepEqual((await api.post(`/users/${user}/revoke`, { before: now - 1000 })).body, { closed: 0 });
    await refusedUpgrade(server, 'rv-new-3', token(user, { iat: now - 500 }), 401, 'revoked');

    await converges(async () => (await api.get(`/users/${user}`)).body,
      { user_id: user, connections: 3, rooms: { 'rv-a': 1, 'rv-new': 1, 'rv-new-2': 1 } });
    await Promise.all([a1, a2, a3].map((c) => expectClosed(c, 4005, 'revoked')));
    for (const c of [keep, fresh, fresher, bobA, bobB]) c.terminate();
  });

  test('a revoke without `before` covers a token issued earlier in the same second (iat has whole seconds)', { timeout: 30_000 }, async () => {
    const user = 'rv-same-second';
    // Start early in a second, so that the token and the revocation share it.
    await new Promise((ok) => setTimeout(ok, 1000 - (Date.now() % 1000) + 20));
    const t = token(user, { iat: nowS() });
    assert.deepEqual((await api.post(`/users/${user}/revoke`, {})).body, { closed: 0 });
    await refusedUpgrade(server, 'rv-same-second', t, 401, 'revoked');
  });

  test('a refused revoked first upgrade does not undo a newer token\'s upgrade waiting beside it', { timeout: 60_000 }, async () => {
    // Both are the user's first connect to their room, so both wait for the registry; whichever
    // resumes first, the accepted one must stay known to the registry.
    const user = 'rv-pair';
    const now = nowS();
    assert.equal((await api.post(`/users/${user}/revoke`, { before: now - 5 })).status, 200);
    const rooms = ['rv-pair-1', 'rv-pair-2', 'rv-pair-3', 'rv-pair-4', 'rv-pair-5'];
    const pairs = await Promise.all(rooms.map((room) => Promise.all([
      tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${token(user, { iat: now - 10 })}`),
      tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${token(user, { iat: now })}`),
    ])));
    assert.deepEqual(pairs.map(([old, fresh]) => [old.status, Boolean(fresh.client)]), rooms.map(() => [401, true]));
    const expected = Object.fromEntries(rooms.map((r) => [r, 1]));
    await converges(async () => (await api.get(`/users/${user}`)).body.rooms, expected);
    // A wrong take-back would be a later report, queued by the refusal in its room's queue to
    // the user's registry shard. The marker: in each room, the first connection of another user
    // of that shard — its report joins the same queue behind the take-back, and its welcome
    // waits for the shard's answer. Once every marker is in, any take-back has been applied.
    const markers = await Promise.all(rooms.map((room) => accepted(server, room, sameShardAs(user, 'rv-pair-marker'))));
    assert.deepEqual((await api.get(`/users/${user}`)).body.rooms, expected);
    for (const [, fresh] of pairs) fresh.client.terminate();
    for (const m of markers) m.terminate();
  });

  test('a refused revoked upgrade leaves the counts as they were', {
    timeout: 30_000,
  }, async () => {
    // Its own server: GET /stats is global.
    await withServer({}, async (s, sapi) => {
      const stats = async () => (await sapi.get('/stats')).body;
      await converges(stats, { connections: 0, rooms: 0, users: 0 });
      assert.deepEqual((await sapi.post('/users/rv-stats/revoke', {})).body, { closed: 0 });
      await refusedUpgrade(s, 'rv-stats-room', token('rv-stats', { iat: nowS() - 60 }), 401, 'revoked');
      // A banned user's refusal for comparison: decided before any report, counts untouched.
      await sapi.post('/rooms/rv-stats-room/kick', { user_id: 'rv-banned', ban_seconds: -1 });
      await refusedUpgrade(s, 'rv-stats-room', token('rv-banned'), 403, 'banned');
      // A marker: one real connection, into the same room — its room's reports come after any
      // report of the refusals (one in flight per room, the latest count last), and the room
      // itself says exactly what it holds. The totals converge to exactly it.
      const marker = await accepted(s, 'rv-stats-room', 'rv-marker');
      assert.deepEqual((await sapi.get('/rooms/rv-stats-room')).body,
        { room: 'rv-stats-room', connections: 1, users: [{ user_id: 'rv-marker', connections: 1 }] });
      await converges(stats, { connections: 1, rooms: 1, users: 1 }, { ms: 3000 });
      // And the final counts: with the marker gone, nothing at all. (A count the refusals left
      // behind would stay; a match on the way to another count cannot pass here.)
      marker.terminate();
      await converges(stats, { connections: 0, rooms: 0, users: 0 }, { ms: 3000 });
    });
  });

  test('a revocation is stored durably: it survives the registry\'s eviction and a workerd restart', { timeout: 60_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-revoke-'));
    const user = 'rv-durable';
    const cutoff = nowS();
    const old = token(user, { iat: cutoff - 60 });
    try {
      await withServer({ persistDir: dir }, async (s, sapi) => {
        // Not connected anywhere: only the registry knows, no room has stored it.
        assert.deepEqual((await sapi.post(`/users/${user}/revoke`, { before: cutoff })).body, { closed: 0 });
        // The registry has no debug endpoint to prove its eviction: idle long enough that
        // workerd must have evicted it (the room tests prove the 10 s for rooms), then ask.
        await sleep(EVICTION_WAIT_MS);
        await refusedUpgrade(s, 'rvd-after-idle', old, 401, 'revoked');
      });
      await withServer({ persistDir: dir }, async (s) => {
        // A new workerd process: nothing in memory. Rooms never visited ask the registry.
        await refusedUpgrade(s, 'rvd-after-restart', old, 401, 'revoked');
        await refusedUpgrade(s, 'rvd-after-restart', token(user), 401, 'revoked');
        (await accepted(s, 'rvd-after-restart', user, token(user, { iat: cutoff }))).terminate();
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
