// The demo chat page, built on the client library (served as /edge-chat-client.js).
// Tokens come from /dev/token when the server runs with DEV_MODE=1; otherwise open the page
// with ?token=<jwt> (signed with your AUTH_SECRET) and, optionally, &room=<room>. The token is
// then removed from the address bar, and it is in no request URL: history reads send it in the
// Authorization header, and the WebSocket offers it as a subprotocol (the client library's
// default), as browsers cannot set WebSocket headers. After a long disconnection the library
// reads what one resume does not replay from history, so the page still shows every message.
// &keep=N changes how many items the list keeps (default 500). The client renews the token on
// the open connection before it expires; if the server removes the person (kicked, banned,
// revoked), the page says so and why, and stops (no reconnecting).
//
// A small real chat (issue 14): a sidebar of rooms with unread badges (the rooms where the
// person has read before, from /me/unread, plus &rooms=a,b and any added), one socket per
// room through one session (one token, one backoff, one heartbeat), "X is typing…", edit and
// delete on your own messages, reactions, "seen by" under the last message, and the room
// marked read while the page is visible.
import { createSession, fetchHistory, MessageStates } from '/edge-chat-client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const givenToken = params.get('token');
if (givenToken) {
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
}
if (params.get('room')) $('room').value = params.get('room');
if (params.get('name')) $('name').value = params.get('name');
// A long session stays fast: the list keeps at most this many items (the oldest go).
const KEEP = Math.min(5000, Math.max(20, Number(params.get('keep')) || 500));
let room; // the active room's handle
let session;
let me;
let token;
/** Per room: its handle, its messages' states, who is typing, each user's read cursor. */
const chats = new Map();
const REACTIONS = ['👍', '🎉', '❤️'];
const TYPING_SHOWN_MS = 5000;

// ---- notices: each one shown once ---------------------------------------------------------------

function notice(text) {
  const el = $('notice');
  if (el.textContent === text && el.hidden === !text) return; // already shown: not announced again
  el.textContent = text;
  el.hidden = !text;
}

// ---- the message list ---------------------------------------------------------------------------

const list = $('messages');
const bySeq = new Map(); // seq → li, for the items still in the list
let newestSeq = -Infinity;
let lastEvent; // the newest event item and its text, to fold repeats into one line

const clock = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const time = (ts) => clock.format(new Date(ts));

/** Whether the reader is at (or near) the bottom of the list: only then does it follow. */
function atBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 24;
}

/** Drops the oldest items beyond `limit`; with `keepView` (the reader is scrolled up) what
 * they see stays put. */
function trim(limit, keepView) {
  while (list.childElementCount > limit) {
    const first = list.firstElementChild;
    const height = keepView ? first.offsetHeight : 0;
    if (first.dataset.seq) bySeq.delete(Number(first.dataset.seq));
    first.remove();
    if (height) list.scrollTop -= height;
  }
}

/** Adds an item and follows the newest only when the reader was already at the bottom;
 * otherwise their place is kept and a button offers the jump. The list keeps KEEP items
 * (up to twice as many while the reader is scrolled up, so what they read does not vanish). */
function place(li, before = null) {
  const follow = atBottom();
  list.insertBefore(li, before);
  trim(follow ? KEEP : 2 * KEEP, !follow);
  if (follow) list.scrollTop = list.scrollHeight;
  else $('jump').hidden = false;
}

const textOf = (data) => (typeof data?.text === 'string' ? data.text : JSON.stringify(data));

/** Fills a message's item from its current state: text, edited/deleted, reactions, and the
 * edit and delete buttons on one's own messages. */
function render(li, s) {
  const text = li.querySelector('.text');
  text.textContent = s.deleted ? 'message deleted' : textOf(s.data);
  li.classList.toggle('deleted', s.deleted);
  li.querySelector('.edited').hidden = !s.edited || s.deleted;
  const reactions = li.querySelector('.reactions');
  reactions.replaceChildren(...(s.deleted ? [] : REACTIONS.map((emoji) => {
    const users = s.reactions[emoji] ?? [];
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.emoji = emoji;
    b.setAttribute('aria-pressed', String(users.includes(me)));
    b.setAttribute('aria-label', `${emoji} ${users.length}${users.length ? `: ${users.join(', ')}` : ''}`);
    b.textContent = users.length ? `${emoji} ${users.length}` : emoji;
    return b;
  })));
  li.querySelector('.actions').hidden = s.deleted || s.from.user_id !== me;
}

