// A session's rooms share one retry schedule — rooms that fail together retry together — but
// each room counts its own retries: one room that can never connect (banned, say) does not
// slow the others down.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createSession, type Events, type Session } from '../src/index.js';
import { FakeSocket, tick } from '../test-support/fake.js';

const socketsOf = (room: string) => FakeSocket.all.filter((s) => new URL(s.url).pathname === `/rooms/${room}/ws`);
const lastOf = (room: string) => socketsOf(room).at(-1)!;

let session: Session | undefined;
afterEach(() => {
  session?.close();
  mock.timers.reset();
  FakeSocket.all = [];
});

test("a room that can never connect does not slow the session's other rooms", async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  session = createSession({ url: 'ws://h', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5, browserEvents: false, probe: false });
  const banned = session.join('banned');
  const lobby = session.join('lobby');
  const bannedRetries: Events['retry'][] = [];
  const lobbyRetries: Events['retry'][] = [];
  banned.on('retry', (r) => bannedRetries.push(r));
  lobby.on('retry', (r) => lobbyRetries.push(r));
  await tick();
  lastOf('lobby').accept({ room: 'lobby' });
  for (let i = 0; i < 6; i++) {
    lastOf('banned').drop(); // refused at the upgrade, which the client cannot tell from an outage
    mock.timers.tick(60_000);
    await tick();
  }
  lastOf('lobby').drop();
  assert.deepEqual(lobbyRetries, [{ attempt: 1, delayMs: 375, reason: 'closed' }], "the lobby's first retry, at the first delay");
  assert.deepEqual(bannedRetries.map((r) => r.attempt), [1, 2, 3, 4, 5, 6], "the banned room's own delays grow");
  mock.timers.tick(375);
  await tick();
  assert.equal(socketsOf('lobby').length, 2);
});

test('rooms that fail together at the same retry wait for one and the same retry time', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  session = createSession({ url: 'ws://h', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5, browserEvents: false, probe: false });
  const rooms = ['a', 'b'].map((r) => session!.join(r));
  const retries: string[] = [];
  rooms.forEach((room, i) => room.on('retry', (r) => retries.push(`${'ab'[i]} ${r.attempt} ${r.delayMs}`)));
  await tick();
  for (const step of [0, 1]) {
    lastOf('a').drop();
    mock.timers.tick(100);
    lastOf('b').drop();
    mock.timers.tick(60_000);
    await tick();
    assert.equal(FakeSocket.all.length, 4 + 2 * step);
  }
  // The second outage: b joins the retry a scheduled (750 ms after a's failure, so 650 after b's).
  assert.deepEqual(retries, ['a 1 375', 'b 1 275', 'a 2 750', 'b 2 650']);
});
