// Webhook outboxes are bounded (issue 22, finding 4): past WEBHOOK_MAX_BACKLOG_EVENTS or
// WEBHOOK_MAX_BACKLOG_BYTES the oldest waiting events move to the dead letters with reason
// `backlog` — none lost: re-queued, every one is delivered once — and an error line says so;
// dead letters expire after WEBHOOK_DEAD_LETTER_DAYS; waiting events follow history
// retention (HISTORY_MAX_AGE_DAYS). Caps and days are set tiny through the vars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, sleep, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck } from './support/frames.mjs';
import { startLoggedServer, startReceiver, webhookVars } from './support/webhooks.mjs';

// 1 min × 0.002 = 120 ms for the first retry; 12 attempts take ~3 min: none is given up on
// by attempts within a test unless WEBHOOK_MAX_ATTEMPTS says so.
const FAST = { WEBHOOK_RETRY_SCALE: '0.002', WEBHOOK_EVENTS: 'message' };

async function withHooks(vars, respond, fn) {
  const receiver = await startReceiver({ respond });
  const server = await startLoggedServer({ vars: webhookVars(receiver, { ...FAST, ...vars }) });
  try {
    return await fn(server, receiver, admin(server));
  } finally {
    await server.stop();
    await receiver.stop();
  }
}

async function publish(client, n, prefix, pad = '') {
  const seqs = [];
  for (let i = 1; i <= n; i++) {
    client.send({ type: 'publish', data: `${prefix}${i}${pad}`, id: `${prefix}${i}` });
    seqs.push((await client.next(isAck(`${prefix}${i}`))).seq);
  }
  return seqs;
}

/** Every dead batch of `room` (the listing's limit is 100 batches). */
const deadOf = async (api, room) => (await api.get(`/rooms/${room}/webhooks/dead?limit=100`)).body;

/** Publishes `n` messages while the receiver refuses everything, then checks the cap moved the
 * oldest to dead letters with reason `backlog`; then re-queues them to a healthy receiver,
 * which gets every message exactly once. */
async function capHolds(server, receiver, api, { room, n, pad, cap }) {
  const a = await join(server, room, 'alice');
  const seqs = await publish(a, n, 'b', pad);
  const dead = await until(async () => {
    const d = await deadOf(api, room);
    return d.total > 0 && d;
  }, { what: 'backlog dead letters' });
  assert.ok(dead.batches.every((b) => b.reason === 'backlog' && b.attempts === 0), JSON.stringify(dead.batches.map((b) => [b.reason, b.attempts])));
  assert.match(dead.batches[0].error, new RegExp(`backlog over ${cap}`));
  const buried = dead.batches.flatMap((b) => b.events.map((e) => e.seq));
  assert.deepEqual(buried, seqs.slice(0, buried.length), 'the oldest moved, in order');
  assert.ok(buried.length >= n - 20 && buried.length < n, `${buried.length} of ${n} moved: the newest wait`);
  const lines = server.logs().split('\n').filter((l) => l.includes('"what":"webhook backlog"'));
  assert.ok(lines.length >= 1 && lines.every((l) => l.includes('"level":"error"') && l.includes('moved to the dead letters')), 'an error line says so');
  receiver.respond = () => 200;
  assert.equal((await api.post(`/rooms/${room}/webhooks/dead/retry`)).status, 200);
  const events = await receiver.waitFor((evs) => evs.length >= n, { ms: 20_000 });
  await sleep(300);
  assert.deepEqual(receiver.delivered().map((e) => e.seq).sort((x, y) => x - y), seqs, 'each once: none lost');
  assert.equal(events.length, n);
  a.terminate();
}

test('past WEBHOOK_MAX_BACKLOG_EVENTS the oldest events become dead letters with reason backlog; none is lost', { timeout: 90_000 }, () =>
  withHooks({ WEBHOOK_MAX_BACKLOG_EVENTS: '20' }, () => 503, (server, receiver, api) =>
    capHolds(server, receiver, api, { room: 'capped', n: 50, pad: '', cap: 'WEBHOOK_MAX_BACKLOG_EVENTS=20' })));

