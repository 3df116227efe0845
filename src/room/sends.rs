//! Coalesced delivery: what a room sends during one turn, planned as few sends as possible.
//!
//! Under load most of a room's time goes into per-socket sends (each is a crossing into the
//! runtime and a WebSocket frame), not into the messages themselves. A room therefore collects
//! the frames of one turn — every publish that arrived while the previous turn ran — in a
//! [`TurnSends`], and [`TurnSends::plan`] turns them into sends:
//!
//! - a connection that opted in (`?batch=1`) gets **one** `{"type":"batch","frames":[...]}`
//!   text per turn for the room's broadcasts (and one for frames addressed to it alone), and
//!   every connection that receives the same broadcasts shares the very same text, so it is
//!   built and converted once;
//! - any other connection gets exactly the v1 frames, one send each, in order.
//!
//! A batch of one frame is sent as that frame, unwrapped. A batch connection receives the same
//! frames a v1 connection would, each list in its own order, but the frames addressed to it
//! alone (welcome, replay, acks, errors, directs) come before the turn's broadcasts — so a
//! welcome or a replay still precedes live traffic, and a publisher's `ack` precedes the echo
//! of its own message (a v1 connection gets them as pushed: the message, then the `ack`).

use crate::protocol::server::{batch_frame, BATCH_OVERHEAD};
use crate::room::{Exclusion, Recipients, Room};
use std::collections::{HashMap, HashSet};

/// A `batch` frame never grows past this many bytes, wrapper included: the next frame starts a
/// new one, so a turn under load never produces a single oversized WebSocket message. (A lone
/// frame larger than this is sent as itself.)
pub const BATCH_MAX_BYTES: usize = 128 * 1024;

/// Frames queued for one turn, with whom they go to.
#[derive(Debug, Default)]
pub struct TurnSends {
    items: Vec<(Recipients, String)>,
}

/// The sends a turn comes down to: each distinct text once, and who gets which.
#[derive(Debug)]
pub struct SendPlan<'a, H> {
    pub texts: Vec<String>,
    /// (recipient, index into `texts`), in the order they must be sent.
    pub sends: Vec<(&'a H, usize)>,
}

impl TurnSends {
    pub fn push(&mut self, to: Recipients, frame: String) {
        self.items.push((to, frame));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Puts `items` before everything queued so far (frames a connect deferred, which come
    /// before this turn's own).
    pub fn prepend(&mut self, items: Vec<(Recipients, String)>) {
        self.items.splice(0..0, items);
    }

    /// What is queued, in order.
    pub fn items(&self) -> &[(Recipients, String)] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// What a connection the room closes in the middle of a turn is still owed, in order: every
    /// frame of the turn that [includes](Recipients::includes) it. Those addressed to it alone
    /// are taken out; the others stay for everyone else. It has left the index already, so the
    /// plan would not reach it, and it was connected when those frames were accepted.
    pub fn owed_to(&mut self, connection_id: &str, user_id: &str) -> Vec<String> {
        let mut owed = Vec::new();
        self.items.retain(|(to, frame)| {
            if !to.includes(connection_id, user_id) {
                return true;
            }
            owed.push(frame.clone());
            to.only_connection().is_none()
        });
        owed
    }

    /// Plans the turn's sends against the room as it is now and empties the queue.
    /// `batches(handle)` says whether that connection takes `batch` frames.
    pub fn plan<'a, H>(
        &mut self,
        room: &'a Room<H>,
        batches: impl Fn(&H) -> bool,
    ) -> SendPlan<'a, H> {
        let items = std::mem::take(&mut self.items);
        let mut sorted = Sorted::new(&items);
        let mut texts = Texts {
            items: &items,
            plan: SendPlan {
                texts: Vec::new(),
                sends: Vec::new(),
            },
            single: vec![None; items.len()],
            all_room_wide: None,
        };
        for (connection_id, user_id, handle) in sorted.connections(room) {
            let mine = sorted.take_personal(connection_id, user_id);
            let some;
            let shared: &[usize] = match sorted.room_wide_for(connection_id, user_id) {
                RoomWide::All => &sorted.room_wide,
                RoomWide::Some(list) => {
                    some = list;
                    &some
                }
            };
            if batches(handle) {
                let mine = texts.for_list(&mine);
                let shared = if shared.len() == sorted.room_wide.len() {
                    texts.all_room_wide(shared)
                } else {
                    texts.for_list(shared)
                };
                texts.send(handle, mine.into_iter().chain(shared));
            } else {
                // v1 order: every frame on its own, as pushed (both lists are in push order).
                for i in merge(&mine, shared) {
                    let t = texts.single(i);
                    texts.plan.sends.push((handle, t));
                }
            }
        }
        texts.plan
    }
}

