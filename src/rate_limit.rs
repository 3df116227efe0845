//! Per-connection rate limiting: a token bucket, plus a second bucket of "strikes" that decides
//! when a connection that keeps flooding after being told `rate_limited` is closed (1008).
//!
//! Time is passed in (milliseconds), so the limiter is deterministic under test. The state
//! lives in memory only: a room object hibernates after ~10 s without events, by which time a
//! bucket with the default settings has refilled anyway, so nothing is lost by not persisting it.

/// Limits, read from `RATE_LIMIT_PER_SECOND` and `RATE_LIMIT_BURST`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained frames per second a connection may send.
    pub per_second: f64,
    /// Frames a connection may send in a burst (the bucket's size).
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 50.0,
            burst: 100.0,
        }
    }
}

/// What to do with the frame that was just received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Process it.
    Allow,
    /// Refuse it with `rate_limited`; the connection stays open.
    Reject,
    /// The connection ignored too many refusals: close it with 1008.
    Close,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiter {
    tokens: f64,
    strikes: f64,
    last_ms: f64,
}

impl RateLimiter {
    /// A full bucket at time `now_ms`.
    pub fn new(limit: &RateLimit, now_ms: f64) -> Self {
        RateLimiter {
            tokens: limit.burst,
            strikes: strike_capacity(limit),
            last_ms: now_ms,
        }
    }

    /// Takes one token for a frame received at `now_ms`.
    pub fn check(&mut self, limit: &RateLimit, now_ms: f64) -> Verdict {
        let elapsed_s = ((now_ms - self.last_ms) / 1000.0).max(0.0);
        self.last_ms = self.last_ms.max(now_ms);
        let refill = elapsed_s * limit.per_second;
        self.tokens = (self.tokens + refill).min(limit.burst);
        self.strikes = (self.strikes + refill).min(strike_capacity(limit));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Allow
        } else if self.strikes >= 1.0 {
            self.strikes -= 1.0;
            Verdict::Reject
        } else {
            Verdict::Close
        }
    }
}

/// A flooder is told `rate_limited` about one burst's worth of times (at least 10) before the
/// connection is closed; strikes refill at the same rate as tokens.
fn strike_capacity(limit: &RateLimit) -> f64 {
    limit.burst.max(10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_second: 10.0,
        burst: 20.0,
    };

    #[test]
    fn allows_a_burst_then_rejects() {
        let mut l = RateLimiter::new(&LIMIT, 0.0);
        for _ in 0..20 {
            assert_eq!(l.check(&LIMIT, 0.0), Verdict::Allow);
        }
        assert_eq!(l.check(&LIMIT, 0.0), Verdict::Reject);
    }

    #[test]
    fn refills_at_the_sustained_rate() {
        let mut l = RateLimiter::new(&LIMIT, 0.0);
        for _ in 0..20 {
            l.check(&LIMIT, 0.0);
        }
        assert_eq!(l.check(&LIMIT, 50.0), Verdict::Reject, "half a token");
        assert_eq!(
            l.check(&LIMIT, 100.0),
            Verdict::Allow,
            "one token after 100 ms"
        );
        // A long pause refills to the burst, not beyond.
        let mut allowed = 0;
        for _ in 0..100 {
            if l.check(&LIMIT, 1_000_000.0) == Verdict::Allow {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 20);
    }

    #[test]
    fn a_sustained_flood_is_closed() {
        let mut l = RateLimiter::new(&LIMIT, 0.0);
        let verdicts: Vec<Verdict> = (0..100).map(|_| l.check(&LIMIT, 0.0)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Allow).count(),
            20
        );
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Reject).count(),
            20
        );
        assert_eq!(verdicts[40], Verdict::Close);
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let mut l = RateLimiter::new(&LIMIT, 1000.0);
        for _ in 0..20 {
            l.check(&LIMIT, 1000.0);
        }
        assert_eq!(l.check(&LIMIT, 0.0), Verdict::Reject);
    }
}
