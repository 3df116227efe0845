//! The chat extensions' client frames (docs/protocol.md, "Typing, read cursors, edits,
//! deletions, reactions"): `typing`, `read`, `edit`, `delete`, `react`. Their fields are read
//! by [`super::client::parse_client_frame`] with every other field; this module checks them.

use super::client::ClientFrame;
use serde_json::value::RawValue;
use serde_json::Value;

/// Longest reaction, in characters (an emoji sequence, or a short code such as `:+1:`).
pub const MAX_EMOJI_CHARS: usize = 32;

/// Largest seq a frame may name: JavaScript numbers (and the SQL binding) are exact below 2^53.
const MAX_SEQ: u64 = (1 << 53) - 1;

/// The fields the extensions read, as they came.
pub struct ChatFields<'a> {
    pub stop: Option<Value>,
    pub seq: Option<Value>,
    pub target: Option<Value>,
    pub emoji: Option<Value>,
    pub on: Option<Value>,
    pub data: Option<&'a RawValue>,
}

/// One extension frame of type `kind`; `Err` is the `bad_frame` message.
pub fn parse<'a>(
    kind: &str,
    f: ChatFields<'a>,
    id: Option<String>,
) -> Result<ClientFrame<'a>, String> {
    match kind {
        "typing" => {
            let stop = match f.stop {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => b,
                Some(_) => return Err("`stop` must be a boolean".into()),
            };
            Ok(ClientFrame::Typing { stop })
        }
        "read" => Ok(ClientFrame::Read {
            seq: seq(f.seq.as_ref(), "seq", 0)?,
            id,
        }),
        "edit" => Ok(ClientFrame::Edit {
            target: target(&f)?,
            data: f.data.ok_or("missing `data`")?,
            id,
        }),
        "delete" => Ok(ClientFrame::Delete {
            target: target(&f)?,
            id,
        }),
        "react" => {
            let target = target(&f)?;
            let on = match f.on {
                Some(Value::Bool(b)) => b,
                _ => return Err("`on` must be true or false".into()),
            };
            Ok(ClientFrame::React {
                target,
                emoji: emoji(f.emoji)?,
                on,
                id,
            })
        }
        other => Err(format!("unknown frame type {other:?}")),
    }
}

fn target(f: &ChatFields<'_>) -> Result<u64, String> {
    seq(f.target.as_ref(), "target", 1)
}

/// A seq field: an integer from `min` to 2^53 - 1.
fn seq(v: Option<&Value>, name: &str, min: u64) -> Result<u64, String> {
    v.and_then(Value::as_u64)
        .filter(|s| (min..=MAX_SEQ).contains(s))
        .ok_or_else(|| format!("`{name}` must be an integer from {min} to 2^53-1"))
}

/// A reaction: 1 to [`MAX_EMOJI_CHARS`] characters, none of them a control character.
fn emoji(v: Option<Value>) -> Result<String, String> {
    match v {
        Some(Value::String(e))
            if (1..=MAX_EMOJI_CHARS).contains(&e.chars().count())
                && !e.chars().any(char::is_control) =>
        {
            Ok(e)
        }
        _ => Err(format!(
            "`emoji` must be 1-{MAX_EMOJI_CHARS} characters, no control characters"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::common::error::ErrorCode;
    use crate::protocol::{parse_client_frame, ClientFrame};

    #[test]
    fn the_extension_frames_parse() {
        fn f(t: &str) -> ClientFrame<'_> {
            parse_client_frame(t).unwrap()
        }
        assert!(matches!(
            f(r#"{"type":"typing"}"#),
            ClientFrame::Typing { stop: false }
        ));
        assert!(matches!(
            f(r#"{"type":"typing","stop":true}"#),
            ClientFrame::Typing { stop: true }
        ));
        assert!(matches!(
            f(r#"{"type":"read","seq":0}"#),
            ClientFrame::Read { seq: 0, id: None }
        ));
        match f(r#"{"type":"edit","target":3,"data":{"t":"x"},"id":"e1"}"#) {
            ClientFrame::Edit { target, data, id } => {
                assert_eq!(
                    (target, data.get(), id.as_deref()),
                    (3, r#"{"t":"x"}"#, Some("e1"))
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            f(r#"{"type":"delete","target":9}"#),
            ClientFrame::Delete {
                target: 9,
                id: None
            }
        ));
        match f(r#"{"type":"react","target":2,"emoji":"👍🏽","on":false,"id":"r"}"#) {
            ClientFrame::React {
                target,
                emoji,
                on,
                id,
            } => assert_eq!(
                (target, emoji.as_str(), on, id.as_deref()),
                (2, "👍🏽", false, Some("r"))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_extension_frames_are_bad_frame_with_their_id() {
        let long = format!(
            r#"{{"type":"react","target":1,"emoji":"{}","on":true,"id":"z"}}"#,
            "x".repeat(33)
        );
        let cases = [
            r#"{"type":"typing","stop":"yes","id":"z"}"#,
            r#"{"type":"read","id":"z"}"#,
            r#"{"type":"read","seq":-1,"id":"z"}"#,
            r#"{"type":"read","seq":1.5,"id":"z"}"#,
            r#"{"type":"read","seq":"3","id":"z"}"#,
            r#"{"type":"read","seq":9007199254740992,"id":"z"}"#,
            r#"{"type":"edit","target":1,"id":"z"}"#,
            r#"{"type":"edit","target":0,"data":1,"id":"z"}"#,
            r#"{"type":"delete","id":"z"}"#,
            r#"{"type":"react","target":1,"emoji":"x","id":"z"}"#,
            r#"{"type":"react","target":1,"emoji":"","on":true,"id":"z"}"#,
            r#"{"type":"react","target":1,"emoji":"a\nb","on":true,"id":"z"}"#,
            r#"{"type":"react","target":1,"emoji":5,"on":true,"id":"z"}"#,
            &long,
        ];
        for text in cases {
            let e = parse_client_frame(text).unwrap_err();
            assert_eq!(
                (e.code, e.id.as_deref()),
                (ErrorCode::BadFrame, Some("z")),
                "{text}"
            );
        }
        let ok = format!(
            r#"{{"type":"react","target":1,"emoji":"{}","on":true}}"#,
            "é".repeat(32)
        );
        assert!(parse_client_frame(&ok).is_ok(), "32 characters, not bytes");
    }
}