test('past WEBHOOK_MAX_BACKLOG_BYTES the same, by bytes', { timeout: 90_000 }, () =>
  withHooks({ WEBHOOK_MAX_BACKLOG_BYTES: '8192' }, () => 503, (server, receiver, api) =>
    capHolds(server, receiver, api, { room: 'capped-bytes', n: 40, pad: 'x'.repeat(500), cap: 'WEBHOOK_MAX_BACKLOG_BYTES=8192' })));

test('dead letters expire after WEBHOOK_DEAD_LETTER_DAYS', { timeout: 60_000 }, () =>
  // 0.00002 days = 1.7 s.
  withHooks({ WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_DEAD_LETTER_DAYS: '0.00002' }, () => 503, async (server, receiver, api) => {
    const a = await join(server, 'expiring', 'alice');
    await publish(a, 2, 'e');
    const dead = await until(async () => {
      const d = await deadOf(api, 'expiring');
      return d.total > 0 && d;
    }, { what: 'a dead letter' });
    assert.equal(dead.batches[0].reason, 'attempts');
    const born = Date.now();
    await until(async () => (await deadOf(api, 'expiring')).total === 0, { ms: 10_000, what: 'the dead letters expired' });
    assert.ok(Date.now() - born >= 1_000, 'not before their time');
    a.terminate();
  }));

test('waiting events follow history retention: older than HISTORY_MAX_AGE_DAYS they are deleted, with an error line', { timeout: 60_000 }, () => {
  let healthy = false;
  // 0.00003 days = 2.6 s; the receiver refuses until then.
  return withHooks({ HISTORY_MAX_AGE_DAYS: '0.00003' }, () => (healthy ? 200 : 503), async (server, receiver) => {
    const a = await join(server, 'forgetful', 'alice');
    await publish(a, 3, 'old');
    await until(() => /"what":"webhook retention"/.test(server.logs()), { ms: 15_000, what: 'the retention line' });
    healthy = true;
    const [fresh] = await publish(a, 1, 'new');
    const events = await receiver.waitFor((evs) => evs.some((e) => e.seq === fresh));
    await sleep(300);
    assert.deepEqual(receiver.delivered().map((e) => e.data), ['new1'], 'the expired events were not sent');
    assert.ok(events.length === 1);
    a.terminate();
  });
});

test('when a batch dies, the events that waited as long behind it die with it: no fresh ~day per batch', { timeout: 60_000 }, () => {
  // 3 attempts, 1 min × 0.01 = 0.6 s then 1.2 s apart: the schedule spans 1.8 s. The first
  // POST is answered (503) only after 2.5 s, while 150 messages are published: the head batch
  // dies ~4.3 s in, when the others have waited longer than a schedule — they die with it.
  // (Each batch on a fresh schedule would take 3 more POSTs, and 1.8 s, for the rest.)
  let first = true;
  const respond = () => (first ? ((first = false), { status: 503, after: 2_500 }) : 503);
  const vars = { WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_RETRY_SCALE: '0.01', RATE_LIMIT_BURST: '10000', RATE_LIMIT_PER_SECOND: '10000' };
  return withHooks(vars, respond, async (server, receiver, api) => {
    const a = await join(server, 'outlived', 'alice');
    const seqs = await publish(a, 150, 'o');
    const dead = await until(async () => {
      const d = await deadOf(api, 'outlived');
      const n = d.batches.reduce((sum, b) => sum + b.events.length, 0);
      return n === 150 && d;
    }, { ms: 20_000, what: 'every event in the dead letters' });
    await sleep(2_000); // any further attempt would have come by now
    assert.equal(receiver.posts.length, 3, `the head batch's 3 attempts and nothing more: ${receiver.posts.map((p) => p.json.events.length)}`);
    assert.deepEqual(dead.batches.flatMap((b) => b.events.map((e) => e.seq)), seqs, 'all of them, in order');
    assert.ok(dead.batches.every((b) => b.reason === 'attempts'));
    assert.match(dead.batches.at(-1).error, /waited the whole schedule behind a dead batch \(HTTP 503\)/);
    a.terminate();
  });
});
