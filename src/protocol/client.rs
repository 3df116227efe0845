//! Frames clients send: parsing and validation into a [`ClientFrame`].
//!
//! Parsing is one pass of `serde_json` over the text. The `data` payload is kept as a borrowed
//! [`RawValue`]: it is validated as JSON but never turned into a tree, and it is copied verbatim
//! into the outgoing frame. Nesting is bounded before serde runs (see [`super::json`]), so
//! hostile input cannot exhaust the stack; such input is reported as `bad_json`.

use super::json::{looks_like_object, present, within_depth, MAX_DATA_DEPTH};
use crate::common::error::ErrorCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Longest client-chosen message id, in characters.
pub const MAX_CLIENT_ID_LEN: usize = 128;

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
    /// Refresh the connection's token in place (same user), before it expires.
    Auth { token: String, id: Option<String> },
    /// The sender is typing (or stopped: `stop`). Ephemeral: relayed, never stored.
    Typing { stop: bool },
    /// The sender has read the room up to `seq` (`id` only quoted by a refusal).
    Read { seq: u64, id: Option<String> },
    /// Replace the `data` of the sender's own message `target`.
    Edit {
        target: u64,
        data: &'a RawValue,
        id: Option<String>,
    },
    /// Delete the sender's own message `target` (its data is erased).
    Delete { target: u64, id: Option<String> },
    /// Add (`on`) or remove the sender's reaction `emoji` to message `target`.
    React {
        target: u64,
        emoji: String,
        on: bool,
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
    pub fn new(code: ErrorCode, message: impl Into<String>, id: Option<String>) -> Self {
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
    #[serde(default)]
    token: Option<Value>,
    // The fields of the chat extensions (`typing`, `read`, `edit`, `delete`, `react`).
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    seq: Option<Value>,
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    emoji: Option<Value>,
    #[serde(default)]
    on: Option<Value>,
}

const NOT_A_FRAME: &str = "a frame must be a JSON object with a string `type`";

/// Parses and validates one text frame. `text` must already be within the size limit.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame<'_>, FrameError> {
    let frame = parse_any(text)?;
    // The id is read first so that every later refusal can quote it back.
    let id = parse_id(frame.id.as_ref())?;
    let bad = |message: &str| FrameError::new(ErrorCode::BadFrame, message, id.clone());
    let kind = match &frame.kind {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad("`type` must be a string")),
        None => return Err(bad("missing `type`")),
    };
    let data = frame.data.ok_or_else(|| bad("missing `data`"));
    match kind {
        "publish" => {
            let echo = match &frame.echo {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("`echo` must be a boolean")),
            };
            Ok(ClientFrame::Publish {
                data: data?,
                id,
                echo,
            })
        }
        "direct" => {
            let to = parse_target(frame.to.as_ref()).map_err(|m| bad(&m))?;
            Ok(ClientFrame::Direct {
                to,
                data: data?,
                id,
            })
        }
        "auth" => match frame.token {
            Some(Value::String(token)) if !token.is_empty() => Ok(ClientFrame::Auth { token, id }),
            _ => Err(bad("`token` must be a non-empty string")),
        },
        "typing" | "read" | "edit" | "delete" | "react" => {
            let fields = super::chat::ChatFields {
                stop: frame.stop,
                seq: frame.seq,
                target: frame.target,
                emoji: frame.emoji,
                on: frame.on,
                data: data.ok(),
            };
            super::chat::parse(kind, fields, id.clone()).map_err(|m| bad(&m))
        }
        other => Err(bad(&format!(
            "unknown frame type {:?}",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// The frame's `id`, when it is readable and valid, without validating anything else: lets a
/// refusal that happens before parsing (`rate_limited`) still name the frame it refuses.
pub fn read_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<Value>,
    }
    if !within_depth(text) || !looks_like_object(text) {
        return None;
    }
    let parsed: IdOnly = serde_json::from_str(text).ok()?;
    parse_id(parsed.id.as_ref()).ok().flatten()
}

/// Depth, object shape and JSON syntax: everything before the fields are looked at.
fn parse_any(text: &str) -> Result<AnyFrame<'_>, FrameError> {
    if !within_depth(text) {
        return Err(FrameError::new(
            ErrorCode::BadJson,
            format!("JSON nests deeper than {MAX_DATA_DEPTH} levels inside a field such as `data`"),
            None,
        ));
    }
    let not_a_frame = || FrameError::new(ErrorCode::BadFrame, NOT_A_FRAME, None);
    if !text.trim_start().is_empty()
        && !looks_like_object(text)
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return Err(not_a_frame());
    }
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => not_a_frame(),
        _ => FrameError::new(ErrorCode::BadJson, format!("invalid JSON: {e}"), None),
    })
}

