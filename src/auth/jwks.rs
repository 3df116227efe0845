//! The identity provider's key set (`AUTH_JWKS_URL`), free of any runtime: which of its keys a
//! token may use, and when the set must be fetched again.
//!
//! - **Keys.** A JWKS (parsed key by key with the maintained `jsonwebtoken::jwk` types) holds
//!   keys of every kind; the ones kept are those a token may be verified with: RSA (RS256),
//!   EC P-256 (ES256) and OKP Ed25519 (EdDSA), for signatures (`use` absent or `sig`), with an
//!   `alg` absent or equal to that algorithm. A token's `alg` must be its key's: an RS256 token
//!   whose `kid` names an EC key is refused, never tried.
//! - **Cache.** The set is used for `AUTH_JWKS_CACHE_SECONDS` (the response's
//!   `Cache-Control: max-age` when shorter; a second at least), then fetched again; a failed
//!   fetch keeps the set it has. A `kid` the set does not know makes one fetch at most every
//!   [`UNKNOWN_KID_REFETCH_MS`] (a token with a made-up `kid` cannot make us hammer the
//!   provider). With no set at all, or an unknown `kid` while the provider cannot be reached,
//!   the answer is [`Lookup::Unavailable`]: the token may be fine, so it is neither accepted
//!   nor refused (`503`).

use super::token::Alg;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use serde_json::{json, Value};

/// An unknown `kid` fetches the set again at most this often, per isolate.
pub const UNKNOWN_KID_REFETCH_MS: u64 = 30_000;

/// The shortest a fetched set is used before it is fetched again, whatever the settings or the
/// response's `max-age` say.
pub const MIN_CACHE_SECS: u64 = 1;

/// A key of the set that tokens may use.
#[derive(Debug, Clone, PartialEq)]
pub struct SetKey {
    pub kid: String,
    pub alg: Alg,
    /// The key as a JWK with only what an import needs (`kty`, `n`/`e`, `crv`/`x`/`y`).
    pub jwk: Value,
}

/// The usable keys of a JWKS document (the others are left out); `Err` when it is not one.
pub fn parse_key_set(body: &str) -> Result<Vec<SetKey>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_str(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(doc
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .filter_map(|jwk| usable(&jwk))
        .collect())
}

fn usable(jwk: &Jwk) -> Option<SetKey> {
    let kid = jwk.common.key_id.clone()?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let (alg, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (Alg::RS256, json!({"kty": "RSA", "n": p.n, "e": p.e})),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => (
            Alg::ES256,
            json!({"kty": "EC", "crv": "P-256", "x": p.x, "y": p.y}),
        ),
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => (
            Alg::EdDSA,
            json!({"kty": "OKP", "crv": "Ed25519", "x": p.x}),
        ),
        _ => return None,
    };
    let declared = jwk.common.key_algorithm;
    let matches = match declared {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Alg::RS256,
        Some(KeyAlgorithm::ES256) => alg == Alg::ES256,
        Some(KeyAlgorithm::EdDSA) => alg == Alg::EdDSA,
        Some(_) => false,
    };
    matches.then_some(SetKey { kid, alg, jwk: key })
}

/// `Cache-Control: max-age=N` of a response, in seconds.
pub fn max_age(cache_control: Option<&str>) -> Option<u64> {
    cache_control?
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}

