// The member list: frozen, replaced on every change.

import type { Member, PresenceFrame } from './frames.js';

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
