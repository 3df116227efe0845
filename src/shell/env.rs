//! Reading configuration and the clock from the runtime.

use worker::Env;

/// A var or secret as a string; `None` when unset. (`.dev.vars` entries, `[vars]` and
/// `wrangler secret` values all arrive as plain strings.)
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

/// `DEV_MODE=1` enables the demo token endpoint and debug routes.
pub fn dev_mode(env: &Env) -> bool {
    env_string(env, "DEV_MODE").as_deref() == Some("1")
}

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Random bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom's `js` backend only fails when no crypto API exists, which Workers always has;
    // in that impossible case a zeroed nonce still yields a well-formed (if guessable) id.
    let _ = getrandom::getrandom(&mut buf);
    buf
}
