//! Runtime settings read from wrangler vars/secrets, with defaults and sane bounds.
//!
//! A value that does not parse or is out of range falls back to its default instead of
//! failing requests: a typo in `wrangler.toml` must not take a room down.

use crate::auth::config::{parse_secrets, AuthConfig};
use crate::registry::limits::{RegistryLimits, RevocationCheckFail};
use crate::registry::shards::ShardHash;
use crate::room::log::history_page::DEFAULT_PAGE_MAX_BYTES;
use crate::room::log::message_log::{HistoryStorage, Retention};
use crate::room::rate_limit::RateLimit;
use crate::webhooks::WebhookConfig;

/// Largest text frame a client may send, in bytes (`MAX_MESSAGE_BYTES`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 65_536;
/// workerd refuses WebSocket messages over 1 MiB, so a larger limit could never apply.
pub const MAX_MAX_MESSAGE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub max_message_bytes: usize,
    pub rate_limit: RateLimit,
    pub retention: Retention,
    pub history_storage: HistoryStorage,
    /// `TOKEN_REFRESH_NOTICE_SECONDS`: `token_expiring` comes this long before `exp`.
    pub token_notice_secs: u64,
    /// `AUTH_*` and `MAX_TOKEN_LIFETIME_SECONDS`: how user tokens are verified.
    pub auth: AuthConfig,
    /// `DIRECT_RATE_PER_SECOND` / `DIRECT_RATE_BURST`: directs per user per room.
    pub direct_rate: RateLimit,
    /// `MAX_CONNECTIONS_PER_USER`: one user's connections in one room.
    pub max_connections_per_user: usize,
    /// `MAX_ROOM_CONNECTIONS`: connections in one room (its own object's and its fan-out
    /// objects' together).
    pub max_room_connections: usize,
    /// `ROOM_FANOUT_CONNECTIONS`: the most sockets one object of a room holds — the room's own
    /// and each of its fan-out objects ([`crate::fanout`]).
    pub fanout_connections: usize,
    /// `ROOM_FANOUT_DEGREE`: the most fan-out objects the room, and each fan-out object, sends
    /// to directly; past it, fan-out objects relay to others ([`crate::fanout::tree`]).
    pub fanout_degree: u32,
    /// `REPLAY_MAX_MESSAGES` / `REPLAY_MAX_BYTES`: what one resume replays at most.
    pub replay: ReplayLimit,
    /// `HISTORY_PAGE_MAX_BYTES`: the most message bytes one history page carries (a page
    /// always holds at least one message).
    pub history_page_max_bytes: usize,
    /// `WELCOME_MAX_MEMBERS`: members listed in `welcome` (the rest are paged over HTTP): a
    /// join storm into a big room must not make every welcome list everyone.
    pub welcome_max_members: usize,
    /// `ROOM_PRESENCE_MAX`: while a room has more members (users) than this, `join`/`leave`
    /// frames give way to a `member_count` frame at most once a second
    /// ([`crate::room::member_count`]).
    pub presence_max: usize,
    /// `TYPING_INTERVAL_MS`: at most one `typing` frame relayed per user per room this often.
    pub typing_interval_ms: u64,
    /// `RESTART_PRESENCE_HOLD_SECONDS` (in ms here): how long a room that restarted holds the
    /// members it had ([`crate::room::holds`]); 0: not at all.
    pub restart_hold_ms: u64,
    /// `WEBHOOK_*`: events pushed to the application's backend (off unless `WEBHOOK_URL`).
    pub webhooks: WebhookConfig,
    /// `MAX_ROOMS_PER_USER`, `CROSS_ROOM_*`, `READ_CURSORS_MAX_PER_USER`: what one user may
    /// make the registry do across rooms (see [`crate::registry::limits`]).
    pub registry: RegistryLimits,
    /// `REGISTRY_SHARD_KEY` (a secret): keyed shard choice, so that nobody can aim names at
    /// one registry shard (see [`crate::registry::shards`]).
    pub registry_shards: ShardHash,
    /// `REVOCATION_CHECK_FAIL`: `open` (default) or `closed`, when a first connect's
    /// revocation check cannot be made.
    pub revocation_check_fail: RevocationCheckFail,
}

