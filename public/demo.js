// The demo chat page, built on the client library (served as /edge-chat-client.js).
// Tokens come from /dev/token when the server runs with DEV_MODE=1; otherwise open the page
// with ?token=<jwt> (signed with your AUTH_SECRET) and, optionally, &room=<room>.
import { connect } from '/edge-chat-client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const givenToken = params.get('token');
if (params.get('room')) $('room').value = params.get('room');
if (params.get('name')) $('name').value = params.get('name');
let room;

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

let lastState;
function showState(state) {
  if (lastState === 'open' && state === 'reconnecting') addEvent('connection lost — reconnecting…');
  if (lastState === 'reconnecting' && state === 'open') addEvent('reconnected');
  lastState = state;
  const labels = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'closed' };
  $('state').textContent = labels[state] ?? state;
  $('state').className = `state ${state}`;
  $('state').dataset.state = state;
}

function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function addMessage(m) {
  if (document.querySelector(`#messages li[data-seq="${m.seq}"]`)) return; // already shown
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
  // Keep seq order even if history and live traffic interleave.
  const after = [...$('messages').children].find((x) => x.dataset.seq && Number(x.dataset.seq) > m.seq);
  $('messages').insertBefore(li, after ?? null);
  li.scrollIntoView({ block: 'end' });
}

function addEvent(text) {
  const li = document.createElement('li');
  li.className = 'event';
  li.textContent = `${time(Date.now())} ${text}`;
  $('messages').append(li);
}

function showMembers(members) {
  $('members').replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    li.textContent = m.user_id;
    li.dataset.user = m.user_id;
    return li;
  }));
}

async function devToken(user, roomName) {
  const res = await fetch(`/dev/token?${new URLSearchParams({ user, rooms: roomName })}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error((await res.json()).error?.message ?? res.statusText);
  return (await res.json()).token;
}

async function join(user, roomName) {
  let token = givenToken ?? (await devToken(user, roomName));
  if (!token) {
    notice('This server is not in DEV_MODE, so it cannot hand out demo tokens. Open this page with ?token=<jwt> — an HS256 token signed with the AUTH_SECRET, claims sub, exp and optionally rooms.');
    return;
  }
  notice('');
  // History first, so the page shows the recent past; the live connection then resumes
  // right after the newest message shown: no gap, no duplicate.
  const res = await fetch(`/rooms/${encodeURIComponent(roomName)}/messages?limit=50&token=${encodeURIComponent(token)}`);
  if (!res.ok) {
    notice(`Cannot read the room: ${(await res.json()).error?.message ?? res.status}`);
    return;
  }
  const page = await res.json();
  const history = page.messages.reverse();
  $('join').hidden = true;
  $('chat').hidden = false;
  $('room-name').textContent = roomName;
  history.forEach(addMessage);
  room = connect({
    url: location.origin,
    room: roomName,
    token,
    getToken: givenToken ? undefined : () => devToken(user, roomName),
    since: history.length ? history[history.length - 1].seq : 0,
  });
  room.on('state', showState);
  room.on('message', addMessage);
  room.on('members', showMembers);
  room.on('presence', (p) => addEvent(`${p.user_id} ${p.event === 'join' ? 'joined' : 'left'}`));
  room.on('gap', (g) => addEvent(`messages ${g.from}–${g.to} are no longer available`));
  room.on('error', (e) => addEvent(`error: ${e.code} — ${e.message}`));
  showState(room.state);
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
  room.publish({ text }).catch((err) => addEvent(`not sent: ${err.code ?? ''} ${err.message}`));
});

if (params.get('autojoin') && $('name').value) $('join').requestSubmit();
