//! Coalesced delivery: what a room sends during one turn, planned as few sends as possible.
//!
//! Under load most of a room's time goes into per-socket sends (each is a crossing into the
//! runtime and a WebSocket frame), not into the messages themselves. A room therefore collects
//! the frames of one turn — every publish that arrived while the previous turn ran — in an
//! [`Outbox`], and [`Outbox::plan`] turns them into sends:
//!
//! - a connection that opted in (`?batch=1`) gets **one** `{"type":"batch","frames":[...]}`
//!   text per turn for the room's broadcasts (and one for frames addressed to it alone), and
//!   every connection that receives the same broadcasts shares the very same text, so it is
//!   built and converted once;
//! - any other connection gets exactly the v1 frames, one send each, in order.
//!
//! A batch of one frame is sent as that frame, unwrapped. The frames inside a batch are the
//! frames the connection would otherwise have received, in the same order; the frames
//! addressed to one connection (welcome, replay, acks, errors, directs) come before the
//! turn's broadcasts, so a welcome or a replay still precedes live traffic.

use crate::room::{Conn, Recipients, Room};
use crate::room_index::Entry;
use std::collections::{HashMap, HashSet};

/// A batch is closed before it would grow past this many bytes (the next frame starts a new
/// one), so a turn under load never produces a single oversized WebSocket message.
pub const BATCH_MAX_BYTES: usize = 128 * 1024;

/// Frames queued for one turn, with whom they go to.
#[derive(Debug, Default)]
pub struct Outbox {
    items: Vec<(Recipients, String)>,
}

/// The sends a turn comes down to: each distinct text once, and who gets which.
#[derive(Debug)]
pub struct Plan<'a, H> {
    pub texts: Vec<String>,
    /// (recipient, index into `texts`), in the order they must be sent.
    pub sends: Vec<(&'a H, usize)>,
}

impl Outbox {
    pub fn push(&mut self, to: Recipients, frame: String) {
        self.items.push((to, frame));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// What a connection the room closes in the middle of a turn is still owed, in order: the
    /// frames addressed to it alone (taken out) and the turn's broadcasts it is not excluded
    /// from (copied: they still go to everyone else). It has left the index already, so the
    /// plan would not reach it, and it was connected when those frames were accepted.
    pub fn owed_to(&mut self, connection_id: &str) -> Vec<String> {
        let mut owed = Vec::new();
        self.items.retain(|(to, frame)| match to {
            Recipients::One(c) if c == connection_id => {
                owed.push(frame.clone());
                false
            }
            Recipients::AllExcept(except) if except.as_deref() != Some(connection_id) => {
                owed.push(frame.clone());
                true
            }
            _ => true,
        });
        owed
    }

    /// Plans the turn's sends against the room as it is now and empties the outbox.
    /// `batches(handle)` says whether that connection takes `batch` frames.
    pub fn plan<'a, H>(&mut self, room: &'a Room<H>, batches: impl Fn(&H) -> bool) -> Plan<'a, H> {
        let items = std::mem::take(&mut self.items);
        // Sort the items once by kind: the broadcasts (and who is left out of one), the frames
        // for one connection, the frames for every connection of a user.
        let mut broadcasts = Vec::new();
        let mut excluded = HashSet::new();
        let mut personal: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut to_users: Vec<(&str, usize)> = Vec::new();
        for (i, (to, _)) in items.iter().enumerate() {
            match to {
                Recipients::AllExcept(except) => {
                    broadcasts.push(i);
                    excluded.extend(except.as_deref());
                }
                Recipients::One(c) => personal.entry(c.as_str()).or_default().push(i),
                Recipients::User(u) => to_users.push((u.as_str(), i)),
            }
        }
        let mut texts = Texts {
            items: &items,
            plan: Plan {
                texts: Vec::new(),
                sends: Vec::new(),
            },
            single: vec![None; items.len()],
        };
        // The broadcasts as batches, built once for every batch connection not left out.
        let mut all_broadcasts: Option<Vec<usize>> = None;
        // A turn without broadcasts (a welcome, an ack, a direct) only concerns the connections
        // it names; otherwise every connection is visited once.
        let named: Vec<(&str, &Entry<Conn<H>>)> = if broadcasts.is_empty() && to_users.is_empty() {
            let mut ids: Vec<&str> = personal.keys().copied().collect();
            ids.sort_unstable();
            ids.into_iter()
                .filter_map(|c| room.index().get(c).map(|e| (c, e)))
                .collect()
        } else {
            room.index().iter().collect()
        };
        for (connection_id, entry) in named {
            let handle = &entry.handle.handle;
            let mut mine = personal.remove(connection_id).unwrap_or_default();
            if !to_users.is_empty() {
                mine.extend(
                    to_users
                        .iter()
                        .filter(|(u, _)| *u == entry.user_id)
                        .map(|(_, i)| *i),
                );
                mine.sort_unstable();
            }
            let left_out = excluded.contains(connection_id);
            let shared = || {
                let items = &items;
                broadcasts.iter().copied().filter(move |&i| {
                    !left_out
                        || !matches!(&items[i].0, Recipients::AllExcept(Some(c)) if c == connection_id)
                })
            };
            if batches(handle) {
                let mine = texts.for_list(&mine);
                let shared = if broadcasts.is_empty() {
                    Vec::new()
                } else if left_out {
                    texts.for_list(&shared().collect::<Vec<_>>())
                } else {
                    all_broadcasts
                        .get_or_insert_with(|| texts.for_list(&broadcasts))
                        .clone()
                };
                texts.send(handle, mine.into_iter().chain(shared));
            } else {
                // v1 order: everything as it was pushed, one frame per send (both lists are
                // in push order already: merge them).
                let mut mine = mine.into_iter().peekable();
                for b in shared() {
                    while let Some(i) = mine.next_if(|&i| i < b) {
                        let t = texts.single(i);
                        texts.plan.sends.push((handle, t));
                    }
                    let t = texts.single(b);
                    texts.plan.sends.push((handle, t));
                }
                for i in mine {
                    let t = texts.single(i);
                    texts.plan.sends.push((handle, t));
                }
            }
        }
        texts.plan
    }
}

