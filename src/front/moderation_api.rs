//! The moderation part of the server API, free of storage: what an operator's request to
//! kick, ban, disconnect or revoke must look like (the bans themselves are the room's,
//! [`crate::room::Ban`]).

use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::is_valid_user_id;
use crate::room::Ban;
use serde_json::Value;

/// Longest operator `reason`, in characters (it is stored and shown to the user).
pub const MAX_REASON_LEN: usize = 256;

/// `POST /rooms/{room}/kick`: `{"user_id":U,"ban_seconds"?:N,"reason"?:R}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickRequest {
    pub user_id: String,
    /// `None`: kick only. `Some(None)`: banned until unbanned. `Some(Some(s))`: banned `s` s.
    pub ban: Option<Option<u64>>,
    pub reason: Option<String>,
}

impl KickRequest {
    pub fn parse(body: &str) -> Result<Self, ChatError> {
        let v = object(body)?;
        let user_id = match v.get("user_id") {
            Some(Value::String(u)) if is_valid_user_id(u) => u.clone(),
            _ => {
                return Err(bad(&format!(
                    "`user_id` must be a user id ({})",
                    crate::common::names::USER_ID_RULE
                )))
            }
        };
        let ban = match v.get("ban_seconds") {
            None | Some(Value::Null) => None,
            Some(n) if n.as_i64() == Some(-1) => Some(None),
            Some(n) => match n.as_u64() {
                Some(s) if s > 0 => Some(Some(s)),
                _ => return Err(bad("`ban_seconds` must be a positive integer or -1")),
            },
        };
        Ok(KickRequest {
            user_id,
            ban,
            reason: reason(&v)?,
        })
    }

    /// The ban this request makes, at `now_ms`.
    pub fn ban_at(&self, now_ms: u64) -> Option<Ban> {
        let until = self
            .ban?
            .map(|s| now_ms.saturating_add(s.saturating_mul(1000)));
        Some(Ban {
            user_id: self.user_id.clone(),
            until,
            reason: self.reason.clone(),
        })
    }
}

/// `POST /connections/{id}/disconnect` and `POST /users/{user}/disconnect`: `{"reason"?:R}`
/// (an empty body is `{}`).
pub fn parse_disconnect(body: &str) -> Result<Option<String>, ChatError> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    reason(&object(body)?)
}

/// `POST /users/{user}/revoke`: `{"before"?:<unix s>,"reason"?:R}`.
///
/// Without `before`, every token issued so far is revoked — including those issued earlier in
/// the current second: `iat` has whole seconds, so `before` is the next second. A token issued
/// later in that same second is refused too; a revocation errs on the side of the revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub before: u64,
    pub reason: Option<String>,
}

impl RevokeRequest {
    pub fn parse(body: &str, now_secs: u64) -> Result<Self, ChatError> {
        if body.trim().is_empty() {
            return Ok(RevokeRequest {
                before: now_secs + 1,
                reason: None,
            });
        }
        let v = object(body)?;
        let before = match v.get("before") {
            None | Some(Value::Null) => now_secs + 1,
            Some(n) => n
                .as_u64()
                .ok_or_else(|| bad("`before` must be unix seconds"))?,
        };
        Ok(RevokeRequest {
            before,
            reason: reason(&v)?,
        })
    }
}

fn object(body: &str) -> Result<serde_json::Map<String, Value>, ChatError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad("body must be a JSON object")),
    }
}

fn reason(v: &serde_json::Map<String, Value>) -> Result<Option<String>, ChatError> {
    match v.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r)) if r.chars().count() <= MAX_REASON_LEN => Ok(Some(r.clone())),
        _ => Err(bad("`reason` must be a string of at most 256 characters")),
    }
}

fn bad(message: &str) -> ChatError {
    ChatError::new(ErrorCode::BadRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kicks_and_bans_are_validated() {
        let k = KickRequest::parse(r#"{"user_id":"u"}"#).unwrap();
        assert_eq!((k.ban, k.ban_at(5)), (None, None));
        let k = KickRequest::parse(r#"{"user_id":"u","ban_seconds":-1,"reason":"spam"}"#).unwrap();
        assert_eq!(k.ban_at(5).unwrap().until, None);
        assert_eq!(k.reason.as_deref(), Some("spam"));
        let k = KickRequest::parse(r#"{"user_id":"u","ban_seconds":60}"#).unwrap();
        let ban = k.ban_at(1_000).unwrap();
        assert_eq!(ban.until, Some(61_000));
        assert!(ban.is_active(60_999) && !ban.is_active(61_000));
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"user_id":""}"#,
            r#"{"user_id":5}"#,
            r#"{"user_id":"u","ban_seconds":0}"#,
            r#"{"user_id":"u","ban_seconds":-2}"#,
            r#"{"user_id":"u","ban_seconds":1.5}"#,
            r#"{"user_id":"u","ban_seconds":"60"}"#,
            r#"{"user_id":"u","reason":7}"#,
        ] {
            assert_eq!(
                KickRequest::parse(bad).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
        let long = format!(r#"{{"user_id":"u","reason":"{}"}}"#, "r".repeat(257));
        assert!(KickRequest::parse(&long).is_err());
    }

    #[test]
    fn disconnects_and_revocations_are_validated() {
        assert_eq!(parse_disconnect("").unwrap(), None);
        assert_eq!(
            parse_disconnect(r#"{"reason":"bye"}"#).unwrap().as_deref(),
            Some("bye")
        );
        assert!(parse_disconnect("nope").is_err());
        // Tokens issued in the revocation's own second are revoked too.
        assert_eq!(RevokeRequest::parse("", 9).unwrap().before, 10);
        assert_eq!(RevokeRequest::parse("{}", 9).unwrap().before, 10);
        assert_eq!(
            RevokeRequest::parse(r#"{"before":null}"#, 9)
                .unwrap()
                .before,
            10
        );
        assert_eq!(
            RevokeRequest::parse(r#"{"before":5}"#, 9).unwrap().before,
            5
        );
        assert!(RevokeRequest::parse(r#"{"before":-5}"#, 9).is_err());
        assert!(RevokeRequest::parse(r#"{"before":"x"}"#, 9).is_err());
    }
}
