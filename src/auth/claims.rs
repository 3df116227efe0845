//! What a verified token says: the user, its expiry and issue time, and the rooms it may join —
//! read from the claims `AUTH_USER_CLAIM` and `AUTH_ROOMS_CLAIM` name, once the issuer, the
//! audience, the times (with `AUTH_LEEWAY_SECONDS` of clock skew) and the lifetime cap agree.
//! Identical in the worker and in native tests: the clock is passed in.

use super::config::AuthConfig;
use super::token::unauthorized;
use crate::common::error::ChatError;
use crate::common::names::{is_valid_room, is_valid_user_id, USER_ID_RULE};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The claims the server reads from (and, for `/dev/token`, writes into) a user token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, 1–128 characters (from `AUTH_USER_CLAIM`).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch. Required.
    pub exp: u64,
    /// Rooms this token may join; absent means any room (from `AUTH_ROOMS_CLAIM`).
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

impl Claims {
    /// May the holder of these claims join `room`?
    pub fn may_join(&self, room: &str) -> bool {
        match &self.rooms {
            None => true,
            Some(rooms) => rooms.iter().any(|r| r == room),
        }
    }
}

/// Most rooms a token's rooms claim may list: the list travels with every connection (in its
/// socket's attachment, at most 16 KiB) to scope its `direct`s.
pub const MAX_ROOMS_CLAIM: usize = 100;

/// Who signed the token, for the one rule that differs: the audience when `AUTH_AUDIENCE` is
/// unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// An HMAC secret of ours: a token carrying an `aud` is refused (our tokens have none, as
    /// before key sets existed).
    Secret,
    /// The identity provider's key set: every provider sets an `aud`; it is not checked.
    KeySet,
}

/// The claims of a token whose signature is verified, checked against `config` at `now_secs`.
pub fn validate(
    claims: &Map<String, Value>,
    config: &AuthConfig,
    signer: Signer,
    now_secs: u64,
) -> Result<Claims, ChatError> {
    check_issuer_and_audience(claims, config, signer)?;
    let times = check_times(claims, config, now_secs)?;
    let sub = match claims.get(&config.user_claim) {
        Some(Value::String(u)) if is_valid_user_id(u) => u.clone(),
        Some(_) => {
            return Err(unauthorized(format!(
                "token `{}` must be {USER_ID_RULE}",
                config.user_claim
            )))
        }
        None => {
            return Err(unauthorized(format!(
                "token lacks the required `{}` claim",
                config.user_claim
            )))
        }
    };
    Ok(Claims {
        sub,
        rooms: rooms(claims.get(&config.rooms_claim), &config.rooms_claim)?,
        ..times
    })
}

fn check_issuer_and_audience(
    claims: &Map<String, Value>,
    config: &AuthConfig,
    signer: Signer,
) -> Result<(), ChatError> {
    if let Some(issuer) = &config.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(unauthorized("token `iss` is not AUTH_ISSUER"));
        }
    }
    let aud = claims.get("aud").filter(|a| !a.is_null());
    match (&config.audience, aud) {
        (Some(want), Some(Value::String(a))) if a == want => Ok(()),
        (Some(want), Some(Value::Array(list)))
            if list.iter().any(|a| a.as_str() == Some(want.as_str())) =>
        {
            Ok(())
        }
        (Some(_), _) => Err(unauthorized("token `aud` does not contain AUTH_AUDIENCE")),
        (None, Some(Value::Array(list))) if list.is_empty() => Ok(()),
        (None, Some(_)) if signer == Signer::Secret => Err(unauthorized(
            "token has an `aud` claim, and AUTH_AUDIENCE is not set",
        )),
        (None, _) => Ok(()),
    }
}

