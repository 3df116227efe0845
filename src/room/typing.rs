//! `typing`: ephemeral. Relayed to the room's other users (never to the typer's own
//! connections), at most once per user per `TYPING_INTERVAL_MS` — extras, `stop` included,
//! are dropped silently — and never logged, acked or given a seq. Receivers treat a user as
//! typing for 5 s after the last frame (no timer on the server).

use super::{Action, Recipients, Room};
use crate::protocol::ServerFrame;
use std::collections::HashMap;

/// When each user's last `typing` was relayed (unix ms), in memory: an evicted room has been
/// idle longer than the interval anyway.
#[derive(Debug, Default)]
pub struct TypingState {
    last: HashMap<String, u64>,
}

impl TypingState {
    pub(super) fn forget(&mut self, user: &str) {
        self.last.remove(user);
    }
}

impl<H> Room<H> {
    pub(super) fn typing(&mut self, user: &str, stop: bool, now_ms: u64) -> Vec<Action> {
        let interval = self.config.typing_interval_ms;
        let last = &mut self.typing.last;
        if last
            .get(user)
            .is_some_and(|&t| now_ms < t.saturating_add(interval))
        {
            return Vec::new();
        }
        if last.len() > 2 * self.index.user_count() + 64 {
            last.retain(|_, t| now_ms < t.saturating_add(interval));
        }
        last.insert(user.to_owned(), now_ms);
        let frame = ServerFrame::Typing {
            user_id: user,
            stop,
        }
        .to_json();
        vec![Action::send(Recipients::OtherUsers(user.to_owned()), frame)]
    }
}

#[cfg(test)]
mod tests {
    use crate::room::log::message_log::MemoryLog;
    use crate::room::test_support::*;
    use crate::room::*;
    use serde_json::json;

    #[test]
    fn typing_reaches_the_other_users_at_most_once_per_interval() {
        let mut r = room();
        open(&mut r, "a1", "alice");
        open(&mut r, "a2", "alice");
        open(&mut r, "b1", "bob");
        let mut log = MemoryLog::default();
        let mut typing = |r: &mut Room<String>, c: &str, text: &str, at: u64| {
            let acts = r.receive(c, Incoming::Text(text), at, &mut log);
            deliveries(r, &acts)
        };
        let d = typing(&mut r, "a1", r#"{"type":"typing"}"#, 10_000);
        assert_eq!(
            d,
            vec![("b1".to_string(), json!({"type":"typing","user_id":"alice"}))]
        );
        // Within 2 s: dropped silently, from any of the user's connections, stop included.
        assert!(typing(&mut r, "a2", r#"{"type":"typing"}"#, 11_000).is_empty());
        assert!(typing(&mut r, "a1", r#"{"type":"typing","stop":true}"#, 11_999).is_empty());
        let d = typing(&mut r, "a1", r#"{"type":"typing","stop":true}"#, 12_000);
        assert_eq!(
            d,
            vec![(
                "b1".to_string(),
                json!({"type":"typing","user_id":"alice","stop":true})
            )]
        );
        // Bob's own interval.
        let d = typing(&mut r, "b1", r#"{"type":"typing"}"#, 12_000);
        assert_eq!(
            d.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["a1", "a2"]
        );
        assert!(log.rows.is_empty() && log.last == 0, "never logged");
    }
}
