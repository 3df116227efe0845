// Coalesced delivery: a connection that asks for `?batch=1` gets a turn's frames in one
// `{"type":"batch","frames":[...]}` message; every other connection keeps getting exactly the
// v1 frames. Either way each message arrives once, in seq order, with nothing missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, tryConnect, devToken, socketUrl, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck, isMessage, messageWith, range, unwrapBatches } from './support/frames.mjs';
import { roomDebug, waitForEviction } from './support/eviction.mjs';

let server;
// Buckets big enough for a live burst that lasts as long as a connect takes (resume test).
before(async () => { server = await startServer({ vars: { RATE_LIMIT_BURST: '100000' } }); });
after(async () => { await server?.stop(); });

/** Everything a batch client received since it connected (welcome included), unwrapped. */
const unwrap = (client) => unwrapBatches(client.log);

/** A server post to `room` as a marker: it reaches every connection after what came before. */
async function postMarker(room) {
  const r = await admin(server).post(`/rooms/${room}/messages`, { data: 'marker' });
  assert.equal(r.status, 200);
}
const isMarker = messageWith('marker');

test('a burst reaches batch and v1 connections alike: every message once, in order', async () => {
  const room = 'coalesce-burst';
  const batched = await join(server, room, 'reader-b', { query: '&batch=1' });
  const plain = await join(server, room, 'reader-p');
  const publishers = await Promise.all(['p1', 'p2', 'p3'].map((u) => join(server, room, u)));
  const PER = 80;
  // Written back to back without waiting, so they queue up in the room between turns.
  for (let n = 0; n < PER; n++) {
    for (const [i, p] of publishers.entries()) p.send({ type: 'publish', data: { i, n }, id: `${i}-${n}` });
  }
  const total = PER * publishers.length;
  // Once everything is acked, a server post is the last message anyone can get: whatever
  // arrived ahead of it is all the burst delivered.
  await until(() => publishers.every((p) => p.log.filter((f) => f.type === 'ack').length === PER), { ms: 10_000, what: 'every publish acked' });
  await postMarker(room);
  await plain.next(isMarker, 10_000);
  await until(() => unwrap(batched).frames.some(isMarker), { ms: 10_000, what: 'the marker reached the batch reader' });
  const beforeMarker = (frames) => frames.slice(0, frames.findIndex(isMarker));

  const seqsOf = (frames) => beforeMarker(frames).filter((f) => f.type === 'message').map((f) => f.seq);
  const first = seqsOf(plain.log)[0];
  const expected = Array.from({ length: total }, (_, k) => first + k);
  assert.deepEqual(seqsOf(plain.log), expected, 'v1: gapless, ordered, no duplicate');
  assert.ok(plain.log.every((f) => f.type !== 'batch'), 'a v1 connection never sees a batch');

  const { frames, batches, largest } = unwrap(batched);
  assert.deepEqual(seqsOf(frames), expected, 'batch: the same messages, same order');
  assert.ok(batches >= 1 && largest > 1, `the burst was coalesced (${batches} batches, largest ${largest})`);
  // The frames inside a batch are the v1 frames, field for field.
  const bySeq = new Map(plain.log.filter((f) => f.type === 'message').map((f) => [f.seq, f]));
  for (const f of frames.filter((x) => x.type === 'message')) assert.deepEqual(f, bySeq.get(f.seq));

  // Every publisher got one ack per publish, with the seq its message carries.
  for (const [i, p] of publishers.entries()) {
    const acks = p.log.filter((f) => f.type === 'ack');
    assert.equal(acks.length, PER);
    for (const a of acks) {
      const [pi, n] = a.id.split('-').map(Number);
      assert.equal(pi, i);
      assert.deepEqual(bySeq.get(a.seq).data, { i, n });
    }
  }
  for (const c of [batched, plain, ...publishers]) c.terminate();
});

test('a batch connection gets welcome first, then its replay, then live traffic', async () => {
  const room = 'coalesce-resume';
  const writer = await join(server, room, 'writer');
  for (let n = 1; n <= 5; n++) writer.send({ type: 'publish', data: n, id: `w${n}` });
  await writer.next(isAck('w5'));
  const token = await devToken(server, 'late');
  // Live traffic, three publishes in flight at a time, runs while the reader connects and
  // stops only well after its welcome: the hand-off from replay to live happens mid-burst.
  let last = 5;
  let welcomed = false;
  let afterWelcome = 0;
  const burst = (async () => {
    for (let n = 6; afterWelcome < 9; n += 3) {
      const ids = [n, n + 1, n + 2].map((k) => `w${k}`);
      ids.forEach((id, k) => writer.send({ type: 'publish', data: n + k, id }));
      for (const id of ids) last = (await writer.next(isAck(id))).seq;
      if (welcomed) afterWelcome += 3;
      if (n > 3000) throw new Error('the reader never got its welcome');
    }
  })();
  await until(() => last > 5, { what: 'the burst started' });
  const { client } = await tryConnect(socketUrl(server, room, token, '&since=2&batch=1'));
  await client.welcomed();
  welcomed = true;
  await burst;
  const w = client.welcome.seq;
  assert.ok(w > 5 && w < last, `the welcome's seq ${w} falls inside the burst (6..${last}): some of it replayed, the rest live`);
  await postMarker(room);
  await until(() => unwrap(client).frames.some(isMarker), { what: 'the marker arrived' });
  const { frames } = unwrap(client);
  assert.equal(frames[0].type, 'welcome');
  const between = frames.slice(1, frames.findIndex(isMarker));
  assert.deepEqual(between.map((f) => f.type), Array(last - 2).fill('message'), 'only messages between welcome and the marker');
  assert.deepEqual(between.map((f) => f.data), range(3, last), 'every message once, in order, across the hand-off');
  client.terminate();
  writer.terminate();
});

