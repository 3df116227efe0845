// A user erased everywhere (issue 23): `POST /users/{user}/erase` answers 202 with an erase id
// and the user's registry shard visits, from its alarm, every room the user authored in. A user
// who posted, reacted and read in three rooms, with two sockets open and webhook events of their
// messages waiting in the rooms' outboxes (the receiver refuses every POST), is erased:
// - the sockets close 4005; `GET /users/{user}/erase/{id}` ends `done` with every room visited;
// - each room's history shows every one of their messages `deleted` (data `null`, `from`
//   `{"erased":true}`), the other user's messages untouched and without their reaction;
// - their unread counts are gone; and, the server stopped, no row of any SQLite database under
//   the persistence directory holds one of their texts, nor their id outside the moderation
//   records (`revocations`, `bans`): not the log, the read cursors, the registry's rows, nor
//   the webhook events still waiting (their `from` reads `{"erased":true}`).
// An erasure interrupted by SIGKILL of workerd (one room visited of three, `DEV_ERASE_PAUSE_MS`
// holding the next) completes after a restart on the same persistence directory, with no other
// request than the progress reads. Bad input: a bad user id 400, an unknown erase id 404, no
// admin token 401.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, killable } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { join, until } from './support/client.mjs';
import { acked, isReceipt, post } from './support/chat.mjs';
import { listDatabases } from './support/databases.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

const ERASED = 'zed-to-erase';
const ROOMS = ['erase-a', 'erase-b', 'erase-c'];

/** Every message of `room`'s history (one page is enough here). */
async function history(api, room) {
  const res = await api.get(`/rooms/${room}/messages?limit=100`);
  assert.equal(res.status, 200, res.text);
  return res.body.messages.filter((m) => m.type === 'message');
}

/** Polls the erasure's progress until it is done (bounded). */
async function done(api, id, ms = 30_000) {
  let last;
  try {
    await until(async () => {
      last = (await api.get(`/users/${ERASED}/erase/${id}`)).body;
      return last.state === 'done';
    }, { ms, every: 100, what: `erasure ${id} done` });
  } catch (e) {
    throw new Error(`${e.message}; last progress: ${JSON.stringify(last)}`);
  }
  return last;
}

