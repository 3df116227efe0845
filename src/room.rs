//! A chat room's behaviour, free of any runtime: given what happened (a connection opened,
//! a frame arrived, a connection ended), it updates the user index and says what to send to
//! whom. The Durable Object shell carries the sends out; tests read them directly.
//!
//! Frames are serialised once per event and addressed to a [`Recipients`] set, so a broadcast
//! to N connections costs one serialisation and N sends, never N serialisations.

use crate::config::Config;
use crate::connection_id::room_of;
use crate::error::ErrorCode;
use crate::history::{resume_gap, Appended, LogEntry, MessageLog};
use crate::protocol::{
    ack_frame, direct_frame, error_frame, gap_frame, message_frame, parse_client_frame,
    presence_frame, welcome_frame, ClientFrame, Member, PresenceEvent, Sender, Target,
};
use crate::rate_limit::{RateLimiter, Verdict};
use crate::room_index::{Removed, RoomIndex};
use serde::Serialize;
use serde_json::value::RawValue;

/// A connection as the room keeps it: the runtime's handle and its rate limiter.
#[derive(Debug)]
pub struct Conn<H> {
    pub handle: H,
    pub limiter: RateLimiter,
}

/// Who gets a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One connection.
    One(String),
    /// Every connection, except the one named (if any).
    AllExcept(Option<String>),
    /// Every connection of one user.
    User(String),
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Recipients,
        frame: String,
    },
    /// Close one connection (it has already been removed from the index).
    Close {
        connection_id: String,
        code: u16,
        reason: &'static str,
    },
    /// A user's connection count in this room changed: tell their registry (and the stats).
    UserCount {
        user_id: String,
        connections: u32,
    },
    /// A `direct` this room cannot deliver itself: to a user (every room, via the registry) or
    /// to a connection in another room. On `delivered == 0` the sender gets `not_found`.
    Forward {
        to: Target,
        frame: String,
        id: Option<String>,
    },
}

impl Action {
    fn send(to: Recipients, frame: String) -> Self {
        Action::Send { to, frame }
    }
}

/// A frame as received from a socket.
#[derive(Debug, Clone, Copy)]
pub enum Incoming<'a> {
    Text(&'a str),
    Binary,
}

#[derive(Debug)]
pub struct Room<H> {
    name: String,
    config: Config,
    index: RoomIndex<Conn<H>>,
}