/// `exp` (required), `nbf` and `iat`, each with `leeway_secs` of clock skew, and the lifetime
/// cap. The claims with only the times filled in.
fn check_times(
    claims: &Map<String, Value>,
    config: &AuthConfig,
    now: u64,
) -> Result<Claims, ChatError> {
    let time = |name: &str| -> Result<Option<u64>, ChatError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            // NumericDate may be fractional; whole seconds are what is compared.
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..1e15).contains(&t) => Ok(Some(t as u64)),
                _ => Err(unauthorized(format!(
                    "token `{name}` must be seconds since the epoch"
                ))),
            },
        }
    };
    let leeway = config.leeway_secs;
    let exp = time("exp")?.ok_or_else(|| unauthorized("token lacks the required `exp` claim"))?;
    if exp.saturating_add(leeway) <= now {
        return Err(unauthorized("token has expired"));
    }
    let nbf = time("nbf")?;
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(unauthorized("token is not valid yet (nbf)"));
    }
    let iat = time("iat")?;
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(unauthorized("token was issued in the future (iat)"));
    }
    let cap = config.max_lifetime_secs;
    if cap > 0 && exp.saturating_sub(now) > cap {
        return Err(unauthorized(format!(
            "token expires more than MAX_TOKEN_LIFETIME_SECONDS ({cap}) from now"
        )));
    }
    Ok(Claims {
        exp,
        nbf,
        iat,
        ..Claims::default()
    })
}

