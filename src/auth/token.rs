//! A user token taken apart, before anything about it is believed: its algorithm and `kid`
//! (the header, read by the maintained `jsonwebtoken` crate), its claims (a JSON object), and
//! the signed part and signature for whichever key checks them ([`key_source`]).

use super::config::AuthConfig;
use crate::common::error::{ChatError, ErrorCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The algorithms a token may be signed with. Anything else — `none`, HS384/HS512, PS*,
/// ES384 — is refused before any key is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC-SHA-256 with `AUTH_SECRET` or an `AUTH_SECRETS` key.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, an RSA key of the key set.
    RS256,
    /// ECDSA with P-256 and SHA-256, an EC P-256 key of the key set.
    ES256,
    /// Ed25519, an OKP Ed25519 key of the key set.
    EdDSA,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    fn from_header(alg: jsonwebtoken::Algorithm) -> Option<Alg> {
        use jsonwebtoken::Algorithm as A;
        match alg {
            A::HS256 => Some(Alg::HS256),
            A::RS256 => Some(Alg::RS256),
            A::ES256 => Some(Alg::ES256),
            A::EdDSA => Some(Alg::EdDSA),
            _ => None,
        }
    }
}

/// A token taken apart; nothing in it is verified yet.
#[derive(Debug, Clone)]
pub struct ParsedToken {
    pub alg: Alg,
    pub kid: Option<String>,
    /// `header.payload`: what the signature covers.
    pub signing_input: String,
    /// The signature as it travels (base64url) and decoded.
    pub signature_b64: String,
    pub signature: Vec<u8>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
}

pub(super) fn unauthorized(why: impl Into<String>) -> ChatError {
    ChatError::new(ErrorCode::Unauthorized, why)
}

/// Takes `token` apart: three base64url parts, a header naming an accepted algorithm, a JSON
/// object of claims. Every failure is `unauthorized`, saying why without echoing the token.
pub fn parse(token: &str) -> Result<ParsedToken, ChatError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::Json(_) => {
                unauthorized("token algorithm is not accepted (HS256, RS256, ES256, EdDSA)")
            }
            _ => unauthorized("token is malformed"),
        }
    })?;
    let alg = Alg::from_header(header.alg).ok_or_else(|| {
        unauthorized(format!(
            "token algorithm {:?} is not accepted (HS256, RS256, ES256, EdDSA)",
            header.alg
        ))
    })?;
    let data = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token)
        .map_err(|_| unauthorized("token claims are not a JSON object"))?;
    let (signing_input, signature_b64) = token
        .rsplit_once('.')
        .ok_or_else(|| unauthorized("token is malformed"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| unauthorized("token signature is not base64url"))?;
    Ok(ParsedToken {
        alg,
        kid: header.kid,
        signing_input: signing_input.to_owned(),
        signature_b64: signature_b64.to_owned(),
        signature,
        claims: data.claims,
    })
}

/// Which key checks a token's signature.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource<'a> {
    /// An HMAC secret (HS256): `AUTH_SECRETS`' key of the token's `kid`, or `AUTH_SECRET`.
    Secret(&'a [u8]),
    /// The key set's key of this `kid` (RS256, ES256, EdDSA).
    KeySet { kid: &'a str },
}

/// The key for `t`: HS256 tokens never use a key of the key set (the classic confusion of a
/// public key used as an HMAC secret cannot happen), public-key tokens never a secret.
pub fn key_source<'a>(
    t: &'a ParsedToken,
    config: &'a AuthConfig,
) -> Result<KeySource<'a>, ChatError> {
    match (t.alg, t.kid.as_deref()) {
        (Alg::HS256, Some(kid)) => config
            .secret_of(kid)
            .map(|s| KeySource::Secret(s.as_bytes()))
            .ok_or_else(|| unauthorized("token `kid` names no AUTH_SECRETS key")),
        (Alg::HS256, None) if config.secret.as_bytes().is_empty() => {
            Err(unauthorized("server has no AUTH_SECRET configured"))
        }
        (Alg::HS256, None) => Ok(KeySource::Secret(config.secret.as_bytes())),
        (alg, _) if config.jwks_url.is_none() => Err(unauthorized(format!(
            "token algorithm {} needs a key set (AUTH_JWKS_URL), which the server has not",
            alg.name()
        ))),
        (_, None) => Err(unauthorized(
            "token has no `kid` naming a key of the key set",
        )),
        (_, Some(kid)) => Ok(KeySource::KeySet { kid }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::config::Secret;

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    #[test]
    fn a_token_is_taken_apart() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a","exp":9}"#,
        );
        let p = parse(&t).unwrap();
        assert_eq!(
            (p.alg, p.kid.as_deref(), p.signature.as_slice()),
            (Alg::RS256, Some("k1"), &b"sig"[..])
        );
        assert_eq!(p.signing_input, t.rsplit_once('.').unwrap().0);
        assert_eq!(p.claims["sub"], "a");
    }

    #[test]
    fn other_algorithms_and_junk_are_refused() {
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS384"}"#,
            r#"{"alg":"PS256"}"#,
            r#"{"alg":"ES384"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{}"#,
        ] {
            let e = parse(&token(header, r#"{"sub":"a"}"#)).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthorized, "{header}");
            assert!(
                e.message.contains("not accepted") || e.message.contains("malformed"),
                "{header}: {}",
                e.message
            );
        }
        for junk in ["", "x", "a.b", "a.b.c", &token(r#"{"alg":"HS256"}"#, "[1]")] {
            assert_eq!(
                parse(junk).unwrap_err().code,
                ErrorCode::Unauthorized,
                "{junk}"
            );
        }
    }

    #[test]
    fn hs256_never_uses_the_key_set_and_public_keys_never_a_secret() {
        let config = AuthConfig {
            secret: Secret::new("s"),
            secrets: vec![("v2".into(), Secret::new("s2"))],
            jwks_url: Some("https://id.example/jwks".into()),
            ..AuthConfig::default()
        };
        let parsed = |h: &str| parse(&token(h, "{}")).unwrap();
        let source = |h: &str| key_source(&parsed(h), &config).map(|s| format!("{s:?}"));
        assert_eq!(
            source(r#"{"alg":"HS256"}"#).unwrap(),
            format!("{:?}", KeySource::Secret(b"s"))
        );
        assert_eq!(
            source(r#"{"alg":"HS256","kid":"v2"}"#).unwrap(),
            format!("{:?}", KeySource::Secret(b"s2"))
        );
        assert!(
            source(r#"{"alg":"HS256","kid":"rsa-1"}"#).is_err(),
            "a key-set kid is no HMAC key"
        );
        assert_eq!(
            source(r#"{"alg":"ES256","kid":"k"}"#).unwrap(),
            "KeySet { kid: \"k\" }"
        );
        assert!(source(r#"{"alg":"RS256"}"#).is_err(), "no kid");
        let hmac_only = AuthConfig::default();
        let p = parsed(r#"{"alg":"RS256","kid":"k"}"#);
        assert!(key_source(&p, &hmac_only)
            .unwrap_err()
            .message
            .contains("AUTH_JWKS_URL"));
        let p = parsed(r#"{"alg":"HS256"}"#);
        assert!(key_source(&p, &hmac_only)
            .unwrap_err()
            .message
            .contains("AUTH_SECRET"));
    }
}
