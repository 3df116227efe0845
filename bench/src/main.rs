//! `loadgen`: opens N connections across R rooms for U users, publishes in closed-loop rounds
//! (maximum throughput) or at a fixed arrival rate (latency), verifies every delivery (count,
//! per-room order, no duplicate) and reports throughput, HDR latency percentiles and the
//! server's CPU seconds and RSS. A run that loses or duplicates anything exits non-zero.
//!
//! ```text
//! loadgen --url ws://127.0.0.1:8787 --rooms 1 --conns 64 --in-flight 4 --duration 5
//! ```

mod args;
mod chatty;
mod connection;
mod drain;
mod plan;
mod proc_stats;
mod publisher;
mod report;
mod tokens;

use args::Args;
use clap::Parser;
use connection::{connection, ConnReport};
use indicatif::{ProgressBar, ProgressStyle};
use plan::{Plan, Window};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Barrier};
use tokio::task::JoinHandle;

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

/// The whole run; `Ok(false)` when anything was lost or duplicated or a connection failed.
async fn run(args: Args) -> Result<bool, String> {
    let users = args.users.unwrap_or(args.conns).max(1);
    let publishers = args.publishers.unwrap_or(args.conns).min(args.conns);
    let prefix = args
        .room_prefix
        .clone()
        .unwrap_or_else(plan::random_room_prefix);
    let pids = server_pids(&args);
    // Before any connection: the baseline for memory per connection.
    let rss_before = proc_stats::rss_bytes(&pids);
    let progress = progress_bar(&args);

    // Every connection opens and is welcomed before anyone publishes, so each must then see
    // every message of its room.
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let tokens = tokens::Tokens::new(&args, users)?;
    let plan = Arc::new(Plan {
        start: Instant::now(),
        prefix,
        publishers,
        publisher_stride: plan::publisher_stride(args.conns, publishers, args.spread_publishers),
        tokens,
        tally: drain::Tally::new(args.rooms, args.conns),
        opening: (args.connect_concurrency > 0)
            .then(|| tokio::sync::Semaphore::new(args.connect_concurrency)),
        args: args.clone(),
    });
    let (go_tx, go_rx) = watch::channel(None::<Window>);
    let connect_started = Instant::now();
    let cpu_before_connect = proc_stats::cpu_seconds(&pids);
    let tasks = spawn_connections(&plan, users, &barrier, &go_rx);
    barrier.wait().await;
    let connect_elapsed = connect_started.elapsed();
    let connect_cpu_s = proc_stats::cpu_seconds(&pids) - cpu_before_connect;
    let window = Window::after_warmup(&args);
    let _ = go_tx.send(Some(window));
    let usage = probe_server_usage(pids.clone(), window);
    progress.set_message("publishing");
    let ticker = tick_every_second(progress.clone());

    let reports = join_connections(tasks).await?;
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
    summary.server_cpu_ms_per_connect = connect_cpu_s * 1000.0 / args.conns.max(1) as f64;
    summary.failed_connections = reports.iter().filter(|r| r.failed_to_connect()).count();
    write_summary(&args, summary, rss_before)
}

/// The server's processes: `--server-pid`s and the `--server-name`s under `--server-of`.
fn server_pids(args: &Args) -> Vec<u32> {
    let mut pids = args.server_pids.clone();
    if let Some(root) = args.server_of {
        for name in &args.server_names {
            pids.extend(proc_stats::descendants_named(root, name));
        }
    }
    // A process named twice (`--server-pid` and `--server-of`) counts once.
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Seconds of the run so far, on stderr (hidden with `--no-progress`).
fn progress_bar(args: &Args) -> ProgressBar {
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
    progress
}

fn spawn_connections(
    plan: &Arc<Plan>,
    users: usize,
    barrier: &Arc<Barrier>,
    go: &plan::Go,
) -> Vec<JoinHandle<ConnReport>> {
    (0..plan.args.conns)
        .map(|i| {
            let (plan, barrier, go) = (plan.clone(), barrier.clone(), go.clone());
            let publishes = plan.publishes(i);
            tokio::spawn(
                async move { connection(plan, i, i % users, publishes, barrier, go).await },
            )
        })
        .collect()
}

/// The server's CPU seconds over the measured window only, and its RSS at the end of it
/// (before the drain and before any socket closes).
fn probe_server_usage(pids: Vec<u32>, window: Window) -> JoinHandle<(f64, u64)> {
    tokio::spawn(async move {
        tokio::time::sleep_until(window.measure_from.into()).await;
        let cpu_from = proc_stats::cpu_seconds(&pids);
        tokio::time::sleep_until(window.stop_at.into()).await;
        let cpu = proc_stats::cpu_seconds(&pids) - cpu_from;
        (cpu, proc_stats::rss_bytes(&pids))
    })
}

fn tick_every_second(progress: ProgressBar) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            progress.inc(1);
        }
    })
}

async fn join_connections(tasks: Vec<JoinHandle<ConnReport>>) -> Result<Vec<ConnReport>, String> {
    let mut reports = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => reports.push(r),
            Err(e) => return Err(format!("a connection task failed: {e}")),
        }
    }
    Ok(reports)
}

/// Prints the summary's table, writes its JSON (`--json`), and says whether the run was clean.
fn write_summary(
    args: &Args,
    mut summary: report::Summary,
    rss_before: u64,
) -> Result<bool, String> {
    summary.server_rss_before_bytes = rss_before;
    summary.server_rss_per_connection_bytes =
        summary.server_rss_bytes.saturating_sub(rss_before) as f64 / args.conns.max(1) as f64;
    println!("{}", report::markdown(&summary));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(summary.lost == 0 && summary.duplicated == 0 && summary.errors.is_empty())
}
