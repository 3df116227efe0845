//! What every connection of a run shares: the arguments, one clock, the room names, who
//! publishes, and when the measured window opens and closes.

use crate::args::Args;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub struct Plan {
    pub args: Args,
    /// Send times in messages are µs since this instant (one clock for sender and receiver).
    pub start: Instant,
    pub prefix: String,
    /// How many connections publish (the first ones).
    pub publishers: usize,
    /// Signs each connection's token.
    pub tokens: crate::tokens::Tokens,
    /// Every room's acks, which decide when a connection has received everything.
    pub tally: crate::drain::Tally,
    /// Permits to open a connection (`--connect-concurrency`; `None`: no limit).
    pub opening: Option<tokio::sync::Semaphore>,
}

/// The measured window: load starts a warm-up before `measure_from`, rates and latencies are
/// recorded from it until `stop_at`, then everyone drains.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub measure_from: Instant,
    pub stop_at: Instant,
}

impl Window {
    /// The window of a run whose load starts now.
    pub fn after_warmup(args: &Args) -> Window {
        let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
        let stop_at = measure_from + Duration::from_secs_f64(args.duration);
        Window {
            measure_from,
            stop_at,
        }
    }

    pub fn contains(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.stop_at
    }
}

/// The go signal: `None` until every connection is welcomed, then the window.
pub type Go = watch::Receiver<Option<Window>>;

/// A prefix no earlier run used, so runs never share rooms.
pub fn random_room_prefix() -> String {
    format!("bench-{:x}", std::process::id() ^ (now_nanos() as u32))
}

pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
