// Read cursors and receipts (issue 14). `{"type":"read","seq":S}` moves the user's cursor in
// the room to max(old, S) — durably — and the whole room, the user's other connections
// included, gets `{"type":"read","user_id":U,"seq":S}`; a read that does not move the cursor
// sends nothing; S beyond the room's latest seq is `bad_frame`. `welcome` carries `read_seq`
// and `unread` (messages after the cursor not sent by the user). Cursors survive hibernation
// (an evicted room) and a workerd restart (persisted storage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join } from './support/client.mjs';
import { messageWith } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import { waitForEviction } from './support/eviction.mjs';
import { isReceipt, post, refused } from './support/chat.mjs';

test('a read moves the cursor, every connection of the room hears it once per turn, the welcome tells cursor and unread', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'reads';
    const laptop = await join(server, room, 'alice');
    const phone = await join(server, room, 'alice', { query: '&batch=1' });
    const bob = await join(server, room, 'bob');
    assert.deepEqual([laptop.welcome.read_seq, laptop.welcome.unread], [0, 0]);
    for (let i = 1; i <= 4; i++) await post(bob, `m${i}`);
    await post(laptop, 'mine'); // 5: alice's own, never unread for her
    await post(bob, 'm6');
    // A new connection of alice, before she read anything: 5 of the 6 messages are unread.
    const tablet = await join(server, room, 'alice');
    assert.deepEqual([tablet.welcome.read_seq, tablet.welcome.unread], [0, 5]);
    tablet.terminate();

    laptop.send({ type: 'read', seq: 2 });
    laptop.send({ type: 'read', seq: 3 });
    for (const c of [laptop, phone, bob]) assert.deepEqual(await c.next(isReceipt('alice')), { type: 'read', user_id: 'alice', seq: 3 });
    // A read that does not move the cursor sends nothing: the marker comes first.
    const from = phone.mark();
    laptop.send({ type: 'read', seq: 1 });
    laptop.send({ type: 'read', seq: 3 });
    await post(bob, 'marker');
    const before = await phone.framesBefore(messageWith('marker'), from);
    assert.deepEqual(before.flatMap((f) => (f.type === 'batch' ? f.frames : [f])).filter((f) => f.type === 'read'), []);
    // The cursor is at 3: 4 and 6 and the marker (7) are unread; 5 is alice's.
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [3, 3]);
    // Reading on the phone clears it for the laptop.
    phone.send({ type: 'read', seq: 7 });
    assert.equal((await laptop.next(isReceipt('alice'))).seq, 7);
    const last = await join(server, room, 'alice');
    assert.deepEqual([last.welcome.read_seq, last.welcome.unread], [7, 0]);
    // bob never read: his own messages are not unread for him, alice's is.
    const bob2 = await join(server, room, 'bob');
    assert.deepEqual([bob2.welcome.read_seq, bob2.welcome.unread], [0, 1]);
    for (const c of [laptop, phone, bob, again, last, bob2]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('bad reads are refused, harm nobody and store nothing', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const room = 'bad-reads';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob');
    await post(b, 'one');
    const from = b.mark();
    for (const frame of [{ type: 'read', seq: 2 }, { type: 'read' }, { type: 'read', seq: -1 }, { type: 'read', seq: 'x' }, { type: 'read', seq: 1.5 }]) {
      const e = await refused(a, frame);
      assert.equal(e.code, 'bad_frame', JSON.stringify(frame));
    }
    await post(a, 'marker');
    assert.deepEqual(await b.framesBefore(messageWith('marker'), from), []);
    const again = await join(server, room, 'alice');
    assert.equal(again.welcome.read_seq, 0);
    for (const c of [a, b, again]) c.terminate();
  } finally {
    await server.stop();
  }
});

test('cursors survive hibernation and a workerd restart', { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-reads-'));
  let server = await startServer({ persistDir: dir });
  const port = Number(new URL(server.url).port);
  try {
    const room = 'reads-durable';
    const a = await join(server, room, 'alice');
    const b = await join(server, room, 'bob');
    for (let i = 1; i <= 3; i++) await post(b, `m${i}`);
    a.send({ type: 'read', seq: 2 });
    await b.next(isReceipt('alice', 2));
    // Evicted with both sockets open: the cursor is in storage, not in memory.
    await waitForEviction(server, room);
    a.send({ type: 'read', seq: 1 }); // does not move it (the room reads the stored cursor)
    a.send({ type: 'read', seq: 3 });
    assert.equal((await b.next(isReceipt('alice'))).seq, 3);
    await post(b, 'm4');
    a.terminate();
    b.terminate();
    await server.stop();
    server = await startServer({ persistDir: dir, port });
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread, again.welcome.seq], [3, 1, 4]);
    again.terminate();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('in an empty room a read of 0 changes nothing and a read of 1 is bad_frame', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const a = await join(server, 'reads-empty', 'alice');
    a.send({ type: 'read', seq: 0 });
    const e = await refused(a, { type: 'read', seq: 1 });
    assert.equal(e.code, 'bad_frame', 'nothing to read in an empty room');
    const history = await admin(server).get('/rooms/reads-empty/messages');
    assert.deepEqual(history.body.messages, []);
    a.terminate();
  } finally {
    await server.stop();
  }
});
