// Room export (issue 23): `GET /rooms/{room}/export` (admin) streams the room's whole retained
// log as NDJSON — one history entry per line, oldest first. How: the test builds a room bigger
// than one history page (> 200 entries, and `HISTORY_PAGE_MAX_BYTES` small so the byte budget
// cuts pages too), with edits, reactions and deletions among the messages, then checks that the
// export's lines are exactly the history pages read with `since` paging, concatenated; that
// `?since=N` continues after seq N; that only the admin token may export; and — on a room of
// ~12 MiB — that the isolate's Wasm memory (`/dev/meter`) grows by far less than the room's
// size, because the export is read from the room and sent one page at a time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { devToken, join } from './support/client.mjs';
import { acked, post } from './support/chat.mjs';
import { range } from './support/frames.mjs';

let server;
before(async () => { server = await startServer({ vars: { HISTORY_PAGE_MAX_BYTES: '4000' } }); });
after(async () => { await server?.stop(); });

/** The export of `room` (`query` appended): status, content type and the parsed lines. */
async function exportOf(srv, room, query = '', token = 'test-admin-token') {
  const res = await fetch(`${srv.url}/rooms/${room}/export${query}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await res.text();
  const lines = res.status === 200 ? text.split('\n') : [];
  if (res.status === 200) assert.equal(lines.pop(), '', 'every line ends with a newline');
  return { status: res.status, type: res.headers.get('content-type'), text, entries: lines.map((l) => JSON.parse(l)) };
}

/** Every history entry after `since`, following `next` page by page (oldest first). */
async function historyPages(srv, room, since = 0) {
  const out = [];
  let pages = 0;
  for (let cursor = since; cursor !== null; pages++) {
    assert.ok(pages < 1000, 'paging ends');
    const r = await admin(srv).get(`/rooms/${room}/messages?since=${cursor}&limit=200`);
    assert.equal(r.status, 200);
    out.push(...r.body.messages);
    cursor = r.body.next;
  }
  return { entries: out, pages };
}

test('the export is the history pages concatenated, events and current states included', { timeout: 60_000 }, async () => {
  const room = 'export-many';
  const a = await join(server, room, 'alice');
  const first = await post(a, { text: 'first\nline', n: 0 });
  const second = await post(a, { text: 'second' });
  for (let i = 1; i <= 230; i++) {
    const r = await admin(server).post(`/rooms/${room}/messages`, { data: { i, pad: 'p'.repeat(i % 7 * 40) } });
    assert.equal(r.status, 200);
  }
  // A server post sent pretty-printed: stored as sent, still one line in the export.
  const pretty = await admin(server).call('POST', `/rooms/${room}/messages`, '{"data": {\n  "pretty": true\n}\n}');
  assert.equal(pretty.status, 200);
  await acked(a, { type: 'edit', target: first, data: { text: 'edited' } });
  await acked(a, { type: 'react', target: 5, emoji: '🎉', on: true });
  await acked(a, { type: 'delete', target: second });
  assert.equal((await admin(server).call('DELETE', `/rooms/${room}/messages/10`)).status, 200);
  a.close();

  const history = await historyPages(server, room);
  assert.ok(history.pages > 3, `history takes ${history.pages} pages`);
  assert.deepEqual(history.entries.map((e) => e.seq), range(1, 237));
  const exported = await exportOf(server, room);
  assert.equal(exported.status, 200);
  assert.equal(exported.type, 'application/x-ndjson');
  assert.deepEqual(exported.entries, history.entries);
  const [m1, m2] = exported.entries;
  assert.deepEqual([m1.data, m1.edited], [{ text: 'edited' }, true], 'current state: edited');
  assert.deepEqual([m2.deleted, m2.data], [true, null], 'current state: deleted');
  assert.deepEqual(exported.entries[4].reactions, { '🎉': ['alice'] });
  assert.deepEqual(exported.entries.slice(-4).map((e) => e.type), ['edit', 'react', 'delete', 'delete']);
  assert.equal(exported.entries.find((e) => e.data?.pretty).data.pretty, true);
});

test('?since=N continues after seq N; a room with nothing after it exports nothing', { timeout: 30_000 }, async () => {
  const room = 'export-since';
  for (let i = 1; i <= 30; i++) {
    await admin(server).post(`/rooms/${room}/messages`, { data: { i, pad: 'q'.repeat(300) } });
  }
  const all = await exportOf(server, room);
  assert.deepEqual(all.entries.map((e) => e.seq), range(1, 30));
  const rest = await exportOf(server, room, '?since=17');
  assert.deepEqual(rest.entries, all.entries.slice(17));
  assert.deepEqual(rest.entries, (await historyPages(server, room, 17)).entries);
  for (const [r, q] of [[room, '?since=30'], [room, '?since=99'], ['export-never-used', '']]) {
    const none = await exportOf(server, r, q);
    assert.deepEqual([none.status, none.text], [200, ''], `${r}${q}`);
  }
});

test('only the admin token exports; bad input is a clear 400', { timeout: 30_000 }, async () => {
  const room = 'export-auth';
  await admin(server).post(`/rooms/${room}/messages`, { data: 'secret' });
  const user = await devToken(server, 'alice');
  for (const token of [null, 'wrong', user]) {
    const r = await exportOf(server, room, '', token);
    assert.equal(r.status, 401, `token ${token}`);
    assert.equal(JSON.parse(r.text).error.code, 'unauthorized');
    assert.ok(!r.text.includes('secret'));
  }
  for (const [path, code] of [[`${room}/export?since=-1`, 'bad_request'], [`${room}/export?since=x`, 'bad_request'], ['a%20b/export', 'bad_room']]) {
    const r = await admin(server).get(`/rooms/${path}`);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.error.code, code, path);
  }
  assert.equal((await admin(server).call('POST', `/rooms/${room}/export`)).status, 405);
});

test('a 12 MiB room exports in bounded memory: the Wasm memory grows by far less than the room', { timeout: 180_000 }, async () => {
  const big = await startServer();
  try {
    const room = 'export-big';
    for (let i = 1; i <= 200; i++) {
      const r = await admin(big).post(`/rooms/${room}/messages`, { data: { i, text: 'x'.repeat(63_000) } });
      assert.equal(r.status, 200);
    }
    // One page read first: the memory a page needs is there before the measure starts.
    assert.equal((await admin(big).get(`/rooms/${room}/messages?since=0&limit=200`)).status, 200);
    const memory = async () => (await admin(big).get('/dev/meter')).body.wasm_memory_bytes;
    const before = await memory();
    const exported = await exportOf(big, room);
    assert.equal(exported.entries.length, 200);
    assert.ok(exported.text.length > 12_000_000, `${exported.text.length} bytes exported`);
    const grew = (await memory()) - before;
    console.log(`wasm memory: ${before} before, grew ${grew} bytes over a ${exported.text.length}-byte export`);
    assert.ok(grew < 4 * 1024 * 1024, `memory grew ${grew} bytes`);
  } finally {
    await big.stop();
  }
});
