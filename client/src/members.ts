// The member list: frozen, replaced on every change; and its pages over HTTP
// (`GET /rooms/{room}/members`), which complete a welcome that lists only the first users.

import type { Member, PresenceFrame } from './frames.js';
import { ChatError } from './errors.js';
import { getJson, type FetchLike } from './http.js';
import { httpBase, roomPath } from './urls.js';

export function frozenMembers(list: Member[]): Member[] {
  return Object.freeze(list.map((m) => Object.freeze({ ...m }))) as Member[];
}

/** The list after a presence frame: a join adds the user (sorted by user id) unless listed, a
 * leave removes them. An unchanged list is returned as it is. */
export function withPresence(members: Member[], p: PresenceFrame): Member[] {
  if (p.event === 'join') {
    if (members.some((m) => m.user_id === p.user_id)) return members;
    return frozenMembers([...members, { user_id: p.user_id, connections: 1 }].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)));
  }
  return frozenMembers(members.filter((m) => m.user_id !== p.user_id));
}

/** A member page query: the users after `after` (a user id; default: from the first), at most
 * `limit` (1–1000, server default 100). */
export interface MembersQuery {
  after?: string;
  limit?: number;
  signal?: AbortSignal;
}

/** A page of a room's members, ordered by user id. */
export interface MemberPage {
  /** Frozen, like `room.members`. */
  members: Member[];
  /** How many users the room has (the server's count when it answered). */
  memberCount: number;
  /** The `after` of the next page (the server's `next_after`); null: this was the last. */
  next: string | null;
}

export interface MembersOptions extends MembersQuery {
  /** The worker's base URL (http(s) or ws(s)). */
  url: string;
  room: string;
  /** A user token that may join the room (or the admin token). */
  token: string;
  fetch?: FetchLike;
}

/** The largest member page the server gives. */
export const MEMBER_PAGE_LIMIT = 1000;

/**
 * Reads a page of a room's members (`GET /rooms/{room}/members?after=&limit=`), the token in the
 * `Authorization` header. Rejects with a {@link ChatError}: the server's code and HTTP `status`
 * (401 `unauthorized`/`revoked`, 403 `forbidden`/`banned`, 400 `bad_request`, 429
 * `rate_limited`), `network_error`, `aborted` or `bad_response`.
 */
export async function fetchMembers(opts: MembersOptions): Promise<MemberPage> {
  const q = new URLSearchParams();
  if (opts.after !== undefined) q.set('after', opts.after);
  if (opts.limit !== undefined) q.set('limit', String(opts.limit));
  const query = q.toString();
  const url = `${httpBase(opts.url)}${roomPath(opts.room)}/members${query ? `?${query}` : ''}`;
  const { body, status } = await getJson(url, opts.token, opts.fetch, opts.signal);
  const page = body as { members?: unknown; member_count?: unknown; next_after?: unknown } | undefined;
  if (!page || !Array.isArray(page.members)) throw new ChatError('bad_response', 'the members answer has no `members`', undefined, status);
  return {
    members: frozenMembers(page.members as Member[]),
    memberCount: typeof page.member_count === 'number' ? page.member_count : page.members.length,
    next: typeof page.next_after === 'string' ? page.next_after : null,
  };
}
