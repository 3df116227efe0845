// Webhook retries (issue 15): a receiver that answers 500, or is down for a while, or never
// answers a POST, gets every event in the end, once per 2xx, in order, with the ids it was first
// offered (so it can deduplicate); after WEBHOOK_MAX_ATTEMPTS a batch becomes a dead letter,
// listed and re-queued by the server API (admin token) in front of what waits, with a fresh
// schedule. WEBHOOK_RETRY_SCALE (DEV_MODE only) shrinks the retry schedule — 1 min, 2 min,
// 4 min… — to milliseconds, so the whole schedule runs in seconds; the 10 s a POST may take
// before it has failed is not scaled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Miniflare } from 'miniflare';
import { startServer, workerOptions } from './support/server.mjs';
import { join, sleep, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck, range } from './support/frames.mjs';
import { seenOnce, startReceiver, webhookVars } from './support/webhooks.mjs';

// 1 min × 0.002 = 120 ms for the first retry, then 240 ms, 480 ms…
const FAST = { WEBHOOK_RETRY_SCALE: '0.002', WEBHOOK_EVENTS: 'message' };
/** A POST not answered within this long has failed (docs/protocol.md, Delivery and Limits). */
const POST_TIMEOUT_MS = 10_000;

async function withHooks(vars, respond, fn) {
  const receiver = await startReceiver({ respond });
  const server = await startServer({ vars: webhookVars(receiver, { ...FAST, ...vars }) });
  try {
    return await fn(server, receiver, admin(server));
  } finally {
    await server.stop();
    await receiver.stop();
  }
}