/// A turn's items sorted once by how their recipients are found: room-wide frames (and
/// which of them may leave someone out), frames for one connection, frames for one user.
struct Sorted<'i> {
    items: &'i [(Recipients, String)],
    room_wide: Vec<usize>,
    /// Whom the room-wide frames that do not include everyone leave out (by connection, by
    /// user): a connection named in neither gets every room-wide frame, with no check per frame.
    excluded_connections: HashSet<&'i str>,
    excluded_users: HashSet<&'i str>,
    personal: HashMap<&'i str, Vec<usize>>,
    to_users: Vec<usize>,
}

/// The room-wide frames one connection gets.
enum RoomWide {
    /// All of them (the common case: one shared text).
    All,
    /// Only these.
    Some(Vec<usize>),
}

impl<'i> Sorted<'i> {
    fn new(items: &'i [(Recipients, String)]) -> Self {
        let mut s = Sorted {
            items,
            room_wide: Vec::new(),
            excluded_connections: HashSet::new(),
            excluded_users: HashSet::new(),
            personal: HashMap::new(),
            to_users: Vec::new(),
        };
        for (i, (to, _)) in items.iter().enumerate() {
            if to.is_room_wide() {
                s.room_wide.push(i);
                match to.exclusion() {
                    Some(Exclusion::Connection(c)) => s.excluded_connections.insert(c),
                    Some(Exclusion::User(u)) => s.excluded_users.insert(u),
                    Some(Exclusion::Connections(these)) => {
                        s.excluded_connections
                            .extend(these.iter().map(String::as_str));
                        true
                    }
                    None => false,
                };
            } else if let Some(c) = to.only_connection() {
                s.personal.entry(c).or_default().push(i);
            } else {
                s.to_users.push(i);
            }
        }
        s
    }

    /// The connections to visit: a turn with nothing room-wide and nothing per user only
    /// concerns the connections it names; otherwise every connection, once.
    fn connections<'a, H>(&self, room: &'a Room<H>) -> Vec<(&'a str, &'a str, &'a H)> {
        let index = room.index();
        if self.room_wide.is_empty() && self.to_users.is_empty() {
            let mut ids: Vec<&str> = self.personal.keys().copied().collect();
            ids.sort_unstable();
            return ids
                .into_iter()
                .filter_map(|c| index.get_key_value(c))
                .map(|(c, e)| (c, e.user_id.as_str(), &e.handle.handle))
                .collect();
        }
        index
            .iter()
            .map(|(c, e)| (c, e.user_id.as_str(), &e.handle.handle))
            .collect()
    }

    /// The frames addressed to this connection alone or to its user, in push order (each
    /// connection is visited once, so its list is moved out rather than copied).
    fn take_personal(&mut self, connection_id: &str, user_id: &str) -> Vec<usize> {
        let mut mine = self.personal.remove(connection_id).unwrap_or_default();
        if !self.to_users.is_empty() {
            let items = self.items;
            let theirs = self.to_users.iter().copied();
            mine.extend(theirs.filter(|&i| items[i].0.includes(connection_id, user_id)));
            mine.sort_unstable();
        }
        mine
    }

    fn room_wide_for(&self, connection_id: &str, user_id: &str) -> RoomWide {
        if !self.excluded_connections.contains(connection_id)
            && !self.excluded_users.contains(user_id)
        {
            return RoomWide::All;
        }
        let items = self.items;
        let includes = |i: usize| items[i].0.includes(connection_id, user_id);
        RoomWide::Some(
            self.room_wide
                .iter()
                .copied()
                .filter(|&i| includes(i))
                .collect(),
        )
    }
}

/// Two ascending lists of item indices as one ascending sequence, without allocating.
fn merge<'x>(a: &'x [usize], b: &'x [usize]) -> impl Iterator<Item = usize> + 'x {
    let (mut a, mut b) = (a.iter().copied().peekable(), b.iter().copied().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x <= y => a.next(),
        (Some(_), None) => a.next(),
        _ => b.next(),
    })
}

