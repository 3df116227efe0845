//! History pages (`GET /rooms/{room}/messages`): the query, where a page stops, and its body.
//!
//! A page is bounded twice: by `limit` (at most [`MAX_HISTORY_LIMIT`] messages) and by
//! `HISTORY_PAGE_MAX_BYTES` (default [`DEFAULT_PAGE_MAX_BYTES`]). Messages may be up to
//! `MAX_MESSAGE_BYTES` each (64 KiB by default, 1 MiB at most), so 200 of them could make a
//! 12 MiB body, built whole in the room's Wasm memory — and a reader may ask 600 times a minute.
//! The byte budget stops a page early instead; its `next` cursor continues from there, so a
//! client that pages until `next` is null reads everything, whatever the sizes.

use crate::common::error::{ChatError, ErrorCode};

/// `HISTORY_PAGE_MAX_BYTES` when unset: at most 1 MiB of messages on one page.
pub const DEFAULT_PAGE_MAX_BYTES: usize = 1 << 20;

/// Largest page of `GET /rooms/{room}/messages`.
pub const MAX_HISTORY_LIMIT: u32 = 200;
/// Page size when `limit` is not given.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;

/// A validated history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// Newest first, seq < `before` (`u64::MAX`: from the newest).
    Before { before: u64, limit: u32 },
    /// Oldest first, seq > `since`.
    Since { since: u64, limit: u32 },
}

impl HistoryQuery {
    /// Parses `before`, `since` and `limit` (at most one of `before`/`since`).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HistoryQuery, ChatError> {
        let bad = |m: String| ChatError::new(ErrorCode::BadRequest, m);
        let (mut before, mut since, mut limit) = (None, None, None);
        for (k, v) in params {
            let slot = match k {
                "before" => &mut before,
                "since" => &mut since,
                "limit" => &mut limit,
                _ => continue,
            };
            let n: u64 = v
                .parse()
                .map_err(|_| bad(format!("`{k}` must be a non-negative integer")))?;
            *slot = Some(n);
        }
        let limit = match limit {
            None => DEFAULT_HISTORY_LIMIT,
            Some(l) if (1..=u64::from(MAX_HISTORY_LIMIT)).contains(&l) => l as u32,
            Some(_) => return Err(bad(format!("`limit` must be 1-{MAX_HISTORY_LIMIT}"))),
        };
        match (before, since) {
            (Some(_), Some(_)) => Err(bad("give `before` or `since`, not both".into())),
            (Some(before), None) => Ok(HistoryQuery::Before { before, limit }),
            (None, Some(since)) => Ok(HistoryQuery::Since { since, limit }),
            (None, None) => Ok(HistoryQuery::Before {
                before: u64::MAX,
                limit,
            }),
        }
    }

    /// The query as parameters that [`HistoryQuery::parse`] reads back to the same query.
    pub fn to_params(&self) -> Vec<(&'static str, u64)> {
        match *self {
            HistoryQuery::Before { before, limit } if before == u64::MAX => {
                vec![("limit", u64::from(limit))]
            }
            HistoryQuery::Before { before, limit } => {
                vec![("before", before), ("limit", u64::from(limit))]
            }
            HistoryQuery::Since { since, limit } => {
                vec![("since", since), ("limit", u64::from(limit))]
            }
        }
    }

    pub fn limit(&self) -> u32 {
        match self {
            HistoryQuery::Before { limit, .. } | HistoryQuery::Since { limit, .. } => *limit,
        }
    }

    /// Where this page stops. `rows` are `(seq, bytes of the stored frame)` in page order, up
    /// to `limit + 1` of them (the extra one tells whether more follow). The page takes at
    /// most `limit` of them whose frames, with the commas between them, fit in `max_bytes` —
    /// and always the first, whatever its size, so that paging moves on even past a message
    /// larger than the budget. The next page continues from the last one taken.
    pub fn cut(&self, rows: &[(u64, usize)], max_bytes: usize) -> PageCut {
        let mut bytes = 0usize;
        let mut take = 0usize;
        for &(_, len) in rows.iter().take(self.limit() as usize) {
            let cost = len + usize::from(take > 0);
            if take > 0 && bytes + cost > max_bytes {
                break;
            }
            bytes += cost;
            take += 1;
        }
        let next = (take < rows.len())
            .then(|| take.checked_sub(1).map(|last| rows[last].0))
            .flatten();
        PageCut { take, next }
    }
}

