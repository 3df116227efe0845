// The durable room log: gapless seqs, acks after the durable write, idempotent retries,
// resume with `since` after a kill, a hibernation or a workerd restart (exactly the missed
// messages, in order, then live ones), `gap` for trimmed ranges, retention by count and by age
// (on an alarm that wakes an evicted room), HISTORY_STORAGE=none, and HTTP history pages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { devToken, join, sleep, tryConnect, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import {
  isAck, isGap, isMessage, messageWith, publishAndAck, range, seqs, takeMessages,
} from './support/frames.mjs';
import { EVICTION_IDLE_MS, roomDebug, waitForEviction } from './support/eviction.mjs';

async function withServer(opts, fn) {
  const server = await startServer(opts);
  try { return await fn(server); } finally { await server.stop(); }
}

/** A server post to `room`, used as a marker: it reaches every connection after what came before. */
async function postMarker(server, room, data = 'marker') {
  const r = await admin(server).post(`/rooms/${room}/messages`, { data });
  assert.equal(r.status, 200);
  return r.body.seq;
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
    return Promise.all(ids.map(async (id) => (await p.next(isAck(id))).seq));
  }));
  const all = acked.flat().sort((a, b) => a - b);
  assert.deepEqual(all, range(1, 8 * PER), 'every publish acked with a distinct seq, no holes');
  const seen = await takeMessages(watcher, 8 * PER);
  assert.deepEqual(seqs(seen), range(1, 8 * PER), 'delivered in seq order');
  // Per publisher, acks follow publish order.
  for (const a of acked) assert.deepEqual(a, [...a].sort((x, y) => x - y));
  const late = await join(server, 'seq', 'late');
  assert.equal(late.welcome.seq, 8 * PER);
}));

test('server posts and client publishes share one gapless seq', () => withServer({}, async (server) => {
  const api = admin(server);
  const a = await join(server, 'shared-seq', 'alice');
  const watcher = await join(server, 'shared-seq', 'watcher');
  // Interleaved, and concurrently: client publishes in flight while the server posts.
  const ids = range(1, 20).map((n) => `c${n}`);
  ids.forEach((id, n) => a.send({ type: 'publish', data: { client: n }, id }));
  const posts = await Promise.all(range(1, 20).map((n) => api.post('/rooms/shared-seq/messages', { data: { server: n } })));
  const clientSeqs = await Promise.all(ids.map(async (id) => (await a.next(isAck(id))).seq));
  const serverSeqs = posts.map((r) => r.body.seq);
  assert.deepEqual([...clientSeqs, ...serverSeqs].sort((x, y) => x - y), range(1, 40), 'one sequence, no hole, no seq twice');
  const seen = await takeMessages(watcher, 40);
  assert.deepEqual(seqs(seen), range(1, 40), 'delivered in seq order, posts and publishes alike');
  for (const m of seen) {
    const fromServer = 'server' in m.data;
    assert.deepEqual(m.from, fromServer ? { server: true } : { user_id: 'alice', connection_id: a.connectionId });
    assert.ok((fromServer ? serverSeqs : clientSeqs).includes(m.seq));
  }
  const history = await api.get('/rooms/shared-seq/messages?since=0&limit=200');
  assert.deepEqual(seqs(history.body.messages), range(1, 40));
}));

test('a retried publish with the same id is stored once and acked with the same seq', () => withServer({}, async (server) => {
  const a = await join(server, 'idem', 'alice');
  const b = await join(server, 'idem', 'bob');
  const from = b.mark();
  const first = await publishAndAck(a, 'once', 'same-id');
  assert.equal(await publishAndAck(a, 'once', 'same-id'), first);
  const tab2 = await join(server, 'idem', 'alice');
  assert.equal(await publishAndAck(tab2, 'once', 'same-id'), first, 'the same user retrying from another tab');
  const other = await publishAndAck(b, 'mine', 'same-id');
  assert.notEqual(other, first, "another user's equal id is another message");
  await postMarker(server, 'idem');
  const ahead = (await b.framesBefore(messageWith('marker'), from)).filter(isMessage);
  assert.deepEqual(ahead.map((m) => m.data), ['once', 'mine'], 'the retries were not broadcast again');
  const history = await admin(server).get('/rooms/idem/messages?since=0');
  assert.deepEqual(history.body.messages.map((m) => m.data), ['once', 'mine', 'marker']);
}));

