//! When a `direct_undelivered` event is recorded: a `direct` that reached none of its
//! recipient's connections is worth a push notification only for a user who exists — one the
//! registry shard has seen connected within the seen window
//! ([`super::WebhookConfig::seen_window_ms`]) — and a client cannot make the outbox grow
//! faster than one event per sender per second ([`SenderGate`]) with directs to offline
//! users. The server API's own directs are the backend's doing and are not gated.

use std::collections::HashMap;

/// At most one event per sender per this long.
pub const SENDER_INTERVAL_MS: u64 = 1_000;
/// Senders remembered before the ones outside their interval are forgotten.
const REMEMBERED: usize = 1_024;

/// Who sent a `direct` frame, as the gate counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectSender {
    /// A user (the frame's `from.user_id`).
    User(String),
    /// The server API (`from.server`), or a frame without a sender.
    Server,
}

impl DirectSender {
    /// The sender of `frame` (a `direct` frame as the recipient would get it).
    pub fn of(frame: &str) -> DirectSender {
        #[derive(serde::Deserialize)]
        struct From {
            user_id: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Direct {
            from: From,
        }
        match serde_json::from_str::<Direct>(frame) {
            Ok(Direct {
                from: From { user_id: Some(u) },
            }) => DirectSender::User(u),
            _ => DirectSender::Server,
        }
    }
}

/// One registry shard's memory of when each sender last got an event recorded. In memory: a
/// new instance forgets, which lets at most one more event per sender through.
#[derive(Debug, Default)]
pub struct SenderGate {
    last: HashMap<String, u64>,
}

impl SenderGate {
    /// Whether an event from `sender` may be recorded at `now_ms` (and notes it if so).
    pub fn admit(&mut self, sender: &DirectSender, now_ms: u64) -> bool {
        let DirectSender::User(user) = sender else {
            return true;
        };
        let recent = |at: u64| now_ms.saturating_sub(at) < SENDER_INTERVAL_MS;
        if self.last.get(user).is_some_and(|&at| recent(at)) {
            return false;
        }
        if self.last.len() >= REMEMBERED {
            self.last.retain(|_, at| recent(*at));
        }
        self.last.insert(user.clone(), now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_is_read_from_the_frame() {
        let user =
            r#"{"type":"direct","from":{"user_id":"al\"ice","connection_id":"r.1"},"data":1}"#;
        assert_eq!(DirectSender::of(user), DirectSender::User("al\"ice".into()));
        let server = r#"{"type":"direct","from":{"server":true},"data":1}"#;
        assert_eq!(DirectSender::of(server), DirectSender::Server);
        assert_eq!(DirectSender::of("junk"), DirectSender::Server);
    }

    #[test]
    fn one_event_per_user_sender_per_second_and_the_server_is_not_gated() {
        let mut gate = SenderGate::default();
        let alice = DirectSender::User("alice".into());
        assert!(gate.admit(&alice, 10_000));
        assert!(!gate.admit(&alice, 10_999));
        assert!(gate.admit(&DirectSender::User("bob".into()), 10_999));
        assert!(gate.admit(&alice, 11_000));
        assert!((0..5).all(|_| gate.admit(&DirectSender::Server, 11_000)));
    }

    #[test]
    fn the_memory_stays_bounded() {
        let mut gate = SenderGate::default();
        for n in 0..(3 * REMEMBERED as u64) {
            assert!(gate.admit(&DirectSender::User(format!("u{n}")), n * 10));
        }
        assert!(gate.last.len() <= REMEMBERED);
    }
}
