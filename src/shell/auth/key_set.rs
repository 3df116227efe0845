//! The identity provider's key set on the runtime: fetched from `AUTH_JWKS_URL` when the core's
//! policy says so ([`crate::auth::jwks`]: cached per isolate, refetched for an unknown `kid` at
//! most every 30 s, kept when the provider fails), its keys imported into WebCrypto with each
//! fetch, signatures verified there.
//!
//! One fetch at a time per isolate: requests that need the set while another request fetches it
//! wait for that fetch (a burst of connects after a deploy costs the provider one request). They
//! wait by looking again every [`WAIT_STEP_MS`], not by awaiting the other request's fetch:
//! the runtime binds a fetch to the request that made it, and a promise of one request must not
//! be awaited by another.

use crate::auth::jwks::{max_age, parse_key_set, KeySetCache, Lookup, SetKey};
use crate::auth::{Alg, AuthConfig, ParsedToken};
use crate::common::error::{ChatError, ErrorCode};
use crate::shell::common::env::now_ms;
use crate::shell::common::incident;
use futures::future::{select, Either};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

/// A fetch of the key set not answered within this long has failed.
const FETCH_TIMEOUT_MS: u64 = 5_000;
/// How often a request waiting for another's fetch looks again.
const WAIT_STEP_MS: u64 = 20;

#[derive(Default)]
struct State {
    cache: KeySetCache,
    /// Keys imported into WebCrypto, by `kid` (replaced by every fetch).
    imported: HashMap<String, CryptoKey>,
    /// When the fetch under way started (unix ms), if one is.
    fetching_since: Option<u64>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// What the cache said, owned (no borrow held across an `.await`).
enum Next {
    Use(SetKey),
    Fetch,
    Refuse(&'static str),
    Unavailable,
}

fn unavailable() -> ChatError {
    ChatError::new(
        ErrorCode::Unavailable,
        "the identity provider's key set cannot be read; try again",
    )
}

fn unauthorized(why: &str) -> ChatError {
    ChatError::new(ErrorCode::Unauthorized, why)
}

/// Checks `t`'s signature with the key set's key `kid`.
pub async fn verify(
    config: &AuthConfig,
    dev_mode: bool,
    t: &ParsedToken,
    kid: &str,
) -> Result<(), ChatError> {
    let url = config.jwks_url.clone().unwrap_or_default();
    if !url.starts_with("https://") && !dev_mode {
        incident::report(
            "AUTH_JWKS_URL",
            "the key set is only fetched over https (http with DEV_MODE=1 only)",
        );
        return Err(unavailable());
    }
    // At most one fetch: after it, the cache answers (a set, a refusal, or unavailable).
    for _ in 0..2 {
        let next = STATE.with(|s| match s.borrow().cache.lookup(kid, t.alg, now_ms()) {
            Lookup::Use(key) => Next::Use(key.clone()),
            Lookup::Fetch => Next::Fetch,
            Lookup::Refuse(why) => Next::Refuse(why),
            Lookup::Unavailable => Next::Unavailable,
        });
        match next {
            Next::Use(key) => return check(&key, t).await,
            Next::Fetch => fetch(&url, config.jwks_cache_secs).await,
            Next::Refuse(why) => return Err(unauthorized(why)),
            Next::Unavailable => return Err(unavailable()),
        }
    }
    Err(unavailable())
}

/// Fetches the set (or waits for the fetch under way) and records what came of it.
async fn fetch(url: &str, cache_secs: u64) {
    let started = now_ms();
    let mine = STATE.with(|s| {
        let mut s = s.borrow_mut();
        // A fetch older than its timeout belongs to a request that is gone: start another.
        let under_way = s
            .fetching_since
            .is_some_and(|at| started.saturating_sub(at) <= FETCH_TIMEOUT_MS);
        if !under_way {
            s.fetching_since = Some(started);
        }
        !under_way
    });
    if !mine {
        while STATE.with(|s| s.borrow().fetching_since.is_some())
            && now_ms().saturating_sub(started) <= FETCH_TIMEOUT_MS
        {
            worker::Delay::from(Duration::from_millis(WAIT_STEP_MS)).await;
        }
        return;
    }
    let result = fetch_set(url).await;
    // Imported here, once, before anyone waiting looks again: a storm of connects waiting for
    // the set would otherwise import each key once per connect.
    let imported = match &result {
        Ok((keys, _)) => import_all(keys).await,
        Err(_) => HashMap::new(),
    };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let now = now_ms();
        match result {
            Ok((keys, max_age)) => {
                let secs = max_age.map_or(cache_secs, |m| m.min(cache_secs));
                s.cache.fetched(keys, now, secs);
                s.imported = imported;
            }
            Err(e) => {
                // Logged once per outage, not once per request.
                if !s.cache.failing() {
                    incident::report("key set fetch", &e);
                }
                s.cache.failed(now);
            }
        }
        s.fetching_since = None;
    });
}