test('an erased user is gone from three rooms, their sockets, unread counts, webhooks and disk', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-erase-'));
  const receiver = await startReceiver({ respond: () => 503 });
  const server = await startServer({ persistDir, vars: webhookVars(receiver, { WEBHOOK_EVENTS: 'message', WEBHOOK_RETRY_SCALE: '0.002' }) });
  const api = admin(server);
  try {
    const texts = [];
    const keep = {};
    const open = [];
    for (const room of ROOMS) {
      const z = await join(server, room, ERASED);
      const b = await join(server, room, 'bob-stays');
      keep[room] = await post(b, { text: `bob-in-${room}` });
      for (let i = 1; i <= 2; i++) {
        const text = `zed-secret-${room}-${i}`;
        texts.push(text);
        await post(z, { text });
      }
      await acked(z, { type: 'react', target: keep[room], emoji: '👍', on: true, id: `r-${room}` });
      z.send({ type: 'read', seq: keep[room] + 2 });
      await z.next(isReceipt(ERASED, keep[room] + 2));
      if (room === 'erase-c') z.terminate(); // gone before the erasure: only the log remembers
      else open.push(z);
      b.terminate();
    }
    // The read states (and the authors, in the same reports) reached the user's shard.
    await until(async () => Object.keys((await api.get(`/users/${ERASED}/unread`)).body.rooms ?? {}).length === 3,
      { what: 'three rooms in the unread counts' });
    await until(() => ROOMS.every((room) => receiver.posts.some((p) => p.body.includes(`zed-secret-${room}`))), { what: 'the events were offered' });

    const started = await api.post(`/users/${ERASED}/erase`);
    assert.equal(started.status, 202, started.text);
    assert.match(started.body.erase_id, /^[0-9a-f]{32}$/);
    for (const z of open) assert.equal((await z.closedWithin()).code, 4005, 'a live socket of the user closes 4005');
    const status = await done(api, started.body.erase_id);
    assert.equal(status.user_id, ERASED);
    assert.equal(status.rooms_done, status.rooms_total);
    assert.ok(status.rooms_total >= 3, JSON.stringify(status));
    assert.equal(status.messages_erased, 6);
    assert.ok(status.finished_at >= status.started_at);

    for (const room of ROOMS) {
      const messages = await history(api, room);
      const zeds = messages.filter((m) => m.seq !== keep[room]);
      assert.equal(zeds.length, 2, `${room}: both of the user's messages are still in the log`);
      for (const m of zeds) {
        assert.equal(m.deleted, true, `${room}: ${JSON.stringify(m)}`);
        assert.equal(m.data, null);
        assert.deepEqual(m.from, { erased: true });
      }
      const bob = messages.find((m) => m.seq === keep[room]);
      assert.deepEqual(bob.data, { text: `bob-in-${room}` }, 'the other user keeps their message');
      assert.equal(bob.deleted, undefined);
      assert.equal(bob.reactions, undefined, 'the erased user\'s reaction is gone');
    }
    assert.deepEqual((await api.get(`/users/${ERASED}/unread`)).body, { rooms: {} });
    const again = await api.get(`/users/${ERASED}`);
    assert.equal(again.body.connections, 0);
  } finally {
    await server.stop();
    await receiver.stop();
  }
  try {
    // On disk: none of the texts anywhere; the id only in the moderation records.
    const kept = new Set(['revocations', 'bans']);
    const found = [];
    for (const [ns, files] of Object.entries(listDatabases(persistDir))) {
      for (const [file, tables] of Object.entries(files)) {
        for (const [table, rows] of Object.entries(tables)) {
          for (const row of rows) {
            const text = JSON.stringify(row);
            if (text.includes('zed-secret')) found.push(`${ns}/${file}/${table}: ${text}`);
            if (text.includes(ERASED) && !kept.has(table)) found.push(`${ns}/${file}/${table}: ${text}`);
          }
        }
      }
    }
    assert.deepEqual(found, [], 'no row keeps the erased data');
  } finally {
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('an erasure interrupted by a SIGKILL of workerd completes after the restart', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-erase-kill-'));
  let id;
  // One room per alarm, 5 s apart: the kill lands between the first room and the second.
  const first = await killable(() => startServer({ persistDir, vars: { DEV_ERASE_PAUSE_MS: '5000' } }));
  try {
    for (const room of ROOMS) {
      const z = await join(first, room, ERASED);
      await post(z, { text: `zed-killed-${room}` });
      z.terminate();
    }
    await until(async () => (await admin(first).get(`/users/${ERASED}`)).body.connections === 0, { what: 'the user offline' });
    const api = admin(first);
    id = (await api.post(`/users/${ERASED}/erase`)).body.erase_id;
    let status;
    await until(async () => {
      status = (await api.get(`/users/${ERASED}/erase/${id}`)).body;
      return status.rooms_done >= 1;
    }, { what: 'the first room visited' });
    assert.equal(status.state, 'running', JSON.stringify(status));
    assert.equal(status.rooms_done, 1, 'the kill comes before the second room');
    await first.killHard();
  } finally {
    await first.stop().catch(() => {});
  }
  const second = await startServer({ persistDir });
  try {
    const api = admin(second);
    const status = await done(api, id);
    assert.equal(status.rooms_done, 3);
    assert.equal(status.messages_erased, 3);
    for (const room of ROOMS) {
      const [m] = await history(api, room);
      assert.equal(m.deleted, true, `${room}: ${JSON.stringify(m)}`);
      assert.equal(m.data, null);
    }
  } finally {
    await second.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('erasure: bad user 400, unknown erase id 404, no admin token 401', async () => {
  const server = await startServer();
  try {
    const api = admin(server);
    assert.equal((await api.post('/users/%FF/erase')).status, 400);
    assert.equal((await api.get('/users/%FF/erase/00')).status, 400);
    assert.equal((await api.get(`/users/${ERASED}/erase/${'0'.repeat(32)}`)).status, 404);
    const notAnId = await api.get(`/users/${ERASED}/erase/nope`);
    assert.equal(notAnId.status, 404);
    assert.equal(notAnId.body.error.code, 'not_found');
    const started = await api.post('/users/nobody-here/erase');
    assert.equal(started.status, 202, 'a user with nothing stored is erased at once');
    const status = (await api.get(`/users/nobody-here/erase/${started.body.erase_id}`)).body;
    assert.equal(status.state, 'done');
    assert.equal(status.rooms_total, 0);
    assert.equal((await api.get(`/users/someone-else/erase/${started.body.erase_id}`)).status, 404, 'another user\'s erasure is not found');
    const anonymous = admin(server, null);
    assert.equal((await anonymous.post(`/users/${ERASED}/erase`)).status, 401);
    assert.equal((await anonymous.get(`/users/${ERASED}/erase/${started.body.erase_id}`)).status, 401);
  } finally {
    await server.stop();
  }
});
