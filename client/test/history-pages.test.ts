// A history page holds the room's log as it is: messages in their current state and the events
// on them (edit, delete, react), typed as such so that an application can tell them apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchHistory, MessageStates, type HistoryPage, type LogFrame } from '../src/index.js';
import { fakeFetch, msg } from '../test-support/fake.js';

const from = { user_id: 'bob' };
const log = [
  { ...msg(1), from, data: 'new', edited: true, reactions: { '👍': ['ann'] }, updated: 3 },
  { type: 'edit', seq: 2, target: 1, from, data: 'new', ts: 0 },
  { type: 'react', seq: 3, target: 1, emoji: '👍', on: true, from: { user_id: 'ann' }, ts: 0 },
  { type: 'delete', seq: 4, target: 9, from, ts: 0 },
];

test('history pages are typed as what they hold: messages and edit, delete and react events', async () => {
  const page: HistoryPage = await fetchHistory({ url: 'http://h', room: 'r', token: 't', since: 0, fetch: fakeFetch(200, '', { messages: log, next: null }) });
  const described = page.messages.map((f) => {
    switch (f.type) {
      case 'message':
        return `message ${f.seq}: ${String(f.data)}`;
      case 'edit':
        return `edit ${f.seq} of ${f.target}`;
      case 'react':
        return `react ${f.seq} ${f.emoji} on ${f.target}`;
      case 'delete':
        return `delete ${f.seq} of ${f.target}`;
    }
  });
  assert.deepEqual(described, ['message 1: new', 'edit 2 of 1', 'react 3 👍 on 1', 'delete 4 of 9']);
  // What MessageStates rebuilds from such a page.
  const states = new MessageStates();
  const frames: LogFrame[] = page.messages;
  for (const f of frames) {
    if (f.type === 'message') states.message(f);
    else states.event(f);
  }
  assert.deepEqual(states.bySeq.get(1)?.reactions, { '👍': ['ann'] });
});
