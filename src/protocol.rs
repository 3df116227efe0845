//! Contract v1 frames: parsing what clients send, serialising what the server sends.
//!
//! Parsing is one pass of `serde_json` over the text. The `data` payload is kept as a borrowed
//! [`RawValue`]: it is validated as JSON but never turned into a tree, and it is copied verbatim
//! into the outgoing frame, which is serialised once per broadcast, not once per recipient.
//! `serde_json` refuses nesting deeper than 128 levels, so hostile input cannot exhaust the
//! stack; such input is reported as `bad_json`.

use crate::error::ErrorCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// Longest client-chosen message id, in characters.
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// Deepest nesting of arrays/objects accepted inside `data` (the frame object adds one level).
/// `serde_json` skips `RawValue`s and ignored fields without applying its recursion limit, so
/// we check the whole frame in one non-recursive pass first: no recipient (a browser's
/// `JSON.parse`, a history reader) is ever handed pathological nesting.
pub const MAX_DATA_DEPTH: usize = 64;

/// A validated client frame; `data` borrows from the received text.
#[derive(Debug)]
pub enum ClientFrame<'a> {
    /// Broadcast `data` to the room (`echo: false` leaves out the sender's own connection).
    Publish {
        data: &'a RawValue,
        id: Option<String>,
        echo: bool,
    },
    /// Send `data` to one connection, or to every connection of a user.
    Direct {
        to: Target,
        data: &'a RawValue,
        id: Option<String>,
    },
}

/// Who a `direct` frame is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Connection(String),
    User(String),
}

/// Why a frame was refused, with the client's `id` when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    pub id: Option<String>,
}

impl FrameError {
    fn new(code: ErrorCode, message: impl Into<String>, id: Option<String>) -> Self {
        FrameError {
            code,
            message: message.into(),
            id,
        }
    }
}

/// Every field any frame type may carry; each frame type then checks what it needs.
#[derive(Deserialize)]
struct AnyFrame<'a> {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    echo: Option<Value>,
    #[serde(default)]
    to: Option<Value>,
}

/// Distinguishes `"data": null` (present, JSON null) from a missing `data` field.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Parses and validates one text frame. `text` must already be within the size limit.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame<'_>, FrameError> {
    if nesting_depth(text) > MAX_DATA_DEPTH + 1 {
        return Err(FrameError::new(
            ErrorCode::BadJson,
            format!("JSON nests deeper than {MAX_DATA_DEPTH} levels inside the frame"),
            None,
        ));
    }
    // serde would also read a struct from a JSON array; only objects are frames.
    let trimmed = text.trim_start();
    if !trimmed.is_empty()
        && !trimmed.starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return Err(FrameError::new(
            ErrorCode::BadFrame,
            "a frame must be a JSON object with a string `type`",
            None,
        ));
    }
    let frame: AnyFrame = serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => FrameError::new(
                ErrorCode::BadFrame,
                "a frame must be a JSON object with a string `type`",
                None,
            ),
            _ => FrameError::new(ErrorCode::BadJson, format!("invalid JSON: {e}"), None),
        }
    })?;

    // The id is read first so that every later refusal can quote it back.
    let id = match frame.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if (1..=MAX_CLIENT_ID_LEN).contains(&s.chars().count()) => Some(s),
        Some(_) => {
            return Err(FrameError::new(
                ErrorCode::BadFrame,
                format!("`id` must be a string of 1-{MAX_CLIENT_ID_LEN} characters"),
                None,
            ))
        }
    };
    let bad = |message: &str| FrameError::new(ErrorCode::BadFrame, message, id.clone());

    let kind = match &frame.kind {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("`type` must be a string")),
        None => return Err(bad("missing `type`")),
    };
    let data = || frame.data.ok_or_else(|| bad("missing `data`"));

    match kind {
        "publish" => {
            let echo = match &frame.echo {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("`echo` must be a boolean")),
            };
            Ok(ClientFrame::Publish {
                data: data()?,
                id,
                echo,
            })
        }
        "direct" => {
            let to = parse_target(frame.to.as_ref()).map_err(|m| bad(&m))?;
            Ok(ClientFrame::Direct {
                to,
                data: data()?,
                id,
            })
        }
        other => Err(bad(&format!(
            "unknown frame type {:?}",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// Deepest array/object nesting in a JSON text already known to be valid. One pass, no
/// recursion; brackets inside strings are skipped (a `\\"` escape never ends a string).
pub fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn parse_target(to: Option<&Value>) -> Result<Target, String> {
    const USAGE: &str =
        "`to` must be {\"connection_id\": string} or {\"user_id\": string}, exactly one of them";
    let obj = to.and_then(Value::as_object).ok_or(USAGE)?;
    let connection = obj.get("connection_id");
    let user = obj.get("user_id");
    match (connection, user) {
        (Some(Value::String(c)), None) if !c.is_empty() => Ok(Target::Connection(c.clone())),
        (None, Some(Value::String(u))) if !u.is_empty() => Ok(Target::User(u.clone())),
        _ => Err(USAGE.to_owned()),
    }
}

// ---- Server frames ------------------------------------------------------------------------

/// The `from` of a message: a client connection, or the server API.
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

#[derive(Serialize)]
struct Welcome<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: &'a str,
    connection_id: &'a str,
    user_id: &'a str,
    members: &'a [Member],
    seq: u64,
}

/// `welcome`: the first frame on every connection; `seq` is the room's latest message seq.
pub fn welcome_frame(
    room: &str,
    connection_id: &str,
    user_id: &str,
    members: &[Member],
    seq: u64,
) -> String {
    to_json(&Welcome {
        kind: "welcome",
        room,
        connection_id,
        user_id,
        members,
        seq,
    })
}

/// Whether a user's presence began or ended in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceEvent {
    Join,
    Leave,
}

#[derive(Serialize)]
struct Presence<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    event: &'static str,
    user_id: &'a str,
}

