//! HS256: tokens signed with an HMAC secret of ours (`AUTH_SECRET`, or the `AUTH_SECRETS` key
//! their `kid` names), checked synchronously in Rust.
//!
//! Signatures are computed and compared by the maintained `jsonwebtoken` crate through a crypto
//! provider that knows HS256 only (RustCrypto `hmac` + `sha2`; `verify_slice` compares in
//! constant time): its built-in providers would pull RSA, ECDSA and EdDSA code into the Wasm,
//! and the public-key algorithms are verified by the runtime's WebCrypto instead (the shell's
//! `auth`), which is native code.

use super::claims::Claims;
use super::token::{unauthorized, ParsedToken};
use crate::common::error::{ChatError, ErrorCode};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

/// Checks the signature of an HS256 token with `secret`.
pub fn verify_signature(t: &ParsedToken, secret: &[u8]) -> Result<(), ChatError> {
    install_hs256_provider();
    let key = DecodingKey::from_secret(secret);
    match jsonwebtoken::crypto::verify(
        &t.signature_b64,
        t.signing_input.as_bytes(),
        &key,
        Algorithm::HS256,
    ) {
        Ok(true) => Ok(()),
        _ => Err(unauthorized("token signature is invalid")),
    }
}

/// Signs `claims` with HS256 and `secret`, with `kid` in the header when given (the `DEV_MODE`
/// token endpoint, the load generator and tests).
pub fn issue_token_with_kid(
    secret: &[u8],
    kid: Option<&str>,
    claims: &Claims,
) -> Result<String, ChatError> {
    install_hs256_provider();
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(Algorithm::HS256)
    };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .map_err(|e| ChatError::new(ErrorCode::Internal, format!("cannot sign token: {e}")))
}

/// Signs `claims` with HS256 and `secret` (no `kid`: verified with `AUTH_SECRET`).
pub fn issue_token(secret: &[u8], claims: &Claims) -> Result<String, ChatError> {
    issue_token_with_kid(secret, None, claims)
}

// ---- HS256-only crypto provider -------------------------------------------------------------

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

struct Hs256(HmacSha256);

fn hmac_for(secret: &[u8]) -> jsonwebtoken::errors::Result<HmacSha256> {
    use hmac::Mac;
    HmacSha256::new_from_slice(secret)
        .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into())
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        // `verify_slice` compares in constant time.
        mac.verify_slice(sig).map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn only_hs256() -> jsonwebtoken::errors::Error {
    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into()
}

static HS256_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(hmac_for(key.try_get_hmac_secret()?)?))),
        _ => Err(only_hs256()),
    },
    verifier_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(hmac_for(key.try_get_hmac_secret()?)?))),
        _ => Err(only_hs256()),
    },
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: |_| Err(only_hs256()),
        extract_ec_public_key_coordinates: |_, _| Err(only_hs256()),
        compute_digest: |_, _| Vec::new(),
    },
};

fn install_hs256_provider() {
    // Fails harmlessly when already installed (it is process-wide and set once).
    let _ = HS256_PROVIDER.install_default();
}
