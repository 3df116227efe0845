//! Session lifetime: how long a connection may stay open on the token it presented, and the
//! close codes of every connection the server ends on purpose.
//!
//! A connection carries its token's `exp` and `iat` ([`Session`]) for its whole life — in the
//! room's memory and in the socket's attachment, so they survive hibernation. The room's alarm
//! wakes it at [`Room::next_session_wake`] to send `token_expiring` shortly before `exp` and to
//! close with 4001 at `exp`, unless the client refreshed in place (`auth`, `Room::refresh`);
//! nothing here keeps a timer.

use super::{Action, Recipients, Room};
use crate::auth::Claims;
use crate::common::error::ChatError;
use crate::common::error::ErrorCode;
use crate::protocol::{error_frame, ServerFrame};
use serde::{Deserialize, Serialize};

/// A token's `rooms` claim (`None`: any room).
type RoomsClaim = Option<Vec<String>>;

/// Notices due within this long of a wake are sent in that wake (a notice a few seconds early
/// is harmless), so that connections opened together are noticed together. Closes are never
/// early: a token is valid until its `exp`.
pub const NOTICE_GROUPING_MS: u64 = 5_000;

/// How long a check of a token's revocation waits for the user's registry shard (a user's
/// first connect to a room, a user token's history or member read) before letting it through
/// anyway: room chat never depends on a registry.
pub const REVOCATION_CHECK_MS: u64 = 1_000;

/// Why the server closed a connection: each is a WebSocket close code and reason text of the
/// contract (docs/protocol.md, "Session lifetime and moderation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// 1008: kept flooding after `rate_limited`.
    RateLimited,
    /// 4001: the token expired and was not refreshed.
    TokenExpired,
    /// 4003: an operator disconnected it.
    Kicked,
    /// 4004: banned from this room.
    Banned,
    /// 4005: the user's tokens were revoked.
    Revoked,
    /// 4006: the room was deleted (`DELETE /rooms/{room}`): its log and everything else it
    /// kept are gone; the name may be used again, from seq 1.
    RoomDeleted,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::RateLimited => 1008,
            CloseReason::TokenExpired => 4001,
            CloseReason::Kicked => 4003,
            CloseReason::Banned => 4004,
            CloseReason::Revoked => 4005,
            CloseReason::RoomDeleted => 4006,
        }
    }

    /// The close frame's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            CloseReason::RateLimited => "rate limit exceeded",
            CloseReason::TokenExpired => "token_expired",
            CloseReason::Kicked => "kicked",
            CloseReason::Banned => "banned",
            CloseReason::Revoked => "revoked",
            CloseReason::RoomDeleted => "room_deleted",
        }
    }
}

/// What a connection knows of its token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The token's expiry, seconds since the epoch (0: none, e.g. a connection restored from
    /// before sessions were tracked — it never expires by the clock).
    pub exp: u64,
    /// The token's `iat`, seconds since the epoch.
    pub iat: Option<u64>,
    /// `token_expiring` was sent for this `exp`.
    pub notified: bool,
}

impl Session {
    pub fn new(exp: u64, iat: Option<u64>) -> Self {
        Session {
            exp,
            iat,
            notified: false,
        }
    }

    /// When the token expires, in ms since the epoch.
    pub fn expires_ms(&self) -> Option<u64> {
        (self.exp > 0).then(|| self.exp.saturating_mul(1000))
    }

    /// When `token_expiring` is due, in ms since the epoch.
    pub fn notice_ms(&self, notice_secs: u64) -> Option<u64> {
        (self.exp > 0).then(|| self.exp.saturating_sub(notice_secs).saturating_mul(1000))
    }

    /// The next time this session needs the room: its notice, or its expiry once noticed.
    pub fn next_wake_ms(&self, notice_secs: u64) -> Option<u64> {
        if self.notified {
            self.expires_ms()
        } else {
            self.notice_ms(notice_secs)
        }
    }

    /// Whether a revocation of the user's tokens issued before `before` (seconds) covers this
    /// token: tokens without `iat` are always covered.
    pub fn revoked_by(&self, before: Option<u64>) -> bool {
        match (before, self.iat) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(before), Some(iat)) => iat < before,
        }
    }
}

