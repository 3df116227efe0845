// The demo page as a small real chat (issue 14), in headless Chromium: two users in two pages
// plus a second page of the first user. Typing shows ("bob is typing…"), an edit and a delete
// made in one page show in the others, a reaction counts, "seen by" follows the read receipts,
// and reading a room in one page of a user clears that room's unread badge in the user's other
// page. A screenshot goes to tests/artifacts/chat.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, ROOT } from './support/server.mjs';
import { admin } from './support/admin.mjs';
import { launchBrowser } from './support/browser.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); });

async function openPage(server, name, query) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(`${server.url}/?name=${name}&${query}&autojoin=1`);
  await page.waitForSelector('#state[data-state="open"]');
  return page;
}

const item = (text) => `#messages li[data-seq]:has(.text:text-is("${text}"))`;
const badge = (room) => `#rooms button[data-room="${room}"] .badge`;

test('typing, edit, delete, reactions, seen by, and unread badges that agree across a user\'s pages', { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const query = 'room=team&rooms=side';
    const alice = await openPage(server, 'alice', query);
    const bob = await openPage(server, 'bob', query);
    const alice2 = await openPage(server, 'alice', query);
    for (const p of [alice, bob, alice2]) await p.waitForSelector('#rooms button[data-room="side"]');

    // Typing: bob types, alice sees it (and bob does not see himself typing).
    await bob.type('#text', 'hi the');
    await alice.waitForSelector('#typing:has-text("bob is typing…")');
    assert.equal(await bob.textContent('#typing'), '');
    await bob.fill('#text', '');

    // An edit propagates.
    await alice.fill('#text', 'helo');
    await alice.press('#text', 'Enter');
    for (const p of [alice, bob, alice2]) await p.waitForSelector(item('helo'));
    assert.equal(await bob.$(`${item('helo')} button.edit`).then((b) => b.isVisible()), false, 'only the author may edit');
    alice.once('dialog', (d) => d.accept('hello'));
    await alice.click(`${item('helo')} button.edit`);
    for (const p of [alice, bob, alice2]) {
      await p.waitForSelector(item('hello'));
      assert.equal(await p.isVisible(`${item('hello')} .edited`), true);
    }

    // A reaction counts: bob's, then alice's from her second page.
    await bob.click(`${item('hello')} button[data-emoji="👍"]`);
    await alice.waitForSelector(`${item('hello')} button[data-emoji="👍"]:text-is("👍 1")`);
    await alice2.click(`${item('hello')} button[data-emoji="👍"]`);
    for (const p of [alice, bob, alice2]) await p.waitForSelector(`${item('hello')} button[data-emoji="👍"]:text-is("👍 2")`);
    assert.equal(await alice.getAttribute(`${item('hello')} button[data-emoji="👍"]`, 'aria-pressed'), 'true');

    // A delete propagates.
    await alice.fill('#text', 'oops');
    await alice.press('#text', 'Enter');
    await bob.waitForSelector(item('oops'));
    await alice.click(`${item('oops')} button.delete`);
    for (const p of [alice, bob, alice2]) await p.waitForSelector('#messages li.deleted .text:text-is("message deleted")');
    for (const p of [alice, bob, alice2]) assert.equal(await p.$(item('oops')), null);

    // Seen by: bob's page is visible and marks the room read; alice sees it under her message.
    await alice.fill('#text', 'are you there?');
    await alice.press('#text', 'Enter');
    await alice.waitForSelector('#seen:has-text("Seen by bob")');

    // Badges: a message in "side" shows on both of alice's pages; reading it in one clears the other.
    await admin(server).post('/rooms/side/messages', { data: { text: 'over here' } });
    for (const p of [alice, alice2]) await p.waitForSelector(`${badge('side')}:text-is("1")`);
    await alice.click('#rooms button[data-room="side"]');
    await alice.waitForSelector(item('over here'));
    await alice2.waitForSelector(badge('side'), { state: 'detached' });
    assert.equal(await alice.$(badge('side')), null);
    // And the cross-room count agrees, from the registry.
    const token = (await (await fetch(`${server.url}/dev/token?user=alice`)).json()).token;
    for (let i = 0; ; i++) {
      const body = await (await fetch(`${server.url}/me/unread`, { headers: { authorization: `Bearer ${token}` } })).json();
      if (body.rooms.side === 0 && body.rooms.team === 0) break;
      assert.ok(i < 50, `unread counts converge: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    fs.mkdirSync(path.join(ROOT, 'tests', 'artifacts'), { recursive: true });
    await alice.click('#rooms button[data-room="team"]');
    await alice.waitForSelector(item('hello'));
    await alice.screenshot({ path: path.join(ROOT, 'tests', 'artifacts', 'chat.png'), fullPage: true });
    for (const p of [alice, bob, alice2]) await p.close();
  } finally {
    await server.stop();
  }
});
