//! How user tokens are verified, as the `AUTH_*` settings say (docs/auth.md): the HMAC secrets
//! (`AUTH_SECRET`, `AUTH_SECRETS` for rotation by `kid`), the provider's key set
//! (`AUTH_JWKS_URL`, cached `AUTH_JWKS_CACHE_SECONDS`), and the claim rules (`AUTH_ISSUER`,
//! `AUTH_AUDIENCE`, `AUTH_LEEWAY_SECONDS`, `AUTH_USER_CLAIM`, `AUTH_ROOMS_CLAIM`,
//! `MAX_TOKEN_LIFETIME_SECONDS`).

use crate::common::config::Secret;

/// The verification settings of user tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `AUTH_SECRET`: the HS256 key of tokens without a `kid` (empty: none accepted).
    pub secret: Secret,
    /// `AUTH_SECRETS` (`kid1:secret1,kid2:secret2`): the HS256 keys of tokens whose header
    /// `kid` names one — rotation without logging anyone out.
    pub secrets: Vec<(String, Secret)>,
    /// `AUTH_JWKS_URL`: the provider's key set, for RS256, ES256 and EdDSA tokens.
    pub jwks_url: Option<String>,
    /// `AUTH_JWKS_CACHE_SECONDS`: how long a fetched key set is used (the response's
    /// `Cache-Control: max-age` when shorter).
    pub jwks_cache_secs: u64,
    /// `AUTH_ISSUER`: when set, `iss` must equal it.
    pub issuer: Option<String>,
    /// `AUTH_AUDIENCE`: when set, `aud` (a string or an array) must contain it.
    pub audience: Option<String>,
    /// `AUTH_LEEWAY_SECONDS`: clock skew allowed for `exp`, `nbf` and an `iat` in the future.
    pub leeway_secs: u64,
    /// `AUTH_USER_CLAIM`: the claim holding the user id.
    pub user_claim: String,
    /// `AUTH_ROOMS_CLAIM`: the claim holding the rooms the token may join.
    pub rooms_claim: String,
    /// `MAX_TOKEN_LIFETIME_SECONDS`: `exp` may be at most this far ahead (0: no cap).
    pub max_lifetime_secs: u64,
}

/// The default of `AUTH_JWKS_CACHE_SECONDS`.
pub const DEFAULT_JWKS_CACHE_SECS: u64 = 600;
/// The default of `AUTH_LEEWAY_SECONDS`.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret: Secret::default(),
            secrets: Vec::new(),
            jwks_url: None,
            jwks_cache_secs: DEFAULT_JWKS_CACHE_SECS,
            issuer: None,
            audience: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            user_claim: "sub".into(),
            rooms_claim: "rooms".into(),
            max_lifetime_secs: 7 * 24 * 3600,
        }
    }
}

impl AuthConfig {
    /// The HS256 secret of `kid` (`AUTH_SECRETS`).
    pub fn secret_of(&self, kid: &str) -> Option<&Secret> {
        self.secrets.iter().find(|(k, _)| k == kid).map(|(_, s)| s)
    }
}

/// `AUTH_SECRETS`: `kid:secret` pairs separated by commas (a secret may hold `:`, not `,`).
/// Entries without a kid or a secret are left out.
pub fn parse_secrets(value: &str) -> Vec<(String, Secret)> {
    value
        .split(',')
        .filter_map(|pair| pair.trim().split_once(':'))
        .filter(|(kid, secret)| !kid.trim().is_empty() && !secret.is_empty())
        .map(|(kid, secret)| (kid.trim().to_owned(), Secret::new(secret)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_secrets_are_read_by_kid() {
        let s = parse_secrets("old:first:part, new:second,:nokid,empty:,junk");
        assert_eq!(
            s,
            vec![
                ("old".to_owned(), Secret::new("first:part")),
                ("new".to_owned(), Secret::new("second")),
            ]
        );
        let c = AuthConfig {
            secrets: s,
            ..AuthConfig::default()
        };
        assert_eq!(c.secret_of("new"), Some(&Secret::new("second")));
        assert_eq!(c.secret_of("gone"), None);
    }
}
