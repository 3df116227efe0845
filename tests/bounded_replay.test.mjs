// Bounded replay (issue 12): a resume `?since=N` replays at most REPLAY_MAX_MESSAGES messages
// and REPLAY_MAX_BYTES of them (always at least the newest one). After `welcome` it gets the
// retention `gap` (if any), then `{"type":"gap","from":A,"to":B,"reason":"replay_limit"}` for
// the retained messages it leaves out, then the newest messages, then live traffic. The
// left-out range is still readable over HTTP. (The client library filling that gap is tested
// with the client.)
//
// What a resume replays is pinned with a marker: a live message posted after the connect,
// which must come right after the replay — so the frames before it are the whole replay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { devToken, join, tryConnect } from './support/client.mjs';
import { admin } from './support/admin.mjs';

const REPLAY_MAX_MESSAGES = 5;
const REPLAY_MAX_BYTES = 3000;
let server, api;
before(async () => {
  server = await startServer({
    vars: {
      REPLAY_MAX_MESSAGES: String(REPLAY_MAX_MESSAGES),
      REPLAY_MAX_BYTES: String(REPLAY_MAX_BYTES),
      HISTORY_MAX_MESSAGES: '20',
    },
  });
  api = admin(server);
});
after(async () => { await server?.stop(); });

const range = (a, b) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
const replayLimit = (from, to) => ({ type: 'gap', from, to, reason: 'replay_limit' });

/** Posts `n` server messages to `room` (`data(i)`), in order; resolves with the last seq. */
async function fill(a, room, n, data = (i) => i) {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const r = await a.post(`/rooms/${room}/messages`, { data: data(i) });
    assert.equal(r.status, 200, r.text);
    last = r.body.seq;
  }
  return last;
}

/** The retained seqs of `room`, oldest first (history pages of 200). */
async function retained(a, room) {
  const out = [];
  for (let since = 0; ;) {
    const page = (await a.get(`/rooms/${room}/messages?since=${since}&limit=200`)).body;
    out.push(...page.messages);
    if (page.next === null) return out;
    since = page.next;
  }
}

/** Resumes `room` after `since`, then posts a live marker: resolves with the `welcome` and
 * everything between it and the marker (batches unwrapped). */
async function resume(s, a, room, since, { batch = false } = {}) {
  const token = await devToken(s, `r-${Math.random().toString(36).slice(2)}`);
  const { client: c, status } = await tryConnect(`${s.wsUrl}/rooms/${room}/ws?token=${token}&since=${since}${batch ? '&batch=1' : ''}`);
  assert.ok(c, `resume refused ${status}`);
  const marker = `live-${Math.random()}`;
  const posted = await a.post(`/rooms/${room}/messages`, { data: marker });
  const frames = [];
  for (;;) {
    const f = await c.next();
    const inner = f.type === 'batch' ? f.frames : [f];
    const at = inner.findIndex((x) => x.type === 'message' && x.data === marker);
    if (at < 0) { frames.push(...inner); continue; }
    frames.push(...inner.slice(0, at));
    assert.equal(inner[at].seq, posted.body.seq, 'live traffic follows the replay');
    break;
  }
  c.terminate();
  const [welcome, ...rest] = frames;
  assert.equal(welcome.type, 'welcome', 'welcome comes first');
  return { frames: rest, welcome, liveSeq: posted.body.seq };
}

const describe = (frames) => frames.map((f) => (f.type === 'message' ? f.seq : f));

