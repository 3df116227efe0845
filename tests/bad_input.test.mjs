// Bad input gets a clear error frame, the connection stays open, nothing accepted is lost and
// nobody else is affected; a sustained flood is refused exactly as configured, then closed with
// 1008. The MAX_MESSAGE_BYTES boundary is exact, in bytes. No input can break a room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, WAIT_MS } from './support/client.mjs';
import { isAck, isError, isMessage, isPresence, messageWith, newId, range } from './support/frames.mjs';
import { within } from './support/sessions.mjs';

const MAX = 4096; // MAX_MESSAGE_BYTES of this file's main server
let server;
before(async () => {
  server = await startServer({
    vars: { MAX_MESSAGE_BYTES: String(MAX), RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '30' },
  });
});
after(async () => { await server?.stop(); });

const error = isError;
const message = isMessage;

/** Sends `frame` from a and expects error `code`; then proves a and b still chat. */
async function expectError(a, b, frame, code, id) {
  const from = b.mark();
  a.send(frame);
  const e = await a.next(error);
  assert.equal(e.code, code, `frame ${String(frame).slice(0, 80)}`);
  assert.equal(typeof e.message, 'string');
  if (id !== undefined) assert.equal(e.id, id);
  await stillChatting(a, b, from);
  return e;
}

/** b publishes a probe, after a's bad frame was answered: both get it (the room still works),
 * and ahead of it b got nothing since `from` (nothing of a's bad frame reached b) but the
 * probe's own ack. */
async function stillChatting(a, b, from) {
  const id = newId('probe');
  b.send({ type: 'publish', data: id, id });
  await b.next(isAck(id));
  const ahead = await b.framesBefore(messageWith(id), from);
  assert.deepEqual(ahead.filter((f) => !isAck(id)(f)), [], 'the witness got nothing of the bad frame');
  await a.next(messageWith(id));
}

test('each bad frame gets its error code and the connection keeps working', async () => {
  const a = await join(server, 'bad', 'alice');
  const b = await join(server, 'bad', 'bob');
  await expectError(a, b, '{"type":', 'bad_json');
  await expectError(a, b, 'not json at all', 'bad_json');
  await expectError(a, b, '[1,2,3]', 'bad_frame');
  await expectError(a, b, '"publish"', 'bad_frame');
  await expectError(a, b, { type: 'shout', data: 1, id: 'k1' }, 'bad_frame', 'k1');
  await expectError(a, b, { data: 1, id: 'k2' }, 'bad_frame', 'k2');
  await expectError(a, b, { type: 'publish', id: 'k3' }, 'bad_frame', 'k3');
  await expectError(a, b, { type: 'publish', data: 1, echo: 'yes', id: 'k4' }, 'bad_frame', 'k4');
  await expectError(a, b, { type: 'publish', data: 1, id: 42 }, 'bad_frame');
  await expectError(a, b, { type: 'publish', data: 1, id: 'x'.repeat(129) }, 'bad_frame');
  await expectError(a, b, { type: 'direct', to: 'bob', data: 1, id: 'k5' }, 'bad_frame', 'k5');
  await expectError(a, b, { type: 'direct', to: {}, data: 1 }, 'bad_frame');
  await expectError(a, b, { type: 'publish', data: 'x'.repeat(5000), id: 'big' }, 'too_large');
  const beforeBinary = b.mark();
  a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await a.next(error)).code, 'binary_unsupported');
  await stillChatting(a, b, beforeBinary);
  await expectError(a, b, { type: 'publish', data: 1, id: '' }, 'bad_frame');
  // Still open, still chatting, and b saw none of the errors: a's message is the next thing b gets.
  const from = b.mark();
  a.send({ type: 'publish', data: 'still here', id: 'ok' });
  assert.deepEqual(await b.framesBefore(messageWith('still here'), from), []);
  assert.equal((await a.next(message)).data, 'still here');
  a.terminate(); b.terminate();
});

test('an id of 128 characters (not bytes) is accepted and echoed', async () => {
  const a = await join(server, 'ids', 'alice');
  const id = '😀'.repeat(128);
  a.send({ type: 'publish', data: 1, id });
  assert.equal((await a.next(message)).id, id);
  assert.equal((await a.next(isAck(id))).id, id);
  a.terminate();
});

