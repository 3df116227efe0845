//! Frames the server sends: one [`ServerFrame`] enum, serialised once per broadcast (never once
//! per recipient), plus the `batch` wrapper, which is spliced by hand from frames that are
//! already JSON.

use crate::common::error::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The `from` of a message: a client connection, or the server API. Always stamped by the
/// server; whatever `from` a client puts in its frame is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender<'a> {
    Client {
        user_id: &'a str,
        connection_id: &'a str,
    },
    Server,
}

impl Serialize for Sender<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Sender::Client {
                user_id,
                connection_id,
            } => {
                m.serialize_entry("user_id", user_id)?;
                m.serialize_entry("connection_id", connection_id)?;
            }
            Sender::Server => m.serialize_entry("server", &true)?,
        }
        m.end()
    }
}

/// One entry of the room's user index, as sent in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub connections: u32,
}

/// Whether a user's presence began or ended in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceEvent {
    Join,
    Leave,
}

/// Why a `gap` frame leaves messages out, when they still exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The resume's replay limits (`REPLAY_MAX_MESSAGES`, `REPLAY_MAX_BYTES`).
    ReplayLimit,
}

/// Every frame of contract v1 the server sends (except `batch`, see [`batch_frame`]).
/// Serialised with `"type"` first, then the fields in the order written here.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The first frame of every connection; `seq` is the room's latest message seq.
    Welcome {
        room: &'a str,
        connection_id: &'a str,
        user_id: &'a str,
        /// The room's members ordered by user id: all of them, or the first
        /// `WELCOME_MAX_MEMBERS` with `truncated` (the rest from `GET /rooms/{room}/members`).
        members: &'a [Member],
        seq: u64,
        /// The room's `MAX_MESSAGE_BYTES`, so that clients refuse oversize frames themselves.
        max_message_bytes: usize,
        /// How many users the room has (`members` may list fewer).
        member_count: usize,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
        /// The connecting user's read cursor in this room (0: never read).
        read_seq: u64,
        /// Messages after `read_seq` not sent by the connecting user.
        unread: u64,
    },
    /// A user of the room is typing (or stopped: `stop`). Ephemeral: no seq, never stored.
    Typing {
        user_id: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        stop: bool,
    },
    /// A user's read cursor in the room moved to `seq` (a read receipt).
    Read { user_id: &'a str, seq: u64 },
    /// Message `target` now has this `data` (logged as `seq`).
    Edit {
        seq: u64,
        target: u64,
        from: Sender<'a>,
        data: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        ts: u64,
    },
    /// Message `target` was deleted: its data is gone (logged as `seq`).
    Delete {
        seq: u64,
        target: u64,
        from: Sender<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        ts: u64,
    },
    /// A user's reaction `emoji` to message `target` was added (`on`) or removed.
    React {
        seq: u64,
        target: u64,
        emoji: &'a str,
        on: bool,
        from: Sender<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        ts: u64,
    },
    /// A user's first connection to the room opened, or their last one closed.
    Presence {
        event: PresenceEvent,
        user_id: &'a str,
    },
    /// How many users the room has, instead of `presence` frames while it has more than
    /// `ROOM_PRESENCE_MAX` (at most once a second, see [`crate::room::member_count`]).
    MemberCount { count: usize },
    /// A room broadcast, with its place in the room's log.
    Message {
        room: &'a str,
        from: Sender<'a>,
        data: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        ts: u64,
        seq: u64,
    },
    /// The publisher's confirmation that its message is durably stored as `seq`.
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        seq: u64,
    },
    /// On resume: messages `from ..= to` are not sent — no longer retained (no `reason`), or
    /// left out by the replay limits (`replay_limit`: read them over HTTP).
    Gap {
        from: u64,
        to: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<GapReason>,
    },
    /// A message to one connection or to every connection of one user.
    Direct {
        from: Sender<'a>,
        data: &'a RawValue,
    },
    /// The connection's token expires at `exp` (unix s): refresh it with `auth` before then.
    TokenExpiring { exp: u64 },
    /// A refresh (`auth`) was accepted: the connection now expires at `exp`.
    AuthOk {
        exp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
    },
    /// Sent just before the server closes the connection on purpose: the close code and
    /// reason text the close frame carries, and the operator's `message`, if any.
    Closing {
        code: u16,
        reason: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    },
    /// A refused frame; the connection stays open.
    Error {
        code: ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        /// For `internal`: the incident id to quote to the operator.
        #[serde(skip_serializing_if = "Option::is_none")]
        incident: Option<&'a str>,
    },
}