/// What to do for a token's `kid` and `alg`.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a> {
    /// Verify with this key.
    Use(&'a SetKey),
    /// Fetch the set, then look again.
    Fetch,
    /// The set (as fetched just now, or recently) has no key of this `kid`, or it is a key of
    /// another kind: the token is refused (`401`).
    Refuse(&'static str),
    /// No set to answer from: neither accepted nor refused (`503`).
    Unavailable,
}

/// An isolate's key set and when it was fetched: the policy of the module's header.
#[derive(Debug, Default)]
pub struct KeySetCache {
    keys: Vec<SetKey>,
    /// When the set in `keys` was fetched (unix ms); `None`: never.
    fetched_at: Option<u64>,
    /// Until when it is used without a fetch (unix ms).
    fresh_until: u64,
    /// When a fetch last ran (succeeded or not), and whether it succeeded.
    last_attempt: Option<(u64, bool)>,
}

impl KeySetCache {
    /// The key for `kid` and `alg` at `now` (unix ms), or what to do first.
    pub fn lookup(&self, kid: &str, alg: Alg, now: u64) -> Lookup<'_> {
        let recent_attempt = self
            .last_attempt
            .is_some_and(|(at, _)| now.saturating_sub(at) < UNKNOWN_KID_REFETCH_MS);
        let provider_down = self.last_attempt.is_some_and(|(_, ok)| !ok);
        if self.fetched_at.is_none() {
            return if recent_attempt {
                Lookup::Unavailable
            } else {
                Lookup::Fetch
            };
        }
        // A stale set is fetched again — unless the provider just failed: then it keeps
        // serving, and the provider is asked again at most every 30 s.
        if now >= self.fresh_until && !(recent_attempt && provider_down) {
            return Lookup::Fetch;
        }
        match self.keys.iter().find(|k| k.kid == kid) {
            Some(k) if k.alg == alg => Lookup::Use(k),
            Some(_) => Lookup::Refuse("token `alg` is not the algorithm of its key"),
            None if !recent_attempt => Lookup::Fetch,
            None if provider_down => Lookup::Unavailable,
            None => Lookup::Refuse("token `kid` names no key of the key set"),
        }
    }

    /// A fetch at `now` answered with `keys`, to be used for `cache_secs` (the setting, or the
    /// response's `max-age` when shorter).
    pub fn fetched(&mut self, keys: Vec<SetKey>, now: u64, cache_secs: u64) {
        self.keys = keys;
        self.fetched_at = Some(now);
        // At least a second: a provider answering `max-age=0` is not asked on every request.
        let secs = cache_secs.max(MIN_CACHE_SECS);
        self.fresh_until = now.saturating_add(secs.saturating_mul(1000));
        self.last_attempt = Some((now, true));
    }

    /// A fetch at `now` failed: the set kept (if any) stays in use; the provider is asked
    /// again at most every [`UNKNOWN_KID_REFETCH_MS`].
    pub fn failed(&mut self, now: u64) {
        self.last_attempt = Some((now, false));
    }

    /// Whether the last fetch failed (its failure is logged once, not per request).
    pub fn failing(&self) -> bool {
        self.last_attempt.is_some_and(|(_, ok)| !ok)
    }

    /// The keys in use.
    pub fn keys(&self) -> &[SetKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"{"keys":[
        {"kty":"RSA","kid":"rsa","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"},
        {"kty":"EC","kid":"ec","crv":"P-256","x":"f83O","y":"x_FE"},
        {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qY"},
        {"kty":"EC","kid":"p384","crv":"P-384","x":"a","y":"b"},
        {"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"},
        {"kty":"RSA","kid":"ps","alg":"PS256","n":"sXch","e":"AQAB"},
        {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
        {"kty":"RSA","n":"no-kid","e":"AQAB"},
        {"kty":"weird","kid":"x"}
    ]}"#;

    #[test]
    fn only_keys_a_token_may_use_are_kept() {
        let keys = parse_key_set(SET).unwrap();
        let kinds: Vec<(&str, Alg)> = keys.iter().map(|k| (k.kid.as_str(), k.alg)).collect();
        assert_eq!(
            kinds,
            [("rsa", Alg::RS256), ("ec", Alg::ES256), ("ed", Alg::EdDSA)]
        );
        assert_eq!(keys[0].jwk, json!({"kty":"RSA","n":"sXch","e":"AQAB"}));
        assert_eq!(
            keys[1].jwk,
            json!({"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE"})
        );
        assert_eq!(keys[2].jwk, json!({"kty":"OKP","crv":"Ed25519","x":"11qY"}));
        assert!(parse_key_set("[]").is_err() && parse_key_set("nope").is_err());
        assert_eq!(parse_key_set(r#"{"keys":[]}"#).unwrap(), vec![]);
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(Some("public, max-age=300, must-revalidate")),
            Some(300)
        );
        assert_eq!(max_age(Some("no-store")), None);
        assert_eq!(max_age(None), None);
    }

    #[test]
    fn a_set_is_fetched_first_then_used_until_it_is_stale() {
        let mut c = KeySetCache::default();
        assert_eq!(c.lookup("rsa", Alg::RS256, 0), Lookup::Fetch);
        c.fetched(parse_key_set(SET).unwrap(), 1_000, 600);
        assert!(matches!(c.lookup("rsa", Alg::RS256, 2_000), Lookup::Use(k) if k.kid == "rsa"));
        assert_eq!(
            c.lookup("rsa", Alg::ES256, 2_000),
            Lookup::Refuse("token `alg` is not the algorithm of its key")
        );
        assert_eq!(
            c.lookup("rsa", Alg::RS256, 601_000),
            Lookup::Fetch,
            "stale after 600 s"
        );
        // The provider is down: the stale set keeps serving, asked again only every 30 s.
        c.failed(601_000);
        assert!(c.failing());
        assert!(matches!(
            c.lookup("rsa", Alg::RS256, 602_000),
            Lookup::Use(_)
        ));
        assert_eq!(c.lookup("rsa", Alg::RS256, 631_000), Lookup::Fetch);
    }

    #[test]
    fn an_unknown_kid_fetches_at_most_every_30_s() {
        let mut c = KeySetCache::default();
        c.fetched(parse_key_set(SET).unwrap(), 0, 600);
        assert_eq!(
            c.lookup("new", Alg::RS256, 1_000),
            Lookup::Refuse("token `kid` names no key of the key set"),
            "just fetched"
        );
        assert_eq!(c.lookup("new", Alg::RS256, 30_000), Lookup::Fetch);
        c.fetched(parse_key_set(SET).unwrap(), 30_000, 600);
        for kid in ["a", "b", "c"] {
            assert_eq!(
                c.lookup(kid, Alg::RS256, 40_000),
                Lookup::Refuse("token `kid` names no key of the key set")
            );
        }
        c.failed(60_000);
        assert_eq!(
            c.lookup("new", Alg::RS256, 61_000),
            Lookup::Unavailable,
            "unknown while the provider is down"
        );
        assert!(
            matches!(c.lookup("rsa", Alg::RS256, 61_000), Lookup::Use(_)),
            "known keys keep working"
        );
    }

    #[test]
    fn a_short_cache_period_is_honoured_and_a_zero_one_is_a_second() {
        let mut c = KeySetCache::default();
        c.fetched(parse_key_set(SET).unwrap(), 0, 3);
        assert!(matches!(c.lookup("rsa", Alg::RS256, 2_999), Lookup::Use(_)));
        assert_eq!(
            c.lookup("rsa", Alg::RS256, 3_000),
            Lookup::Fetch,
            "a successful fetch does not hold the next back"
        );
        c.fetched(parse_key_set(SET).unwrap(), 3_000, 0);
        assert!(
            matches!(c.lookup("rsa", Alg::RS256, 3_500), Lookup::Use(_)),
            "max-age=0: a second at least"
        );
        assert_eq!(c.lookup("rsa", Alg::RS256, 4_000), Lookup::Fetch);
    }

    #[test]
    fn without_any_set_nothing_is_decided() {
        let mut c = KeySetCache::default();
        c.failed(0);
        assert_eq!(c.lookup("rsa", Alg::RS256, 1_000), Lookup::Unavailable);
        assert_eq!(c.lookup("rsa", Alg::RS256, 30_000), Lookup::Fetch);
    }
}
