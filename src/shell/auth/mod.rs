//! User tokens verified on the runtime, the same way for the front worker (upgrades, reads) and
//! for a room (a refresh in place): taken apart and checked by the core ([`crate::auth`]); an
//! HS256 signature in Rust, here and now; an RS256, ES256 or EdDSA one by the runtime's WebCrypto
//! with the identity provider's key set ([`key_set`]: fetched, cached per isolate).
//!
//! Why WebCrypto for the public keys: it is the platform's native code — a verification costs
//! microseconds, where RSA and P-256 arithmetic compiled to Wasm would cost the connect path
//! (the slowest path we have) about a millisecond each — and it adds nothing to the Wasm. A
//! signature check needs no constant time (the key and the signature are public); HMAC keeps
//! Rust's constant-time comparison.

mod key_set;

use crate::auth::{claims, hs256, token, Claims, KeySource, Signer};
use crate::common::error::ChatError;
use crate::shell::common::env::{now_ms, settings};
use worker::Env;

/// The claims of `token`, or why it is refused: `unauthorized` (a bad token), or `unavailable`
/// when its key set cannot be read (the token may be fine: neither accepted nor refused).
pub async fn verify(env: &Env, token: &str) -> Result<Claims, ChatError> {
    let settings = settings(env);
    let config = &settings.config.auth;
    let parsed = token::parse(token)?;
    let signer = match token::key_source(&parsed, config)? {
        KeySource::Secret(secret) => {
            hs256::verify_signature(&parsed, secret)?;
            Signer::Secret
        }
        KeySource::KeySet { kid } => {
            key_set::verify(config, settings.dev_mode, &parsed, kid).await?;
            Signer::KeySet
        }
    };
    claims::validate(&parsed.claims, config, signer, now_ms() / 1000)
}
