//! `loadgen`: opens N connections across R rooms for U users, publishes in closed-loop rounds
//! (maximum throughput) or at a fixed arrival rate (latency), verifies every delivery (count,
//! per-room order, no duplicate) and reports throughput, HDR latency percentiles and the
//! server's CPU seconds and RSS. A run that loses or duplicates anything exits non-zero.
//!
//! ```text
//! loadgen --url ws://127.0.0.1:8787 --rooms 1 --conns 64 --in-flight 4 --duration 5
//! ```

mod proc_stats;
mod report;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Each publisher keeps `--in-flight` publishes outstanding (next one on each ack).
    Closed,
    /// Publishers send at a fixed total arrival rate (`--rate` publishes/s), acks or not.
    Rate,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "Verified load generator for edge-chat rooms")]
struct Args {
    /// Base URL of the server (ws:// or http://). Repeat it for a multi-instance peer:
    /// connection i goes to URL i mod n.
    #[arg(long = "url", default_value = "ws://127.0.0.1:8787")]
    urls: Vec<String>,
    /// HS256 secret the server verifies tokens with (AUTH_SECRET).
    #[arg(long, default_value = "dev-secret")]
    secret: String,
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Connections in total, spread round-robin over the rooms.
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// Distinct users (default: one per connection); users > 1 connection share a user id.
    #[arg(long)]
    users: Option<usize>,
    /// How many of the connections publish (default: all).
    #[arg(long)]
    publishers: Option<usize>,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 32)]
    payload: usize,
    #[arg(long, value_enum, default_value = "closed")]
    mode: Mode,
    /// Closed loop: publishes outstanding per publisher.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Rate mode: total publishes per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds: load runs, nothing is recorded (every rate, latency and the server's
    /// CPU cover the measured seconds only; loss checks cover the whole run).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Processes whose CPU time and RSS are the server's (repeatable).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Or: every process named `--server-name` descending from this pid.
    #[arg(long, alias = "workerd-of")]
    server_of: Option<u32>,
    /// Process names that make up the server under `--server-of` (repeatable).
    #[arg(long = "server-name", default_value = "workerd")]
    server_names: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// A label for the report (peer name, cell).
    #[arg(long, default_value = "edge-chat")]
    label: String,
    /// Room name prefix (default: random, so runs never share rooms).
    #[arg(long)]
    room_prefix: Option<String>,
    #[arg(long)]
    no_progress: bool,
    /// Connect with `?batch=1`: the server may coalesce a turn's frames into one `batch` frame
    /// (each frame inside is verified like any other).
    #[arg(long)]
    batch: bool,
}

/// What one connection saw.
struct ConnReport {
    room: usize,
    connect_ms: f64,
    published: u64,
    acked: u64,
    received: u64,
    /// Messages and acks that arrived in the measured window (after the warm-up, before the stop).
    received_in_window: u64,
    acked_in_window: u64,
    /// WebSocket messages received after the start (a `batch` counts once).
    ws_messages: u64,
    /// Seqs that arrived twice or out of order.
    duplicates: u64,
    /// Holes between consecutive seqs.
    gaps: u64,
    last_seq: Option<u64>,
    errors: Vec<String>,
    latency: Histogram<u64>,
    ack_latency: Histogram<u64>,
}

impl Default for ConnReport {
    fn default() -> Self {
        ConnReport {
            room: 0,
            connect_ms: 0.0,
            published: 0,
            acked: 0,
            received: 0,
            received_in_window: 0,
            acked_in_window: 0,
            ws_messages: 0,
            duplicates: 0,
            gaps: 0,
            last_seq: None,
            errors: Vec::new(),
            latency: histogram(),
            ack_latency: histogram(),
        }
    }
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: Option<u64>,
    id: Option<&'a str>,
    code: Option<&'a str>,
    data: Option<Data>,
    /// The frames of a `batch`.
    #[serde(borrow)]
    frames: Option<Vec<Frame<'a>>>,
}

#[derive(Deserialize)]
struct Data {
    /// Send time, µs since the generator started.
    t: u64,
}

