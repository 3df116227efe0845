//! The front worker's counts: upgrades, the refusals it answers by code, and why tokens were
//! refused. Counted from what each request was answered, per isolate (the front holds no
//! state): one point per isolate and per second at most.

use super::{point, Kind, Point};
use crate::common::error::ErrorCode;
use serde::Deserialize;

/// The HTTP refusal codes counted apart, in the order of their doubles (after `upgrades`);
/// any other code counts under `refused_other`. `unauthorized` is counted by reason instead.
const FRONT_CODES: [ErrorCode; 11] = [
    ErrorCode::BadRoom,
    ErrorCode::BadRequest,
    ErrorCode::UpgradeRequired,
    ErrorCode::Forbidden,
    ErrorCode::Revoked,
    ErrorCode::Banned,
    ErrorCode::RateLimited,
    ErrorCode::TooManyConnections,
    ErrorCode::TooManyRooms,
    ErrorCode::RoomFull,
    ErrorCode::Unavailable,
];

/// Why a request was answered `401 unauthorized`, in the order of their doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthReason {
    /// No token at all.
    Missing,
    /// An admin endpoint without the right `ADMIN_TOKEN`.
    Admin,
    /// `exp`, `nbf` or `iat` says not now.
    Expired,
    /// Not a JWT we can read, or an algorithm we do not take.
    Malformed,
    /// The signature does not verify.
    Signature,
    /// No key for it: an unknown `kid`, no key set or secret configured.
    Key,
    /// A claim is wrong (`iss`, `aud`, `sub`, `rooms`, the lifetime cap).
    Claims,
}

const REASONS: [AuthReason; 7] = [
    AuthReason::Missing,
    AuthReason::Admin,
    AuthReason::Expired,
    AuthReason::Malformed,
    AuthReason::Signature,
    AuthReason::Key,
    AuthReason::Claims,
];

impl AuthReason {
    /// The reason of an `unauthorized` refusal, from its message (the messages are ours:
    /// src/auth, src/shell/auth and the front's admin check).
    pub fn of(message: &str) -> AuthReason {
        let has = |words: &[&str]| words.iter().any(|w| message.contains(w));
        if message.starts_with("missing token") {
            AuthReason::Missing
        } else if message.contains("ADMIN_TOKEN") {
            AuthReason::Admin
        } else if has(&["expired", "not valid yet", "in the future"]) {
            AuthReason::Expired
        } else if has(&[
            "malformed",
            "base64url",
            "not a JSON object",
            "not accepted",
        ]) {
            AuthReason::Malformed
        } else if has(&["signature", "cannot verify"]) {
            AuthReason::Signature
        } else if has(&["kid", "key set", "AUTH_SECRET"]) {
            AuthReason::Key
        } else {
            AuthReason::Claims
        }
    }
}

/// A front point's doubles, in order.
pub const FRONT_DOUBLES: [&str; 20] = [
    "upgrades", // WebSocket upgrades answered 101
    "refused_bad_room",
    "refused_bad_request",
    "refused_upgrade_required",
    "refused_forbidden",
    "refused_revoked",
    "refused_banned",
    "refused_rate_limited",
    "refused_too_many_connections",
    "refused_too_many_rooms",
    "refused_room_full",
    "refused_unavailable",
    "refused_other", // any other code but `internal` (not_found, method_not_allowed …)
    "unauthorized_missing",
    "unauthorized_admin",
    "unauthorized_expired",
    "unauthorized_malformed",
    "unauthorized_signature",
    "unauthorized_key",
    "unauthorized_claims",
];

/// What the front counts between two points.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FrontCounts {
    pub upgrades: u64,
    /// By [`FRONT_CODES`] index, then other.
    pub refused: [u64; FRONT_CODES.len() + 1],
    /// By [`REASONS`] index.
    pub unauthorized: [u64; REASONS.len()],
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    error: Inner<'a>,
}

#[derive(Deserialize)]
struct Inner<'a> {
    code: &'a str,
    #[serde(default)]
    message: std::borrow::Cow<'a, str>,
}

impl FrontCounts {
    /// A WebSocket upgrade was answered 101.
    pub fn upgraded(&mut self) {
        self.upgrades += 1;
    }

    /// A request was refused with this JSON error `body` (the contract's
    /// `{"error":{"code","message"}}`; anything else is not counted, nor is `internal`).
    pub fn refused(&mut self, body: &str) {
        let Ok(Body { error }) = serde_json::from_str::<Body>(body) else {
            return;
        };
        if error.code == ErrorCode::Internal.as_str() {
            return; // a failure of ours: its incident line says it
        }
        if error.code == ErrorCode::Unauthorized.as_str() {
            let reason = AuthReason::of(&error.message);
            let i = REASONS.iter().position(|r| *r == reason).unwrap_or(0);
            self.unauthorized[i] += 1;
            return;
        }
        let i = FRONT_CODES
            .iter()
            .position(|c| c.as_str() == error.code)
            .unwrap_or(FRONT_CODES.len());
        self.refused[i] += 1;
    }

    pub fn is_empty(&self) -> bool {
        *self == FrontCounts::default()
    }

    /// The isolate's point (index `front`) with these counts, in [`FRONT_DOUBLES`] order.
    pub fn point(&self) -> Point {
        let mut doubles = vec![self.upgrades];
        doubles.extend(self.refused);
        doubles.extend(self.unauthorized);
        point(Kind::Front, "front", doubles)
    }
}