fn parse_id(id: Option<&Value>) -> Result<Option<String>, FrameError> {
    match id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if (1..=MAX_CLIENT_ID_LEN).contains(&s.chars().count()) => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(FrameError::new(
            ErrorCode::BadFrame,
            format!("`id` must be a string of 1-{MAX_CLIENT_ID_LEN} characters"),
            None,
        )),
    }
}

fn parse_target(to: Option<&Value>) -> Result<Target, String> {
    const USAGE: &str =
        "`to` must be {\"connection_id\": string} or {\"user_id\": string}, exactly one of them";
    let obj = to.and_then(Value::as_object).ok_or(USAGE)?;
    match (obj.get("connection_id"), obj.get("user_id")) {
        (Some(Value::String(c)), None) if !c.is_empty() => Ok(Target::Connection(c.clone())),
        (None, Some(Value::String(u))) if crate::common::names::is_valid_user_id(u) => {
            Ok(Target::User(u.clone()))
        }
        (None, Some(Value::String(_))) => Err(format!(
            "`to.user_id` must be a user id: {}",
            crate::common::names::USER_ID_RULE
        )),
        _ => Err(USAGE.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Sender, ServerFrame};

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
            (
                r#"{"type":"direct","to":{"user_id":"a\u0000b"},"data":1}"#,
                None,
            ),
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
        let out = ServerFrame::Message {
            room: "r",
            from: Sender::Client {
                user_id: "mallory",
                connection_id: "r.0000000000000000",
            },
            data,
            id: None,
            ts: 5,
            seq: 1,
        }
        .to_json();
        let v = json(&out);
        assert_eq!(
            v["from"],
            json(r#"{"user_id":"mallory","connection_id":"r.0000000000000000"}"#)
        );
    }

    #[test]
    fn auth_frames_carry_a_token() {
        let f = parse_client_frame(r#"{"type":"auth","token":"a.b.c","id":"r1"}"#).unwrap();
        assert!(
            matches!(f, ClientFrame::Auth { token, id } if token == "a.b.c" && id.as_deref() == Some("r1"))
        );
        for bad in [
            r#"{"type":"auth"}"#,
            r#"{"type":"auth","token":""}"#,
            r#"{"type":"auth","token":5}"#,
        ] {
            assert_eq!(err(bad).code, ErrorCode::BadFrame, "{bad}");
        }
    }

    #[test]
    fn ids_are_read_without_parsing_the_rest() {
        assert_eq!(
            read_id(r#"{"type":"publish","id":"m1","data":[1]}"#).as_deref(),
            Some("m1")
        );
        assert_eq!(
            read_id(r#"{"type":"nope","id":"m2"}"#).as_deref(),
            Some("m2")
        );
        for none in [
            "",
            "[1]",
            "{",
            r#"{"id":5}"#,
            r#"{"id":""}"#,
            r#"{"data":1}"#,
        ] {
            assert_eq!(read_id(none), None, "{none}");
        }
        let deep = format!(r#"{{"id":"x","d":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(read_id(&deep), None);
    }
}
