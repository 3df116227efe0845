// Paging through a room's members over HTTP (`GET /rooms/{room}/members?after=&limit=`), which
// is how a client completes a welcome that lists only the first WELCOME_MAX_MEMBERS users:
// `room.memberPages()` follows `next_after` page by page, `room.allMembers()` gathers them all;
// with the user's token in the Authorization header (a fresh one after a 401). `fetchMembers`
// reads one page without a handle.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, fetchMembers, ChatError, type ConnectOptions, type MemberPage, type Room } from '../src/index.js';
import { FakeSocket, tick } from '../test-support/fake.js';
import { open, closeOpened, last } from '../test-support/rooms.js';
import { fakeMembers } from '../test-support/members.js';

const base = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  url: 'ws://h', room: 'r', token: 't', WebSocket: FakeSocket, heartbeat: { intervalMs: 0 }, random: () => 0.5,
  browserEvents: false, probe: false, ...extra,
});

afterEach(() => {
  closeOpened();
  FakeSocket.all = [];
});

const ids = (page: MemberPage) => page.members.map((m) => m.user_id);
const query = (url: string) => new URL(url).search;

test('memberPages follows next_after page by page, with the token in the Authorization header', async () => {
  const members = fakeMembers(['e', 'a', 'c', 'b', 'd']);
  const room = open(base({ fetch: members }));
  const pages: MemberPage[] = [];
  for await (const page of room.memberPages({ limit: 2 })) pages.push(page);
  assert.deepEqual(pages.map(ids), [['a', 'b'], ['c', 'd'], ['e']]);
  assert.deepEqual(pages.map((p) => [p.memberCount, p.next]), [[5, 'b'], [5, 'd'], [5, null]]);
  assert.deepEqual(members.calls.map((c) => query(c.url)), ['?limit=2', '?after=b&limit=2', '?after=d&limit=2']);
  assert.ok(members.calls.every((c) => c.authorization === 'Bearer t' && !c.url.includes('token')));
  assert.match(members.calls[0].url, /^http:\/\/h\/rooms\/r\/members\?/);
});

test('memberPages({after}) starts after that user; breaking out reads no further page', async () => {
  const members = fakeMembers(['a', 'b', 'c', 'd']);
  const room = open(base({ fetch: members }));
  for await (const page of room.memberPages({ after: 'a', limit: 1 })) {
    assert.deepEqual(ids(page), ['b']);
    break;
  }
  assert.deepEqual(members.calls.map((c) => query(c.url)), ['?after=a&limit=1']);
});

test('allMembers completes a truncated welcome: every user, in the fewest requests; room.members stays as it was', async () => {
  const users = Array.from({ length: 2500 }, (_, i) => `u${String(i).padStart(4, '0')}`);
  const members = fakeMembers(users);
  const room = open(base({ fetch: members }));
  await tick();
  last().accept({ members: [{ user_id: 'u0000', connections: 1 }], member_count: 2500, truncated: true });
  const all = await room.allMembers();
  assert.equal(all.length, 2500);
  assert.deepEqual(all.map((m) => m.user_id), users);
  assert.ok(Object.isFrozen(all) && Object.isFrozen(all[0]));
  assert.deepEqual(members.calls.map((c) => query(c.url)), ['?limit=1000', '?after=u0999&limit=1000', '?after=u1999&limit=1000']);
  assert.deepEqual(room.members.map((m) => m.user_id), ['u0000']);
});

test('a 401 asks getToken for a fresh token once; other refusals reject with the server code and status', async () => {
  const members = fakeMembers(['a']);
  let tokens = 0;
  const room = open(base({ token: undefined, getToken: () => `t${++tokens}`, fetch: members }));
  await tick();
  members.fail(401);
  assert.deepEqual((await room.allMembers()).map((m) => m.user_id), ['a']);
  assert.deepEqual(members.calls.map((c) => c.authorization), ['Bearer t1', 'Bearer t2']);
  members.fail(403);
  await assert.rejects(room.allMembers(), (e: unknown) => e instanceof ChatError && e.code === 'banned' && e.status === 403);
  members.fail('network');
  await assert.rejects(room.allMembers(), (e: unknown) => e instanceof ChatError && e.code === 'network_error');
});

test('a next_after that does not move on rejects with bad_response instead of reading the same page forever', async () => {
  const members = fakeMembers(['a', 'b', 'c']);
  members.brokenCursor(() => 'a');
  const room = open(base({ fetch: members }));
  await assert.rejects(room.allMembers(), (e: unknown) => e instanceof ChatError && e.code === 'bad_response');
  assert.equal(members.calls.length, 2);
});

test('fetchMembers reads one page without a handle; the room and the cursor are percent-encoded', async () => {
  const members = fakeMembers(['a b', 'b/é', 'c']);
  const page = await fetchMembers({ url: 'wss://chat.example/', room: 'a b', token: 'tok', after: 'a b', limit: 1, fetch: members });
  assert.deepEqual(page, { members: [{ user_id: 'b/é', connections: 1 }], memberCount: 3, next: 'b/é' });
  assert.equal(members.calls[0].url, 'https://chat.example/rooms/a%20b/members?after=a+b&limit=1');
  assert.equal(members.calls[0].authorization, 'Bearer tok');
  const rest = await fetchMembers({ url: 'http://h', room: 'r', token: 'tok', after: page.next!, fetch: members });
  assert.deepEqual(rest, { members: [{ user_id: 'c', connections: 1 }], memberCount: 3, next: null });
  assert.equal(members.calls[1].url, 'http://h/rooms/r/members?after=b%2F%C3%A9');
});
