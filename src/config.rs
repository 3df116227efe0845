//! Runtime settings read from wrangler vars/secrets, with defaults and sane bounds.
//!
//! A value that does not parse or is out of range falls back to its default instead of
//! failing requests: a typo in `wrangler.toml` must not take a room down.

use crate::rate_limit::RateLimit;

/// Largest text frame a client may send, in bytes (`MAX_MESSAGE_BYTES`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 65_536;
/// workerd refuses WebSocket messages over 1 MiB, so a larger limit could never apply.
pub const MAX_MAX_MESSAGE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub max_message_bytes: usize,
    pub rate_limit: RateLimit,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            rate_limit: RateLimit::default(),
        }
    }
}

impl Config {
    /// Builds the configuration from a variable lookup (the Worker `Env` in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let d = Config::default();
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok());
        let in_range = |v: f64, lo: f64, hi: f64| (lo..=hi).contains(&v).then_some(v);
        Config {
            max_message_bytes: num("MAX_MESSAGE_BYTES")
                .and_then(|v| in_range(v, 1.0, MAX_MAX_MESSAGE_BYTES as f64))
                .map_or(d.max_message_bytes, |v| v as usize),
            rate_limit: RateLimit {
                per_second: num("RATE_LIMIT_PER_SECOND")
                    .and_then(|v| in_range(v, 0.001, 1e9))
                    .unwrap_or(d.rate_limit.per_second),
                burst: num("RATE_LIMIT_BURST")
                    .and_then(|v| in_range(v, 1.0, 1e9))
                    .unwrap_or(d.rate_limit.burst),
            },
        }
    }
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
    fn values_are_read() {
        let c = from(&[
            ("MAX_MESSAGE_BYTES", "1024"),
            ("RATE_LIMIT_PER_SECOND", "2.5"),
            ("RATE_LIMIT_BURST", " 7 "),
        ]);
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
        ]);
        assert_eq!(c, Config::default());
    }
}
