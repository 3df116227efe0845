// The demo page in real headless Chromium (Debian's, driven by playwright-core): two pages
// chat and see each other's presence; the local server is killed and restarted (same port,
// same persisted state) and both pages reconnect and show every message sent meanwhile, none
// twice. A screenshot is written to tests/artifacts/demo.png. Then what can be checked of the
// page's manners: tokens never in a history URL, labels and roles, keyboard focus, the
// contrast of its text colours, a reader who scrolled up is left in place, a long session
// keeps a bounded list, a refusal is shown once and a 1008 close says why. Issue 11: a person
// kicked, banned or revoked is told so and why, and the page does not reconnect; the library
// refreshes its token in place and, after a 4001 close, reconnects and resumes. Issue 12: the
// page's WebSocket carries its token as a subprotocol, in no URL, and after missing more than
// one resume replays the page still shows every message once, in order (filled from history).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, ROOT } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { launchBrowser } from './support/browser.mjs';

const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
let browser;

before(async () => {
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); });

async function openPage(server, name, room) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(`${server.url}/?name=${name}&room=${room}&autojoin=1`);
  await page.waitForSelector('#state[data-state="open"]');
  // Count what the client library delivers (the page itself also de-duplicates by seq).
  await page.evaluate(() => {
    window.__seqs = [];
    window.chatRoom.on('message', (m) => window.__seqs.push(m.seq));
  });
  return page;
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

const shown = (page) => page.$$eval('#messages li[data-seq]', (lis) => lis.map((li) => ({
  seq: Number(li.dataset.seq),
  who: li.querySelector('.who').textContent,
  text: li.querySelector('.text').textContent,
})));

