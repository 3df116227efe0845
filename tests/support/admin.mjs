// The server HTTP API as tests call it: JSON in, `{status, body}` out.
import { ADMIN_TOKEN } from './server.mjs';

export function admin(server, token = ADMIN_TOKEN) {
  const call = async (method, path, body, headers = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json, text };
  };
  return {
    get: (path, headers) => call('GET', path, undefined, headers),
    post: (path, body, headers) => call('POST', path, body, headers),
    call,
  };
}

/** Polls `fn` until it returns a value deep-equal (JSON) to `expected`; the counts the server
 * API reports are eventually consistent, so tests wait for convergence, bounded. */
export async function eventually(fn, expected, { ms = 5000, every = 100 } = {}) {
  const want = JSON.stringify(expected);
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (JSON.stringify(last) === want) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`did not converge within ${ms} ms: want ${want}, last ${JSON.stringify(last)}`);
}