// (Buckets big enough for a burst that lasts as long as the connect takes.)
test('replay and live traffic meet with no duplicate and no hole', () => withServer({ vars: { RATE_LIMIT_BURST: '100000' } }, async (server) => {
  const ROOM = 'race';
  const talker = await join(server, ROOM, 'talker');
  for (let i = 1; i <= 50; i++) talker.send({ type: 'publish', data: i, id: `a${i}` });
  await talker.next(isAck('a50'));
  const token = await devToken(server, 'reader');
  // Live traffic, three publishes in flight at a time, runs while the reader connects and
  // stops only well after its welcome: the hand-off from replay to live happens mid-burst.
  let last = 50;
  let welcomed = false;
  let afterWelcome = 0;
  const burst = (async () => {
    for (let i = 51; afterWelcome < 9; i += 3) {
      const ids = [i, i + 1, i + 2].map((n) => `a${n}`);
      ids.forEach((id, k) => talker.send({ type: 'publish', data: i + k, id }));
      for (const id of ids) last = (await talker.next(isAck(id))).seq;
      if (welcomed) afterWelcome += 3;
      if (i > 3000) throw new Error('the reader never got its welcome');
    }
  })();
  await until(() => last > 50, { what: 'the burst started' });
  const reader = await join(server, ROOM, 'reader', { token, query: '&since=25' });
  welcomed = true;
  await burst;
  const w = reader.welcome.seq;
  assert.ok(w > 50 && w < last, `the welcome's seq ${w} falls inside the burst (51..${last}): some of it replayed, the rest live`);
  await postMarker(server, ROOM);
  const got = await reader.framesBefore(messageWith('marker'), 1);
  assert.deepEqual(got.map((f) => f.type), Array(last - 25).fill('message'), 'nothing but messages between welcome and marker');
  assert.deepEqual(seqs(got), range(26, last), 'every message once, in order, across the hand-off');
  assert.deepEqual(got.map((m) => m.data), range(26, last));
}));

