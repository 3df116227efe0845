//! Operators' calls on a room and the checks a new connection must pass.
//!
//! **Revocation without a hop on every connect.** A room remembers the revocations of the
//! users connected to it (pushed by their registries, and stored here so they survive
//! eviction). A user's first connection to a room is the only one it knows nothing about: that
//! connect awaits the report the room sends the user's registry anyway, whose reply carries
//! the user's revocation (and whether they may have one more room, `MAX_ROOMS_PER_USER`) —
//! bounded by [`REVOCATION_CHECK_MS`] per attempt, with one retry; a registry that fails or is
//! slower lets the connection in (room chat never depends on a registry) and is logged, unless
//! `REVOCATION_CHECK_FAIL=closed` (then it is refused `503 unavailable`). Every
//! later connection of that user to the room is checked locally — also after a restart, while
//! the registry still counts the user here ([`counted_users`](super::counted_users): a deploy's
//! reconnect storm makes no registry request). A revoked token is refused
//! with HTTP 401 `revoked` before the socket exists, so it never receives room traffic.

use super::ChatRoom;
use crate::calls::{ClosedCount, PresenceReport};
use crate::common::error::{ChatError, ErrorCode};
use crate::registry::limits::RevocationCheckFail;
use crate::room::session::{Session, REVOCATION_CHECK_MS};
use crate::room::Ban;
use crate::room::Removal;
use crate::shell::common::env::now_ms;
use crate::shell::common::http::{error, json_response};
use crate::shell::common::log;
use crate::shell::room::moderation_store::ModerationStore;
use crate::shell::room::registry_queue::{FirstAnswer, CHECK_ATTEMPTS};
use futures::future::{select, Either};
use serde_json::json;
use worker::{Response, Result};

impl ChatRoom {
    fn store(&self) -> ModerationStore {
        ModerationStore::new(self.sql())
    }

    /// Whether `user` may open a connection here with `session`: within the connection
    /// limits, not banned, token not revoked. `Ok(Err(refusal))` is the HTTP refusal to answer.
    ///
    /// Nothing awaits between the last check and the socket's acceptance
    /// ([`Self::admit_and_accept`]), so a room object — one thread, events one at a time — never
    /// lets two upgrades past a limit at once. The one wait (a first connection's registry
    /// report) lets other upgrades run meanwhile: the checks are made again after it.
    pub(super) async fn admission(
        &self,
        room: &str,
        user: &str,
        session: Session,
    ) -> Result<std::result::Result<(), ChatError>> {
        let (allowed, connected, known) = self.may_connect(room, user, &session)?;
        if let Err(refusal) = allowed {
            return Ok(Err(refusal));
        }
        let first = connected == 0 && !self.counted.contains(&self.sql(), user)?;
        let revoked = if first {
            self.reports.waiting_first(user, true);
            let answer = self.first_report(room, user, connected + 1).await;
            self.reports.waiting_first(user, false);
            if let Some(refusal) = self.first_answer(room, user, answer)? {
                // A revoked token hears that first: it is what the client must act on.
                return Ok(Err(self.revoked(room, user, &session)?.unwrap_or(refusal)));
            }
            if let (Err(refusal), _, _) = self.may_connect(room, user, &session)? {
                self.take_back_first_report(room, user)?;
                return Ok(Err(refusal));
            }
            // Checked again: the answer (or a push meanwhile) may have taught the room one.
            self.revoked(room, user, &session)?
        } else {
            if connected == 0 {
                // The registry counts the user here already and pushes their revocations:
                // nothing to ask, nothing to report (see `counted_users`).
                self.reports.mark_reported(user, 1);
            }
            known
        };
        if let Some(revoked) = revoked {
            if connected == 0 {
                self.take_back_first_report(room, user)?;
            }
            return Ok(Err(revoked));
        }
        Ok(Ok(()))
    }

