//! The outbox's rows: one per turn, holding that turn's events (issue 24).
//!
//! An outbox row is what costs: SQLite writes a row (and an index entry) per insert, about as
//! much as the log's own row, whatever its size. So an object's turn writes its events as
//! **one row** — their texts joined with commas, as a POST body carries them — instead of one
//! row per event. A POST is still at most [`super::MAX_BATCH_EVENTS`] events and
//! [`super::MAX_BATCH_BYTES`], so it may take whole rows and part of one: a row keeps `skip`,
//! how many of its first events have left (delivered, or moved to the dead letters), and only
//! the rest in its text. An event's identity in the outbox is (row, index among the row's
//! events as recorded): a batch read before an erasure or a backlog move still names exactly
//! the events it sent ([`Cut`]), so a cut is never applied twice.
//!
//! This module is the pure half: splitting a row's text into its events ([`split`]), how many
//! of the oldest events one step takes across rows ([`take`]), and how a turn's events group
//! into rows ([`row_sizes`]). The SQL is in `src/shell/webhooks/`.

use super::Backlog;

/// A row holds at most this many bytes of events (unless one event is larger): a turn that
/// recorded more writes several rows, each far below the platform's 2 MB per row.
pub const MAX_ROW_BYTES: usize = 512 * 1024;

/// The events of a row's text (`e1,e2,...`, each a JSON object or value): their slices, in
/// order, found by the commas outside strings and brackets. The texts are ours (serialised
/// by serde_json), so well-formed; an unbalanced text still splits without panicking.
pub fn split(text: &str) -> Vec<&str> {
    let (mut events, mut start) = (Vec::new(), 0);
    for comma in Commas::new(text) {
        events.push(&text[start..comma]);
        start = comma + 1;
    }
    if start < text.len() {
        events.push(&text[start..]);
    }
    events
}

/// Appends `events` to a comma-joined list of events (a row's text, a POST body's list).
pub fn join_into<'a>(text: &mut String, events: impl IntoIterator<Item = &'a str>) {
    for e in events {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(e);
    }
}

/// The bytes of a row's first `k` events and the commas between them (the whole text if it
/// has no more): what stays when a row keeps its first `k`, and where the rest starts (one
/// comma on). Scans no further than the `k`-th event.
pub fn prefix_len(text: &str, k: usize) -> usize {
    match k {
        0 => 0,
        k => Commas::new(text).nth(k - 1).unwrap_or(text.len()),
    }
}

/// The byte offsets of the commas between a row's events: outside strings and brackets.
struct Commas<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: i32,
}

impl<'a> Commas<'a> {
    fn new(text: &'a str) -> Self {
        Commas {
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
        }
    }
}

impl Iterator for Commas<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.at < self.bytes.len() {
            let (i, b) = (self.at, self.bytes[self.at]);
            self.at += 1;
            match b {
                b'"' => {
                    // To the closing quote: any byte but an escaped one.
                    while self.at < self.bytes.len() {
                        match self.bytes[self.at] {
                            b'\\' => self.at += 2,
                            b'"' => break,
                            _ => self.at += 1,
                        }
                    }
                    self.at += 1;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                b',' if self.depth == 0 => return Some(i),
                _ => {}
            }
        }
        None
    }
}

/// Where a step of the outbox's head ends: every row from the first up to `last` (exclusive)
/// whole, and the events of row `last` whose recorded index is below `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Index (in the rows given to [`take`]) of the last row touched.
    pub last: usize,
    /// Recorded index, in that row, just after the last event taken (`skip` + events taken).
    pub end: u64,
    /// The events taken, and their bytes.
    pub size: Backlog,
    /// The bytes of row `last`'s text taken: its first events and the commas between them.
    pub tail: u64,
}

/// One row as [`take`] sees it: how many of its events left before (`skip`), how many are
/// still there (`n`), and the length of its text (their bytes and a comma between each two).
#[derive(Debug, Clone, Copy)]
pub struct RowEvents {
    pub skip: u64,
    pub n: u64,
    pub len: u64,
}