test('two pages chat, survive a server restart, and show every message exactly once', { timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-e2e-'));
  let server = await startServer({ persistDir: dir });
  const port = Number(new URL(server.url).port);
  try {
    const alice = await openPage(server, 'alice', 'e2e');
    const bob = await openPage(server, 'bob', 'e2e');
    // Presence: each sees the other in the member list, and alice saw bob arrive.
    await alice.waitForSelector('#members li[data-user="bob"]');
    await bob.waitForSelector('#members li[data-user="alice"]');
    await alice.waitForSelector('#messages li.event:has-text("bob joined")');

    await say(alice, 'hello from alice');
    await say(bob, 'hi alice');
    for (const p of [alice, bob]) await p.waitForSelector('#messages li:has-text("hi alice")');

    // Kill the server; both pages notice and show that they are reconnecting.
    await server.stop();
    for (const p of [alice, bob]) await p.waitForSelector('#state[data-state="reconnecting"]');
    // Bob keeps typing while the server is down: the client queues the publishes.
    for (let i = 1; i <= 3; i++) await say(bob, `while down ${i}`);

    server = await startServer({ persistDir: dir, port });
    // Before the pages are back (they are backing off), the server posts to the room: that
    // one reaches the pages through resume, not live traffic.
    const post = await admin(server).post('/rooms/e2e/messages', { data: { text: 'server was restarted' } });
    assert.equal(post.status, 200);

    for (const p of [alice, bob]) {
      await p.waitForSelector('#state[data-state="open"]', { timeout: 30_000 });
      await p.waitForSelector('#messages li:has-text("while down 3")', { timeout: 30_000 });
      await p.waitForSelector('#messages li:has-text("server was restarted")');
    }
    await say(alice, 'welcome back');
    for (const p of [alice, bob]) await p.waitForSelector('#messages li:has-text("welcome back")');

    const expected = ['hello from alice', 'hi alice', 'while down 1', 'while down 2', 'while down 3', 'server was restarted', 'welcome back'];
    for (const p of [alice, bob]) {
      const items = await shown(p);
      assert.deepEqual([...items.map((i) => i.text)].sort(), [...expected].sort(), 'every message, once');
      const seqs = items.map((i) => i.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
      assert.equal(new Set(seqs).size, seqs.length);
      assert.ok(items.filter((i) => i.text.startsWith('while down')).every((i) => i.who === 'bob'));
      assert.equal(items.find((i) => i.text === 'server was restarted').who, 'server');
      const delivered = await p.evaluate(() => window.__seqs);
      assert.equal(new Set(delivered).size, delivered.length, `the client delivered no duplicate: ${delivered}`);
    }

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: path.join(ARTIFACTS, 'demo.png'), fullPage: true });
    assert.ok(fs.statSync(path.join(ARTIFACTS, 'demo.png')).size > 10_000);
    await alice.close();
    await bob.close();
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Every request the page makes to a room's history, with its URL and Authorization header. */
function historyRequests(page) {
  const seen = [];
  page.on('request', (req) => {
    if (new URL(req.url()).pathname.endsWith('/messages')) seen.push({ url: req.url(), authorization: req.headers().authorization });
  });
  return seen;
}

test('history loads on join, with the token in a header, never in the URL', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    for (let i = 1; i <= 3; i++) await admin(server).post('/rooms/hist-demo/messages', { data: { text: `earlier ${i}` } });
    const page = await browser.newPage();
    const requests = historyRequests(page);
    await page.goto(`${server.url}/?name=late&room=hist-demo&autojoin=1`);
    await page.waitForSelector('#state[data-state="open"]');
    const items = await shown(page);
    assert.deepEqual(items.map((i) => [i.seq, i.text]), [[1, 'earlier 1'], [2, 'earlier 2'], [3, 'earlier 3']]);
    assert.equal(requests.length, 1);
    assert.doesNotMatch(requests[0].url, /token=/);
    assert.match(requests[0].authorization, /^Bearer ey/);

    // A token given in the page's URL: used, then removed from the address bar; the history
    // request still carries it in the header only.
    const { token } = await (await fetch(`${server.url}/dev/token?user=given&rooms=hist-demo`)).json();
    const second = await browser.newPage();
    const secondRequests = historyRequests(second);
    await second.goto(`${server.url}/?name=given&room=hist-demo&autojoin=1&token=${token}`);
    await second.waitForSelector('#state[data-state="open"]');
    assert.equal((await shown(second)).length, 3);
    assert.doesNotMatch(second.url(), /token=/);
    assert.equal(secondRequests.length, 1);
    assert.doesNotMatch(secondRequests[0].url, /token=/);
    assert.equal(secondRequests[0].authorization, `Bearer ${token}`);
    await page.close();
    await second.close();
  } finally {
    await server.stop();
  }
});

// WCAG 2 contrast of an element's text colour on the background it is painted on (the first
// ancestor with an opaque background), computed in the page.
function contrastOf(selectors) {
  const parse = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return selectors.map((sel) => {
    const el = document.querySelector(sel);
    if (!el) return { sel, missing: true };
    const fg = parse(getComputedStyle(el).color).slice(0, 3);
    const [a, b] = [luminance(fg), luminance(background(el))].sort((x, y) => y - x);
    return { sel, ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 };
  });
}