function addMessage(m) {
  const chat = chats.get(m.room) ?? activeChat();
  const state = chat?.states.message(m);
  if (bySeq.has(m.seq)) { // already shown (history and live traffic can overlap)
    if (state) render(bySeq.get(m.seq), state);
    return;
  }
  const li = document.createElement('li');
  li.dataset.seq = m.seq;
  const t = document.createElement('time');
  t.dateTime = new Date(m.ts).toISOString();
  t.textContent = time(m.ts);
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = m.from.server ? 'server' : m.from.user_id;
  const text = document.createElement('span');
  text.className = 'text';
  const edited = document.createElement('span');
  edited.className = 'edited';
  edited.textContent = '(edited)';
  const reactions = document.createElement('span');
  reactions.className = 'reactions';
  const actions = document.createElement('span');
  actions.className = 'actions';
  actions.innerHTML = '<button type="button" class="edit">Edit</button><button type="button" class="delete">Delete</button>';
  li.append(actions, t, who, text, edited, reactions);
  render(li, state ?? { data: m.data, reactions: {}, from: m.from, edited: false, deleted: false });
  bySeq.set(m.seq, li);
  showSeen();
  lastEvent = undefined;
  if (m.seq > newestSeq) {
    newestSeq = m.seq;
    place(li);
    return;
  }
  // Out of order (rare): walk back from the end to keep seq order.
  let after = list.lastElementChild;
  while (after && !(after.dataset.seq && Number(after.dataset.seq) < m.seq)) after = after.previousElementSibling;
  place(li, after ? after.nextElementSibling : list.firstElementChild);
}

/** An event line; the same text again right after it is counted on that line, not repeated. */
function addEvent(text, { problem = false } = {}) {
  if (lastEvent && lastEvent.text === text && lastEvent.li.isConnected) {
    lastEvent.count++;
    lastEvent.li.querySelector('.count').textContent = ` (×${lastEvent.count})`;
    return;
  }
  const li = document.createElement('li');
  li.className = problem ? 'event problem' : 'event';
  const body = document.createElement('span');
  body.textContent = `${time(Date.now())} ${text}`;
  const count = document.createElement('span');
  count.className = 'count';
  li.append(body, count);
  lastEvent = { text, li, count: 1 };
  place(li);
}

function toBottom() {
  trim(KEEP, false);
  list.scrollTop = list.scrollHeight;
  $('jump').hidden = true;
}
list.addEventListener('scroll', () => {
  if (!$('jump').hidden && atBottom()) toBottom();
});
$('jump').addEventListener('click', () => {
  toBottom();
  $('text').focus();
});

// ---- state and members --------------------------------------------------------------------------

let lastState;
let explainedLoss = false; // the disconnect already said why the connection went
function showState(state) {
  if (lastState === 'open' && state === 'reconnecting' && !explainedLoss) addEvent('connection lost — reconnecting…');
  explainedLoss = false;
  if (lastState === 'reconnecting' && state === 'open') addEvent('reconnected');
  lastState = state;
  const labels = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', failed: 'not connected', closed: 'closed' };
  $('state').textContent = labels[state] ?? state;
  $('state').className = `state ${state}`;
  $('state').dataset.state = state;
}

function showMembers(members) {
  $('members').replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    li.textContent = m.user_id;
    li.dataset.user = m.user_id;
    return li;
  }));
}

// ---- removed by the server ----------------------------------------------------------------------

/** What a removal means for the person, and the operator's reason when one was given. */
function removal(c) {
  const why = c.message ? ` The reason given: “${c.message}”.` : ' No reason was given.';
  switch (c.code) {
    case 4003: return `You were removed from this room by a moderator.${why} You may join again later: reload the page.`;
    case 4004: return `You were banned from this room.${why} You cannot join it again while the ban lasts.`;
    case 4005: return `Your access was revoked.${why} You need to sign in again (a new token) to come back.`;
    case 4006: return 'This room was deleted by an operator, with its history. Joining it again starts a new, empty room.';
    default: return `The server closed the connection: ${c.reason} (${c.code}).${why}`;
  }
}

/** The person can no longer post: the field and its button are disabled. */
function stopComposing() {
  for (const el of [$('text'), $('compose').querySelector('button')]) el.disabled = true;
}

// ---- joining ------------------------------------------------------------------------------------