impl<H> Room<H> {
    pub fn new(name: impl Into<String>, config: Config) -> Self {
        Room {
            name: name.into(),
            config,
            index: RoomIndex::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> &RoomIndex<Conn<H>> {
        &self.index
    }

    /// Re-registers a connection that survived hibernation: no welcome, no presence (nobody
    /// left or joined; the object merely slept).
    pub fn restore(&mut self, connection_id: &str, user_id: &str, handle: H, now_ms: f64) {
        let limiter = RateLimiter::new(&self.config.rate_limit, now_ms);
        self.index
            .add(connection_id, user_id, Conn { handle, limiter });
    }

    /// A new connection: `welcome` to it, and `join` to everyone else if it is the user's first.
    /// With `since`, the connection then gets the `gap` (if any) and every retained message
    /// after `since`, before any live traffic: this runs in one synchronous step, so nothing
    /// can be broadcast in between — no duplicate and no hole between replay and live.
    pub fn open(
        &mut self,
        connection_id: &str,
        user_id: &str,
        handle: H,
        now_ms: f64,
        since: Option<u64>,
        log: &dyn MessageLog,
    ) -> Vec<Action> {
        let limiter = RateLimiter::new(&self.config.rate_limit, now_ms);
        let presence = self
            .index
            .add(connection_id, user_id, Conn { handle, limiter });
        let mut actions = Vec::with_capacity(3);
        actions.push(Action::UserCount {
            user_id: user_id.to_owned(),
            connections: self.index.user_connections(user_id),
        });
        if presence == Some(PresenceEvent::Join) {
            actions.push(Action::send(
                Recipients::AllExcept(Some(connection_id.to_owned())),
                presence_frame(PresenceEvent::Join, user_id),
            ));
        }
        let me = || Recipients::One(connection_id.to_owned());
        let last = log.last_seq();
        actions.push(Action::send(
            me(),
            welcome_frame(
                &self.name,
                connection_id,
                user_id,
                &self.index.members(),
                last,
            ),
        ));
        if let Some(since) = since {
            if let Some((from, to)) = resume_gap(since, log.first_seq(), last) {
                actions.push(Action::send(me(), gap_frame(from, to)));
            }
            let replayed = log.replay(since, &mut |frame| {
                actions.push(Action::send(me(), frame.to_owned()));
            });
            if let Err(e) = replayed {
                let message = format!("could not read the room's history: {e}");
                actions.push(Action::send(
                    me(),
                    error_frame(ErrorCode::Internal, &message, None),
                ));
            }
        }
        actions
    }

    /// A connection ended (closed, errored or was dropped by us). Idempotent.
    pub fn close(&mut self, connection_id: &str) -> (Option<Removed<Conn<H>>>, Vec<Action>) {
        let Some(removed) = self.index.remove(connection_id) else {
            return (None, Vec::new());
        };
        let mut actions = vec![Action::UserCount {
            user_id: removed.user_id.clone(),
            connections: removed.user_connections,
        }];
        if removed.presence == Some(PresenceEvent::Leave) {
            actions.push(Action::send(
                Recipients::AllExcept(None),
                presence_frame(PresenceEvent::Leave, &removed.user_id),
            ));
        }
        (Some(removed), actions)
    }

    /// A frame from `connection_id`. Refusals become `error` frames to the sender only; a
    /// connection that keeps flooding after `rate_limited` is closed with 1008.
    pub fn receive(
        &mut self,
        connection_id: &str,
        incoming: Incoming<'_>,
        now_ms: u64,
        log: &mut dyn MessageLog,
    ) -> Vec<Action> {
        let Some(limiter) = self
            .index
            .get_mut(connection_id)
            .map(|e| &mut e.handle.limiter)
        else {
            return Vec::new();
        };
        let verdict = limiter.check(&self.config.rate_limit, now_ms as f64);
        let reply = |code: ErrorCode, message: &str, id: Option<&str>| {
            vec![Action::send(
                Recipients::One(connection_id.to_owned()),
                error_frame(code, message, id),
            )]
        };
        match verdict {
            Verdict::Allow => {}
            Verdict::Reject => {
                return reply(ErrorCode::RateLimited, "too many frames; slow down", None)
            }
            Verdict::Close => {
                let (_, mut actions) = self.close(connection_id);
                actions.insert(
                    0,
                    Action::Close {
                        connection_id: connection_id.to_owned(),
                        code: 1008,
                        reason: "rate limit exceeded",
                    },
                );
                return actions;
            }
        }
        let text = match incoming {
            Incoming::Binary => {
                return reply(
                    ErrorCode::BinaryUnsupported,
                    "binary frames are not supported; send JSON text",
                    None,
                )
            }
            Incoming::Text(t) => t,
        };
        if text.len() > self.config.max_message_bytes {
            let message = format!(
                "frame is {} bytes; the limit is {}",
                text.len(),
                self.config.max_message_bytes
            );
            return reply(ErrorCode::TooLarge, &message, None);
        }
        let frame = match parse_client_frame(text) {
            Ok(f) => f,
            Err(e) => return reply(e.code, &e.message, e.id.as_deref()),
        };
        let Some(sender) = self.index.get(connection_id) else {
            return Vec::new();
        };
        let user_id = sender.user_id.as_str();
        let from = Sender::Client {
            user_id,
            connection_id,
        };
        match frame {
            ClientFrame::Publish { data, id, echo } => {
                // Stored first, broadcast after: the frame carries its seq, and the runtime's
                // output gate holds these sends until the write is durable.
                let seq = log.last_seq() + 1;
                let frame = message_frame(&self.name, from, data, id.as_deref(), now_ms, seq);
                let entry = LogEntry {
                    seq,
                    ts: now_ms,
                    user_id: Some(user_id),
                    client_id: id.as_deref(),
                    frame: &frame,
                };
                let me = || Recipients::One(connection_id.to_owned());
                match log.append(entry) {
                    Ok(Appended::Stored) => {
                        let except = (!echo).then(|| connection_id.to_owned());
                        vec![
                            Action::send(Recipients::AllExcept(except), frame),
                            Action::send(me(), ack_frame(id.as_deref(), seq)),
                        ]
                    }
                    Ok(Appended::Duplicate(original)) => {
                        vec![Action::send(me(), ack_frame(id.as_deref(), original))]
                    }
                    Err(e) => reply(
                        ErrorCode::Internal,
                        &format!("the message could not be stored and was not sent: {e}"),
                        id.as_deref(),
                    ),
                }
            }
            ClientFrame::Direct { to, data, id } => {
                let frame = direct_frame(from, data);
                match to {
                    Target::Connection(c) if self.index.get(&c).is_some() => {
                        vec![Action::send(Recipients::One(c), frame)]
                    }
                    Target::Connection(c) if room_of(&c).is_some_and(|r| r != self.name) => {
                        vec![Action::Forward {
                            to: Target::Connection(c),
                            frame,
                            id,
                        }]
                    }
                    Target::Connection(_) => {
                        reply(ErrorCode::NotFound, "no such connection", id.as_deref())
                    }
                    // Always through the registry, which knows every room of the user
                    // (this one included) and delivers to each exactly once.
                    Target::User(u) => vec![Action::Forward {
                        to: Target::User(u),
                        frame,
                        id,
                    }],
                }
            }
        }
    }

    /// `POST /rooms/{room}/messages`: a server message to the room, stored in the log like any
    /// other, optionally leaving out one connection. Returns the send, how many connections it
    /// reaches, and its seq.
    pub fn server_publish(
        &self,
        data: &RawValue,
        exclude: Option<String>,
        now_ms: u64,
        log: &mut dyn MessageLog,
    ) -> Result<(Action, usize, u64), String> {
        let seq = log.last_seq() + 1;
        let frame = message_frame(&self.name, Sender::Server, data, None, now_ms, seq);
        let entry = LogEntry {
            seq,
            ts: now_ms,
            user_id: None,
            client_id: None,
            frame: &frame,
        };
        log.append(entry)?;
        let to = Recipients::AllExcept(exclude);
        let delivered = self.resolve(&to).count();
        Ok((Action::send(to, frame), delivered, seq))
    }

    /// A ready-made frame for every connection of `user_id` here (from the registry).
    pub fn deliver_to_user(&self, user_id: &str, frame: String) -> (Action, usize) {
        let to = Recipients::User(user_id.to_owned());
        let delivered = self.resolve(&to).count();
        (Action::send(to, frame), delivered)
    }

    /// A ready-made frame for one connection here (from another room or the server API).
    pub fn deliver_to_connection(&self, connection_id: &str, frame: String) -> (Action, usize) {
        let to = Recipients::One(connection_id.to_owned());
        let delivered = self.resolve(&to).count();
        (Action::send(to, frame), delivered)
    }

    /// `GET /rooms/{room}`: `{"room","connections","users":[{"user_id","connections"}]}`.
    pub fn info_json(&self) -> String {
        #[derive(Serialize)]
        struct Info<'a> {
            room: &'a str,
            connections: usize,
            users: Vec<Member>,
        }
        serde_json::to_string(&Info {
            room: &self.name,
            connections: self.index.connection_count(),
            users: self.index.members(),
        })
        .unwrap_or_default()
    }

    /// The handles a [`Recipients`] set names, resolved against the current index.
    pub fn resolve<'a>(&'a self, to: &'a Recipients) -> Box<dyn Iterator<Item = &'a H> + 'a> {
        match to {
            Recipients::One(c) => Box::new(self.index.get(c).map(|e| &e.handle.handle).into_iter()),
            Recipients::AllExcept(except) => Box::new(
                self.index
                    .iter()
                    .filter(move |(c, _)| Some(*c) != except.as_deref())
                    .map(|(_, e)| &e.handle.handle),
            ),
            Recipients::User(u) => Box::new(
                self.index
                    .iter()
                    .filter(move |(_, e)| &e.user_id == u)
                    .map(|(_, e)| &e.handle.handle),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::MemoryLog;
    use crate::rate_limit::RateLimit;
    use serde_json::Value;

    /// A room whose handles are the connection ids, so deliveries can be read back.
    fn room() -> Room<String> {
        Room::new("lobby", Config::default())
    }

    fn open(r: &mut Room<String>, cid: &str, user: &str) -> Vec<Action> {
        r.open(cid, user, cid.to_owned(), 0.0, None, &MemoryLog::default())
    }

    /// Flattens actions into (recipient connection id, parsed frame) pairs.
    fn deliveries(r: &Room<String>, actions: &[Action]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for a in actions {
            if let Action::Send { to, frame } = a {
                let v: Value = serde_json::from_str(frame).unwrap();
                let mut to: Vec<String> = r.resolve(to).cloned().collect();
                to.sort();
                out.extend(to.into_iter().map(|c| (c, v.clone())));
            }
        }
        out
    }

    /// Sends `text` from `cid` with a throwaway log; the publisher's `ack` is left out (acks
    /// have their own tests below).
    fn send(r: &mut Room<String>, cid: &str, text: &str) -> Vec<(String, Value)> {
        let actions = r.receive(cid, Incoming::Text(text), 1_000, &mut MemoryLog::default());
        let mut d = deliveries(r, &actions);
        d.retain(|x| x.1["type"] != "ack");
        d
    }

    /// Like `send`, but with a log that persists across calls.
    fn send_logged(
        r: &mut Room<String>,
        log: &mut MemoryLog,
        cid: &str,
        text: &str,
    ) -> Vec<(String, Value)> {
        let actions = r.receive(cid, Incoming::Text(text), 1_000, log);
        deliveries(r, &actions)
    }

    #[test]
    fn welcome_then_presence_for_first_tab_only() {
        let mut r = room();
        let a = open(&mut r, "a1", "alice");
        let d = deliveries(&r, &a);
        assert_eq!(d.len(), 1, "nobody else to tell");
        assert_eq!(d[0].0, "a1");
        assert_eq!(d[0].1["type"], "welcome");
        assert_eq!(d[0].1["members"][0]["user_id"], "alice");

        let b = open(&mut r, "b1", "bob");
        let d = deliveries(&r, &b);
        assert_eq!(
            d[0],
            (
                "a1".into(),
                serde_json::json!({"type":"presence","event":"join","user_id":"bob"})
            )
        );
        assert_eq!(d[1].0, "b1");
        assert_eq!(d[1].1["members"].as_array().unwrap().len(), 2);

        let a2 = open(&mut r, "a2", "alice");
        let d = deliveries(&r, &a2);
        assert_eq!(d.len(), 1, "a second tab is silent");
        assert_eq!(d[0].1["members"][0]["connections"], 2);

        let (_, acts) = r.close("a1");
        assert!(deliveries(&r, &acts).is_empty(), "alice still has a tab");
        let (_, acts) = r.close("a2");
        let d = deliveries(&r, &acts);
        assert_eq!(
            d,
            vec![(
                "b1".into(),
                serde_json::json!({"type":"presence","event":"leave","user_id":"alice"})
            )]
        );
        let (_, acts) = r.close("b1");
        assert!(deliveries(&r, &acts).is_empty());
        assert!(r.index().is_empty());
        assert!(r.close("b1").0.is_none(), "closing twice is harmless");
    }

    #[test]
    fn publish_reaches_everyone_and_echo_false_excludes_only_the_sender() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        let d = send(
            &mut r,
            "a1",
            r#"{"type":"publish","data":{"t":"hi"},"id":"m1"}"#,
        );
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "a2", "b1"]
        );
        let m = &d[0].1;
        assert_eq!(m["type"], "message");
        assert_eq!(m["room"], "lobby");
        assert_eq!(
            m["from"],
            serde_json::json!({"user_id":"alice","connection_id":"a1"})
        );
        assert_eq!(m["data"], serde_json::json!({"t":"hi"}));
        assert_eq!(m["id"], "m1");
        assert_eq!(m["ts"], 1_000);

        let d = send(&mut r, "a1", r#"{"type":"publish","data":1,"echo":false}"#);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a2", "b1"]
        );
    }