    /// `401 revoked` when the room knows a revocation of `user` that covers `session`'s token.
    fn revoked(&self, room: &str, user: &str, session: &Session) -> Result<Option<ChatError>> {
        let before = self.run_step(room, |r, _| (Vec::new(), r.revoked_before(user)))?;
        Ok(revoked_error(session, before))
    }

    /// The limits and bans for one more connection of `user`, how many they have here, and
    /// the revocation the room knows that covers `session` — one step, nothing awaited.
    fn may_connect(
        &self,
        room: &str,
        user: &str,
        session: &Session,
    ) -> Result<(std::result::Result<(), ChatError>, u32, Option<ChatError>)> {
        let now = now_ms();
        let (allowed, connected, before) = self.run_step(room, |r, _| {
            let allowed = r.may_connect(user, now);
            let connected = r.index().user_connections(user);
            (Vec::new(), (allowed, connected, r.revoked_before(user)))
        })?;
        Ok((allowed, connected, revoked_error(session, before)))
    }

    /// A refused first connection's report went out before the verdict: take it back, or the
    /// registry would count the user in this room — unless another upgrade of theirs got in
    /// meanwhile, or is still waiting for its own report's answer (it may be accepted).
    fn take_back_first_report(&self, room: &str, user: &str) -> Result<()> {
        let connected =
            self.run_step(room, |r, _| (Vec::new(), r.index().user_connections(user)))?;
        if connected == 0 && !self.reports.is_first_waiting(user) {
            self.reports.forget_reported(user);
            self.report_presence(room, user, 0);
        }
        Ok(())
    }

    /// The report of a user's first connection here, sent before it is accepted and awaited
    /// (bounded: an attempt and one retry, see [`registry_queue`](super::registry_queue)): the
    /// registry's reply says whether the user's tokens were revoked and whether they may have
    /// one more room. It is queued with the room's other reports to that registry shard, so a
    /// connect storm makes a few requests per shard, not one per user.
    async fn first_report(&self, room: &str, user: &str, connections: u32) -> FirstAnswer {
        let report = PresenceReport {
            user: user.to_owned(),
            connections,
            version: self.reports.next_version(),
        };
        let queue = &self.reports.registry;
        let Some(answer) = queue.report(&self.state, &self.env, room, report, true) else {
            return FirstAnswer::Unreached;
        };
        // The queue answers within its attempts; this only guards against a lost answer.
        let ms = REVOCATION_CHECK_MS * (CHECK_ATTEMPTS + 1);
        let timeout = worker::Delay::from(std::time::Duration::from_millis(ms));
        match select(answer, timeout).await {
            Either::Left((Ok(answer), _)) => answer,
            Either::Left((Err(_), _)) | Either::Right(_) => FirstAnswer::Unreached,
        }
    }

    /// What the registry's answer to a first connection's report means for it: the refusal to
    /// answer, if any. A revocation is learnt (the check against it comes after); a user
    /// already in `MAX_ROOMS_PER_USER` rooms is refused `429 too_many_rooms` (the registry did
    /// not store the report: nothing to take back); an unreachable registry lets the
    /// connection in, or with `REVOCATION_CHECK_FAIL=closed` refuses it `503 unavailable`.
    fn first_answer(
        &self,
        room: &str,
        user: &str,
        answer: FirstAnswer,
    ) -> Result<Option<ChatError>> {
        match answer {
            FirstAnswer::Reached {
                revoked_before,
                too_many_rooms,
            } => {
                if let Some(before) = revoked_before {
                    self.learn_revocation(room, user, before)?;
                }
                if too_many_rooms {
                    let message = "you are connected in too many rooms; leave one first";
                    return Ok(Some(ChatError::new(ErrorCode::TooManyRooms, message)));
                }
                self.reports.mark_reported(user, 1);
                self.counted.insert(&self.sql(), user, now_ms())?;
                Ok(None)
            }
            FirstAnswer::Unreached => {
                let fail = crate::shell::common::env::settings(&self.env)
                    .config
                    .revocation_check_fail;
                if fail == RevocationCheckFail::Open {
                    log::warn("revocation_check_let_in", json!({"room": room}));
                    return Ok(None);
                }
                self.take_back_first_report(room, user)?;
                let message = "the revocation check could not be made; try again";
                Ok(Some(ChatError::new(ErrorCode::Unavailable, message)))
            }
        }
    }

