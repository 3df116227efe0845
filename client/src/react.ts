/**
 * @edge-chat/client/react — React hooks over the client (React ≥ 18, an optional peer
 * dependency: only this entry imports it).
 *
 * ```tsx
 * const session = useSession({ url, getToken });           // one per user, closed on unmount
 * <SessionProvider session={session}><Chat /></SessionProvider>
 *
 * function Chat() {
 *   const lobby = useRoom<{ text: string }>('lobby');      // joined while mounted
 *   const unread = useUnread();                             // every joined room's count
 *   return lobby.messages.map((m) => <p key={m.seq}>{m.data?.text}</p>);
 * }
 * ```
 *
 * A room used by several components is joined once (by the first render that needs it) and
 * left when the last of them unmounts — after the commit, so that React's StrictMode, which
 * mounts effects twice, does not leave and rejoin it; a room joined by a render that never
 * mounted is left after 2 s.
 */

import { createContext, createElement, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { Ack } from './frames.js';
import type { PublishOptions } from './options.js';
import type { Room } from './room.js';
import { RoomView, type RoomSnapshot, type RoomViewOptions } from './room-view.js';
import { Session, type SessionOptions } from './session.js';

export type { RoomSnapshot, RoomViewOptions } from './room-view.js';
export { RoomView } from './room-view.js';

const SessionContext = createContext<Session | undefined>(undefined);

/** Provides `session` to the hooks below it (`useRoom`, `useUnread`, `useSession()`). */
export function SessionProvider(props: { session: Session; children?: ReactNode }): ReactNode {
  return createElement(SessionContext.Provider, { value: props.session }, props.children);
}

/**
 * With `options`: a {@link Session} for this component's lifetime — created once (later
 * changes of `options` are not applied, but the latest `getToken` is always the one called),
 * its rooms left when the component unmounts. Without: the session of the nearest
 * {@link SessionProvider} (an error when there is none).
 */
export function useSession(options?: SessionOptions): Session {
  const provided = useContext(SessionContext);
  const latest = useRef(options);
  latest.current = options;
  const [own] = useState(() => {
    if (!options) return undefined;
    const getToken = options.getToken && ((req: Parameters<NonNullable<SessionOptions['getToken']>>[0]) => latest.current!.getToken!(req));
    return new Session({ ...options, ...(getToken ? { getToken } : {}) });
  });
  // Closed after the commit that unmounts it: StrictMode's simulated unmount and remount (in one
  // commit) cancels the close instead of leaving every room.
  const closing = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => {
    if (!own) return undefined;
    clearTimeout(closing.current);
    return () => {
      closing.current = setTimeout(() => own.close());
    };
  }, [own]);
  const session = own ?? provided;
  if (!session) throw new Error('useSession(): no options and no <SessionProvider> above');
  return session;
}

/** A joined room shared by the components using it, and its view. */
interface Shared {
  room: Room<unknown>;
  view: RoomView<unknown>;
  /** Mounted components using it (counted by their effects, never by renders). */
  users: number;
}
const joined = new WeakMap<Session, Map<string, Shared>>();

/** How long a room joined by a render whose component never mounted (React may render and
 * discard) stays joined before it is left. */
const UNMOUNTED_GRACE_MS = 2000;

/** The shared room `name` of `session`, joined if it is not (by the render that needs it first). */
function shared(session: Session, name: string, options: UseRoomOptions): Shared {
  let rooms = joined.get(session);
  if (!rooms) joined.set(session, (rooms = new Map()));
  // A room the server closed (kicked, banned, revoked) stays as it is, `closed` with its
  // `closeInfo`: a render does not join it again.
  let s = rooms.get(name);
  if (!s) {
    const room = session.join(name, options.join ?? {});
    s = { room, view: new RoomView(room, options), users: 0 };
    rooms.set(name, s);
    leaveIfUnused(session, name, s, UNMOUNTED_GRACE_MS);
  }
  return s;
}

/** Leaves the room after `ms` unless a mounted component uses it by then. */
function leaveIfUnused(session: Session, name: string, s: Shared, ms: number): void {
  setTimeout(() => {
    if (s.users > 0 || joined.get(session)?.get(name) !== s) return;
    joined.get(session)!.delete(name);
    s.view.dispose();
    if (session.rooms.get(name) === s.room) session.leave(name);
  }, ms);
}

