//! `--chatty`: what a chat app's clients add to the load besides messages (issue 14). Every
//! connection says it is typing every 2 s (a `typing` frame, relayed to the others by the
//! server at most once per user per `TYPING_INTERVAL_MS`), and marks the room read after every
//! WebSocket message that brought it messages (a `read` frame with the newest seq received, as
//! a client does after showing what arrived: one per `batch` with `--batch`, one per message
//! without). The typing and read frames it receives are counted, not verified.

use crate::connection::Sender;
use crate::plan::Window;
use futures_util::SinkExt;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

/// How often a chatty connection says it is typing.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Chatty {
    /// The newest seq received and the newest one marked read.
    newest: u64,
    marked: u64,
    pub typing_sent: u64,
    pub reads_sent: u64,
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
    /// A message with this seq arrived.
    pub fn saw(&mut self, seq: u64) {
        self.newest = self.newest.max(seq);
    }

    pub async fn typing(&mut self, tx: &mut Sender) -> ControlFlow<()> {
        self.typing_sent += 1;
        send(tx, r#"{"type":"typing"}"#.to_owned()).await
    }

    /// After a WebSocket message: marks read what it brought, if anything new.
    pub async fn mark_read(&mut self, tx: &mut Sender) -> ControlFlow<()> {
        if self.newest <= self.marked {
            return ControlFlow::Continue(());
        }
        self.marked = self.newest;
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
}
