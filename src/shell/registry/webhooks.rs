//! A registry shard's webhook events: `direct_undelivered`, when a `direct` or a per-user post
//! reaches a user with no connection anywhere (what a backend needs to send a push
//! notification). The shard has its own outbox and delivery ([`crate::shell::webhooks`]) and
//! its own alarm, used for nothing else: retries and the outbox's watchdog.

use super::UserRegistry;
use crate::calls::RegistryRequest;
use crate::common::alarm::Wakes;
use crate::shell::common::alarm::{at, AlarmRef};
use crate::shell::common::env::now_ms;
use crate::shell::common::http::json_response;
use crate::shell::common::incident;
use crate::webhooks::{direct_sender_room, DirectSender, Event, EventType};
use worker::{Response, Result};

impl UserRegistry {
    /// A fan-out of `frame` to `user` delivered nothing. If the user has no connection at all
    /// (the shard has just asked each of their rooms), was seen connected within the seen
    /// window, and the sender had no such event this second ([`crate::webhooks::SenderGate`]),
    /// the event is recorded and delivery starts. A user whose connections were only outside
    /// the sender's `rooms` claim is online: no event.
    pub(super) fn undelivered(&self, user: &str, frame: &str) -> Result<()> {
        if !self.webhooks.config().wants(EventType::DirectUndelivered) {
            return Ok(());
        }
        if self.with_user(user, |s| s.rooms.total() > 0)? {
            return Ok(());
        }
        let now = now_ms();
        if !self.seen.recently(user, now)? {
            return Ok(()); // nobody connected as this id lately: no one to notify
        }
        if !self
            .senders
            .borrow_mut()
            .admit(&DirectSender::of(frame), now)
        {
            return Ok(());
        }
        let event = Event::direct_undelivered(user, frame);
        self.webhooks
            .record(direct_sender_room(frame).as_deref(), &event);
        match self.webhooks.flush() {
            Ok(_) => self.kick_webhooks(now),
            Err(e) => _ = incident::report("webhook outbox", &e.to_string()),
        }
        Ok(())
    }

    /// The shard's dead letters: listed, or re-queued and sent at once.
    pub(super) fn dead_letters(&self, request: RegistryRequest) -> Result<Response> {
        match request {
            RegistryRequest::WebhooksDead { limit, .. } => {
                json_response(200, self.webhooks.dead_json(limit)?)
            }
            _ => {
                let body = self.webhooks.requeue_dead()?;
                if self.webhooks.config().enabled() {
                    self.kick_webhooks(now_ms());
                }
                json_response(200, body)
            }
        }
    }

    fn alarm_ref(&self) -> AlarmRef {
        AlarmRef::new(&self.state, &self.scheduled)
    }

    /// Makes sure the alarm would resume delivery, and starts it.
    fn kick_webhooks(&self, now: u64) {
        let watchdog = self.webhooks.watchdog_at(now);
        self.state.wait_until(self.alarm_ref().wake_at(watchdog));
        self.webhooks.kick(&self.state, || self.alarm_ref());
    }

    /// The shard's alarm: a webhook retry is due, or the watchdog of waiting events.
    pub(super) async fn on_alarm(&self) -> Result<Response> {
        let now = now_ms();
        self.scheduled.set(None);
        let webhooks = self.webhooks.next_wake(now)?;
        if let Some(next) = (Wakes {
            webhooks,
            ..Wakes::default()
        })
        .next(now)
        {
            self.scheduled.set(Some(next));
            self.state.storage().set_alarm(at(next)).await?;
            self.webhooks.kick(&self.state, || self.alarm_ref());
        }
        Response::ok("alarm")
    }
}
