/**
 * @edge-chat/client — a client for edge-chat rooms (protocol: docs/protocol.md).
 *
 * - `connect({url, room, token | getToken})` returns a {@link Room}.
 * - Reconnects with jittered exponential backoff (no attempt while the browser is offline;
 *   `maxRetries` gives up) and resumes with `since=<last seq seen>`, so the application sees
 *   every message once, in order, with a `gap` event only when the server no longer retains
 *   what was missed (and a `reset` event when the room's count restarted). `state` and
 *   `statechange` (with the previous state and why) follow the life cycle.
 * - `getToken({room, reason})` is asked for tokens, one request at a time, each bounded by the
 *   connect timeout.
 * - A resume that missed more than the server replays (a `replay_limit` gap) is completed from
 *   the history API before what follows is delivered.
 * - The token travels as a WebSocket subprotocol (`edge-chat.token.<jwt>`), in no URL
 *   (`tokenTransport: 'query'` for a WebSocket that cannot offer subprotocols).
 * - Publishes made while disconnected are queued (bounded) and sent with their ids after
 *   reconnect, oldest first; unacknowledged ones are re-sent too. The server's idempotency
 *   (same user, same id → same seq) makes that safe. Every publish settles: ack, error frame,
 *   a client-side refusal (`too_large`, `bad_frame`, `bad_json`: what the server would refuse
 *   without saying which frame; `queue_full`), its timeout or abort, `closed`, `failed`.
 * - Sends the text frame `ping` as a heartbeat; a connection that stays silent past the
 *   timeout is considered dead and replaced. In browsers, `offline`/`online` and the page
 *   becoming visible are acted on at once.
 * - Typed rooms (`connect<T>`), `on`/`once`/`off`, `await room.ready()`, `for await` over
 *   `room.messages()` (bounded), `room.historyPages()` and `room.memberPages()` /
 *   `room.allMembers()` (paging over HTTP), `room.typingUsers()` (expiring on their own), and a
 *   `logger` option for the client's notable steps.
 * - No runtime dependencies: browsers, Node ≥ 22 and Workers have a global `WebSocket`;
 *   on Node 20 pass one (e.g. from the `ws` package) as `WebSocket`.
 *
 * This module only re-exports the public API: what the semver promise of 1.0 covers
 * (CHANGELOG.md). The building blocks below it (backoff, queue, resume tracker, emitter, …) are
 * exported from `@edge-chat/client/internal` (internal.ts), without that promise. The modules
 * (ES modules, served as they are to the demo page under /edge-chat-client/; also built as
 * CommonJS into dist/cjs/ for `require`):
 *
 * | module | what |
 * |---|---|
 * | frames | wire types (docs/protocol.md) and the handle's `State` |
 * | errors | `ChatError`, the client's own refusals |
 * | events | event payloads and the `Events` map |
 * | options | `ConnectOptions`, `PublishOptions` |
 * | socket | the WebSocket subset used, close codes, closing quietly |
 * | size | `utf8Length` |
 * | backoff | `backoffDelay`, `Backoff`, `SharedBackoff` (one retry schedule, a count per connection) |
 * | resume | `ResumeTracker`: the resume point, no duplicates |
 * | gapfill | `GapFill`: messages in order, a `replay_limit` gap filled from history first |
 * | queue | `OutboundQueue`: publishes until acked |
 * | emitter | `Emitter`: typed handlers, a throwing one reported |
 * | tokens, ids | JWT expiry and `rooms` claim; publish ids |
 * | token-source | `TokenSource`: the room's token and its `getToken` requests (`{room, reason}`, one at a time, bounded) |
 * | checks | what the server would refuse in a frame (ids, nesting, reactions), checked before sending |
 * | timers | timers for durations as the options mean them (beyond 2^31-1 ms: never) |
 * | urls, history, probe | the worker's URLs and the token's transport; `fetchHistory`; the check of a refused token |
 * | browser, heartbeat, members | browser life cycle; ping/pong; the member list and `fetchMembers` (its pages over HTTP) |
 * | refresh | the token refreshed in place on `token_expiring` |
 * | connection | the connection's life cycle: attempts, tokens, refusals, reconnects, server closes |
 * | room | `Room` (on `Connection`) and `connect`: the public API, frames turned into events |
 * | ready | `room.ready()`: waiting until the handle is open |
 * | iterator | `room.messages()`: the messages as an async iterator, with a bounded buffer |
 * | http, paging | the worker's HTTP reads with a token; reading page after page (`historyPages`, `memberPages`) |
 * | chat | `ReadState` (this user's cursor and unread count), `TypingThrottle` |
 * | typing | `TypingUsers`: who is typing now (`room.typingUsers()`) |
 * | logger | the `logger` option: the client's notable steps, with a level |
 * | state | `MessageStates`: messages rebuilt from history, resume and events (edits, deletions, reactions) |
 * | session, shared-token | `Session`: a user's rooms sharing one token request (`SharedToken`), one retry schedule and one heartbeat |
 * | internal | the building blocks, for `@edge-chat/client/internal` |
 */

export type {
  State, Sender, MessageFrame, LogFrame, DirectFrame, PresenceFrame, MemberCountFrame, GapFrame, ErrorFrame, WelcomeFrame, Member, Ack,
  TokenExpiringFrame, AuthOkFrame, ClosingFrame, TypingFrame, ReadFrame, EditFrame, DeleteFrame, ReactFrame,
} from './frames.js';
export { ChatError } from './errors.js';
export type {
  DisconnectEvent, RetryReason, RetryEvent, ResetEvent, FailedEvent, ClosedEvent, RefreshedEvent, RefreshFailedEvent, FillFailedEvent,
  StateReason, StateChangeEvent, Events,
} from './events.js';
export type { ConnectOptions, PublishOptions } from './options.js';
export type { GetToken, TokenRequest, TokenReason } from './token-source.js';
export type { SocketLike, WebSocketLike } from './socket.js';
export type { TokenTransport } from './urls.js';
export type { FetchLike, HistoryQuery, HistoryPage, HistoryOptions } from './history.js';
export type { MembersQuery, MemberPage, MembersOptions } from './members.js';
export type { BackoffOptions } from './backoff.js';
export type { ReadyOptions } from './ready.js';
export type { MessagesOptions } from './iterator.js';
export type { Logger, LogDetail, LogLevel, LogStep } from './logger.js';
export { utf8Length } from './size.js';
export { MessageStates, type MessageState, type MessageStatesOptions } from './state.js';
export { Session, createSession, type SessionOptions } from './session.js';
export { tokenExpiry } from './tokens.js';
export { fetchHistory } from './history.js';
export { fetchMembers } from './members.js';
export { Room, connect } from './room.js';
export { RoomView, type RoomSnapshot, type RoomViewOptions } from './room-view.js';
export type { SessionEvents } from './session.js';