/// How many of the oldest events (across `rows`, oldest first) one step takes: at most
/// `events`, and no more than `budget` counting each event's bytes and a comma
/// ([`super::batch_len`]'s rule) — always at least one. `None`: no event in `rows`.
///
/// A row that fits whole is taken whole, from its `n` and `len` alone; only the row where the
/// step ends is split into its events (`lengths(i)`: the byte lengths of row `i`'s events) —
/// so a POST splits at most one row's text, not every row it reads.
pub fn take(
    rows: &[RowEvents],
    (events, budget): (u64, u64),
    mut lengths: impl FnMut(usize) -> Vec<usize>,
) -> Option<Cut> {
    let (mut taken, mut total, mut bytes) = (0u64, 0u64, 0u64);
    let mut cut = None;
    let mut tail = 0;
    for (i, row) in rows.iter().enumerate() {
        if row.n == 0 {
            continue;
        }
        // A row's events and their commas: `len + 1` of the budget, `len + 1 - n` bytes.
        if taken + row.n <= events && total + row.len < budget {
            (taken, total) = (taken + row.n, total + row.len + 1);
            bytes += (row.len + 1).saturating_sub(row.n);
            cut = Some((i, row.skip + row.n));
            tail = row.len;
            continue;
        }
        for (k, len) in lengths(i).into_iter().enumerate() {
            let next = total + len as u64 + 1;
            if taken == events || (next > budget && taken > 0) {
                break;
            }
            (taken, total, bytes) = (taken + 1, next, bytes + len as u64);
            tail = match k {
                0 => len as u64,
                _ => tail + 1 + len as u64,
            };
            cut = Some((i, row.skip + k as u64 + 1));
        }
        if taken > 0 {
            break; // the step ends in this row (or a row of nothing: the next is looked at)
        }
    }
    cut.map(|(last, end)| Cut {
        last,
        end,
        size: Backlog {
            events: taken,
            bytes,
        },
        tail,
    })
}

