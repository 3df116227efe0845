//! Presence reports to the users' registries, batched per registry shard.
//!
//! A report joins its shard's queue; if no request to that shard is in flight, one is started
//! (in the background, `waitUntil`) and takes everything queued so far. What arrives while it
//! is in flight goes in the next one. In a connect storm that turns hundreds of reports into a
//! few requests per shard; when the room is quiet, a report goes out at once. A connect that
//! must know the user's revocation (and whether the user may have one more room) before it
//! accepts awaits its report's answer: while a connect waits, each attempt of its batch is
//! bounded by [`REVOCATION_CHECK_MS`], and the waiting connects are answered after the first
//! attempt and **one retry** — with the registry's answer, or [`FirstAnswer::Unreached`]
//! (`REVOCATION_CHECK_FAIL` decides what that means). The last attempt goes on in the
//! background for the bookkeeping, as long as the shard takes.

use crate::calls::{PresenceReport, RegistryRequest, ReportReply};
use crate::room::session::REVOCATION_CHECK_MS;
use crate::shell::calls;
use crate::shell::common::log;
use futures::channel::oneshot;
use futures::future::{select, Either};
use serde_json::json;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use worker::{Env, Result, State};

/// Attempts of one batch, with backoff (100 ms, 400 ms) between them.
const ATTEMPTS: u64 = 3;
/// Attempts a waiting connect is given: the first and one retry.
pub const CHECK_ATTEMPTS: u64 = 2;

/// What a first connection's report was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstAnswer {
    /// The registry answered: the user's revocation, if any, and whether they are in
    /// `MAX_ROOMS_PER_USER` rooms already (the report was not stored).
    Reached {
        revoked_before: Option<u64>,
        too_many_rooms: bool,
    },
    /// The registry could not be reached (or did not answer in time), retry included.
    Unreached,
}

impl FirstAnswer {
    fn of(reply: Option<&ReportReply>, user: &str) -> Self {
        match reply {
            Some(r) => FirstAnswer::Reached {
                revoked_before: r.revoked_before.get(user).copied(),
                too_many_rooms: r.too_many_rooms.contains(user),
            },
            None => FirstAnswer::Unreached,
        }
    }
}

/// A queued report, and who waits for its answer.
struct Queued {
    report: PresenceReport,
    reply: Option<oneshot::Sender<FirstAnswer>>,
}

#[derive(Default, Clone)]
pub struct RegistryQueue {
    pending: Rc<RefCell<HashMap<u32, Vec<Queued>>>>,
    in_flight: Rc<RefCell<HashSet<u32>>>,
}

impl RegistryQueue {
    /// Queues `report` for its user's shard. With `answer`, the returned receiver gets what the
    /// registry answered about the user ([`FirstAnswer`]).
    pub fn report(
        &self,
        state: &State,
        env: &Env,
        room: &str,
        report: PresenceReport,
        answer: bool,
    ) -> Option<oneshot::Receiver<FirstAnswer>> {
        let shard = crate::shell::common::env::settings(env)
            .config
            .registry_shards
            .shard_of(&report.user);
        let (tx, rx) = if answer {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        if self.enqueue(shard, Queued { report, reply: tx }) {
            let (queue, env, room) = (self.clone(), env.clone(), room.to_owned());
            state.wait_until(async move { queue.flush(&env, &room, shard).await });
        }
        rx
    }

    /// Queues `reports` (nobody waits for their answers) and sends them, the caller awaiting
    /// the sends: for a task already running in the background (the held leaves, `leaves.rs`).
    /// A shard with a request in flight takes them with its next one.
    pub async fn report_all(&self, env: &Env, room: &str, reports: Vec<PresenceReport>) {
        let shards = crate::shell::common::env::settings(env)
            .config
            .registry_shards
            .clone();
        let mut starting = Vec::new();
        for report in reports {
            let shard = shards.shard_of(&report.user);
            if self.enqueue(
                shard,
                Queued {
                    report,
                    reply: None,
                },
            ) {
                starting.push(shard);
            }
        }
        let flushes = starting.into_iter().map(|s| self.flush(env, room, s));
        futures::future::join_all(flushes).await;
    }

    /// Adds `queued` to its shard's queue; `true` when no request to that shard is in flight
    /// (it is marked so now): the caller starts the shard's [`Self::flush`].
    fn enqueue(&self, shard: u32, queued: Queued) -> bool {
        self.pending
            .borrow_mut()
            .entry(shard)
            .or_default()
            .push(queued);
        self.in_flight.borrow_mut().insert(shard)
    }

    /// Sends the shard's queue, batch after batch, until it is empty.
    async fn flush(&self, env: &Env, room: &str, shard: u32) {
        loop {
            let batch = self.pending.borrow_mut().remove(&shard).unwrap_or_default();
            if batch.is_empty() {
                self.in_flight.borrow_mut().remove(&shard);
                return;
            }
            let (reports, waiters): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|q| (q.report, q.reply)).unzip();
            let users: Vec<String> = reports.iter().map(|r| r.user.clone()).collect();
            let request = RegistryRequest::Reports {
                room: room.to_owned(),
                reports,
            };
            let mut waiting: Vec<_> = users.into_iter().zip(waiters).collect();
            let reply = send(env, &request, &mut waiting).await;
            answer(&mut waiting, reply.as_ref());
        }
    }
}

/// Tells each connect still waiting in `waiting` what the registry answered.
fn answer(
    waiting: &mut [(String, Option<oneshot::Sender<FirstAnswer>>)],
    reply: Option<&ReportReply>,
) {
    for (user, waiter) in waiting {
        if let Some(w) = waiter.take() {
            let _ = w.send(FirstAnswer::of(reply, user));
        }
    }
}

/// One batch, retried briefly; `None` when the shard could not be reached. The connects in
/// `waiting` are told after [`CHECK_ATTEMPTS`] failed attempts, not after them all.
async fn send(
    env: &Env,
    request: &RegistryRequest,
    waiting: &mut [(String, Option<oneshot::Sender<FirstAnswer>>)],
) -> Option<ReportReply> {
    for attempt in 0..ATTEMPTS {
        // Only an attempt a connect still waits for is worth abandoning when slow: otherwise
        // wait as long as the shard takes, rather than add a copy to an overloaded shard.
        let bounded = waiting.iter().any(|(_, w)| w.is_some());
        match try_send(env, request, bounded).await {
            Ok(reply) => return Some(reply),
            Err(e) if attempt + 1 == ATTEMPTS => {
                log::warn("registry_reports_failed", json!({"detail": e.to_string()}));
            }
            Err(_) => {
                if attempt + 1 == CHECK_ATTEMPTS {
                    answer(waiting, None);
                }
                let backoff = std::time::Duration::from_millis(100 << (2 * attempt));
                worker::Delay::from(backoff).await;
            }
        }
    }
    None
}

/// One attempt; when `bounded`, by [`REVOCATION_CHECK_MS`]: a shard too slow to answer counts
/// as failed (the request may still be served; reports are versioned, a second copy is
/// harmless).
async fn try_send(env: &Env, request: &RegistryRequest, bounded: bool) -> Result<ReportReply> {
    let attempt = Box::pin(async {
        let res = calls::call_registry(env, request).await?;
        calls::reply::<ReportReply>(res).await
    });
    if !bounded {
        return attempt.await;
    }
    let timeout = worker::Delay::from(std::time::Duration::from_millis(REVOCATION_CHECK_MS));
    match select(attempt, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(worker::Error::RustError(
            "the registry did not answer in time".into(),
        )),
    }
}
