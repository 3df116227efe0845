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
    /// How many connections publish (the first ones, or every `publisher_stride`-th).
    pub publishers: usize,
    /// 1, or conns ÷ publishers with `--spread-publishers`.
    pub publisher_stride: usize,
    /// Signs each connection's token.
    pub tokens: crate::tokens::Tokens,
    /// Every room's acks, which decide when a connection has received everything.
    pub tally: crate::drain::Tally,
    /// Permits to open a connection (`--connect-concurrency`; `None`: no limit).
    pub opening: Option<tokio::sync::Semaphore>,
}

impl Plan {
    /// Whether connection `i` publishes.
    pub fn publishes(&self, i: usize) -> bool {
        publishes(i, self.publishers, self.publisher_stride)
    }

    /// Connection `i`'s place among the publishers (0 … publishers − 1), which spreads their
    /// publishes over the rate's period.
    pub fn publisher_ordinal(&self, i: usize) -> usize {
        i / self.publisher_stride.max(1)
    }
}

/// The stride between publishers among `conns` connections (1: the first ones publish).
pub fn publisher_stride(conns: usize, publishers: usize, spread: bool) -> usize {
    if spread && publishers > 0 {
        (conns / publishers).max(1)
    } else {
        1
    }
}

fn publishes(i: usize, publishers: usize, stride: usize) -> bool {
    let stride = stride.max(1);
    i.is_multiple_of(stride) && i / stride < publishers
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

#[cfg(test)]
mod tests {
    #[test]
    fn spread_publishers_are_every_stride_th_connection() {
        let stride = super::publisher_stride(5000, 20, true);
        assert_eq!(stride, 250);
        let who: Vec<usize> = (0..5000)
            .filter(|&i| super::publishes(i, 20, stride))
            .collect();
        assert_eq!(who.len(), 20);
        assert_eq!((who[0], who[1], who[19]), (0, 250, 4750));
        assert_eq!(super::publisher_stride(5000, 20, false), 1);
        let first: Vec<usize> = (0..50).filter(|&i| super::publishes(i, 3, 1)).collect();
        assert_eq!(first, [0, 1, 2]);
        assert_eq!(
            super::publisher_stride(10, 0, true),
            1,
            "no publisher: no stride"
        );
    }
}
