// The room handle: what the application sees — state, members, publish, direct, history,
// reconnect, close, and the frames turned into events. The connection's life cycle underneath
// is in connection.ts.

import type {
  Ack, ClosingFrame, DeleteFrame, DirectFrame, EditFrame, ErrorFrame, GapFrame, Member, MemberCountFrame, MessageFrame, PresenceFrame, ReactFrame, ReadFrame,
  State, TokenExpiringFrame, TypingFrame, WelcomeFrame,
} from './frames.js';
import { ReadState, TypingThrottle } from './chat.js';
import { READ_INTERVAL_MS, ReadThrottle } from './read-throttle.js';
import { refusal } from './checks.js';
import { TypingUsers } from './typing.js';
import type { ClosedEvent, Events, FailedEvent } from './events.js';
import type { ConnectOptions, PublishOptions } from './options.js';
import { Connection } from './connection.js';
import type { Handler } from './emitter.js';
import { ChatError, errorMessage, tooLarge } from './errors.js';
import { GapFill, type Ordered } from './gapfill.js';
import { fetchHistory, type HistoryPage, type HistoryQuery } from './history.js';
import { newId } from './ids.js';
import { iterateMessages, type MessagesOptions } from './iterator.js';
import { untilOpen, type ReadyOptions } from './ready.js';
import { fetchMembers, frozenMembers, MEMBER_PAGE_LIMIT, withPresence, type MemberPage, type MembersQuery } from './members.js';
import { historyPages, memberPages } from './paging.js';
import type { Pending } from './queue.js';
import { utf8Length } from './size.js';
import { CLIENT_DROP, closeCodeFor, closeQuietly, type SocketLike } from './socket.js';
import { later } from './timers.js';

/** A room handle. Create it with {@link connect}. `T`: the type of the messages' data —
 * what `publish` and `edit` take and `message`/`edit` events carry (default `unknown`). It is
 * the application's promise about the room, not checked at run time. */
export class Room<T = unknown> extends Connection {
  private _members: Member[] = frozenMembers([]);
  private _memberCount = 0;
  private _connectionId: string | undefined;
  private _userId: string | undefined;
  private maxBytes: number;
  /** Messages and gaps in order; a `replay_limit` gap is filled over HTTP (gapfill.ts). */
  private readonly inOrder: GapFill;
  private readonly reads = new ReadState();
  private readonly typingThrottle: TypingThrottle;
  /** Other users typing now, each until 5 s after their last `typing` frame. */
  private readonly typers = new TypingUsers((users) => this.events.emit('typing_users', users));
  /** The highest seq `markRead` asked for that the server has not confirmed yet. */
  private readWanted = 0;
  /** The id of the last `read` frame sent, and its seq. */
  private readId: string | undefined;
  private readSent = 0;
  /** At most one `read` frame per `readIntervalMs`, the newest seq last (read-throttle.ts). */
  private readonly readThrottle: ReadThrottle;

  constructor(opts: ConnectOptions) {
    super(opts);
    this.maxBytes = opts.maxMessageBytes ?? 65536;
    this.inOrder = new GapFill({
      resume: this.resume,
      read: opts.fillGaps === false || !this.fetchFn ? undefined : (q) => this.history(q),
      attempts: opts.fillAttempts ?? 5,
      timeoutMs: opts.connectTimeoutMs ?? 10000,
      backoff: opts.backoff,
      random: this.random,
      ordered: (f) => this.ordered(f),
      gap: (g) => this.events.emit('gap', g),
      failed: (f) => this.events.emit('fill_failed', f),
      log: this.log,
    });
    this.typingThrottle = new TypingThrottle(opts.typingIntervalMs ?? 2000);
    this.readThrottle = new ReadThrottle(opts.readIntervalMs ?? READ_INTERVAL_MS, () => this.readDue());
    if (opts.autoConnect !== false) this.attempt('open');
  }

  // ---- public state ---------------------------------------------------------------------------

  /** The room's name (the `room` option). */
  get name(): string {
    return this.opts.room;
  }

  get state(): State {
    return this._state;
  }

