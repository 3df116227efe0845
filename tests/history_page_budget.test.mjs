// A history page has a byte budget (issue 22): `HISTORY_PAGE_MAX_BYTES` (default 1 MiB). With
// messages up to 64 KiB, 200 of them made one 12.5 MiB body, built whole in the room's Wasm
// memory, 600 times a minute per address. Now a page stops when its messages would pass the
// budget and its `next` cursor continues from there: a 12 MiB history reads in bounded pages,
// every message exactly once, newest first (`before`) and oldest first (`since`). A message
// larger than the whole budget still makes a page of its own, so paging never stalls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { range } from './support/frames.mjs';

const DEFAULT_BUDGET = 1 << 20;
let server, small;
before(async () => {
  [server, small] = await Promise.all([
    startServer(),
    startServer({ vars: { HISTORY_PAGE_MAX_BYTES: '20000' } }),
  ]);
});
after(async () => { await Promise.all([server?.stop(), small?.stop()]); });

/** Posts `n` messages of about `bytes` each into `room` (server posts, in order). */
async function fill(srv, room, n, bytes) {
  for (let i = 1; i <= n; i++) {
    const r = await admin(srv).post(`/rooms/${room}/messages`, { data: { i, text: 'x'.repeat(bytes) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

/** Every page of `room`'s history in one direction: [{bytes, seqs}], following `next`. */
async function pages(srv, room, direction) {
  const out = [];
  let cursor = direction === 'since' ? 0 : undefined;
  for (let i = 0; i < 1000; i++) {
    const q = new URLSearchParams({ limit: '200' });
    if (cursor !== undefined) q.set(direction, String(cursor));
    const r = await admin(srv).get(`/rooms/${room}/messages?${q}`);
    assert.equal(r.status, 200);
    out.push({ bytes: Buffer.byteLength(r.text), seqs: r.body.messages.map((m) => m.seq) });
    if (r.body.next === null) return out;
    cursor = r.body.next;
  }
  throw new Error('paging never ended');
}

test('a 12 MiB history is read in pages of at most 1 MiB, each message once, both ways', { timeout: 180_000 }, async () => {
  const room = 'big-history';
  await fill(server, room, 200, 63_000);
  for (const direction of ['before', 'since']) {
    const read = await pages(server, room, direction);
    const seqs = read.flatMap((p) => p.seqs);
    assert.deepEqual(seqs, direction === 'since' ? range(1, 200) : range(1, 200).reverse(), direction);
    assert.ok(read.length >= 12, `${direction}: ${read.length} pages for 12 MiB`);
    const biggest = Math.max(...read.map((p) => p.bytes));
    assert.ok(biggest <= DEFAULT_BUDGET + 64, `${direction}: a page of ${biggest} bytes`);
  }
});

test('HISTORY_PAGE_MAX_BYTES is the budget; a message larger than it is a page of its own', { timeout: 60_000 }, async () => {
  const room = 'budgeted';
  await fill(small, room, 3, 5_000); // seqs 1-3, ~5 KiB each
  await fill(small, room, 1, 50_000); // seq 4, larger than the whole budget
  await fill(small, room, 5, 5_000); // seqs 5-9
  const read = await pages(small, room, 'since');
  assert.deepEqual(read.map((p) => p.seqs), [[1, 2, 3], [4], [5, 6, 7], [8, 9]]);
  for (const p of read.filter((x) => x.seqs.length > 1)) assert.ok(p.bytes <= 20_000 + 64, `${p.bytes} bytes`);
  // `limit` still applies under the budget.
  const r = await admin(small).get(`/rooms/${room}/messages?since=4&limit=2`);
  assert.deepEqual([r.body.messages.map((m) => m.seq), r.body.next], [[5, 6], 6]);
});
