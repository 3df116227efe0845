//! `--chatty`: what a chat app's clients add to the load besides messages (issue 14). Every
//! connection says it is typing every 2 s (a `typing` frame, relayed to the others by the
//! server at most once per user per `TYPING_INTERVAL_MS`), and marks the room read after every
//! WebSocket message that brought it messages (a `read` frame with the newest seq received, as
//! a client does after showing what arrived) — throttled as the TypeScript client's `markRead`
//! is (`readIntervalMs`, issue 24): at most one `read` per [`READ_EVERY`], the first at once,
//! the ones within the interval held and the newest seq sent when it ends. With
//! `--read-every-message` the old model, a naive client: one `read` per WebSocket message that
//! brought messages (one per `batch` with `--batch`, one per message without). The typing and
//! read frames it receives are counted, not verified.

use crate::connection::Sender;
use crate::plan::Window;
use futures_util::SinkExt;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

/// How often a chatty connection says it is typing.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// At most one `read` per connection this often: the TypeScript client's default
/// `readIntervalMs` (client/src/read-throttle.ts).
pub const READ_EVERY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Chatty {
    /// The newest seq received and the newest one marked read.
    newest: u64,
    marked: u64,
    /// The throttle's interval (zero: a read after every WebSocket message that brought any).
    read_every: Duration,
    /// When the last `read` went, and when a held one is due.
    last_read: Option<Instant>,
    due: Option<Instant>,
    pub typing_sent: u64,
    pub reads_sent: u64,
}

/// What to do with a read asked for now.
#[derive(Debug, PartialEq)]
enum ReadStep {
    /// Nothing new, or a read is already held (it will carry the newest seq).
    Nothing,
    /// Held until this instant.
    Hold(Instant),
    Send,
}

/// The typing ticker of connection `index` of `conns`: phases spread over the 2 s, so that
/// the connections do not all type at the same instant.
pub fn typing_ticker(window: Window, warmup: f64, index: usize, conns: usize) -> Interval {
    let phase = TYPING_EVERY.mul_f64((index % conns.max(1)) as f64 / conns.max(1) as f64);
    let start = window.measure_from - Duration::from_secs_f64(warmup) + phase;
    let mut tick = tokio::time::interval_at(start.into(), TYPING_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

impl Chatty {
    /// Reads throttled to one per `read_every` (zero: none held).
    pub fn new(read_every: Duration) -> Self {
        Chatty {
            read_every,
            ..Chatty::default()
        }
    }

    /// When a held read is due, if one is.
    pub fn read_due(&self) -> Option<Instant> {
        self.due
    }

    /// A message with this seq arrived.
    pub fn saw(&mut self, seq: u64) {
        self.newest = self.newest.max(seq);
    }

    pub async fn typing(&mut self, tx: &mut Sender) -> ControlFlow<()> {
        self.typing_sent += 1;
        send(tx, r#"{"type":"typing"}"#.to_owned()).await
    }

    /// After a WebSocket message: marks read what it brought, if anything new — now, or held
    /// to the end of the interval.
    pub async fn mark_read(&mut self, tx: &mut Sender, now: Instant) -> ControlFlow<()> {
        match self.step(now) {
            ReadStep::Nothing => ControlFlow::Continue(()),
            ReadStep::Hold(until) => {
                self.due = Some(until);
                ControlFlow::Continue(())
            }
            ReadStep::Send => self.send_read(tx, now).await,
        }
    }

    /// The held read's time came: the newest seq goes out.
    pub async fn read_held(&mut self, tx: &mut Sender, now: Instant) -> ControlFlow<()> {
        self.due = None;
        if self.newest <= self.marked {
            return ControlFlow::Continue(());
        }
        self.send_read(tx, now).await
    }

    fn step(&self, now: Instant) -> ReadStep {
        if self.newest <= self.marked || self.due.is_some() {
            return ReadStep::Nothing;
        }
        match self.last_read.map(|last| last + self.read_every) {
            Some(next) if now < next => ReadStep::Hold(next),
            _ => ReadStep::Send,
        }
    }

    async fn send_read(&mut self, tx: &mut Sender, now: Instant) -> ControlFlow<()> {
        self.marked = self.newest;
        self.last_read = Some(now);
        self.reads_sent += 1;
        send(tx, format!(r#"{{"type":"read","seq":{}}}"#, self.newest)).await
    }
}

async fn send(tx: &mut Sender, text: String) -> ControlFlow<()> {
    match tx.send(Message::text(text)).await {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_messages_are_marked_read() {
        let mut c = Chatty::default();
        c.saw(3);
        c.saw(2);
        assert_eq!(c.newest, 3);
        c.marked = 3;
        c.saw(3);
        assert!(c.newest <= c.marked, "nothing new: no read frame");
    }

    #[test]
    fn reads_within_the_interval_are_held_to_its_end() {
        let t0 = Instant::now();
        let mut c = Chatty::new(READ_EVERY);
        c.saw(1);
        assert_eq!(c.step(t0), ReadStep::Send, "the first read goes at once");
        (c.marked, c.last_read) = (1, Some(t0));
        c.saw(2);
        let later = t0 + Duration::from_millis(100);
        assert_eq!(c.step(later), ReadStep::Hold(t0 + READ_EVERY));
        c.due = Some(t0 + READ_EVERY);
        c.saw(3);
        assert_eq!(
            c.step(later),
            ReadStep::Nothing,
            "the held read will carry seq 3"
        );
        c.due = None;
        assert_eq!(c.step(t0 + READ_EVERY), ReadStep::Send);
    }

    #[test]
    fn read_every_message_holds_nothing() {
        let t0 = Instant::now();
        let mut c = Chatty::new(Duration::ZERO);
        (c.newest, c.marked, c.last_read) = (2, 1, Some(t0));
        assert_eq!(c.step(t0), ReadStep::Send);
    }
}
