//! Session lifetime: how long a connection may stay open on the token it presented, and the
//! close codes of every connection the server ends on purpose.
//!
//! A connection carries its token's `exp` and `iat` ([`Session`]) for its whole life — in the
//! room's memory and in the socket's attachment, so they survive hibernation. The room's alarm
//! wakes it to send `token_expiring` shortly before `exp` and to close with 4001 at `exp`
//! unless the client refreshed in place (`auth`).

/// How long a check of a token's revocation waits for the user's registry shard (a user's
/// first connect to a room, a user token's history or member read) before letting it through
/// anyway: room chat never depends on a registry.
pub const REVOCATION_CHECK_MS: u64 = 1_000;

use serde::{Deserialize, Serialize};

/// Why the server closed a connection: each is a WebSocket close code and reason text of the
/// contract (docs/protocol.md, "Session lifetime and moderation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// 1008: kept flooding after `rate_limited`.
    RateLimited,
    /// 4001: the token expired and was not refreshed.
    TokenExpired,
    /// 4003: an operator disconnected it.
    Kicked,
    /// 4004: banned from this room.
    Banned,
    /// 4005: the user's tokens were revoked.
    Revoked,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::RateLimited => 1008,
            CloseReason::TokenExpired => 4001,
            CloseReason::Kicked => 4003,
            CloseReason::Banned => 4004,
            CloseReason::Revoked => 4005,
        }
    }

    /// The close frame's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            CloseReason::RateLimited => "rate limit exceeded",
            CloseReason::TokenExpired => "token_expired",
            CloseReason::Kicked => "kicked",
            CloseReason::Banned => "banned",
            CloseReason::Revoked => "revoked",
        }
    }
}

/// What a connection knows of its token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The token's expiry, seconds since the epoch (0: none, e.g. a connection restored from
    /// before sessions were tracked — it never expires by the clock).
    pub exp: u64,
    /// The token's `iat`, seconds since the epoch.
    pub iat: Option<u64>,
    /// `token_expiring` was sent for this `exp`.
    pub notified: bool,
}

impl Session {
    pub fn new(exp: u64, iat: Option<u64>) -> Self {
        Session {
            exp,
            iat,
            notified: false,
        }
    }

    /// When the token expires, in ms since the epoch.
    pub fn expires_ms(&self) -> Option<u64> {
        (self.exp > 0).then(|| self.exp.saturating_mul(1000))
    }

    /// When `token_expiring` is due, in ms since the epoch.
    pub fn notice_ms(&self, notice_secs: u64) -> Option<u64> {
        (self.exp > 0).then(|| self.exp.saturating_sub(notice_secs).saturating_mul(1000))
    }

    /// The next time this session needs the room: its notice, or its expiry once noticed.
    pub fn next_wake_ms(&self, notice_secs: u64) -> Option<u64> {
        if self.notified {
            self.expires_ms()
        } else {
            self.notice_ms(notice_secs)
        }
    }

    /// Whether a revocation of the user's tokens issued before `before` (seconds) covers this
    /// token: tokens without `iat` are always covered.
    pub fn revoked_by(&self, before: Option<u64>) -> bool {
        match (before, self.iat) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(before), Some(iat)) => iat < before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_the_contract() {
        let all = [
            (CloseReason::RateLimited, 1008, "rate limit exceeded"),
            (CloseReason::TokenExpired, 4001, "token_expired"),
            (CloseReason::Kicked, 4003, "kicked"),
            (CloseReason::Banned, 4004, "banned"),
            (CloseReason::Revoked, 4005, "revoked"),
        ];
        for (r, code, text) in all {
            assert_eq!((r.code(), r.reason()), (code, text));
        }
    }

    #[test]
    fn wakes_and_revocations() {
        let s = Session::new(1_000, Some(500));
        assert_eq!(s.notice_ms(60), Some(940_000));
        assert_eq!(s.next_wake_ms(60), Some(940_000));
        let noticed = Session {
            notified: true,
            ..s
        };
        assert_eq!(noticed.next_wake_ms(60), Some(1_000_000));
        assert_eq!(Session::default().next_wake_ms(60), None, "no exp, no wake");
        assert!(!s.revoked_by(None));
        assert!(s.revoked_by(Some(501)) && !s.revoked_by(Some(500)));
        assert!(
            Session::new(9, None).revoked_by(Some(1)),
            "no iat: always revoked"
        );
    }
}
