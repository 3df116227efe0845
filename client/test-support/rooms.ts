// The rooms a unit test opens, tracked so that `afterEach` closes every one of them: a room left
// open keeps its timers (heartbeat, backoff, refresh) running into the next test.
import { connect, type ConnectOptions, type Room } from '../src/index.js';
import { FakeSocket } from './fake.js';

const opened: Room[] = [];

/** `connect(opts)`, remembered for [`closeOpened`]. */
export function open(opts: ConnectOptions): Room {
  const room = connect(opts);
  opened.push(room);
  return room;
}

/** Closes every room [`open`] made since the last call (call it first in `afterEach`). */
export function closeOpened(): void {
  for (const room of opened.splice(0)) room.close();
}

/** The newest fake socket any room opened. */
export const last = (): FakeSocket => FakeSocket.all[FakeSocket.all.length - 1];
