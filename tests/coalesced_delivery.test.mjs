// Coalesced delivery: a connection that asks for `?batch=1` gets a turn's frames in one
// `{"type":"batch","frames":[...]}` message; every other connection keeps getting exactly the
// v1 frames. Either way each message arrives once, in seq order, with nothing missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, tryConnect, devToken, sleep } from './support/client.mjs';
import { eventually } from './support/admin.mjs';

// workerd evicts an idle object after 10 s; a little margin on top.
const EVICTION_WAIT_MS = 12_500;

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** The frames a batch client saw, unwrapped, and how many WebSocket messages carried them. */
function unwrap(client) {
  const frames = [];
  let batches = 0;
  let largest = 0;
  for (const f of client.frames) {
    if (f.type === 'batch') {
      batches++;
      largest = Math.max(largest, f.frames.length);
      frames.push(...f.frames);
    } else frames.push(f);
  }
  return { frames, batches, largest };
}

/** Waits (bounded) until `pred()` holds. */
const until = (pred, ms = 10_000) => eventually(() => Boolean(pred()), true, { ms, every: 20 });

test('a burst reaches batch and v1 connections alike: every message once, in order', async () => {
  const room = 'coalesce-burst';
  const batched = await join(server, room, 'reader-b', { query: '&batch=1' });
  const plain = await join(server, room, 'reader-p');
  const publishers = await Promise.all(['p1', 'p2', 'p3'].map((u) => join(server, room, u)));
  const PER = 80; // under the default burst of 100 per connection
  // Written back to back without waiting, so they queue up in the room between turns.
  for (let n = 0; n < PER; n++) {
    for (const [i, p] of publishers.entries()) p.send({ type: 'publish', data: { i, n }, id: `${i}-${n}` });
  }
  const total = PER * publishers.length;
  const messages = (c) => c.frames.filter((f) => f.type === 'message').length;
  await until(() => messages(plain) >= total && unwrap(batched).frames.filter((f) => f.type === 'message').length >= total);
  await sleep(200); // anything extra would show up now

  const seqsOf = (frames) => frames.filter((f) => f.type === 'message').map((f) => f.seq);
  const first = seqsOf(plain.frames)[0];
  const expected = Array.from({ length: total }, (_, k) => first + k);
  assert.deepEqual(seqsOf(plain.frames), expected, 'v1: gapless, ordered, no duplicate');
  assert.ok(plain.frames.every((f) => f.type !== 'batch'), 'a v1 connection never sees a batch');

  const { frames, batches, largest } = unwrap(batched);
  assert.deepEqual(seqsOf(frames), expected, 'batch: the same messages, same order');
  assert.ok(batches >= 1 && largest > 1, `the burst was coalesced (${batches} batches, largest ${largest})`);
  // The frames inside a batch are the v1 frames, field for field.
  const bySeq = new Map(plain.frames.filter((f) => f.type === 'message').map((f) => [f.seq, f]));
  for (const f of frames.filter((x) => x.type === 'message')) assert.deepEqual(f, bySeq.get(f.seq));

  // Every publisher got one ack per publish, with the seq its message carries.
  for (const [i, p] of publishers.entries()) {
    const acks = p.frames.filter((f) => f.type === 'ack');
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
  await until(() => writer.frames.filter((f) => f.type === 'ack').length === 5);
  const token = await devToken(server, 'late');
  // Live traffic races the connect: each of 6–8 lands either in the replay or after it.
  const connecting = tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${token}&since=2&batch=1`);
  for (let n = 6; n <= 8; n++) writer.send({ type: 'publish', data: n, id: `w${n}` });
  const { client } = await connecting;
  await until(() => unwrap(client).frames.some((f) => f.type === 'message' && f.seq === 8));
  await sleep(100); // a duplicate would show up now
  const { frames } = unwrap(client);
  assert.equal(frames[0].type, 'welcome');
  assert.ok(frames[0].seq >= 5, `welcome seq ${frames[0].seq}`);
  assert.deepEqual(frames.filter((f) => f.type === 'message').map((f) => f.data), [3, 4, 5, 6, 7, 8]);
  client.terminate();
  writer.terminate();
});

test('a batch connection still gets batches after the room hibernated and woke', { timeout: 60_000 }, async () => {
  const room = 'coalesce-sleep';
  const debug = async () => (await fetch(`${server.url}/dev/rooms/${room}/debug`)).json();
  const reader = await join(server, room, 'sleeper', { query: '&batch=1' });
  const writer = await join(server, room, 'waker');
  const before = (await debug()).instance;
  await sleep(EVICTION_WAIT_MS);
  // Woken by the burst itself: the room rebuilds its index from the attachments.
  for (let n = 0; n < 40; n++) writer.send({ type: 'publish', data: n, id: `z${n}` });
  await until(() => unwrap(reader).frames.filter((f) => f.type === 'message').length === 40);
  const { batches, largest } = unwrap(reader);
  assert.ok(batches >= 1 && largest > 1, `still coalesced after the wake (${batches} batches)`);
  assert.ok(writer.frames.every((f) => f.type !== 'batch'), 'the v1 writer never gets a batch');
  assert.notEqual((await debug()).instance, before, 'the room object was evicted in between');
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
    await quitter.closed;
    const acks = unwrap(quitter).frames.filter((f) => f.type === 'ack').map((f) => f.id);
    assert.deepEqual(acks, ['q0', 'q1', 'q2'], `acks before the close (batch=${!!batch})`);
  }
  await until(() => reader.frames.filter((f) => f.type === 'message').length === 6);
  reader.terminate();
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