impl<H> Room<H> {
    /// What a connection's session asks right after it opened or refreshed: the notice, if it is
    /// already due, and a wake for what comes next.
    pub(super) fn schedule_session(&mut self, connection_id: &str, now_ms: u64) -> Vec<Action> {
        let notice_secs = self.config.token_notice_secs;
        let Some(conn) = self.index.get_mut(connection_id) else {
            return Vec::new();
        };
        let mut actions = Vec::new();
        let s = &mut conn.handle.session;
        if !s.notified && s.notice_ms(notice_secs).is_some_and(|at| at <= now_ms) {
            s.notified = true;
            let notice = ServerFrame::TokenExpiring { exp: s.exp };
            let me = Recipients::One(connection_id.to_owned());
            actions.push(Action::send(me, notice.to_json()));
            actions.push(Action::SaveSession {
                connection_id: connection_id.to_owned(),
                session: *s,
            });
        }
        actions.extend(s.next_wake_ms(notice_secs).map(Action::WakeAt));
        actions
    }

    /// `{"type":"auth","token":T}`: the token is verified outside the turn
    /// ([`Action::VerifyRefresh`]: a key set may have to be fetched), then [`Room::refreshed`]
    /// finishes the refresh in a later step.
    pub(super) fn refresh(
        &self,
        connection_id: &str,
        token: String,
        id: Option<String>,
    ) -> Vec<Action> {
        vec![Action::VerifyRefresh {
            connection_id: connection_id.to_owned(),
            token,
            id,
        }]
    }

    /// A refresh's token, verified (`verified`: its claims, or why it was not): the same user,
    /// a token this room accepts, not revoked → `auth_ok`, the new expiry and the new token's
    /// `rooms` claim (where the connection's directs may go from now on: a narrower token
    /// narrows them; the key and the algorithm may change, the user never); otherwise an
    /// `error` (`unauthorized`, `forbidden`, or `unavailable` when the key set could not be
    /// read — retryable), and the old expiry and claim stand.
    pub fn refreshed(
        &mut self,
        connection_id: &str,
        id: Option<&str>,
        verified: Result<Claims, ChatError>,
        now_ms: u64,
    ) -> Vec<Action> {
        let me = || Recipients::One(connection_id.to_owned());
        let (session, rooms) = match self.accept_refresh(connection_id, verified) {
            Ok(accepted) => accepted,
            Err((code, message)) => {
                return vec![Action::send(me(), error_frame(code, &message, id))]
            }
        };
        let Some(conn) = self.index.get_mut(connection_id) else {
            return Vec::new();
        };
        conn.handle.session = session;
        conn.handle.rooms.clone_from(&rooms);
        let ok = ServerFrame::AuthOk {
            exp: session.exp,
            id,
        };
        let mut actions = vec![
            Action::send(me(), ok.to_json()),
            Action::SaveSession {
                connection_id: connection_id.to_owned(),
                session,
            },
            Action::SaveRooms {
                connection_id: connection_id.to_owned(),
                rooms,
            },
        ];
        actions.extend(self.schedule_session(connection_id, now_ms));
        actions
    }

    fn accept_refresh(
        &self,
        connection_id: &str,
        verified: Result<Claims, ChatError>,
    ) -> Result<(Session, RoomsClaim), (ErrorCode, String)> {
        let unauthorized = |m: &str| (ErrorCode::Unauthorized, m.to_owned());
        let claims = verified.map_err(|e| match e.code {
            ErrorCode::Unavailable => (e.code, e.message),
            _ => unauthorized("the token is invalid or expired"),
        })?;
        let user_id = self.index.get(connection_id).map(|c| c.user_id.as_str());
        if user_id != Some(claims.sub.as_str()) {
            return Err(unauthorized("the token is for another user"));
        }
        if !claims.may_join(&self.name) {
            let message = "the token's `rooms` claim does not include this room";
            return Err((ErrorCode::Forbidden, message.to_owned()));
        }
        let session = Session::new(claims.exp, claims.iat);
        if session.revoked_by(self.revoked_before(&claims.sub)) {
            return Err(unauthorized("the token was revoked"));
        }
        Ok((session, claims.rooms))
    }

