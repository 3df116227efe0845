// Bad input gets a clear error frame, the connection stays open, nothing accepted is lost and
// nobody else is affected; a sustained flood is closed with 1008. No input can break a room.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';

let server;
before(async () => {
  server = await startServer({
    vars: { MAX_MESSAGE_BYTES: '4096', RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '30' },
  });
});
after(async () => { await server?.stop(); });

const error = (f) => f.type === 'error';
const message = (f) => f.type === 'message';

/** Sends `frame` from a and expects error `code`; then proves a and b still chat. */
async function expectError(a, b, frame, code, id) {
  a.send(frame);
  const e = await a.next(error);
  assert.equal(e.code, code, `frame ${String(frame).slice(0, 80)}`);
  assert.equal(typeof e.message, 'string');
  if (id !== undefined) assert.equal(e.id, id);
  return e;
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
  a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await a.next(error)).code, 'binary_unsupported');
  // Still open, still chatting, and b saw none of the errors.
  a.send({ type: 'publish', data: 'still here', id: 'ok' });
  assert.equal((await b.next(message)).data, 'still here');
  assert.equal((await a.next(message)).data, 'still here');
  assert.deepEqual(await b.collect(error, 100), []);
  a.terminate(); b.terminate();
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

test('a burst over the rate limit is refused with rate_limited; a sustained flood is closed 1008', async () => {
  const a = await join(server, 'flood', 'alice');
  const b = await join(server, 'flood', 'bob');
  for (let i = 0; i < 45; i++) a.send({ type: 'publish', data: i });
  const limited = await a.next((f) => f.type === 'error' && f.code === 'rate_limited');
  assert.equal(typeof limited.message, 'string');
  // The first burst was delivered, in order, to the bystander.
  for (let i = 0; i < 30; i++) assert.equal((await b.next(message)).data, i);
  // Keep flooding: the server gives up on the connection with 1008.
  for (let i = 0; i < 200 && a.ws.readyState === 1; i++) a.send({ type: 'publish', data: 'spam' });
  const closed = await a.closed;
  assert.equal(closed.code, 1008);
  assert.deepEqual(await b.next((f) => f.type === 'presence'), { type: 'presence', event: 'leave', user_id: 'alice' });
  // The bystander's own traffic is unaffected.
  b.send({ type: 'publish', data: 'calm' });
  assert.equal((await b.next((f) => message(f) && f.data === 'calm')).data, 'calm');
  b.terminate();
});

test('junk room traffic does not disturb a neighbouring room', async () => {
  const noisy = await join(server, 'noisy', 'mallory');
  const calm = [await join(server, 'calm', 'alice'), await join(server, 'calm', 'bob')];
  for (let i = 0; i < 20; i++) noisy.send(i % 2 ? '{{{{' : Buffer.alloc(64));
  calm[0].send({ type: 'publish', data: 'fine' });
  assert.equal((await calm[1].next(message)).data, 'fine');
  noisy.terminate(); calm.forEach((c) => c.terminate());
});
