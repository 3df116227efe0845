//! What a room asks one fan-out object to do: a [`Plan`] — each distinct text once, and a list
//! of operations applied in order.
//!
//! A turn's sends arrive here as they were planned for the room's own sockets ([`crate::room::
//! sends::SendPlan`]): per connection, the texts it gets, in order. Connections that get the
//! same texts share one operation, and the biggest such group — everyone but the publisher, in
//! a broadcast — is named by who it leaves out ([`Op::SendAll`]): a broadcast to 5,000 members
//! of an object is its text and one exception, not 5,000 names. Each connection's texts keep
//! their order; between connections there is no order to keep.
//!
//! "Everyone" is the object's sockets when it applies the plan, and the room's list of the
//! object's connections when it builds it; they agree because everything the room sends one
//! object — plans and the upgrades it places there — goes in one ordered stream: a socket is
//! accepted only after every plan built before its connection joined, and closes the room
//! makes travel in the plans. (A socket its client closed meanwhile is simply not there.)

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Operations for one fan-out object, and the texts they send.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Each distinct text once.
    pub texts: Vec<String>,
    /// Applied in order.
    pub ops: Vec<Op>,
}

/// One operation of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `texts[t]` for each `t` in order, to each connection of `to` (one send each).
    Send { t: Vec<usize>, to: Vec<String> },
    /// The same, to every socket the object holds but those of `except`.
    SendAll { t: Vec<usize>, except: Vec<String> },
    /// Ends connection `c`: its socket is marked closing at once (what it sends from then on
    /// is dropped); it is closed now (`by` 0), or left to the client, which was asked to
    /// close, and closed by the fan-out object itself at `by` (unix ms) if it has not.
    Close {
        c: String,
        code: u16,
        reason: String,
        by: u64,
    },
    /// Which of these connections the object no longer holds (its reply's `lost`).
    Check { c: Vec<String> },
}

/// A fan-out object's answer to a plan: the connections it named that the object does not
/// hold. The room forgets them.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReply {
    /// Named by a send: closed meanwhile (the object's relay of that close may still be on its
    /// way), or lost with a restart — forgotten as closed.
    pub missing: Vec<String>,
    /// Named by a `check` (which only a room that just loaded makes): lost with the object's
    /// restart, without a close — their users may be held ([`crate::room::holds`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

