//! JSON checks shared by everything that reads untrusted JSON: client frames and the bodies of
//! the server HTTP API.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Deepest nesting of arrays/objects accepted inside `data` (the frame object adds one level).
/// `serde_json` skips `RawValue`s and ignored fields without applying its recursion limit, so
/// the whole text is checked in one non-recursive pass first: no recipient (a browser's
/// `JSON.parse`, a history reader) is ever handed pathological nesting.
pub const MAX_DATA_DEPTH: usize = 64;

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

/// `true` when the text nests no deeper than a frame object holding `data` at the limit.
pub fn within_depth(json: &str) -> bool {
    nesting_depth(json) <= MAX_DATA_DEPTH + 1
}

/// `true` when the text starts like a JSON object. serde would also read a struct from a
/// JSON array, so bodies and frames check this before deserialising into a struct.
pub fn looks_like_object(json: &str) -> bool {
    json.trim_start().starts_with('{')
}

/// Field deserialiser that tells `"data": null` (present, JSON null) from a missing field:
/// with `#[serde(default, deserialize_with = "present")]` a missing field stays `None`.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(r#"["[[[[", "\"]]]{{{"]"#), 1);
        assert!(within_depth(&format!(
            "{}{}",
            "[".repeat(65),
            "]".repeat(65)
        )));
        assert!(!within_depth(&format!(
            "{}{}",
            "[".repeat(66),
            "]".repeat(66)
        )));
    }

    #[test]
    fn present_distinguishes_null_from_missing() {
        #[derive(Deserialize)]
        struct B<'a> {
            #[serde(default, borrow, deserialize_with = "present")]
            data: Option<&'a RawValue>,
        }
        let b: B = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert_eq!(b.data.map(RawValue::get), Some("null"));
        let b: B = serde_json::from_str("{}").unwrap();
        assert!(b.data.is_none());
        assert!(looks_like_object("  {}") && !looks_like_object("[1]"));
    }
}