/// How much of what the store holds past a cursor one page takes ([`HistoryQuery::cut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCut {
    /// Rows taken, in page order from the query's cursor.
    pub take: usize,
    /// The cursor of the next page (`None`: this page reaches the end).
    pub next: Option<u64>,
}

/// `{"messages":[<frames>],"next":<cursor|null>}`, built from stored frame texts as they are.
pub fn history_body(frames: &[String], next: Option<u64>) -> String {
    let mut body = String::with_capacity(frames.iter().map(|f| f.len() + 1).sum::<usize>() + 32);
    body.push_str(r#"{"messages":["#);
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(f);
    }
    body.push_str(r#"],"next":"#);
    match next {
        Some(n) => body.push_str(&n.to_string()),
        None => body.push_str("null"),
    }
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_queries_are_validated() {
        let q = |s: &[(&'static str, &'static str)]| HistoryQuery::parse(s.iter().copied());
        assert_eq!(
            q(&[]).unwrap(),
            HistoryQuery::Before {
                before: u64::MAX,
                limit: 50
            }
        );
        assert_eq!(
            q(&[("before", "9"), ("limit", "200")]).unwrap(),
            HistoryQuery::Before {
                before: 9,
                limit: 200
            }
        );
        assert_eq!(
            q(&[("since", "0"), ("token", "x")]).unwrap(),
            HistoryQuery::Since {
                since: 0,
                limit: 50
            }
        );
        for bad in [
            &[("limit", "201")][..],
            &[("limit", "0")],
            &[("limit", "-1")],
            &[("before", "x")],
            &[("since", "1e3")],
            &[("since", "1"), ("before", "2")],
            &[("since", "99999999999999999999999")],
        ] {
            assert_eq!(q(bad).unwrap_err().code, ErrorCode::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn pages_and_cursors() {
        let q = HistoryQuery::Since { since: 0, limit: 2 };
        let cut = |q: HistoryQuery, rows: &[(u64, usize)]| q.cut(rows, usize::MAX);
        assert_eq!(
            cut(q, &[(1, 9), (2, 9), (3, 9)]),
            PageCut {
                take: 2,
                next: Some(2)
            }
        );
        assert_eq!(
            cut(q, &[(3, 9)]),
            PageCut {
                take: 1,
                next: None
            }
        );
        assert_eq!(
            cut(q, &[]),
            PageCut {
                take: 0,
                next: None
            }
        );
        let b = HistoryQuery::Before {
            before: 10,
            limit: 2,
        };
        assert_eq!(
            cut(b, &[(9, 9), (8, 9), (7, 9)]),
            PageCut {
                take: 2,
                next: Some(8)
            }
        );
        assert_eq!(
            history_body(&[r#"{"seq":1}"#.into(), r#"{"seq":2}"#.into()], Some(2)),
            r#"{"messages":[{"seq":1},{"seq":2}],"next":2}"#
        );
        assert_eq!(history_body(&[], None), r#"{"messages":[],"next":null}"#);
    }

    #[test]
    fn a_page_stops_at_its_byte_budget() {
        let q = HistoryQuery::Since {
            since: 0,
            limit: 200,
        };
        let rows: Vec<(u64, usize)> = (1..=10).map(|seq| (seq, 100)).collect();
        // 100 + (1 + 100) * 2 = 302 bytes: three frames and their two commas.
        assert_eq!(
            q.cut(&rows, 302),
            PageCut {
                take: 3,
                next: Some(3)
            }
        );
        assert_eq!(
            q.cut(&rows, 301),
            PageCut {
                take: 2,
                next: Some(2)
            }
        );
        assert_eq!(
            q.cut(&rows, 10_000),
            PageCut {
                take: 10,
                next: None
            }
        );
        // A message larger than the whole budget still makes a page of its own.
        assert_eq!(
            q.cut(&[(1, 5_000), (2, 1)], 1_000),
            PageCut {
                take: 1,
                next: Some(1)
            }
        );
        assert_eq!(
            q.cut(&[(1, 5_000)], 1_000),
            PageCut {
                take: 1,
                next: None
            }
        );
        // The budget never lets `limit` be exceeded.
        let two = HistoryQuery::Before {
            before: 99,
            limit: 2,
        };
        assert_eq!(
            two.cut(&[(9, 1), (8, 1), (7, 1)], 1_000),
            PageCut {
                take: 2,
                next: Some(8)
            }
        );
    }
}
