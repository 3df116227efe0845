//! `GET /rooms/{room}/export?since=N` (admin): the room's whole retained log as NDJSON — one
//! history entry per line, oldest first, exactly as `GET /rooms/{room}/messages` shows them.
//!
//! **Bounded memory, whatever the room's size.** The export is never built whole: the front
//! worker reads the room one history page at a time (`since` paging, [`EXPORT_PAGE_LIMIT`]
//! entries and `HISTORY_PAGE_MAX_BYTES` at most per page, the very pages a client would read)
//! and hands each page to the response's `ReadableStream` only when the reader pulls for more.
//! So at most one page is in the room's memory and one in the front worker's at any time, and
//! a slow reader slows the reads instead of filling memory. The room needs no new code path:
//! an export is a history reader that pages to the end.
//!
//! **How it ends.** Nothing is added to the stream: every line is a log entry with its `seq`,
//! the last line is the newest entry when the export ran to the end, and an export that fails
//! part-way breaks the response (the body errors, it does not end cleanly). To continue after
//! an interrupted export, ask again with `?since=` the `seq` of the last complete line.

use crate::common::error::{ChatError, ErrorCode};
use crate::room::log::history_page::MAX_HISTORY_LIMIT;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Entries asked per page: the largest history page (the byte budget may stop it earlier).
pub const EXPORT_PAGE_LIMIT: u32 = MAX_HISTORY_LIMIT;

/// The export's `Content-Type`.
pub const NDJSON: &str = "application/x-ndjson";

/// `?since=N`: export the entries after seq `N` (absent: from the start, `0`).
pub fn parse_since(since: Option<&str>) -> Result<u64, ChatError> {
    match since {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            ChatError::new(
                ErrorCode::BadRequest,
                "`since` must be a non-negative integer",
            )
        }),
    }
}

/// A history page as the room answers it, its entries kept as the stored texts.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
    next: Option<u64>,
}

/// One history page body (`{"messages":[...],"next":N|null}`) as NDJSON lines, and the
/// cursor of the next page (`None`: this page reached the end of the log). `Err` when the
/// body is not a history page (an internal failure, never a client's doing).
pub fn page_to_ndjson(body: &str) -> Result<(String, Option<u64>), serde_json::Error> {
    let page: Page<'_> = serde_json::from_str(body)?;
    let mut lines = String::with_capacity(body.len());
    for entry in &page.messages {
        push_line(&mut lines, entry.get());
    }
    Ok((lines, page.next))
}

/// Appends one entry as one line. A valid JSON text can hold a raw line break only as
/// whitespace between tokens (inside strings it must be escaped), and a server post's `data`
/// is stored as it was sent — possibly pretty-printed. Such breaks become spaces, so every
/// entry stays on its line and still means the same.
fn push_line(lines: &mut String, entry: &str) {
    if entry.contains(['\n', '\r']) {
        lines.extend(entry.chars().map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        }));
    } else {
        lines.push_str(entry);
    }
    lines.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_non_negative_integer() {
        assert_eq!(parse_since(None).unwrap(), 0);
        assert_eq!(parse_since(Some("42")).unwrap(), 42);
        for bad in ["", "-1", "x", "1.5", "99999999999999999999999"] {
            let e = parse_since(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad}");
        }
    }

    #[test]
    fn a_page_becomes_one_line_per_entry() {
        let body = r#"{"messages":[{"type":"message","seq":1,"data":{"a":[1, 2]}},{"type":"edit","seq":2}],"next":2}"#;
        let (lines, next) = page_to_ndjson(body).unwrap();
        assert_eq!(
            lines,
            "{\"type\":\"message\",\"seq\":1,\"data\":{\"a\":[1, 2]}}\n{\"type\":\"edit\",\"seq\":2}\n"
        );
        assert_eq!(next, Some(2));
        let (lines, next) = page_to_ndjson(r#"{"messages":[],"next":null}"#).unwrap();
        assert_eq!((lines.as_str(), next), ("", None));
    }

    #[test]
    fn line_breaks_between_tokens_do_not_split_an_entry() {
        let body = "{\"messages\":[{\"seq\":1,\"data\":{\r\n \"t\": \"a\\nb\"\n}}],\"next\":null}";
        let (lines, _) = page_to_ndjson(body).unwrap();
        assert_eq!(lines.matches('\n').count(), 1);
        let entry: serde_json::Value = serde_json::from_str(lines.trim_end()).unwrap();
        assert_eq!(entry["data"]["t"], "a\nb");
    }

    #[test]
    fn a_body_that_is_not_a_page_is_an_error() {
        assert!(page_to_ndjson(r#"{"error":"x"}"#).is_err());
        assert!(page_to_ndjson("nope").is_err());
    }
}
