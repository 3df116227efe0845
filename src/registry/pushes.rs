//! Revocation pushes that failed, retried from the shard's alarm until they land or the room
//! has no connection of the user any more (issue 22, finding 7).
//!
//! A revocation is stored by the user's shard first: every later first connect of the user to
//! a room is checked against it (the room's report reply). The push to the rooms where the user
//! is connected *now* is what closes live connections on revoked tokens; a push that failed
//! left them open until they disconnected. Each failed push is kept (`revocation_pushes`) and
//! retried with [`retry_delay_ms`]; it is dropped once it landed, or once the shard no longer
//! has a row of the user in that room (kept an hour after their last connection there closed:
//! the room may remember the user as counted until it heard otherwise, and a reconnect it
//! remembers is checked against what the room knows — see `shell/room/counted_users.rs`).

/// The first retry comes this long after the failure; each next one twice as late.
pub const FIRST_RETRY_MS: u64 = 1_000;
/// Retries are never further apart than this: a room that was unreachable for a while is
/// retried within a minute of coming back.
pub const MAX_RETRY_MS: u64 = 60_000;

/// How long after its `attempts`-th failure (1 for the push's own) a push is tried again.
pub fn retry_delay_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_RETRY_MS << doublings).min(MAX_RETRY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_minute() {
        assert_eq!(retry_delay_ms(0), 1_000);
        assert_eq!(retry_delay_ms(1), 1_000);
        assert_eq!(retry_delay_ms(2), 2_000);
        assert_eq!(retry_delay_ms(3), 4_000);
        assert_eq!(retry_delay_ms(7), 60_000);
        assert_eq!(retry_delay_ms(u32::MAX), 60_000);
    }
}