    fn learn_revocation(&self, room: &str, user: &str, before: u64) -> Result<()> {
        self.store().save_revocation(user, before)?;
        self.run_step(room, |r, _| {
            r.learn_revocation(user, before);
            (Vec::new(), ())
        })
    }

    /// Runs a moderation step through a turn and answers how many connections it closed.
    fn closing(
        &self,
        room: &str,
        step: impl FnOnce(&mut crate::room::Room<super::turn::Peer>) -> Removal,
    ) -> Result<usize> {
        self.run_step(room, |r, _| {
            let Removal { closed, actions } = step(r);
            (actions, closed)
        })
    }

    pub(super) fn disconnect(
        &self,
        room: &str,
        connection: &str,
        reason: Option<&str>,
    ) -> Result<Response> {
        let closed = self.closing(room, |r| r.disconnect(connection, reason))?;
        if closed == 0 {
            return error(ErrorCode::NotFound, "no such connection");
        }
        closed_reply(closed)
    }

    pub(super) fn disconnect_user(
        &self,
        room: &str,
        user: &str,
        reason: Option<&str>,
    ) -> Result<Response> {
        closed_reply(self.closing(room, |r| r.kick(user, None, reason))?)
    }

    /// Kick, and ban when asked: the ban is stored before anyone is closed.
    pub(super) fn kick(
        &self,
        room: &str,
        user: &str,
        ban: Option<Option<u64>>,
        reason: Option<String>,
    ) -> Result<Response> {
        let now = now_ms();
        let ban = ban.map(|seconds| Ban {
            user_id: user.to_owned(),
            until: seconds.map(|s| now.saturating_add(s.saturating_mul(1000))),
            reason: reason.clone(),
        });
        if let Some(ban) = &ban {
            self.store().save_ban(ban)?;
        }
        closed_reply(self.closing(room, |r| r.kick(user, ban, reason.as_deref()))?)
    }

    pub(super) fn bans(&self, room: &str) -> Result<Response> {
        let now = now_ms();
        let body = self.run_step(room, |r, _| {
            let bans = r.bans(now);
            (Vec::new(), serde_json::json!({ "bans": bans }).to_string())
        })?;
        json_response(200, body)
    }

    pub(super) fn unban(&self, room: &str, user: &str) -> Result<Response> {
        let now = now_ms();
        let removed = self.run_step(room, |r, _| {
            let removed = r.unban(user, now);
            let events = if removed {
                r.unbanned(user)
            } else {
                Vec::new()
            };
            (events, removed)
        })?;
        self.store().delete_ban(user)?;
        json_response(200, serde_json::json!({ "removed": removed }).to_string())
    }

    /// A revocation pushed by the user's registry: stored, then the covered connections closed.
    pub(super) fn revoke(
        &self,
        room: &str,
        user: &str,
        before: u64,
        reason: Option<&str>,
    ) -> Result<Response> {
        self.store().save_revocation(user, before)?;
        closed_reply(self.closing(room, |r| r.revoke(user, before, reason))?)
    }
}

fn closed_reply(closed: usize) -> Result<Response> {
    let body = ClosedCount {
        closed: closed as u64,
    };
    json_response(200, serde_json::to_string(&body)?)
}

/// `401 revoked` when a revocation `before` covers `session`'s token.
fn revoked_error(session: &Session, before: Option<u64>) -> Option<ChatError> {
    let message = "this token was revoked; get a new one";
    session
        .revoked_by(before)
        .then(|| ChatError::new(ErrorCode::Revoked, message))
}
