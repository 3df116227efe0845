// Big rooms stay cheap to join (issue 13): `welcome` lists at most WELCOME_MAX_MEMBERS members
// (ordered by user id) with the room's `member_count` and `"truncated":true`, and
// `GET /rooms/{room}/members?after=&limit=` pages through all of them — for the admin token or
// a user token that may join the room, never for one that may not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './support/server.mjs';
import { devToken, join } from './support/client.mjs';
import { admin } from './support/admin.mjs';

let server;
before(async () => { server = await startServer({ vars: { WELCOME_MAX_MEMBERS: '3' } }); });
after(async () => { await server?.stop(); });

const users = ['u5', 'u1', 'u4', 'u2', 'u6'];

test('a welcome into a big room lists the first members, the count and truncated', async () => {
  const clients = [];
  for (const u of users) clients.push(await join(server, 'big', u));
  const [small] = [await join(server, 'small', 'solo')];
  const last = clients.at(-1).welcome;
  assert.deepEqual(last.members.map((m) => m.user_id), ['u1', 'u2', 'u4'], 'the first three by user id');
  assert.equal(last.member_count, 5);
  assert.equal(last.truncated, true);
  const third = clients[2].welcome;
  assert.equal(third.member_count, 3);
  assert.equal(third.truncated, undefined, 'a list that fits is not marked');
  assert.equal(small.welcome.member_count, 1);
  for (const c of [...clients, small]) c.terminate();
});

test('GET /rooms/{room}/members pages through every member, with a user token too', async () => {
  const clients = [];
  for (const u of users) clients.push(await join(server, 'paged', u));
  const token = await devToken(server, 'reader');
  const seen = [];
  let after;
  for (let page = 0; page < 5; page++) {
    const q = new URLSearchParams({ limit: '2', token });
    if (after) q.set('after', after);
    const res = await fetch(`${server.url}/rooms/paged/members?${q}`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.member_count, 5);
    seen.push(...body.members.map((m) => m.user_id));
    after = body.next_after;
    if (!after) break;
  }
  assert.deepEqual(seen, ['u1', 'u2', 'u4', 'u5', 'u6']);
  const all = await admin(server).get('/rooms/paged/members');
  assert.equal(all.status, 200);
  assert.equal(all.body.members.length, 5);
  assert.equal(all.body.next_after, undefined);
  for (const c of clients) c.terminate();
});

test('members refuses bad limits, strangers and tokens scoped to other rooms', async () => {
  assert.equal((await admin(server).get('/rooms/paged/members?limit=0')).status, 400);
  assert.equal((await admin(server).get('/rooms/paged/members?limit=1001')).status, 400);
  assert.equal((await fetch(`${server.url}/rooms/paged/members`)).status, 401);
  const scoped = await devToken(server, 'scoped', { rooms: ['elsewhere'] });
  const res = await fetch(`${server.url}/rooms/paged/members?token=${encodeURIComponent(scoped)}`);
  assert.equal(res.status, 403);
  assert.equal((await admin(server).get('/rooms/bad%20name/members')).status, 400);
});