/// The most one resume (`?since=`) replays; older messages are announced as a `gap` with
/// reason `replay_limit`, for the client to read over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimit {
    pub max_messages: u64,
    pub max_bytes: u64,
}

impl Default for ReplayLimit {
    fn default() -> Self {
        ReplayLimit {
            max_messages: 1_000,
            max_bytes: 8 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            rate_limit: RateLimit::default(),
            retention: Retention::default(),
            history_storage: HistoryStorage::Durable,
            token_notice_secs: 60,
            auth: AuthConfig::default(),
            direct_rate: RateLimit {
                per_second: 5.0,
                burst: 20.0,
            },
            max_connections_per_user: 10,
            max_room_connections: 50_000,
            fanout_connections: 5_000,
            fanout_degree: 8,
            replay: ReplayLimit::default(),
            history_page_max_bytes: DEFAULT_PAGE_MAX_BYTES,
            welcome_max_members: 100,
            presence_max: 1_000,
            typing_interval_ms: 2_000,
            restart_hold_ms: 15_000,
            webhooks: WebhookConfig::default(),
            registry: RegistryLimits::default(),
            registry_shards: ShardHash::Public,
            revocation_check_fail: RevocationCheckFail::Open,
        }
    }
}

/// A secret value: compared and used, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Config {
    /// Builds the configuration from a variable lookup (the Worker `Env` in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let d = Config::default();
        let vars = Vars(&get);
        let retention = Retention {
            // 0 = unlimited.
            max_messages: vars
                .within("HISTORY_MAX_MESSAGES", 0.0, 1e12)
                .map_or(d.retention.max_messages, |v| v as u64),
            // Fractions of a day are allowed (tests use seconds' worth); 0 = unlimited.
            max_age_ms: vars
                .within("HISTORY_MAX_AGE_DAYS", 0.0, 1e6)
                .map_or(d.retention.max_age_ms, |v| (v * 86_400_000.0) as u64),
        };
        let (max_room_connections, fanout_connections, fanout_degree) = room_size(&vars, &d);
        Config {
            max_message_bytes: vars
                .within("MAX_MESSAGE_BYTES", 1.0, MAX_MAX_MESSAGE_BYTES as f64)
                .map_or(d.max_message_bytes, |v| v as usize),
            rate_limit: vars.rate("RATE_LIMIT_PER_SECOND", "RATE_LIMIT_BURST", d.rate_limit),
            retention,
            history_storage: match get("HISTORY_STORAGE").as_deref().map(str::trim) {
                Some("none") => HistoryStorage::None,
                _ => HistoryStorage::Durable,
            },
            token_notice_secs: vars
                .within("TOKEN_REFRESH_NOTICE_SECONDS", 0.0, 1e9)
                .map_or(d.token_notice_secs, |v| v as u64),
            auth: auth_config(&get, &vars, &d.auth),
            direct_rate: vars.rate("DIRECT_RATE_PER_SECOND", "DIRECT_RATE_BURST", d.direct_rate),
            max_connections_per_user: vars
                .within("MAX_CONNECTIONS_PER_USER", 1.0, 1e9)
                .map_or(d.max_connections_per_user, |v| v as usize),
            max_room_connections,
            fanout_connections,
            fanout_degree,
            history_page_max_bytes: vars
                .within("HISTORY_PAGE_MAX_BYTES", 1.0, 1e9)
                .map_or(d.history_page_max_bytes, |v| v as usize),
            welcome_max_members: vars
                .within("WELCOME_MAX_MEMBERS", 0.0, 1e9)
                .map_or(d.welcome_max_members, |v| v as usize),
            presence_max: vars
                .within("ROOM_PRESENCE_MAX", 0.0, 1e9)
                .map_or(d.presence_max, |v| v as usize),
            replay: replay_limit(&vars, &d.replay),
            typing_interval_ms: vars
                .within("TYPING_INTERVAL_MS", 0.0, 3_600_000.0)
                .map_or(d.typing_interval_ms, |v| v as u64),
            restart_hold_ms: vars
                .within("RESTART_PRESENCE_HOLD_SECONDS", 0.0, 300.0)
                .map_or(d.restart_hold_ms, |v| (v * 1_000.0) as u64),
            webhooks: WebhookConfig::from_lookup(&get, retention.max_age_ms),
            registry: registry_limits(&vars, &d.registry),
            registry_shards: ShardHash::from_key(get("REGISTRY_SHARD_KEY")),
            revocation_check_fail: RevocationCheckFail::parse(
                get("REVOCATION_CHECK_FAIL").as_deref(),
            ),
        }
    }
}

