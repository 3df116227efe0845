// Room objects and their evictions, as tests observe them through the DEV_MODE-only
// `GET /dev/rooms/{room}/debug` (`instance`: a random id per constructed object, `created_ms`:
// when it was constructed, `loaded_before_this_call`: whether the room had been loaded).
//
// Local workerd evicts a Durable Object 10 s after its last event (request, socket message,
// close, alarm), hibernating its WebSockets. Every event restarts that clock — a debug probe
// included — so an eviction cannot be watched by polling every second: the object would never
// go idle. Instead, `waitForEviction` stays away for the 10 s, then probes once, and tells from
// the probe's answer whether the object it meets was constructed by that very probe.
import assert from 'node:assert/strict';
import { sleep } from './client.mjs';

/** workerd's idle time before an eviction (src/workerd/server/server.c++, `handleShutdown`). */
export const EVICTION_IDLE_MS = 10_000;
/** Probe this long after the 10 s: the clock starts when the last event's work has finished. */
const PROBE_MARGIN_MS = 300;
/** workerd and node read the same clock, in whole ms; a little slack for the rounding. */
const CLOCK_SLACK_MS = 5;

/** The room object's debug view. (This call is an event: it wakes an evicted object.) */
export async function roomDebug(server, room) {
  const res = await fetch(`${server.url}/dev/rooms/${room}/debug`);
  assert.equal(res.status, 200, `debug of ${room}`);
  return res.json();
}

/** Resolves once `Date.now()` is past `t`, so that times taken after it compare strictly. */
export async function clockPast(t) {
  while (Date.now() <= t) await sleep(1);
}

/**
 * Waits until `room`'s object has been evicted, and proves it: probes once (the baseline),
 * stays away for the idle time, probes again. The eviction is proven when the second probe
 * meets another instance, constructed by that very probe (`created_ms` not before the probe
 * was sent) with the room not loaded. If the old instance answers instead, it was not evicted
 * yet and the probe restarted its clock: stay away once more.
 *
 * Resolves with the fresh instance's debug: nothing is loaded in it, so the test's next event
 * is the one that rebuilds the room from its sockets and its storage.
 */
export async function waitForEviction(server, room, { attempts = 3 } = {}) {
  return evictionOf(() => roomDebug(server, room), `room ${room}`, attempts);
}

/** Fan-out object `index` of `room`'s debug view (`GET /dev/rooms/{room}/fanout/{i}/debug`,
 * the same instance facts as a room's). This call is an event too. */
export async function fanoutDebug(server, room, index) {
  const res = await fetch(`${server.url}/dev/rooms/${room}/fanout/${index}/debug`);
  assert.equal(res.status, 200, `debug of ${room}'s fan-out object ${index}`);
  return res.json();
}

/**
 * The debug view of every socket of `room` — its own object's and, past ROOM_FANOUT_CONNECTIONS,
 * its fan-out objects' (`{tags, attachment, ready_state}` each) — from `debug`, the room's
 * debug view, which lists the fan-out objects. (Each probe of a fan-out object is an event.)
 */
export async function allConnections(server, room, debug) {
  const all = [...debug.connections];
  for (const index of Object.keys(debug.fanout?.objects ?? {})) {
    all.push(...(await fanoutDebug(server, room, index)).connections);
  }
  return all;
}

/** [`waitForEviction`] for fan-out object `index` of `room`. */
export async function waitForFanoutEviction(server, room, index, { attempts = 3 } = {}) {
  return evictionOf(() => fanoutDebug(server, room, index), `${room}'s fan-out object ${index}`, attempts);
}

async function evictionOf(probe, what, attempts) {
  let seen = await probe();
  for (let i = 0; i < attempts; i++) {
    await sleep(EVICTION_IDLE_MS + PROBE_MARGIN_MS);
    const sent = Date.now();
    const now = await probe();
    if (now.instance !== seen.instance && now.created_ms >= sent - CLOCK_SLACK_MS && !now.loaded_before_this_call) {
      return now;
    }
    seen = now;
  }
  throw new Error(`${what} was not evicted within ${attempts} idle periods`);
}

/**
 * Idles `room` for the eviction time *without* probing it (a probe would wake it), for tests
 * whose next step must reach an object that is not in memory. `since` is when the room's last
 * event ended (by default: now).
 */
export async function idleForEviction(since = Date.now()) {
  await sleep(Math.max(0, since + EVICTION_IDLE_MS + PROBE_MARGIN_MS - Date.now()));
}