/** Like `withHooks`, with everything the worker logs collected in `server.logs`. */
async function withLoggedHooks(vars, respond, fn) {
  const receiver = await startReceiver({ respond });
  const logs = [];
  const collect = (stream) => stream.on('data', (chunk) => logs.push(chunk.toString()));
  const mf = new Miniflare({
    ...workerOptions({ vars: webhookVars(receiver, { ...FAST, ...vars }) }),
    handleRuntimeStdio(stdout, stderr) { collect(stdout); collect(stderr); },
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  const server = { mf, url, wsUrl: url.replace(/^http/, 'ws'), logs };
  try {
    return await fn(server, receiver, admin(server));
  } finally {
    await mf.dispose();
    await receiver.stop();
  }
}

/** Publishes `n` messages and waits for each ack (bounded: the receiver never slows them). */
async function publish(client, n, prefix) {
  const seqs = [];
  for (let i = 1; i <= n; i++) {
    client.send({ type: 'publish', data: `${prefix}${i}`, id: `${prefix}${i}` });
    seqs.push((await client.next(isAck(`${prefix}${i}`))).seq);
  }
  return seqs;
}

test('a receiver answering 500 then 200 gets each event once, in order, with the ids first offered', { timeout: 60_000 }, () => {
  let failures = 2;
  const respond = () => (failures-- > 0 ? 500 : 200);
  return withHooks({}, respond, async (server, receiver) => {
    const a = await join(server, 'flaky', 'alice');
    const seqs = await publish(a, 5, 'f');
    const events = await receiver.waitFor((evs) => evs.length >= 5);
    assert.deepEqual(events.map((e) => e.seq), seqs, 'each once, in seq order');
    const [first, second] = receiver.posts;
    assert.deepEqual([first.status, second.status], [500, 500]);
    const offered = new Map(events.map((e) => [e.seq, e.id]));
    for (const refused of [first, second]) {
      for (const e of refused.json.events) assert.equal(offered.get(e.seq), e.id, 'a retry carries the same event id');
    }
    assert.ok(receiver.posts[1].at - receiver.posts[0].at >= 100, 'the retry waited for its turn in the schedule');
    a.terminate();
  });
});

// Retries 120, 240 and 480 ms after the attempts before them: the fourth attempt comes no
// sooner than 840 ms after the first, and is the last.
test('a receiver that is down: each refused attempt counts, on the schedule; nothing is lost once it is back', { timeout: 60_000 }, () => withHooks({ WEBHOOK_MAX_ATTEMPTS: '4' }, () => 200, async (server, receiver, api) => {
  const ROOM = 'outage';
  const a = await join(server, ROOM, 'alice');
  const before = await publish(a, 2, 'b');
  await receiver.waitFor((evs) => evs.length === 2);
  await receiver.down();
  const downAt = Date.now();
  const during = await publish(a, 3, 'd'); // acked at once: chat does not wait for the receiver
  // A closed port records no POST: the worker's own account says what the attempts were.
  // Each refused connection is a failed attempt, the waits of the schedule were kept, and
  // after the fourth the batch is a dead letter, with the network error it got.
  const dead = await waitForDead(api, ROOM);
  const [batch] = dead.batches;
  assert.deepEqual([dead.total, batch.attempts, batch.events.map((e) => e.seq)], [1, 4, during]);
  assert.match(batch.error, /^network error/, 'the last attempt could not connect');
  const lasted = batch.failed_at - downAt;
  assert.ok(lasted >= 840, `the attempts kept the schedule's waits: the batch was given up ${lasted} ms after the receiver went down`);
  await receiver.up();
  assert.deepEqual((await api.post(`/rooms/${ROOM}/webhooks/dead/retry`)).body, { requeued: 3, batches: 1 });
  const events = await receiver.waitFor((evs) => evs.length >= 5, { ms: 20_000 });
  assert.deepEqual(events.map((e) => e.seq), [...before, ...during]);
  assert.deepEqual(events.map((e) => e.data), ['b1', 'b2', 'd1', 'd2', 'd3']);
  assert.deepEqual(events.slice(2).map((e) => e.id), batch.events.map((e) => e.id), 'with the ids the refused attempts carried');
  a.terminate();
}));

test('after WEBHOOK_MAX_ATTEMPTS a batch is a dead letter; the retry endpoint delivers it in front of what waits', { timeout: 60_000 }, () => {
  // The receiver refuses everything until it is offered the dead batch's events again.
  let requeued = new Set();
  const respond = (p) => (p.json.events.some((e) => requeued.has(e.id)) ? 200 : 503);
  // Retries 0.6 s and 1.2 s after the first attempt: all three messages are in the last one.
  const vars = { WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_RETRY_SCALE: '0.01' };
  return withHooks(vars, respond, async (server, receiver, api) => {
    const ROOM = 'deadly';
    const a = await join(server, ROOM, 'alice');
    const seqs = await publish(a, 3, 'x');
    const dead = await waitForDead(api, ROOM);
    assert.equal(receiver.posts.length, 3, 'three attempts, then it gave up');
    const [batch] = dead.batches;
    assert.deepEqual([batch.attempts, batch.error, dead.total], [3, 'HTTP 503', 1]);
    assert.deepEqual(batch.events, receiver.posts[2].json.events, 'the dead letter holds what the last attempt sent');
    assert.deepEqual(batch.events.map((e) => e.seq), seqs);
    assert.ok(batch.failed_at <= Date.now() && batch.failed_at > Date.now() - 30_000);
    // The endpoints are the server API's: admin token only, bounded limit.
    assert.equal((await admin(server, 'wrong').get(`/rooms/${ROOM}/webhooks/dead`)).status, 401);
    assert.equal((await admin(server, null).post(`/rooms/${ROOM}/webhooks/dead/retry`)).status, 401);
    assert.equal((await api.get(`/rooms/${ROOM}/webhooks/dead?limit=0`)).body.error.code, 'bad_request');
    assert.equal((await api.get('/rooms/bad%20room/webhooks/dead')).body.error.code, 'bad_room');

    // Later events, recorded while the receiver still fails: a POST of theirs is refused, and
    // they wait for their retry (0.6 s later) when the dead batch is re-queued.
    const later = await publish(a, 2, 'y');
    await until(() => receiver.posts.some((p) => p.json.events.some((e) => e.seq === later[0])), { what: 'a refused POST of the later events' });
    requeued = new Set(batch.events.map((e) => e.id));
    const retried = await api.post(`/rooms/${ROOM}/webhooks/dead/retry`);
    assert.deepEqual([retried.status, retried.body], [200, { requeued: 3, batches: 1 }]);
    const events = await receiver.waitFor((evs) => evs.length >= 5);
    assert.deepEqual(events.map((e) => e.seq), [...seqs, ...later], 'the re-queued batch, in front of the events that waited');
    assert.deepEqual(events.slice(0, 3).map((e) => e.id), batch.events.map((e) => e.id), 'with the ids it was first sent with');
    assert.equal(receiver.delivered().length, 5, 'each once');
    assert.deepEqual((await api.get(`/rooms/${ROOM}/webhooks/dead`)).body, { batches: [], total: 0 });
    assert.deepEqual((await api.post(`/rooms/${ROOM}/webhooks/dead/retry`)).body, { requeued: 0, batches: 0 });
    a.terminate();
  });
});

test('a deleted message\'s data is erased from its events still waiting, dead letters included', { timeout: 60_000 }, () => {
  let healthy = false;
  const vars = { WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_RETRY_SCALE: '0.01' };
  return withHooks(vars, () => (healthy ? 200 : 503), async (server, receiver, api) => {
    const ROOM = 'erased';
    const a = await join(server, ROOM, 'alice');
    const [s1, s2] = await publish(a, 2, 'secret-');
    a.send({ type: 'edit', target: s1, data: 'secret-1b', id: 'e1' });
    const edit = (await a.next(isAck('e1'))).seq;
    await waitForDead(api, ROOM);
    const [s3] = await publish(a, 1, 'also-secret-'); // waits in the outbox, behind nothing
    a.send({ type: 'delete', target: s1, id: 'd1' });
    await a.next(isAck('d1'));
    assert.equal((await api.call('DELETE', `/rooms/${ROOM}/messages/${s3}`)).status, 200);
    // The dead letter: the message and its edit without data; the other message as it was.
    const [batch] = (await api.get(`/rooms/${ROOM}/webhooks/dead`)).body.batches;
    const bySeq = new Map(batch.events.map((e) => [e.seq, e]));
    assert.deepEqual([bySeq.get(s1).data, bySeq.get(s1).deleted, bySeq.get(edit).data, bySeq.get(edit).deleted], [null, true, null, true]);
    assert.deepEqual([bySeq.get(s2).data, bySeq.get(s2).deleted], ['secret-2', undefined]);
    healthy = true;
    await api.post(`/rooms/${ROOM}/webhooks/dead/retry`);
    const events = await receiver.waitFor((evs) => evs.filter((e) => e.type === 'delete').length === 2 && evs.length >= 6);
    // (The publish helper uses the data as the message's id too: only `data` must be gone.)
    const data = JSON.stringify(events.map((e) => e.data));
    for (const gone of ['secret-1', 'also-secret-1']) assert.ok(!data.includes(gone), `${gone} was delivered after its deletion`);
    assert.deepEqual(events.filter((e) => e.type === 'message').map((e) => [e.seq, e.data]).sort(), [[s1, null], [s2, 'secret-2'], [s3, null]].sort());
    a.terminate();
  });
});

test('a POST that never answers has failed after 10 s: the retry delivers its events', { timeout: 60_000 }, () => {
  // Only the first POST hangs: the receiver never answers it (it is released at the end).
  let first = true;
  const respond = () => (first ? ((first = false), 'hang') : 200);
  return withHooks({}, respond, async (server, receiver) => {
    const a = await join(server, 'hung', 'alice');
    const seqs = await publish(a, 3, 'h'); // acked at once: a hanging receiver holds up no chat
    await until(() => receiver.hanging === 1, { what: 'the first POST reached the receiver and hangs' });
    // Bounded: a delivery that waited for the hung POST forever would never send another.
    const events = await receiver.waitFor((evs) => evs.length >= 3, { ms: POST_TIMEOUT_MS + 8_000, what: 'the events, once the hung POST had timed out' });
    assert.deepEqual(events.map((e) => e.seq), seqs, 'each once, in seq order');
    const [hung, retry, ...more] = receiver.posts;
    assert.deepEqual([hung.status, retry.status, more.length], ['hang', 200, 0], 'one hung POST, then one retry with everything');
    const waited = retry.at - hung.at;
    assert.ok(waited >= POST_TIMEOUT_MS, `the retry came ${waited} ms after the hung POST: not before it had timed out`);
    assert.ok(waited < POST_TIMEOUT_MS + 3_000, `the retry came ${waited} ms after the hung POST: the first retry's wait after the timeout`);
    const ids = new Map(events.map((e) => [e.seq, e.id]));
    for (const e of hung.json.events) assert.equal(ids.get(e.seq), e.id, 'the retry carries the hung POST\'s ids');
    a.terminate();
  });
});

test('a re-queued dead batch starts a fresh retry schedule: WEBHOOK_MAX_ATTEMPTS attempts again', { timeout: 60_000 }, () => {
  // Retries 0.6 s and 1.2 s after the attempts before them; the receiver refuses everything.
  const vars = { WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_RETRY_SCALE: '0.01' };
  return withLoggedHooks(vars, () => 503, async (server, receiver, api) => {
    const ROOM = 'fresh-schedule';
    // A failure that schedules a retry logs `webhook_attempt_failed` with its `attempts`.
    const failures = () => server.logs.join('').match(/\{"attempts":\d+[^\n]*"what":"webhook_attempt_failed"\}/g)?.length ?? 0;
    const a = await join(server, ROOM, 'alice');
    const seqs = await publish(a, 1, 'x');
    const [dead] = (await waitForDead(api, ROOM)).batches;
    assert.equal(dead.attempts, 3);
    // A later event fails once: the outbox's schedule now stands at one failed attempt, its
    // retry 0.6 s away. (Re-queued only once the worker has recorded that failure, so that no
    // POST is in flight.)
    const logged = failures();
    const later = await publish(a, 1, 'y');
    await until(() => failures() > logged, { what: 'the worker recorded the later event\'s failed attempt' });
    const before = receiver.posts.length;
    assert.deepEqual((await api.post(`/rooms/${ROOM}/webhooks/dead/retry`)).body, { requeued: 1, batches: 1 });
    // All three attempts again, each with the re-queued event in front; then a dead letter again.
    const again = await waitForDead(api, ROOM);
    const attempts = receiver.posts.slice(before);
    assert.deepEqual(attempts.map((p) => p.json.events.map((e) => e.seq)), [1, 2, 3].map(() => [...seqs, ...later]),
      'three attempts after the re-queue, not what was left of the later event\'s schedule');
    assert.deepEqual([again.total, again.batches[0].attempts, again.batches[0].events.map((e) => e.seq)], [1, 3, [...seqs, ...later]]);
    a.terminate();
  });
});

test('a re-queue while a POST is out: the re-queued batch still gets every attempt of a fresh schedule', { timeout: 60_000 }, () => {
  // x dies after 2 attempts; y's POST then hangs until it times out (10 s), and the dead batch
  // is re-queued meanwhile. The hung POST's failure is y's, not the re-queued batch's: after it,
  // both attempts of a fresh schedule carry [x, y], then a dead letter with 2 attempts.
  let hangNext = false;
  const respond = () => (hangNext ? ((hangNext = false), 'hang') : 503);
  const vars = { WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_RETRY_SCALE: '0.01' };
  return withHooks(vars, respond, async (server, receiver, api) => {
    const ROOM = 'requeue-in-flight';
    const a = await join(server, ROOM, 'alice');
    const x = await publish(a, 1, 'x');
    const [dead] = (await waitForDead(api, ROOM)).batches;
    assert.deepEqual([dead.attempts, dead.events.map((e) => e.seq)], [2, x]);
    hangNext = true;
    const y = await publish(a, 1, 'y');
    await until(() => receiver.hanging === 1, { what: 'y\'s POST reached the receiver and hangs' });
    assert.deepEqual((await api.post(`/rooms/${ROOM}/webhooks/dead/retry`)).body, { requeued: 1, batches: 1 });
    const before = receiver.posts.length;
    const again = await waitForDead(api, ROOM);
    const attempts = receiver.posts.slice(before).map((p) => p.json.events.map((e) => e.seq));
    assert.deepEqual(attempts, [[...x, ...y], [...x, ...y]], 'both attempts of a fresh schedule, after the hung POST failed');
    assert.deepEqual([again.total, again.batches[0].attempts], [1, 2]);
    a.terminate();
  });
});

async function waitForDead(api, room) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await api.get(`/rooms/${room}/webhooks/dead`);
    assert.equal(r.status, 200);
    if (r.body.total > 0) return r.body;
    if (Date.now() > deadline) throw new Error('no dead letter within 20 s');
    await sleep(100);
  }
}

