// The package's public surface: `@edge-chat/client` exports the documented API (what 1.0's
// semver promise covers, see CHANGELOG.md); the building blocks the client is made of are
// exported from `@edge-chat/client/internal` (src/internal.ts) only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as pub from '../src/index.js';
import * as internal from '../src/internal.js';

/** Every runtime export of the public entry (types are checked by tests/client_package.test.mjs). */
const PUBLIC = ['ChatError', 'MessageStates', 'Room', 'RoomView', 'Session', 'connect', 'createSession', 'fetchHistory', 'fetchMembers', 'tokenExpiry', 'utf8Length'];
const INTERNAL = [
  'Backoff', 'Emitter', 'HeartbeatSchedule', 'OutboundQueue', 'ReadState', 'ResumeTracker', 'SharedBackoff', 'TypingThrottle', 'backoffDelay',
];

test('the public entry exports exactly the documented API, no building block', () => {
  assert.deepEqual(Object.keys(pub).sort(), PUBLIC);
});

test('every public export has a row in the README\'s table of exports', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const name of PUBLIC) assert.match(readme, new RegExp(`^\\| \`${name}[\`(]`, 'm'), `README: a row for ${name}`);
});

test('the building blocks are exported from the internal entry', () => {
  assert.deepEqual(Object.keys(internal).sort(), INTERNAL);
  for (const name of INTERNAL) assert.equal(typeof (internal as Record<string, unknown>)[name], 'function', name);
});