impl PlanReply {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.lost.is_empty()
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// A turn's sends to this object's connections: `sends` are (connection, index into
    /// `texts`) in the order each connection must get them; `object` is every connection the
    /// room has on the object (those that get nothing this turn included).
    pub fn add_sends<'a>(
        &mut self,
        texts: &[String],
        sends: impl IntoIterator<Item = (&'a str, usize)>,
        object: &HashSet<String>,
    ) {
        let mut order: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for (c, t) in sends {
            let i = *at.entry(c).or_insert_with(|| {
                order.push((c, Vec::new()));
                order.len() - 1
            });
            order[i].1.push(t);
        }
        // Connections with the same texts in the same order share one operation.
        let mut groups: Vec<(Vec<usize>, Vec<&str>)> = Vec::new();
        let mut group_of: HashMap<Vec<usize>, usize> = HashMap::new();
        for (c, seq) in order {
            let g = *group_of.entry(seq.clone()).or_insert_with(|| {
                groups.push((seq, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(c);
        }
        // The biggest group, when it is most of the object, is named by its exceptions.
        let widest = groups
            .iter()
            .enumerate()
            .max_by_key(|(_, (_, to))| to.len())
            .filter(|(_, (_, to))| to.len() * 2 > object.len())
            .map(|(g, _)| g);
        let mut local: HashMap<usize, usize> = HashMap::new();
        for (g, (seq, to)) in groups.into_iter().enumerate() {
            let t = seq
                .iter()
                .map(|&i| {
                    *local
                        .entry(i)
                        .or_insert_with(|| self.text(texts[i].clone()))
                })
                .collect();
            let op = if Some(g) == widest {
                let named: HashSet<&str> = to.into_iter().collect();
                let except = object.iter().filter(|c| !named.contains(c.as_str()));
                Op::SendAll {
                    t,
                    except: except.cloned().collect(),
                }
            } else {
                let to = to.into_iter().map(str::to_owned).collect();
                Op::Send { t, to }
            };
            self.ops.push(op);
        }
    }

    /// Frames for one connection, in order (a replay, what a closing connection is owed).
    pub fn add_frames(&mut self, c: &str, frames: impl IntoIterator<Item = String>) {
        let t: Vec<usize> = frames.into_iter().map(|f| self.text(f)).collect();
        if !t.is_empty() {
            self.ops.push(Op::Send {
                t,
                to: vec![c.to_owned()],
            });
        }
    }

    pub fn add_close(&mut self, c: &str, code: u16, reason: &str, by: u64) {
        self.ops.push(Op::Close {
            c: c.to_owned(),
            code,
            reason: reason.to_owned(),
            by,
        });
    }

    pub fn add_check(&mut self, c: Vec<String>) {
        if !c.is_empty() {
            self.ops.push(Op::Check { c });
        }
    }

    /// `later`'s operations after this plan's (plans of later turns, merged while an earlier
    /// request to the same object was in flight).
    pub fn append(&mut self, later: Plan) {
        let offset = self.texts.len();
        self.texts.extend(later.texts);
        self.ops.extend(later.ops.into_iter().map(|op| match op {
            Op::Send { t, to } => Op::Send {
                t: t.into_iter().map(|i| i + offset).collect(),
                to,
            },
            Op::SendAll { t, except } => Op::SendAll {
                t: t.into_iter().map(|i| i + offset).collect(),
                except,
            },
            other => other,
        }));
    }

    fn text(&mut self, text: String) -> usize {
        self.texts.push(text);
        self.texts.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i}")).collect()
    }

    fn object(names: &[&str]) -> HashSet<String> {
        names.iter().map(|c| (*c).to_owned()).collect()
    }

    /// What each connection of `object` gets, in order, when the plan is applied (a closed
    /// connection leaves the object).
    fn received(plan: &Plan, object: &HashSet<String>) -> HashMap<String, Vec<String>> {
        let mut got: HashMap<String, Vec<String>> = HashMap::new();
        let mut live = object.clone();
        for op in &plan.ops {
            let (t, to): (&Vec<usize>, Vec<String>) = match op {
                Op::Send { t, to } => (t, to.clone()),
                Op::SendAll { t, except } => (
                    t,
                    live.iter()
                        .filter(|c| !except.contains(c))
                        .cloned()
                        .collect(),
                ),
                Op::Close { c, .. } => {
                    live.remove(c);
                    continue;
                }
                Op::Check { .. } => continue,
            };
            for c in to {
                let list = got.entry(c.clone()).or_default();
                list.extend(t.iter().map(|&i| plan.texts[i].clone()));
            }
        }
        got
    }

    #[test]
    fn a_broadcast_is_one_text_and_its_exceptions() {
        let room_texts = texts(3);
        // Everyone gets f0 then f1; the publisher gets its ack (f2) then f0, f1; `q` is on the
        // object too and gets nothing (a typing frame's author, say).
        let mut sends = vec![("p", 2), ("p", 0), ("p", 1)];
        for c in ["a", "b", "c"] {
            sends.extend([(c, 0), (c, 1)]);
        }
        let on = object(&["p", "q", "a", "b", "c"]);
        let mut plan = Plan::default();
        plan.add_sends(&room_texts, sends.iter().map(|(c, t)| (*c, *t)), &on);
        assert_eq!(plan.texts.len(), 3, "each text once");
        assert_eq!(plan.ops.len(), 2, "one operation per distinct sequence");
        let Op::SendAll { except, .. } = &plan.ops[1] else {
            panic!("the broadcast is named by its exceptions: {:?}", plan.ops);
        };
        let except: HashSet<String> = except.iter().cloned().collect();
        assert_eq!(except, object(&["p", "q"]));
        let got = received(&plan, &on);
        assert_eq!(got["p"], ["f2", "f0", "f1"]);
        for c in ["a", "b", "c"] {
            assert_eq!(got[c], ["f0", "f1"], "{c}");
        }
        assert!(!got.contains_key("q"), "q got nothing");
    }

    #[test]
    fn a_group_that_is_not_most_of_the_object_is_named() {
        let on = object(&["a", "b", "c", "d"]);
        let mut plan = Plan::default();
        plan.add_sends(&texts(1), [("a", 0), ("b", 0)], &on);
        let to = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(plan.ops, [Op::Send { t: vec![0], to }]);
    }

    #[test]
    fn merged_plans_keep_each_connections_order() {
        let on = object(&["a", "b"]);
        let mut first = Plan::default();
        first.add_sends(&texts(2), [("a", 1), ("a", 0), ("b", 0)], &on);
        let mut later = Plan::default();
        later.add_frames("a", ["r1".to_owned(), "r2".to_owned()]);
        later.add_close("b", 4003, "kicked", 0);
        later.add_sends(&texts(1), [("a", 0)], &object(&["a"]));
        first.append(later);
        let got = received(&first, &on);
        assert_eq!(got["a"], ["f1", "f0", "r1", "r2", "f0"]);
        assert_eq!(got["b"], ["f0"]);
        assert!(matches!(&first.ops[3], Op::Close { c, code: 4003, .. } if c == "b"));
        assert!(
            matches!(&first.ops[4], Op::SendAll { t, .. } if t == &[4]),
            "text indices move with the merge: {:?}",
            first.ops
        );
    }

    #[test]
    fn a_reply_tells_closes_from_losses_and_reads_without_either() {
        let reply: PlanReply = serde_json::from_str(r#"{"missing":["a"]}"#).unwrap();
        assert_eq!(reply.lost, Vec::<String>::new());
        let both = PlanReply {
            missing: vec![],
            lost: vec!["b".into()],
        };
        assert!(!both.is_empty());
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(serde_json::from_str::<PlanReply>(&json).unwrap(), both);
        assert!(PlanReply::default().is_empty());
    }

    #[test]
    fn empty_additions_add_nothing_and_plans_round_trip() {
        let mut plan = Plan::default();
        plan.add_frames("a", Vec::new());
        plan.add_check(Vec::new());
        plan.add_sends(&texts(1), [], &object(&["a"]));
        assert!(plan.is_empty());
        plan.add_check(vec!["a".into()]);
        plan.add_close("a", 4001, "token_expired", 77);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains(r#""op":"check""#), "{json}");
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }
}