async function devToken(user) {
  // One token for every room of the session (no `rooms` claim).
  const res = await fetch(`/dev/token?${new URLSearchParams({ user })}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error((await res.json()).error?.message ?? res.statusText);
  return (await res.json()).token;
}

// ---- rooms: one chat per room, the active one shown -----------------------------------------------

const activeChat = () => (room ? [...chats.values()].find((c) => c.room === room) : undefined);

/** The rooms with their unread badges; the active one marked. */
function renderRooms() {
  $('rooms').replaceChildren(...[...chats.values()].map((c) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.room = c.name;
    const active = c.room === room;
    b.setAttribute('aria-current', String(active));
    const name = document.createElement('span');
    name.textContent = c.name;
    b.append(name);
    const n = active ? 0 : c.room.unread;
    if (n > 0) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = String(n);
      badge.setAttribute('aria-label', `${n} unread`);
      b.append(badge);
    }
    li.append(b);
    return li;
  }));
}

/** "X is typing…" for the active room: users heard from within the last 5 s. */
function showTyping() {
  const chat = activeChat();
  const now = Date.now();
  const who = chat ? [...chat.typing].filter(([, at]) => now - at < TYPING_SHOWN_MS).map(([u]) => u) : [];
  $('typing').textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
}
setInterval(showTyping, 1000);

/** "Seen by …" under the last message: the others whose read cursor has reached it. */
function showSeen() {
  const chat = activeChat();
  const last = Math.max(-1, ...[...bySeq.keys()]);
  const who = chat && last > 0 ? [...chat.cursors].filter(([u, seq]) => u !== me && seq >= last).map(([u]) => u) : [];
  $('seen').textContent = who.length ? `Seen by ${who.join(', ')}` : '';
}

/** Marks the active room read up to what this page has, when the page is visible. */
function markRead() {
  if (room && document.visibilityState === 'visible' && room.lastSeq) room.markRead(room.lastSeq);
}
document.addEventListener('visibilitychange', markRead);

/** A frame of the room's history or replay: messages shown, events applied to them. */
function fromLog(chat, f) {
  if (f.type === 'message') return chat.room === room ? addMessage(f) : chat.states.message(f);
  const state = chat.states.event(f);
  if (state && chat.room === room && bySeq.has(f.target)) render(bySeq.get(f.target), state);
}

/** Opens `name`'s socket in the session (once) and wires its events. */
function openChat(name, since) {
  if (chats.has(name)) return chats.get(name);
  const handle = session.join(name, since !== undefined ? { since } : {});
  const chat = { name, room: handle, states: new MessageStates(), typing: new Map(), cursors: new Map(), loaded: since !== undefined };
  chats.set(name, chat);
  const active = () => chat.room === room;
  handle.on('message', (m) => {
    chat.typing.delete(m.from.user_id);
    fromLog(chat, m);
    if (active()) {
      showTyping();
      markRead();
    }
  });
  for (const event of ['edit', 'delete', 'reaction']) handle.on(event, (e) => fromLog(chat, e));
  handle.on('typing', (t) => {
    if (t.stop) chat.typing.delete(t.user_id);
    else chat.typing.set(t.user_id, Date.now());
    if (active()) showTyping();
  });
  handle.on('read', (r) => {
    chat.cursors.set(r.user_id, r.seq);
    if (active()) showSeen();
  });
  handle.on('unread', renderRooms);
  handle.on('welcome', () => active() && markRead());
  wireRoom(handle, active);
  renderRooms();
  return chat;
}

/** Switches the page to `name`: its messages (its history on first visit), members, state. */
async function activate(name) {
  const chat = chats.get(name) ?? openChat(name);
  room = chat.room;
  window.chatRoom = room; // handy in the console, and for the end-to-end tests
  $('room-name').textContent = name;
  list.replaceChildren();
  bySeq.clear();
  newestSeq = -Infinity;
  lastEvent = undefined;
  [...chat.states.bySeq.values()].sort((a, b) => a.seq - b.seq).forEach((s) => addMessage({ ...s, type: 'message', room: name, reactions: s.reactions, edited: s.edited || undefined, deleted: s.deleted || undefined }));
  if (!chat.loaded) {
    chat.loaded = true;
    const page = await fetchHistory({ url: location.origin, room: name, token: await sessionToken(), limit: 50 }).catch(() => ({ messages: [] }));
    page.messages.reverse().forEach((f) => fromLog(chat, f));
  }
  list.scrollTop = list.scrollHeight;
  showState(room.state);
  showMembers(room.members);
  showTyping();
  showSeen();
  renderRooms();
  markRead();
  $('text').focus();
}

const sessionToken = async () => (givenToken ? givenToken : (await devToken(me)) ?? token);

/** The room's life cycle, shown while it is the active one. */
function wireRoom(handle, active) {
  handle.on('state', (s) => active() && showState(s));
  handle.on('members', (m) => active() && showMembers(m));
  handle.on('presence', (p) => active() && addEvent(`${p.user_id} ${p.event === 'join' ? 'joined' : 'left'}`));
  handle.on('gap', (g) => active() && addEvent(g.reason === 'replay_limit'
    ? `messages ${g.from}–${g.to} could not be loaded — reload the page to see them`
    : `messages ${g.from}–${g.to} are no longer available`));
  handle.on('reset', () => active() && addEvent('the room started its message count over'));
  // Errors that carry an id belong to a publish: its rejection below reports them.
  handle.on('error', (e) => active() && (e.id || addEvent(`error: ${e.code} — ${e.message}`, { problem: true })));
  handle.on('disconnect', (d) => {
    if (!active()) return;
    if (d.code === 4001) {
      // The token ran out before it could be renewed in place: the client reconnects with a new one.
      addEvent('your session expired — reconnecting with a new token…');
      explainedLoss = true;
    } else if (d.code === 4003 || d.code === 4004 || d.code === 4005 || d.code === 4006) {
      // Removed: the `closed` handler below says so.
    } else if (d.code === 1008) addEvent(`the server closed the connection: ${d.reason || 'policy violation'} (1008)`, { problem: true });
    else if (d.reason && d.code !== 1000 && d.code !== 4000) addEvent(`the server closed the connection: ${d.reason} (${d.code})`, { problem: true });
  });
  handle.on('closed', (c) => {
    if (!c.byServer || !active()) return;
    notice(removal(c));
    addEvent(`removed from the room: ${c.reason}${c.message ? ` — ${c.message}` : ''}`, { problem: true });
    $('state').textContent = c.reason;
    stopComposing();
  });
  handle.on('failed', (f) => active() && notice(f.code === 'token_expired'
    ? 'Your token has expired. Open this page with a new ?token=<jwt> to continue.'
    : `Cannot connect to the room: ${f.message}. Reload the page to try again.`));
}

/** The rooms where this person has read before (their badges), besides the ones asked for. */
async function knownRooms() {
  try {
    const res = await fetch('/me/unread', { headers: { authorization: `Bearer ${token}` } });
    return res.ok ? Object.keys((await res.json()).rooms) : [];
  } catch {
    return [];
  }
}

async function join(user, roomName) {
  me = user;
  token = givenToken ?? (await devToken(user));
  if (!token) {
    notice('This server is not in DEV_MODE, so it cannot hand out demo tokens. Open this page with ?token=<jwt> — an HS256 token signed with the AUTH_SECRET, claims sub, exp and optionally rooms.');
    return;
  }
  notice('');
  // History first, so the page shows the recent past; the live connection then resumes
  // right after the newest message shown: no gap, no duplicate. The token goes in the
  // Authorization header, not in the URL (which ends up in logs).
  let page;
  try {
    page = await fetchHistory({ url: location.origin, room: roomName, token, limit: 50 });
  } catch (err) {
    notice(`Cannot read the room: ${err.message}`);
    $('name').focus();
    return;
  }
  const recent = page.messages.reverse(); // oldest first
  $('join').hidden = true;
  $('chat').hidden = false;
  session = createSession({ url: location.origin, token, getToken: givenToken ? undefined : () => devToken(user) });
  const chat = openChat(roomName, recent.length ? recent[recent.length - 1].seq : 0);
  room = chat.room;
  window.chatRoom = room; // handy in the console, and for the end-to-end tests
  $('room-name').textContent = roomName;
  recent.forEach((f) => fromLog(chat, f));
  list.scrollTop = list.scrollHeight;
  showState(room.state);
  $('text').focus();
  markRead();
  const extra = (params.get('rooms') ?? '').split(',').filter(Boolean);
  for (const name of new Set([...extra, ...(await knownRooms())])) if (!chats.has(name)) openChat(name);
  renderRooms();
}

$('rooms').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-room]');
  if (b && chats.get(b.dataset.room)?.room !== room) activate(b.dataset.room).catch((err) => notice(String(err)));
});

$('add-room').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('new-room').value.trim();
  if (!name || !$('new-room').checkValidity()) return;
  $('new-room').value = '';
  activate(name).catch((err) => notice(String(err)));
});

// Edit, delete and react on a message (own messages only for the first two).
list.addEventListener('click', (e) => {
  const li = e.target.closest('li[data-seq]');
  const b = e.target.closest('button');
  if (!li || !b || !room) return;
  const seq = Number(li.dataset.seq);
  const report = (err) => addEvent(`not done: ${err.code ?? ''} — ${err.message}`, { problem: true });
  if (b.classList.contains('edit')) {
    const now = li.querySelector('.text').textContent;
    const text = prompt('Edit your message', now);
    if (text !== null && text.trim() && text !== now) room.edit(seq, { text: text.trim() }).catch(report);
  } else if (b.classList.contains('delete')) {
    room.delete(seq).catch(report);
  } else if (b.dataset.emoji) {
    room.react(seq, b.dataset.emoji, b.getAttribute('aria-pressed') !== 'true').catch(report);
  }
});

$('text').addEventListener('input', () => room?.typing());

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('name').value.trim(), $('room').value.trim()).catch((err) => notice(String(err)));
});

$('compose').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || !room) return;
  $('text').value = '';
  // Queued by the client while offline, re-sent after reconnect under the same id.
  room.typing(true);
  room.publish({ text }).catch((err) => addEvent(`not sent: ${err.code ?? ''} — ${err.message}`, { problem: true }));
});

if (params.get('autojoin') && $('name').value) $('join').requestSubmit();
