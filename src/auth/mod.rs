//! User tokens: JWTs from the application's backend (HS256, with `AUTH_SECRET` or a rotated
//! `AUTH_SECRETS` key) or from an identity provider (RS256, ES256 or EdDSA, with a key of its
//! key set at `AUTH_JWKS_URL`) — docs/auth.md.
//!
//! Every token goes the same way, whoever verifies it (the front worker on an upgrade or a read,
//! a room on a refresh in place):
//! 1. [`token::parse`]: taken apart, an accepted algorithm;
//! 2. [`token::key_source`]: which key checks it — a secret of ours for HS256, the key set's key
//!    of its `kid` otherwise (never one for the other);
//! 3. the signature: HS256 here ([`hs256`]); public keys by the runtime's WebCrypto, with the key
//!    set fetched and cached as [`jwks`] decides (the shell's `auth`);
//! 4. [`claims::validate`]: issuer, audience, times with leeway, the lifetime cap, the user and
//!    rooms claims — into the [`Claims`] the rest of the system knows.

pub mod claims;
pub mod config;
pub mod hs256;
pub mod jwks;
pub mod token;

pub use claims::{Claims, Signer, MAX_ROOMS_CLAIM};
pub use config::AuthConfig;
pub use hs256::{issue_token, issue_token_with_kid};
pub use token::{Alg, KeySource, ParsedToken};

use crate::common::error::ChatError;

/// Verifies a token that needs no key set (HS256) completely, at `now_secs`. A token that
/// needs the key set is refused here: callers that have one use the shell's verification.
pub fn verify_with_secrets(
    token: &str,
    config: &AuthConfig,
    now_secs: u64,
) -> Result<Claims, ChatError> {
    let parsed = token::parse(token)?;
    match token::key_source(&parsed, config)? {
        KeySource::Secret(secret) => hs256::verify_signature(&parsed, secret)?,
        KeySource::KeySet { .. } => {
            return Err(token::unauthorized(
                "token needs the key set, which is not at hand here",
            ))
        }
    }
    claims::validate(&parsed.claims, config, Signer::Secret, now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config::Secret;
    use crate::common::error::ErrorCode;

    const NOW: u64 = 1_800_000_000;

    fn config() -> AuthConfig {
        AuthConfig {
            secret: Secret::new("dev-secret"),
            secrets: vec![
                ("v1".into(), Secret::new("one")),
                ("v2".into(), Secret::new("two")),
            ],
            ..AuthConfig::default()
        }
    }

    fn claims(sub: &str, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            exp,
            iat: Some(NOW),
            ..Claims::default()
        }
    }

    #[test]
    fn hs256_tokens_round_trip_with_the_secret_or_their_kid() {
        let c = claims("alice", NOW + 60);
        let plain = issue_token(b"dev-secret", &c).unwrap();
        assert_eq!(verify_with_secrets(&plain, &config(), NOW), Ok(c.clone()));
        let rotated = issue_token_with_kid(b"two", Some("v2"), &c).unwrap();
        assert_eq!(verify_with_secrets(&rotated, &config(), NOW), Ok(c.clone()));
        // v1's key under v2's name, a removed kid, the wrong secret: refused.
        for t in [
            issue_token_with_kid(b"one", Some("v2"), &c).unwrap(),
            issue_token_with_kid(b"gone", Some("v0"), &c).unwrap(),
            issue_token(b"other", &c).unwrap(),
        ] {
            assert_eq!(
                verify_with_secrets(&t, &config(), NOW).unwrap_err().code,
                ErrorCode::Unauthorized
            );
        }
    }

    #[test]
    fn a_payload_swapped_under_a_signature_is_refused() {
        let t = issue_token(b"dev-secret", &claims("alice", NOW + 60)).unwrap();
        let forged = issue_token(b"dev-secret", &claims("mallory", NOW + 60)).unwrap();
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = forged.split('.').nth(1).unwrap();
        let e = verify_with_secrets(&parts.join("."), &config(), NOW).unwrap_err();
        assert_eq!(e.message, "token signature is invalid");
    }

    #[test]
    fn hmac_with_a_public_key_as_the_secret_is_refused() {
        // The classic confusion: an HS256 token "signed" with the provider's public key. HS256
        // only ever uses our secrets, so whatever the key, the kid names none of them.
        let jwks = AuthConfig {
            jwks_url: Some("https://id.example/jwks".into()),
            ..config()
        };
        let c = claims("alice", NOW + 60);
        let t = issue_token_with_kid(br#"{"kty":"RSA","n":"sXch","e":"AQAB"}"#, Some("rsa-1"), &c)
            .unwrap();
        assert_eq!(
            verify_with_secrets(&t, &jwks, NOW).unwrap_err().message,
            "token `kid` names no AUTH_SECRETS key"
        );
    }
}
