//! The generator's user tokens: HS256 with `--secret` (what the server's `AUTH_SECRET` checks),
//! or RS256, ES256 or EdDSA with `--token-key` (a PKCS#8 PEM private key) under `--token-kid`,
//! for a server whose `AUTH_JWKS_URL` serves the public key — to measure what each algorithm
//! costs a connect. Signed with `jsonwebtoken`'s RustCrypto provider (native code here; the
//! worker verifies public-key tokens with WebCrypto).

use crate::args::{Args, TokenAlg};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A token per user, signed before the first connect: signing is the generator's work, and an
/// RSA signature (about a millisecond here) made during a storm would take the CPU the server
/// is measured on (2 cores), spreading the storm and inflating the server's CPU per connect.
pub struct Tokens {
    signed: Vec<String>,
}

impl Tokens {
    /// Tokens for `user-0` … `user-{users - 1}`.
    pub fn new(args: &Args, users: usize) -> Result<Self, String> {
        // Process-wide, before the project's core installs its HS256-only one.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let pem = || -> Result<Vec<u8>, String> {
            let path = args
                .token_key
                .as_ref()
                .ok_or("--token-key is required for this --token-alg")?;
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let bad = |e: jsonwebtoken::errors::Error| format!("--token-key: {e}");
        let (alg, key) = match args.token_alg {
            TokenAlg::Hs256 => (
                Algorithm::HS256,
                EncodingKey::from_secret(args.secret.as_bytes()),
            ),
            TokenAlg::Rs256 => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(&pem()?).map_err(bad)?,
            ),
            TokenAlg::Es256 => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&pem()?).map_err(bad)?,
            ),
            TokenAlg::Eddsa => (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(&pem()?).map_err(bad)?,
            ),
        };
        let header = Header {
            kid: args.token_kid.clone(),
            ..Header::new(alg)
        };
        let signed = (0..users)
            .map(|u| sign(&header, &key, &format!("user-{u}")))
            .collect::<Result<_, _>>()?;
        Ok(Tokens { signed })
    }

    /// The token of `user-{user}`.
    pub fn for_user(&self, user: usize) -> &str {
        &self.signed[user]
    }
}

/// A token for `user`, valid for an hour.
fn sign(header: &Header, key: &EncodingKey, user: &str) -> Result<String, String> {
    let now = (crate::plan::now_nanos() / 1_000_000_000) as u64;
    let claims = edge_chat::auth::Claims {
        sub: user.to_owned(),
        exp: now + 3600,
        iat: Some(now),
        ..Default::default()
    };
    jsonwebtoken::encode(header, &claims, key).map_err(|e| e.to_string())
}