  /** The room's users and their connection counts (join/leave keep the set exact). A new
   * frozen array on every change. */
  get members(): Member[] {
    return this._members;
  }

  /** How many users the room has. In a big room the welcome lists only the first
   * `WELCOME_MAX_MEMBERS` users (`members` then holds those plus later joins); this count
   * stays exact either way. */
  get memberCount(): number {
    return this._memberCount;
  }

  /** This connection's id, from the latest welcome. */
  get connectionId(): string | undefined {
    return this._connectionId;
  }

  /** The user id the server read from the token, from the latest welcome. */
  get userId(): string | undefined {
    return this._userId;
  }

  /** Why the handle is `failed` (undefined otherwise). */
  get failure(): FailedEvent | undefined {
    return this._failure;
  }

  /** Why the handle is `closed`: removed by the server (4003/4004/4005/4006, with the operator's
   * message) or `close()` (undefined while it is not closed). */
  get closeInfo(): ClosedEvent | undefined {
    return this._closeInfo;
  }

  /** The seq the next reconnect resumes after. */
  get lastSeq(): number | undefined {
    return this.resume.since;
  }

  /** The largest publish frame sent, in UTF-8 bytes (the option, then the welcome's). */
  get maxMessageBytes(): number {
    return this.maxBytes;
  }

  /** This user's read cursor in the room, as the server last said (welcome, read receipts). */
  get readSeq(): number {
    return this.reads.readSeq;
  }

  /** Messages after `readSeq` not sent by this user (an `unread` event on every change). */
  get unread(): number {
    return this.reads.unread;
  }

  // ---- public methods -------------------------------------------------------------------------

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events<T>>(event: K, handler: Handler<Events<T>[K]>): () => void {
    return this.events.on(event, handler as Handler<Events[K]>);
  }

  /** Subscribes to the next `event` only (removed before it runs, so an event it causes itself
   * does not reach it); returns the function that unsubscribes it before then. */
  once<K extends keyof Events<T>>(event: K, handler: Handler<Events<T>[K]>): () => void {
    return this.events.once(event, handler as Handler<Events[K]>);
  }

  /** Unsubscribes `handler` (added with `on` or `once`); a handler removed while an event is
   * being delivered is not called for it. Nothing happens if it was not subscribed. */
  off<K extends keyof Events<T>>(event: K, handler: Handler<Events<T>[K]>): void {
    this.events.off(event, handler as Handler<Events[K]>);
  }

  /**
   * Waits until the handle is open: resolves at once while it is `open`, else on its next
   * welcome (so after `await room.ready()` a publish goes out at once). Rejects with a
   * {@link ChatError}: `failed` (the handle gave up; its message and HTTP `status` are the
   * refusal's) or `closed` if the handle fails or closes first (at once if it already has),
   * `timeout` after `timeoutMs`, `aborted` when `signal` aborts. With neither it waits as long
   * as the handle keeps trying.
   */
  ready(options: ReadyOptions = {}): Promise<void> {
    return untilOpen({ isOpen: () => this._state === 'open', over: () => this.over(), on: (e, h) => this.events.on(e, h) }, options);
  }

  /**
   * The room's messages from now on, for `for await (const m of room.messages())`: every
   * `message` event, once, in order. The iteration ends when the handle closes or fails (after
   * the messages buffered before), when `signal` aborts (at once), or when the loop breaks; on a
   * handle already closed or failed it ends at once. A consumer more than `bufferSize` (default
   * 1000) messages behind gets the buffered ones, then the iteration throws an `overflow`
   * {@link ChatError} (it stopped listening: nothing is skipped silently); read what followed
   * with `history({since})` and iterate again.
   */
  messages(options: MessagesOptions = {}): AsyncIterableIterator<MessageFrame<T>> {
    return iterateMessages<T>({ over: () => this.over() !== undefined, on: (e, h) => this.events.on(e, h) }, options);
  }