test('a batch connection still gets batches after the room hibernated and woke', { timeout: 60_000 }, async () => {
  const room = 'coalesce-sleep';
  const reader = await join(server, room, 'sleeper', { query: '&batch=1' });
  const writer = await join(server, room, 'waker');
  const fresh = await waitForEviction(server, room);
  // Woken by the burst itself: the room rebuilds its index from the attachments.
  for (let n = 0; n < 40; n++) writer.send({ type: 'publish', data: n, id: `z${n}` });
  await until(() => unwrap(reader).frames.filter((f) => f.type === 'message').length === 40);
  const { batches, largest } = unwrap(reader);
  assert.ok(batches >= 1 && largest > 1, `still coalesced after the wake (${batches} batches)`);
  assert.ok(writer.log.every((f) => f.type !== 'batch'), 'the v1 writer never gets a batch');
  const after = await roomDebug(server, room);
  assert.equal(after.instance, fresh.instance, 'the burst was handled by the instance constructed after the eviction');
  assert.equal(after.loaded_before_this_call, true, 'which rebuilt the room from the sockets');
  reader.terminate();
  writer.terminate();
});

test('a client that publishes and closes at once still gets its acks before the close', async () => {
  const room = 'coalesce-close';
  const reader = await join(server, room, 'reader');
  for (const batch of ['', '&batch=1']) {
    const quitter = await join(server, room, `quitter${batch ? '-b' : ''}`, { query: batch });
    for (let n = 0; n < 3; n++) quitter.send({ type: 'publish', data: n, id: `q${n}` });
    quitter.ws.close(1000, 'bye'); // in the same breath: the frames are still queued for a turn
    await quitter.closedWithin();
    const acks = unwrap(quitter).frames.filter((f) => f.type === 'ack').map((f) => f.id);
    assert.deepEqual(acks, ['q0', 'q1', 'q2'], `acks before the close (batch=${!!batch})`);
  }
  await until(() => reader.log.filter((f) => f.type === 'message').length === 6);
  reader.terminate();
});

test('a batch never exceeds 128 KiB and never nests: a large turn arrives as several batches', async () => {
  const room = 'coalesce-big';
  const reader = await join(server, room, 'big-reader', { query: '&batch=1' });
  const publishers = await Promise.all(['b1', 'b2', 'b3'].map((u) => join(server, room, u)));
  const PER = 5;
  const pad = 'x'.repeat(30_000); // ~30 KB per message: four fill a batch
  for (let n = 0; n < PER; n++) {
    for (const [i, p] of publishers.entries()) p.send({ type: 'publish', data: { i, n, pad }, id: `big-${i}-${n}` });
  }
  const total = PER * publishers.length;
  await until(() => unwrap(reader).frames.filter(isMessage).length >= total, { ms: 10_000, what: 'every message arrived' });
  const batchSizes = reader.log.map((f, k) => [f, reader.sizes[k]]).filter(([f]) => f.type === 'batch').map(([, n]) => n);
  // The checks below hold for every batch: there must be batches to hold them for. The 15
  // messages (~450 KB), written back to back, queue up for the room's turns: a turn holding
  // more than four of them is split, so they arrive in several batches.
  const carrying = reader.log.filter((f) => f.type === 'batch' && f.frames.some(isMessage)).length;
  assert.ok(carrying >= 2, `the messages arrived in ${carrying} batch(es) (batches of [${batchSizes.join(', ')}] bytes in all): a turn over 128 KiB is split into several`);
  for (const n of batchSizes) assert.ok(n <= 128 * 1024, `a batch of ${n} bytes`);
  for (const f of reader.log.filter((x) => x.type === 'batch')) {
    assert.ok(f.frames.every((x) => x.type !== 'batch'), 'no batch inside a batch');
  }
  const messages = unwrap(reader).frames.filter(isMessage);
  const first = messages[0].seq;
  assert.deepEqual(messages.map((m) => m.seq), range(first, first + total - 1), 'every message once, in order');
  for (const c of [reader, ...publishers]) c.terminate();
});

test('a bad batch value is refused with 400 bad_request before any room is touched', async () => {
  const token = await devToken(server, 'u');
  for (const v of ['yes', '2', '']) {
    const r = await tryConnect(`${server.wsUrl}/rooms/coalesce-bad/ws?token=${token}&batch=${v}`);
    assert.equal(r.status, 400, v);
    assert.equal(r.body.error.code, 'bad_request');
  }
  for (const v of ['0', 'false']) {
    const { client } = await tryConnect(`${server.wsUrl}/rooms/coalesce-bad/ws?token=${token}&batch=${v}`);
    assert.ok(client, v);
    client.terminate();
  }
});
