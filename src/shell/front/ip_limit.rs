//! Per-IP limits on what a client with a user token can make us do repeatedly at some cost:
//! WebSocket upgrades, history reads and member reads. They use the Workers rate-limiting
//! binding `IP_LIMITER` (wrangler.toml `[[ratelimits]]`), keyed by `CF-Connecting-IP`: counters live
//! at each Cloudflare location, outside any of our objects, so the check never touches a
//! Durable Object. A deployment without the binding is not limited per IP.

use crate::common::error::{ChatError, ErrorCode};
use crate::shell::common::log;
use serde_json::json;
use worker::{Env, Request};

/// The binding's name in wrangler.toml.
const BINDING: &str = "IP_LIMITER";

/// `Err(429 rate_limited)` when the client's IP is over its limit.
pub async fn check(req: &Request, env: &Env) -> Result<(), ChatError> {
    let Ok(limiter) = env.rate_limiter(BINDING) else {
        return Ok(());
    };
    // Always set by Cloudflare; absent only in local runs, which share one key.
    let ip = req
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .unwrap_or_else(|| "local".to_owned());
    match limiter.limit(ip).await {
        Ok(outcome) if !outcome.success => Err(ChatError::new(
            ErrorCode::RateLimited,
            "too many connections or reads from this address; retry in a minute",
        )),
        Ok(_) => Ok(()),
        Err(e) => {
            // The limiter is an optimisation against abuse, never a reason to refuse.
            log::warn("ip_limiter_let_in", json!({"detail": e.to_string()}));
            Ok(())
        }
    }
}
