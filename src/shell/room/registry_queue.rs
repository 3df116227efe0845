//! Presence reports to the users' registries, batched per registry shard.
//!
//! A report joins its shard's queue; if no request to that shard is in flight, one is started
//! (in the background, `waitUntil`) and takes everything queued so far. What arrives while it
//! is in flight goes in the next one. In a connect storm that turns hundreds of reports into a
//! few requests per shard; when the room is quiet, a report goes out at once. A connect that
//! must know the user's revocation before it accepts awaits its report's answer.

use crate::calls::{PresenceReport, RegistryRequest, ReportReply};
use crate::registry::registry_shard_of;
use crate::shell::calls;
use futures::channel::oneshot;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use worker::{Env, Result, State};

/// Attempts of one batch, with backoff (100 ms, 400 ms) between them.
const ATTEMPTS: u64 = 3;

/// A queued report, and who waits for its answer (the user's revocation, if any).
struct Queued {
    report: PresenceReport,
    reply: Option<oneshot::Sender<Option<u64>>>,
}

#[derive(Default, Clone)]
pub struct RegistryQueue {
    pending: Rc<RefCell<HashMap<u32, Vec<Queued>>>>,
    in_flight: Rc<RefCell<HashSet<u32>>>,
}

impl RegistryQueue {
    /// Queues `report` for its user's shard. With `answer`, the returned receiver gets the
    /// user's revocation (or `None`: none, or the registry could not be reached).
    pub fn report(
        &self,
        state: &State,
        env: &Env,
        room: &str,
        report: PresenceReport,
        answer: bool,
    ) -> Option<oneshot::Receiver<Option<u64>>> {
        let shard = registry_shard_of(&report.user);
        let (tx, rx) = if answer {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let queued = Queued { report, reply: tx };
        self.pending
            .borrow_mut()
            .entry(shard)
            .or_default()
            .push(queued);
        if self.in_flight.borrow_mut().insert(shard) {
            let (queue, env, room) = (self.clone(), env.clone(), room.to_owned());
            state.wait_until(async move { queue.flush(&env, &room, shard).await });
        }
        rx
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
            let reply = send(env, &request).await;
            for (user, waiter) in users.iter().zip(waiters) {
                let revoked = reply
                    .as_ref()
                    .and_then(|r| r.revoked_before.get(user).copied());
                if let Some(w) = waiter {
                    let _ = w.send(revoked);
                }
            }
        }
    }
}

/// One batch, retried briefly; `None` when the shard could not be reached.
async fn send(env: &Env, request: &RegistryRequest) -> Option<ReportReply> {
    for attempt in 0..ATTEMPTS {
        match try_send(env, request).await {
            Ok(reply) => return Some(reply),
            Err(e) if attempt + 1 == ATTEMPTS => {
                worker::console_warn!("registry reports failed: {e}");
            }
            Err(_) => {
                let backoff = std::time::Duration::from_millis(100 << (2 * attempt));
                worker::Delay::from(backoff).await;
            }
        }
    }
    None
}

async fn try_send(env: &Env, request: &RegistryRequest) -> Result<ReportReply> {
    let res = calls::call_registry(env, request).await?;
    calls::reply::<ReportReply>(res).await
}
