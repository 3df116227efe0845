// A real HTTP receiver for webhook tests (node:http on a free loopback port), and what the tests
// check on what it received: the signature (recomputed with node:crypto), the events, their order.
import http from 'node:http';
import crypto from 'node:crypto';
import { listDatabases } from './databases.mjs';
import { join, until } from './client.mjs';
import { admin } from './admin.mjs';
import { Miniflare } from 'miniflare';
import { workerOptions } from './server.mjs';

export const WEBHOOK_SECRET = 'whsec-test';

/** The verification a receiver does: `t=<s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function verifySignature(secret, header, body) {
  const parts = Object.fromEntries(String(header ?? '').split(',').map((kv) => kv.split('=')));
  if (!/^\d+$/.test(parts.t ?? '') || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  return crypto.timingSafeEqual(expected, Buffer.from(parts.v1, 'hex'));
}

/**
 * Starts a receiver. `respond(post)` decides each answer: an HTTP status, `'hang'` (never
 * answer; released at `stop()`), `'reset'` (drop the connection), or `{status, after, headers,
 * bodyBytes}` (answer after `after` ms, with these headers and a body of `bodyBytes` bytes,
 * streamed; `post.bodySent` counts what the socket took of it). Every POST is kept in
 * `posts` ({n, headers, body, json, status, room}); `delivered()` lists the events of the
 * POSTs answered 2xx, in arrival order. `down()`/`up()` close and reopen the port.
 */
export async function startReceiver({ respond = () => 200 } = {}) {
  const posts = [];
  const hanging = new Set();
  const open = new Map(); // room → POSTs of that room not answered yet
  let overlap = 0; // times a POST arrived while another of the same object was open
  const r = {
    posts,
    respond,
    get overlap() { return overlap; },
    get hanging() { return hanging.size; },
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let json;
      try { json = JSON.parse(body); } catch { json = undefined; }
      // The object a POST comes from: a room, or a registry shard (direct_undelivered).
      const rooms = [...new Set((json?.events ?? []).map((e) => (e.type === 'direct_undelivered' ? '(registry)' : e.room)))];
      const post = { n: posts.length + 1, method: req.method, path: req.url, headers: req.headers, body, json, rooms, at: Date.now() };
      posts.push(post);
      for (const room of rooms) {
        if ((open.get(room) ?? 0) > 0) overlap++;
        open.set(room, (open.get(room) ?? 0) + 1);
      }
      const done = () => { for (const room of rooms) open.set(room, open.get(room) - 1); };
      const answer = r.respond(post);
      post.status = answer;
      if (answer === 'hang') {
        hanging.add(res);
        res.on('close', () => { hanging.delete(res); done(); });
        return;
      }
      if (answer === 'reset') {
        done();
        req.socket.destroy();
        return;
      }
      Promise.resolve(typeof answer === 'object' ? answer.after : undefined).then(async (ms) => {
        if (ms) await new Promise((ok) => setTimeout(ok, ms));
        const status = typeof answer === 'object' ? answer.status : answer;
        post.status = status;
        done();
        const headers = { 'content-type': 'text/plain', ...(answer?.headers ?? {}) };
        if (answer?.bodyBytes) return streamBody(res.writeHead(status, headers), answer.bodyBytes, post);
        res.writeHead(status, headers).end('ok');
      });
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const port = server.address().port;
  r.url = `http://127.0.0.1:${port}/hooks`;
  const ok = (p) => typeof p.status === 'number' && p.status >= 200 && p.status < 300;
  /** Events of the POSTs answered 2xx, in arrival order. */
  r.delivered = () => posts.filter(ok).flatMap((p) => p.json.events);
  /** Waits until `pred(delivered())` holds, and resolves with `delivered()`. */
  r.waitFor = (pred, { ms = 15_000, what = 'the expected webhook events' } = {}) =>
    until(() => pred(r.delivered()) && r.delivered(), { ms, what, every: 25 });
  const release = () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
  };
  /** The receiver goes away: the port refuses connections until `up()`. */
  r.down = () => new Promise((done) => { server.close(done); release(); });
  r.up = () => new Promise((done) => server.listen(port, '127.0.0.1', done));
  r.stop = () => new Promise((done) => {
    if (!server.listening) return done();
    server.close(done);
    release();
  });
  return r;
}

/** Writes `n` bytes as the answer's body, 64 KiB at a time, as fast as the reader takes them;
 * stops quietly when the other side goes away. */
function streamBody(res, n, post) {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  post.bodySent = 0;
  res.on('error', () => {});
  const more = () => {
    while (post.bodySent < n) {
      const part = chunk.subarray(0, Math.min(chunk.length, n - post.bodySent));
      post.bodySent += part.length;
      if (!res.write(part)) return res.once('drain', more);
    }
    res.end();
  };
  more();
}

/** The vars that turn webhooks on towards `receiver`. */
export const webhookVars = (receiver, extra = {}) => ({
  WEBHOOK_URL: receiver.url,
  WEBHOOK_SECRET,
  ...extra,
});

/** Events of one room, in arrival order. */
export const ofRoom = (events, room) => events.filter((e) => e.room === room);

/** Every user table of every Durable Object database under `persistDir`:
 * {namespace: {file: [table names]}} (the runtime's metadata file left out). */
export function tablesIn(persistDir) {
  const names = (files) => Object.entries(files)
    .filter(([file]) => file !== 'metadata')
    .map(([file, tables]) => [file, Object.keys(tables)]);
  return Object.fromEntries(Object.entries(listDatabases(persistDir)).map(([ns, files]) => [ns, Object.fromEntries(names(files))]));
}

/** `startServer`, with everything the worker logs collected: `server.logs()` is the text so
 * far. */
export async function startLoggedServer(opts) {
  const chunks = [];
  const collect = (stream) => stream.on('data', (chunk) => chunks.push(chunk.toString()));
  const mf = new Miniflare({
    ...workerOptions(opts),
    handleRuntimeStdio(stdout, stderr) { collect(stdout); collect(stderr); },
  });
  const url = (await mf.ready).toString().replace(/\/$/, '');
  return { mf, url, wsUrl: url.replace(/^http/, 'ws'), logs: () => chunks.join(''), stop: () => mf.dispose() };
}

/** Makes `user` a user the registry has seen connected (a `direct_undelivered` is recorded only
 * for those): connects them to `room` once, and waits until they are offline again. */
export async function seenOnce(server, user, room = 'seen-once') {
  const c = await join(server, room, user);
  c.terminate();
  const api = admin(server);
  await until(async () => (await api.get(`/users/${encodeURIComponent(user)}`)).body.connections === 0, { what: `${user} offline again` });
}
