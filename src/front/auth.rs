//! User tokens: HS256 JWTs with `sub`, `exp`, and optional `rooms` (an allow-list), `nbf`
//! (not before) and `iat` (issued at, what a revocation compares).
//!
//! Parsing and claim validation are done by the maintained `jsonwebtoken` crate. Its built-in
//! crypto providers pull RSA, ECDSA and EdDSA code into the Wasm even when only HMAC is used, so
//! we install a provider that knows HS256 only (RustCrypto `hmac` + `sha2`): any other `alg`
//! in a token header is refused before a signature is even looked at.
//!
//! Expiry is checked here against a caller-supplied clock (`now_secs`) with zero leeway, so the
//! rule is unit-testable and identical in the worker and in native tests.

use crate::common::error::{ChatError, ErrorCode};
use crate::common::names::{is_valid_room, is_valid_user_id};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims we read from (and write into) a user token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, 1–128 characters.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch. Required.
    pub exp: u64,
    /// Rooms this token may join; absent means any room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<String>>,
    /// Not valid before this time (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// When the token was issued (seconds since the epoch): a revocation refuses the user's
    /// tokens issued before its time, and tokens without `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Most rooms a token's `rooms` claim may list: the list travels with every connection (in its
/// socket's attachment, at most 16 KiB) to scope its `direct`s.
pub const MAX_ROOMS_CLAIM: usize = 100;

/// Rules a token must meet beyond its signature and its own claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRules {
    /// `exp` may be at most this far ahead (`MAX_TOKEN_LIFETIME_SECONDS`; 0 = no cap).
    pub max_lifetime_secs: u64,
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            max_lifetime_secs: 7 * 24 * 3600,
        }
    }
}

impl Claims {
    /// May the holder of these claims join `room`?
    pub fn may_join(&self, room: &str) -> bool {
        match &self.rooms {
            None => true,
            Some(rooms) => rooms.iter().any(|r| r == room),
        }
    }
}

/// Checks signature, algorithm, required claims, expiry, `nbf` and the lifetime cap; returns
/// the claims.
///
/// Every failure is `unauthorized`; the message says why without echoing the token.
pub fn verify_token(
    secret: &[u8],
    token: &str,
    now_secs: u64,
    rules: &TokenRules,
) -> Result<Claims, ChatError> {
    install_hs256_provider();
    let unauthorized = |why: &str| ChatError::new(ErrorCode::Unauthorized, why);
    if secret.is_empty() {
        return Err(unauthorized("server has no AUTH_SECRET configured"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    // Expiry is checked below with our clock and no leeway.
    validation.validate_exp = false;
    validation.leeway = 0;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature => unauthorized("token signature is invalid"),
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        unauthorized("token algorithm must be HS256")
                    }
                    K::MissingRequiredClaim(c) => {
                        unauthorized(&format!("token lacks the required `{c}` claim"))
                    }
                    K::Json(e) => unauthorized(&format!("token claims are invalid: {e}")),
                    _ => unauthorized("token is malformed"),
                }
            })?;
    let claims = data.claims;
    if claims.exp <= now_secs {
        return Err(unauthorized("token has expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now_secs) {
        return Err(unauthorized("token is not valid yet (nbf)"));
    }
    let cap = rules.max_lifetime_secs;
    if cap > 0 && claims.exp - now_secs > cap {
        return Err(unauthorized(&format!(
            "token expires more than MAX_TOKEN_LIFETIME_SECONDS ({cap}) from now"
        )));
    }
    if !is_valid_user_id(&claims.sub) {
        return Err(unauthorized("token `sub` must be 1-128 characters"));
    }
    if claims
        .rooms
        .as_ref()
        .is_some_and(|r| r.len() > MAX_ROOMS_CLAIM)
    {
        return Err(unauthorized(&format!(
            "token `rooms` may list at most {MAX_ROOMS_CLAIM} rooms"
        )));
    }
    Ok(claims)
}

/// Signs `claims` with HS256 (used by the `DEV_MODE` token endpoint and by tests).
pub fn issue_token(secret: &[u8], claims: &Claims) -> Result<String, ChatError> {
    install_hs256_provider();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| ChatError::new(ErrorCode::Internal, format!("cannot sign token: {e}")))
}