test('labels, roles, keyboard focus and the contrast of every text colour', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    await admin(server).post('/rooms/a11y/messages', { data: { text: 'from the server' } });
    const page = await browser.newPage();
    await page.goto(`${server.url}/?room=a11y`);
    // The join form: every field has a label.
    assert.equal(await page.getByLabel('Name').count(), 1);
    assert.equal(await page.getByLabel('Room').count(), 1);
    assert.equal(await page.getAttribute('#notice', 'role'), 'alert');
    await page.fill('#name', 'reader');
    await page.press('#name', 'Enter');
    await page.waitForSelector('#state[data-state="open"]');
    await page.waitForSelector('#messages li:has-text("from the server")');
    // The chat: the message field is labelled, the list is a log, focus is where one types.
    assert.equal(await page.getByRole('textbox', { name: 'Message' }).count(), 1);
    assert.equal(await page.getByRole('log', { name: 'Messages' }).count(), 1);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'text');
    await page.keyboard.type('typed with the keyboard');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages li:has-text("typed with the keyboard")');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'text', 'focus stays in the field after sending');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Send');

    // Every text colour the page uses, on its background: states, messages, events, problems,
    // buttons, the notice, inputs.
    await page.evaluate(() => {
      const header = document.querySelector('header');
      for (const s of ['idle', 'connecting', 'reconnecting', 'failed', 'closed']) {
        const span = document.createElement('span');
        span.className = `state ${s}`;
        span.id = `probe-${s}`;
        span.textContent = s;
        header.append(span);
      }
      for (const className of ['event', 'event problem']) {
        const li = document.createElement('li');
        li.className = className;
        li.textContent = className;
        document.getElementById('messages').append(li);
      }
      const notice = document.getElementById('notice');
      notice.textContent = 'a notice';
      notice.hidden = false;
    });
    const results = await page.evaluate(contrastOf, [
      'h1', '#state', '#probe-idle', '#probe-connecting', '#probe-reconnecting', '#probe-failed', '#probe-closed',
      '#messages li[data-seq] time', '#messages li[data-seq] .who', '#messages li[data-seq] .text',
      '#messages li.event:not(.problem)', '#messages li.event.problem', '#notice', '#compose button', '#text',
      '#members li', '#members-heading',
    ]);
    for (const r of results) {
      assert.ok(!r.missing, `${r.sel} is on the page`);
      assert.ok(r.ratio >= 4.5, `${r.sel}: contrast ${r.ratio}:1 is below 4.5:1`);
    }
    await page.close();
  } finally {
    await server.stop();
  }
});

