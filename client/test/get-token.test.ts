// getToken failures: each attempt asks again, whether getToken threw at once or rejected later.
import { test, mock, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../src/index.js';
import { FakeSocket, tick, fakeFetch } from '../test-support/fake.js';

afterEach(() => {
  mock.timers.reset();
  FakeSocket.all = [];
});

for (const how of ['throws at once', 'rejects'] as const) {
  test(`a getToken that ${how} is asked again on the next attempt`, async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let calls = 0;
    const getToken = () => {
      if (++calls > 2) return 'tok';
      if (how === 'throws at once') throw new Error('not yet');
      return Promise.reject(new Error('not yet'));
    };
    const room = connect({
      url: 'ws://h', room: 'r', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
      fetch: fakeFetch(), browserEvents: false, getToken,
    });
    const retries: string[] = [];
    room.on('retry', (r) => retries.push(r.reason));
    for (let i = 0; i < 2; i++) {
      await tick();
      mock.timers.tick(60_000); // the retry's delay
    }
    await tick();
    assert.equal(calls, 3);
    assert.deepEqual(retries, ['token_error', 'token_error']);
    assert.equal(FakeSocket.all.length, 1);
    FakeSocket.all[0].accept({ seq: 0 });
    assert.equal(room.state, 'open');
    room.close();
  });
}
