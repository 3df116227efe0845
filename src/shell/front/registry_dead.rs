//! The registry shards' dead letters (their `direct_undelivered` events): `GET
//! /registry/webhooks/dead?limit=L` lists the oldest `L` over all shards, `POST
//! /registry/webhooks/dead/retry` re-queues every shard's. An operator does not know which
//! shard holds a user, so both ask all of them at once; a shard that never had a webhook event
//! answers from no table at all (nothing is created).

use crate::calls::RegistryRequest;
use crate::registry::REGISTRY_SHARDS;
use crate::shell::calls;
use crate::shell::common::http::{error_response, json_response, unavailable};
use crate::webhooks::{merge_dead, merge_requeued, parse_dead_limit};
use futures::future::join_all;
use worker::{Env, Response, Result, Url};

pub async fn list(url: &Url, env: &Env) -> Result<Response> {
    let limit = super::request::query_param(url, "limit");
    let limit = match parse_dead_limit(limit.as_deref()) {
        Ok(limit) => limit,
        Err(e) => return error_response(&e),
    };
    let asked = ask_every_shard(env, |shard| RegistryRequest::WebhooksDead { shard, limit });
    let answers = match asked.await {
        Ok(answers) => answers,
        Err(e) => return unavailable("a registry shard", &e.to_string()),
    };
    let answers: Vec<(u32, String)> = (0..REGISTRY_SHARDS).zip(answers).collect();
    json_response(200, merge_dead(&answers, limit)?)
}

pub async fn retry(env: &Env) -> Result<Response> {
    let asked = ask_every_shard(env, |shard| RegistryRequest::WebhooksRetry { shard });
    match asked.await {
        Ok(answers) => json_response(200, merge_requeued(&answers)?),
        Err(e) => unavailable("a registry shard", &e.to_string()),
    }
}

/// Every shard's answer text, in shard order; the first failure fails the whole call.
async fn ask_every_shard(
    env: &Env,
    request: impl Fn(u32) -> RegistryRequest,
) -> Result<Vec<String>> {
    let asks = (0..REGISTRY_SHARDS).map(|shard| {
        let request = request(shard);
        async move {
            let mut res = calls::call_registry(env, &request).await?;
            match res.status_code() {
                200 => res.text().await,
                s => Err(worker::Error::RustError(format!(
                    "registry shard {shard} answered {s}"
                ))),
            }
        }
    });
    join_all(asks).await.into_iter().collect()
}