/// The texts of one plan, each built once.
struct Texts<'i, 'a, H> {
    items: &'i [(Recipients, String)],
    plan: SendPlan<'a, H>,
    /// Each item's own text, once made.
    single: Vec<Option<usize>>,
    /// The texts carrying every room-wide frame, shared by all who get them all.
    all_room_wide: Option<Vec<usize>>,
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

    fn all_room_wide(&mut self, room_wide: &[usize]) -> Vec<usize> {
        if let Some(t) = &self.all_room_wide {
            return t.clone();
        }
        let t = self.for_list(room_wide);
        self.all_room_wide = Some(t.clone());
        t
    }

    fn send(&mut self, to: &'a H, texts: impl IntoIterator<Item = usize>) {
        self.plan.sends.extend(texts.into_iter().map(|t| (to, t)));
    }
}

/// The texts carrying `list` (indices into `items`): one frame as itself, more as `batch`
/// frames of at most [`BATCH_MAX_BYTES`] each, wrapper included. Returns their indices.
fn batch_texts(
    items: &[(Recipients, String)],
    list: &[usize],
    texts: &mut Vec<String>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut chunk: Vec<&str> = Vec::new();
    let mut close = |chunk: &mut Vec<&str>, texts: &mut Vec<String>| {
        match chunk.as_slice() {
            [] => return,
            [one] => texts.push((*one).to_owned()),
            many => texts.push(batch_frame(many)),
        }
        out.push(texts.len() - 1);
        chunk.clear();
    };
    let mut size = 0;
    for &i in list {
        let frame = items[i].1.as_str();
        // The batch with this frame added: the wrapper, its frames, one comma per frame before.
        let grown = BATCH_OVERHEAD + size + frame.len() + chunk.len();
        if !chunk.is_empty() && grown > BATCH_MAX_BYTES {
            close(&mut chunk, texts);
            size = 0;
        }
        size += frame.len();
        chunk.push(frame);
    }
    close(&mut chunk, texts);
    out
}