/// The usable keys at `url` and the response's `max-age`.
async fn fetch_set(url: &str) -> Result<(Vec<SetKey>, Option<u64>), String> {
    let request = async {
        let mut res = worker::Fetch::Url(url.parse().map_err(|e| format!("AUTH_JWKS_URL: {e}"))?)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if res.status_code() != 200 {
            return Err(format!("{url} answered {}", res.status_code()));
        }
        let cache_control = res.headers().get("cache-control").ok().flatten();
        let body = res.text().await.map_err(|e| format!("{url}: {e}"))?;
        let keys = parse_key_set(&body).map_err(|e| format!("{url}: {e}"))?;
        Ok((keys, max_age(cache_control.as_deref())))
    };
    let timeout = worker::Delay::from(Duration::from_millis(FETCH_TIMEOUT_MS));
    match select(Box::pin(request), timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(format!(
            "{url}: no answer within {} s",
            FETCH_TIMEOUT_MS / 1000
        )),
    }
}

/// Verifies `t`'s signature with `key` (WebCrypto).
async fn check(key: &SetKey, t: &ParsedToken) -> Result<(), ChatError> {
    let cannot = |_| unauthorized("the key set's key cannot verify this token");
    let crypto_key = imported(key).await.map_err(cannot)?;
    let promise = subtle()
        .map_err(cannot)?
        .verify_with_object_and_u8_array_and_u8_array(
            &verify_params(key.alg),
            &crypto_key,
            &t.signature,
            t.signing_input.as_bytes(),
        )
        .map_err(cannot)?;
    match JsFuture::from(promise).await.map_err(cannot)?.as_bool() {
        Some(true) => Ok(()),
        _ => Err(unauthorized("token signature is invalid")),
    }
}

/// `key` as a WebCrypto key: imported with its set (or now, should that have failed).
async fn imported(key: &SetKey) -> Result<CryptoKey, JsValue> {
    if let Some(k) = STATE.with(|s| s.borrow().imported.get(&key.kid).cloned()) {
        return Ok(k);
    }
    let crypto_key = import(key).await?;
    STATE.with(|s| {
        s.borrow_mut()
            .imported
            .insert(key.kid.clone(), crypto_key.clone())
    });
    Ok(crypto_key)
}

/// Every key of a fetched set, imported (a key WebCrypto refuses is left out: a token of it
/// is refused when it comes).
async fn import_all(keys: &[SetKey]) -> HashMap<String, CryptoKey> {
    let mut imported = HashMap::new();
    for key in keys {
        if let Ok(k) = import(key).await {
            imported.insert(key.kid.clone(), k);
        }
    }
    imported
}

async fn import(key: &SetKey) -> Result<CryptoKey, JsValue> {
    let jwk: js_sys::Object = js_sys::JSON::parse(&key.jwk.to_string())?.dyn_into()?;
    let usages = js_sys::Array::of1(&JsValue::from_str("verify"));
    let promise =
        subtle()?.import_key_with_object("jwk", &jwk, &import_params(key.alg), false, &usages)?;
    JsFuture::from(promise).await?.dyn_into()
}

fn subtle() -> Result<web_sys::SubtleCrypto, JsValue> {
    let crypto: web_sys::Crypto =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?.dyn_into()?;
    Ok(crypto.subtle())
}

/// An object of string properties (WebCrypto's algorithm parameters).
fn params(pairs: &[(&str, &str)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o
}

fn import_params(alg: Alg) -> js_sys::Object {
    match alg {
        Alg::RS256 => params(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]),
        Alg::ES256 => params(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
        Alg::EdDSA | Alg::HS256 => params(&[("name", "Ed25519")]),
    }
}

fn verify_params(alg: Alg) -> js_sys::Object {
    match alg {
        Alg::RS256 => params(&[("name", "RSASSA-PKCS1-v1_5")]),
        Alg::ES256 => params(&[("name", "ECDSA"), ("hash", "SHA-256")]),
        Alg::EdDSA | Alg::HS256 => params(&[("name", "Ed25519")]),
    }
}
