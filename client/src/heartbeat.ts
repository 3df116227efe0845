// The heartbeat: `ping` on a timer; a connection silent past the timeout is dead.

import { OPEN, type SocketLike } from './socket.js';
import { every, later, reachable } from './timers.js';

export interface HeartbeatOptions {
  /** `ping` every this many ms (default 20000; 0 or `Infinity` disables the heartbeat). */
  intervalMs?: number;
  /** Dead after this many ms without any frame (default 10000; `Infinity`: never). */
  timeoutMs?: number;
}

/**
 * Pings one connection at a time. `current()` says which socket is the room's current one: a
 * timer of an older socket does nothing. `dead()` is called when the current socket stayed
 * silent past the timeout after a ping.
 */
export class Heartbeat {
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly opts: HeartbeatOptions | undefined,
    private readonly current: () => SocketLike | undefined,
    private readonly dead: () => void,
    /** A session's one timer, shared by its rooms (instead of one interval per room). */
    private readonly schedule?: HeartbeatSchedule,
  ) {}

  private get intervalMs(): number {
    return this.opts?.intervalMs ?? 20000;
  }

  /** Starts pinging `ws` (once it is open). */
  arm(ws: SocketLike): void {
    const interval = this.intervalMs;
    if (interval <= 0 || !reachable(interval)) return; // disabled
    if (this.schedule) return this.schedule.add(this, ws);
    clearInterval(this.pingTimer);
    this.pingTimer = every(() => this.check(ws), interval);
  }

  /** Sends `ping`; if nothing at all arrives within the timeout, `dead()` is called. */
  check(ws: SocketLike): void {
    if (this.intervalMs <= 0 || !reachable(this.intervalMs) || ws !== this.current() || ws.readyState !== OPEN) return;
    ws.send('ping');
    if (this.deadTimer === undefined) {
      this.deadTimer = later(() => {
        this.deadTimer = undefined;
        // Silent past the timeout: assume the path is dead (its eventual close event is
        // ignored once it is no longer the current socket).
        if (ws === this.current()) this.dead();
      }, this.opts?.timeoutMs ?? 10000);
    }
  }

  /** Something arrived: the connection is alive. */
  alive(): void {
    clearTimeout(this.deadTimer);
    this.deadTimer = undefined;
  }

  stop(): void {
    this.schedule?.remove(this);
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.pingTimer = this.deadTimer = undefined;
  }
}

/**
 * One ping schedule for many connections (a session's rooms): a single interval pings every
 * armed connection at once, so a user in ten rooms wakes the radio once per interval, not ten
 * times at scattered moments. The timer runs only while some connection is armed.
 */
export class HeartbeatSchedule {
  private readonly armed = new Map<Heartbeat, SocketLike>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs = 20000) {}

  get size(): number {
    return this.armed.size;
  }

  add(hb: Heartbeat, ws: SocketLike): void {
    this.armed.set(hb, ws);
    if (this.timer === undefined && this.intervalMs > 0) {
      this.timer = every(() => {
        for (const [h, s] of [...this.armed]) h.check(s);
      }, this.intervalMs);
    }
  }

  remove(hb: Heartbeat): void {
    if (!this.armed.delete(hb) || this.armed.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
