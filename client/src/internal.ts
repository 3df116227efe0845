/**
 * @edge-chat/client/internal — the building blocks the client is made of, for its own tests and
 * for power users who build on them: reconnect delays, the heartbeat schedule a session shares,
 * the resume point, the publish queue, the typed emitter, the read cursor and typing throttle.
 *
 * Not covered by the semver promise of `@edge-chat/client` (CHANGELOG.md): any release may
 * change or remove them. Applications use the public entry, `@edge-chat/client`.
 */

export { backoffDelay, Backoff, SharedBackoff } from './backoff.js';
export { HeartbeatSchedule } from './heartbeat.js';
export { ResumeTracker } from './resume.js';
export { OutboundQueue, type Pending } from './queue.js';
export { Emitter, type Handler } from './emitter.js';
export { ReadState, TypingThrottle } from './chat.js';
export type { SharedParts } from './options.js';
