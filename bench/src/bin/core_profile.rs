//! `core-profile`: where a message's time goes inside the room core, natively (no runtime, no
//! sockets, no storage): parsing and validating a `publish`, stamping and serialising the
//! `message` frame and the `ack`, and planning a turn's sends. Run it next to the end-to-end
//! figures of `make bench` to see how much of a delivery is our code and how much is the
//! runtime's (WebSocket sends, storage commits). Native x86-64 code is typically faster than
//! the same code in Wasm, so treat these as lower bounds.
//!
//! ```text
//! cargo run -p edge-chat-bench --release --bin core-profile
//! ```

use edge_chat::common::config::Config;
use edge_chat::room::log::message_log::NoLog;
use edge_chat::room::sends::TurnSends;
use edge_chat::room::{Action, Incoming, Joining, Room};
use std::hint::black_box;
use std::time::Instant;

const MEMBERS: usize = 64;

fn room(batch: bool) -> (Room<bool>, Vec<String>) {
    let config = Config::from_lookup(|name| match name {
        "RATE_LIMIT_PER_SECOND" | "RATE_LIMIT_BURST" => Some("1000000000".into()),
        _ => None,
    });
    let mut r = Room::new("bench-room", config);
    let ids: Vec<String> = (0..MEMBERS)
        .map(|i| format!("bench-room.{i:016x}"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let joining = Joining {
            connection_id: id,
            user_id: &format!("user-{i}"),
            handle: batch,
            session: Default::default(),
            rooms: None,
            since: None,
        };
        r.open(joining, 0, &NoLog::default());
    }
    (r, ids)
}

fn publish(n: usize, payload: usize) -> String {
    format!(
        r#"{{"type":"publish","data":{{"t":{n},"p":"{}"}},"id":"{n}"}}"#,
        "x".repeat(payload)
    )
}

/// µs per call of `f`, over enough calls to take ~0.3 s.
fn time(mut f: impl FnMut(usize)) -> f64 {
    let mut n = 1;
    loop {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        let el = t.elapsed().as_secs_f64();
        if el > 0.3 {
            return el / n as f64 * 1e6;
        }
        n *= 4;
    }
}

fn main() {
    println!("| step (native, {MEMBERS} members) | 32 B | 4 KiB |");
    println!("|---|---|---|");
    // One column per payload, one row per step.
    let mut columns: Vec<Vec<f64>> = Vec::new();
    for payload in [32usize, 4096] {
        let (mut r, ids) = room(false);
        let frames: Vec<String> = (0..1024).map(|n| publish(n, payload)).collect();
        let mut log = NoLog::default();
        let receive = time(|i| {
            let actions = r.receive(
                &ids[i % MEMBERS],
                Incoming::Text(&frames[i % 1024]),
                0,
                &mut log,
            );
            black_box(actions);
        });
        let mut results = vec![receive];
        // A turn's plan: k publishes from k members, for 64 v1 / 64 batch connections.
        for (batch, k) in [(false, 1), (false, 32), (true, 1), (true, 32)] {
            let (mut r, ids) = room(batch);
            let mut log = NoLog::default();
            let mut sends = Vec::new();
            for i in 0..k {
                for a in r.receive(&ids[i % MEMBERS], Incoming::Text(&frames[i]), 0, &mut log) {
                    if let Action::Send { to, frame } = a {
                        sends.push((to, frame));
                    }
                }
            }
            let per_turn = time(|_| {
                let mut out = TurnSends::default();
                for (to, frame) in &sends {
                    out.push(to.clone(), frame.clone());
                }
                let plan = out.plan(&r, |b| *b);
                black_box((plan.texts.len(), plan.sends.len()));
            });
            results.push(per_turn / k as f64);
        }
        columns.push(results);
    }
    let names = [
        "`receive` a publish: parse, validate, serialise `message` + `ack`",
        "plan a turn of 1, 64 v1 connections (per message)",
        "plan a turn of 32, 64 v1 connections (per message)",
        "plan a turn of 1, 64 batch connections (per message)",
        "plan a turn of 32, 64 batch connections (per message)",
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.2} µs | {:.2} µs |",
            columns[0][i], columns[1][i]
        );
    }
}
