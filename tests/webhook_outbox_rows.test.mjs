// A turn's webhook events are one outbox row (issue 24), and every contract still counts
// events, not rows. Each test records events while the receiver refuses them, stops the
// server, and regroups everything waiting into ONE row on disk (Python's sqlite3; the texts
// as recorded, exactly what a turn of that many events writes), then restarts on it:
// - a POST may start and end inside the row: every POST holds ≤ 100 events and ≤ 256 KiB and
//   as many as fit, the events arrive in order, each once;
// - a deletion and a user's erasure rewrite the shared row: exactly their events change, the
//   others' stay byte for byte (read from disk);
// - the backlog cap counts events across rows: past WEBHOOK_MAX_BACKLOG_EVENTS the oldest
//   events — part of the row — move to the dead letters, down to nine tenths, no more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './support/server.mjs';
import { join, until } from './support/client.mjs';
import { admin } from './support/admin.mjs';
import { isAck } from './support/frames.mjs';
import { listDatabases, rewriteDatabases } from './support/databases.mjs';
import { startReceiver, webhookVars } from './support/webhooks.mjs';

/** An outbox as one row (its events in order); the retry state reset, so that the restarted
 * server tries at once (`rewriteDatabases`). Returns `[rows, events]` of the outbox it found. */
const TO_ONE_ROW = `
def rewrite(db):
    rows = db.execute('SELECT pos, n, at, data_lo, data_hi, events FROM webhook_outbox WHERE skip = 0 ORDER BY pos').fetchall()
    lows = [r[3] for r in rows if r[3] is not None]
    highs = [r[4] for r in rows if r[4] is not None]
    db.execute('DELETE FROM webhook_outbox')
    db.execute('INSERT INTO webhook_outbox(pos, n, skip, at, data_lo, data_hi, events) VALUES (?, ?, 0, ?, ?, ?, ?)',
               (rows[0][0], sum(r[1] for r in rows), min(r[2] for r in rows), min(lows, default=None), max(highs, default=None), ','.join(r[5] for r in rows)))
    db.execute("DELETE FROM webhook_state WHERE key IN ('attempts', 'retry_at')")
    return [len(rows), sum(r[1] for r in rows)]
`;

const BUDGET = 256 * 1024;

let published = 0;

/** Publishes each of `datas` from `client`, all at once (ids unique in the file: a repeated id
 * would be a client's retry, acked without a new message), and returns their seqs. */
async function burst(client, datas) {
  const ids = datas.map(() => `p${published++}`);
  for (const [i, data] of datas.entries()) client.send({ type: 'publish', data, id: ids[i] });
  const seqs = [];
  for (const id of ids) seqs.push((await client.next(isAck(id), 20_000)).seq);
  return seqs;
}

/** Records events with the receiver refusing, then regroups the outbox into one row and
 * restarts. `record(server)` publishes; `then(server, receiver, state)` runs on the restart
 * (`state.stop()` stops that server early, to read its disk). */
