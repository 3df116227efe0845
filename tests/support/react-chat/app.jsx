// A small chat page written with @edge-chat/client/react, as an application would: a session
// for the user (a token from the worker's DEV_MODE /dev/token), the active room's messages and
// composer, the users typing, and an unread badge for every other room the user is in. Bundled
// by tests/react_hooks.test.mjs with esbuild (React from npm, no CDN) and rendered in StrictMode,
// which mounts every effect twice: rooms must be joined once all the same.
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SessionProvider, useRoom, useSession, useUnread } from '@edge-chat/client/react';

const params = new URLSearchParams(location.search);
const me = params.get('name');
const active = params.get('room');
const others = (params.get('rooms') ?? '').split(',').filter(Boolean);

async function getToken() {
  const res = await fetch(`/dev/token?user=${encodeURIComponent(me)}`);
  return (await res.json()).token;
}

function Messages() {
  const room = useRoom(active);
  const [text, setText] = useState('');
  const send = async (e) => {
    e.preventDefault();
    const data = { text };
    setText('');
    await room.publish(data);
  };
  return (
    <main>
      <p id="state" data-state={room.state}>{room.state}</p>
      <ul id="messages">
        {room.messages.map((m) => (
          <li key={m.seq} data-seq={m.seq}>
            <b>{m.from.user_id}</b> <span className="text">{m.data?.text}</span>
          </li>
        ))}
      </ul>
      <p id="typing">{room.typing.join(', ')}</p>
      <form onSubmit={send}>
        <input id="text" value={text} onChange={(e) => (setText(e.target.value), room.sendTyping())} />
        <button id="send" type="submit">Send</button>
      </form>
    </main>
  );
}

/** Keeps a room joined while shown (for its unread count). */
function Joined({ room }) {
  useRoom(room);
  return null;
}

function Badges() {
  const unread = useUnread();
  return (
    <nav>
      {others.map((room) => (
        <span key={room} className="badge" data-room={room} data-unread={unread.rooms[room] ?? 0}>
          {room}: {unread.rooms[room] ?? 0}
        </span>
      ))}
      <span id="total" data-unread={unread.total}>{unread.total}</span>
    </nav>
  );
}

function App() {
  const session = useSession({ url: location.origin, getToken });
  return (
    <SessionProvider session={session}>
      {others.map((room) => <Joined key={room} room={room} />)}
      <Badges />
      <Messages />
    </SessionProvider>
  );
}

createRoot(document.getElementById('root')).render(<StrictMode><App /></StrictMode>);