    #[test]
    fn direct_reaches_exactly_the_target_or_says_not_found() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        open(&mut r, "b2", "bob");
        let d = send(
            &mut r,
            "a1",
            r#"{"type":"direct","to":{"connection_id":"b2"},"data":"psst"}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "b2");
        assert_eq!(
            d[0].1,
            serde_json::json!({"type":"direct","from":{"user_id":"alice","connection_id":"a1"},"data":"psst"})
        );

        let acts = r.receive(
            "a1",
            Incoming::Text(r#"{"type":"direct","to":{"user_id":"bob"},"data":1,"id":"u"}"#),
            0,
            &mut MemoryLog::default(),
        );
        assert!(
            matches!(&acts[..], [Action::Forward { to: Target::User(u), id: Some(i), .. }] if u == "bob" && i == "u"),
            "a direct to a user always goes through the registry"
        );
        let other_room =
            r#"{"type":"direct","to":{"connection_id":"elsewhere.0123456789abcdef"},"data":1}"#;
        let acts = r.receive(
            "a1",
            Incoming::Text(other_room),
            0,
            &mut MemoryLog::default(),
        );
        assert!(
            matches!(&acts[..], [Action::Forward { to: Target::Connection(c), .. }] if c.starts_with("elsewhere."))
        );

        let d = send(
            &mut r,
            "a1",
            r#"{"type":"direct","to":{"connection_id":"zz"},"data":1,"id":"q"}"#,
        );
        assert_eq!(d[0].0, "a1");
        assert_eq!(d[0].1["code"], "not_found");
        assert_eq!(d[0].1["id"], "q");
    }

    #[test]
    fn bad_input_is_answered_to_the_sender_only() {
        let mut r = Room::new(
            "lobby",
            Config {
                max_message_bytes: 100,
                ..Config::default()
            },
        );
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let cases = [
            ("{", "bad_json"),
            (r#"{"type":"nope","data":1}"#, "bad_frame"),
            (
                r#"{"type":"publish","data":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}"#,
                "too_large",
            ),
        ];
        for (text, code) in cases {
            let d = send(&mut r, "a1", text);
            assert_eq!(d.len(), 1, "{text}");
            assert_eq!(d[0].0, "a1");
            assert_eq!(d[0].1["type"], "error");
            assert_eq!(d[0].1["code"], code);
        }
        let acts = r.receive("a1", Incoming::Binary, 0, &mut MemoryLog::default());
        let d = deliveries(&r, &acts);
        assert_eq!(
            (d[0].0.as_str(), &d[0].1["code"]),
            ("a1", &Value::from("binary_unsupported"))
        );
        // Still a member, still able to publish.
        assert_eq!(
            send(&mut r, "a1", r#"{"type":"publish","data":0}"#).len(),
            2
        );
    }

    #[test]
    fn a_flood_is_refused_then_closed_and_others_are_told() {
        let limit = RateLimit {
            per_second: 1.0,
            burst: 2.0,
        };
        let mut r = Room::new(
            "lobby",
            Config {
                rate_limit: limit,
                ..Config::default()
            },
        );
        let log = MemoryLog::default();
        r.open("a1", "alice", "a1".into(), 1_000.0, None, &log);
        r.open("b1", "bob", "b1".into(), 1_000.0, None, &log);
        let mut codes = Vec::new();
        let mut closed = None;
        for _ in 0..20 {
            let acts = r.receive(
                "a1",
                Incoming::Text(r#"{"type":"publish","data":1}"#),
                1_000,
                &mut MemoryLog::default(),
            );
            for a in &acts {
                if let Action::Close {
                    connection_id,
                    code,
                    ..
                } = a
                {
                    closed = Some((connection_id.clone(), *code));
                }
            }
            let d = deliveries(&r, &acts);
            if let Some((_, v)) = d.iter().find(|(c, _)| c == "a1") {
                codes.push(
                    v["code"]
                        .as_str()
                        .unwrap_or(v["type"].as_str().unwrap())
                        .to_owned(),
                );
            }
            if closed.is_some() {
                assert!(d.iter().any(|(c, v)| c == "b1" && v["event"] == "leave"));
                break;
            }
        }
        assert_eq!(codes[..2], ["message", "message"]);
        assert!(codes[2..].iter().all(|c| c == "rate_limited"));
        assert_eq!(closed, Some(("a1".into(), 1008)));
        assert!(r.index().get("a1").is_none());
    }

    #[test]
    fn restored_connections_are_silent_members() {
        let mut r = room();
        r.restore("a1", "alice", "a1".into(), 0.0);
        r.restore("b1", "bob", "b1".into(), 0.0);
        let d = send(&mut r, "b1", r#"{"type":"publish","data":1}"#);
        assert_eq!(d.len(), 2);
        assert_eq!(r.index().members().len(), 2);
    }

    #[test]
    fn counts_are_reported_on_every_change() {
        let mut r = room();
        let counts = |acts: &[Action]| -> Vec<(String, u32)> {
            acts.iter()
                .filter_map(|a| match a {
                    Action::UserCount {
                        user_id,
                        connections,
                    } => Some((user_id.clone(), *connections)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            counts(&open(&mut r, "a1", "alice")),
            vec![("alice".into(), 1)]
        );
        assert_eq!(
            counts(&open(&mut r, "a2", "alice")),
            vec![("alice".into(), 2)]
        );
        assert_eq!(counts(&r.close("a1").1), vec![("alice".into(), 1)]);
        assert_eq!(counts(&r.close("a2").1), vec![("alice".into(), 0)]);
        assert!(counts(&r.close("a2").1).is_empty());
    }

    #[test]
    fn server_posts_and_deliveries_count_their_recipients() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        open(&mut r, "b2", "bob");
        let data = RawValue::from_string("{\"n\":1}".into()).unwrap();
        let mut log = MemoryLog::default();
        let (act, n, seq) = r
            .server_publish(&data, Some("b1".into()), 7, &mut log)
            .unwrap();
        assert_eq!((seq, log.last), (1, 1));
        assert_eq!(n, 2);
        let d = deliveries(&r, &[act]);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "b2"]
        );
        assert_eq!(d[0].1["from"], serde_json::json!({"server": true}));
        assert_eq!(d[0].1["ts"], 7);
        assert_eq!(d[0].1["seq"], 1);
        assert!(d[0].1.get("id").is_none());
        assert_eq!(r.deliver_to_user("bob", "x".into()).1, 2);
        assert_eq!(r.deliver_to_user("zed", "x".into()).1, 0);
        assert_eq!(r.deliver_to_connection("a1", "x".into()).1, 1);
        assert_eq!(r.deliver_to_connection("a9", "x".into()).1, 0);
        let info: Value = serde_json::from_str(&r.info_json()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"room":"lobby","connections":3,"users":[{"user_id":"alice","connections":1},{"user_id":"bob","connections":2}]})
        );
    }

    #[test]
    fn publishes_are_stored_with_gapless_seqs_and_acked() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":1,"id":"m1"}"#,
        );
        assert_eq!(d.len(), 3, "two messages and one ack");
        assert!(d
            .iter()
            .filter(|x| x.1["type"] == "message")
            .all(|x| x.1["seq"] == 1));
        let ack = d.iter().find(|x| x.1["type"] == "ack").unwrap();
        assert_eq!(
            (ack.0.as_str(), &ack.1),
            ("a1", &serde_json::json!({"type":"ack","id":"m1","seq":1}))
        );
        let d = send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"publish","data":2,"echo":false}"#,
        );
        assert_eq!(d.iter().filter(|x| x.1["type"] == "message").count(), 1);
        assert_eq!(
            d.iter().find(|x| x.1["type"] == "ack").unwrap().1,
            serde_json::json!({"type":"ack","seq":2})
        );
        assert_eq!(log.rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        let stored: Value = serde_json::from_str(&log.rows[0].3).unwrap();
        assert_eq!(stored["data"], 1);
        assert_eq!(stored["seq"], 1);
    }

