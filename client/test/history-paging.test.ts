// Paging through a room's history: `for await (const page of room.historyPages({before}))` reads
// newest first, `{since}` oldest first, each page from the previous one's `next` until there is
// none — with the room's token (a fresh one after a 401), stopping when the loop breaks, failing
// with the read's ChatError, and never looping on a cursor that does not move.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ChatError, type ConnectOptions, type HistoryPage, type Room } from '../src/index.js';
import { FakeSocket, tick } from '../test-support/fake.js';
import { fakeHistory, range } from '../test-support/history.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});

const opened: Room[] = [];
function open(opts: ConnectOptions): Room {
  const room = connect(opts);
  opened.push(room);
  return room;
}

afterEach(() => {
  for (const room of opened.splice(0)) room.close();
  FakeSocket.all = [];
});

/** The seqs of every page, page by page. */
async function collect(pages: AsyncIterable<HistoryPage>): Promise<number[][]> {
  const out: number[][] = [];
  for await (const page of pages) out.push(page.messages.map((m) => m.seq));
  return out;
}
const query = (url: string) => new URL(url).search;

test('historyPages({before}) reads newest first, following next until null', async () => {
  const history = fakeHistory(range(1, 30));
  const room = open(base({ fetch: history }));
  assert.deepEqual(await collect(room.historyPages({ before: 26, limit: 10 })), [range(16, 25).reverse(), range(6, 15).reverse(), range(1, 5).reverse()]);
  assert.deepEqual(history.calls.map((c) => query(c.url)), ['?before=26&limit=10', '?before=16&limit=10', '?before=6&limit=10']);
  assert.ok(history.calls.every((c) => c.authorization === 'Bearer t' && !c.url.includes('token')));
});

test('historyPages() with no cursor starts from the newest', async () => {
  const history = fakeHistory(range(1, 7));
  const room = open(base({ fetch: history }));
  assert.deepEqual(await collect(room.historyPages({ limit: 4 })), [[7, 6, 5, 4], [3, 2, 1]]);
  assert.deepEqual(history.calls.map((c) => query(c.url)), ['?limit=4', '?before=4&limit=4']);
});

test('historyPages({since}) reads oldest first, following next until null', async () => {
  const history = fakeHistory(range(1, 30));
  const room = open(base({ fetch: history }));
  assert.deepEqual(await collect(room.historyPages({ since: 0, limit: 10 })), [range(1, 10), range(11, 20), range(21, 30)]);
  assert.deepEqual(history.calls.map((c) => query(c.url)), ['?since=0&limit=10', '?since=10&limit=10', '?since=20&limit=10']);
});

test('breaking out of the loop reads no further page', async () => {
  const history = fakeHistory(range(1, 30));
  const room = open(base({ fetch: history }));
  for await (const page of room.historyPages({ limit: 10 })) {
    assert.equal(page.messages[0].seq, 30);
    break;
  }
  assert.equal(history.calls.length, 1);
});

test('an empty history yields no page', async () => {
  const room = open(base({ fetch: fakeHistory([]) }));
  assert.deepEqual(await collect(room.historyPages()), []);
});

test('a failed read ends the loop with its ChatError, after the pages before it; a 401 first asks getToken again', async () => {
  const history = fakeHistory(range(1, 30));
  let tokens = 0;
  const room = open(base({ token: undefined, getToken: () => `t${++tokens}`, fetch: history }));
  await tick();
  history.fail(null, 401, 503);
  const got: number[][] = [];
  await assert.rejects(
    (async () => {
      for await (const page of room.historyPages({ since: 0, limit: 10 })) got.push(page.messages.map((m) => m.seq));
    })(),
    (e: unknown) => e instanceof ChatError && e.code === 'internal' && e.status === 503,
  );
  assert.deepEqual(got, [range(1, 10)]);
  assert.deepEqual(history.calls.map((c) => [query(c.url), c.authorization]), [
    ['?since=0&limit=10', 'Bearer t1'],
    ['?since=10&limit=10', 'Bearer t1'], // 401: a fresh token, once
    ['?since=10&limit=10', 'Bearer t2'], // 503
  ]);
});

test('a next that does not move on ends the loop with bad_response instead of reading the same page forever', async () => {
  const fetch = async () => ({ ok: true, status: 200, json: async () => ({ messages: [{ type: 'message', seq: 5 }], next: 5 }) });
  const room = open(base({ fetch }));
  const got: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const page of room.historyPages({ before: 5 })) got.push(page.messages.length);
    })(),
    (e: unknown) => e instanceof ChatError && e.code === 'bad_response',
  );
  assert.deepEqual(got, [1]);
});

test("historyPages' signal aborts the read in flight", async () => {
  const history = fakeHistory(range(1, 30));
  history.hold();
  const room = open(base({ fetch: history }));
  const controller = new AbortController();
  const loop = collect(room.historyPages({ since: 0, signal: controller.signal }));
  await tick();
  controller.abort();
  history.release();
  await assert.rejects(loop, (e: unknown) => e instanceof ChatError && e.code === 'aborted');
});