/// `presence`: sent when a user's first connection to a room opens or its last one closes.
pub fn presence_frame(event: PresenceEvent, user_id: &str) -> String {
    to_json(&Presence {
        kind: "presence",
        event: match event {
            PresenceEvent::Join => "join",
            PresenceEvent::Leave => "leave",
        },
        user_id,
    })
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: &'a str,
    from: Sender<'a>,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    ts: u64,
    seq: u64,
}

/// `message`: a room broadcast, with its place in the room's log. `from` is always stamped
/// by the server.
pub fn message_frame(
    room: &str,
    from: Sender<'_>,
    data: &RawValue,
    id: Option<&str>,
    ts: u64,
    seq: u64,
) -> String {
    to_json(&Message {
        kind: "message",
        room,
        from,
        data,
        id,
        ts,
        seq,
    })
}

#[derive(Serialize)]
struct Ack<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    seq: u64,
}

/// `ack`: the publisher's confirmation that its message is durably stored as `seq`.
pub fn ack_frame(id: Option<&str>, seq: u64) -> String {
    to_json(&Ack {
        kind: "ack",
        id,
        seq,
    })
}

#[derive(Serialize)]
struct Gap {
    #[serde(rename = "type")]
    kind: &'static str,
    from: u64,
    to: u64,
}

/// `gap`: on resume, messages `from ..= to` are no longer retained.
pub fn gap_frame(from: u64, to: u64) -> String {
    to_json(&Gap {
        kind: "gap",
        from,
        to,
    })
}

#[derive(Serialize)]
struct Direct<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    from: Sender<'a>,
    data: &'a RawValue,
}

