//! The front worker's metrics (`METRICS`, optional): upgrades, refusals by code and `401`s by
//! reason, counted from each answer per isolate and written at most once per second, at the
//! end of a request (the front has no state, and sets no timer).
//!
//! A refusal is counted from its JSON body (the room's own refusals of an upgrade — `banned`,
//! `too_many_connections` … — come back through here too): the body of an answer of status
//! 400 or more is read and handed on unchanged. Only with the binding: without it, answers
//! pass through untouched.

use crate::common::metrics::{FrontCounts, Pacer};
use crate::shell::common::env::now_ms;
use crate::shell::common::metrics::Sink;
use std::cell::RefCell;
use worker::{Env, Response, Result};

thread_local! {
    static FRONT: RefCell<(FrontCounts, Pacer)> = RefCell::new(Default::default());
}

/// Counts the answer `res` and writes the isolate's point if one is due.
pub async fn answered(env: &Env, res: Result<Response>) -> Result<Response> {
    let Some(sink) = Sink::of(env) else {
        return res;
    };
    let mut res = res?;
    let status = res.status_code();
    if status == 101 {
        FRONT.with(|f| f.borrow_mut().0.upgraded());
    } else if status >= 400 {
        let headers = res.headers().clone();
        let body = res.text().await?;
        FRONT.with(|f| f.borrow_mut().0.refused(&body));
        res = Response::ok(body)?
            .with_status(status)
            .with_headers(headers);
    }
    let point = FRONT.with(|f| {
        let (counts, pacer) = &mut *f.borrow_mut();
        (!counts.is_empty() && pacer.ready(now_ms())).then(|| std::mem::take(counts).point())
    });
    if let Some(p) = point {
        sink.write(p);
    }
    Ok(res)
}