    #[test]
    fn a_retried_id_is_acked_with_its_original_seq_and_not_rebroadcast() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":"x","id":"same"}"#,
        );
        send_logged(
            &mut r,
            &mut log,
            "b1",
            r#"{"type":"publish","data":"y","id":"same"}"#,
        );
        // alice retries from another tab: same user, same id.
        let d = send_logged(
            &mut r,
            &mut log,
            "a2",
            r#"{"type":"publish","data":"x","id":"same"}"#,
        );
        assert_eq!(
            d,
            vec![(
                "a2".into(),
                serde_json::json!({"type":"ack","id":"same","seq":1})
            )]
        );
        assert_eq!(log.rows.len(), 2, "bob's equal id is a different message");
    }

    #[test]
    fn a_failed_write_broadcasts_nothing() {
        let mut r = room();
        let mut log = MemoryLog {
            fail: true,
            ..MemoryLog::default()
        };
        open(&mut r, "a1", "alice");
        open(&mut r, "b1", "bob");
        let d = send_logged(
            &mut r,
            &mut log,
            "a1",
            r#"{"type":"publish","data":1,"id":"z"}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].0.as_str(), &d[0].1["code"], &d[0].1["id"]),
            ("a1", &Value::from("internal"), &Value::from("z"))
        );
    }

    #[test]
    fn resume_replays_after_since_with_a_gap_for_trimmed_messages() {
        let mut r = room();
        let mut log = MemoryLog::default();
        open(&mut r, "a1", "alice");
        for i in 0..5 {
            send_logged(
                &mut r,
                &mut log,
                "a1",
                &format!(r#"{{"type":"publish","data":{i}}}"#),
            );
        }
        let acts = r.open("b1", "bob", "b1".into(), 0.0, Some(3), &log);
        let mine: Vec<Value> = deliveries(&r, &acts)
            .into_iter()
            .filter(|x| x.0 == "b1")
            .map(|x| x.1)
            .collect();
        assert_eq!(mine[0]["type"], "welcome");
        assert_eq!(mine[0]["seq"], 5);
        assert_eq!(
            mine[1..]
                .iter()
                .map(|m| m["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [4, 5]
        );

        log.rows.drain(..2); // trim seqs 1-2
        let acts = r.open("c1", "carol", "c1".into(), 0.0, Some(0), &log);
        let mine: Vec<Value> = deliveries(&r, &acts)
            .into_iter()
            .filter(|x| x.0 == "c1")
            .map(|x| x.1)
            .collect();
        assert_eq!(mine[1], serde_json::json!({"type":"gap","from":1,"to":2}));
        assert_eq!(
            mine[2..]
                .iter()
                .map(|m| m["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [3, 4, 5]
        );

        let acts = r.open("d1", "dan", "d1".into(), 0.0, Some(5), &log);
        assert_eq!(
            deliveries(&r, &acts).iter().filter(|x| x.0 == "d1").count(),
            1,
            "up to date: welcome only"
        );
    }

    #[test]
    fn unknown_senders_are_ignored() {
        let mut r = room();
        assert!(r
            .receive("ghost", Incoming::Text("{}"), 0, &mut MemoryLog::default())
            .is_empty());
    }
}