test('a reader who scrolled up is left in place; a long session keeps a bounded list', { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const post = (text) => admin(server).post('/rooms/scroll/messages', { data: { text } });
    for (let i = 1; i <= 60; i++) await post(`old ${i}`);
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await page.goto(`${server.url}/?name=reader&room=scroll&autojoin=1&keep=40`);
    await page.waitForSelector('#state[data-state="open"]');
    const list = () => page.$eval('#messages', (l) => ({
      top: l.scrollTop,
      bottom: l.scrollHeight - l.clientHeight - l.scrollTop,
      items: l.children.length,
      seqs: [...l.querySelectorAll('li[data-seq]')].map((li) => Number(li.dataset.seq)),
    }));
    // 50 history messages, 40 kept: the newest ones, in order; the page starts at the bottom.
    let now = await list();
    assert.equal(now.items, 40);
    assert.deepEqual(now.seqs, Array.from({ length: 40 }, (_, i) => 21 + i));
    assert.ok(now.bottom < 2, `starts at the bottom (${now.bottom}px above it)`);

    // At the bottom, a new message is followed.
    await post('followed');
    await page.waitForSelector('#messages li:has-text("followed")');
    now = await list();
    assert.ok(now.bottom < 2, 'followed to the bottom');
    assert.equal(now.items, 40, 'still 40 items: the oldest went');

    // Scrolled up to read: new messages do not move the list, and what the reader sees stays
    // (the list may then hold up to twice the bound until they return to the bottom).
    await page.$eval('#messages', (l) => { l.scrollTop = 100; });
    const topItem = () => page.$eval('#messages', (l) => {
      const top = l.getBoundingClientRect().top;
      return [...l.children].find((li) => li.getBoundingClientRect().bottom > top)?.textContent;
    });
    const firstVisible = await topItem();
    for (let i = 1; i <= 5; i++) await post(`while reading ${i}`);
    await page.waitForSelector('#messages li:has-text("while reading 5")');
    now = await list();
    assert.equal(now.top, 100, 'not scrolled');
    assert.equal(await topItem(), firstVisible, 'the reader sees what they saw');
    assert.equal(now.items, 45);
    assert.equal(await page.isVisible('#jump'), true, 'a button offers the newest');
    await page.click('#jump');
    now = await list();
    assert.ok(now.bottom < 2);
    assert.equal(await page.isVisible('#jump'), false);
    assert.equal(now.items, 40, 'back at the bottom: 40 items again');
    assert.equal(now.seqs.at(-1), 66);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('a refusal is shown once, and a 1008 close says why', { timeout: 90_000 }, async () => {
  const server = await startServer({ vars: { MAX_MESSAGE_BYTES: '300', RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_SECOND: '1' } });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/?name=loud&room=limits&autojoin=1`);
    await page.waitForSelector('#state[data-state="open"]');
    const lines = (pattern) => page.$$eval('#messages li.event', (lis, p) => lis.filter((li) => new RegExp(p).test(li.textContent)).map((li) => li.textContent), pattern);
    // A marker: a publish through the same connection, answered after everything sent before
    // it was answered — a second report of an earlier refusal would be on the page by then.
    // Acked or refused as rate_limited (the page's typing frames take from the same bucket);
    // its own answer is not shown: the page only reports what is typed.
    const marker = async (text) => {
      const answer = await page.evaluate((t) => window.chatRoom.publish({ text: t }).then(() => 'acked', (e) => e.code), text);
      assert.ok(['acked', 'rate_limited'].includes(answer), `the marker was answered: ${answer}`);
    };

    // Too large: refused by the client (when the welcome says the limit) or by the server
    // (an error frame without an id): either way one line.
    await page.fill('#text', 'x'.repeat(400));
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages li.event:has-text("too_large")');
    await marker('after too large');
    assert.equal((await lines('too_large')).length, 1, `one line: ${await lines('too_large')}`);

    // A burst over the rate limit (typed, so the page reports what the client rejects): the
    // refusals fold into one line.
    for (let i = 0; i < 6; i++) await say(page, `burst ${i}`);
    await page.waitForSelector('#messages li.event:has-text("rate_limited")');
    await marker('after the burst');
    assert.equal((await lines('rate_limited')).length, 1, `one line: ${await lines('rate_limited')}`);

    // Flooding on: the server closes with 1008, and the page says why.
    await page.evaluate(() => { for (let i = 0; i < 40; i++) window.chatRoom.publish({ text: `flood ${i}` }).catch(() => {}); });
    const closed = await page.waitForSelector('#messages li.event:has-text("(1008)")');
    assert.match(await closed.textContent(), /rate limit exceeded \(1008\)/);
    await page.close();
  } finally {
    await server.stop();
  }
});

test('the client library, in the browser, gives up on a refused token and says why', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    // What the client's check of a failed attempt relies on: the front worker answers the
    // history request with limit=0 after checking the token, before touching the room.
    const probe = (token, room) => fetch(`${server.url}/rooms/${room}/messages?limit=0`, { headers: { authorization: `Bearer ${token}` } });
    const { token } = await (await fetch(`${server.url}/dev/token?user=probe&rooms=mine`)).json();
    assert.deepEqual([(await probe(token, 'mine')).status, (await (await probe(token, 'mine')).json()).error.code], [400, 'bad_request']);
    assert.equal((await probe('not-a-jwt', 'mine')).status, 401);
    assert.equal((await probe(token, 'other')).status, 403);

    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const failure = (token, room) => page.evaluate(async ([token, room]) => {
      const { connect } = await import('/edge-chat-client.js');
      const r = connect({ url: location.origin, room, token, backoff: { initialMs: 50 } });
      const disconnects = [];
      r.on('disconnect', (d) => disconnects.push(d));
      const failed = await new Promise((resolve) => r.on('failed', resolve));
      return { failed, state: r.state, disconnects };
    }, [token, room]);
    const bad = await failure('not-a-jwt', 'mine');
    assert.equal(bad.state, 'failed');
    assert.equal(bad.failed.code, 'unauthorized');
    assert.equal(bad.failed.status, 401);
    assert.equal(bad.disconnects.length, 3, 'three refused attempts (maxRefusals)');
    assert.ok(bad.disconnects.every((d) => !d.wasOpen));
    const forbidden = await failure(token, 'other');
    assert.deepEqual([forbidden.failed.code, forbidden.failed.status], ['forbidden', 403]);
    await page.close();
  } finally {
    await server.stop();
  }
});

/** Before the page's scripts run: every WebSocket the page opens is recorded, with the
 * subprotocols it offered, the one the server selected, and whether its close event has fired. */
function recordSockets() {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const record = { url: String(args[0]), protocols: [].concat(args[1] ?? []), protocol: undefined, closed: false };
      window.__sockets.push(record);
      this.addEventListener('open', () => { record.protocol = this.protocol; });
      this.addEventListener('close', () => { record.closed = true; });
    }
  };
}

/** The token a recorded socket offered as its `edge-chat.token.` subprotocol. */
const offeredToken = (socket) => socket.protocols.find((p) => p.startsWith('edge-chat.token.'))?.slice('edge-chat.token.'.length);

async function openRecorded(server, name, room) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.addInitScript(recordSockets);
  await page.goto(`${server.url}/?name=${name}&room=${room}&autojoin=1`);
  await page.waitForSelector('#state[data-state="open"]');
  // What the client does from here: retries scheduled, and its closed event with how many of
  // the page's sockets had fired their close event by then.
  await page.evaluate(() => {
    window.__retries = [];
    window.__closed = [];
    window.chatRoom.on('retry', (r) => window.__retries.push(r));
    window.chatRoom.on('closed', (c) => window.__closed.push({ ...c, socketCloseEvents: window.__sockets.filter((s) => s.closed).length }));
  });
  return page;
}

test('a kicked person is told so and why, and the page does not reconnect; a ban and a revocation say so too', { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openRecorded(server, 'alice', 'mod');
    const bob = await openPage(server, 'bob', 'mod');
    await alice.waitForSelector('#members li[data-user="bob"]');

    const kick = await admin(server).post('/rooms/mod/kick', { user_id: 'alice', reason: 'spamming the lobby' });
    assert.deepEqual([kick.status, kick.body], [200, { closed: 1 }]);
    const notice = await alice.waitForSelector('#notice:not([hidden])');
    const text = await notice.textContent();
    assert.match(text, /You were removed from this room by a moderator/);
    assert.match(text, /spamming the lobby/);
    await alice.waitForSelector('#state[data-state="closed"]');
    assert.equal(await alice.textContent('#state'), 'kicked');
    await alice.waitForSelector('#messages li.event.problem:has-text("removed from the room: kicked — spamming the lobby")');
    const seen = await alice.evaluate(() => ({
      closed: window.__closed, retries: window.__retries, sockets: window.__sockets.length,
      state: window.chatRoom.state, composing: !document.getElementById('text').disabled,
    }));
    // Acted on the `closing` frame: when the client said closed, no socket of the page had
    // fired its close event (workerd delivers that one seconds later).
    assert.deepEqual(seen.closed, [{ code: 4003, reason: 'kicked', message: 'spamming the lobby', byServer: true, socketCloseEvents: 0 }]);
    // No reconnect was scheduled (a `retry` event comes with every scheduled reconnect), and
    // the handle is closed for good.
    assert.deepEqual(seen.retries, []);
    assert.equal(seen.state, 'closed');
    assert.equal(seen.sockets, 1);
    assert.equal(seen.composing, false, 'the message field is disabled');
    // Bob sees alice leave; what the room gets after that reaches bob, and not alice, whose page
    // still has its one socket.
    await bob.waitForSelector('#messages li.event:has-text("alice left")');
    await admin(server).post('/rooms/mod/messages', { data: { text: 'after the kick' } });
    await bob.waitForSelector('#messages li:has-text("after the kick")');
    assert.equal(await alice.evaluate(() => window.__sockets.length), 1);
    assert.equal(await alice.$('#messages li:has-text("after the kick")'), null);
    assert.deepEqual((await admin(server).get('/rooms/mod')).body.users.map((u) => u.user_id), ['bob']);

    // A ban and a revocation: each page says what happened and why.
    const carol = await openRecorded(server, 'carol', 'mod');
    const ban = await admin(server).post('/rooms/mod/kick', { user_id: 'carol', ban_seconds: 600, reason: 'ban evasion' });
    assert.equal(ban.status, 200);
    const banned = await (await carol.waitForSelector('#notice:not([hidden])')).textContent();
    assert.match(banned, /You were banned from this room\. The reason given: “ban evasion”/);
    const dave = await openRecorded(server, 'dave', 'mod');
    // `before` past the token's `iat` (a revocation covers tokens issued strictly before it,
    // and dave's was issued this very second).
    const revoke = await admin(server).post('/users/dave/revoke', { before: Math.floor(Date.now() / 1000) + 1 });
    assert.equal(revoke.status, 200);
    const revoked = await (await dave.waitForSelector('#notice:not([hidden])')).textContent();
    assert.match(revoked, /Your access was revoked\. No reason was given/);
    for (const [page, code, reason] of [[carol, 4004, 'banned'], [dave, 4005, 'revoked']]) {
      const s = await page.evaluate(() => ({ closed: window.__closed, retries: window.__retries }));
      assert.deepEqual(s.closed.map((c) => [c.code, c.reason, c.socketCloseEvents]), [[code, reason, 0]]);
      assert.deepEqual(s.retries, []);
    }
    for (const p of [alice, bob, carol, dave]) await p.close();
  } finally {
    await server.stop();
  }
});

test('the client library, against the worker, refreshes its token in place, and after a 4001 close reconnects with a new token and resumes', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await browser.newPage();
    await page.addInitScript(recordSockets);
    await page.goto(`${server.url}/`);
    // A token that expires within TOKEN_REFRESH_NOTICE_SECONDS (60): the server sends
    // token_expiring at once; the next getToken gives a longer one, sent in an auth frame.
    const refreshed = await page.evaluate(async () => {
      const { connect } = await import('/edge-chat-client.js');
      const ttls = [61, 3600];
      const getToken = async () => (await (await fetch(`/dev/token?user=renew&rooms=renew&ttl=${ttls.shift() ?? 3600}`)).json()).token;
      const room = connect({ url: location.origin, room: 'renew', getToken });
      const exp = await new Promise((resolve, reject) => {
        room.on('refreshed', (r) => resolve(r.exp));
        room.on('refresh_failed', (f) => reject(new Error(JSON.stringify(f))));
      });
      const result = { exp, state: room.state, sockets: window.__sockets.length };
      room.close();
      return result;
    });
    assert.equal(refreshed.state, 'open');
    assert.equal(refreshed.sockets, 1, 'refreshed without reconnecting');
    assert.ok(refreshed.exp > Date.now() / 1000 + 3000, `the connection now expires in an hour (${refreshed.exp})`);

    // No refresh in place (refreshAttempts: 0) and a 2 s token: the server closes with 4001;
    // the client reconnects with a new token and resumes after the last message it saw.
    const expired = await page.evaluate(async () => {
      const { connect } = await import('/edge-chat-client.js');
      const getToken = async () => (await (await fetch('/dev/token?user=expiry&rooms=expiry&ttl=2')).json()).token;
      const room = connect({ url: location.origin, room: 'expiry', getToken, refreshAttempts: 0, since: 0 });
      const seen = [];
      room.on('message', (m) => seen.push(m.data));
      const disconnect = new Promise((resolve) => room.on('disconnect', resolve));
      const before = window.__sockets.length;
      await new Promise((resolve) => room.on('welcome', resolve));
      await room.publish('before');
      const d = await disconnect;
      await new Promise((resolve) => room.on('welcome', resolve));
      await room.publish('after');
      await new Promise((resolve) => (seen.includes('after') ? resolve() : room.on('message', (m) => m.data === 'after' && resolve())));
      const result = { d, seen, sockets: window.__sockets.length - before, recorded: window.__sockets.slice(before) };
      room.close();
      return result;
    });
    assert.deepEqual([expired.d.code, expired.d.reason, expired.d.wasOpen], [4001, 'token_expired', true]);
    assert.deepEqual(expired.seen, ['before', 'after'], 'each message once, none lost');
    assert.equal(expired.sockets, 2);
    const [first, second] = expired.recorded;
    assert.ok(offeredToken(first) && offeredToken(second));
    assert.notEqual(offeredToken(first), offeredToken(second), 'a new token');
    assert.equal(new URL(second.url).searchParams.get('since'), '1', 'resumed after the last message seen');
    await page.close();
  } finally {
    await server.stop();
  }
});

test('the demo offers its token as a subprotocol, in no WebSocket URL; after missing more than a resume replays it still shows every message once, in order', { timeout: 90_000 }, async () => {
  // One resume replays 5 messages: the client library reads the rest from history.
  const server = await startServer({ vars: { REPLAY_MAX_MESSAGES: '5' } });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('[sub] page error:', e.message));
    const wsUrls = [];
    page.on('websocket', (ws) => wsUrls.push(ws.url()));
    await page.addInitScript(recordSockets);
    await page.goto(`${server.url}/?name=sub&room=subproto&autojoin=1`);
    await page.waitForSelector('#state[data-state="open"]');
    await page.evaluate(() => {
      window.__seqs = [];
      window.chatRoom.on('message', (m) => window.__seqs.push(m.seq));
    });
    await say(page, 'hello over the subprotocol');
    await page.waitForSelector('#messages li:has-text("hello over the subprotocol")');

    // Offline: the client drops its connection; 20 messages are posted meanwhile, 4 times what
    // one resume replays. Back online, it resumes and fills the rest from history.
    await page.context().setOffline(true);
    await page.waitForSelector('#state[data-state="reconnecting"]');
    for (let i = 1; i <= 20; i++) assert.equal((await admin(server).post('/rooms/subproto/messages', { data: { text: `missed ${i}` } })).status, 200);
    await page.context().setOffline(false);
    await page.waitForSelector('#messages li:has-text("missed 20")', { timeout: 30_000 });
    await page.waitForSelector('#state[data-state="open"]');
    const items = await shown(page);
    assert.deepEqual(items.map((i) => i.text), ['hello over the subprotocol', ...Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`)]);
    assert.deepEqual(items.map((i) => i.seq), Array.from({ length: 21 }, (_, i) => i + 1));
    assert.deepEqual(await page.evaluate(() => window.__seqs), Array.from({ length: 21 }, (_, i) => i + 1), 'the client delivered each once, in order');
    assert.equal(await page.$('#messages li.event:has-text("messages")'), null, 'no gap was reported');

    // The first connection and the resume (and any attempt made while offline): none with a
    // token in its URL; each offered it as a subprotocol, and the server selected edge-chat.v1.
    const sockets = await page.evaluate(() => window.__sockets);
    assert.ok(wsUrls.length >= 2, `${wsUrls}`);
    assert.equal(sockets.length, wsUrls.length);
    for (const url of wsUrls) assert.doesNotMatch(url, /token=/);
    for (const s of sockets) {
      assert.doesNotMatch(s.url, /token=/);
      assert.equal(s.protocols[0], 'edge-chat.v1');
      assert.match(offeredToken(s), /^ey[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT, offered as edge-chat.token.<jwt>');
    }
    for (const s of [sockets[0], sockets.at(-1)]) assert.equal(s.protocol, 'edge-chat.v1');
    assert.match(wsUrls.at(-1), /[?&]since=1(&|$)/, 'resumed after the last message seen');
    await page.close();
  } finally {
    await server.stop();
  }
});

test('without DEV_MODE the page explains how to pass a token', { timeout: 60_000 }, async () => {
  const server = await startServer({ vars: { DEV_MODE: '0' } });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/?name=x&room=r&autojoin=1`);
    const notice = await page.waitForSelector('#notice:not([hidden])');
    assert.match(await notice.textContent(), /\?token=/);
    await page.close();
  } finally {
    await server.stop();
  }
});