    /// The clock's work at `now_ms`: notices due (within [`NOTICE_GROUPING_MS`]) are sent,
    /// expired connections are closed with 4001.
    pub fn sessions_due(&mut self, now_ms: u64) -> Vec<Action> {
        let notice_secs = self.config.token_notice_secs;
        let (mut expired, mut noticed) = (Vec::new(), Vec::new());
        for (id, conn) in self.index.iter() {
            let s = &conn.handle.session;
            if s.expires_ms().is_some_and(|at| at <= now_ms) {
                expired.push(id.to_owned());
            } else if !s.notified
                && s.notice_ms(notice_secs)
                    .is_some_and(|at| at <= now_ms + NOTICE_GROUPING_MS)
            {
                noticed.push(id.to_owned());
            }
        }
        let mut actions = Vec::new();
        for id in noticed {
            if let Some(conn) = self.index.get_mut(&id) {
                conn.handle.session.notified = true;
                let session = conn.handle.session;
                let notice = ServerFrame::TokenExpiring { exp: session.exp };
                actions.push(Action::send(Recipients::One(id.clone()), notice.to_json()));
                actions.push(Action::SaveSession {
                    connection_id: id,
                    session,
                });
            }
        }
        for id in expired {
            actions.extend(self.close_by_server(&id, CloseReason::TokenExpired, None));
        }
        actions
    }