impl ServerFrame<'_> {
    /// The frame's JSON text. Serialising our own frames cannot fail (string keys only, and
    /// `RawValue`s that were validated on the way in); a fallback keeps that promise total.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            String::from(r#"{"type":"error","code":"internal","message":"serialisation failed"}"#)
        })
    }
}

/// Shorthand for the most common frame built outside the room: an `error`.
pub fn error_frame(code: ErrorCode, message: &str, id: Option<&str>) -> String {
    let incident = None;
    ServerFrame::Error {
        code,
        message,
        id,
        incident,
    }
    .to_json()
}

/// The `internal` error a client gets when something failed inside: nothing of the failure
/// itself, only the incident id the operator's log has it under.
pub fn internal_error_frame(incident: &str, id: Option<&str>) -> String {
    ServerFrame::Error {
        code: ErrorCode::Internal,
        message: "internal error; nothing was stored or sent; retrying is safe",
        id,
        incident: Some(incident),
    }
    .to_json()
}

/// Bytes `{"type":"batch","frames":[` and `]}` add around the frames of a batch.
pub const BATCH_OVERHEAD: usize = BATCH_HEAD.len() + BATCH_TAIL.len();
const BATCH_HEAD: &str = r#"{"type":"batch","frames":["#;
const BATCH_TAIL: &str = "]}";

/// The length of the `batch` frame holding `frames` of these lengths.
pub fn batch_len(frame_lens: impl IntoIterator<Item = usize>) -> usize {
    let (mut n, mut sum) = (0usize, 0usize);
    for len in frame_lens {
        n += 1;
        sum += len;
    }
    BATCH_OVERHEAD + sum + n.saturating_sub(1)
}

/// `{"type":"batch","frames":[f1,f2,...]}`. The frames are JSON objects already, so they are
/// spliced in verbatim; this is the one frame not built by serde, because it is on the hottest
/// path and would otherwise re-validate every frame it carries.
pub fn batch_frame(frames: &[&str]) -> String {
    let mut out = String::with_capacity(batch_len(frames.iter().map(|f| f.len())));
    out.push_str(BATCH_HEAD);
    for (n, f) in frames.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str(BATCH_TAIL);
    out
}

