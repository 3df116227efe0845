// Reconnects the room already knows about ask the registry nothing, and revocation stays exact
// (issue 24, item 3). A user's first connection to a room awaits a round trip to the user's
// registry shard (revocation, MAX_ROOMS_PER_USER, presence). Once the registry counts the user
// in the room it pushes every revocation of theirs there, and the room remembers in SQLite
// that the registry counts them (`counted_users`, src/shell/room/counted_users.rs) — so after a
// workerd restart (the local stand-in for a deploy: objects start cold, their SQLite is there,
// no close was ever handled) a reconnect is checked by the room alone: 0 registry requests,
// counted by the objects' meter (GET /dev/meter).
//
// A user who comes back within a second of their last close (a reload, a network blip) is
// still counted: the report of that close is held a moment (LEAVE_HOLD_MS, src/room/reports.rs)
// and never sent, and the reconnect asks nothing either.
//
// Revocation is proven exact for the three kinds of user: new to the room (refused by the
// registry's answer), known and still connected elsewhere in the room (refused locally, live
// connection closed 4005), known after a restart (the revocation, made while the room slept,
// pushed to it and refused locally). A revoked token is refused with HTTP 401 before a socket
// exists, so it gets no room traffic at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, killable, SECRET } from './support/server.mjs';
import { join, until, sleep } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { refusedUpgrade } from './support/sessions.mjs';
import jwt from './support/jwt.mjs';

const nowS = () => Math.floor(Date.now() / 1000);
/** A day-long token issued `ago` seconds ago. Tests mint a user's old token once, before any
 * revocation: minted later (after a restart, an eviction) it would be newer than it. */
const token = (sub, ago = 0) => jwt.sign({ sub, iat: nowS() - ago, exp: nowS() + 86_400 }, SECRET);
const meter = async (server) => (await fetch(`${server.url}/dev/meter`)).json();
/** The registry requests made since `before` (a meter read). */
const registryRequests = async (server, before) => (await meter(server)).registry.requests - before.registry.requests;

test('a new user\'s revoked token is refused by the registry\'s answer; a known user\'s by the room', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const api = admin(server);
    const old = { stranger: token('stranger', 5), known: token('known', 5) };
    // New to the room (and to the registry): the revocation came first.
    assert.equal((await api.post('/users/stranger/revoke', {})).status, 200);
    await refusedUpgrade(server, 'ku-room', old.stranger, 401, 'revoked');
    // Known: connected here, with a second connection opening on an older token after the
    // revocation; the live one is closed 4005, the new one refused before it exists.
    const live = await join(server, 'ku-room', 'known', { token: old.known });
    assert.equal((await api.post('/users/known/revoke', {})).body.closed, 1);
    await refusedUpgrade(server, 'ku-room', old.known, 401, 'revoked');
    await live.closedWithin(15_000, 'the known user\'s live connection closed by the revocation');
    await refusedUpgrade(server, 'ku-room', old.known, 401, 'revoked');
    // A token issued after the revocation is welcome.
    await sleep(1100);
    (await join(server, 'ku-room', 'known', { token: token('known') })).terminate();
  } finally {
    await server.stop();
  }
});

test('after a restart, users the registry counts reconnect with 0 registry requests; a revocation made meanwhile is pushed and holds', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-known-'));
  const users = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'];
  const rooms = ['ku-a', 'ku-b'];
  const old = Object.fromEntries(users.map((u) => [u, token(u, 5)]));
  const first = await killable(() => startServer({ persistDir }));
  try {
    const clients = [];
    for (const [i, u] of users.entries()) clients.push(await join(first, rooms[i % 2], u, { token: old[u] }));
    await sleep(500); // the registry stores what it answered a moment after answering
    await first.killHard();
    for (const c of clients) c.terminate();
  } finally {
    await first.mf.dispose().catch(() => {});
  }

  const second = await startServer({ persistDir });
  try {
    const api = admin(second);
    // Revoked while every room slept: the push wakes eve's room, which stores it.
    assert.equal((await api.post('/users/eve/revoke', {})).status, 200);
    const m0 = await meter(second);
    const back = [];
    for (const [i, u] of users.entries()) {
      if (u === 'eve') continue;
      back.push(await join(second, rooms[i % 2], u, { token: old[u] }));
    }
    assert.equal(await registryRequests(second, m0), 0, 'known users reconnected without a registry request');
    // Eve's reconnect is refused by the room alone (its report of 0 then tells the registry,
    // which still counted her there from before the kill, that she is gone).
    await refusedUpgrade(second, 'ku-a', old.eve, 401, 'revoked');
    // And the revocation of a known user after the restart is still pushed to the room.
    assert.equal((await api.post('/users/ann/revoke', {})).body.closed, 1, 'ann\'s reconnection closed');
    await refusedUpgrade(second, 'ku-a', old.ann, 401, 'revoked');
    for (const c of back) c.terminate();
  } finally {
    await second.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('a user who left is asked for again: the registry answers (rooms and revocations may have changed)', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const c = await join(server, 'ku-left', 'gus', { token: token('gus', 5) });
    await c.close();
    // The room reports the last close (0) in the background: wait until the registry has it.
    await until(async () => (await admin(server).get('/users/gus')).body.connections === 0, { what: 'gus gone' });
    const m0 = await meter(server);
    (await join(server, 'ku-left', 'gus', { token: token('gus', 5) })).terminate();
    assert.ok(await registryRequests(server, m0) >= 1, 'the reconnect asked the registry');
  } finally {
    await server.stop();
  }
});

test('a reload within a second tells and asks the registry nothing; a leave is reported after the hold', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const other = await join(server, 'ku-reload', 'hal'); // keeps the room in memory
    const c = await join(server, 'ku-reload', 'ivy', { token: token('ivy', 5) });
    await sleep(500); // ivy's first report answered and stored
    const m0 = await meter(server);
    await c.close();
    const back = await join(server, 'ku-reload', 'ivy', { token: token('ivy', 5) });
    await sleep(2500); // past the hold: the first close's report would have gone by now
    assert.equal(await registryRequests(server, m0), 0, 'the reload made no registry request');
    // ivy's next close is reported once the hold is over.
    const m1 = await meter(server);
    await back.terminate();
    await until(async () => (await meter(server)).registry.requests > m1.registry.requests,
      { ms: 5000, what: 'the held leave reported' });
    other.terminate();
  } finally {
    await server.stop();
  }
});
