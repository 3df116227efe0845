// Storage only where there is something to store (issue 12): requests that name rooms, users
// and connections nobody ever used — history reads (user and admin token), directs from a
// client to a connection in an unused room and to an unknown user, the server API's user read,
// user post and connection post, the room reads (`GET /rooms/{room}`, its members with a user
// token, its bans, its webhook dead letters), the unread reads (`GET /users/{user}/unread`,
// `GET /me/unread` with the user's own token) and `GET /registry/webhooks/dead`, which asks all
// 64 registry shards — write no table and no row anywhere, set no alarm, and leave no row in the
// stats shards; a room or user back at zero connections leaves no stats row. Webhooks are on
// (every kind, `direct_undelivered` included: since issue 22 a direct or a post to a user id
// never seen connected records no event, so it writes nothing either), so the dead-letter reads
// meet a worker that has outboxes.
//
// How it is checked: the worker runs with a persistence directory; after the requests the
// server is stopped and every SQLite database in it is opened (a copy, with Python's sqlite3)
// and listed. Each Durable Object has one database file named by its id, so the files of the
// fresh names are known exactly (`idFromName`).
//
// Local workerd creates an empty SQLite database file (4 KiB, no table) for every Durable
// Object it instantiates, even for a fetch that does nothing — so "no file" cannot hold
// locally for requests that must ask an object (a history read must ask the room whether it
// has messages). What is asserted instead: no file holds a table or a row, and there are no
// more files than objects the requests had to wake (one per fresh name) plus the objects of
// the one real connection (its room, its user's registry shard), the 16 stats shards and the
// 64 registry shards `GET /stats` and `GET /registry/webhooks/dead` ask.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listDatabases } from './support/databases.mjs';
import { startServer } from './support/server.mjs';
import { devToken, join } from './support/client.mjs';
import { admin, eventually } from './support/admin.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

const STATS_SHARDS = 16;
const REGISTRY_SHARDS = 64;
const REQUESTS = 200;

/** The registry shard object of a user: `registry-{FNV-1a(user) % 64}` (src/registry/shards.rs: no REGISTRY_SHARD_KEY here). */
function registryOf(user) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(user, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `registry-${h % REGISTRY_SHARDS}`;
}

