// What event handlers may do to the handle: close it (nothing is emitted after `closed`).
import { test, afterEach } from 'node:test';
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