/// How many of a turn's events (their byte lengths, in order) go in each of its rows: all of
/// them in one, unless they pass [`MAX_ROW_BYTES`].
pub fn row_sizes(lengths: &[usize]) -> Vec<usize> {
    let (mut sizes, mut n, mut bytes) = (Vec::new(), 0, 0);
    for &len in lengths {
        if n > 0 && bytes + len + 1 > MAX_ROW_BYTES {
            sizes.push(n);
            (n, bytes) = (0, 0);
        }
        (n, bytes) = (n + 1, bytes + len + 1);
    }
    if n > 0 {
        sizes.push(n);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{batch_len, BATCH_BUDGET, MAX_BATCH_EVENTS};

    #[test]
    fn a_row_splits_at_the_commas_between_its_events_only() {
        let text = r#"{"a":[1,2],"b":"x,}]\"y"},{"c":{"d":","}},3"#;
        assert_eq!(
            split(text),
            [r#"{"a":[1,2],"b":"x,}]\"y"}"#, r#"{"c":{"d":","}}"#, "3"]
        );
        assert_eq!(split(r#"{"one":"\\"}"#), [r#"{"one":"\\"}"#]);
        assert!(split("").is_empty());
        assert_eq!(split("{,"), ["{,"], "unbalanced: no panic");
        assert_eq!(split(r#""\"#), [r#""\"#], "an escape at the end: no panic");
        for k in 0..=4 {
            let kept = split(text)
                .iter()
                .take(k)
                .copied()
                .collect::<Vec<_>>()
                .join(",");
            assert_eq!(prefix_len(text, k), kept.len(), "{k}");
        }
    }

    /// `take` over rows of these events (`(skip, lengths)`), splitting rows as asked; also
    /// returns how many rows it split.
    fn take_of(spec: &[(u64, &[usize])], limit: (u64, u64)) -> (Option<Cut>, usize) {
        let rows: Vec<RowEvents> = spec
            .iter()
            .map(|&(skip, lengths)| RowEvents {
                skip,
                n: lengths.len() as u64,
                len: (lengths.iter().sum::<usize>() + lengths.len()).saturating_sub(1) as u64,
            })
            .collect();
        let mut split = 0;
        let cut = take(&rows, limit, |i| {
            split += 1;
            spec[i].1.to_vec()
        });
        (cut, split)
    }

    #[test]
    fn a_step_takes_whole_rows_and_part_of_one_by_the_batch_rule() {
        let batch = (MAX_BATCH_EVENTS as u64, BATCH_BUDGET as u64);
        // 49 + 49 + 49 events: the POST takes two rows and 2 events of the third.
        let turns: [(u64, &[usize]); 3] = [(0, &[200; 49]), (0, &[200; 49]), (0, &[200; 49])];
        let (cut, split) = take_of(&turns, batch);
        let cut = cut.unwrap();
        assert_eq!((cut.last, cut.end, cut.size.events), (2, 2, 100));
        assert_eq!(split, 1, "only the row it ends in is split");
        assert_eq!(
            cut.tail,
            200 + 1 + 200,
            "two events and a comma of the last row"
        );
        assert_eq!(cut.size.bytes, 100 * 200);
        // The head row already lost 2: the recorded index goes on from its skip.
        let cut = take_of(&[(2, &[200; 47]), (0, &[200; 49])], batch)
            .0
            .unwrap();
        assert_eq!((cut.last, cut.end, cut.size.events), (1, 49, 96));
        assert_eq!(take_of(&[], batch).0, None);
    }

    #[test]
    fn across_rows_a_step_takes_what_batch_len_takes_from_the_flat_list() {
        let lengths = [100_000usize, 50_000, 90_000, 30_000, 10, 1 << 20, 5];
        for split_at in 0..lengths.len() {
            let (a, b) = lengths.split_at(split_at);
            let cut = take_of(&[(0, a), (7, b)], (100, BATCH_BUDGET as u64))
                .0
                .unwrap();
            assert_eq!(cut.size.events as usize, batch_len(&lengths));
            let last_row = if split_at >= batch_len(&lengths) {
                0
            } else {
                1
            };
            assert_eq!(cut.last, last_row, "split at {split_at}");
        }
        let cut = take_of(&[(0, &[1 << 20]), (0, &[5])], (100, 10)).0.unwrap();
        assert_eq!((cut.last, cut.end), (0, 1), "a huge event goes alone");
        let cut = take_of(&[(0, &[5; 4]), (0, &[5; 4])], (6, 1_000))
            .0
            .unwrap();
        assert_eq!((cut.last, cut.end, cut.size.events), (1, 2, 6), "by count");
    }

    #[test]
    fn any_split_into_rows_takes_what_the_flat_rule_takes() {
        // The flat rule with any limits: at most `events`, at most `budget`, at least one.
        let flat = |lengths: &[usize], (events, budget): (u64, u64)| {
            let (mut n, mut total) = (0u64, 0u64);
            for &len in lengths {
                if n == events || (total + len as u64 + 1 > budget && n > 0) {
                    break;
                }
                (n, total) = (n + 1, total + len as u64 + 1);
            }
            n
        };
        let lengths = [3usize, 9, 1, 30, 4, 4, 12, 2, 7, 50, 1, 5];
        for limit in [(5, 40), (100, 25), (3, 1_000), (100, 10)] {
            for i in 0..=lengths.len() {
                for j in i..=lengths.len() {
                    let spec = [(0, &lengths[..i]), (1, &lengths[i..j]), (2, &lengths[j..])];
                    let (cut, split) = take_of(&spec, limit);
                    assert_eq!(cut.unwrap().size.events, flat(&lengths, limit), "{i} {j}");
                    assert!(split <= 1, "{i} {j}: {split} rows split");
                }
            }
        }
    }

    #[test]
    fn a_turn_is_one_row_unless_it_is_larger_than_a_row_may_be() {
        assert_eq!(row_sizes(&[]), Vec::<usize>::new());
        assert_eq!(row_sizes(&[200; 49]), [49]);
        let half = MAX_ROW_BYTES / 2;
        assert_eq!(row_sizes(&[half, half - 2, 1]), [2, 1]);
        assert_eq!(
            row_sizes(&[MAX_ROW_BYTES * 3, 1]),
            [1, 1],
            "a huge event alone"
        );
    }
}
