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
import { messageWith, presenceOf } from './support/frames.mjs';
import { admin } from './support/admin.mjs';
import { waitForEviction } from './support/eviction.mjs';
import { isReceipt, post, refused } from './support/chat.mjs';

/** The frames of a (possibly `batch=1`) connection, batches unwrapped. */
const unbatched = (frames) => frames.flatMap((f) => (f.type === 'batch' ? f.frames : [f]));

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

    // Marked before the reads: a second receipt of the same turn would be seen behind the marker.
    const marks = [laptop, phone, bob].map((c) => c.mark());
    laptop.send({ type: 'read', seq: 2 });
    laptop.send({ type: 'read', seq: 3 });
    // The v1 connections hear it now (the phone's copy may ride in a batch: it is checked below).
    for (const c of [laptop, bob]) assert.deepEqual(await c.next(isReceipt('alice')), { type: 'read', user_id: 'alice', seq: 3 });
    // Reads that do not move the cursor send nothing. Alice's publish is acked only with or
    // after their turn; bob's marker, sent after that ack, comes after anything they sent.
    laptop.send({ type: 'read', seq: 1 });
    laptop.send({ type: 'read', seq: 3 });
    await post(laptop, 'mine too'); // 7
    await post(bob, 'marker'); // 8
    for (const [i, c] of [laptop, phone, bob].entries()) {
      const before = await c.framesBefore(messageWith('marker'), marks[i]);
      assert.deepEqual(unbatched(before).filter((f) => f.type === 'read'), [{ type: 'read', user_id: 'alice', seq: 3 }],
        `${['laptop', 'phone', 'bob'][i]}: one receipt for the turn's two reads, none for the reads that did not move the cursor`);
    }
    // The cursor is at 3: 4, 6 and the marker (8) are unread; 5 and 7 are alice's.
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread], [3, 3]);
    // Reading on the phone clears it for the laptop.
    phone.send({ type: 'read', seq: 8 });
    assert.equal((await laptop.next(isReceipt('alice'))).seq, 8);
    const last = await join(server, room, 'alice');
    assert.deepEqual([last.welcome.read_seq, last.welcome.unread], [8, 0]);
    // bob never read: his own messages are not unread for him, alice's two are.
    const bob2 = await join(server, room, 'bob');
    assert.deepEqual([bob2.welcome.read_seq, bob2.welcome.unread], [0, 2]);
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
    // A read of 1, alone in its turn, does not move it: the woken room reads the stored cursor
    // (2). Alice's publish is acked only once that turn is over; bob's marker, sent after the
    // ack, comes after anything the read could have sent.
    const from = b.mark();
    a.send({ type: 'read', seq: 1 });
    await post(a, 'm4');
    await post(b, 'marker');
    const before = await b.framesBefore(messageWith('marker'), from);
    assert.deepEqual(before.filter((f) => f.type === 'read'), [], 'a read below the stored cursor sends no receipt');
    a.send({ type: 'read', seq: 3 });
    assert.deepEqual(await b.next(isReceipt('alice')), { type: 'read', user_id: 'alice', seq: 3 });
    await post(b, 'm6');
    a.terminate();
    b.terminate();
    await server.stop();
    server = await startServer({ persistDir: dir, port });
    // Cursor 3; unread: bob's marker (5) and m6 (6), not alice's own m4.
    const again = await join(server, room, 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread, again.welcome.seq], [3, 2, 6]);
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
    const from = a.mark();
    a.send({ type: 'read', seq: 0 });
    const e = await refused(a, { type: 'read', seq: 1 });
    assert.equal(e.code, 'bad_frame', 'nothing to read in an empty room');
    // Bob's join comes in a later turn than both reads: a receipt of theirs would be ahead of
    // his presence. Alice got the refusal only: no receipt for the read of 0.
    const b = await join(server, 'reads-empty', 'bob');
    const before = await a.framesBefore(presenceOf('join', 'bob'), from);
    assert.deepEqual(before, [e], 'the refusal of the read of 1, and no receipt');
    // The cursor did not move and nothing was stored: a new connection of alice's starts at 0.
    const again = await join(server, 'reads-empty', 'alice');
    assert.deepEqual([again.welcome.read_seq, again.welcome.unread, again.welcome.seq], [0, 0, 0]);
    const history = await admin(server).get('/rooms/reads-empty/messages');
    assert.deepEqual(history.body.messages, []);
    for (const c of [a, b, again]) c.terminate();
  } finally {
    await server.stop();
  }
});
