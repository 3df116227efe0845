// The durable room log: gapless seqs, acks after the durable write, idempotent retries,
// resume with `since` after a kill, a hibernation or a workerd restart (exactly the missed
// messages, in order, then live ones), `gap` for trimmed ranges, and HTTP history pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { devToken, join, sleep, tryConnect } from './support/client.mjs';
import { admin } from './support/admin.mjs';

const EVICTION_WAIT_MS = 12_500;
const message = (f) => f.type === 'message';
const ack = (id) => (f) => f.type === 'ack' && f.id === id;
const seqs = (frames) => frames.map((f) => f.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Publishes with an id and resolves with the ack's seq. */
async function publish(client, data, id = `m-${Math.random().toString(36).slice(2)}`) {
  client.send({ type: 'publish', data, id });
  return (await client.next(ack(id))).seq;
}

/** Takes `n` messages from a client, in arrival order. */
async function take(client, n, ms) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await client.next(message, ms));
  return out;
}

async function withServer(opts, fn) {
  const server = await startServer(opts);
  try { return await fn(server); } finally { await server.stop(); }
}

test('seq is gapless and strictly increasing under concurrent publishers', () => withServer({}, async (server) => {
  const watcher = await join(server, 'seq', 'watcher');
  assert.equal(watcher.welcome.seq, 0);
  const publishers = [];
  for (let i = 0; i < 8; i++) publishers.push(await join(server, 'seq', `p${i}`));
  const PER = 40;
  const acked = await Promise.all(publishers.map(async (p, i) => {
    const ids = range(1, PER).map((n) => `p${i}-${n}`);
    ids.forEach((id, n) => p.send({ type: 'publish', data: { i, n }, id }));
    return Promise.all(ids.map(async (id) => (await p.next(ack(id))).seq));
  }));
  const all = acked.flat().sort((a, b) => a - b);
  assert.deepEqual(all, range(1, 8 * PER), 'every publish acked with a distinct seq, no holes');
  const seen = await take(watcher, 8 * PER);
  assert.deepEqual(seqs(seen), range(1, 8 * PER), 'delivered in seq order');
  // Per publisher, acks follow publish order.
  for (const a of acked) assert.deepEqual(a, [...a].sort((x, y) => x - y));
  const late = await join(server, 'seq', 'late');
  assert.equal(late.welcome.seq, 8 * PER);
}));

test('a retried publish with the same id is stored once and acked with the same seq', () => withServer({}, async (server) => {
  const a = await join(server, 'idem', 'alice');
  const b = await join(server, 'idem', 'bob');
  const first = await publish(a, 'once', 'same-id');
  assert.equal(await publish(a, 'once', 'same-id'), first);
  const tab2 = await join(server, 'idem', 'alice');
  assert.equal(await publish(tab2, 'once', 'same-id'), first, 'the same user retrying from another tab');
  const other = await publish(b, 'mine', 'same-id');
  assert.notEqual(other, first, "another user's equal id is another message");
  const got = await b.collect(message, 300);
  assert.deepEqual(got.map((m) => m.data), ['once', 'mine'], 'the retries were not broadcast again');
  const history = await admin(server).get('/rooms/idem/messages?since=0');
  assert.deepEqual(history.body.messages.map((m) => m.data), ['once', 'mine']);
}));

test('resume after an abrupt kill and a hibernation gets exactly the missed messages, then live ones', { timeout: 60_000 }, () => withServer({}, async (server) => {
  const talker = await join(server, 'resume', 'talker');
  const reader = await join(server, 'resume', 'reader');
  for (let i = 1; i <= 5; i++) await publish(talker, i);
  const read = await take(reader, 5);
  const lastSeen = read.at(-1).seq;
  await reader.terminate(); // killed, no close frame
  for (let i = 6; i <= 10; i++) await publish(talker, i);
  await talker.close();
  // Nobody is connected: the room object is evicted.
  await sleep(EVICTION_WAIT_MS);
  const back = await join(server, 'resume', 'reader', { query: `&since=${lastSeen}` });
  assert.equal(back.welcome.seq, 10);
  const missed = await take(back, 5);
  assert.deepEqual(seqs(missed), range(6, 10));
  assert.deepEqual(missed.map((m) => m.data), range(6, 10));
  const t2 = await join(server, 'resume', 'talker');
  await publish(t2, 11);
  const live = await back.next(message);
  assert.equal(live.seq, 11);
  assert.deepEqual(await back.collect(message, 300), [], 'no duplicates');
  assert.deepEqual(back.frames.filter((f) => f.type === 'gap'), []);
}));