test('after a workerd restart with persisted state, every acked message is in history and resume works', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-persist-'));
  try {
    const acked = [];
    await withServer({ persistDir: dir }, async (server) => {
      const a = await join(server, 'persist', 'alice');
      for (let i = 1; i <= 20; i++) acked.push(await publishAndAck(a, { i }));
      assert.deepEqual(acked, range(1, 20));
    }); // workerd stops: sockets die with it
    await withServer({ persistDir: dir }, async (server) => {
      const page = await admin(server).get('/rooms/persist/messages?since=0&limit=200');
      assert.deepEqual(seqs(page.body.messages), acked);
      assert.deepEqual(page.body.messages.map((m) => m.data.i), range(1, 20));
      const back = await join(server, 'persist', 'alice', { query: '&since=12' });
      assert.equal(back.welcome.seq, 20);
      assert.deepEqual(seqs(await takeMessages(back, 8)), range(13, 20));
      assert.equal(await publishAndAck(back, 'after restart'), 21, 'the sequence carries on');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a room whose storage cannot be read answers 500 internal, without internal detail; other rooms carry on', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-broken-'));
  try {
    await withServer({ persistDir: dir }, async (server) => {
      const a = await join(server, 'broken', 'alice');
      await publishAndAck(a, 1);
    });
    // The only room object's SQLite file, overwritten with junk while workerd is stopped.
    const rooms = path.join(dir, '-ChatRoom');
    const db = fs.readdirSync(rooms).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
    assert.equal(db.length, 1);
    for (const ext of ['-wal', '-shm']) fs.rmSync(path.join(rooms, db[0] + ext), { force: true });
    fs.writeFileSync(path.join(rooms, db[0]), Buffer.alloc(8192, 0x41));
    await withServer({ persistDir: dir }, async (server) => {
      const token = await devToken(server, 'alice');
      const connect = await tryConnect(`${server.wsUrl}/rooms/broken/ws?token=${token}`);
      const api = admin(server);
      const history = await api.get('/rooms/broken/messages');
      const post = await api.post('/rooms/broken/messages', { data: 1 });
      for (const [what, status, body] of [['connect', connect.status, connect.body], ['history', history.status, history.body], ['post', post.status, post.body]]) {
        assert.equal(status, 500, what);
        assert.equal(body.error.code, 'internal', what);
        // Neither the storage's complaint nor the runtime's exception (with its reference) reaches the client.
        assert.doesNotMatch(body.error.message, /sqlite|database|NOTADB|Error:|reference|\.c\+\+|stack/i, `${what}: no internal detail in ${JSON.stringify(body.error.message)}`);
      }
      const other = await join(server, 'unharmed', 'alice');
      assert.equal(await publishAndAck(other, 'fine'), 1);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('trimming by count: a since older than the retained range gets a gap, then what is kept', () => withServer({ vars: { HISTORY_MAX_MESSAGES: '5' } }, async (server) => {
  const a = await join(server, 'trim', 'alice');
  for (let i = 1; i <= 12; i++) await publishAndAck(a, i);
  const r = await join(server, 'trim', 'reader', { query: '&since=0' });
  const gap = await r.next(isGap);
  assert.equal(gap.from, 1);
  assert.ok(gap.to >= 6 && gap.to <= 7, `kept between 5 and 6 messages (gap to ${gap.to})`);
  assert.deepEqual(seqs(await takeMessages(r, 12 - gap.to)), range(gap.to + 1, 12));
  assert.deepEqual(r.log.slice(0, 2).map((f) => f.type), ['welcome', 'gap'], 'the gap comes right after welcome');
  const history = await admin(server).get('/rooms/trim/messages?since=0');
  assert.deepEqual(seqs(history.body.messages), range(gap.to + 1, 12));
  // A since inside the retained range has no gap (it would have come before the replay).
  const r2 = await join(server, 'trim', 'reader2', { query: '&since=10' });
  assert.deepEqual(seqs(await takeMessages(r2, 2)), [11, 12]);
  assert.deepEqual(r2.log.filter(isGap), []);
}));

test('an idempotency key is forgotten with its trimmed message: the same id is then a new message', () => withServer({ vars: { HISTORY_MAX_MESSAGES: '5' } }, async (server) => {
  const a = await join(server, 'forget', 'alice');
  const first = await publishAndAck(a, 'v1', 'key');
  assert.equal(await publishAndAck(a, 'v1', 'key'), first, 'retained: a retry is acked with the original seq');
  for (let i = 0; i < 6; i++) await publishAndAck(a, i);
  const history = await admin(server).get('/rooms/forget/messages?since=0');
  assert.ok(history.body.messages[0].seq > first, 'the keyed message was trimmed');
  const again = await publishAndAck(a, 'v2', 'key');
  assert.equal(again, 8, 'stored anew, with the next seq');
  assert.deepEqual((await a.next(messageWith('v2'))).seq, 8, 'and broadcast');
}));

test('limits of 0 keep every message', () => withServer({ vars: { HISTORY_MAX_MESSAGES: '0', HISTORY_MAX_AGE_DAYS: '0' } }, async (server) => {
  const a = await join(server, 'keep-all', 'alice');
  for (let i = 1; i <= 30; i++) a.send({ type: 'publish', data: i, id: `k${i}` });
  await a.next(isAck('k30'));
  const history = await admin(server).get('/rooms/keep-all/messages?since=0&limit=200');
  assert.deepEqual(seqs(history.body.messages), range(1, 30));
  const r = await join(server, 'keep-all', 'reader', { query: '&since=0' });
  assert.deepEqual(seqs(await takeMessages(r, 30)), range(1, 30));
  assert.deepEqual(r.log.filter(isGap), []);
}));

// Each of these waits for an eviction or an alarm; they use separate servers and run side by side.
describe('across evictions', { concurrency: true }, () => {
  test('resume after an abrupt kill and a hibernation gets exactly the missed messages, then live ones', { timeout: 60_000 }, () => withServer({}, async (server) => {
    const ROOM = 'resume';
    const talker = await join(server, ROOM, 'talker');
    const reader = await join(server, ROOM, 'reader');
    for (let i = 1; i <= 5; i++) await publishAndAck(talker, i);
    const read = await takeMessages(reader, 5);
    const lastSeen = read.at(-1).seq;
    await reader.terminate(); // killed, no close frame
    for (let i = 6; i <= 10; i++) await publishAndAck(talker, i);
    await talker.close();
    // Nobody is connected: the room object is evicted, its memory gone.
    const fresh = await waitForEviction(server, ROOM);
    const back = await join(server, ROOM, 'reader', { query: `&since=${lastSeen}` });
    const served = await roomDebug(server, ROOM);
    assert.equal(served.instance, fresh.instance, 'the resume was served by the instance constructed after the eviction');
    assert.equal(back.welcome.seq, 10, 'the latest seq was read back from storage');
    const t2 = await join(server, ROOM, 'talker');
    assert.equal(await publishAndAck(t2, 11), 11);
    await postMarker(server, ROOM);
    const got = await back.framesBefore(messageWith('marker'), 1);
    const joined = { type: 'presence', event: 'join', user_id: 'talker' };
    assert.deepEqual(got.map((f) => (isMessage(f) ? f.seq : f)), [...range(6, 10), joined, 11],
      'no gap: exactly the missed messages, in order, then live traffic, none twice');
    assert.deepEqual(got.filter(isMessage).map((m) => m.data), range(6, 11));
  }));

  test('trimming by age runs on an alarm that wakes the evicted room, and leaves a gap', { timeout: 60_000 }, async () => {
    // Messages expire AGE_MS after they are written. The room is left alone once they are: it
    // is evicted after 10 s, and the retention alarm, due 13 s after the first write, must wake
    // it and trim without any request to help.
    const AGE_MS = 13_000;
    await withServer({ vars: { HISTORY_MAX_AGE_DAYS: String(AGE_MS / 86_400_000) } }, async (server) => {
      const ROOM = 'aging';
      const a = await join(server, ROOM, 'alice');
      const firstWrite = Date.now();
      for (let i = 1; i <= 3; i++) await publishAndAck(a, i);
      await a.close();
      const idleFrom = Date.now();
      assert.ok(idleFrom + EVICTION_IDLE_MS + 1000 < firstWrite + AGE_MS, 'the room goes idle long enough before the alarm to be evicted first');
      // Not one request until the alarm is due (and has had a moment to run, even on a busy machine).
      await sleep(firstWrite + AGE_MS + 2500 - Date.now());
      const probed = Date.now();
      const d = await roomDebug(server, ROOM);
      assert.ok(d.created_ms >= firstWrite + AGE_MS - 50, `the instance now in memory was constructed when the alarm was due (created ${d.created_ms - firstWrite} ms after the first write): the room had been evicted`);
      assert.ok(d.created_ms < probed, 'and it was constructed before this probe: by the alarm');
      assert.equal(d.loaded_before_this_call, false, 'the alarm trimmed without loading the room');
      const page = await until(async () => {
        const p = await admin(server).get(`/rooms/${ROOM}/messages?since=0`);
        return p.body.messages.length === 0 && p;
      }, { ms: 5000, what: 'the expired messages are trimmed' });
      assert.deepEqual(page.body, { messages: [], next: null });
      const r = await join(server, ROOM, 'reader', { query: '&since=0' });
      assert.equal(r.welcome.seq, 3);
      assert.deepEqual(await r.next(isGap), { type: 'gap', from: 1, to: 3 });
    });
  });

  test('HISTORY_STORAGE=none stores nothing: no history, no replay, and seqs restart after an eviction', { timeout: 60_000 }, () => withServer({ vars: { HISTORY_STORAGE: 'none' } }, async (server) => {
    const ROOM = 'no-store';
    const a = await join(server, ROOM, 'alice');
    const b = await join(server, ROOM, 'bob');
    assert.deepEqual([await publishAndAck(a, 1), await publishAndAck(a, 2), await publishAndAck(a, 3)], [1, 2, 3], 'seqs are still counted');
    assert.deepEqual(seqs(await takeMessages(b, 3)), [1, 2, 3], 'and messages still broadcast');
    const history = await admin(server).get(`/rooms/${ROOM}/messages?since=0`);
    assert.deepEqual([history.status, history.body], [200, { messages: [], next: null }], 'no history');
    const r = await join(server, ROOM, 'reader', { query: '&since=0' });
    assert.equal(r.welcome.seq, 3);
    const seq = await postMarker(server, ROOM);
    assert.equal(seq, 4);
    const replayed = await r.framesBefore(messageWith('marker'), 1);
    assert.deepEqual(replayed, [{ type: 'gap', from: 1, to: 3 }], 'no replay: a resume is told everything after since is gone');
    for (const c of [a, b, r]) await c.close();
    await waitForEviction(server, ROOM);
    const c = await join(server, ROOM, 'carol');
    assert.equal(c.welcome.seq, 0, 'the count restarted with the new instance');
    assert.equal(await publishAndAck(c, 'again'), 1);
  }));
});

test('history pages go both ways with cursors, for permitted readers only', () => withServer({}, async (server) => {
  const a = await join(server, 'hist', 'alice');
  for (let i = 1; i <= 7; i++) await publishAndAck(a, i);
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

test('a history page holds 50 messages unless limit says otherwise, 200 at most', () => withServer({ vars: { RATE_LIMIT_BURST: '1000' } }, async (server) => {
  const a = await join(server, 'pages', 'alice');
  for (let i = 1; i <= 210; i++) a.send({ type: 'publish', data: i, id: `p${i}` });
  await a.next(isAck('p210'));
  const api = admin(server);
  const page = await api.get('/rooms/pages/messages');
  assert.deepEqual([seqs(page.body.messages), page.body.next], [range(161, 210).reverse(), 161]);
  const forward = await api.get('/rooms/pages/messages?since=0');
  assert.deepEqual([seqs(forward.body.messages), forward.body.next], [range(1, 50), 50]);
  const max = await api.get('/rooms/pages/messages?since=0&limit=200');
  assert.deepEqual([seqs(max.body.messages), max.body.next], [range(1, 200), 200]);
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
  // Far beyond the room's seq: nothing to replay, no gap — the next frame is live traffic.
  await postMarker(server, 'hist', 'first');
  const c = await join(server, 'hist', 'alice', { query: '&since=1000' });
  await postMarker(server, 'hist');
  assert.deepEqual(await c.framesBefore(messageWith('marker'), 1), []);
}));
