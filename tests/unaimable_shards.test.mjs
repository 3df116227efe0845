// Registry shards cannot be aimed at (issue 22). User ids (and room names, for their message
// counters) are chosen by whoever holds a token; with a public hash (FNV-1a) anyone can find ids
// that share a shard and aim directs, unread reads or connects at it. With REGISTRY_SHARD_KEY,
// a name's shard is HMAC-SHA256 keyed with a secret of its own: 40 users that FNV-1a puts on
// one shard spread over many, as the registry databases on disk show, and everything the
// registry does — presence, directs to a user, revocation, unread counts across rooms — works
// the same from every object that computes a shard (front worker, rooms, shards).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listDatabases } from './support/databases.mjs';
import { startServer } from './support/server.mjs';
import { devToken, join, tryConnect, socketUrl } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { acked, isReceipt, post } from './support/chat.mjs';

const REGISTRY_SHARDS = 64;
const fnv1a = (s) => {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
};
/** `n` user ids whose public (FNV-1a) shard is 0: what an attacker would aim with. */
const aimedAtShardZero = (n) => {
  const out = [];
  for (let i = 0; out.length < n; i++) if (fnv1a(`aimed-${i}`) % REGISTRY_SHARDS === 0) out.push(`aimed-${i}`);
  return out;
};

/** Which registry databases hold a `rooms` row of each of `users`: {user: [file, ...]}. */
function registryFilesOf(persistDir, users) {
  const dbs = listDatabases(persistDir);
  const out = Object.fromEntries(users.map((u) => [u, []]));
  for (const files of Object.values(dbs)) {
    for (const [file, tables] of Object.entries(files)) {
      for (const row of tables.rooms ?? []) if (row[0] in out && !out[row[0]].includes(file)) out[row[0]].push(file);
    }
  }
  return out;
}

test('with REGISTRY_SHARD_KEY, ids aimed at one shard spread over many, and the registry works the same', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-shards-'));
  const users = aimedAtShardZero(40);
  const server = await startServer({ persistDir, vars: { REGISTRY_SHARD_KEY: 'a-key-of-its-own' } });
  const api = admin(server);
  const sockets = [];
  try {
    for (const [i, user] of users.entries()) sockets.push(await join(server, `aim-${i % 4}`, user));
    // Presence: every user's registry shard knows their room (GET /users is exact).
    for (const [i, user] of users.entries()) {
      await eventually(async () => (await api.get(`/users/${user}`)).body, { connections: 1, rooms: { [`aim-${i % 4}`]: 1 }, user_id: user });
    }
    // A direct to a user, from a room to the user's shard and on to the user's room.
    const [a, b] = [sockets[0], sockets[1]];
    a.send({ type: 'direct', to: { user_id: users[1] }, data: 'psst', id: 'd1' });
    assert.deepEqual((await b.next((f) => f.type === 'direct')).data, 'psst');
    // Unread counts across rooms: cursors and room counters live on keyed shards too.
    await post(sockets[4], 'one'); // aim-0, by users[4]
    await post(sockets[4], 'two');
    a.send({ type: 'read', seq: 1 });
    await sockets[4].next(isReceipt(users[0], 1));
    const token = await devToken(server, users[0]);
    await eventually(async () => (await (await fetch(`${server.url}/me/unread`, { headers: { authorization: `Bearer ${token}` } })).json()),
      { rooms: { 'aim-0': 1 } });
    // Revocation: stored on the user's shard, found by the rooms and the front worker.
    const victim = users[2];
    const old = await devToken(server, victim);
    await new Promise((ok) => setTimeout(ok, 1100));
    assert.deepEqual((await api.post(`/users/${victim}/revoke`, {})).body, { closed: 1 });
    const refused = await tryConnect(socketUrl(server, 'aim-elsewhere', old));
    assert.deepEqual([refused.status, refused.body.error?.code], [401, 'revoked']);
  } finally {
    for (const s of sockets) s.terminate();
    await server.stop();
  }
  const files = registryFilesOf(persistDir, users);
  for (const u of users) assert.equal(files[u].length, 1, `${u}: one shard holds it (${files[u]})`);
  const shards = new Set(Object.values(files).map((f) => f[0]));
  // FNV-1a would put all 40 on one; a keyed hash puts 40 names on ~30 of 64 shards.
  assert.ok(shards.size >= 15, `40 aimed ids on ${shards.size} shard(s)`);
  fs.rmSync(persistDir, { recursive: true, force: true });
});
