// Helpers for the chat extensions' tests (typing, read, edit, delete, react; issue 14).
import { isAck, newId } from './frames.mjs';

export const isType = (type) => (f) => f.type === type;
export const isTyping = (user) => (f) => f.type === 'typing' && f.user_id === user;
export const isReceipt = (user, seq) => (f) => f.type === 'read' && f.user_id === user && (seq === undefined || f.seq === seq);
export const isErrorWith = (id) => (f) => f.type === 'error' && f.id === id;

/** Sends `frame` with a fresh id and resolves with its ack's seq, or rejects with the error frame. */
export async function acked(client, frame) {
  const id = frame.id ?? newId(frame.type);
  client.send({ ...frame, id });
  const answer = await client.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
  if (answer.type === 'error') throw Object.assign(new Error(`${answer.code}: ${answer.message}`), { frame: answer });
  return answer.seq;
}

/** Sends `frame` with a fresh id and resolves with the error frame it is refused with. */
export async function refused(client, frame) {
  const id = frame.id ?? newId(frame.type);
  client.send({ ...frame, id });
  return client.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id);
}

/** Publishes `data` and resolves with its seq. */
export const post = (client, data) => acked(client, { type: 'publish', data });

export { isAck };