test('a registry shard retries its direct_undelivered events too', { timeout: 60_000 }, () => {
  let failures = 1;
  return withHooks({ WEBHOOK_EVENTS: 'direct_undelivered' }, () => (failures-- > 0 ? 500 : 200), async (server, receiver, api) => {
    await seenOnce(server, 'away');
    for (const n of range(1, 3)) assert.equal((await api.post('/users/away/messages', { data: n })).body.delivered, 0);
    const events = await receiver.waitFor((evs) => evs.length >= 3);
    assert.deepEqual(events.map((e) => [e.type, e.user_id, e.direct.data]), range(1, 3).map((n) => ['direct_undelivered', 'away', n]));
    assert.equal(receiver.posts[0].status, 500);
  });
});

test('the registry shards\' dead letters are listed and re-queued by the server API', { timeout: 60_000 }, () => {
  let healthy = false;
  const vars = { WEBHOOK_EVENTS: 'direct_undelivered', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_RETRY_SCALE: '0.01' };
  return withHooks(vars, () => (healthy ? 200 : 503), async (server, receiver, api) => {
    for (const user of ['away-1', 'away-2']) {
      await seenOnce(server, user);
      assert.equal((await api.post(`/users/${user}/messages`, { data: user })).body.delivered, 0);
    }
    let dead;
    await until(async () => (dead = (await api.get('/registry/webhooks/dead')).body).total === 2, { ms: 20_000, what: 'two dead letters' });
    const listed = dead.batches.map((b) => [b.events[0].type, b.events[0].user_id, typeof b.shard, b.attempts, b.error]);
    assert.deepEqual(listed.sort(), [
      ['direct_undelivered', 'away-1', 'number', 2, 'HTTP 503'],
      ['direct_undelivered', 'away-2', 'number', 2, 'HTTP 503'],
    ]);
    assert.ok(dead.batches[0].failed_at <= dead.batches[1].failed_at, 'oldest first');
    assert.equal((await api.get('/registry/webhooks/dead?limit=1')).body.batches.length, 1);
    assert.equal((await api.get('/registry/webhooks/dead?limit=0')).body.error.code, 'bad_request');
    assert.equal((await admin(server, 'wrong').get('/registry/webhooks/dead')).status, 401);
    assert.equal((await admin(server, null).post('/registry/webhooks/dead/retry')).status, 401);

    healthy = true;
    assert.deepEqual((await api.post('/registry/webhooks/dead/retry')).body, { requeued: 2, batches: 2 });
    const events = await receiver.waitFor((evs) => evs.length >= 2);
    assert.deepEqual(events.map((e) => e.direct.data).sort(), ['away-1', 'away-2']);
    assert.deepEqual((await api.get('/registry/webhooks/dead')).body, { batches: [], total: 0 });
  });
});