  /**
   * Publishes `data` to the room. Resolves with `{id, seq}` once the server has stored it;
   * rejects with a {@link ChatError}: an `error` frame with its id (e.g. `rate_limited`), what
   * the server would refuse, checked here before sending — `too_large`, `bad_json` (data nested
   * deeper than 64 levels), `bad_frame` (an `id` that is not a string of 1-128 characters, or
   * has a lone surrogate), `bad_data` (not JSON-serialisable) —, `queue_full`, `duplicate_id`,
   * `timeout`, `aborted`, `closed` or `failed`. While disconnected the publish waits in the
   * queue. After `timeout` or `aborted` the client stops sending it, but a copy already sent may
   * still be stored: publishing again with the same id is safe.
   */
  publish(data: T, options: PublishOptions = {}): Promise<Ack> {
    return this.enqueue({ type: 'publish', data, ...(options.echo === false ? { echo: false } : {}) }, options);
  }

  /** Replaces the data of this user's message `seq`. Acked like a publish (same queue, same
   * refusals), plus `forbidden` (not the author) and `not_found` (no such message, or deleted). */
  edit(seq: number, data: T, options: PublishOptions = {}): Promise<Ack> {
    return this.enqueue({ type: 'edit', target: seq, data }, options);
  }

  /** Deletes this user's message `seq` (its data is erased on the server). */
  delete(seq: number, options: PublishOptions = {}): Promise<Ack> {
    return this.enqueue({ type: 'delete', target: seq }, options);
  }

  /** Adds (`on`, the default) or removes this user's reaction `emoji` (1–32 characters, no
   * control characters: else `bad_frame`, without sending) to message `seq`. A repeat of the
   * current state is acked and changes nothing. */
  react(seq: number, emoji: string, on = true, options: PublishOptions = {}): Promise<Ack> {
    return this.enqueue({ type: 'react', target: seq, emoji, on }, options);
  }

  /** Says this user is typing (`stop`: stopped). Sent at most once per `typingIntervalMs`
   * (the server relays no more); nothing is sent while disconnected. True when sent. */
  typing(stop = false): boolean {
    if (!this.isOpen() || !this.typingThrottle.allow(stop, Date.now())) return false;
    // With an id, so that a refusal (`rate_limited`) is not taken for someone else's.
    const id = `t-${newId(this.random)}`;
    this.ws!.send(JSON.stringify(stop ? { type: 'typing', stop: true, id } : { type: 'typing', id }));
    return true;
  }

  /** The other users typing now, in the order they started: each from their `typing` frame
   * until 5 s after their last one, or until their `stop`, a message from them, or their leave
   * (the server keeps no timer; see docs/protocol.md). Frozen; a new array on every change, with
   * a `typing_users` event. Empty once the handle is closed. */
  typingUsers(): string[] {
    return this.typers.users;
  }

  /** Marks the room read up to `seq` (this user's cursor only moves forward; every device of
   * the user gets the receipt). At most one `read` frame goes out per `readIntervalMs` (default
   * 500): a call when none went out within it is sent at once, later ones are held and the
   * highest seq asked for goes out when the interval ends — so calling it on every message
   * shown is fine. While disconnected, the highest seq asked for is sent after the next
   * welcome; one still held when `close()` is called is sent before the socket closes. */
  markRead(seq: number): void {
    if (!Number.isInteger(seq) || seq <= Math.max(this.readWanted, this.reads.readSeq)) return;
    this.readWanted = seq;
    if (this.isOpen() && this.readThrottle.request(Date.now())) this.sendRead(seq);
  }

  /** The end of the interval a read was held in: the highest seq asked for goes out. */
  private readDue(): void {
    if (this.isOpen() && this.readWanted > Math.max(this.readSent, this.reads.readSeq)) this.sendRead(this.readWanted);
  }

  /** The last `read` frame was refused (`rate_limited`): a later markRead may ask for its seq
   * again; a newer seq held by the throttle still goes out at the interval's end. */
  private readRefused(): void {
    if (this.readWanted === this.readSent) this.readWanted = this.reads.readSeq;
    this.readSent = this.reads.readSeq;
  }

