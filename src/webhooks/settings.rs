//! The webhook settings: `WEBHOOK_URL` (absent: off), `WEBHOOK_SECRET`, `WEBHOOK_EVENTS`,
//! `WEBHOOK_MAX_ATTEMPTS`, the bounds (`WEBHOOK_MAX_BACKLOG_EVENTS`, `WEBHOOK_MAX_BACKLOG_BYTES`,
//! `WEBHOOK_DEAD_LETTER_DAYS`, and `HISTORY_MAX_AGE_DAYS`, which outboxes follow too), and the
//! test-only `WEBHOOK_RETRY_SCALE`.
//!
//! A set URL that is not `https` (outside `DEV_MODE=1`), or a missing secret, does not turn
//! webhooks off: events are still recorded, but nothing is sent until the setting is fixed
//! ([`Refusal`]) — an operator's slip loses no event, and no unsigned or clear-text POST goes.

use super::event::{EventType, Kinds};
use crate::common::config::Secret;

/// Attempts per batch before it becomes a dead letter, by default (about a day, see
/// [`super::retry_delay_ms`]).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;
/// `WEBHOOK_MAX_BACKLOG_EVENTS` by default: events waiting per object.
pub const DEFAULT_MAX_BACKLOG_EVENTS: u64 = 100_000;
/// `WEBHOOK_MAX_BACKLOG_BYTES` by default: bytes of events waiting per object.
pub const DEFAULT_MAX_BACKLOG_BYTES: u64 = 64 << 20;
/// `WEBHOOK_DEAD_LETTER_DAYS` by default.
const DEFAULT_DEAD_LETTER_MS: u64 = 7 * DAY_MS;
/// The history age (`HISTORY_MAX_AGE_DAYS`) when it is not set.
const DEFAULT_HISTORY_MS: u64 = 30 * DAY_MS;
const DAY_MS: u64 = 86_400_000;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Where events are POSTed; `None`: webhooks are off — no event is recorded, no table
    /// created, nothing sent.
    pub url: Option<String>,
    /// The HMAC key of the signature (an unset secret signs with an empty key).
    pub secret: Secret,
    /// The kinds of event recorded.
    pub kinds: Kinds,
    pub max_attempts: u32,
    /// Multiplies every retry wait (1 in production; only `DEV_MODE=1` may change it).
    pub retry_scale: f64,
    /// Why events are recorded but not delivered (`None`: delivery may run).
    pub refusal: Option<Refusal>,
    /// Past either, the oldest waiting events become dead letters ([`super::Backlog`]).
    pub max_backlog_events: u64,
    pub max_backlog_bytes: u64,
    /// Dead letters go after this long (0: kept until re-queued).
    pub dead_letter_ms: u64,
    /// `HISTORY_MAX_AGE_DAYS` (0: unlimited), which the outbox and dead letters follow too:
    /// message data does not outlive the history it came from.
    pub history_max_age_ms: u64,
}

/// Why an object with webhooks on records events but sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `WEBHOOK_SECRET` is missing or empty: a signature keyed with nothing proves nothing.
    NoSecret,
    /// `WEBHOOK_URL` is `http://` outside `DEV_MODE=1`: the signed body would cross in clear.
    NotHttps,
}

impl Refusal {
    /// The error line an operator reads.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NoSecret => {
                "WEBHOOK_URL is set but WEBHOOK_SECRET is empty: webhook events are recorded, none is sent"
            }
            Refusal::NotHttps => {
                "WEBHOOK_URL must be https (http only with DEV_MODE=1): webhook events are recorded, none is sent"
            }
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            secret: Secret::default(),
            kinds: Kinds::DEFAULT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_scale: 1.0,
            refusal: None,
            max_backlog_events: DEFAULT_MAX_BACKLOG_EVENTS,
            max_backlog_bytes: DEFAULT_MAX_BACKLOG_BYTES,
            dead_letter_ms: DEFAULT_DEAD_LETTER_MS,
            history_max_age_ms: DEFAULT_HISTORY_MS,
        }
    }
}