/// `REPLAY_MAX_*`: what one resume replays at most.
fn replay_limit<F: Fn(&str) -> Option<String>>(vars: &Vars<'_, F>, d: &ReplayLimit) -> ReplayLimit {
    ReplayLimit {
        max_messages: vars
            .within("REPLAY_MAX_MESSAGES", 1.0, 1e9)
            .map_or(d.max_messages, |v| v as u64),
        max_bytes: vars
            .within("REPLAY_MAX_BYTES", 1.0, 1e12)
            .map_or(d.max_bytes, |v| v as u64),
    }
}

/// The registry's limits on one user ([`crate::registry::limits`]).
fn registry_limits<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    d: &RegistryLimits,
) -> RegistryLimits {
    RegistryLimits {
        max_rooms_per_user: vars
            .within("MAX_ROOMS_PER_USER", 1.0, 1e6)
            .map_or(d.max_rooms_per_user, |v| v as u32),
        cross_room: vars.rate(
            "CROSS_ROOM_RATE_PER_SECOND",
            "CROSS_ROOM_BURST",
            d.cross_room,
        ),
        read_cursors_max_per_user: vars
            .within("READ_CURSORS_MAX_PER_USER", 1.0, 1e6)
            .map_or(d.read_cursors_max_per_user, |v| v as u32),
    }
}

/// The `AUTH_*` settings (docs/auth.md). Claim names and the issuer are taken as they are
/// (trimmed); an empty one is the default.
fn auth_config<F: Fn(&str) -> Option<String>>(
    get: &F,
    vars: &Vars<'_, F>,
    d: &AuthConfig,
) -> AuthConfig {
    let text = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    AuthConfig {
        secret: Secret::new(get("AUTH_SECRET").unwrap_or_default()),
        secrets: get("AUTH_SECRETS").map_or_else(Vec::new, |v| parse_secrets(&v)),
        jwks_url: text("AUTH_JWKS_URL"),
        jwks_cache_secs: vars
            .within("AUTH_JWKS_CACHE_SECONDS", 0.0, 1e9)
            .map_or(d.jwks_cache_secs, |v| v as u64),
        issuer: text("AUTH_ISSUER"),
        audience: text("AUTH_AUDIENCE"),
        leeway_secs: vars
            .within("AUTH_LEEWAY_SECONDS", 0.0, 86_400.0)
            .map_or(d.leeway_secs, |v| v as u64),
        user_claim: text("AUTH_USER_CLAIM").unwrap_or_else(|| d.user_claim.clone()),
        rooms_claim: text("AUTH_ROOMS_CLAIM").unwrap_or_else(|| d.rooms_claim.clone()),
        max_lifetime_secs: vars
            .within("MAX_TOKEN_LIFETIME_SECONDS", 0.0, 1e12)
            .map_or(d.max_lifetime_secs, |v| v as u64),
    }
}

/// Numeric variables, each read with a range: out of range or unparsable is `None`.
struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn within(&self, name: &str, lo: f64, hi: f64) -> Option<f64> {
        let v = (self.0)(name)?.trim().parse::<f64>().ok()?;
        (lo..=hi).contains(&v).then_some(v)
    }

    fn rate(&self, per_second: &str, burst: &str, default: RateLimit) -> RateLimit {
        RateLimit {
            per_second: self
                .within(per_second, 0.001, 1e9)
                .unwrap_or(default.per_second),
            burst: self.within(burst, 1.0, 1e9).unwrap_or(default.burst),
        }
    }
}