  /** A `read` frame, with an id: a refusal (`rate_limited`) lets a later `markRead` retry. */
  private sendRead(seq: number): void {
    this.readId = `r-${newId(this.random)}`;
    this.readSent = seq;
    this.readThrottle.sent(Date.now());
    this.ws!.send(JSON.stringify({ type: 'read', seq, id: this.readId }));
  }

  /** Why nothing can be sent or awaited now: the handle is `closed` or `failed` (a ChatError
   * with that code, carrying `id`), else undefined. */
  private over(id?: string): ChatError | undefined {
    if (this.ended) return new ChatError('closed', this._closeInfo?.byServer ? this.closedMessage() : 'the room handle is closed', id);
    if (this._state === 'failed') return new ChatError('failed', this._failure?.message ?? 'the room handle failed', id, this._failure?.status);
    return undefined;
  }

  /** Sends `fields` with an id through the publish queue (see `publish`). */
  private enqueue(fields: Record<string, unknown>, options: PublishOptions): Promise<Ack> {
    const id = options.id ?? newId(this.random);
    return new Promise<Ack>((resolve, reject) => {
      const over = this.over(id);
      if (over) return reject(over);
      const signal = options.signal;
      if (signal?.aborted) return reject(new ChatError('aborted', `aborted: ${errorMessage(signal.reason)}`, id));
      let frame: string;
      try {
        frame = JSON.stringify({ ...fields, id });
      } catch (e) {
        return reject(new ChatError('bad_data', `the data cannot be sent as JSON: ${errorMessage(e)}`, id));
      }
      // What the server would refuse without this id to answer with would never settle.
      const refused = refusal({ ...fields, id }, frame);
      if (refused) return reject(new ChatError(refused.code, refused.message, id));
      const bytes = utf8Length(frame);
      if (bytes > this.maxBytes) return reject(tooLarge(bytes, this.maxBytes, id));

      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => this.queue.failEntry(entry, new ChatError('aborted', `aborted: ${errorMessage(signal?.reason)}`, id));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const unechoed = fields.echo === false;
      const entry: Pending = {
        id,
        frame,
        bytes,
        // Its message is not sent back here: the resume point learns its seq from the ack.
        resolve: (ack) => (done(), unechoed && this.resume.unechoed(ack.seq), resolve(ack)),
        reject: (err) => (done(), reject(err)),
      };
      if (!this.queue.add(entry)) return;
      const timeoutMs = options.timeoutMs ?? this.opts.publishTimeoutMs;
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = later(() => this.queue.failEntry(entry, new ChatError('timeout', `no ack within ${timeoutMs} ms`, id)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.flush();
    });
  }

  /** Sends `data` to one connection or to every connection of a user. Refusals arrive as
   * `error` events carrying the returned id (`not_found`, `unavailable`, and what the client
   * reports itself without sending: `too_large`, `bad_json` for data nested deeper than 64
   * levels, `bad_frame` for a user id that is not 1-128 characters without invisible characters).
   * Undefined when not connected. */
  direct(to: { userId: string } | { connectionId: string }, data: unknown): string | undefined {
    if (!this.isOpen()) return undefined;
    const id = newId(this.random);
    const target = 'userId' in to ? { user_id: to.userId } : { connection_id: to.connectionId };
    const fields = { type: 'direct', to: target, data, id };
    const frame = JSON.stringify(fields);
    const bytes = utf8Length(frame);
    const refused = refusal(fields, frame) ?? (bytes > this.maxBytes ? tooLarge(bytes, this.maxBytes, id) : undefined);
    if (refused) {
      queueMicrotask(() => this.events.emit('error', { type: 'error', code: refused.code, message: refused.message, id }));
    } else {
      this.ws!.send(frame);
    }
    return id;
  }

  /**
   * Reads a page of the room's history over HTTP with the room's token (see
   * {@link fetchHistory}); on 401 it asks `getToken` once for a fresh token (`reason:
   * 'history'`) and tries again. Messages read this way are not delivered as `message` events.
   * Rejects with a {@link ChatError}; `token_error` when `getToken` threw, gave no token or did
   * not answer within `connectTimeoutMs`.
   */
  history(query: HistoryQuery = {}): Promise<HistoryPage<T>> {
    return this.withToken((token) => fetchHistory<T>({ ...query, url: this.opts.url, room: this.opts.room, token, fetch: this.fetchFn }));
  }

  /**
   * The room's history page by page (see `history`), for `for await (const page of
   * room.historyPages({before}))`: newest first from `before` (or from the newest, with neither
   * cursor), or oldest first from `since`, each page read with the previous one's `next` until it
   * is null. `limit` is per page. Only pages with messages are yielded; a loop that breaks reads
   * no further page. A failed read ends the loop with its {@link ChatError} (after a 401 a fresh
   * token is tried once, as for `history`); `signal` aborts the read in flight (`aborted`).
   */
  historyPages(query: HistoryQuery = {}): AsyncGenerator<HistoryPage<T>, void, undefined> {
    return historyPages<T>((q) => this.history(q), query);
  }

  /**
   * The room's members over HTTP (`GET /rooms/{room}/members`, with the room's token in the
   * `Authorization` header), page by page, ordered by user id: `for await (const page of
   * room.memberPages())`. Each page is read after the previous one's last user (`next`) until the
   * server says there are no more; `after` starts after that user, `limit` (1–1000, server
   * default 100) is per page. This is how to complete a welcome that lists only the first
   * `WELCOME_MAX_MEMBERS` users (`memberCount` above `members.length`). Failures as for
   * `history` (a 401 tries a fresh token once). The pages are read one after another, not at one
   * instant: a user who joins or leaves meanwhile may be missing, or listed though gone.
   */
  memberPages(query: MembersQuery = {}): AsyncGenerator<MemberPage, void, undefined> {
    return memberPages((q) => this.withToken((token) => fetchMembers({ ...q, url: this.opts.url, room: this.opts.room, token, fetch: this.fetchFn })), query);
  }

  /** Every member of the room over HTTP (see `memberPages`; pages of 1000, the most the server
   * gives), as one frozen array ordered by user id. `room.members` is not changed by it. */
  async allMembers(options: { signal?: AbortSignal } = {}): Promise<Member[]> {
    const all: Member[] = [];
    for await (const page of this.memberPages({ limit: MEMBER_PAGE_LIMIT, ...(options.signal ? { signal: options.signal } : {}) })) all.push(...page.members);
    return Object.freeze(all) as Member[];
  }

  /** `read` with the room's token; after a 401 (the token expired, or was revoked) once more with
   * a fresh one from `getToken`, when there is one. */
  private async withToken<R>(read: (token: string) => Promise<R>): Promise<R> {
    const token = async (forced?: 'history') => {
      try {
        return await this.freshToken(forced);
      } catch (e) {
        throw new ChatError('token_error', `no token for the read: ${errorMessage(e)}`);
      }
    };
    try {
      return await read(await token());
    } catch (e) {
      if (!(e instanceof ChatError && e.status === 401 && this.opts.getToken)) throw e;
      return read(await token('history'));
    }
  }

  /**
   * Drops the current connection (if any) and connects again now, asking `getToken` for a
   * fresh token (`reason: 'reconnect'`). Also the way out of `failed` (and out of `idle`). Does
   * nothing once `closed` (after `close()` or a removal by the server: a new `connect()` joins
   * again).
   */
  reconnect(): void {
    if (this.ended) return;
    this.log.write('info', 'reconnect', 'reconnect() called: connecting again now');
    this.cycle++;
    this.startOver();
    this.discardToken('reconnect');
    this.clearTimers();
    const ws = this.detach();
    if (ws) {
      closeQuietly(ws.socket, CLIENT_DROP, 'reconnect');
      const cycle = this.cycle;
      this.events.emit('disconnect', { code: CLIENT_DROP, reason: 'reconnect', wasOpen: ws.wasOpen });
      if (!this.live(cycle)) return;
    }
    this.attempt('reconnect');
  }

  /**
   * Starts connecting a handle that is not trying to: one created with `autoConnect: false`
   * (state `idle`), or one that `failed` (like `reconnect()`, with the token it has unless that
   * was refused). Does nothing while connecting, open or reconnecting, nor once closed.
   */
  open(): void {
    if (this.ended || (this._state !== 'idle' && this._state !== 'failed')) return;
    this.startOver();
    this.attempt('open');
  }

  /** Closes for good: no reconnect; pending publishes are rejected with `closed`; the
   * `closed` event follows (code 1000, `byServer` false). */
  close(): void {
    // A read held by the throttle is the last thing the application asked for: not lost.
    if (this.readThrottle.held) this.readDue();
    this.end({ code: 1000, reason: 'client closed', byServer: false }, 1000);
  }

  // ---- frames -------------------------------------------------------------------------------------

  /** The handle stops for good: the typing timers go with it (no `typing_users` event after). */
  protected override end(info: ClosedEvent, closeWith: number | undefined): void {
    if (!this.ended) this.typers.clear();
    super.end(info, closeWith);
  }

  /** The socket goes: a gap fill stops with it (the next resume replays what it held). */
  protected override detach(): ReturnType<Connection['detach']> {
    this.inOrder.stop();
    this.readThrottle.stop(); // what it held stays in readWanted, for the next welcome
    this.readSent = 0;
    return super.detach();
  }

  /** Sends what is queued and not yet sent on this connection, oldest first. */
  private flush(): void {
    const ws = this.ws;
    if (!ws || !this.isOpen()) return;
    this.queue.sendUnsent(ws, (frame) => ws.send(frame), this.maxBytes);
  }

  protected onFrame(ws: SocketLike, raw: unknown): void {
    if (ws !== this.ws) return;
    this.alive();
    if (typeof raw !== 'string' || raw === 'pong') return;
    let f: { type?: string; [k: string]: unknown };
    try {
      f = JSON.parse(raw);
    } catch {
      return;
    }
    // Under load the server coalesces a turn's frames into one `batch` (see docs/protocol.md).
    if (f.type === 'batch' && Array.isArray(f.frames)) {
      for (const inner of f.frames as { type?: string }[]) {
        if (ws !== this.ws) return; // a handler closed or replaced this connection
        this.handle(ws, inner);
      }
      return;
    }
    this.handle(ws, f);
  }

  /** One frame. After every event the handler may have closed or replaced the connection:
   * `ws !== this.ws` then stops what is left. */
  private handle(ws: SocketLike, f: { type?: string; [k: string]: unknown }): void {
    switch (f.type) {
      case 'welcome':
        return this.onWelcome(ws, f as unknown as WelcomeFrame);
      case 'message':
      case 'edit':
      case 'delete':
      case 'react':
      case 'gap':
        // Everything with a seq, in order: held while a replay_limit gap is being filled.
        return this.inOrder.push(f as unknown as Ordered);
      case 'typing': {
        const t = f as unknown as TypingFrame;
        this.events.emit('typing', t);
        if (ws !== this.ws || typeof t.user_id !== 'string') return;
        if (t.stop) this.typers.stopped(t.user_id);
        else this.typers.typing(t.user_id);
        return;
      }
      case 'read': {
        const r = f as unknown as ReadFrame;
        if (r.user_id === this._userId && this.reads.read(r.seq)) {
          this.events.emit('read', r);
          if (ws === this.ws) this.events.emit('unread', this.reads.unread);
          return;
        }
        this.events.emit('read', r);
        return;
      }
      case 'ack':
        this.queue.ack(f.id as string | undefined, f.seq as number);
        return;
      case 'presence': {
        const p = f as unknown as PresenceFrame;
        this._members = withPresence(this._members, p);
        this._memberCount = Math.max(0, this._memberCount + (p.event === 'join' ? 1 : -1));
        this.events.emit('presence', p);
        if (ws === this.ws) this.events.emit('members', this._members);
        if (ws === this.ws && p.event === 'leave') this.typers.stopped(p.user_id);
        return;
      }
      case 'member_count': {
        // A big room: the count travels instead of joins and leaves (the list stays partial).
        const count = (f as unknown as MemberCountFrame).count;
        if (typeof count !== 'number' || ws !== this.ws) return;
        this._memberCount = count;
        this.events.emit('member_count', count);
        return;
      }
      case 'direct':
        this.events.emit('direct', f as unknown as DirectFrame);
        return;
      case 'error': {
        if (this.refreshAnswer(ws, f)) return; // the refresh's `auth` was refused: handled there
        const e = f as unknown as ErrorFrame;
        if (e.id !== undefined && e.id === this.readId) this.readRefused();
        this.queue.fail(e.id, new ChatError(e.code, e.message, e.id));
        this.events.emit('error', e);
        return;
      }
      case 'token_expiring': {
        const t = f as unknown as TokenExpiringFrame;
        if (typeof t.exp !== 'number') return;
        this.log.write('debug', 'refresh', `the token expires at ${t.exp}: refreshing it in place`, { exp: t.exp });
        this.tokenExpiring(ws, t.exp);
        return;
      }
      case 'auth_ok':
        this.refreshAnswer(ws, f);
        return;
      case 'closing': {
        // The server asks this side to close (it does not close the socket itself unless we
        // do not, a few seconds later: a close the client starts completes at once, one the
        // server starts waits for the runtime). Closed now, with the server's code and reason,
        // which the server echoes.
        const c = f as unknown as ClosingFrame;
        if (typeof c.code !== 'number') return;
        const message = typeof c.message === 'string' ? c.message : undefined;
        const reason = typeof c.reason === 'string' ? c.reason : '';
        this.serverClosed(c.code, reason, message, closeCodeFor(c.code));
        return;
      }
    }
  }

  /** A message or a log event (edit, delete, react), in seq order and once. */
  private ordered(f: Exclude<Ordered, GapFrame>): void {
    switch (f.type) {
      case 'message': {
        const cycle = this.cycle;
        this.events.emit('message', f);
        // Counted either way; said only if the handler did not close or replace the connection.
        if (this.reads.message(f, f.from?.user_id === this._userId) && this.live(cycle)) this.events.emit('unread', this.reads.unread);
        const author = f.from?.user_id;
        if (author !== undefined) this.typers.stopped(author); // a message ends its author's typing
        return;
      }
      case 'react':
        this.events.emit('reaction', f);
        return;
      case 'edit':
        this.events.emit('edit', f);
        return;
      case 'delete':
        this.events.emit('delete', f);
    }
  }

  private onWelcome(ws: SocketLike, w: WelcomeFrame): void {
    this.welcomedNow();
    this._connectionId = w.connection_id;
    this._userId = w.user_id;
    if (typeof w.max_message_bytes === 'number' && w.max_message_bytes > 0) this.maxBytes = w.max_message_bytes;
    const before = this.resume.welcome(w.seq);
    this._members = frozenMembers(Array.isArray(w.members) ? w.members : []);
    this._memberCount = typeof w.member_count === 'number' ? w.member_count : this._members.length;
    this.reads.welcome(w.read_seq, w.unread, w.seq);
    // A markRead made while disconnected goes out now, if the server is not there already.
    if (this.readWanted > this.reads.readSeq && this.readWanted <= w.seq) this.sendRead(this.readWanted);
    // Queued and unacknowledged publishes go out first (after the replay the server is
    // sending), so that whatever the handlers below publish comes after them.
    this.flush();
    const steps: (() => void)[] = [
      () => this.setState('open', 'welcome'),
      () => before !== undefined && this.events.emit('reset', { lastSeq: before, seq: w.seq }),
      () => this.events.emit('welcome', w),
      () => this.events.emit('members', this._members),
      () => this.events.emit('unread', this.reads.unread),
    ];
    for (const step of steps) {
      if (ws !== this.ws) return;
      step();
    }
  }
}

/** Opens a room: see {@link ConnectOptions}. `T`: the type of the messages' data (see
 * {@link Room}); default `unknown`. */
export function connect<T = unknown>(opts: ConnectOptions): Room<T> {
  return new Room<T>(opts);
}
