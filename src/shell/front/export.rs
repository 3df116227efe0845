//! `GET /rooms/{room}/export?since=N` (admin): the room's log as a streamed NDJSON body, read
//! from the room one history page at a time ([`crate::front::export`] says why and how it ends).

use super::request::query_param;
use super::{bad_room, call_room};
use crate::calls::RoomCall;
use crate::common::names::is_valid_room;
use crate::front::export::{page_to_ndjson, parse_since, EXPORT_PAGE_LIMIT, NDJSON};
use crate::room::log::history_page::HistoryQuery;
use crate::shell::common::http::error_response;
use worker::{Env, Headers, Response, ResponseBuilder, Result, Url};

/// Where the stream stands: the page already read and not yet sent, and the next cursor.
struct Cursor {
    env: Env,
    room: String,
    ready: Option<Vec<u8>>,
    next: Option<u64>,
}

/// The first page is read before answering, so that a room that cannot be read answers with
/// its error and status (not a 200 whose body breaks); the rest is read as the client pulls.
pub async fn export(url: &Url, env: &Env, room: &str) -> Result<Response> {
    if !is_valid_room(room) {
        return bad_room();
    }
    let since = match parse_since(query_param(url, "since").as_deref()) {
        Ok(since) => since,
        Err(e) => return error_response(&e),
    };
    let first = match read_page(env, room, since).await? {
        Ok(page) => page,
        Err(refusal) => return Ok(refusal),
    };
    let cursor = Cursor {
        env: env.clone(),
        room: room.to_owned(),
        ready: Some(first.0),
        next: first.1,
    };
    let pages = futures::stream::try_unfold(cursor, |mut c| async move {
        if let Some(lines) = c.ready.take() {
            return Ok(Some((lines, c)));
        }
        let Some(since) = c.next else {
            return Ok(None);
        };
        match read_page(&c.env, &c.room, since).await? {
            Ok((lines, next)) => {
                c.next = next;
                Ok(Some((lines, c)))
            }
            Err(res) => Err(worker::Error::RustError(format!(
                "export page after {since} answered {}",
                res.status_code()
            ))),
        }
    });
    let headers = Headers::new();
    headers.set("content-type", NDJSON)?;
    headers.set("cache-control", "no-store")?;
    ResponseBuilder::new()
        .with_headers(headers)
        .from_stream(pages)
}

/// The entries after `since`, as NDJSON lines, and the next cursor; `Ok(Err(response))`: the
/// room's refusal (or failure) to pass on as it is.
async fn read_page(
    env: &Env,
    room: &str,
    since: u64,
) -> Result<std::result::Result<(Vec<u8>, Option<u64>), Response>> {
    let query = HistoryQuery::Since {
        since,
        limit: EXPORT_PAGE_LIMIT,
    };
    let call = RoomCall::History {
        query,
        reader: None,
    };
    let mut res = call_room(env, room, call).await?;
    if res.status_code() != 200 {
        return Ok(Err(res));
    }
    let body = res.text().await?;
    match page_to_ndjson(&body) {
        Ok((lines, next)) => Ok(Ok((lines.into_bytes(), next))),
        Err(e) => Err(worker::Error::RustError(format!("export page: {e}"))),
    }
}
