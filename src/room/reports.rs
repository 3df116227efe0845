//! Reports that coalesce: at most one in flight, and the latest state always sent last.
//!
//! A room reports its connection count to its stats shard after every change. During a
//! connect storm that is hundreds of changes a second; sending each would queue hundreds of
//! sub-requests to one shard. Instead the first change starts a report task that sends at
//! once; changes while it is in flight only mark it dirty; when the report completes, the task
//! waits [`REPORT_INTERVAL_MS`] and sends once more if anything changed meanwhile (reading the
//! state afresh), else it ends. So a reporter sends at most one report per interval however its
//! changes are spaced, and a quiet one sends its change at once. (The wait keeps the object
//! in memory for that second: duration, not requests.)

/// The least time between two reports of one reporter while changes keep coming. The totals
/// they feed (`GET /stats`) are eventually consistent anyway; this bounds their cost.
pub const REPORT_INTERVAL_MS: u64 = 1_000;

/// How long after the turn that caused them the room's background reports to other objects
/// (its total to its stats shard, read states and authors to registry shards) start. The turn's
/// commit and sends go first: a report's request is work of the room's own thread, and locally
/// the shard it wakes runs on that thread too — the first message after a wake, which starts
/// both reports, measured ~4–6 ms slower for them (issue 24, the wake-cost scenario). Reports
/// are eventually consistent; this moves them by a tenth of a second.
pub const BOOKKEEPING_DELAY_MS: u64 = 100;

/// How long the report of a user's last close in a room waits before it goes to the user's
/// registry shard. A page reload, a network blip or a client's resume comes back within it
/// and costs the registry nothing — no report out, none back in, and the reconnect is checked
/// by the room alone (the shard still counts the user there: `shell/room/counted_users.rs`);
/// a wave of leaves (everyone closing a tab at the end of an event) goes out as one batch per
/// shard. The price: the shard's presence (`GET /stats` users online, per-user delivery's
/// list of rooms) lags a close by this long — reads that must be exact (`GET /users/{user}`,
/// deliveries) ask the rooms anyway.
pub const LEAVE_HOLD_MS: u64 = 1_000;

/// The bookkeeping of one coalesced report stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CoalescedReport {
    in_flight: bool,
    dirty: bool,
}

impl CoalescedReport {
    /// Something changed. `true`: the caller must start a report task (none is in flight);
    /// `false`: the task in flight will send the change.
    pub fn changed(&mut self) -> bool {
        if self.in_flight {
            self.dirty = true;
            return false;
        }
        self.in_flight = true;
        true
    }

    /// The task's report completed and the interval passed. `true`: send again (something
    /// changed meanwhile); `false`: the task ends and the next change starts a new one.
    pub fn sent(&mut self) -> bool {
        if self.dirty {
            self.dirty = false;
            return true;
        }
        self.in_flight = false;
        false
    }

    /// The task gave up (e.g. the state it reports is gone): the next change starts anew.
    pub fn abandoned(&mut self) {
        *self = CoalescedReport::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_at_a_time_and_the_last_change_is_sent() {
        let mut r = CoalescedReport::default();
        assert!(r.changed(), "the first change starts a task");
        assert!(!r.changed() && !r.changed(), "changes in flight are folded");
        assert!(r.sent(), "so the task sends once more");
        assert!(!r.sent(), "and then ends");
        assert!(r.changed(), "the next change starts a new task");
        assert!(!r.sent());
    }

    #[test]
    fn an_abandoned_task_lets_the_next_change_start_one() {
        let mut r = CoalescedReport::default();
        assert!(r.changed());
        assert!(!r.changed());
        r.abandoned();
        assert!(r.changed());
    }
}