/// The texts of one plan, each built once.
struct Texts<'i, 'a, H> {
    items: &'i [(Recipients, String)],
    plan: Plan<'a, H>,
    /// Each item's own text, once made.
    single: Vec<Option<usize>>,
}

impl<'a, H> Texts<'_, 'a, H> {
    /// The text of item `i` on its own.
    fn single(&mut self, i: usize) -> usize {
        let (items, texts) = (self.items, &mut self.plan.texts);
        *self.single[i].get_or_insert_with(|| {
            texts.push(items[i].1.clone());
            texts.len() - 1
        })
    }

    /// The texts carrying `list`: nothing, one frame as itself (shared with everyone who gets
    /// it alone), or `batch` frames.
    fn for_list(&mut self, list: &[usize]) -> Vec<usize> {
        match list {
            [] => Vec::new(),
            [i] => vec![self.single(*i)],
            _ => batch_texts(self.items, list, &mut self.plan.texts),
        }
    }

    fn send(&mut self, to: &'a H, texts: impl IntoIterator<Item = usize>) {
        self.plan.sends.extend(texts.into_iter().map(|t| (to, t)));
    }
}

/// The texts carrying `list` (indices into `items`): one frame as itself, more as `batch`
/// frames of at most [`BATCH_MAX_BYTES`] each. Returns their indices in `texts`.
fn batch_texts(
    items: &[(Recipients, String)],
    list: &[usize],
    texts: &mut Vec<String>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut chunk: Vec<&str> = Vec::new();
    let mut size = 0;
    let mut close = |chunk: &mut Vec<&str>, texts: &mut Vec<String>| {
        if chunk.is_empty() {
            return;
        }
        texts.push(if chunk.len() == 1 {
            chunk[0].to_owned()
        } else {
            batch_frame(chunk)
        });
        out.push(texts.len() - 1);
        chunk.clear();
    };
    for &i in list {
        let frame = items[i].1.as_str();
        if !chunk.is_empty() && size + frame.len() + 1 > BATCH_MAX_BYTES {
            close(&mut chunk, texts);
            size = 0;
        }
        size += frame.len() + 1;
        chunk.push(frame);
    }
    close(&mut chunk, texts);
    out
}

