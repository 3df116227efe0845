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

/// A token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: f64,
}

impl TokenBucket {
    /// A full bucket at time `now_ms`.
    pub fn full(capacity: f64, now_ms: f64) -> Self {
        TokenBucket {
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    /// Whether the bucket would be full again at `now_ms`.
    pub fn refilled(&self, capacity: f64, per_second: f64, now_ms: f64) -> bool {
        let elapsed_s = ((now_ms - self.last_ms) / 1000.0).max(0.0);
        self.tokens + elapsed_s * per_second >= capacity
    }

    /// Refills for the time elapsed, then takes `cost` tokens if there are that many — or if
    /// the bucket is full, leaving it in debt (a cost above `capacity` is still rate-bounded).
    pub fn take_many(&mut self, capacity: f64, per_second: f64, cost: f64, now_ms: f64) -> bool {
        let elapsed_s = ((now_ms - self.last_ms) / 1000.0).max(0.0);
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed_s * per_second).min(capacity);
        if self.tokens >= cost || self.tokens >= capacity {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Refills for the time elapsed, then takes one token if there is one.
    pub fn take(&mut self, capacity: f64, per_second: f64, now_ms: f64) -> bool {
        let elapsed_s = ((now_ms - self.last_ms) / 1000.0).max(0.0);
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed_s * per_second).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a user's connections in one room share: every frame takes a token from `frames`
/// (`RATE_LIMIT_*`), a `direct` also one from `directs` (`DIRECT_RATE_*`). One user with five
/// sockets gets one user's worth of frames, not five.
#[derive(Debug, Clone, PartialEq)]
pub struct UserBuckets {
    pub frames: TokenBucket,
    pub directs: TokenBucket,
}

impl UserBuckets {
    pub fn new(frames: &RateLimit, directs: &RateLimit, now_ms: f64) -> Self {
        UserBuckets {
            frames: TokenBucket::full(frames.burst, now_ms),
            directs: TokenBucket::full(directs.burst, now_ms),
        }
    }

    /// Whether both buckets would be full again at `now_ms`: forgetting them then changes
    /// nothing (a user who leaves and comes back must not get a fresh burst before that).
    pub fn refilled(&self, frames: &RateLimit, directs: &RateLimit, now_ms: f64) -> bool {
        self.frames
            .refilled(frames.burst, frames.per_second, now_ms)
            && self
                .directs
                .refilled(directs.burst, directs.per_second, now_ms)
    }
}

/// A connection that keeps sending after `rate_limited` is told so about one burst's worth
/// of times (at least 10), then closed: the strikes are per connection, so one flooding socket
/// is closed without closing the user's others.
#[derive(Debug, Clone, PartialEq)]
pub struct Strikes(TokenBucket);

impl Strikes {
    pub fn new(limit: &RateLimit, now_ms: f64) -> Self {
        Strikes(TokenBucket::full(strike_capacity(limit), now_ms))
    }
}

/// The verdict on one frame: a token from the user's `frames` bucket, else a strike of the
/// connection's, else the close. Strikes refill at the same rate as tokens.
pub fn check(
    frames: &mut TokenBucket,
    strikes: &mut Strikes,
    limit: &RateLimit,
    now_ms: f64,
) -> Verdict {
    if frames.take(limit.burst, limit.per_second, now_ms) {
        Verdict::Allow
    } else if strikes
        .0
        .take(strike_capacity(limit), limit.per_second, now_ms)
    {
        Verdict::Reject
    } else {
        Verdict::Close
    }
}

/// A flooder is told `rate_limited` about one burst's worth of times (at least 10) before the
/// connection is closed.
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

    /// A connection's view: its user's frame bucket and its own strikes.
    struct RateLimiter(TokenBucket, Strikes);

    impl RateLimiter {
        fn new(limit: &RateLimit, now_ms: f64) -> Self {
            RateLimiter(
                TokenBucket::full(limit.burst, now_ms),
                Strikes::new(limit, now_ms),
            )
        }

        fn check(&mut self, limit: &RateLimit, now_ms: f64) -> Verdict {
            check(&mut self.0, &mut self.1, limit, now_ms)
        }
    }

    #[test]
    fn allows_a_burst_then_rejects() {
        let mut l = RateLimiter::new(&LIMIT, 0.0);
        for _ in 0..20 {
            assert_eq!(l.check(&LIMIT, 0.0), Verdict::Allow);
        }
        assert_eq!(l.check(&LIMIT, 0.0), Verdict::Reject);
    }

    #[test]
    fn sockets_of_one_user_share_the_bucket_but_not_the_strikes() {
        let mut user = TokenBucket::full(LIMIT.burst, 0.0);
        let (mut s1, mut s2) = (Strikes::new(&LIMIT, 0.0), Strikes::new(&LIMIT, 0.0));
        let allowed = (0..40)
            .map(|n| {
                let strikes = if n % 2 == 0 { &mut s1 } else { &mut s2 };
                check(&mut user, strikes, &LIMIT, 0.0)
            })
            .filter(|v| *v == Verdict::Allow)
            .count();
        assert_eq!(allowed, 20, "two sockets, one user's burst");
        // s1 floods on: it is closed after its own strikes, s2 still has all of its own.
        let closed_after = (0..100)
            .position(|_| check(&mut user, &mut s1, &LIMIT, 0.0) == Verdict::Close)
            .unwrap();
        assert_eq!(closed_after, 10, "s1 had used 10 of its 20 strikes");
        assert_eq!(check(&mut user, &mut s2, &LIMIT, 0.0), Verdict::Reject);
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
