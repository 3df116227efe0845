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
import { connect, fetchHistory } from '/edge-chat-client.js';

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
let room;

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

function addMessage(m) {
  if (bySeq.has(m.seq)) return; // already shown (history and live traffic can overlap)
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
  text.textContent = typeof m.data?.text === 'string' ? m.data.text : JSON.stringify(m.data);
  li.append(t, who, text);
  bySeq.set(m.seq, li);
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
    default: return `The server closed the connection: ${c.reason} (${c.code}).${why}`;
  }
}

/** The person can no longer post: the field and its button are disabled. */
function stopComposing() {
  for (const el of [$('text'), $('compose').querySelector('button')]) el.disabled = true;
}

// ---- joining ------------------------------------------------------------------------------------

async function devToken(user, roomName) {
  const res = await fetch(`/dev/token?${new URLSearchParams({ user, rooms: roomName })}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error((await res.json()).error?.message ?? res.statusText);
  return (await res.json()).token;
}

async function join(user, roomName) {
  const token = givenToken ?? (await devToken(user, roomName));
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
  $('room-name').textContent = roomName;
  recent.forEach(addMessage);
  list.scrollTop = list.scrollHeight;
  room = connect({
    url: location.origin,
    room: roomName,
    token,
    getToken: givenToken ? undefined : () => devToken(user, roomName),
    since: recent.length ? recent[recent.length - 1].seq : 0,
  });
  room.on('state', showState);
  room.on('message', addMessage);
  room.on('members', showMembers);
  room.on('presence', (p) => addEvent(`${p.user_id} ${p.event === 'join' ? 'joined' : 'left'}`));
  room.on('gap', (g) => addEvent(g.reason === 'replay_limit'
    ? `messages ${g.from}–${g.to} could not be loaded — reload the page to see them`
    : `messages ${g.from}–${g.to} are no longer available`));
  room.on('reset', () => addEvent('the room started its message count over'));
  // Errors that carry an id belong to a publish: its rejection below reports them.
  room.on('error', (e) => e.id || addEvent(`error: ${e.code} — ${e.message}`, { problem: true }));
  room.on('disconnect', (d) => {
    if (d.code === 4001) {
      // The token ran out before it could be renewed in place: the client reconnects with a new one.
      addEvent('your session expired — reconnecting with a new token…');
      explainedLoss = true;
    } else if (d.code === 4003 || d.code === 4004 || d.code === 4005) {
      // Removed: the `closed` handler below says so.
    } else if (d.code === 1008) addEvent(`the server closed the connection: ${d.reason || 'policy violation'} (1008)`, { problem: true });
    else if (d.reason && d.code !== 1000 && d.code !== 4000) addEvent(`the server closed the connection: ${d.reason} (${d.code})`, { problem: true });
  });
  room.on('closed', (c) => {
    if (!c.byServer) return;
    notice(removal(c));
    addEvent(`removed from the room: ${c.reason}${c.message ? ` — ${c.message}` : ''}`, { problem: true });
    $('state').textContent = c.reason;
    stopComposing();
  });
  room.on('failed', (f) => notice(f.code === 'token_expired'
    ? 'Your token has expired. Open this page with a new ?token=<jwt> to continue.'
    : `Cannot connect to the room: ${f.message}. Reload the page to try again.`));
  showState(room.state);
  $('text').focus();
  window.chatRoom = room; // handy in the console, and for the end-to-end tests
}

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
  room.publish({ text }).catch((err) => addEvent(`not sent: ${err.code ?? ''} — ${err.message}`, { problem: true }));
});

if (params.get('autojoin') && $('name').value) $('join').requestSubmit();