/// `{"type":"batch","frames":[f1,f2,...]}`: the frames are JSON objects already, so they are
/// spliced in verbatim.
pub fn batch_frame(frames: &[&str]) -> String {
    let len: usize = frames.iter().map(|f| f.len() + 1).sum();
    let mut out = String::with_capacity(len + 30);
    out.push_str(r#"{"type":"batch","frames":["#);
    for (n, f) in frames.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::history::NoLog;
    use serde_json::Value;

    /// Handles are (connection id, takes batches).
    fn room(conns: &[(&str, &str, bool)]) -> Room<(String, bool)> {
        let mut r = Room::new("r", Config::default());
        for (c, u, b) in conns {
            r.open(c, u, (c.to_string(), *b), 0.0, None, &NoLog::default());
        }
        r
    }

    fn v(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The texts connection `c` is sent, in order.
    fn texts_to(plan: &Plan<'_, (String, bool)>, c: &str) -> Vec<String> {
        plan.sends
            .iter()
            .filter(|(h, _)| h.0 == c)
            .map(|(_, t)| plan.texts[*t].clone())
            .collect()
    }

    /// The frames connection `c` sees once batches are unwrapped, in order.
    fn frames_to(plan: &Plan<'_, (String, bool)>, c: &str) -> Vec<Value> {
        texts_to(plan, c)
            .iter()
            .flat_map(|t| {
                let v = v(t);
                if v["type"] == "batch" {
                    v["frames"].as_array().unwrap().clone()
                } else {
                    vec![v]
                }
            })
            .collect()
    }

    fn f(n: u32) -> String {
        format!(r#"{{"type":"message","seq":{n}}}"#)
    }

    #[test]
    fn batching_connections_share_one_text_and_others_get_every_frame() {
        let r = room(&[("a", "ua", true), ("b", "ub", true), ("c", "uc", false)]);
        let mut out = Outbox::default();
        for n in 1..=3 {
            out.push(Recipients::AllExcept(None), f(n));
        }
        let plan = out.plan(&r, |h| h.1);
        assert_eq!(texts_to(&plan, "a").len(), 1);
        assert_eq!(texts_to(&plan, "a"), texts_to(&plan, "b"));
        assert_eq!(frames_to(&plan, "a"), vec![v(&f(1)), v(&f(2)), v(&f(3))]);
        assert_eq!(texts_to(&plan, "c"), vec![f(1), f(2), f(3)]);
        // One batch text and three single frames: each built once.
        assert_eq!(plan.texts.len(), 4);
        assert!(out.is_empty());
    }

    #[test]
    fn exclusions_and_personal_frames_are_respected() {
        let r = room(&[("a", "ua", true), ("b", "ub", true), ("c", "uc", false)]);
        let (ack1, ack2, direct) = (
            r#"{"type":"ack","seq":1}"#,
            r#"{"type":"ack","seq":2}"#,
            r#"{"type":"direct"}"#,
        );
        let mut out = Outbox::default();
        out.push(Recipients::AllExcept(Some("a".into())), f(1));
        out.push(Recipients::One("a".into()), ack1.into());
        out.push(Recipients::AllExcept(None), f(2));
        out.push(Recipients::One("c".into()), ack2.into());
        out.push(Recipients::User("ub".into()), direct.into());
        let plan = out.plan(&r, |h| h.1);
        // Personal frames first, then the broadcasts this connection is not excluded from.
        assert_eq!(frames_to(&plan, "a"), vec![v(ack1), v(&f(2))]);
        assert_eq!(frames_to(&plan, "b"), vec![v(direct), v(&f(1)), v(&f(2))]);
        // A v1 connection gets every frame on its own, in the order pushed.
        assert_eq!(texts_to(&plan, "c"), vec![f(1), f(2), ack2.to_string()]);
    }

    #[test]
    fn a_single_frame_is_sent_unwrapped_and_large_turns_split() {
        let r = room(&[("a", "ua", true)]);
        let mut out = Outbox::default();
        out.push(Recipients::AllExcept(None), f(1));
        let plan = out.plan(&r, |h| h.1);
        assert_eq!(plan.texts, vec![f(1)]);

        let big = format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(40_000));
        for _ in 0..7 {
            out.push(Recipients::AllExcept(None), big.clone());
        }
        let plan = out.plan(&r, |h| h.1);
        let texts = texts_to(&plan, "a");
        assert!(texts.len() >= 3);
        assert!(texts.iter().all(|t| t.len() <= BATCH_MAX_BYTES + 64));
        assert_eq!(frames_to(&plan, "a").len(), 7);
    }

    #[test]
    fn a_connection_closed_mid_turn_gets_what_it_is_owed_in_order() {
        let mut out = Outbox::default();
        out.push(Recipients::One("a".into()), "1".into());
        out.push(Recipients::AllExcept(None), "2".into());
        out.push(Recipients::One("b".into()), "3".into());
        out.push(Recipients::AllExcept(Some("a".into())), "4".into());
        out.push(Recipients::One("a".into()), "5".into());
        let owed: Vec<String> = ["1", "2", "5"].map(String::from).to_vec();
        assert_eq!(out.owed_to("a"), owed);
        // Its own frames are gone; the broadcasts stay for everyone else.
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_turn_without_broadcasts_reaches_only_whom_it_names() {
        let r = room(&[("a", "ua", true), ("b", "ub", false), ("c", "uc", true)]);
        let mut out = Outbox::default();
        out.push(Recipients::One("b".into()), f(1));
        out.push(Recipients::One("c".into()), f(2));
        out.push(Recipients::One("c".into()), f(3));
        out.push(Recipients::One("gone".into()), f(4));
        let plan = out.plan(&r, |h| h.1);
        assert!(texts_to(&plan, "a").is_empty());
        assert_eq!(texts_to(&plan, "b"), vec![f(1)]);
        assert_eq!(frames_to(&plan, "c"), vec![v(&f(2)), v(&f(3))]);
        assert_eq!(plan.sends.len(), 2);
    }

    #[test]
    fn an_empty_outbox_plans_nothing() {
        let r = room(&[("a", "ua", true), ("b", "ub", false)]);
        let plan = Outbox::default().plan(&r, |h| h.1);
        assert!(plan.sends.is_empty() && plan.texts.is_empty());
    }
}