async function oneRow({ vars = {}, record, then }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-outbox-rows-'));
  const state = { healthy: false };
  const receiver = await startReceiver({ respond: () => (state.healthy ? 200 : 503) });
  const all = webhookVars(receiver, { WEBHOOK_EVENTS: 'message', ...vars });
  let server = await startServer({ persistDir: dir, vars: all });
  const port = Number(new URL(server.url).port);
  try {
    state.recorded = await record(server);
    await server.stop();
    const [[rows, events]] = rewriteDatabases(dir, 'webhook_outbox', TO_ONE_ROW);
    assert.ok(events >= state.recorded.length, `${events} events in ${rows} rows`);
    state.dir = dir;
    server = await startServer({ persistDir: dir, port, vars: all });
    let running = true;
    state.stop = async () => { running = false; await server.stop(); };
    await then(server, receiver, state);
    if (running) await state.stop();
  } finally {
    await server.stop().catch(() => {});
    await receiver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The outbox rows of `room` on disk: {n, skip, events: [texts]}. */
function rowsOnDisk(dir, room) {
  const rooms = listDatabases(dir)['-ChatRoom'] ?? {};
  const db = Object.values(rooms).find((t) => t.webhook_outbox?.some((r) => r.at(-1).includes(`"room":"${room}"`)));
  // Columns: pos, n, skip, at, data_lo, data_hi, events.
  return (db?.webhook_outbox ?? []).map((r) => ({ n: r[1], skip: r[2], events: JSON.parse(`[${r[6]}]`), text: r[6] }));
}

test('a row\'s events split over POSTs: each ≤ 100 events and ≤ 256 KiB, as many as fit, in order, each once', { timeout: 90_000 }, () => oneRow({
  vars: { RATE_LIMIT_BURST: '1000', RATE_LIMIT_PER_SECOND: '1000' },
  record: async (server) => {
    const a = await join(server, 'rows-split', 'alice');
    // 110 small events (the count bound cuts the row), then 20 of ~20 KiB (the bytes bound).
    const datas = [...Array.from({ length: 110 }, (_, i) => `s${i}`), ...Array.from({ length: 20 }, (_, i) => `B${i}`.padEnd(20_000, '.'))];
    const seqs = await burst(a, datas);
    a.terminate();
    return seqs;
  },
  then: async (server, receiver, state) => {
    state.healthy = true;
    const a = await join(server, 'rows-split', 'alice');
    const [kick] = await burst(a, ['kick']);
    const want = [...state.recorded, kick];
    const got = await receiver.waitFor((evs) => evs.filter((e) => e.type === 'message').length >= want.length, { ms: 30_000 });
    assert.deepEqual(got.filter((e) => e.type === 'message').map((e) => e.seq), want, 'in order, each once');
    assert.equal(new Set(got.map((e) => e.id)).size, got.length, 'no event twice');
    const sizes = [];
    const ok = receiver.posts.filter((p) => p.status === 200);
    for (const [i, p] of ok.entries()) {
      const n = p.json.events.length;
      sizes.push(n);
      assert.ok(n <= 100 && Buffer.byteLength(p.body) <= BUDGET, `POST ${i}: ${n} events, ${Buffer.byteLength(p.body)} bytes`);
      const next = ok[i + 1]?.json.events[0];
      if (next && n < 100) {
        // It took as many as fit: the next event would have passed the bytes bound.
        const more = Buffer.byteLength(p.body) + 1 + Buffer.byteLength(JSON.stringify(next));
        assert.ok(more > BUDGET, `POST ${i} (${n} events) had room for the next`);
      }
    }
    assert.equal(sizes[0], 100, 'the first POST ends inside the row, by count');
    assert.ok(sizes.length >= 3, `POSTs of ${sizes}: the bytes bound cut the row again`);
  },
}));

test('a deletion and a user\'s erasure rewrite a shared row: exactly their events change', { timeout: 90_000 }, () => oneRow({
  record: async (server) => {
    const a = await join(server, 'rows-erase', 'alice');
    const b = await join(server, 'rows-erase', 'bob-erased');
    const seqs = [];
    for (const [who, c] of [['a', a], ['b', b], ['a', a], ['b', b], ['a', a]]) seqs.push(...(await burst(c, [`${who}-${seqs.length}`])));
    a.terminate();
    b.terminate();
    return seqs;
  },
  then: async (server, receiver, state) => {
    const [before] = rowsOnDisk(state.dir, 'rows-erase');
    const api = admin(server);
    const deleted = state.recorded[2]; // alice's second
    assert.equal((await api.call('DELETE', `/rooms/rows-erase/messages/${deleted}`)).status, 200);
    const started = await api.post('/users/bob-erased/erase');
    assert.equal(started.status, 202, started.text);
    await until(async () => (await api.get(`/users/bob-erased/erase/${started.body.erase_id}`)).body.state === 'done', { ms: 30_000, what: 'the erasure' });
    await state.stop();
    const [after] = rowsOnDisk(state.dir, 'rows-erase');
    assert.equal(after.n, before.n, 'still one row of the same events');
    assert.equal(after.events.length, before.events.length);
    for (const [i, e] of after.events.entries()) {
      const was = before.events[i];
      assert.equal(e.id, was.id, 'same ids, same order');
      if (was.from?.user_id === 'bob-erased') {
        assert.deepEqual([e.from, e.data, e.deleted], [{ erased: true }, null, true], `bob's ${was.seq}`);
      } else if (was.seq === deleted) {
        assert.deepEqual([e.from, e.data, e.deleted], [was.from, null, true], 'the deleted message');
      } else {
        assert.equal(JSON.stringify(e), JSON.stringify(was), `alice's ${was.seq} unchanged`);
        assert.ok(after.text.includes(JSON.stringify(was)), 'byte for byte');
      }
    }
  },
}));

test('the backlog cap counts events across rows and moves part of a row to the dead letters', { timeout: 90_000 }, () => oneRow({
  // A retry 0.6 s after the first failure (then 1.2 s, …): the receiver is back by then.
  vars: { WEBHOOK_MAX_BACKLOG_EVENTS: '30', WEBHOOK_RETRY_SCALE: '0.01' },
  record: async (server) => {
    const a = await join(server, 'rows-cap', 'alice');
    const seqs = await burst(a, Array.from({ length: 25 }, (_, i) => `c${i}`));
    a.terminate();
    return seqs;
  },
  then: async (server, receiver, state) => {
    const a = await join(server, 'rows-cap', 'alice');
    // 25 in one row + 6 more, each its own row: 31 events in 7 rows, over 30.
    const more = [];
    for (let i = 0; i < 6; i++) more.push(...(await burst(a, [`m${i}`])));
    const api = admin(server);
    const dead = (await api.get('/rooms/rows-cap/webhooks/dead?limit=100')).body;
    const moved = dead.batches.filter((d) => d.reason === 'backlog').flatMap((d) => d.events.map((e) => e.seq));
    // Down to nine tenths of 30: the oldest 4 move — out of the one row, which keeps 21.
    assert.deepEqual(moved, state.recorded.slice(0, 4), 'the oldest events, exactly as many as over 27');
    state.healthy = true;
    const [kick] = await burst(a, ['kick']);
    const got = await receiver.waitFor((evs) => evs.some((e) => e.seq === kick), { ms: 30_000 });
    assert.deepEqual(got.map((e) => e.seq), [...state.recorded.slice(4), ...more, kick], 'the rest, in order');
  },
}));