struct Plan {
    args: Args,
    /// Send times in messages are µs since this instant (one clock for sender and receiver).
    start: Instant,
    prefix: String,
    /// How many connections publish (the first ones).
    publishers: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let code = match run(args).await {
        Ok(ok) => {
            if ok {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            2
        }
    };
    std::process::exit(code);
}

async fn run(args: Args) -> Result<bool, String> {
    let users = args.users.unwrap_or(args.conns).max(1);
    let publishers = args.publishers.unwrap_or(args.conns).min(args.conns);
    let prefix = args
        .room_prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{:x}", std::process::id() ^ (now_nanos() as u32)));
    let mut pids = args.server_pids.clone();
    if let Some(root) = args.server_of {
        for name in &args.server_names {
            pids.extend(proc_stats::descendants_named(root, name));
        }
    }
    // A process named twice (`--server-pid` and `--server-of`) counts once.
    pids.sort_unstable();
    pids.dedup();
    // Before any connection: the baseline for memory per connection.
    let rss_before = proc_stats::rss_bytes(&pids);
    let progress = if args.no_progress {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((args.warmup + args.duration) as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}s")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(format!("connecting {} sockets", args.conns));

    // Every connection opens and is welcomed before anyone publishes, so each must then see
    // every message of its room.
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let start = Instant::now();
    let plan = Arc::new(Plan {
        start,
        prefix,
        publishers,
        args: args.clone(),
    });
    let (go_tx, go_rx) = tokio::sync::watch::channel(None::<(Instant, Instant)>);
    let connect_started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.conns {
        let (plan, barrier, go) = (plan.clone(), barrier.clone(), go_rx.clone());
        let publishes = i < publishers;
        tasks.push(tokio::spawn(async move {
            connection(plan, i, i % users, publishes, barrier, go).await
        }));
    }
    barrier.wait().await;
    let connect_elapsed = connect_started.elapsed();
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let stop_at = measure_from + Duration::from_secs_f64(args.duration);
    let _ = go_tx.send(Some((measure_from, stop_at)));
    // The server's CPU over the measured window only, and its RSS at the end of it (before
    // the drain and before any socket closes).
    let usage = {
        let pids = pids.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let cpu_from = proc_stats::cpu_seconds(&pids);
            tokio::time::sleep_until(stop_at.into()).await;
            let cpu = proc_stats::cpu_seconds(&pids) - cpu_from;
            (cpu, proc_stats::rss_bytes(&pids))
        })
    };
    progress.set_message("publishing");
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.inc(1);
            }
        })
    };

    let mut reports = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => reports.push(r),
            Err(e) => return Err(format!("a connection task failed: {e}")),
        }
    }
    ticker.abort();
    progress.finish_and_clear();
    let (cpu, rss) = usage
        .await
        .map_err(|e| format!("the usage probe failed: {e}"))?;
    let mut summary = report::summarise(
        &args,
        users,
        publishers,
        &reports,
        connect_elapsed,
        cpu,
        rss,
        pids.len(),
    );
    summary.server_rss_before_bytes = rss_before;
    summary.server_rss_per_connection_bytes =
        rss.saturating_sub(rss_before) as f64 / args.conns.max(1) as f64;
    println!("{}", report::markdown(&summary));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(summary.lost == 0 && summary.duplicated == 0 && summary.errors.is_empty())
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn token(secret: &str, user: &str) -> Result<String, String> {
    let claims = edge_chat::auth::Claims {
        sub: user.to_owned(),
        exp: (now_nanos() / 1_000_000_000) as u64 + 3600,
        ..Default::default()
    };
    edge_chat::auth::issue_token(secret.as_bytes(), &claims).map_err(|e| e.to_string())
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One connection: connect, wait for everyone, publish (if a publisher) and verify what
/// arrives until the run ends and the last acks and deliveries have drained.
async fn connection(
    plan: Arc<Plan>,
    index: usize,
    user: usize,
    publishes: bool,
    barrier: Arc<Barrier>,
    mut go: tokio::sync::watch::Receiver<Option<(Instant, Instant)>>,
) -> ConnReport {
    let args = &plan.args;
    let room = index % args.rooms.max(1);
    let mut rep = ConnReport {
        room,
        ..ConnReport::default()
    };
    let url = args.urls[index % args.urls.len().max(1)].trim_end_matches('/');
    // http://h → ws://h, https://h → wss://h; ws:// and wss:// stay.
    let base = match url.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => url.to_owned(),
    };
    let t0 = Instant::now();
    let url = match token(&args.secret, &format!("user-{user}")) {
        Ok(t) => format!(
            "{base}/rooms/{}-{room}/ws?token={t}{}",
            plan.prefix,
            if args.batch { "&batch=1" } else { "" }
        ),
        Err(e) => {
            rep.errors.push(e);
            barrier.wait().await;
            return rep;
        }
    };
    let ws = match // Nagle off: small publishes must not wait for the previous one's ACK (delayed ACKs
    // put a ~40 ms floor under every latency otherwise).
    tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            rep.errors.push(format!("connect: {e}"));
            barrier.wait().await;
            return rep;
        }
    };
    let (mut tx, mut rx) = ws.split();
    // The first frame is `welcome`.
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"welcome\"") => {}
        other => rep.errors.push(format!("expected welcome, got {other:?}")),
    }
    rep.connect_ms = t0.elapsed().as_secs_f64() * 1000.0;
    barrier.wait().await;
    let window = match go.wait_for(|g| g.is_some()).await {
        Ok(g) => *g,
        Err(_) => None,
    };
    let Some((measure_from, stop_at)) = window else {
        return rep;
    };

    let pad = "x".repeat(args.payload.saturating_sub(24));
    // Outstanding publishes by number: an ack counts once, and only for one we sent.
    let mut sent_at = std::collections::HashMap::<u64, Instant>::new();
    let mut n: u64 = 0;
    let mut outstanding = 0usize;
    let publish = |n: u64| -> String {
        let t = plan.start.elapsed().as_micros() as u64;
        format!(r#"{{"type":"publish","data":{{"t":{t},"p":"{pad}"}},"id":"{index}-{n}"}}"#)
    };
    // Rate mode: each publisher's share of the total rate.
    let publishers = plan.publishers.max(1);
    let period = Duration::from_secs_f64(publishers as f64 / args.rate.max(0.001));
    // Publishers are spread evenly over the period: started in phase, they would all fire at
    // once and every "fixed rate" would really be a burst per period.
    let phase = period.mul_f64((index % publishers) as f64 / publishers as f64);
    let mut tick = tokio::time::interval_at(
        (measure_from - Duration::from_secs_f64(args.warmup) + phase).into(),
        period,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if publishes && matches!(args.mode, Mode::Closed) {
        for _ in 0..args.in_flight {
            sent_at.insert(n, Instant::now());
            if tx.send(Message::text(publish(n))).await.is_err() {
                break;
            }
            n += 1;
            outstanding += 1;
        }
    }
    // After the stop: wait for outstanding acks, then for a quiet second (no frame at all) for
    // the last deliveries: a loaded server may still be flushing other publishers' messages
    // to this socket long after this connection's own acks came back.
    let drain_deadline = stop_at + Duration::from_secs(10);
    let mut quiet_until = None::<Instant>;
    loop {
        let now = Instant::now();
        let publishing = publishes && now < stop_at;
        // Readers (and idle runs) stay until the end; then everyone drains.
        if now >= stop_at && outstanding == 0 && quiet_until.is_none() {
            quiet_until = Some(now + Duration::from_secs(1));
        }
        if quiet_until.is_some_and(|q| now >= q) || now >= drain_deadline {
            break;
        }
        let wake = quiet_until.unwrap_or(if now < stop_at {
            stop_at
        } else {
            drain_deadline
        });
        tokio::select! {
            _ = tick.tick(), if publishing && matches!(args.mode, Mode::Rate) => {
                sent_at.insert(n, Instant::now());
                if tx.send(Message::text(publish(n))).await.is_err() { break; }
                n += 1;
                outstanding += 1;
            }
            frame = rx.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if frame.is_none() || matches!(frame, Some(Err(_))) {
                        rep.errors.push("connection closed early".into());
                        break;
                    }
                    continue;
                };
                let arrived = Instant::now();
                rep.ws_messages += 1;
                if let Some(q) = quiet_until.as_mut() {
                    *q = arrived + Duration::from_secs(1);
                }
                let Ok(mut f) = serde_json::from_str::<Frame>(&text) else {
                    rep.errors.push(format!("unreadable frame: {}", &text[..text.len().min(80)]));
                    continue;
                };
                // A frame on its own, or the frames of a batch (no allocation for the former).
                let (single, batch) = match f.frames.take() {
                    Some(inner) if f.kind == "batch" => (None, inner),
                    _ => (Some(f), Vec::new()),
                };
                let mut closed = false;
                for f in single.into_iter().chain(batch) {
                match f.kind {
                    "message" => {
                        let Some(seq) = f.seq else { continue };
                        rep.received += 1;
                        match rep.last_seq {
                            Some(last) if seq <= last => rep.duplicates += 1,
                            Some(last) if seq > last + 1 => rep.gaps += seq - last - 1,
                            _ => {}
                        }
                        if rep.last_seq.is_none_or(|l| seq > l) { rep.last_seq = Some(seq); }
                        if arrived >= measure_from && arrived < stop_at {
                            rep.received_in_window += 1;
                            if let Some(d) = f.data {
                                let sent = plan.start + Duration::from_micros(d.t);
                                let us = arrived.saturating_duration_since(sent).as_micros() as u64;
                                let _ = rep.latency.record(us.max(1));
                            }
                        }
                    }
                    "ack" => {
                        let Some(k) = f.id.and_then(|id| id.rsplit('-').next()).and_then(|k| k.parse::<u64>().ok()) else { continue };
                        let Some(t) = sent_at.remove(&k) else { continue };
                        outstanding = outstanding.saturating_sub(1);
                        rep.acked += 1;
                        if arrived >= measure_from && arrived < stop_at {
                            rep.acked_in_window += 1;
                            let _ = rep.ack_latency.record((arrived - t).as_micros().max(1) as u64);
                        }
                        if publishes && matches!(args.mode, Mode::Closed) && arrived < stop_at {
                            sent_at.insert(n, Instant::now());
                            if tx.send(Message::text(publish(n))).await.is_err() { closed = true; break; }
                            n += 1;
                            outstanding += 1;
                        }
                    }
                    "error" => rep.errors.push(format!("error frame: {}", f.code.unwrap_or("?"))),
                    _ => {}
                }
                }
                if closed { break; }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    rep.published = n;
    let _ = tx.send(Message::Close(None)).await;
    rep
}
