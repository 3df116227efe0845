//! Calls between our Durable Objects: who is bound where, and small typed helpers for the
//! internal HTTP requests they exchange. Internal URLs carry parameters in the query (values
//! may be any Unicode, which headers cannot carry) and frames as the raw body.

use worker::{Env, Method, Request, RequestInit, Response, Result, Stub, Url};

/// Durable Object namespace bindings (see wrangler.toml).
pub const ROOMS: &str = "ROOMS";
pub const USERS: &str = "USERS";
pub const STATS: &str = "STATS";

/// The object named `name` in namespace `binding`.
pub fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub> {
    env.durable_object(binding)?.id_from_name(name)?.get_stub()
}

/// The room object of `room` (one object per room name).
pub fn room(env: &Env, room: &str) -> Result<Stub> {
    stub(env, ROOMS, room)
}

/// The registry object of `user_id` (one object per user).
pub fn registry(env: &Env, user_id: &str) -> Result<Stub> {
    stub(env, USERS, user_id)
}

/// An internal URL; the host is never resolved.
pub fn url(path: &str, query: &[(&str, &str)]) -> Result<Url> {
    let mut url = Url::parse("https://internal/")?.join(path)?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// `GET` an internal path on `stub`.
pub async fn get(stub: &Stub, path: &str, query: &[(&str, &str)]) -> Result<Response> {
    let req = Request::new(url(path, query)?.as_str(), Method::Get)?;
    stub.fetch_with_request(req).await
}

/// `POST` `body` to an internal path on `stub`.
pub async fn post(
    stub: &Stub,
    path: &str,
    query: &[(&str, &str)],
    body: Option<String>,
) -> Result<Response> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(body.map(|b| b.into()));
    let req = Request::new_with_init(url(path, query)?.as_str(), &init)?;
    stub.fetch_with_request(req).await
}

/// Reads `{"delivered":N}` from an internal reply; a 404 means zero.
pub async fn delivered(mut res: Response) -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct Delivered {
        delivered: u64,
    }
    match res.status_code() {
        404 => Ok(0),
        200 => Ok(res.json::<Delivered>().await?.delivered),
        s => Err(worker::Error::RustError(format!(
            "internal call answered {s}"
        ))),
    }
}

/// A query parameter of `url`.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
