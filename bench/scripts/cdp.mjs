// A minimal Chrome DevTools Protocol client, for the profiling scripts (profile-storm.mjs,
// profile-load.mjs): workerd serves the V8 inspector when Miniflare gets `inspectorPort`.
import WebSocket from 'ws';

/** A minimal CDP client: `send(method, params)` resolves with the result. */
export async function cdp(url) {
  const ws = new WebSocket(url, { maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${JSON.stringify(msg.error)}`)); else p.resolve(msg.result);
  });
  return {
    send: (method, params = {}) => new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    }),
    close: () => ws.close(),
  };
}