/// `MAX_ROOM_CONNECTIONS`, `ROOM_FANOUT_CONNECTIONS` and `ROOM_FANOUT_DEGREE`: how big a room
/// may get and how it spreads over objects.
fn room_size<F: Fn(&str) -> Option<String>>(vars: &Vars<'_, F>, d: &Config) -> (usize, usize, u32) {
    (
        vars.within("MAX_ROOM_CONNECTIONS", 1.0, 1e9)
            .map_or(d.max_room_connections, |v| v as usize),
        vars.within("ROOM_FANOUT_CONNECTIONS", 1.0, 32_768.0)
            .map_or(d.fanout_connections, |v| v as usize),
        vars.within("ROOM_FANOUT_DEGREE", 1.0, 1_000.0)
            .map_or(d.fanout_degree, |v| v as u32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Config {
        Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_apply_when_unset() {
        assert_eq!(from(&[]), Config::default());
        assert_eq!(Config::default().max_message_bytes, 65_536);
    }

    #[test]
    fn registry_limits_are_read() {
        let c = from(&[
            ("MAX_ROOMS_PER_USER", "3"),
            ("CROSS_ROOM_RATE_PER_SECOND", "10"),
            ("CROSS_ROOM_BURST", "20"),
            ("READ_CURSORS_MAX_PER_USER", "5"),
            ("REVOCATION_CHECK_FAIL", "closed"),
        ]);
        assert_eq!(c.registry.max_rooms_per_user, 3);
        assert_eq!(
            (
                c.registry.cross_room.per_second,
                c.registry.cross_room.burst
            ),
            (10.0, 20.0)
        );
        assert_eq!(c.registry.read_cursors_max_per_user, 5);
        assert_eq!(c.revocation_check_fail, RevocationCheckFail::Closed);
        let d = from(&[
            ("MAX_ROOMS_PER_USER", "0"),
            ("READ_CURSORS_MAX_PER_USER", "x"),
        ]);
        assert_eq!(
            d.registry,
            RegistryLimits::default(),
            "out of range: default"
        );
        assert_eq!(d.registry.max_rooms_per_user, 100);
        assert_eq!(d.registry.read_cursors_max_per_user, 1_000);
    }

    #[test]
    fn values_are_read() {
        let c = from(&[
            ("MAX_MESSAGE_BYTES", "1024"),
            ("RATE_LIMIT_PER_SECOND", "2.5"),
            ("RATE_LIMIT_BURST", " 7 "),
            ("HISTORY_MAX_MESSAGES", "0"),
            ("HISTORY_MAX_AGE_DAYS", "0.5"),
            ("TOKEN_REFRESH_NOTICE_SECONDS", "5"),
            ("MAX_TOKEN_LIFETIME_SECONDS", "0"),
            ("AUTH_SECRET", "s3cret"),
        ]);
        assert_eq!(c.token_notice_secs, 5);
        let limits = from(&[
            ("DIRECT_RATE_PER_SECOND", "1"),
            ("DIRECT_RATE_BURST", "3"),
            ("MAX_CONNECTIONS_PER_USER", "2"),
            ("MAX_ROOM_CONNECTIONS", "50"),
            ("REPLAY_MAX_MESSAGES", "10"),
            ("REPLAY_MAX_BYTES", "1000"),
            ("TYPING_INTERVAL_MS", "500"),
            ("RESTART_PRESENCE_HOLD_SECONDS", "2.5"),
            ("HISTORY_PAGE_MAX_BYTES", "4096"),
            ("ROOM_PRESENCE_MAX", "0"),
            ("ROOM_FANOUT_CONNECTIONS", "2"),
            ("ROOM_FANOUT_DEGREE", "3"),
        ]);
        assert_eq!(limits.fanout_degree, 3);
        assert_eq!(Config::default().fanout_degree, 8);
        assert_eq!(limits.fanout_connections, 2);
        assert_eq!(Config::default().fanout_connections, 5_000);
        assert_eq!(Config::default().max_room_connections, 50_000);
        assert_eq!(limits.typing_interval_ms, 500);
        assert_eq!(limits.restart_hold_ms, 2_500);
        assert_eq!(Config::default().restart_hold_ms, 15_000);
        assert_eq!(limits.presence_max, 0, "0: counts only");
        assert_eq!(Config::default().presence_max, 1_000);
        assert_eq!(limits.history_page_max_bytes, 4096);
        assert_eq!(
            (limits.direct_rate.per_second, limits.direct_rate.burst),
            (1.0, 3.0)
        );
        assert_eq!(
            (limits.max_connections_per_user, limits.max_room_connections),
            (2, 50)
        );
        assert_eq!(
            limits.replay,
            ReplayLimit {
                max_messages: 10,
                max_bytes: 1000
            }
        );
        assert_eq!(c.auth.max_lifetime_secs, 0);
        assert_eq!(c.auth.secret, Secret::new("s3cret"));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secrets are never printed"
        );
        let auth = from(&[
            ("AUTH_SECRETS", "v1:one,v2:two"),
            (
                "AUTH_JWKS_URL",
                " https://id.example/.well-known/jwks.json ",
            ),
            ("AUTH_JWKS_CACHE_SECONDS", "60"),
            ("AUTH_ISSUER", "https://id.example/"),
            ("AUTH_AUDIENCE", "chat"),
            ("AUTH_LEEWAY_SECONDS", "5"),
            ("AUTH_USER_CLAIM", "uid"),
            ("AUTH_ROOMS_CLAIM", "https://example.com/rooms"),
        ])
        .auth;
        assert_eq!(auth.secrets.len(), 2);
        assert!(
            !format!("{auth:?}").contains("two"),
            "rotated secrets are never printed"
        );
        assert_eq!(
            auth.jwks_url.as_deref(),
            Some("https://id.example/.well-known/jwks.json")
        );
        assert_eq!((auth.jwks_cache_secs, auth.leeway_secs), (60, 5));
        assert_eq!(
            (auth.issuer.as_deref(), auth.audience.as_deref()),
            (Some("https://id.example/"), Some("chat"))
        );
        assert_eq!(
            (auth.user_claim.as_str(), auth.rooms_claim.as_str()),
            ("uid", "https://example.com/rooms")
        );
        let d = from(&[("AUTH_USER_CLAIM", " "), ("AUTH_LEEWAY_SECONDS", "-1")]).auth;
        assert_eq!((d.user_claim.as_str(), d.leeway_secs), ("sub", 30));
        assert_eq!(c.retention.max_messages, 0);
        assert_eq!(c.history_storage, HistoryStorage::Durable);
        assert_eq!(
            from(&[("HISTORY_STORAGE", "none")]).history_storage,
            HistoryStorage::None
        );
        assert_eq!(c.retention.max_age_ms, 43_200_000);
        assert_eq!(c.max_message_bytes, 1024);
        assert_eq!(c.rate_limit.per_second, 2.5);
        assert_eq!(c.rate_limit.burst, 7.0);
    }

    #[test]
    fn junk_and_out_of_range_fall_back() {
        let c = from(&[
            ("MAX_MESSAGE_BYTES", "99999999"),
            ("RATE_LIMIT_PER_SECOND", "fast"),
            ("RATE_LIMIT_BURST", "0"),
            ("HISTORY_MAX_MESSAGES", "-3"),
            ("HISTORY_MAX_AGE_DAYS", "forever"),
            ("TOKEN_REFRESH_NOTICE_SECONDS", "-1"),
            ("MAX_TOKEN_LIFETIME_SECONDS", "a week"),
            ("MAX_CONNECTIONS_PER_USER", "0"),
            ("REPLAY_MAX_MESSAGES", "-1"),
            ("TYPING_INTERVAL_MS", "soon"),
        ]);
        assert_eq!(c, Config::default());
        assert_eq!(c.typing_interval_ms, 2_000);
    }
}