test('replay and live traffic meet with no duplicate and no hole', () => withServer({}, async (server) => {
  const talker = await join(server, 'race', 'talker');
  for (let i = 1; i <= 50; i++) talker.send({ type: 'publish', data: i, id: `a${i}` });
  await talker.next(ack('a50'));
  // Keep publishing while the reader resumes from the middle.
  const burst = (async () => { for (let i = 51; i <= 100; i++) talker.send({ type: 'publish', data: i, id: `a${i}` }); })();
  const reader = await join(server, 'race', 'reader', { query: '&since=25' });
  await burst;
  await talker.next(ack('a100'));
  const got = await take(reader, 75);
  assert.deepEqual(seqs(got), range(26, 100));
  assert.deepEqual(await reader.collect(message, 300), []);
}));

test('after a workerd restart with persisted state, every acked message is in history and resume works', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-persist-'));
  try {
    let acked = [];
    await withServer({ persistDir: dir }, async (server) => {
      const a = await join(server, 'persist', 'alice');
      for (let i = 1; i <= 20; i++) acked.push(await publish(a, { i }));
      assert.deepEqual(acked, range(1, 20));
    }); // workerd stops: sockets die with it
    await withServer({ persistDir: dir }, async (server) => {
      const page = await admin(server).get('/rooms/persist/messages?since=0&limit=200');
      assert.deepEqual(seqs(page.body.messages), acked);
      assert.deepEqual(page.body.messages.map((m) => m.data.i), range(1, 20));
      const back = await join(server, 'persist', 'alice', { query: '&since=12' });
      assert.equal(back.welcome.seq, 20);
      assert.deepEqual(seqs(await take(back, 8)), range(13, 20));
      assert.equal(await publish(back, 'after restart'), 21, 'the sequence carries on');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('trimming by count: a since older than the retained range gets a gap, then what is kept', () => withServer({ vars: { HISTORY_MAX_MESSAGES: '5' } }, async (server) => {
  const a = await join(server, 'trim', 'alice');
  for (let i = 1; i <= 12; i++) await publish(a, i);
  const r = await join(server, 'trim', 'reader', { query: '&since=0' });
  const gap = await r.next((f) => f.type === 'gap');
  assert.equal(gap.from, 1);
  assert.ok(gap.to >= 6 && gap.to <= 7, `kept between 5 and 6 messages (gap to ${gap.to})`);
  assert.deepEqual(seqs(await take(r, 12 - gap.to)), range(gap.to + 1, 12));
  // The gap came first, right after welcome.
  const history = await admin(server).get('/rooms/trim/messages?since=0');
  assert.deepEqual(seqs(history.body.messages), range(gap.to + 1, 12));
  // A since inside the retained range has no gap.
  const r2 = await join(server, 'trim', 'reader2', { query: '&since=10' });
  assert.deepEqual(seqs(await take(r2, 2)), [11, 12]);
  assert.deepEqual(r2.frames.filter((f) => f.type === 'gap'), []);
}));

test('trimming by age runs on an alarm and leaves a gap', { timeout: 30_000 }, () => withServer({ vars: { HISTORY_MAX_AGE_DAYS: '0.00003' } }, async (server) => {
  // 0.00003 days = 2.6 s.
  const a = await join(server, 'aging', 'alice');
  for (let i = 1; i <= 3; i++) await publish(a, i);
  await a.close();
  const deadline = Date.now() + 20_000;
  let page;
  do {
    await sleep(1000);
    page = await admin(server).get('/rooms/aging/messages?since=0');
  } while (page.body.messages.length > 0 && Date.now() < deadline);
  assert.deepEqual(page.body.messages, [], 'expired messages were trimmed');
  const r = await join(server, 'aging', 'reader', { query: '&since=0' });
  assert.equal(r.welcome.seq, 3);
  assert.deepEqual(await r.next((f) => f.type === 'gap'), { type: 'gap', from: 1, to: 3 });
}));

test('history pages go both ways with cursors, for permitted readers only', () => withServer({}, async (server) => {
  const a = await join(server, 'hist', 'alice');
  for (let i = 1; i <= 7; i++) await publish(a, i);
  const api = admin(server);

  const newest = await api.get('/rooms/hist/messages?limit=3');
  assert.deepEqual(seqs(newest.body.messages), [7, 6, 5]);
  assert.equal(newest.body.next, 5);
  const older = await api.get(`/rooms/hist/messages?before=${newest.body.next}&limit=3`);
  assert.deepEqual(seqs(older.body.messages), [4, 3, 2]);
  const oldest = await api.get(`/rooms/hist/messages?before=${older.body.next}&limit=3`);
  assert.deepEqual([seqs(oldest.body.messages), oldest.body.next], [[1], null]);

  const forward = await api.get('/rooms/hist/messages?since=0&limit=4');
  assert.deepEqual([seqs(forward.body.messages), forward.body.next], [[1, 2, 3, 4], 4]);
  const rest = await api.get('/rooms/hist/messages?since=4&limit=4');
  assert.deepEqual([seqs(rest.body.messages), rest.body.next], [[5, 6, 7], null]);
  const m = forward.body.messages[0];
  assert.deepEqual(Object.keys(m).sort(), ['data', 'from', 'id', 'room', 'seq', 'ts', 'type']);

  // A user token that may join the room can read; others cannot.
  const member = await devToken(server, 'bob', { rooms: ['hist'] });
  const ok = await fetch(`${server.url}/rooms/hist/messages?limit=1&token=${member}`);
  assert.equal(ok.status, 200);
  const bearer = await fetch(`${server.url}/rooms/hist/messages?limit=1`, { headers: { Authorization: `Bearer ${member}` } });
  assert.equal(bearer.status, 200);
  const outsider = await devToken(server, 'eve', { rooms: ['elsewhere'] });
  const no = await fetch(`${server.url}/rooms/hist/messages?token=${outsider}`);
  assert.deepEqual([no.status, (await no.json()).error.code], [403, 'forbidden']);
  const anon = await fetch(`${server.url}/rooms/hist/messages`);
  assert.deepEqual([anon.status, (await anon.json()).error.code], [401, 'unauthorized']);
}));

test('bad history queries and bad since values get the JSON error body', () => withServer({}, async (server) => {
  const api = admin(server);
  for (const q of ['limit=201', 'limit=0', 'limit=-5', 'before=abc', 'since=1.5', 'since=1&before=2', 'since=99999999999999999999999']) {
    const r = await api.get(`/rooms/hist/messages?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.body.error.code, 'bad_request', q);
  }
  const badRoom = await api.get('/rooms/bad%20room/messages');
  assert.equal(badRoom.status, 400);
  const token = await devToken(server, 'alice');
  for (const since of ['-1', 'x', '1.0']) {
    const r = await tryConnect(`${server.wsUrl}/rooms/hist/ws?token=${token}&since=${since}`);
    assert.deepEqual([r.status, r.body.error.code], [400, 'bad_request'], since);
  }
  // Far beyond the room's seq: nothing to replay, no gap.
  const c = await join(server, 'hist', 'alice', { query: '&since=1000' });
  assert.deepEqual(await c.collect(() => true, 200), []);
}));
