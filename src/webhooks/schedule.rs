//! When a failed POST is retried, and when a batch is given up on.
//!
//! The first attempt goes right after the commit. After attempt `k` fails, the next waits
//! `min(1 min × 2^(k−1), 8 h)`: 1, 2, 4, 8, 16, 32, 64, 128, 256 minutes, then 8 h, 8 h — with
//! the default 12 attempts, the last about 24.5 h after the first. Then the batch is a dead
//! letter. `WEBHOOK_RETRY_SCALE` (honoured with `DEV_MODE=1` only) multiplies every wait, so
//! tests can go through the whole schedule in seconds.
//!
//! **The schedule follows the events' age, not the batch's.** When a batch dies, the events
//! behind it have waited through the same failures: those recorded a whole schedule ago or
//! earlier ([`schedule_span_ms`]) die with it, without an attempt of their own, and the next
//! batch goes on where an event of its age would be in the schedule ([`attempts_by_age`]) —
//! not on a fresh one. Otherwise a receiver that stays down makes the outbox drain one batch
//! per ~day, far slower than anything arrives.

/// A POST that has not answered after this long has failed (and is aborted).
pub const TIMEOUT_MS: u64 = 10_000;
/// At most this much of a receiver's answer is read (the status decides; the body is
/// dropped): the rest is not waited for.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
const FIRST_RETRY_MS: u64 = 60_000;
const MAX_RETRY_MS: u64 = 8 * 3_600_000;
/// While events wait, the object keeps an alarm at most this far ahead, so that delivery
/// resumes after anything that stopped it (a crash, a restart) without another event. The
/// alarm then finds an empty outbox almost always (delivery takes milliseconds): a longer
/// watchdog means fewer such idle wakes (at most one per this period of activity per room),
/// a shorter one a faster recovery from the rare crash.
const WATCHDOG_MS: u64 = 300_000;

/// How long to wait after `attempts` failed attempts (≥ 1) before the next.
pub fn retry_delay_ms(attempts: u32, scale: f64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    let delay = FIRST_RETRY_MS
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_MS);
    scaled(delay, scale)
}

/// The watchdog's distance (see `WATCHDOG_MS`).
pub fn watchdog_ms(scale: f64) -> u64 {
    scaled(WATCHDOG_MS, scale)
}

fn scaled(ms: u64, scale: f64) -> u64 {
    ((ms as f64) * scale).round().max(1.0) as u64
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try again at this time (unix ms); `attempts` failed so far.
    Retry { attempts: u32, at: u64 },
    /// `attempts` have failed: the batch becomes a dead letter.
    DeadLetter { attempts: u32 },
}

/// After attempt number `attempts` (1-based) failed at `now_ms`.
pub fn after_failure(attempts: u32, max_attempts: u32, now_ms: u64, scale: f64) -> NextStep {
    if attempts >= max_attempts {
        return NextStep::DeadLetter { attempts };
    }
    NextStep::Retry {
        attempts,
        at: now_ms + retry_delay_ms(attempts, scale),
    }
}

/// From the first attempt to the last, when every attempt fails.
pub fn schedule_span_ms(max_attempts: u32, scale: f64) -> u64 {
    (1..max_attempts).map(|k| retry_delay_ms(k, scale)).sum()
}

/// How many attempts the schedule would have made by now for an event `age_ms` old, had
/// each failed — at most `max_attempts − 1`, so that one is always left.
pub fn attempts_by_age(age_ms: u64, max_attempts: u32, scale: f64) -> u32 {
    let mut made = 1;
    let mut waited = 0;
    while made < max_attempts.saturating_sub(1) {
        waited += retry_delay_ms(made, scale);
        if waited > age_ms {
            break;
        }
        made += 1;
    }
    made.min(max_attempts.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_doubles_from_a_minute_and_lasts_about_a_day() {
        let minutes: Vec<u64> = (1..12).map(|k| retry_delay_ms(k, 1.0) / 60_000).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 480, 480]);
        let total_h = minutes.iter().sum::<u64>() as f64 / 60.0;
        assert!((23.0..26.0).contains(&total_h), "{total_h} h");
        assert_eq!(retry_delay_ms(1_000, 1.0), MAX_RETRY_MS, "no overflow");
        assert_eq!(retry_delay_ms(3, 0.001), 240);
        assert_eq!(watchdog_ms(1.0), 300_000);
        assert_eq!(watchdog_ms(0.0), 1);
    }

    #[test]
    fn an_events_place_in_the_schedule_follows_its_age() {
        assert_eq!(schedule_span_ms(12, 1.0), 1_471 * 60_000, "about 24.5 h");
        assert_eq!(schedule_span_ms(3, 0.01), 600 + 1_200);
        assert_eq!(schedule_span_ms(1, 1.0), 0);
        assert_eq!(
            attempts_by_age(0, 12, 1.0),
            1,
            "a fresh event: its first attempt failed"
        );
        assert_eq!(attempts_by_age(59_999, 12, 1.0), 1);
        assert_eq!(attempts_by_age(60_000, 12, 1.0), 2);
        assert_eq!(attempts_by_age(3 * 60_000, 12, 1.0), 3);
        assert_eq!(
            attempts_by_age(u64::MAX / 2, 12, 1.0),
            11,
            "one attempt is always left"
        );
        assert_eq!(attempts_by_age(1_000, 1, 1.0), 0);
        assert_eq!(attempts_by_age(1_000, 2, 1.0), 1);
    }

    #[test]
    fn the_last_attempt_makes_a_dead_letter() {
        assert_eq!(
            after_failure(1, 12, 1_000, 1.0),
            NextStep::Retry {
                attempts: 1,
                at: 61_000
            }
        );
        assert_eq!(
            after_failure(12, 12, 0, 1.0),
            NextStep::DeadLetter { attempts: 12 }
        );
        assert_eq!(
            after_failure(1, 1, 0, 1.0),
            NextStep::DeadLetter { attempts: 1 }
        );
    }
}
