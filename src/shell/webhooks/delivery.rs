//! Delivering an object's outbox: one task at a time, one POST at a time.

use super::store::{Batch, OutboxStore, RetryState};
use super::Run;
use crate::common::metrics::webhooks::{DEAD_LETTERS, DELIVERED, FAILURES};
use crate::shell::common::alarm::AlarmRef;
use crate::shell::common::env::now_ms;
use crate::shell::common::incident;
use crate::shell::common::log;
use crate::shell::common::metrics::WebhookObs;
use crate::webhooks::{
    after_failure, attempts_by_age, schedule_span_ms, signature, NextStep, WebhookConfig,
    MAX_RESPONSE_BYTES, SIGNATURE_HEADER, TIMEOUT_MS,
};
use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::json;
use std::rc::Rc;
use std::time::Duration;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
};

/// A delivery task: what it needs, owned, since it outlives the call that started it.
pub(super) struct Delivery {
    pub config: WebhookConfig,
    pub store: Rc<OutboxStore>,
    pub run: Rc<Run>,
    pub alarm: AlarmRef,
    pub obs: Rc<WebhookObs>,
}

/// Marks the object idle again however the task ends.
struct Idle(Rc<Run>);

impl Drop for Idle {
    fn drop(&mut self) {
        self.0.in_flight.set(false);
    }
}

impl Delivery {
    /// POSTs batch after batch, each after the previous one got a 2xx, until nothing waits —
    /// or until one fails: then the next attempt is scheduled on the alarm, and the task ends.
    pub async fn run(self) {
        let _idle = Idle(self.run.clone());
        let mut state = match self.store.retry_state() {
            Ok(s) => s,
            Err(e) => return report(&e.to_string()),
        };
        if state.retry_at > now_ms() {
            // An earlier instance's failure: its retry is on the alarm already.
            self.run.retry_at.set(state.retry_at);
            return self.alarm.wake_at(state.retry_at).await;
        }
        loop {
            let batch = match self.store.next_batch() {
                Ok(Some(b)) => b,
                Ok(None) => return,
                Err(e) => return report(&e.to_string()),
            };
            let requeues = self.run.requeues.get();
            match post(&self.config, &batch.body).await {
                Ok(()) => {
                    if let Err(e) = self.store.delivered(&batch, state.attempts > 0) {
                        return report(&e.to_string());
                    }
                    self.count(&batch, true);
                    state = RetryState::default();
                }
                Err(why) if self.run.requeues.get() != requeues => {
                    // Dead letters were re-queued in front while this POST was out: they start
                    // on a fresh schedule, at once, and this batch waits behind them on it.
                    log::warn(
                        "webhook_attempt_failed",
                        json!({"during_requeue": true, "detail": why}),
                    );
                    self.count(&batch, false);
                    state = RetryState::default();
                }
                Err(why) => {
                    self.count(&batch, false);
                    match self.failed(&batch, state.attempts + 1, &why) {
                        Ok(Failed::RetryAt(at)) => return self.alarm.wake_at(at).await,
                        Ok(Failed::Buried(next)) => state = next,
                        Err(e) => return report(&e.to_string()),
                    }
                }
            }
        }
    }

    /// Counts an attempt for the metrics, and writes the outbox's point if one is due: the
    /// backlog is read only then (followed in memory; counted once per instance if unknown).
    fn count(&self, batch: &Batch, delivered: bool) {
        match delivered {
            true => self.obs.tally.add(DELIVERED, batch.size.events),
            false => self.obs.tally.add(FAILURES, 1),
        }
        self.obs.flush(|| {
            let now = now_ms();
            let waiting = self
                .store
                .backlog
                .get()
                .map(Ok)
                .unwrap_or_else(|| self.store.count());
            let oldest = self.store.oldest_at().ok().flatten();
            let age = oldest.map_or(0, |at| now.saturating_sub(at));
            (waiting.map_or(0, |b| b.events), age)
        });
    }

