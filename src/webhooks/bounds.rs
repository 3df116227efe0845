//! What keeps an object's outbox and dead letters bounded while a receiver fails.
//!
//! - **The backlog cap.** `WEBHOOK_MAX_BACKLOG_EVENTS` and `WEBHOOK_MAX_BACKLOG_BYTES` per
//!   object: past either, the oldest waiting events move to the dead letters, with reason
//!   `backlog` (nothing is dropped unsaid: an operator can list and re-queue them). The move
//!   goes down to nine tenths of the cap ([`Backlog::settled`]), so a full outbox pays for one
//!   move per tenth of its cap, not one per event.
//! - **Expiry.** A dead letter goes after `WEBHOOK_DEAD_LETTER_DAYS`; and message data follows
//!   history retention (`HISTORY_MAX_AGE_DAYS`): a waiting event or a dead letter holding an
//!   event older than that is deleted ([`Cutoffs`]).

use super::WebhookConfig;

/// Events waiting in one outbox: how many, and their bytes (as stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub events: u64,
    pub bytes: u64,
}

impl Backlog {
    pub fn plus(self, other: Backlog) -> Backlog {
        Backlog {
            events: self.events + other.events,
            bytes: self.bytes + other.bytes,
        }
    }

    pub fn minus(self, other: Backlog) -> Backlog {
        Backlog {
            events: self.events.saturating_sub(other.events),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }

    /// Past either cap: the oldest must move.
    pub fn over(self, c: &WebhookConfig) -> bool {
        self.events > c.max_backlog_events || self.bytes > c.max_backlog_bytes
    }

    /// Down to nine tenths of both caps: a move may stop here.
    pub fn settled(self, c: &WebhookConfig) -> bool {
        self.excess(c) == Backlog::default()
    }

    /// What is above nine tenths of each cap: what a move takes, at most.
    pub fn excess(self, c: &WebhookConfig) -> Backlog {
        let nine_tenths = |cap: u64| cap - cap / 10;
        Backlog {
            events: self
                .events
                .saturating_sub(nine_tenths(c.max_backlog_events)),
            bytes: self.bytes.saturating_sub(nine_tenths(c.max_backlog_bytes)),
        }
    }

    /// How much of the outbox's head one step of a move takes: a batch's worth
    /// ([`super::MAX_BATCH_EVENTS`], [`super::BATCH_BUDGET`]) or the excess, whichever is less
    /// (`(events, bytes)`; a step always takes at least one event).
    pub fn move_step(self, c: &WebhookConfig) -> (u64, u64) {
        let excess = self.excess(c);
        let cap = |excess: u64, batch: usize| match excess {
            0 => batch as u64,
            n => n.min(batch as u64),
        };
        (
            cap(excess.events, super::MAX_BATCH_EVENTS),
            cap(excess.bytes, super::BATCH_BUDGET),
        )
    }
}

/// The times (unix ms) before which stored rows expire at some moment; `None`: no such limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Dead letters given up on before this go (`WEBHOOK_DEAD_LETTER_DAYS`).
    pub dead: Option<u64>,
    /// Events recorded before this go, waiting or dead (`HISTORY_MAX_AGE_DAYS`).
    pub history: Option<u64>,
}

impl Cutoffs {
    pub fn at(now_ms: u64, c: &WebhookConfig) -> Cutoffs {
        let before = |age: u64| (age > 0).then(|| now_ms.saturating_sub(age));
        Cutoffs {
            dead: before(c.dead_letter_ms),
            history: before(c.history_max_age_ms),
        }
    }
}

/// When a row stored at `stored_ms` expires under a limit of `age_ms` (0: never).
pub fn expires_at(stored_ms: u64, age_ms: u64) -> Option<u64> {
    (age_ms > 0).then(|| stored_ms.saturating_add(age_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(events: u64, bytes: u64) -> WebhookConfig {
        WebhookConfig {
            max_backlog_events: events,
            max_backlog_bytes: bytes,
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn past_either_cap_the_backlog_moves_down_to_nine_tenths() {
        let c = caps(100, 1_000);
        let b = |events, bytes| Backlog { events, bytes };
        assert!(!b(100, 1_000).over(&c));
        assert!(b(101, 10).over(&c) && b(1, 1_001).over(&c));
        assert!(!b(91, 10).settled(&c) && !b(10, 901).settled(&c));
        assert!(b(90, 900).settled(&c));
        assert!(b(1, 1).settled(&caps(1, 1)), "a cap of one keeps one");
        assert_eq!(b(101, 10).excess(&c), b(11, 0));
        assert_eq!(
            b(101, 10).move_step(&c),
            (11, crate::webhooks::BATCH_BUDGET as u64)
        );
        assert_eq!(
            b(1_000, 10).move_step(&c),
            (100, crate::webhooks::BATCH_BUDGET as u64)
        );
        assert_eq!(
            b(5, 1_001).move_step(&c),
            (100, 101),
            "by bytes: no more than the excess"
        );
        assert_eq!(b(3, 30).plus(b(1, 5)).minus(b(10, 1)), b(0, 34));
    }

    #[test]
    fn cutoffs_follow_the_ages_and_zero_keeps_forever() {
        let c = WebhookConfig {
            dead_letter_ms: 1_000,
            history_max_age_ms: 0,
            ..WebhookConfig::default()
        };
        let cut = Cutoffs::at(5_000, &c);
        assert_eq!((cut.dead, cut.history), (Some(4_000), None));
        assert_eq!(Cutoffs::at(10, &c).dead, Some(0), "no underflow");
        assert_eq!(expires_at(7, 3), Some(10));
        assert_eq!(expires_at(7, 0), None);
    }
}
