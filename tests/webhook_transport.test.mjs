// Webhook transport (issue 22, finding 5): a 3xx is an answer and a failure — the signed body
// is never re-POSTed to where it points; at most 64 KiB of an answer is read, so a receiver
// that answers megabytes neither stalls delivery nor grows the object's memory; and a set
// WEBHOOK_URL without WEBHOOK_SECRET records events but sends none, saying so once in the log.
// Outside DEV_MODE an http WEBHOOK_URL is refused the same way (the last test; the rule itself
// is unit-tested in src/webhooks/settings.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join, sleep } from './support/client.mjs';
import { isAck } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import { startLoggedServer, startReceiver, webhookVars } from './support/webhooks.mjs';

// 1 min × 0.002 = 120 ms for the first retry.
const FAST = { WEBHOOK_RETRY_SCALE: '0.002', WEBHOOK_EVENTS: 'message' };

async function publish(client, n, prefix) {
  const seqs = [];
  for (let i = 1; i <= n; i++) {
    client.send({ type: 'publish', data: `${prefix}${i}`, id: `${prefix}${i}` });
    seqs.push((await client.next(isAck(`${prefix}${i}`))).seq);
  }
  return seqs;
}

test('a 307 gets one POST and no follow-up: the attempt failed, and is retried at the webhook URL', { timeout: 60_000 }, async () => {
  let first = true;
  const receiver = await startReceiver({
    respond: (post) => {
      if (post.path !== '/hooks') return 200; // where the redirect points: must never be reached
      if (!first) return 200;
      first = false;
      return { status: 307, headers: { location: `${receiver.url.replace('/hooks', '/elsewhere')}` } };
    },
  });
  const server = await startServer({ vars: webhookVars(receiver, FAST) });
  try {
    const a = await join(server, 'moved', 'alice');
    const seqs = await publish(a, 1, 'r');
    const events = await receiver.waitFor((evs) => evs.length >= 1);
    assert.deepEqual(events.map((e) => e.seq), seqs);
    await sleep(300);
    assert.deepEqual(receiver.posts.map((p) => [p.path, p.status]), [['/hooks', 307], ['/hooks', 200]],
      'the redirect was not followed; the retry went to WEBHOOK_URL');
    assert.equal(receiver.posts[1].json.events[0].id, receiver.posts[0].json.events[0].id, 'the same event, retried');
    a.terminate();
  } finally {
    await server.stop();
    await receiver.stop();
  }
});

test('a receiver answering 10 MiB bodies neither stalls delivery nor grows the room', { timeout: 90_000 }, async () => {
  const BIG = 10 << 20;
  const receiver = await startReceiver({ respond: () => ({ status: 200, bodyBytes: BIG }) });
  const server = await startServer({ vars: webhookVars(receiver, FAST) });
  const memory = async () => (await (await fetch(`${server.url}/dev/meter`)).json()).wasm_memory_bytes;
  try {
    const a = await join(server, 'chatty', 'alice');
    const before = await memory(); // (Wasm memory never shrinks: measured before any answer)
    await publish(a, 1, 'w');
    await receiver.waitFor((evs) => evs.length >= 1);
    const started = Date.now();
    const seqs = await publish(a, 10, 'm'); // one at a time: about one POST (one big answer) each
    const events = await receiver.waitFor((evs) => evs.length >= 11, { ms: 30_000 });
    assert.deepEqual(events.slice(1).map((e) => e.seq), seqs, 'every event delivered, in order, once');
    const took = Date.now() - started;
    assert.ok(receiver.posts.length >= 3, `several big answers were met (${receiver.posts.length} POSTs)`);
    const grew = (await memory()) - before;
    assert.ok(grew < 4 << 20, `the isolate's Wasm memory grew by ${grew} bytes over ${receiver.posts.length} answers of 10 MiB (${took} ms)`);
    // (What the receiver wrote before the cut includes the sockets' buffers: a few MiB.)
    const whole = receiver.posts.filter((p) => p.bodySent >= BIG).length;
    assert.equal(whole, 0, `no answer was read to its end: ${receiver.posts.map((p) => p.bodySent)}`);
    a.terminate();
  } finally {
    await server.stop();
    await receiver.stop();
  }
});

test('WEBHOOK_URL without WEBHOOK_SECRET: events are recorded, none is sent, one error line; with the secret they all go', { timeout: 60_000 }, async () => {
  const receiver = await startReceiver();
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-nosecret-'));
  const vars = (secret) => webhookVars(receiver, { ...FAST, WEBHOOK_SECRET: secret });
  try {
    const server = await startLoggedServer({ vars: vars(null), persistDir });
    let seqs;
    try {
      const a = await join(server, 'unsigned', 'alice');
      const b = await join(server, 'unsigned-too', 'bob');
      seqs = await publish(a, 3, 'u');
      await publish(b, 2, 'v');
      await sleep(1500); // past the (scaled) watchdog and a retry's worth
      assert.equal(receiver.posts.length, 0, 'nothing is sent unsigned');
      const lines = server.logs().split('\n').filter((l) => l.includes('WEBHOOK_SECRET is empty'));
      assert.equal(lines.length, 1, `one error line, not one per event or room:\n${server.logs()}`);
      assert.match(lines[0], /"level":"error"/);
      a.terminate();
      b.terminate();
    } finally {
      await server.stop();
    }
    // The secret is set: the room's next event starts delivery, and the waiting ones go first.
    const fixed = await startServer({ vars: vars('whsec-now'), persistDir });
    try {
      const a = await join(fixed, 'unsigned', 'alice');
      const later = await publish(a, 1, 'x');
      const events = await receiver.waitFor((evs) => evs.length >= 4);
      assert.deepEqual(events.map((e) => e.seq), [...seqs, ...later], 'nothing recorded was lost');
      a.terminate();
    } finally {
      await fixed.stop();
    }
  } finally {
    await receiver.stop();
    fs.rmSync(persistDir, { recursive: true, force: true });
  }
});

test('outside DEV_MODE an http WEBHOOK_URL records but sends nothing, and says so once', { timeout: 60_000 }, async () => {
  const receiver = await startReceiver();
  const server = await startLoggedServer({ vars: webhookVars(receiver, { DEV_MODE: null, WEBHOOK_EVENTS: 'message' }) });
  try {
    const api = admin(server);
    for (const room of ['clear-1', 'clear-2']) {
      assert.equal((await api.post(`/rooms/${room}/messages`, { data: 'in clear?' })).status, 200);
    }
    await sleep(1_000);
    assert.equal(receiver.posts.length, 0, 'nothing POSTed over http');
    const lines = server.logs().split('\n').filter((l) => l.includes('WEBHOOK_URL must be https'));
    assert.equal(lines.length, 1, server.logs());
  } finally {
    await server.stop();
    await receiver.stop();
  }
});