/// Parses the `rooms=a,b` query value of `/dev/token` into a validated list.
pub fn parse_room_list(list: &str) -> Result<Vec<String>, ChatError> {
    list.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            if is_valid_room(r) {
                Ok(r.to_owned())
            } else {
                Err(ChatError::new(
                    ErrorCode::BadRoom,
                    format!("invalid room name {r:?}"),
                ))
            }
        })
        .collect()
}

/// Compares two secrets in time that does not depend on where they differ (`subtle`, a
/// maintained constant-time primitive; unequal lengths compare unequal).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"dev-secret";
    const NOW: u64 = 1_800_000_000;
    const RULES: TokenRules = TokenRules {
        max_lifetime_secs: 3600,
    };

    fn claims(sub: &str, exp: u64, rooms: Option<&[&str]>) -> Claims {
        Claims {
            sub: sub.into(),
            exp,
            rooms: rooms.map(|r| r.iter().map(|s| s.to_string()).collect()),
            ..Claims::default()
        }
    }

    #[test]
    fn nbf_is_honoured_and_the_lifetime_is_capped() {
        let mut c = claims("a", NOW + 60, None);
        c.nbf = Some(NOW + 1);
        let t = issue_token(SECRET, &c).unwrap();
        let e = verify_token(SECRET, &t, NOW, &RULES).unwrap_err();
        assert!(e.message.contains("nbf"), "{}", e.message);
        assert!(
            verify_token(SECRET, &t, NOW + 1, &RULES).is_ok(),
            "valid from nbf on"
        );

        let at_cap = issue_token(SECRET, &claims("a", NOW + 3600, None)).unwrap();
        assert!(verify_token(SECRET, &at_cap, NOW, &RULES).is_ok());
        let over = issue_token(SECRET, &claims("a", NOW + 3601, None)).unwrap();
        let e = verify_token(SECRET, &over, NOW, &RULES).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("MAX_TOKEN_LIFETIME_SECONDS"));
        let uncapped = TokenRules {
            max_lifetime_secs: 0,
        };
        assert!(
            verify_token(SECRET, &over, NOW, &uncapped).is_ok(),
            "0 = no cap"
        );

        let many: Vec<String> = (0..=MAX_ROOMS_CLAIM).map(|n| format!("r{n}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let t = issue_token(SECRET, &claims("a", NOW + 60, Some(&refs))).unwrap();
        assert!(
            verify_token(SECRET, &t, NOW, &RULES).is_err(),
            "over MAX_ROOMS_CLAIM"
        );
        let t = issue_token(SECRET, &claims("a", NOW + 60, Some(&refs[1..]))).unwrap();
        assert!(
            verify_token(SECRET, &t, NOW, &RULES).is_ok(),
            "at MAX_ROOMS_CLAIM"
        );

        let mut c = claims("a", NOW + 60, None);
        c.iat = Some(NOW - 5);
        let t = issue_token(SECRET, &c).unwrap();
        assert_eq!(
            verify_token(SECRET, &t, NOW, &RULES).unwrap().iat,
            Some(NOW - 5)
        );
    }

    fn code_of(r: Result<Claims, ChatError>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn a_signed_token_round_trips() {
        let c = claims("alice", NOW + 60, Some(&["lobby"]));
        let t = issue_token(SECRET, &c).unwrap();
        let back = verify_token(SECRET, &t, NOW, &RULES).unwrap();
        assert_eq!(back, c);
        assert!(back.may_join("lobby"));
        assert!(!back.may_join("other"));
        assert!(claims("bob", 1, None).may_join("anything"));
    }

    #[test]
    fn expired_tokens_are_refused_with_no_leeway() {
        let t = issue_token(SECRET, &claims("alice", NOW, None)).unwrap();
        let e = verify_token(SECRET, &t, NOW, &RULES).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("expired"));
        assert!(verify_token(SECRET, &t, NOW - 1, &RULES).is_ok());
    }

    #[test]
    fn wrong_secret_and_garbage_are_refused() {
        let t = issue_token(SECRET, &claims("alice", NOW + 60, None)).unwrap();
        assert_eq!(
            code_of(verify_token(b"other", &t, NOW, &RULES)),
            ErrorCode::Unauthorized
        );
        for junk in ["", "x", "a.b.c", "....", "eyJ.eyJ.sig", &"A".repeat(10_000)] {
            assert_eq!(
                code_of(verify_token(SECRET, junk, NOW, &RULES)),
                ErrorCode::Unauthorized
            );
        }
        // A payload swapped in under alice's signature must not verify.
        let forged = issue_token(SECRET, &claims("mallory", NOW + 60, None)).unwrap();
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = forged.split('.').nth(1).unwrap();
        assert_eq!(
            code_of(verify_token(SECRET, &parts.join("."), NOW, &RULES)),
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn missing_claims_and_bad_subjects_are_refused() {
        #[derive(Serialize)]
        struct NoExp {
            sub: &'static str,
        }
        let key = EncodingKey::from_secret(SECRET);
        install_hs256_provider();
        let t = jsonwebtoken::encode(&Header::default(), &NoExp { sub: "a" }, &key).unwrap();
        assert!(verify_token(SECRET, &t, NOW, &RULES)
            .unwrap_err()
            .message
            .contains("exp"));

        #[derive(Serialize)]
        struct NoSub {
            exp: u64,
        }
        let t = jsonwebtoken::encode(&Header::default(), &NoSub { exp: NOW + 9 }, &key).unwrap();
        assert!(verify_token(SECRET, &t, NOW, &RULES)
            .unwrap_err()
            .message
            .contains("sub"));

        for sub in ["", &"u".repeat(129)] {
            let t = issue_token(SECRET, &claims(sub, NOW + 60, None)).unwrap();
            assert_eq!(
                code_of(verify_token(SECRET, &t, NOW, &RULES)),
                ErrorCode::Unauthorized
            );
        }
    }

    /// A token with `alg` in its header, really signed with that HMAC, so that a refusal can
    /// only come from the algorithm check (the signature itself is right).
    fn signed_with(alg: &str, claims: &Claims) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let header = B64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let payload = B64.encode(serde_json::to_string(claims).unwrap());
        let input = format!("{header}.{payload}");
        let sig = match alg {
            "HS256" => Hmac::<sha2::Sha256>::new_from_slice(SECRET)
                .unwrap()
                .chain_update(&input)
                .finalize()
                .into_bytes()
                .to_vec(),
            "HS384" => Hmac::<sha2::Sha384>::new_from_slice(SECRET)
                .unwrap()
                .chain_update(&input)
                .finalize()
                .into_bytes()
                .to_vec(),
            "HS512" => Hmac::<sha2::Sha512>::new_from_slice(SECRET)
                .unwrap()
                .chain_update(&input)
                .finalize()
                .into_bytes()
                .to_vec(),
            _ => Vec::new(),
        };
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn other_algorithms_are_refused() {
        let c = claims("a", NOW + 60, None);
        // The hand-built HS256 token verifies: the builder itself is right.
        assert_eq!(
            verify_token(SECRET, &signed_with("HS256", &c), NOW, &RULES),
            Ok(c.clone())
        );
        for alg in ["HS384", "HS512", "none", "RS256", "hs256"] {
            let e = verify_token(SECRET, &signed_with(alg, &c), NOW, &RULES).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthorized, "{alg}");
            assert!(e.message.contains("HS256"), "{alg}: {}", e.message);
        }
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert_eq!(
            code_of(verify_token(SECRET, none, NOW, &RULES)),
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn room_lists_are_validated() {
        assert_eq!(parse_room_list("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_room_list("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_room_list("a,b c").unwrap_err().code,
            ErrorCode::BadRoom
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