    /// When the room must next wake for its sessions (unix ms), looking at every connection.
    pub fn next_session_wake(&self) -> Option<u64> {
        let notice_secs = self.config.token_notice_secs;
        self.index
            .iter()
            .filter_map(|(_, c)| c.handle.session.next_wake_ms(notice_secs))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::{CloseReason, Session};
    use crate::auth::{issue_token, verify_with_secrets, AuthConfig, Claims};
    use crate::common::config::{Config, Secret};
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;

    const NOW: u64 = 1_800_000_000;

    fn secured() -> Room<String> {
        let config = Config {
            auth: AuthConfig {
                secret: Secret::new("k"),
                ..AuthConfig::default()
            },
            token_notice_secs: 60,
            ..Config::default()
        };
        Room::new("lobby", config)
    }

    fn join(r: &mut Room<String>, cid: &str, user: &str, session: Session) -> Vec<Action> {
        let j = Joining {
            connection_id: cid,
            user_id: user,
            handle: cid.to_owned(),
            session,
            rooms: None,
            since: None,
        };
        r.open(j, NOW * 1000, &MemoryLog::default())
    }

    fn token(sub: &str, exp: u64, rooms: Option<Vec<String>>, iat: Option<u64>) -> String {
        let claims = Claims {
            sub: sub.into(),
            exp,
            rooms,
            iat,
            ..Claims::default()
        };
        issue_token(b"k", &claims).unwrap()
    }

    /// An `auth` frame, its token verified as the shell does (here: HS256 with the room's
    /// secret), and the refresh finished.
    fn auth(r: &mut Room<String>, cid: &str, t: &str) -> Vec<Action> {
        let frame = format!(r#"{{"type":"auth","token":"{t}","id":"r"}}"#);
        let actions = r.receive(
            cid,
            Incoming::Text(&frame),
            NOW * 1000,
            &mut MemoryLog::default(),
        );
        let [Action::VerifyRefresh {
            connection_id,
            token,
            id,
        }] = &actions[..]
        else {
            return actions; // refused before verification (rate, parse)
        };
        let keys = AuthConfig {
            secret: Secret::new("k"),
            ..AuthConfig::default()
        };
        let verified = verify_with_secrets(token, &keys, NOW);
        r.refreshed(connection_id, id.as_deref(), verified, NOW * 1000)
    }

    #[test]
    fn a_session_is_noticed_then_closed_and_wakes_are_asked_for() {
        let mut r = secured();
        let acts = join(&mut r, "a1", "alice", Session::new(NOW + 600, None));
        assert!(acts.contains(&Action::WakeAt((NOW + 540) * 1000)));
        let soon = join(&mut r, "b1", "bob", Session::new(NOW + 30, None));
        let d = deliveries(&r, &soon);
        assert_eq!(
            d.last().unwrap().1,
            serde_json::json!({"type":"token_expiring","exp":NOW + 30})
        );
        assert!(
            soon.contains(&Action::WakeAt((NOW + 30) * 1000)),
            "next: its expiry"
        );
        assert_eq!(r.next_session_wake(), Some((NOW + 30) * 1000));

        // At bob's expiry: bob is closed 4001 (after a `closing` frame), alice hears the leave.
        let acts = r.sessions_due((NOW + 30) * 1000);
        let closes: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Close {
                    connection_id,
                    reason,
                } => Some((connection_id.as_str(), *reason)),
                _ => None,
            })
            .collect();
        assert_eq!(closes, [("b1", CloseReason::TokenExpired)]);
        let closing = acts.iter().find_map(|a| match a {
            Action::Send { frame, .. } if frame.contains("closing") => Some(frame.clone()),
            _ => None,
        });
        assert_eq!(
            closing.as_deref(),
            Some(r#"{"type":"closing","code":4001,"reason":"token_expired"}"#)
        );
        assert!(r.index().get("b1").is_none());
        // Alice's notice is due 540 s in; a wake 4 s earlier sends it (grouping), not before.
        assert!(r.sessions_due((NOW + 530) * 1000).is_empty());
        let acts = r.sessions_due((NOW + 536) * 1000);
        assert!(deliveries(&r, &acts)
            .iter()
            .any(|(c, v)| c == "a1" && v["type"] == "token_expiring"));
        assert!(
            r.sessions_due((NOW + 599) * 1000).is_empty(),
            "noticed once"
        );
        assert_eq!(r.next_session_wake(), Some((NOW + 600) * 1000));
    }

    /// The connections `acts` closes, and those it sends `token_expiring`, each sorted.
    fn closed_and_noticed(r: &Room<String>, acts: &[Action]) -> (Vec<String>, Vec<String>) {
        let mut closed: Vec<String> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Close { connection_id, .. } => Some(connection_id.clone()),
                _ => None,
            })
            .collect();
        let mut noticed: Vec<String> = deliveries(r, acts)
            .into_iter()
            .filter(|(_, v)| v["type"] == "token_expiring")
            .map(|(c, _)| c)
            .collect();
        closed.sort();
        noticed.sort();
        (closed, noticed)
    }

    #[test]
    fn one_wake_closes_every_connection_due_and_notices_every_one_due_within_5_s() {
        let mut r = secured(); // notices 60 s before exp
        join(&mut r, "a1", "alice", Session::new(NOW + 600, None));
        join(&mut r, "b1", "bob", Session::new(NOW + 600, None));
        join(&mut r, "c1", "carol", Session::new(NOW + 605, None)); // notice 5 s later
        join(&mut r, "d1", "dave", Session::new(NOW + 606, None)); // notice 6 s later
        assert_eq!(r.next_session_wake(), Some((NOW + 540) * 1000));

        // The wake at the first notice: every notice due within 5 s of it, not one more.
        let acts = r.sessions_due((NOW + 540) * 1000);
        let none: Vec<String> = Vec::new();
        assert_eq!(
            closed_and_noticed(&r, &acts),
            (none.clone(), vec!["a1".into(), "b1".into(), "c1".into()])
        );
        assert_eq!(
            r.next_session_wake(),
            Some((NOW + 546) * 1000),
            "dave's notice"
        );
        let acts = r.sessions_due((NOW + 546) * 1000);
        assert_eq!(
            closed_and_noticed(&r, &acts),
            (none.clone(), vec!["d1".into()])
        );

        // The wake at the first exp: every connection due, and none early (carol's exp is 5 s on).
        assert_eq!(r.next_session_wake(), Some((NOW + 600) * 1000));
        let acts = r.sessions_due((NOW + 600) * 1000);
        assert_eq!(
            closed_and_noticed(&r, &acts),
            (vec!["a1".into(), "b1".into()], none.clone())
        );
        assert_eq!(r.next_session_wake(), Some((NOW + 605) * 1000));
        // A late wake closes everything due by then at once.
        let acts = r.sessions_due((NOW + 607) * 1000);
        assert_eq!(
            closed_and_noticed(&r, &acts),
            (vec!["c1".into(), "d1".into()], none)
        );
        assert_eq!(r.next_session_wake(), None);
    }

    #[test]
    fn a_refresh_extends_the_session_only_for_the_same_user_and_room() {
        let mut r = secured();
        join(&mut r, "a1", "alice", Session::new(NOW + 30, None));
        let expect_error = |acts: &[Action], r: &Room<String>, code: &str| {
            let d = deliveries(r, acts);
            assert_eq!(
                (d[0].1["type"].as_str(), d[0].1["code"].as_str()),
                (Some("error"), Some(code))
            );
            assert_eq!(d[0].1["id"], "r");
        };
        let acts = auth(&mut r, "a1", &token("bob", NOW + 900, None, None));
        expect_error(&acts, &r, "unauthorized");
        let acts = auth(&mut r, "a1", &token("alice", NOW - 60, None, None));
        expect_error(&acts, &r, "unauthorized");
        let acts = auth(
            &mut r,
            "a1",
            &token("alice", NOW + 900, Some(vec!["other".into()]), None),
        );
        expect_error(&acts, &r, "forbidden");
        r.learn_revocation("alice", NOW - 10);
        let acts = auth(
            &mut r,
            "a1",
            &token("alice", NOW + 900, None, Some(NOW - 11)),
        );
        expect_error(&acts, &r, "unauthorized");
        assert_eq!(
            r.index().get("a1").unwrap().handle.session.exp,
            NOW + 30,
            "old expiry stands"
        );

        let acts = auth(&mut r, "a1", &token("alice", NOW + 900, None, Some(NOW)));
        let d = deliveries(&r, &acts);
        assert_eq!(
            d[0].1,
            serde_json::json!({"type":"auth_ok","exp":NOW + 900,"id":"r"})
        );
        assert!(acts.contains(&Action::SaveSession {
            connection_id: "a1".into(),
            session: Session::new(NOW + 900, Some(NOW)),
        }));
        assert!(acts.contains(&Action::WakeAt((NOW + 840) * 1000)));
        assert!(
            r.sessions_due((NOW + 31) * 1000).is_empty(),
            "no longer expires at the old exp"
        );
    }

    #[test]
    fn a_refresh_replaces_the_rooms_claim_and_a_refused_one_keeps_it() {
        let mut r = secured();
        join(&mut r, "a1", "alice", Session::new(NOW + 30, None));
        let narrow = Some(vec!["lobby".to_owned()]);
        let acts = auth(
            &mut r,
            "a1",
            &token("alice", NOW + 900, narrow.clone(), None),
        );
        assert_eq!(r.index().get("a1").unwrap().handle.rooms, narrow);
        assert!(acts.contains(&Action::SaveRooms {
            connection_id: "a1".into(),
            rooms: narrow.clone(),
        }));
        let refused = auth(&mut r, "a1", &token("alice", NOW - 60, None, None));
        assert!(!refused
            .iter()
            .any(|a| matches!(a, Action::SaveRooms { .. })));
        assert_eq!(r.index().get("a1").unwrap().handle.rooms, narrow);
        auth(&mut r, "a1", &token("alice", NOW + 900, None, None));
        assert_eq!(
            r.index().get("a1").unwrap().handle.rooms,
            None,
            "any room again"
        );
    }

    #[test]
    fn close_codes_are_the_contract() {
        let all = [
            (CloseReason::RateLimited, 1008, "rate limit exceeded"),
            (CloseReason::TokenExpired, 4001, "token_expired"),
            (CloseReason::Kicked, 4003, "kicked"),
            (CloseReason::Banned, 4004, "banned"),
            (CloseReason::Revoked, 4005, "revoked"),
            (CloseReason::RoomDeleted, 4006, "room_deleted"),
        ];
        for (r, code, text) in all {
            assert_eq!((r.code(), r.reason()), (code, text));
        }
    }

    #[test]
    fn wakes_and_revocations() {
        let s = Session::new(1_000, Some(500));
        assert_eq!(s.notice_ms(60), Some(940_000));
        assert_eq!(s.next_wake_ms(60), Some(940_000));
        let noticed = Session {
            notified: true,
            ..s
        };
        assert_eq!(noticed.next_wake_ms(60), Some(1_000_000));
        assert_eq!(Session::default().next_wake_ms(60), None, "no exp, no wake");
        assert!(!s.revoked_by(None));
        assert!(s.revoked_by(Some(501)) && !s.revoked_by(Some(500)));
        assert!(
            Session::new(9, None).revoked_by(Some(1)),
            "no iat: always revoked"
        );
    }
}
