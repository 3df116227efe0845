// Webhook events are durable (issue 15): each is written to the room's outbox in the same
// commit as the message it describes, so a workerd killed (SIGKILL, no goodbye) after the acks
// and before the receiver answered loses nothing: restarted on the same persistence directory,
// with no client and no request to help, the room's alarm wakes it and every acked message's
// event arrives — in seq order, each at least once (a POST that was in flight at the kill may
// come again, with the same ids: the receiver deduplicates). Turning webhooks off (a restart
// without WEBHOOK_URL) keeps the events that wait: once WEBHOOK_URL is set again, they go out
// with the room's next event — and nothing that happened while it was off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { startServer, workerOptions, killable } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { isAck, publishAndAck } from './support/frames.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

async function start(vars, persistDir) {
  const mf = new Miniflare(workerOptions({ vars, persistDir }));
  const url = (await mf.ready).toString().replace(/\/$/, '');
  return { mf, url, wsUrl: url.replace(/^http/, 'ws') };
}

test('a workerd killed after the acks and before delivery delivers every event after a restart', { timeout: 120_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-webhook-kill-'));
  // Hangs until the kill: the events are committed and acked, none is answered.
  let hang = true;
  const receiver = await startReceiver({ respond: () => (hang ? 'hang' : 200) });
  // The watchdog (5 min × 0.005 = 1.5 s) is the alarm that resumes delivery after the restart.
  const vars = webhookVars(receiver, { WEBHOOK_EVENTS: 'message', WEBHOOK_RETRY_SCALE: '0.005' });
  const ROOM = 'killed';
  const acked = [];
  const first = await killable(() => start(vars, persistDir));
  try {
    const a = await join(first, ROOM, 'alice');
    for (let i = 1; i <= 20; i++) a.send({ type: 'publish', data: i, id: `k${i}` });
    for (let i = 1; i <= 20; i++) acked.push((await a.next(isAck(`k${i}`))).seq);
    await until(() => receiver.hanging > 0, { what: 'a POST reached the receiver and hangs' });
    assert.equal(receiver.delivered().length, 0, 'nothing was answered before the kill');
    await first.killHard();
    a.terminate();
  } finally {
    await first.mf.dispose().catch(() => {});
  }
  hang = false;
  const offeredBefore = receiver.posts.flatMap((p) => p.json.events.map((e) => e.id));
  const second = await start(vars, persistDir);
  try {
    // No client, no request: only the room's stored alarm can bring its outbox back.
    const events = await receiver.waitFor((evs) => new Set(evs.map((e) => e.seq)).size >= acked.length, { ms: 30_000 });
    const unique = [...new Map(events.map((e) => [e.id, e])).values()];
    assert.deepEqual(unique.map((e) => e.seq), acked, 'every acked message, in seq order, after deduplication by id');
    assert.deepEqual(unique.map((e) => e.data), acked.map((_, i) => i + 1));
    for (const id of offeredBefore) assert.ok(unique.some((e) => e.id === id), 'an event offered before the kill comes again with its id');
  } finally {
    await second.mf.dispose();
    await receiver.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('events waiting when WEBHOOK_URL is removed are delivered once it is set again', { timeout: 90_000 }, async () => {
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-webhook-off-on-'));
  // Refuses until the last server: the events recorded while webhooks are on wait.
  let healthy = false;
  const receiver = await startReceiver({ respond: () => (healthy ? 200 : 503) });
  const on = webhookVars(receiver, { WEBHOOK_EVENTS: 'message', WEBHOOK_RETRY_SCALE: '0.002' });
  const ROOM = 'switched';
  /** A server on `persistDir` with `vars`; `fn(server)`; stopped however it ends. */
  const phase = async (vars, fn) => {
    const server = await startServer({ persistDir, vars });
    try { return await fn(server); } finally { await server.stop(); }
  };
  try {
    // On, with a receiver that refuses: two events wait in the room's outbox.
    const waiting = await phase(on, async (server) => {
      const a = await join(server, ROOM, 'alice');
      const seqs = [await publishAndAck(a, 'on-1'), await publishAndAck(a, 'on-2')];
      await until(() => receiver.posts.some((p) => p.json.events.length === 2), { what: 'a refused POST of both events' });
      a.terminate();
      return seqs;
    });
    // Off (everything but the URL): a message is stored, no event recorded.
    const { WEBHOOK_URL, ...off } = on;
    assert.ok(WEBHOOK_URL);
    const quiet = await phase(off, async (server) => {
      const a = await join(server, ROOM, 'alice');
      const seq = await publishAndAck(a, 'off-1');
      a.terminate();
      return seq;
    });
    assert.equal(quiet, waiting[1] + 1, 'the room went on while webhooks were off');
    // On again, the receiver healthy: the room's next event brings the waiting ones out, in
    // front of it; the message of the off time has no event.
    healthy = true;
    await phase(on, async (server) => {
      const a = await join(server, ROOM, 'alice');
      const last = await publishAndAck(a, 'on-3');
      const events = await receiver.waitFor((evs) => evs.some((e) => e.seq === last), { what: 'the next event after webhooks came back' });
      assert.deepEqual(events.map((e) => [e.seq, e.data]), [[waiting[0], 'on-1'], [waiting[1], 'on-2'], [last, 'on-3']]);
      a.terminate();
    });
  } finally {
    await receiver.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});
