//! Error codes of contract v1, shared by WebSocket error frames and HTTP error bodies.
//!
//! Every refusal a client can see is one of these codes. Keeping them in one enum means the
//! wire spelling (`as_str`) and the HTTP status live next to each other and cannot drift.

use serde::Serialize;

/// A machine-readable error code, spelled on the wire exactly as `as_str` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // --- WebSocket frame errors (the connection stays open) ---
    /// The text frame is not valid JSON (or nests deeper than the parser allows).
    BadJson,
    /// Valid JSON, but not a frame we understand: unknown `type`, missing or invalid field.
    BadFrame,
    /// The frame is larger than `MAX_MESSAGE_BYTES`.
    TooLarge,
    /// Binary frames are not part of the protocol.
    BinaryUnsupported,
    /// The user's token bucket in this room (frames, or directs) is empty; or, over HTTP, the
    /// client address's rate (`IP_LIMITER`).
    RateLimited,
    /// The addressed connection or user does not exist.
    NotFound,
    // --- HTTP refusals (front worker, before any Durable Object is touched) ---
    /// The room name breaks the naming rules.
    BadRoom,
    /// Missing, malformed, badly signed or expired token (or admin token).
    Unauthorized,
    /// Valid token, but its `rooms` claim does not include this room.
    Forbidden,
    /// The user is banned from this room (HTTP 403, with `until`).
    Banned,
    /// The token was issued before a revocation of the user's tokens (HTTP 401).
    Revoked,
    /// The user already has `MAX_CONNECTIONS_PER_USER` connections in the room (HTTP 429).
    TooManyConnections,
    /// The room already holds `MAX_ROOM_CONNECTIONS` connections (HTTP 503).
    RoomFull,
    /// The user is already connected in `MAX_ROOMS_PER_USER` rooms across the deployment (HTTP
    /// 429): a first connection to one more room is refused; rooms they are in stay open.
    TooManyRooms,
    /// A WebSocket endpoint was called without `Upgrade: websocket`.
    UpgradeRequired,
    /// HTTP API body or query is unusable.
    BadRequest,
    /// The HTTP method is not served on this path.
    MethodNotAllowed,
    /// A component the request depends on (the user registry) could not be reached in time.
    Unavailable,
    /// Something on our side failed; the message says what, never a secret.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Banned => "banned",
            ErrorCode::Revoked => "revoked",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::UpgradeRequired => "upgrade_required",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with this code when it is an HTTP refusal.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRoom
            | ErrorCode::BadRequest
            | ErrorCode::BadJson
            | ErrorCode::BadFrame => 400,
            ErrorCode::Unauthorized | ErrorCode::Revoked => 401,
            ErrorCode::Forbidden | ErrorCode::Banned => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TooLarge => 413,
            ErrorCode::UpgradeRequired => 426,
            ErrorCode::RateLimited | ErrorCode::TooManyConnections | ErrorCode::TooManyRooms => 429,
            ErrorCode::BinaryUnsupported => 415,
            ErrorCode::Unavailable | ErrorCode::RoomFull => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An error with a human-readable message, ready to become a frame or an HTTP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    pub code: ErrorCode,
    pub message: String,
    /// For `banned`: when the ban ends (unix ms; `Some(None)`: until unbanned).
    pub until: Option<Option<u64>>,
    /// For `internal` (and an `unavailable` object): the incident id the operator's log has
    /// the detail under.
    pub incident: Option<String>,
}

impl ChatError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ChatError {
            code,
            message: message.into(),
            until: None,
            incident: None,
        }
    }

    /// `internal`, with nothing but the incident id.
    pub fn internal(incident: String) -> Self {
        ChatError {
            incident: Some(incident),
            ..ChatError::new(ErrorCode::Internal, "internal error; try again")
        }
    }

    /// `banned`, with when the ban ends.
    pub fn banned(until: Option<u64>) -> Self {
        ChatError {
            until: Some(until),
            ..ChatError::new(ErrorCode::Banned, "you are banned from this room")
        }
    }

    /// `{"error":{"code":C,"message":M}}`, the HTTP error body of the contract.
    pub fn http_body(&self) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: ErrorCode,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            until: Option<Option<u64>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            incident: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                until: self.until,
                incident: self.incident.as_deref(),
            },
        })
        .unwrap_or_else(|_| String::from(r#"{"error":{"code":"internal","message":"?"}}"#))
    }
}

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_body_has_the_contract_shape() {
        let e = ChatError::new(ErrorCode::Forbidden, "room \"x\" not allowed");
        let v: serde_json::Value = serde_json::from_str(&e.http_body()).unwrap();
        assert_eq!(v["error"]["code"], "forbidden");
        assert_eq!(v["error"]["message"], "room \"x\" not allowed");
        assert_eq!(e.code.http_status(), 403);
    }

    #[test]
    fn bans_say_until_when() {
        let v: serde_json::Value =
            serde_json::from_str(&ChatError::banned(None).http_body()).unwrap();
        assert_eq!(v["error"]["code"], "banned");
        assert!(v["error"]["until"].is_null() && v["error"].get("until").is_some());
        let v: serde_json::Value =
            serde_json::from_str(&ChatError::banned(Some(5)).http_body()).unwrap();
        assert_eq!(v["error"]["until"], 5);
        assert_eq!(ErrorCode::Banned.http_status(), 403);
        assert_eq!(ErrorCode::Revoked.http_status(), 401);
    }

    #[test]
    fn refusal_statuses_match_the_contract() {
        assert_eq!(ErrorCode::BadRoom.http_status(), 400);
        assert_eq!(ErrorCode::Unauthorized.http_status(), 401);
        assert_eq!(ErrorCode::Forbidden.http_status(), 403);
        assert_eq!(ErrorCode::UpgradeRequired.http_status(), 426);
        assert_eq!(ErrorCode::TooManyRooms.http_status(), 429);
        assert_eq!(ErrorCode::TooManyRooms.as_str(), "too_many_rooms");
    }
}
