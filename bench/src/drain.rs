//! When a connection is done: the end of a run, exact rather than guessed.
//!
//! A connection stops publishing at the stop, waits for its own outstanding acks, and then
//! waits until it holds every message its room acked — a number known only once *every*
//! connection's acks are in ([`Tally`]). Only then does it close. A delivery still missing at
//! the deadline (20 s after the stop: acks and deliveries of a saturated local server lag by
//! ~1.5–2 s in the 100 rooms × 8 cell) is a loss, not a delivery still in flight.
//!
//! The rule this replaces ended each connection after a quiet second following its own acks.
//! With 800 connections on a saturated server, a member could go a second without a frame
//! while other members' publishes of its room were still queued, and their deliveries were
//! counted missing for every peer. The drain still measures that: [`Drain::heard`] records the
//! longest silence after a connection's own acks, and which deliveries arrived after a silence
//! of [`OLD_QUIET`] (the ones the old rule missed), so a report says how close a run came.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long after the stop a connection waits at most, for its acks and then its deliveries.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often a drained connection looks whether the others are done (their acks decide what
/// it must still receive).
const POLL: Duration = Duration::from_millis(50);
/// The quiet time the old end of run waited for after a connection's own acks.
pub const OLD_QUIET: Duration = Duration::from_secs(1);

/// The acks of the whole run, per room, and which connections may still add to them.
pub struct Tally {
    acked: Vec<AtomicU64>,
    settled: Vec<AtomicBool>,
    unsettled: AtomicUsize,
}

impl Tally {
    pub fn new(rooms: usize, conns: usize) -> Self {
        Tally {
            acked: (0..rooms.max(1)).map(|_| AtomicU64::new(0)).collect(),
            settled: (0..conns).map(|_| AtomicBool::new(false)).collect(),
            unsettled: AtomicUsize::new(conns),
        }
    }

    /// One of the room's publishes was acked.
    pub fn acked(&self, room: usize) {
        self.acked[room % self.acked.len()].fetch_add(1, Ordering::SeqCst);
    }

    /// Connection `index` will count no more acks (its own are in, it gave up, or it never
    /// connected). Idempotent.
    pub fn settle(&self, index: usize) {
        let was = self
            .settled
            .get(index)
            .map(|s| s.swap(true, Ordering::SeqCst));
        if was == Some(false) {
            self.unsettled.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The room's acked messages, once every connection has settled (final), else `None`.
    pub fn expected(&self, room: usize) -> Option<u64> {
        (self.unsettled.load(Ordering::SeqCst) == 0)
            .then(|| self.acked[room % self.acked.len()].load(Ordering::SeqCst))
    }
}

/// One connection's end of run.
pub struct Drain {
    stop_at: Instant,
    deadline: Instant,
    /// When this connection's own acks were all in (after the stop).
    settled_at: Option<Instant>,
    last_heard: Option<Instant>,
    /// The longest silence after this connection's own acks, and whether one reached
    /// [`OLD_QUIET`] (every delivery after it would have been counted missing).
    pub longest_gap: Duration,
    pub past_old_cutoff: bool,
}

impl Drain {
    pub fn new(stop_at: Instant) -> Self {
        Drain {
            stop_at,
            deadline: stop_at + DEADLINE,
            settled_at: None,
            last_heard: None,
            longest_gap: Duration::ZERO,
            past_old_cutoff: false,
        }
    }

    /// When to look again if nothing arrives, or `None` when the connection is done: it holds
    /// `have` distinct messages of its room and the room acked that many (or the deadline
    /// passed). Settles connection `index` in `tally` once its `outstanding` acks are in.
    pub fn wake_at(
        &mut self,
        now: Instant,
        outstanding: usize,
        have: u64,
        tally: &Tally,
        (index, room): (usize, usize),
    ) -> Option<Instant> {
        if now < self.stop_at {
            return Some(self.stop_at);
        }
        if now >= self.deadline {
            return None;
        }
        if outstanding > 0 {
            return Some(self.deadline);
        }
        if self.settled_at.is_none() {
            tally.settle(index);
            self.settled_at = Some(now);
            self.last_heard = Some(now);
        }
        match tally.expected(room) {
            Some(expected) if have >= expected => None,
            _ => Some((now + POLL).min(self.deadline)),
        }
    }

    /// A WebSocket message arrived: after this connection's own acks, the silence before it
    /// is measured.
    pub fn heard(&mut self, arrived: Instant) {
        let Some(last) = self.last_heard else {
            return;
        };
        let gap = arrived.saturating_duration_since(last);
        self.longest_gap = self.longest_gap.max(gap);
        self.past_old_cutoff |= gap >= OLD_QUIET;
        self.last_heard = Some(arrived);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_count_is_known_once_every_connection_settled() {
        let tally = Tally::new(2, 3);
        tally.acked(0);
        tally.acked(0);
        tally.acked(1);
        tally.settle(0);
        tally.settle(0); // twice counts once
        tally.settle(1);
        assert_eq!(tally.expected(0), None);
        tally.settle(2);
        assert_eq!((tally.expected(0), tally.expected(1)), (Some(2), Some(1)));
    }

    #[test]
    fn a_connection_ends_when_it_holds_everything_its_room_acked() {
        let stop = Instant::now() + Duration::from_secs(5);
        let tally = Tally::new(1, 2);
        let mut drain = Drain::new(stop);
        assert_eq!(
            drain.wake_at(stop - Duration::from_secs(1), 0, 0, &tally, (0, 0)),
            Some(stop)
        );
        // After the stop, its own outstanding acks are awaited until the deadline.
        let after = stop + Duration::from_millis(10);
        let wait = drain.wake_at(after, 1, 0, &tally, (0, 0));
        assert_eq!(wait, Some(stop + DEADLINE));
        // Its acks are in, but the other connection's are not: it keeps listening, however
        // quiet the socket (the old rule gave up after a quiet second).
        tally.acked(0);
        tally.acked(0);
        let later = after + Duration::from_secs(3);
        assert_eq!(
            drain.wake_at(after, 0, 2, &tally, (0, 0)),
            Some(after + POLL)
        );
        assert_eq!(
            drain.wake_at(later, 0, 2, &tally, (0, 0)),
            Some(later + POLL)
        );
        // The other one settles with one more ack: 3 expected, 2 held, then 3.
        tally.acked(0);
        tally.settle(1);
        assert_eq!(
            drain.wake_at(later, 0, 2, &tally, (0, 0)),
            Some(later + POLL)
        );
        drain.heard(later + Duration::from_millis(20));
        assert_eq!(drain.wake_at(later, 0, 3, &tally, (0, 0)), None);
        assert!(
            drain.past_old_cutoff,
            "3 s of silence: the old rule had stopped listening"
        );
        assert!(drain.longest_gap >= Duration::from_secs(3));
        // Missing at the deadline: done, and what is missing is a loss.
        assert_eq!(drain.wake_at(stop + DEADLINE, 0, 0, &tally, (0, 0)), None);
    }
}
