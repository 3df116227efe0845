// A bounded MessageStates: `new MessageStates({limit})` keeps the `limit` messages with the
// highest seqs, dropping the oldest, whatever order they arrive in (live, resume, history read
// either way); unbounded without it, as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageStates, type MessageFrame } from '../src/index.js';
import { msg } from '../test-support/fake.js';

const m = (seq: number, extra: Partial<MessageFrame> = {}) => ({ ...msg(seq), ...extra }) as MessageFrame;
const kept = (s: MessageStates) => [...s.bySeq.keys()].sort((a, b) => a - b);

test('with a limit, the oldest messages are dropped as new ones arrive', () => {
  const states = new MessageStates({ limit: 3 });
  for (let seq = 1; seq <= 5; seq++) states.message(m(seq));
  assert.deepEqual(kept(states), [3, 4, 5]);
  assert.equal(states.bySeq.size, 3);
});

test('the newest are kept whatever the order: a message older than all kept is not added once full', () => {
  const states = new MessageStates({ limit: 3 });
  for (const seq of [5, 1, 4, 3]) states.message(m(seq));
  assert.deepEqual(kept(states), [3, 4, 5]);
  // Reading history further back: the state is returned, but not kept.
  const old = states.message(m(2, { data: 'old' }));
  assert.equal(old.data, 'old');
  assert.deepEqual(kept(states), [3, 4, 5]);
});

test('a newer state of a kept message replaces it without dropping another; its events still apply', () => {
  const states = new MessageStates({ limit: 2 });
  states.message(m(1));
  states.message(m(2));
  states.message(m(1, { data: 'edited', edited: true, updated: 3 }));
  assert.deepEqual(kept(states), [1, 2]);
  assert.equal(states.bySeq.get(1)!.data, 'edited');
  const changed = states.event({ type: 'react', seq: 4, target: 2, emoji: '👍', on: true, from: { user_id: 'b' }, ts: 0 });
  assert.deepEqual(changed?.reactions, { '👍': ['b'] });
});

test('without a limit every message is kept, as before', () => {
  const states = new MessageStates();
  for (let seq = 1; seq <= 5000; seq++) states.message(m(seq));
  assert.equal(states.bySeq.size, 5000);
});

test('a limit that is not a positive integer is refused', () => {
  for (const limit of [0, -1, 1.5, Number.NaN]) assert.throws(() => new MessageStates({ limit }), RangeError, String(limit));
});