test('requests naming unused rooms, users and connections store nothing anywhere', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-hygiene-'));
  const receiver = await startReceiver();
  // Loose buckets: one client sends dozens of directs.
  const server = await startServer({
    persistDir,
    vars: webhookVars(receiver, {
      RATE_LIMIT_BURST: '1000', DIRECT_RATE_BURST: '1000', WEBHOOK_EVENTS: 'message,presence,occupancy,moderation,direct_undelivered',
    }),
  });
  const fresh = { rooms: [], users: [] };
  const base = { room: 'hygiene-base', user: 'hygiene-alice' };
  let ids;
  try {
    const api = admin(server);
    const token = await devToken(server, base.user);
    const alice = await join(server, base.room, base.user, { token });
    // Something to store, as a control: the base room's first message creates its log.
    alice.send({ type: 'publish', data: 'stored', id: 'p1' });
    await alice.next((f) => f.type === 'ack' && f.id === 'p1');

    const hex16 = (i) => i.toString(16).padStart(16, '0');
    const kinds = [
      async (i) => { // a history read with a user token
        const room = `fresh-read-${i}`;
        fresh.rooms.push(room);
        const r = await fetch(`${server.url}/rooms/${room}/messages`, { headers: { Authorization: `Bearer ${token}` } });
        assert.deepEqual([r.status, await r.json()], [200, { messages: [], next: null }]);
      },
      async (i) => { // a history read with the admin token
        const room = `fresh-admin-read-${i}`;
        fresh.rooms.push(room);
        const r = await api.get(`/rooms/${room}/messages?since=0`);
        assert.deepEqual([r.status, r.body], [200, { messages: [], next: null }]);
      },
      async (i) => { // a client's direct to a connection in a room nobody used
        const room = `fresh-direct-conn-${i}`;
        fresh.rooms.push(room);
        alice.send({ type: 'direct', to: { connection_id: `${room}.${hex16(i)}` }, data: 1, id: `c${i}` });
        assert.equal((await alice.next((f) => f.type === 'error' && f.id === `c${i}`)).code, 'not_found');
      },
      async (i) => { // a client's direct to an unknown user
        const user = `fresh-direct-user-${i}`;
        fresh.users.push(user);
        alice.send({ type: 'direct', to: { user_id: user }, data: 1, id: `u${i}` });
        assert.equal((await alice.next((f) => f.type === 'error' && f.id === `u${i}`)).code, 'not_found');
      },
      async (i) => { // GET /users/{user}
        const user = `fresh-read-user-${i}`;
        fresh.users.push(user);
        assert.deepEqual((await api.get(`/users/${user}`)).body, { user_id: user, connections: 0, rooms: {} });
      },
      async (i) => { // POST /users/{user}/messages
        const user = `fresh-post-user-${i}`;
        fresh.users.push(user);
        assert.deepEqual((await api.post(`/users/${user}/messages`, { data: 1 })).body, { delivered: 0 });
      },
      async (i) => { // POST /connections/{room}.{hex}/messages
        const room = `fresh-post-conn-${i}`;
        fresh.rooms.push(room);
        const r = await api.post(`/connections/${room}.${hex16(i)}/messages`, { data: 1 });
        assert.deepEqual([r.status, r.body.error?.code], [404, 'not_found']);
      },
      async (i) => { // GET /rooms/{room}
        const room = `fresh-info-${i}`;
        fresh.rooms.push(room);
        const r = await api.get(`/rooms/${room}`);
        assert.deepEqual([r.status, r.body], [200, { room, connections: 0, users: [] }]);
      },
      async (i) => { // GET /rooms/{room}/members with a user token
        const room = `fresh-members-${i}`;
        fresh.rooms.push(room);
        const r = await fetch(`${server.url}/rooms/${room}/members`, { headers: { Authorization: `Bearer ${token}` } });
        assert.deepEqual([r.status, await r.json()], [200, { room, member_count: 0, members: [] }]);
      },
      async (i) => { // GET /rooms/{room}/bans
        const room = `fresh-bans-${i}`;
        fresh.rooms.push(room);
        const r = await api.get(`/rooms/${room}/bans`);
        assert.deepEqual([r.status, r.body], [200, { bans: [] }]);
      },
      async (i) => { // GET /rooms/{room}/webhooks/dead
        const room = `fresh-dead-${i}`;
        fresh.rooms.push(room);
        const r = await api.get(`/rooms/${room}/webhooks/dead`);
        assert.deepEqual([r.status, r.body], [200, { batches: [], total: 0 }]);
      },
      async (i) => { // GET /users/{user}/unread
        const user = `fresh-unread-${i}`;
        fresh.users.push(user);
        const r = await api.get(`/users/${user}/unread`);
        assert.deepEqual([r.status, r.body], [200, { rooms: {} }]);
      },
      async (i) => { // GET /me/unread with the user's own token
        const user = `fresh-me-${i}`;
        fresh.users.push(user);
        const own = await devToken(server, user);
        const r = await fetch(`${server.url}/me/unread`, { headers: { Authorization: `Bearer ${own}` } });
        assert.deepEqual([r.status, await r.json()], [200, { rooms: {} }]);
      },
    ];
    // Eight at a time: all the kinds interleave.
    for (let i = 0; i < REQUESTS; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, REQUESTS - i) }, (_, k) => kinds[(i + k) % kinds.length](i + k)));
    }
    assert.equal(fresh.rooms.length + fresh.users.length, REQUESTS);
    // Every registry shard is asked for its dead letters; none ever had a webhook event.
    const dead = await api.get('/registry/webhooks/dead');
    assert.deepEqual([dead.status, dead.body], [200, { batches: [], total: 0 }]);

    // Marker for the background reports (stats, registries): alice leaves and the global
    // counts converge to zero — the rooms and registries have reported everything by then.
    await alice.close();
    await eventually(async () => (await api.get('/stats')).body, { connections: 0, rooms: 0, users: 0 });
    await eventually(async () => (await api.get(`/users/${base.user}`)).body.connections, 0);

    const idOf = async (binding, name) => (await server.mf.getDurableObjectNamespace(binding)).idFromName(name).toString();
    ids = {
      rooms: new Map(await Promise.all(fresh.rooms.map(async (r) => [await idOf('ROOMS', r), r]))),
      // Registry shards hold many users each: a fresh user's shard may be the base user's.
      users: new Map(await Promise.all(fresh.users.map(async (u) => [await idOf('USERS', registryOf(u)), u]))),
      baseRoom: await idOf('ROOMS', base.room),
      baseUser: await idOf('USERS', registryOf(base.user)),
      // The base room's message count lives in the registry shard of the room's name
      // (src/registry/unread.rs: unread counts across rooms).
      baseRoomCounts: await idOf('USERS', registryOf(base.room)),
      shards: new Set(await Promise.all(Array.from({ length: STATS_SHARDS }, (_, n) => idOf('STATS', `stats-${n}`)))),
      // GET /stats asks every registry shard for its online users, GET /registry/webhooks/dead
      // for its dead letters.
      registries: new Set(await Promise.all(Array.from({ length: REGISTRY_SHARDS }, (_, n) => idOf('USERS', `registry-${n}`)))),
    };
  } finally {
    await server.stop();
    await receiver.stop();
  }

  try {
    const dbs = listDatabases(persistDir);
    const rooms = dbs['-ChatRoom'] ?? {};
    const users = dbs['-UserRegistry'] ?? {};
    const shards = dbs['-StatsShard'] ?? {};
    const objectsOf = (ns) => Object.keys(ns).filter((f) => f !== 'metadata');

    // The controls: the checker sees tables where there is something to store.
    assert.ok(rooms[ids.baseRoom]?.log, 'the base room stored its message');
    assert.ok(users[ids.baseUser]?.rooms, 'the base user\'s registry stored its room');
    assert.ok(rooms[ids.baseRoom]?.webhook_outbox, 'webhooks are on: the base room has its outbox');

    // No database of a fresh name holds any table.
    const withTables = (ns, fresh) => objectsOf(ns).filter((id) => fresh.has(id) && Object.keys(ns[id]).length > 0)
      .map((id) => `${fresh.get(id)}: ${Object.keys(ns[id])}`);
    assert.deepEqual(withTables(rooms, ids.rooms), [], 'fresh rooms with tables');
    // Registry shards are shared: no row of any shard names a fresh user, and shards that only
    // fresh users asked about hold no table.
    const freshUsers = new Set(fresh.users);
    const userRows = Object.entries(users).filter(([id]) => id !== 'metadata')
      .flatMap(([, tables]) => Object.values(tables).flat())
      .filter((row) => freshUsers.has(row[0]));
    assert.deepEqual(userRows, [], 'registry rows of fresh users');
    const onlyFresh = new Map([...ids.users].filter(([id]) => id !== ids.baseUser && id !== ids.baseRoomCounts));
    assert.deepEqual(withTables(users, onlyFresh), [], 'registry shards only fresh users asked about, with tables');
    // Nor any shard that only GET /stats and GET /registry/webhooks/dead asked: of the 64, only
    // the base user's and the base room's counter shard hold tables, and no webhook table.
    const askedOnly = new Map([...ids.registries].filter((id) => id !== ids.baseUser && id !== ids.baseRoomCounts)
      .map((id) => [id, ids.users.get(id) ?? 'a shard no fresh name maps to']));
    assert.deepEqual(withTables(users, askedOnly), [], 'registry shards with tables');
    const webhookTables = Object.entries(users).filter(([id]) => id !== 'metadata')
      .flatMap(([id, tables]) => Object.keys(tables).filter((t) => t.startsWith('webhook')).map((t) => `${id}: ${t}`));
    assert.deepEqual(webhookTables, [], 'webhook tables in registry shards');

    // No alarm was set for any fresh object.
    const alarms = [...(rooms.metadata?._cf_ALARM ?? []), ...(users.metadata?._cf_ALARM ?? [])];
    assert.deepEqual(alarms.filter(([id]) => ids.rooms.has(id) || ids.users.has(id)), [], 'alarms of fresh objects');

    // The stats shards hold no row at all: none for a fresh name, and the base room and user,
    // back at zero, were deleted rather than kept at 0.
    const statsRows = Object.entries(shards).filter(([id]) => id !== 'metadata')
      .flatMap(([, tables]) => Object.entries(tables).flatMap(([t, rows]) => rows.map((r) => `${t}: ${JSON.stringify(r)}`)));
    assert.deepEqual(statsRows, [], 'rows left in the stats shards');

    // No database beyond one per object the requests had to wake. (Locally each of them is an
    // empty file, see the top of this file; no fresh name woke anything else.)
    const allowedRooms = new Set([...ids.rooms.keys(), ids.baseRoom]);
    const allowedUsers = new Set([...ids.users.keys(), ids.baseUser, ...ids.registries]);
    assert.deepEqual(objectsOf(rooms).filter((id) => !allowedRooms.has(id)), [], 'room objects nobody named');
    assert.deepEqual(objectsOf(users).filter((id) => !allowedUsers.has(id)), [], 'registries nobody named');
    assert.deepEqual(objectsOf(shards).filter((id) => !ids.shards.has(id)), [], 'unknown stats objects');
    const files = objectsOf(rooms).length + objectsOf(users).length + objectsOf(shards).length;
    assert.ok(files <= REQUESTS + 2 + STATS_SHARDS + REGISTRY_SHARDS, `${files} databases for ${REQUESTS} fresh names`);
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});