    /// Attempt number `attempts` of `batch` failed: schedules the next or, after the last,
    /// makes the batch a dead letter.
    fn failed(&self, batch: &Batch, attempts: u32, why: &str) -> worker::Result<Failed> {
        let now = now_ms();
        let c = &self.config;
        match after_failure(attempts, c.max_attempts, now, c.retry_scale) {
            NextStep::Retry { attempts, at } => {
                log::warn(
                    "webhook_attempt_failed",
                    json!({"attempts": attempts, "next_at": at, "detail": why}),
                );
                self.store.set_retry_state(RetryState {
                    attempts,
                    retry_at: at,
                })?;
                self.run.retry_at.set(at);
                Ok(Failed::RetryAt(at))
            }
            NextStep::DeadLetter { attempts } => {
                incident::report(
                    "webhook dead letter",
                    &format!("{attempts} attempts: {why}"),
                );
                self.store.bury(batch, attempts, why, now)?;
                self.obs.tally.add(DEAD_LETTERS, batch.size.events);
                self.bury_behind(why, now).map(Failed::Buried)
            }
        }
    }

    /// A batch died: what waited behind it through the whole schedule dies too, and the next
    /// batch takes up the schedule where an event of its age would be
    /// ([`crate::webhooks::schedule`]'s docs). Returns the next batch's state.
    fn bury_behind(&self, why: &str, now: u64) -> worker::Result<RetryState> {
        let c = &self.config;
        let cutoff = now.saturating_sub(schedule_span_ms(c.max_attempts, c.retry_scale));
        let error = format!("waited the whole schedule behind a dead batch ({why})");
        let older = self.store.bury_older(cutoff, &error, now)?;
        self.obs.tally.add(DEAD_LETTERS, older);
        if older > 0 {
            incident::report(
                "webhook dead letter",
                &format!("{older} more events: {error}"),
            );
        }
        let attempts = match self.store.oldest_at()? {
            Some(at) => attempts_by_age(now.saturating_sub(at), c.max_attempts, c.retry_scale),
            None => 0,
        };
        let next = RetryState {
            attempts,
            retry_at: 0,
        };
        self.store.set_retry_state(next)?;
        Ok(next)
    }
}

/// How a failed attempt ends.
enum Failed {
    /// The batch is tried again then (unix ms).
    RetryAt(u64),
    /// The batch is a dead letter; the next one goes at once, from this state.
    Buried(RetryState),
}

fn report(detail: &str) {
    incident::report("webhook delivery", detail);
}

/// One signed POST of `body`; `Err` says why it did not get a 2xx within [`TIMEOUT_MS`].
async fn post(config: &WebhookConfig, body: &str) -> Result<(), String> {
    let url = config.url.as_deref().ok_or("webhooks are off")?;
    let request = signed_request(config, url, body).map_err(|e| e.to_string())?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = Box::pin(async move {
        let fetch = Fetch::Request(request);
        let mut res = fetch.send_with_signal(&signal).await?;
        drain(&mut res).await;
        Ok::<u16, worker::Error>(res.status_code())
    });
    let timeout = Delay::from(Duration::from_millis(TIMEOUT_MS));
    let outcome = select(exchange, timeout).await;
    // Whatever the receiver still sends (a body past the read budget, or all of it after a
    // timeout) is not waited for: aborting releases the connection and the stream.
    controller.abort();
    match outcome {
        Either::Left((Ok(status), _)) if (200..300).contains(&status) => Ok(()),
        Either::Left((Ok(status), _)) => Err(format!("HTTP {status}")),
        Either::Left((Err(e), _)) => Err(format!("network error: {e}")),
        Either::Right(_) => Err(format!("no answer within {} s", TIMEOUT_MS / 1000)),
    }
}

/// Reads and drops at most [`MAX_RESPONSE_BYTES`] of the answer's body. Nothing in it is
/// used (the status decides), but a short answer read to its end lets the runtime reuse the
/// connection; a longer one is cut off (the caller aborts the exchange), so a receiver cannot
/// make an object hold or wait for megabytes.
async fn drain(res: &mut Response) {
    let Ok(mut stream) = res.stream() else {
        return; // no body, or one already in memory
    };
    let mut read = 0;
    while read < MAX_RESPONSE_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => return,
        }
    }
}

fn signed_request(config: &WebhookConfig, url: &str, body: &str) -> worker::Result<Request> {
    let t = now_ms() / 1000;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("user-agent", "edge-chat-webhooks")?;
    headers.set(
        SIGNATURE_HEADER,
        &signature(config.secret.as_bytes(), t, body),
    )?;
    let mut init = RequestInit::new();
    // A 3xx is an answer, and a failure: following it would re-POST the signed body to
    // wherever the receiver (or whoever controls its answers) points.
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}