/// `frames` as the texts a `batch` connection receives: one frame as itself, more as `batch`
/// frames of at most [`BATCH_MAX_BYTES`] each (a resume's replay chunk, outside a turn's plan).
pub fn batch_texts_of(frames: &[&str]) -> Vec<String> {
    let items: Vec<(Recipients, String)> = frames
        .iter()
        .map(|f| (Recipients::AllExcept(None), (*f).to_owned()))
        .collect();
    let list: Vec<usize> = (0..items.len()).collect();
    let mut texts = Vec::new();
    batch_texts(&items, &list, &mut texts);
    texts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config::Config;
    use crate::room::log::message_log::NoLog;
    use serde_json::Value;

    /// Handles are (connection id, takes batches).
    fn room(conns: &[(&str, &str, bool)]) -> Room<(String, bool)> {
        let mut r = Room::new("r", Config::default());
        for (c, u, b) in conns {
            let j = crate::room::Joining {
                connection_id: c,
                user_id: u,
                handle: (c.to_string(), *b),
                session: Default::default(),
                rooms: None,
                since: None,
            };
            r.open(j, 0, &NoLog::default());
        }
        r
    }

    fn v(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The texts connection `c` is sent, in order.
    fn texts_to(plan: &SendPlan<'_, (String, bool)>, c: &str) -> Vec<String> {
        plan.sends
            .iter()
            .filter(|(h, _)| h.0 == c)
            .map(|(_, t)| plan.texts[*t].clone())
            .collect()
    }

    /// The frames connection `c` sees once batches are unwrapped, in order.
    fn frames_to(plan: &SendPlan<'_, (String, bool)>, c: &str) -> Vec<Value> {
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
        let mut out = TurnSends::default();
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
        let mut out = TurnSends::default();
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
        let mut out = TurnSends::default();
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
        assert!(texts.iter().all(|t| t.len() <= BATCH_MAX_BYTES));
        assert_eq!(frames_to(&plan, "a").len(), 7);
    }

    /// Two frames of 65,535 bytes once made a 131,099-byte batch (the cap was checked without
    /// the wrapper): the cap holds exactly, wrapper and commas included, at every size.
    #[test]
    fn no_batch_is_ever_over_the_cap() {
        let r = room(&[("a", "ua", true)]);
        let frame_of = |len: usize| {
            let pad = len - r#"{"type":"message","data":""}"#.len();
            format!(r#"{{"type":"message","data":"{}"}}"#, "x".repeat(pad))
        };
        let mut out = TurnSends::default();
        for _ in 0..2 {
            out.push(Recipients::AllExcept(None), frame_of(65_535));
        }
        let plan = out.plan(&r, |h| h.1);
        assert_eq!(
            texts_to(&plan, "a").len(),
            2,
            "two frames that cannot share a batch"
        );
        // Sizes around the boundary: a batch that fits exactly, and one byte over.
        let half = (BATCH_MAX_BYTES - crate::protocol::server::BATCH_OVERHEAD - 1) / 2;
        for (len, sends) in [(half, 1), (half + 1, 2)] {
            out.push(Recipients::AllExcept(None), frame_of(len));
            out.push(Recipients::AllExcept(None), frame_of(len));
            let plan = out.plan(&r, |h| h.1);
            let texts = texts_to(&plan, "a");
            assert_eq!(texts.len(), sends, "frames of {len} bytes");
            assert!(texts.iter().all(|t| t.len() <= BATCH_MAX_BYTES));
        }
        for len in [100, 5_000, 40_000, 65_535] {
            for _ in 0..9 {
                out.push(Recipients::AllExcept(None), frame_of(len));
            }
            let plan = out.plan(&r, |h| h.1);
            let texts = texts_to(&plan, "a");
            assert!(texts.iter().all(|t| t.len() <= BATCH_MAX_BYTES), "{len}");
            assert_eq!(frames_to(&plan, "a").len(), 9);
        }
    }

    #[test]
    fn a_connection_closed_mid_turn_gets_what_it_is_owed_in_order() {
        let mut out = TurnSends::default();
        out.push(Recipients::One("a".into()), "1".into());
        out.push(Recipients::AllExcept(None), "2".into());
        out.push(Recipients::One("b".into()), "3".into());
        out.push(Recipients::AllExcept(Some("a".into())), "4".into());
        out.push(Recipients::One("a".into()), "5".into());
        out.push(Recipients::User("ua".into()), "6".into());
        out.push(Recipients::User("ub".into()), "7".into());
        let owed: Vec<String> = ["1", "2", "5", "6"].map(String::from).to_vec();
        assert_eq!(out.owed_to("a", "ua"), owed);
        // Its own frames are gone; the broadcasts and per-user frames stay for everyone else.
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn a_turn_without_broadcasts_reaches_only_whom_it_names() {
        let r = room(&[("a", "ua", true), ("b", "ub", false), ("c", "uc", true)]);
        let mut out = TurnSends::default();
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

    /// A user's `typing` goes to every connection of the others, and only the typer's
    /// connections need a text of their own: everyone else shares the turn's one batch.
    #[test]
    fn frames_for_the_other_users_leave_out_every_connection_of_one_user() {
        let r = room(&[
            ("a1", "ua", true),
            ("a2", "ua", false),
            ("b", "ub", true),
            ("c", "uc", true),
        ]);
        let typing = r#"{"type":"typing","user_id":"ua"}"#;
        let mut out = TurnSends::default();
        out.push(Recipients::AllExcept(None), f(1));
        out.push(Recipients::OtherUsers("ua".into()), typing.into());
        out.push(Recipients::AllExcept(None), f(2));
        let plan = out.plan(&r, |h| h.1);
        assert_eq!(frames_to(&plan, "a1"), vec![v(&f(1)), v(&f(2))]);
        assert_eq!(texts_to(&plan, "a2"), vec![f(1), f(2)]);
        assert_eq!(frames_to(&plan, "b"), vec![v(&f(1)), v(typing), v(&f(2))]);
        assert_eq!(texts_to(&plan, "b"), texts_to(&plan, "c"), "shared");
        // f(1), f(2) (for a2), the shared batch, a1's batch.
        assert_eq!(plan.texts.len(), 4);
    }

    #[test]
    fn nothing_queued_plans_nothing() {
        let r = room(&[("a", "ua", true), ("b", "ub", false)]);
        let plan = TurnSends::default().plan(&r, |h| h.1);
        assert!(plan.sends.is_empty() && plan.texts.is_empty());
    }
}