/// The rooms claim: absent (or null) means any room; else an array of at most
/// [`MAX_ROOMS_CLAIM`] room names.
fn rooms(value: Option<&Value>, name: &str) -> Result<Option<Vec<String>>, ChatError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(unauthorized(format!(
                "token `{name}` must be an array of room names"
            )))
        }
    };
    if list.len() > MAX_ROOMS_CLAIM {
        return Err(unauthorized(format!(
            "token `{name}` may list at most {MAX_ROOMS_CLAIM} rooms"
        )));
    }
    list.iter()
        .map(|r| match r.as_str() {
            Some(room) if is_valid_room(room) => Ok(room.to_owned()),
            _ => Err(unauthorized(format!(
                "token `{name}` holds an entry that is not a room name"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn check(claims: Value, config: &AuthConfig, signer: Signer) -> Result<Claims, ChatError> {
        validate(claims.as_object().unwrap(), config, signer, NOW)
    }

    fn ok(claims: Value) -> Claims {
        check(claims, &AuthConfig::default(), Signer::KeySet).unwrap()
    }

    fn refused(claims: Value, config: &AuthConfig, signer: Signer) -> String {
        let e = check(claims, config, signer).unwrap_err();
        assert_eq!(e.code, crate::common::error::ErrorCode::Unauthorized);
        e.message
    }

    #[test]
    fn times_have_the_leeway_and_the_lifetime_cap() {
        let d = AuthConfig::default();
        assert_eq!(
            ok(json!({"sub":"a","exp":NOW - 29})).exp,
            NOW - 29,
            "within 30 s of leeway"
        );
        assert!(refused(json!({"sub":"a","exp":NOW - 30}), &d, Signer::KeySet).contains("expired"));
        assert!(refused(
            json!({"sub":"a","exp":NOW + 60,"nbf":NOW + 31}),
            &d,
            Signer::KeySet
        )
        .contains("nbf"));
        ok(json!({"sub":"a","exp":NOW + 60,"nbf":NOW + 30}));
        assert!(refused(
            json!({"sub":"a","exp":NOW + 60,"iat":NOW + 31}),
            &d,
            Signer::KeySet
        )
        .contains("iat"));
        assert_eq!(
            ok(json!({"sub":"a","exp":NOW + 60,"iat":NOW as f64 + 30.9})).iat,
            Some(NOW + 30)
        );
        assert!(refused(json!({"sub":"a"}), &d, Signer::KeySet).contains("`exp`"));
        assert!(refused(json!({"sub":"a","exp":"soon"}), &d, Signer::KeySet).contains("`exp`"));
        let capped = AuthConfig {
            max_lifetime_secs: 3600,
            leeway_secs: 0,
            ..d.clone()
        };
        assert!(check(json!({"sub":"a","exp":NOW + 3600}), &capped, Signer::KeySet).is_ok());
        assert!(
            refused(json!({"sub":"a","exp":NOW + 3601}), &capped, Signer::KeySet)
                .contains("MAX_TOKEN_LIFETIME_SECONDS")
        );
        assert!(
            refused(json!({"sub":"a","exp":NOW}), &capped, Signer::KeySet).contains("expired"),
            "no leeway: expired at exp"
        );
    }

    #[test]
    fn issuer_and_audience() {
        let c = AuthConfig {
            issuer: Some("https://id.example/".into()),
            audience: Some("chat".into()),
            ..AuthConfig::default()
        };
        let base = |extra: Value| {
            let mut v = json!({"sub":"a","exp":NOW + 60,"iss":"https://id.example/","aud":"chat"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        assert!(check(base(json!({})), &c, Signer::KeySet).is_ok());
        assert!(check(base(json!({"aud":["other","chat"]})), &c, Signer::Secret).is_ok());
        assert!(
            refused(base(json!({"iss":"https://evil/"})), &c, Signer::KeySet)
                .contains("AUTH_ISSUER")
        );
        assert!(refused(base(json!({"aud":"other"})), &c, Signer::KeySet).contains("AUTH_AUDIENCE"));
        assert!(refused(base(json!({"aud":null})), &c, Signer::KeySet).contains("AUTH_AUDIENCE"));
        // No AUTH_AUDIENCE: a provider's aud is not checked; our own tokens carry none.
        let d = AuthConfig::default();
        assert!(check(
            json!({"sub":"a","exp":NOW + 60,"aud":"whatever"}),
            &d,
            Signer::KeySet
        )
        .is_ok());
        assert!(refused(
            json!({"sub":"a","exp":NOW + 60,"aud":"whatever"}),
            &d,
            Signer::Secret
        )
        .contains("aud"));
        assert!(check(
            json!({"sub":"a","exp":NOW + 60,"aud":[]}),
            &d,
            Signer::Secret
        )
        .is_ok());
    }

    #[test]
    fn the_user_and_rooms_claims_are_named_by_the_settings() {
        let c = AuthConfig {
            user_claim: "uid".into(),
            rooms_claim: "https://example.com/rooms".into(),
            ..AuthConfig::default()
        };
        let claims = check(json!({"uid":"alice","sub":"ignored","exp":NOW + 60,"https://example.com/rooms":["lobby","b.c"]}), &c, Signer::KeySet).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.rooms),
            ("alice", Some(vec!["lobby".to_owned(), "b.c".to_owned()]))
        );
        assert!(
            refused(json!({"sub":"alice","exp":NOW + 60}), &c, Signer::KeySet).contains("`uid`")
        );
        for bad in [
            json!(["a,b"]),
            json!(["a/b"]),
            json!([""]),
            json!([1]),
            json!("lobby"),
        ] {
            assert!(refused(
                json!({"uid":"alice","exp":NOW + 60,"https://example.com/rooms":bad}),
                &c,
                Signer::KeySet
            )
            .contains("rooms"));
        }
        let many: Vec<String> = (0..=MAX_ROOMS_CLAIM).map(|n| format!("r{n}")).collect();
        assert!(refused(
            json!({"sub":"a","exp":NOW + 60,"rooms":many}),
            &AuthConfig::default(),
            Signer::KeySet
        )
        .contains("at most"));
        for sub in [json!(""), json!("u".repeat(129)), json!(7)] {
            refused(
                json!({"sub":sub,"exp":NOW + 60}),
                &AuthConfig::default(),
                Signer::KeySet,
            );
        }
        assert!(ok(json!({"sub":"a","exp":NOW + 60,"rooms":null}))
            .rooms
            .is_none());
    }

    #[test]
    fn may_join_follows_the_rooms_claim() {
        let scoped = ok(json!({"sub":"a","exp":NOW + 60,"rooms":["lobby"]}));
        assert!(scoped.may_join("lobby") && !scoped.may_join("other"));
        assert!(ok(json!({"sub":"a","exp":NOW + 60})).may_join("anything"));
    }
}
