// Frame predicates and small helpers shared by the integration tests.

export const isMessage = (f) => f.type === 'message';
export const isPresence = (f) => f.type === 'presence';
export const isDirect = (f) => f.type === 'direct';
export const isError = (f) => f.type === 'error';
export const isGap = (f) => f.type === 'gap';
export const isAck = (id) => (f) => f.type === 'ack' && f.id === id;
export const isPong = (f) => f.raw === 'pong';
/** A message (or direct) whose `data` deep-equals `data`. */
export const withData = (data) => (f) => JSON.stringify(f.data) === JSON.stringify(data);
export const messageWith = (data) => (f) => isMessage(f) && withData(data)(f);
export const directWith = (data) => (f) => isDirect(f) && withData(data)(f);
export const presenceOf = (event, user) => (f) => isPresence(f) && f.event === event && f.user_id === user;

export const seqs = (frames) => frames.map((f) => f.seq);
export const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** A random id for a publish. */
export const newId = (prefix = 'm') => `${prefix}-${Math.random().toString(36).slice(2)}`;

/** Publishes `data` with `id` and resolves with the ack's seq. */
export async function publishAndAck(client, data, id = newId(), extra = {}) {
  client.send({ type: 'publish', data, id, ...extra });
  return (await client.next(isAck(id))).seq;
}

/** Takes the next `n` messages from a client, in arrival order. */
export async function takeMessages(client, n, ms) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await client.next(isMessage, ms));
  return out;
}

/**
 * The frames a (possibly `batch=1`) connection received, with batches unwrapped, and how many
 * WebSocket messages were batches and how many frames the largest held.
 */
export function unwrapBatches(frames) {
  const out = [];
  let batches = 0;
  let largest = 0;
  for (const f of frames) {
    if (f.type === 'batch') {
      batches++;
      largest = Math.max(largest, f.frames.length);
      out.push(...f.frames);
    } else out.push(f);
  }
  return { frames: out, batches, largest };
}
