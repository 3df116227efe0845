// @edge-chat/client/react in a real browser, against the built worker: a small React page
// (tests/support/react-chat/, bundled here with esbuild from npm packages, no CDN, rendered in
// StrictMode) in three tabs. Two users chat in `lobby`; a third, reading another room, sees the
// lobby's unread badge count up; a tab that goes offline and comes back has every message once,
// in order. Each room is joined once per tab although StrictMode mounts every effect twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { workerOptions, ROOT } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { launchBrowser } from './support/browser.mjs';

const PAGE = path.join(ROOT, 'tests', 'support', 'react-chat');
const CLIENT_DIST = path.join(ROOT, 'client', 'dist');
let browser;
let server;
let site;

/** The page and its bundle in a folder of their own, served as the worker's static assets. */
async function bundlePage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-react-'));
  fs.copyFileSync(path.join(PAGE, 'index.html'), path.join(dir, 'index.html'));
  await build({
    entryPoints: [path.join(PAGE, 'app.jsx')],
    outfile: path.join(dir, 'app.js'),
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' }, // React's checks on, StrictMode's double mounts
    logLevel: 'warning',
    plugins: [{
      // The package as built (client/dist), by its two public entries.
      name: 'edge-chat-client',
      setup(b) {
        b.onResolve({ filter: /^@edge-chat\/client(\/react)?$/ }, (args) => ({
          path: path.join(CLIENT_DIST, args.path.endsWith('/react') ? 'react.js' : 'index.js'),
        }));
      },
    }],
  });
  return dir;
}

before(async () => {
  site = await bundlePage();
  const mf = new Miniflare({ ...workerOptions(), assets: { directory: site, routerConfig: { has_user_worker: true } } });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  server = { mf, url, stop: () => mf.dispose() };
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (site) fs.rmSync(site, { recursive: true, force: true });
});

/** A tab of its own (its own browser context, so it can go offline alone). */
async function openTab(name, room, rooms = []) {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/?name=${name}&room=${room}&rooms=${rooms.join(',')}`);
  await page.waitForSelector('#state[data-state="open"]');
  return { page, context, errors };
}

const texts = (tab) => tab.page.$$eval('#messages li .text', (els) => els.map((e) => e.textContent));
const seqs = (tab) => tab.page.$$eval('#messages li', (els) => els.map((e) => Number(e.dataset.seq)));

async function send(tab, text) {
  await tab.page.fill('#text', text);
  await tab.page.click('#send');
}

async function waitForTexts(tab, expected, what) {
  try {
    await tab.page.waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll('#messages li .text')].map((e) => e.textContent)) === JSON.stringify(want),
      expected, { timeout: 10_000 });
  } catch {
    assert.deepEqual(await texts(tab), expected, what);
  }
}

async function badge(tab, room) {
  return Number(await tab.page.getAttribute(`.badge[data-room="${room}"]`, 'data-unread'));
}

test('two tabs chat, a third sees the unread badge, a tab back from offline has every message once', { timeout: 120_000 }, async () => {
  const alice = await openTab('alice', 'lobby');
  const bob = await openTab('bob', 'lobby');
  const carol = await openTab('carol', 'side', ['lobby']);

  // Each tab holds exactly one connection per room, StrictMode's double mounts notwithstanding.
  const lobby = await admin(server).get('/rooms/lobby');
  assert.deepEqual(lobby.body.users.map((u) => [u.user_id, u.connections]).sort(), [['alice', 1], ['bob', 1], ['carol', 1]]);

  await send(alice, 'hello from alice');
  await waitForTexts(bob, ['hello from alice'], 'bob sees alice\'s message');
  // Typing shows in the other tab (bob's first keystroke; his message then ends it).
  await bob.page.type('#text', 'h');
  await alice.page.waitForFunction(() => document.querySelector('#typing').textContent === 'bob', null, { timeout: 10_000 });
  await send(bob, 'hi alice');
  await alice.page.waitForFunction(() => document.querySelector('#typing').textContent === '', null, { timeout: 10_000 });
  await waitForTexts(alice, ['hello from alice', 'hi alice'], 'alice sees both, her own included');
  await carol.page.waitForSelector('.badge[data-room="lobby"][data-unread="2"]', { timeout: 10_000 })
    .catch(async () => assert.equal(await badge(carol, 'lobby'), 2, 'carol\'s lobby badge'));

  // Bob goes offline; alice goes on; bob comes back and has everything once, in order.
  await bob.context.setOffline(true);
  await bob.page.waitForSelector('#state:not([data-state="open"])', { timeout: 10_000 });
  for (const n of [1, 2, 3]) await send(alice, `while bob was away ${n}`);
  await waitForTexts(alice, ['hello from alice', 'hi alice', 'while bob was away 1', 'while bob was away 2', 'while bob was away 3'], 'alice\'s own');
  await bob.context.setOffline(false);
  await bob.page.waitForSelector('#state[data-state="open"]', { timeout: 20_000 });
  await waitForTexts(bob, ['hello from alice', 'hi alice', 'while bob was away 1', 'while bob was away 2', 'while bob was away 3'], 'bob, after the reconnect');
  const bobSeqs = await seqs(bob);
  assert.deepEqual(bobSeqs, [...bobSeqs].sort((a, b) => a - b), 'in seq order');
  assert.equal(new Set(bobSeqs).size, bobSeqs.length, 'each once');
  await carol.page.waitForSelector('.badge[data-room="lobby"][data-unread="5"]', { timeout: 10_000 })
    .catch(async () => assert.equal(await badge(carol, 'lobby'), 5, 'carol\'s lobby badge after the rest'));

  fs.mkdirSync(path.join(ROOT, 'tests', 'artifacts'), { recursive: true });
  await bob.page.screenshot({ path: path.join(ROOT, 'tests', 'artifacts', 'react.png') });
  for (const tab of [alice, bob, carol]) {
    assert.deepEqual(tab.errors, [], 'no page errors');
    await tab.context.close();
  }
});
