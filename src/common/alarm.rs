//! A Durable Object has one alarm. A room shares it between everything that must wake it at
//! a time of its own: retention (the oldest message expires), sessions (a `token_expiring`
//! notice or an expiry is due), webhooks (a retry is due, or the watchdog of waiting events),
//! closes (a client asked to close has not by its deadline: `crate::room::closing`), and later
//! anything else with a deadline. Each wake recomputes
//! every source and sets the alarm for the earliest; between wakes an alarm is only ever moved
//! earlier, never later, so no source's time is missed.

/// Wakes closer than this to the previous one are folded into it: at most one wake a second.
pub const MIN_ALARM_GAP_MS: u64 = 1_000;

/// The times (unix ms) the room's sources need it awake.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wakes {
    pub retention: Option<u64>,
    pub sessions: Option<u64>,
    pub webhooks: Option<u64>,
    pub closes: Option<u64>,
}

impl Wakes {
    /// When the next alarm must fire, computed during a wake at `now_ms`.
    pub fn next(&self, now_ms: u64) -> Option<u64> {
        [self.retention, self.sessions, self.webhooks, self.closes]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.max(now_ms + MIN_ALARM_GAP_MS))
    }
}

/// Whether an alarm already scheduled at `scheduled` must be moved to `wanted`: only earlier.
pub fn should_move(scheduled: Option<u64>, wanted: u64) -> bool {
    scheduled.is_none_or(|s| wanted < s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_source_wins_at_least_a_second_ahead() {
        let w = Wakes {
            retention: Some(50_000),
            sessions: Some(20_000),
            webhooks: Some(30_000),
            closes: None,
        };
        assert_eq!(w.next(0), Some(20_000));
        let hooks = Wakes {
            webhooks: Some(3_000),
            ..w
        };
        assert_eq!(hooks.next(0), Some(3_000));
        let close = Wakes {
            closes: Some(2_500),
            ..hooks
        };
        assert_eq!(close.next(0), Some(2_500));
        assert_eq!(w.next(19_900), Some(20_900), "never sooner than a second");
        assert_eq!(Wakes::default().next(0), None);
        let only = Wakes {
            retention: Some(7_000),
            ..Wakes::default()
        };
        assert_eq!(only.next(0), Some(7_000));
    }

    #[test]
    fn an_alarm_only_moves_earlier() {
        assert!(should_move(None, 10));
        assert!(should_move(Some(20), 10));
        assert!(!should_move(Some(10), 10) && !should_move(Some(5), 10));
    }
}