export interface UseRoomOptions extends RoomViewOptions {
  /** The session (default: the nearest {@link SessionProvider}'s). */
  session?: Session;
  /** Options for this room's connection, over the session's (see `Session.join`). */
  join?: Partial<SessionOptions>;
}

/** What `useRoom` returns: the room's snapshot and what a UI does with it. */
export interface UseRoom<T = unknown> extends RoomSnapshot<T> {
  /** The room handle, for everything else (`history`, `on`, `direct`, …). */
  room: Room<T>;
  publish(data: T, options?: PublishOptions): Promise<Ack>;
  edit(seq: number, data: T, options?: PublishOptions): Promise<Ack>;
  remove(seq: number, options?: PublishOptions): Promise<Ack>;
  react(seq: number, emoji: string, on?: boolean, options?: PublishOptions): Promise<Ack>;
  /** Marks the room read up to `seq` (default: the newest message shown). Cheap to call on every
   * render or message: the handle sends at most one `read` frame per `readIntervalMs`. */
  markRead(seq?: number): void;
  /** Says this user is typing (`stop`: stopped); throttled by the client. */
  sendTyping(stop?: boolean): void;
}

/**
 * Joins `room` while the component is mounted (shared with every other component using the same
 * room of the same session) and re-renders on every change: state, messages (the newest
 * `limit`, edits, deletions and reactions applied; the recent past read from history when it
 * first opens), members, typing users, unread. `T`: the messages' data type.
 */
export function useRoom<T = unknown>(room: string, options: UseRoomOptions = {}): UseRoom<T> {
  const provided = useContext(SessionContext);
  const session = options.session ?? provided;
  if (!session) throw new Error('useRoom(): no `session` option and no <SessionProvider> above');
  const s = shared(session, room, options);
  useEffect(() => {
    s.users++;
    return () => {
      s.users--;
      // After the commit: StrictMode's second mount, or another component taking the room over
      // in the same commit, uses it again before this runs.
      leaveIfUnused(session, room, s, 0);
    };
  }, [session, room, s]);
  const view = s.view as unknown as RoomView<T>;
  const snapshot = useSyncExternalStore(view.subscribe, view.getSnapshot, view.getSnapshot);
  const handle = view.room;
  return useMemo(() => ({
    ...snapshot,
    room: handle,
    publish: (data: T, o?: PublishOptions) => handle.publish(data, o),
    edit: (seq: number, data: T, o?: PublishOptions) => handle.edit(seq, data, o),
    remove: (seq: number, o?: PublishOptions) => handle.delete(seq, o),
    react: (seq: number, emoji: string, on = true, o?: PublishOptions) => handle.react(seq, emoji, on, o),
    markRead: (seq?: number) => {
      const newest = seq ?? snapshot.messages[snapshot.messages.length - 1]?.seq;
      if (newest !== undefined) handle.markRead(newest);
    },
    sendTyping: (stop = false) => void handle.typing(stop),
  }), [snapshot, handle]);
}

/** Unread counts of the session's joined rooms: `{total, rooms: {name: count}}`, re-rendered on
 * every change (a message, a read on any of the user's devices, a room joined or left). */
export function useUnread(session?: Session): { total: number; rooms: Readonly<Record<string, number>> } {
  const provided = useContext(SessionContext);
  const chosen = session ?? provided;
  if (!chosen) throw new Error('useUnread(): no session given and no <SessionProvider> above');
  const store = useMemo(() => unreadStore(chosen), [chosen]);
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}

function unreadStore(session: Session) {
  let snapshot = compute();
  function compute() {
    const rooms: Record<string, number> = {};
    let total = 0;
    for (const [name, room] of session.rooms) {
      rooms[name] = room.unread;
      total += room.unread;
    }
    return Object.freeze({ total, rooms: Object.freeze(rooms) });
  }
  return {
    get: () => snapshot,
    subscribe(listener: () => void) {
      const perRoom = new Map<Room<unknown>, () => void>();
      const update = () => {
        const next = compute();
        if (JSON.stringify(next) === JSON.stringify(snapshot)) return;
        snapshot = next;
        listener();
      };
      const track = () => {
        for (const [room, stop] of perRoom) if (!session.rooms.has(room.name)) (stop(), perRoom.delete(room));
        for (const room of session.rooms.values()) if (!perRoom.has(room)) perRoom.set(room, room.on('unread', update));
        update();
      };
      const stopRooms = session.on('rooms', track);
      track();
      return () => {
        stopRooms();
        for (const stop of perRoom.values()) stop();
      };
    },
  };
}
