//! Reading configuration and the clock from the runtime.
//!
//! Vars and secrets are fixed for the life of an isolate (a new value means a new version of
//! the Worker, in new isolates), so they are read once per isolate: reading ~20 of them on
//! every request (two JS calls each, for the absent ones) showed in profiles of a connect storm.

use crate::common::config::{Config, Secret};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::Env;

/// Everything the Worker reads from its vars and secrets.
#[derive(Debug)]
pub struct Settings {
    pub config: Config,
    /// `ADMIN_TOKEN`: empty disables the server API.
    pub admin_token: Secret,
    /// `DEV_MODE=1` enables the demo token endpoint and debug routes.
    pub dev_mode: bool,
    /// `REGISTRY_FAULT` (honoured only with `DEV_MODE=1`): a test hook of the registry.
    pub registry_fault: Option<String>,
}

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

/// The settings of this isolate, read on first use.
pub fn settings(env: &Env) -> Rc<Settings> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            Rc::new(Settings {
                config: Config::from_lookup(|name| env_string(env, name)),
                admin_token: Secret::new(env_string(env, "ADMIN_TOKEN").unwrap_or_default()),
                dev_mode: env_string(env, "DEV_MODE").as_deref() == Some("1"),
                registry_fault: env_string(env, "REGISTRY_FAULT"),
            })
        })
        .clone()
    })
}

/// A var or secret as a string; `None` when unset. (`.dev.vars` entries, `[vars]` and
/// `wrangler secret` values all arrive as plain strings.)
fn env_string(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
}

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// `N` random bytes in lowercase hex: an id that needs no coordination (incidents, instances).
pub fn random_hex<const N: usize>() -> String {
    hex::encode(random_bytes::<N>())
}

/// Random bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom's `js` backend only fails when no crypto API exists, which Workers always has;
    // in that impossible case a zeroed nonce still yields a well-formed (if guessable) id.
    let _ = getrandom::getrandom(&mut buf);
    buf
}