/** A publish frame of exactly `bytes` bytes (UTF-8), its data made of `ch`. */
function frameOf(bytes, ch = 'x') {
  const shell = Buffer.byteLength('{"type":"publish","data":""}');
  const per = Buffer.byteLength(ch);
  const n = Math.floor((bytes - shell) / per);
  const text = `{"type":"publish","data":"${ch.repeat(n)}${'y'.repeat(bytes - shell - n * per)}"}`;
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

test('a frame of exactly MAX_MESSAGE_BYTES is accepted; one byte more is too_large, counted in bytes', async () => {
  const a = await join(server, 'limit', 'alice');
  const b = await join(server, 'limit', 'bob');
  a.send(frameOf(MAX));
  assert.equal((await b.next(message)).data.length, MAX - 28, 'at the limit: delivered');
  await expectError(a, b, frameOf(MAX + 1), 'too_large');
  const wide = frameOf(MAX + 1, 'é');
  assert.ok(wide.length < MAX, 'fewer characters than the limit');
  await expectError(a, b, wide, 'too_large');
  a.send(frameOf(MAX, 'é'));
  assert.equal((await b.next(message)).data.length, (MAX - 28) / 2, 'two-byte characters up to the limit: delivered');
  a.terminate(); b.terminate();
});

test('welcome tells the client MAX_MESSAGE_BYTES', async () => {
  const a = await join(server, 'limit-welcome', 'alice');
  a.terminate();
  assert.equal(a.welcome.max_message_bytes, MAX);
});

test('a limit that does not parse or is out of range falls back to its default', async () => {
  const fallback = await startServer({ vars: { MAX_MESSAGE_BYTES: '2MB' } });
  const zero = await startServer({ vars: { MAX_MESSAGE_BYTES: '0' } });
  try {
    for (const srv of [fallback, zero]) {
      const a = await join(srv, 'fallback', 'alice');
      a.send(frameOf(65_536));
      assert.equal((await a.next(message)).data.length, 65_536 - 28);
      a.send(frameOf(65_537));
      assert.equal((await a.next(error)).code, 'too_large');
      a.terminate();
    }
  } finally {
    await Promise.all([fallback.stop(), zero.stop()]);
  }
});

test('deeply nested JSON is refused without harm', async () => {
  const a = await join(server, 'deep', 'alice');
  const b = await join(server, 'deep', 'bob');
  const deep = (n) => '['.repeat(n) + ']'.repeat(n);
  await expectError(a, b, `{"type":"publish","data":${deep(2000)},"id":"d1"}`, 'bad_json');
  await expectError(a, b, `{"type":"publish","data":1,"extra":${deep(2000)}}`, 'bad_json');
  await expectError(a, b, `{"type":"publish","data":${deep(65)}}`, 'bad_json');
  a.send(`{"type":"publish","data":${deep(64)}}`);
  assert.equal((await b.next(message)).data.length, 1, 'nesting up to 64 is fine');
  a.terminate(); b.terminate();
});

test('frames far over the limit are refused and the room carries on', async () => {
  const a = await join(server, 'huge', 'alice');
  const b = await join(server, 'huge', 'bob');
  await expectError(a, b, JSON.stringify({ type: 'publish', data: 'y'.repeat(200_000) }), 'too_large');
  a.send({ type: 'publish', data: 'after' });
  assert.equal((await b.next(message)).data, 'after');
  a.terminate(); b.terminate();
});

/**
 * Floods `room` from a fresh connection on a server that refills buckets at 0.001 frames/s
 * (nothing refills during the test): `burst + refusals + extra` publishes written at once.
 */
async function flood(srv, room, burst, extra = 20) {
  const a = await join(srv, room, 'flooder');
  const b = await join(srv, room, 'bystander');
  const refusals = Math.max(burst, 10);
  for (let i = 0; i < burst + refusals + extra; i++) a.send({ type: 'publish', data: i, id: `f${i}` });
  const closed = await within(a.closed, WAIT_MS, 'the flooder\'s close');
  return { a, b, closed, refusals };
}

for (const burst of [12, 4]) {
  test(`a flood (burst ${burst}): exactly the bucket is accepted and acked, ${Math.max(burst, 10)} frames refused, then 1008`, async () => {
    const srv = await startServer({ vars: { RATE_LIMIT_PER_SECOND: '0.001', RATE_LIMIT_BURST: String(burst) } });
    try {
      const { a, b, closed, refusals } = await flood(srv, 'flood', burst);
      assert.deepEqual(closed, { code: 1008, reason: 'rate limit exceeded' });
      const accepted = range(0, burst - 1);
      // Every accepted publish was acked (before the close), in order, and nothing else was.
      assert.deepEqual(a.log.filter((f) => f.type === 'ack').map((f) => f.id), accepted.map((i) => `f${i}`), 'acks == accepted');
      assert.deepEqual(a.log.filter(message).map((m) => m.data), accepted, 'the flooder saw its accepted messages');
      const errors = a.log.filter(error);
      assert.equal(errors.length, refusals, `${errors.length} refusals; want one bucket's worth (at least 10): ${refusals}`);
      for (const e of errors) {
        assert.equal(e.code, 'rate_limited');
        assert.equal(typeof e.message, 'string');
      }
      // The bystander got exactly the accepted messages, in order, then the leave.
      assert.deepEqual(await b.next(isPresence), { type: 'presence', event: 'leave', user_id: 'flooder' });
      b.send({ type: 'publish', data: 'calm' });
      const seen = await b.framesBefore(messageWith('calm'), 1);
      assert.deepEqual(seen.filter(message).map((m) => m.data), accepted, 'nothing accepted is lost, nothing refused leaks');
      assert.deepEqual(seen.filter(error), []);
      b.terminate();
    } finally {
      await srv.stop();
    }
  });
}

test('a rate_limited error names the refused publish', async () => {
  const srv = await startServer({ vars: { RATE_LIMIT_PER_SECOND: '0.001', RATE_LIMIT_BURST: '4' } });
  try {
    const { a, b } = await flood(srv, 'flood-ids', 4);
    b.terminate();
    assert.deepEqual(a.log.filter(error).map((e) => e.id), range(4, 13).map((i) => `f${i}`));
  } finally {
    await srv.stop();
  }
});

test('junk room traffic does not disturb a neighbouring room', async () => {
  const noisy = await join(server, 'noisy', 'mallory');
  const calm = [await join(server, 'calm', 'alice'), await join(server, 'calm', 'bob')];
  for (let i = 0; i < 20; i++) noisy.send(i % 2 ? '{{{{' : Buffer.alloc(64));
  calm[0].send({ type: 'publish', data: 'fine' });
  assert.equal((await calm[1].next(message)).data, 'fine');
  noisy.terminate(); calm.forEach((c) => c.terminate());
});
