//! Age-based retention on the object's alarm: trims expired messages, then sleeps until the
//! next one expires. An alarm does not keep the object awake; it wakes it at that time.

use super::ChatRoom;
use crate::shell::env::now_ms;
use crate::shell::message_log::RoomLog;
use worker::{Response, Result};

impl ChatRoom {
    pub(super) async fn on_alarm(&self) -> Result<Response> {
        let now = now_ms();
        let next = match self.room.borrow_mut().as_mut() {
            Some(loaded) => loaded.log.trim_expired(now)?,
            // Woken by the alarm alone: trim through a log of its own rather than loading the
            // room, whose name only a socket or a request can tell.
            None => RoomLog::open(self.state.storage().sql(), &self.config)?.trim_expired(now)?,
        };
        if let Some(at) = next {
            let offset = at.saturating_sub(now_ms()).max(1_000) as i64;
            self.state.storage().set_alarm(offset).await?;
        }
        Response::ok("trimmed")
    }

    /// Makes sure an age-retention alarm is scheduled, once per instance (fire-and-forget).
    pub(super) fn ensure_retention_alarm(&self) {
        if self.alarm_checked.replace(true) || self.config.retention.max_age_ms == 0 {
            return;
        }
        let storage = self.state.storage();
        let offset = self.config.retention.max_age_ms as i64;
        self.state.wait_until(async move {
            if let Ok(None) = storage.get_alarm().await {
                let _ = storage.set_alarm(offset).await;
            }
        });
    }
}
