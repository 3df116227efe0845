// What event handlers may do to the handle: close it (nothing is emitted after `closed`), and
// throw (reported — by default with `reportError`, else `console.error` — and never fatal).
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectOptions, type Events } from '../src/index.js';
import { FakeSocket, tick, msg } from '../test-support/fake.js';
import { fakeHistory, range } from '../test-support/history.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const ALL: (keyof Events)[] = ['message', 'unread', 'gap', 'state', 'closed', 'disconnect', 'members', 'welcome'];

afterEach(() => {
  mock.restoreAll();
  FakeSocket.all = [];
});

test('close() in a message handler: no event after closed (no unread for that message)', async () => {
  for (const how of ['live', 'from a gap fill'] as const) {
    const history = fakeHistory(range(1, 10));
    const room = connect(base({ since: 0, fetch: history }));
    const log: string[] = [];
    for (const k of ALL) room.on(k, () => log.push(k));
    room.on('message', () => room.close());
    await tick();
    last().accept({ seq: how === 'live' ? 0 : 10, user_id: 'me' });
    if (how === 'live') last().push(msg(1));
    else last().push({ type: 'gap', from: 1, to: 9, reason: 'replay_limit' });
    await tick(5);
    assert.deepEqual(log.slice(log.indexOf('closed')), ['closed'], `${how}: ${log.join(', ')}`);
    FakeSocket.all = [];
  }
});

test('a throwing handler is reported with reportError where it exists, else console.error; the process and the other handlers carry on', async () => {
  const errors: unknown[] = [];
  const logged = mock.method(console, 'error', () => {});
  const g = globalThis as { reportError?: (e: unknown) => void };
  for (const platform of ['without reportError', 'with reportError'] as const) {
    if (platform === 'with reportError') g.reportError = (e) => errors.push(e);
    try {
      const room = connect(base());
      const seen: number[] = [];
      room.on('message', (m) => { throw new Error(`handler ${m.seq}`); });
      room.on('message', (m) => seen.push(m.seq));
      await tick();
      last().accept({ seq: 0 });
      last().push(msg(1));
      await new Promise((r) => setTimeout(r, 5)); // where a rethrow would land
      assert.deepEqual(seen, [1]);
      room.close();
    } finally {
      delete g.reportError;
    }
  }
  assert.deepEqual(logged.mock.calls.map((c) => (c.arguments.at(-1) as Error).message), ['handler 1']);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['handler 1']);
});
