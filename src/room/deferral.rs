//! Presence coalesced across connects: what a connect sends to the others waits for the room's
//! next turn.
//!
//! A join storm into one room is quadratic: each newcomer's `join` goes to everyone already
//! there, so N joins are ~N²/2 frames — and, sent at once, as many sends (~10 µs each in the
//! runtime). A connect therefore sends at once only what is addressed to the newcomer itself
//! (`welcome`, a resume's replay) and **defers** what goes to the others. The deferred frames
//! go out at the start of the next turn that sends anything (a message, a close, a server call)
//! or, at the latest, on the flush the connect scheduled right after itself. They are planned
//! with that turn's other frames, so a `batch` connection gets the joins of a whole burst in
//! one frame, and a v1 connection gets exactly the frames it always got, in the same order.
//!
//! Who may still receive a deferred frame: a connection that opened after a `join` was deferred
//! already lists that user in its own `welcome`, so the join must not reach it. Each deferred
//! frame therefore remembers how many connections had opened when it was deferred, and leaves
//! out the ones opened after it ([`Recipients::AllExceptThese`]).

use crate::room::sends::TurnSends;
use crate::room::Recipients;

/// Frames a connect deferred, and the connections opened since the last flush.
#[derive(Debug, Default)]
pub struct Deferred {
    /// (recipients, frame, connections opened when it was deferred).
    items: Vec<(Recipients, String, usize)>,
    opened: Vec<String>,
    /// When the oldest deferred frame was deferred (unix ms).
    since_ms: Option<u64>,
}

/// A deferred frame waits at most this long, even if the flush a connect scheduled never runs:
/// the next connect sends it.
pub const DEFER_AT_MOST_MS: u64 = 50;

impl Deferred {
    /// A connection opened: deferred frames (older and newer) will not reach it unless they
    /// were deferred after it opened.
    pub fn opened(&mut self, connection_id: &str) {
        if !self.items.is_empty() {
            self.opened.push(connection_id.to_owned());
        }
    }

    /// Whether a frame for `to` can wait for the next turn: only frames to the others in the
    /// room (the newcomer's own frames go at once).
    pub fn can_defer(to: &Recipients) -> bool {
        matches!(to, Recipients::AllExcept(_))
    }

    /// Defers a frame for `to` (see [`Self::can_defer`]).
    pub fn defer(&mut self, to: Recipients, frame: String, now_ms: u64) {
        self.since_ms.get_or_insert(now_ms);
        self.items.push((to, frame, self.opened.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether a frame has waited longer than [`DEFER_AT_MOST_MS`].
    pub fn overdue(&self, now_ms: u64) -> bool {
        self.since_ms
            .is_some_and(|t| now_ms.saturating_sub(t) >= DEFER_AT_MOST_MS)
    }

    /// Puts every deferred frame at the front of `sends`, in the order deferred, each leaving
    /// out the connections opened after it; the deferral starts over.
    pub fn flush_into(&mut self, sends: &mut TurnSends) {
        let opened = std::mem::take(&mut self.opened);
        self.since_ms = None;
        let items = std::mem::take(&mut self.items)
            .into_iter()
            .map(|(to, frame, mark)| (left_out(to, &opened[mark..]), frame))
            .collect();
        sends.prepend(items);
    }
}

/// `to`, less the connections `later` (opened after the frame was deferred).
fn left_out(to: Recipients, later: &[String]) -> Recipients {
    match to {
        Recipients::AllExcept(own) if !later.is_empty() => {
            let mut these: Vec<String> = own.into_iter().chain(later.iter().cloned()).collect();
            these.sort_unstable();
            these.dedup();
            Recipients::AllExceptThese(these)
        }
        to => to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(own: &str) -> (Recipients, String) {
        (
            Recipients::AllExcept(Some(own.into())),
            format!("join {own}"),
        )
    }

    #[test]
    fn a_deferred_join_skips_its_own_connection_and_everyone_who_opened_after_it() {
        let mut d = Deferred::default();
        assert!(Deferred::can_defer(&join("a").0));
        assert!(!Deferred::can_defer(&Recipients::One("a".into())));
        d.opened("a"); // nothing deferred yet: nothing to remember
        let (to, frame) = join("a");
        d.defer(to, frame, 1_000);
        d.opened("b");
        let (to, frame) = join("b");
        d.defer(to, frame, 1_010);
        d.opened("c"); // a second tab of someone already here: no join of its own
        assert!(!d.overdue(1_049) && d.overdue(1_050));
        let mut out = TurnSends::default();
        out.push(Recipients::AllExcept(None), "message".into());
        d.flush_into(&mut out);
        assert!(d.is_empty() && !d.overdue(5_000));
        let items = out.items();
        assert_eq!(items.len(), 3);
        let (join_a, join_b) = (&items[0].0, &items[1].0);
        assert_eq!(items[0].1, "join a", "deferred frames go first, in order");
        assert_eq!(items[2].1, "message");
        for (c, gets_a, gets_b) in [
            ("old", true, true),
            ("a", false, true),
            ("b", false, false),
            ("c", false, false),
        ] {
            assert_eq!(join_a.includes(c, "u"), gets_a, "join a → {c}");
            assert_eq!(join_b.includes(c, "u"), gets_b, "join b → {c}");
        }
    }

    #[test]
    fn a_flush_starts_the_count_over() {
        let mut d = Deferred::default();
        let (to, frame) = join("a");
        d.defer(to, frame, 0);
        d.flush_into(&mut TurnSends::default());
        d.opened("b");
        let (to, frame) = join("c");
        d.defer(to, frame, 0);
        let mut out = TurnSends::default();
        d.flush_into(&mut out);
        assert!(
            out.items()[0].0.includes("b", "u"),
            "b opened before c's join"
        );
    }
}
