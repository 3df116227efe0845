// Webhooks never slow chat (issue 15): with a receiver that hangs on every POST (held open
// until the test ends, so each attempt lasts the full 10 s timeout), messages, acks, presence,
// room posts and per-user posts to offline users go at their usual pace. Functional bounds
// with a wide margin (the hang is 10 s; every step must take well under 1.5 s), not a
// performance measurement — that is `make bench` (bench/scripts/webhooks.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck, messageWith, presenceOf } from './support/frames.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

const BOUND_MS = 1_500;

async function timed(what, fn) {
  const t0 = Date.now();
  const out = await fn();
  const took = Date.now() - t0;
  assert.ok(took < BOUND_MS, `${what} took ${took} ms while the receiver hangs (bound ${BOUND_MS} ms)`);
  return out;
}

test('a receiver that hangs delays no message, ack, presence or post', { timeout: 60_000 }, async () => {
  const receiver = await startReceiver({ respond: () => 'hang' });
  const all = 'message,presence,occupancy,moderation,direct_undelivered';
  const server = await startServer({ vars: webhookVars(receiver, { WEBHOOK_EVENTS: all }) });
  try {
    const api = admin(server);
    const ROOM = 'patient';
    const a = await timed('the first join', () => join(server, ROOM, 'alice'));
    await until(() => receiver.hanging > 0, { what: 'the first POST hangs at the receiver' });
    const b = await timed('a join', () => join(server, ROOM, 'bob'));
    await timed('presence', () => a.next(presenceOf('join', 'bob'), BOUND_MS));
    for (let i = 1; i <= 30; i++) {
      await timed(`publish ${i}: ack and delivery`, async () => {
        a.send({ type: 'publish', data: i, id: `n${i}` });
        await a.next(isAck(`n${i}`), BOUND_MS);
        await b.next(messageWith(i), BOUND_MS);
      });
    }
    await timed('a room post', async () => {
      assert.equal((await api.post(`/rooms/${ROOM}/messages`, { data: 'srv' })).body.delivered, 2);
      await b.next(messageWith('srv'), BOUND_MS);
    });
    await timed('a per-user post to an offline user', async () => {
      assert.equal((await api.post('/users/offline/messages', { data: 1 })).body.delivered, 0);
    });
    const c = await timed('a third join', () => join(server, ROOM, 'carol'));
    await timed('a leave', async () => {
      await c.close();
      await a.next(presenceOf('leave', 'carol'), BOUND_MS);
    });
    assert.ok(receiver.hanging > 0, 'the receiver was still holding a POST at the end');
    assert.equal(receiver.delivered().length, 0, 'and it had answered none');
    assert.equal(receiver.overlap, 0, 'one POST in flight per object: the room waited for the hung one');
    a.terminate(); b.terminate();
  } finally {
    await server.stop();
    await receiver.stop();
  }
});