/// The close frame a server sends back when a client closes: the client's code when a server
/// may send it, else 1000 (1005 "no status" and 1006 "abnormal" are reserved for local use and
/// may not appear on the wire), and a reason cut to the 123 bytes a close frame can carry.
pub fn close_reply(code: u16, reason: &str) -> (u16, String) {
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    (if sendable { code } else { 1000 }, reason[..cut].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn close_replies_are_sendable() {
        assert_eq!(close_reply(1000, "bye"), (1000, "bye".into()));
        assert_eq!(close_reply(4001, ""), (4001, String::new()));
        for reserved in [1005, 1006, 1015, 1004, 999, 2000, 5000] {
            assert_eq!(close_reply(reserved, "").0, 1000);
        }
        let long = "é".repeat(100);
        let (_, r) = close_reply(1000, &long);
        assert!(r.len() <= 123 && long.starts_with(&r));
    }

    #[test]
    fn every_server_frame_has_the_contract_shape() {
        let members = [Member {
            user_id: "a".into(),
            connections: 2,
        }];
        let data = RawValue::from_string(r#"{"k":[1,"é"]}"#.into()).unwrap();
        let cases = [
            (
                ServerFrame::Welcome {
                    room: "r",
                    connection_id: "r.c",
                    user_id: "a",
                    members: &members,
                    seq: 4,
                    max_message_bytes: 100,
                    member_count: 1,
                    truncated: false,
                    read_seq: 2,
                    unread: 1,
                },
                r#"{"type":"welcome","room":"r","connection_id":"r.c","user_id":"a","members":[{"user_id":"a","connections":2}],"seq":4,"max_message_bytes":100,"member_count":1,"read_seq":2,"unread":1}"#,
            ),
            (
                ServerFrame::Typing {
                    user_id: "a",
                    stop: false,
                },
                r#"{"type":"typing","user_id":"a"}"#,
            ),
            (
                ServerFrame::Typing {
                    user_id: "a",
                    stop: true,
                },
                r#"{"type":"typing","user_id":"a","stop":true}"#,
            ),
            (
                ServerFrame::Read {
                    user_id: "a",
                    seq: 3,
                },
                r#"{"type":"read","user_id":"a","seq":3}"#,
            ),
            (
                ServerFrame::Edit {
                    seq: 5,
                    target: 3,
                    from: Sender::Server,
                    data: &data,
                    id: Some("e"),
                    ts: 9,
                },
                r#"{"type":"edit","seq":5,"target":3,"from":{"server":true},"data":{"k":[1,"é"]},"id":"e","ts":9}"#,
            ),
            (
                ServerFrame::Delete {
                    seq: 6,
                    target: 3,
                    from: Sender::Server,
                    id: None,
                    ts: 9,
                },
                r#"{"type":"delete","seq":6,"target":3,"from":{"server":true},"ts":9}"#,
            ),
            (
                ServerFrame::React {
                    seq: 7,
                    target: 3,
                    emoji: "👍",
                    on: true,
                    from: Sender::Server,
                    id: None,
                    ts: 9,
                },
                r#"{"type":"react","seq":7,"target":3,"emoji":"👍","on":true,"from":{"server":true},"ts":9}"#,
            ),
            (
                ServerFrame::Presence {
                    event: PresenceEvent::Leave,
                    user_id: "a",
                },
                r#"{"type":"presence","event":"leave","user_id":"a"}"#,
            ),
            (
                ServerFrame::Message {
                    room: "r",
                    from: Sender::Server,
                    data: &data,
                    id: Some("m"),
                    ts: 9,
                    seq: 3,
                },
                r#"{"type":"message","room":"r","from":{"server":true},"data":{"k":[1,"é"]},"id":"m","ts":9,"seq":3}"#,
            ),
            (
                ServerFrame::Direct {
                    from: Sender::Client {
                        user_id: "u",
                        connection_id: "r.c",
                    },
                    data: &data,
                },
                r#"{"type":"direct","from":{"user_id":"u","connection_id":"r.c"},"data":{"k":[1,"é"]}}"#,
            ),
            (
                ServerFrame::Error {
                    code: ErrorCode::NotFound,
                    message: "no such connection",
                    id: Some("x"),
                    incident: None,
                },
                r#"{"type":"error","code":"not_found","message":"no such connection","id":"x"}"#,
            ),
            (
                ServerFrame::Ack {
                    id: Some("m"),
                    seq: 7,
                },
                r#"{"type":"ack","id":"m","seq":7}"#,
            ),
            (
                ServerFrame::Ack { id: None, seq: 7 },
                r#"{"type":"ack","seq":7}"#,
            ),
            (
                ServerFrame::Gap {
                    from: 1,
                    to: 5,
                    reason: None,
                },
                r#"{"type":"gap","from":1,"to":5}"#,
            ),
            (
                ServerFrame::Gap {
                    from: 1,
                    to: 5,
                    reason: Some(GapReason::ReplayLimit),
                },
                r#"{"type":"gap","from":1,"to":5,"reason":"replay_limit"}"#,
            ),
            (
                ServerFrame::TokenExpiring { exp: 9 },
                r#"{"type":"token_expiring","exp":9}"#,
            ),
            (
                ServerFrame::AuthOk { exp: 9, id: None },
                r#"{"type":"auth_ok","exp":9}"#,
            ),
            (
                ServerFrame::Closing {
                    code: 4003,
                    reason: "kicked",
                    message: Some("spam"),
                },
                r#"{"type":"closing","code":4003,"reason":"kicked","message":"spam"}"#,
            ),
        ];
        for (frame, expected) in cases {
            let text = frame.to_json();
            assert!(text.starts_with(r#"{"type":"#), "{text}");
            assert_eq!(json(&text), json(expected));
        }
        assert!(!error_frame(ErrorCode::BadJson, "m", None).contains("\"id\""));
    }

    #[test]
    fn batches_splice_frames_and_know_their_length() {
        let frames = [r#"{"a":1}"#, r#"{"b":2}"#];
        let b = batch_frame(&frames);
        assert_eq!(b, r#"{"type":"batch","frames":[{"a":1},{"b":2}]}"#);
        assert_eq!(b.len(), batch_len(frames.iter().map(|f| f.len())));
        assert_eq!(batch_len([]), BATCH_OVERHEAD);
    }
}
