// The demo page in real headless Chromium (Debian's, driven by playwright-core): two pages
// chat and see each other's presence; the local server is killed and restarted (same port,
// same persisted state) and both pages reconnect and show every message sent meanwhile, none
// twice. A screenshot is written to tests/artifacts/demo.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, ROOT } from './support/server.mjs';
import { admin } from './support/admin.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
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

test('history loads on join', { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    for (let i = 1; i <= 3; i++) await admin(server).post('/rooms/hist-demo/messages', { data: { text: `earlier ${i}` } });
    const page = await browser.newPage();
    await page.goto(`${server.url}/?name=late&room=hist-demo&autojoin=1`);
    await page.waitForSelector('#state[data-state="open"]');
    const items = await shown(page);
    assert.deepEqual(items.map((i) => [i.seq, i.text]), [[1, 'earlier 1'], [2, 'earlier 2'], [3, 'earlier 3']]);
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