/// An absolute `http(s)` URL with a host, and nothing a header or log line could choke on.
fn is_webhook_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    host.is_some_and(|h| !h.is_empty()) && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl WebhookConfig {
    /// Reads the settings; a value that does not parse falls back to its default (an invalid
    /// URL: off).
    /// `history_max_age_ms` is the room log's retention age (`Config::retention`, read once
    /// there), which outboxes follow too.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        history_max_age_ms: u64,
    ) -> WebhookConfig {
        let d = WebhookConfig::default();
        let trimmed = |name| get(name).map(|v| v.trim().to_owned());
        // A number in range (fractions allowed: tests use seconds' worth of days).
        let within = |name, lo: f64, hi: f64| {
            trimmed(name)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| (lo..=hi).contains(v))
        };
        let days =
            |name, default| within(name, 0.0, 1e6).map_or(default, |d| (d * DAY_MS as f64) as u64);
        let dev = trimmed("DEV_MODE").as_deref() == Some("1");
        let url = trimmed("WEBHOOK_URL").filter(|u| is_webhook_url(u));
        let secret = get("WEBHOOK_SECRET").unwrap_or_default();
        let refusal = match &url {
            None => None,
            Some(_) if secret.is_empty() => Some(Refusal::NoSecret),
            Some(u) if !dev && !u.starts_with("https://") => Some(Refusal::NotHttps),
            Some(_) => None,
        };
        WebhookConfig {
            url,
            secret: Secret::new(secret),
            refusal,
            kinds: trimmed("WEBHOOK_EVENTS")
                .and_then(|v| Kinds::parse(&v))
                .unwrap_or(d.kinds),
            max_attempts: trimmed("WEBHOOK_MAX_ATTEMPTS")
                .and_then(|v| v.parse().ok())
                .filter(|n| (1..=100).contains(n))
                .unwrap_or(d.max_attempts),
            retry_scale: trimmed("WEBHOOK_RETRY_SCALE")
                .filter(|_| dev)
                .and_then(|v| v.parse().ok())
                .filter(|s: &f64| (0.0..=1.0).contains(s))
                .unwrap_or(d.retry_scale),
            max_backlog_events: within("WEBHOOK_MAX_BACKLOG_EVENTS", 1.0, 1e9)
                .map_or(d.max_backlog_events, |v| v as u64),
            max_backlog_bytes: within("WEBHOOK_MAX_BACKLOG_BYTES", 1.0, 1e12)
                .map_or(d.max_backlog_bytes, |v| v as u64),
            dead_letter_ms: days("WEBHOOK_DEAD_LETTER_DAYS", d.dead_letter_ms),
            history_max_age_ms,
        }
    }

    /// How recently a user must have been connected for a `direct_undelivered` about them:
    /// the history age, or its default when history is unlimited.
    pub fn seen_window_ms(&self) -> u64 {
        match self.history_max_age_ms {
            0 => DEFAULT_HISTORY_MS,
            age => age,
        }
    }

    /// Whether events are recorded (they may still not be sent: [`Self::refusal`]).
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }

    /// Whether recorded events are sent.
    pub fn delivers(&self) -> bool {
        self.enabled() && self.refusal.is_none()
    }

    /// Whether events of `event_type` are recorded.
    pub fn wants(&self, event_type: EventType) -> bool {
        self.enabled() && self.kinds.contains(event_type.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::EventKind;

    /// The webhook settings as the whole configuration reads them (the history age comes
    /// from its retention).
    fn from(pairs: &[(&str, &str)]) -> WebhookConfig {
        crate::common::config::Config::from_lookup(|k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
        .webhooks
    }

    #[test]
    fn off_unless_a_valid_url_is_set() {
        assert_eq!(from(&[]), WebhookConfig::default());
        assert!(!from(&[]).wants(EventType::Message));
        for bad in ["", "ftp://x", "https://", "http:// x", "example.com/hook"] {
            assert!(!from(&[("WEBHOOK_URL", bad)]).enabled(), "{bad:?}");
        }
        let on = from(&[
            ("WEBHOOK_URL", " https://api.example.com/hooks?k=1 "),
            ("WEBHOOK_SECRET", "s"),
        ]);
        assert_eq!(on.url.as_deref(), Some("https://api.example.com/hooks?k=1"));
        assert!(on.delivers());
        assert!(on.wants(EventType::Message) && on.wants(EventType::RoomVacated));
        assert!(!on.wants(EventType::Presence) && !on.wants(EventType::Moderation));
    }

    #[test]
    fn http_or_no_secret_records_but_does_not_deliver() {
        let http = [
            ("WEBHOOK_URL", "http://api.example.com/h"),
            ("WEBHOOK_SECRET", "s"),
        ];
        let c = from(&http);
        assert!(c.enabled() && !c.delivers());
        assert_eq!(c.refusal, Some(Refusal::NotHttps));
        let dev = from(&[http[0], http[1], ("DEV_MODE", "1")]);
        assert!(dev.delivers(), "http is for DEV_MODE only");
        for secret in [None, Some("")] {
            let mut pairs = vec![
                ("WEBHOOK_URL", "https://api.example.com/h"),
                ("DEV_MODE", "1"),
            ];
            pairs.extend(secret.map(|s| ("WEBHOOK_SECRET", s)));
            let c = from(&pairs);
            assert!(c.wants(EventType::Message), "events are still recorded");
            assert_eq!(c.refusal, Some(Refusal::NoSecret));
            assert!(!c.delivers());
        }
        assert!(!from(&[("WEBHOOK_SECRET", "s")]).delivers(), "no URL: off");
    }

    #[test]
    fn events_attempts_and_the_dev_only_scale_are_read() {
        let c = from(&[
            ("WEBHOOK_URL", "http://127.0.0.1:9/x"),
            ("WEBHOOK_SECRET", "s"),
            ("WEBHOOK_EVENTS", "presence,moderation"),
            ("WEBHOOK_MAX_ATTEMPTS", "3"),
            ("WEBHOOK_RETRY_SCALE", "0.01"),
        ]);
        assert_eq!(
            c.kinds,
            Kinds::of(&[EventKind::Presence, EventKind::Moderation])
        );
        assert_eq!(
            (c.max_attempts, c.retry_scale),
            (3, 1.0),
            "no scale without DEV_MODE"
        );
        assert_eq!(c.secret, Secret::new("s"));
        let dev = from(&[("DEV_MODE", "1"), ("WEBHOOK_RETRY_SCALE", "0.01")]);
        assert_eq!(dev.retry_scale, 0.01);
        let bounds = from(&[
            ("WEBHOOK_MAX_BACKLOG_EVENTS", "50"),
            ("WEBHOOK_MAX_BACKLOG_BYTES", "4096"),
            ("WEBHOOK_DEAD_LETTER_DAYS", "0.00001"),
            ("HISTORY_MAX_AGE_DAYS", "0"),
        ]);
        assert_eq!(
            (bounds.max_backlog_events, bounds.max_backlog_bytes),
            (50, 4096)
        );
        assert_eq!((bounds.dead_letter_ms, bounds.history_max_age_ms), (864, 0));
        assert_eq!(
            bounds.seen_window_ms(),
            30 * DAY_MS,
            "unlimited history: 30 days"
        );
        assert_eq!(
            from(&[("HISTORY_MAX_AGE_DAYS", "0.5")]).seen_window_ms(),
            DAY_MS / 2
        );
        let junk = from(&[
            ("WEBHOOK_MAX_BACKLOG_EVENTS", "0"),
            ("WEBHOOK_MAX_BACKLOG_BYTES", "lots"),
            ("WEBHOOK_DEAD_LETTER_DAYS", "-1"),
            ("WEBHOOK_EVENTS", "message,nope"),
            ("WEBHOOK_MAX_ATTEMPTS", "0"),
            ("DEV_MODE", "1"),
            ("WEBHOOK_RETRY_SCALE", "2"),
        ]);
        assert_eq!(junk, WebhookConfig::default());
    }
}
