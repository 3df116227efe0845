//! Calls between our Durable Objects, on the runtime: who is bound where, and sending and
//! receiving the typed calls of [`crate::calls`].

use crate::calls::{Call, InternalRequest, Method as CallMethod, RegistryRequest};
use crate::common::error::ChatError;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result, Stub};

/// Durable Object namespace bindings (see wrangler.toml).
const ROOMS: &str = "ROOMS";
const USERS: &str = "USERS";
const STATS: &str = "STATS";
const FANOUT: &str = "FANOUT";

fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub> {
    env.durable_object(binding)?.id_from_name(name)?.get_stub()
}

/// The room object of `room` (one object per room name).
pub fn room(env: &Env, room: &str) -> Result<Stub> {
    stub(env, ROOMS, room)
}

/// The registry shard a request goes to (its user's, see [`RegistryRequest::shard`]).
pub fn registry(env: &Env, request: &RegistryRequest) -> Result<Stub> {
    let shards = &crate::shell::common::env::settings(env)
        .config
        .registry_shards;
    let name = crate::registry::registry_name(request.shard(shards));
    stub(env, USERS, &name)
}

/// Sends `request` to its registry shard.
pub async fn call_registry(env: &Env, request: &RegistryRequest) -> Result<Response> {
    call(&registry(env, request)?, request).await
}

/// Fan-out object `index` of `room` ([`crate::fanout`]).
pub fn fanout(env: &Env, room: &str, index: u32) -> Result<Stub> {
    stub(env, FANOUT, &crate::fanout::fanout_name(room, index))
}

/// Stats shard number `n`.
pub fn stats_shard(env: &Env, n: u32) -> Result<Stub> {
    stub(env, STATS, &crate::stats::shard_name(n))
}

/// Sends `call` to the object behind `stub`.
pub async fn call(stub: &Stub, call: &impl Call) -> Result<Response> {
    stub.fetch_with_request(to_worker_request(call.to_request())?)
        .await
}

fn to_worker_request(req: InternalRequest) -> Result<Request> {
    // The host is never resolved: a stub's fetch goes to its object whatever the URL says.
    // Built as a string (paths are ours, values percent-encoded): parsing and joining URLs
    // showed in profiles of a connect storm.
    let mut url = String::with_capacity(64);
    url.push_str("https://internal");
    url.push_str(req.path);
    for (n, (k, v)) in req.query.iter().enumerate() {
        url.push(if n == 0 { '?' } else { '&' });
        url.extend(utf8_percent_encode(k, QUERY_VALUE));
        url.push('=');
        url.extend(utf8_percent_encode(v, QUERY_VALUE));
    }
    let mut init = RequestInit::new();
    init.with_method(match req.method {
        CallMethod::Get => Method::Get,
        CallMethod::Post => Method::Post,
    });
    init.with_body(req.body.map(Into::into));
    if req.upgrade {
        let headers = Headers::new();
        headers.set("upgrade", "websocket")?;
        init.with_headers(headers);
    }
    Request::new_with_init(&url, &init)
}

/// What a query value must escape: everything but the unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Reads the call an object's `fetch` received; `Ok(Err(_))` is a malformed call (a bug on
/// our side, answered 400).
pub async fn receive<C: Call>(mut req: Request) -> Result<std::result::Result<C, ChatError>> {
    let url = req.url()?;
    let (method, body) = match req.method() {
        Method::Get => (CallMethod::Get, None),
        _ => (CallMethod::Post, Some(req.text().await?)),
    };
    let query = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok(InternalRequest::received(method, url.path(), query, body).and_then(C::from_request))
}

/// Reads a JSON reply of type `T`; any status but 200 is an error.
/// (Read as text and parsed in Rust: `Response::json` builds a JS object and then walks it
/// field by field across the Wasm boundary, which showed in profiles.)
pub async fn reply<T: serde::de::DeserializeOwned>(mut res: Response) -> Result<T> {
    match res.status_code() {
        200 => Ok(serde_json::from_str(&res.text().await?)?),
        s => Err(worker::Error::RustError(format!(
            "internal call answered {s}"
        ))),
    }
}

/// Reads a delivery's reply: how many connections got it (a 404 means none).
pub async fn delivered(res: Response) -> Result<u64> {
    if res.status_code() == 404 {
        return Ok(0);
    }
    Ok(reply::<crate::calls::Delivered>(res).await?.delivered)
}

/// `Ok(())` for a 200 reply, else an error naming the status.
pub fn ok(res: &Response) -> Result<()> {
    match res.status_code() {
        200 => Ok(()),
        s => Err(worker::Error::RustError(format!(
            "internal call answered {s}"
        ))),
    }
}
