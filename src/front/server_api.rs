//! Bodies of the server HTTP API (`POST /rooms|users|connections/.../messages`), validated
//! before anything is forwarded: size, JSON, nesting, required `data`, optional `exclude`.

use crate::common::error::{ChatError, ErrorCode};
use crate::protocol::json::{looks_like_object, present, within_depth, MAX_DATA_DEPTH};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A validated message post; `data` borrows from the body text.
#[derive(Debug)]
pub struct MessagePost<'a> {
    pub data: &'a RawValue,
    /// A connection id to leave out (room posts only).
    pub exclude: Option<String>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(default)]
    exclude: Option<serde_json::Value>,
}

/// Parses `{"data":..., "exclude":...}`; `exclude` is only accepted when `allow_exclude`.
pub fn parse_message_post(
    body: &str,
    max_bytes: usize,
    allow_exclude: bool,
) -> Result<MessagePost<'_>, ChatError> {
    let bad = |m: String| ChatError::new(ErrorCode::BadRequest, m);
    if body.len() > max_bytes {
        return Err(bad(format!(
            "body is {} bytes; MAX_MESSAGE_BYTES is {max_bytes}",
            body.len()
        )));
    }
    if !within_depth(body) {
        return Err(bad(format!(
            "JSON nests deeper than {MAX_DATA_DEPTH} levels"
        )));
    }
    // serde would also read a struct from a JSON array; only objects are bodies.
    if !looks_like_object(body) {
        return Err(bad("body must be a JSON object".to_owned()));
    }
    let parsed: Body =
        serde_json::from_str(body).map_err(|e| bad(format!("body must be a JSON object: {e}")))?;
    let data = parsed
        .data
        .ok_or_else(|| bad("missing `data`".to_owned()))?;
    let exclude = match parsed.exclude {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if allow_exclude && !s.is_empty() => Some(s),
        Some(_) if allow_exclude => {
            return Err(bad("`exclude` must be a connection id string".to_owned()))
        }
        Some(_) => return Err(bad("`exclude` is only accepted by room posts".to_owned())),
    };
    Ok(MessagePost { data, exclude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_data_and_exclude() {
        let p = parse_message_post(r#"{"data":{"a":1},"exclude":"r.0"}"#, 1000, true).unwrap();
        assert_eq!(p.data.get(), r#"{"a":1}"#);
        assert_eq!(p.exclude.as_deref(), Some("r.0"));
        let p = parse_message_post(r#"{"data":null}"#, 1000, false).unwrap();
        assert_eq!(p.data.get(), "null");
    }

    #[test]
    fn refuses_bad_bodies_with_bad_request() {
        for (body, allow) in [
            ("", true),
            ("{", true),
            ("[1]", true),
            (r#"{"exclude":"x"}"#, true),
            (r#"{"data":1,"exclude":5}"#, true),
            (r#"{"data":1,"exclude":"x"}"#, false),
        ] {
            let e = parse_message_post(body, 1000, allow).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{body}");
        }
        let big = format!(r#"{{"data":"{}"}}"#, "x".repeat(100));
        assert_eq!(
            parse_message_post(&big, 50, true).unwrap_err().code,
            ErrorCode::BadRequest
        );
        let deep = format!(r#"{{"data":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(parse_message_post(&deep, 10_000, true).is_err());
    }
}