test('REPLAY_MAX_MESSAGES: a retention gap, a replay_limit gap, then the newest messages', async () => {
  const last = await fill(api, 'rc', 30);
  assert.equal(last, 30);
  const kept = (await retained(api, 'rc')).map((m) => m.seq);
  const first = kept[0];
  assert.ok(first > 1 && first < 30 - REPLAY_MAX_MESSAGES, `retention kept ${first}..30`);
  assert.deepEqual(kept, range(first, 30));

  const newest = 30 - REPLAY_MAX_MESSAGES + 1;
  const r = await resume(server, api, 'rc', 0);
  assert.equal(r.welcome.seq, 30);
  assert.deepEqual(describe(r.frames), [
    { type: 'gap', from: 1, to: first - 1 },
    replayLimit(first, newest - 1),
    ...range(newest, 30),
  ]);
  // The replayed messages are exactly what was stored (and delivered live).
  const stored = (await retained(api, 'rc')).filter((m) => m.seq >= newest && m.seq <= 30);
  assert.deepEqual(r.frames.slice(2), stored);

  // What the gap leaves out is still there: one history page from `from - 1`.
  const page = await api.get(`/rooms/rc/messages?since=${first - 1}&limit=${newest - first}`);
  assert.deepEqual(page.body.messages.map((m) => m.seq), range(first, newest - 1));

  // Boundaries (each resume posts a live marker, so the room moves on): exactly the cap after
  // `since` replays everything, one more leaves one out, and a resume from inside the
  // retained range has no retention gap.
  let latest = r.liveSeq;
  let b = await resume(server, api, 'rc', latest - REPLAY_MAX_MESSAGES);
  assert.equal(b.welcome.seq, latest);
  assert.deepEqual(describe(b.frames), range(latest - REPLAY_MAX_MESSAGES + 1, latest));
  latest = b.liveSeq;
  b = await resume(server, api, 'rc', latest - REPLAY_MAX_MESSAGES - 1);
  assert.deepEqual(describe(b.frames), [
    replayLimit(latest - REPLAY_MAX_MESSAGES, latest - REPLAY_MAX_MESSAGES),
    ...range(latest - REPLAY_MAX_MESSAGES + 1, latest),
  ]);
  // Up to date, or beyond: nothing at all.
  assert.deepEqual((await resume(server, api, 'rc', b.liveSeq)).frames, []);
  assert.deepEqual((await resume(server, api, 'rc', 10_000)).frames, []);
});

test('a batch=1 resume, unwrapped, replays the same way', async () => {
  await fill(api, 'rc-batch', 12);
  const plain = await resume(server, api, 'rc-batch', 0);
  const batched = await resume(server, api, 'rc-batch', 0, { batch: true });
  assert.deepEqual(describe(plain.frames), [replayLimit(1, 12 - REPLAY_MAX_MESSAGES), ...range(13 - REPLAY_MAX_MESSAGES, 12)]);
  // The batched resume came after the plain one's live marker (seq 13).
  assert.deepEqual(describe(batched.frames), [replayLimit(1, 13 - REPLAY_MAX_MESSAGES), ...range(14 - REPLAY_MAX_MESSAGES, 13)]);
});

test('REPLAY_MAX_BYTES: only the newest messages that fit, and always at least one', async () => {
  // ~1.1 KB frames: two fit in 3,000 bytes, three do not.
  await fill(api, 'rb', 6, (i) => `${i}:${'x'.repeat(1000)}`);
  const lengths = (await retained(api, 'rb')).map((m) => Buffer.byteLength(JSON.stringify(m)));
  assert.ok(lengths.every((n) => n > REPLAY_MAX_BYTES / 3 && n <= REPLAY_MAX_BYTES / 2), `frame sizes ${lengths}`);
  assert.deepEqual(describe((await resume(server, api, 'rb', 0)).frames), [replayLimit(1, 4), 5, 6]);
  // Multi-byte text counts in bytes, not characters: 400 three-byte characters are 1,200 bytes.
  await fill(api, 'rb-utf8', 6, (i) => `${i}:${'€'.repeat(400)}`);
  assert.deepEqual(describe((await resume(server, api, 'rb-utf8', 0)).frames), [replayLimit(1, 4), 5, 6]);
  // A message bigger than the whole budget is still replayed when it is the newest.
  await fill(api, 'rb-huge', 3, (i) => (i < 2 ? i : 'y'.repeat(REPLAY_MAX_BYTES + 1000)));
  const huge = (await resume(server, api, 'rb-huge', 0)).frames;
  assert.deepEqual(describe(huge), [replayLimit(1, 2), 3]);
  assert.equal(huge[0].reason, 'replay_limit');
});

test('the default limits: a resume replays at most 1,000 messages', async () => {
  // Only the rate limit is loosened, so that one socket can publish 1,003 messages in a burst
  // (turns group them into few commits).
  const s = await startServer({ vars: { RATE_LIMIT_BURST: '5000', RATE_LIMIT_PER_SECOND: '5000' } });
  try {
    const a = admin(s);
    const writer = await join(s, 'defaults', 'writer');
    for (let i = 1; i <= 1003; i++) writer.send({ type: 'publish', data: i, id: `w${i}` });
    assert.equal((await writer.next((f) => f.type === 'ack' && f.id === 'w1003', 30_000)).seq, 1003);
    writer.terminate();
    const r = await resume(s, a, 'defaults', 0);
    assert.deepEqual(r.frames[0], replayLimit(1, 3));
    assert.deepEqual(r.frames.slice(1).map((f) => f.seq), range(4, 1003));
  } finally {
    await s.stop();
  }
});
