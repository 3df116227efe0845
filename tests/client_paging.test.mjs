// The client library (client/dist, as built by `make build`) pages through the real worker's
// HTTP reads with a user token in the `Authorization` header: `room.allMembers()` and
// `room.memberPages()` complete a welcome truncated at WELCOME_MAX_MEMBERS (following
// `next_after`), and `room.historyPages()` reads the log newest first and oldest first
// (following `next`). `room.ready()` is what waits for the welcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connect } from '../client/dist/index.js';
import { startServer } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { devToken, join } from './support/client.mjs';

const WAIT_MS = 10_000;
let server;
before(async () => { server = await startServer({ vars: { WELCOME_MAX_MEMBERS: '3' } }); });
after(async () => { await server?.stop(); });

/** The client library in `room` as `user`, open (or the test fails within WAIT_MS). */
async function openRoom(room, user) {
  const r = connect({
    url: server.url,
    room,
    getToken: () => devToken(server, user),
    WebSocket,
    heartbeat: { intervalMs: 0 },
    browserEvents: false,
  });
  await r.ready({ timeoutMs: WAIT_MS });
  return r;
}

test('allMembers and memberPages complete a truncated welcome, page by page, with the user token', { timeout: 60_000 }, async () => {
  const others = [];
  for (const u of ['u5', 'u1', 'u4', 'u2', 'u6']) others.push(await join(server, 'big', u));
  const room = await openRoom('big', 'reader');
  try {
    assert.deepEqual(room.members.map((m) => m.user_id), ['reader', 'u1', 'u2'], 'the welcome lists the first three');
    assert.equal(room.memberCount, 6);
    const all = await room.allMembers();
    assert.deepEqual(all.map((m) => m.user_id), ['reader', 'u1', 'u2', 'u4', 'u5', 'u6']);
    const pages = [];
    for await (const page of room.memberPages({ limit: 2 })) pages.push([page.members.map((m) => m.user_id), page.memberCount, page.next]);
    assert.deepEqual(pages, [
      [['reader', 'u1'], 6, 'u1'],
      [['u2', 'u4'], 6, 'u4'],
      [['u5', 'u6'], 6, null],
    ]);
  } finally {
    room.close();
    for (const c of others) c.terminate();
  }
});

test('historyPages reads the log newest first from before, and oldest first from since', { timeout: 60_000 }, async () => {
  const api = admin(server);
  for (let i = 1; i <= 7; i++) assert.equal((await api.post('/rooms/log/messages', { data: `m${i}` })).status, 200);
  const room = await openRoom('log', 'reader');
  try {
    const seqs = async (pages) => {
      const out = [];
      for await (const page of pages) out.push(page.messages.map((m) => m.seq));
      return out;
    };
    assert.deepEqual(await seqs(room.historyPages({ limit: 3 })), [[7, 6, 5], [4, 3, 2], [1]]);
    assert.deepEqual(await seqs(room.historyPages({ before: 6, limit: 2 })), [[5, 4], [3, 2], [1]]);
    assert.deepEqual(await seqs(room.historyPages({ since: 0, limit: 3 })), [[1, 2, 3], [4, 5, 6], [7]]);
    assert.deepEqual(await seqs(room.historyPages({ since: 7 })), [], 'nothing after the newest: no page');
  } finally {
    room.close();
  }
});
