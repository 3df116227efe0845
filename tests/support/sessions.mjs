// Helpers for the tests of session lifetime and moderation (issue 11): tokens signed here
// with chosen claims, the `closing` frame and the close that follows it, refused upgrades,
// and the room's instance facts that prove an eviction.
import assert from 'node:assert/strict';
import jwt from './jwt.mjs';
import { SECRET } from './server.mjs';
import { tryConnect, within } from './client.mjs';

/** The server's clock in whole seconds (same machine). */
export const nowS = () => Math.floor(Date.now() / 1000);

/** An HS256 token for `sub` with the given claims (default: valid for an hour, no `iat`). */
export function token(sub, claims = {}) {
  return jwt.sign({ sub, exp: nowS() + 3600, ...claims }, SECRET);
}

/** The test client here is a raw `ws` client that does NOT act on `closing`: the server asks it
 * to close (kick, ban, disconnect, revoke, expiry) and, as it does not, closes the socket itself
 * 3 s later from the room's alarm (src/room/closing.rs). A close the server starts that way
 * completes in local workerd (1.20260426) — for a client that never sent a frame — only when the
 * room object is evicted, ~10 s later, so
 * `ws` reports `close` ~13 s after the `closing` frame (tests/server_close_completes.test.mjs
 * times it; the TypeScript client, which answers `closing`, closes at once). Hence a bound for
 * the close event, and the same bound for anything a room must do after it closed a socket on
 * purpose: bounds, not timings. */
export const CLOSE_WAIT_MS = 20_000;
export const AFTER_CLOSE_MS = CLOSE_WAIT_MS;

export const isClosing = (f) => f.type === 'closing';

/** Takes the `closing` frame (within `ms`) and checks it is exactly this one. */
export async function expectClosing(client, code, reason, message, ms) {
  const frame = await client.next(isClosing, ms);
  const want = { type: 'closing', code, reason, ...(message === undefined ? {} : { message }) };
  assert.deepEqual(frame, want, `closing frame of ${client.connectionId}`);
  return frame;
}

export { within };

/** The close event carries `code` and `reason` (bounded by CLOSE_WAIT_MS). */
export async function expectClosed(client, code, reason, ms = CLOSE_WAIT_MS) {
  const closed = await within(client.closed, ms, `close event of ${client.connectionId}`);
  assert.deepEqual(closed, { code, reason }, `close of ${client.connectionId}`);
}

/** The `closing` frame now, then the close event with the same code and reason. */
export async function expectServerClose(client, code, reason, message) {
  await expectClosing(client, code, reason, message);
  await expectClosed(client, code, reason);
}

/** Upgrades to `room` with `tok`: must be refused with `status` and error `code`. */
export async function refusedUpgrade(server, room, tok, status, code) {
  const r = await tryConnect(`${server.wsUrl}/rooms/${room}/ws?token=${encodeURIComponent(tok)}`);
  if (r.client) {
    r.client.terminate();
    assert.fail(`upgrade to ${room} was accepted; expected ${status} ${code}`);
  }
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, 'string');
  return r.body;
}

/** Polls `fn` until its value is deep-equal to `expected` (key order does not matter), bounded:
 * counts and registries follow a close asynchronously. */
export async function converges(fn, expected, { ms = 5000, every = 100 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await fn();
    try {
      assert.deepStrictEqual(last, expected);
      return last;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
}