/// `direct`: a message to one connection or to all of one user's connections.
pub fn direct_frame(from: Sender<'_>, data: &RawValue) -> String {
    to_json(&Direct {
        kind: "direct",
        from,
        data,
    })
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// `error`: a refused frame. The connection stays open.
pub fn error_frame(code: ErrorCode, message: &str, id: Option<&str>) -> String {
    to_json(&ErrorFrame {
        kind: "error",
        code,
        message,
        id,
    })
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

/// Serialising our own frame structs cannot fail (string keys, no maps with odd keys, and
/// `RawValue`s that were validated on the way in); a fallback keeps that promise total.
fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| {
        String::from(r#"{"type":"error","code":"internal","message":"serialisation failed"}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn err(text: &str) -> FrameError {
        parse_client_frame(text).unwrap_err()
    }

    #[test]
    fn parses_publish_with_defaults() {
        match parse_client_frame(r#"{"type":"publish","data":{"text":"hi"}}"#).unwrap() {
            ClientFrame::Publish { data, id, echo } => {
                assert_eq!(data.get(), r#"{"text":"hi"}"#);
                assert_eq!(id, None);
                assert!(echo);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn null_data_is_data() {
        let f = parse_client_frame(r#"{"type":"publish","data":null,"id":"m1","echo":false}"#);
        match f.unwrap() {
            ClientFrame::Publish { data, id, echo } => {
                assert_eq!(data.get(), "null");
                assert_eq!(id.as_deref(), Some("m1"));
                assert!(!echo);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_direct_targets() {
        let f = parse_client_frame(r#"{"type":"direct","to":{"connection_id":"r.0"},"data":1}"#);
        assert!(matches!(
            f.unwrap(),
            ClientFrame::Direct { to: Target::Connection(c), .. } if c == "r.0"
        ));
        let f = parse_client_frame(r#"{"type":"direct","to":{"user_id":"bob"},"data":1}"#);
        assert!(matches!(
            f.unwrap(),
            ClientFrame::Direct { to: Target::User(u), .. } if u == "bob"
        ));
    }

    #[test]
    fn unparseable_text_is_bad_json() {
        for text in ["", "{", "nope", "{\"type\":\"publish\",}", "\u{0}"] {
            assert_eq!(err(text).code, ErrorCode::BadJson, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let nest =
            |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
        let deep = format!(r#"{{"type":"publish","data":{}}}"#, nest("[", "]", 100_000));
        assert_eq!(err(&deep).code, ErrorCode::BadJson);
        let deep_unknown = format!(
            r#"{{"type":"publish","data":1,"x":{}}}"#,
            nest("{\"a\":", "}", 50_000)
        );
        assert_eq!(err(&deep_unknown).code, ErrorCode::BadJson);
        let just_over = format!(
            r#"{{"type":"publish","data":{},"id":"d"}}"#,
            nest("[", "]", 65)
        );
        assert_eq!(err(&just_over).code, ErrorCode::BadJson);
        let deep_arrays_unknown = format!(
            r#"{{"type":"publish","data":1,"x":{}}}"#,
            nest("[", "]", 2000)
        );
        assert_eq!(err(&deep_arrays_unknown).code, ErrorCode::BadJson);
        let at_limit = format!(r#"{{"type":"publish","data":{}}}"#, nest("[", "]", 64));
        assert!(parse_client_frame(&at_limit).is_ok());
    }

    #[test]
    fn nesting_depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(r#"["[[[[", "\"]]]{{{"]"#), 1);
    }

    #[test]
    fn structural_problems_are_bad_frame_with_the_id() {
        let cases = [
            (r#"[1,2]"#, None),
            (r#"["publish",{"x":1},"id"]"#, None),
            (r#""publish""#, None),
            (r#"{"data":1}"#, None),
            (r#"{"type":7,"data":1,"id":"a"}"#, Some("a")),
            (r#"{"type":"shout","data":1,"id":"b"}"#, Some("b")),
            (r#"{"type":"publish","id":"c"}"#, Some("c")),
            (
                r#"{"type":"publish","data":1,"echo":"no","id":"d"}"#,
                Some("d"),
            ),
            (r#"{"type":"publish","data":1,"id":5}"#, None),
            (r#"{"type":"publish","data":1,"id":""}"#, None),
            (r#"{"type":"direct","data":1,"id":"e"}"#, Some("e")),
            (r#"{"type":"direct","to":"bob","data":1}"#, None),
            (r#"{"type":"direct","to":{},"data":1}"#, None),
            (
                r#"{"type":"direct","to":{"user_id":"a","connection_id":"b"},"data":1}"#,
                None,
            ),
            (r#"{"type":"direct","to":{"user_id":""},"data":1}"#, None),
            (r#"{"type":"direct","to":{"connection_id":"x"}}"#, None),
            (r#"{"type":"publish","type":"publish","data":1}"#, None),
        ];
        for (text, id) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::BadFrame, "{text}");
            assert_eq!(e.id.as_deref(), id, "{text}");
        }
        let long_id = format!(
            r#"{{"type":"publish","data":1,"id":"{}"}}"#,
            "x".repeat(129)
        );
        assert_eq!(err(&long_id).code, ErrorCode::BadFrame);
    }

    #[test]
    fn a_forged_from_is_ignored() {
        let f = parse_client_frame(
            r#"{"type":"publish","data":"x","from":{"user_id":"admin","server":true}}"#,
        )
        .unwrap();
        let ClientFrame::Publish { data, .. } = f else {
            panic!()
        };
        let out = message_frame(
            "r",
            Sender::Client {
                user_id: "mallory",
                connection_id: "r.0000000000000000",
            },
            data,
            None,
            5,
            1,
        );
        let v = json(&out);
        assert_eq!(
            v["from"],
            json(r#"{"user_id":"mallory","connection_id":"r.0000000000000000"}"#)
        );
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
    fn server_frames_have_the_contract_shape() {
        let members = [Member {
            user_id: "a".into(),
            connections: 2,
        }];
        assert_eq!(
            json(&welcome_frame("r", "r.c", "a", &members, 4)),
            json(
                r#"{"type":"welcome","room":"r","connection_id":"r.c","user_id":"a","members":[{"user_id":"a","connections":2}],"seq":4}"#
            )
        );
        assert_eq!(
            json(&presence_frame(PresenceEvent::Leave, "a")),
            json(r#"{"type":"presence","event":"leave","user_id":"a"}"#)
        );
        let data = RawValue::from_string(r#"{"k":[1,"é"]}"#.into()).unwrap();
        assert_eq!(
            json(&message_frame("r", Sender::Server, &data, Some("m"), 9, 3)),
            json(
                r#"{"type":"message","room":"r","from":{"server":true},"data":{"k":[1,"é"]},"id":"m","ts":9,"seq":3}"#
            )
        );
        assert_eq!(
            json(&direct_frame(Sender::Server, &data)),
            json(r#"{"type":"direct","from":{"server":true},"data":{"k":[1,"é"]}}"#)
        );
        assert_eq!(
            json(&error_frame(
                ErrorCode::NotFound,
                "no such connection",
                Some("x")
            )),
            json(r#"{"type":"error","code":"not_found","message":"no such connection","id":"x"}"#)
        );
        assert!(!error_frame(ErrorCode::BadJson, "m", None).contains("\"id\""));
        assert_eq!(
            json(&ack_frame(Some("m"), 7)),
            json(r#"{"type":"ack","id":"m","seq":7}"#)
        );
        assert_eq!(json(&ack_frame(None, 7)), json(r#"{"type":"ack","seq":7}"#));
        assert_eq!(
            json(&gap_frame(1, 5)),
            json(r#"{"type":"gap","from":1,"to":5}"#)
        );
    }
}
