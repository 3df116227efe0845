//! The run's summary: JSON for machines, a Markdown table row for people.

use crate::args::{Args, Mode};
use crate::connection::{histogram, ConnReport};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Serialize, Debug)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
        samples: h.len(),
    }
}

#[derive(Serialize, Debug)]
pub struct Summary {
    pub label: String,
    pub mode: Mode,
    pub rooms: usize,
    pub connections: usize,
    pub users: usize,
    pub publishers: usize,
    pub payload_bytes: usize,
    pub in_flight: usize,
    pub duration_s: f64,
    pub connections_per_s: f64,
    pub connect_p99_ms: f64,
    pub publishes: u64,
    pub acked: u64,
    pub delivered: u64,
    pub expected_deliveries: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Deliveries per second in the measured window (after the warm-up, before the stop).
    pub delivered_per_s: f64,
    /// Message deliveries per WebSocket message received (acks and other frames count in the
    /// denominator: below 1 without `--batch`, above 1 when the server coalesced).
    pub deliveries_per_ws_message: f64,
    /// Whether the connections took coalesced `batch` frames.
    pub batch: bool,
    /// Acked publishes per second per room.
    pub publishes_per_s_per_room: f64,
    pub latency: Percentiles,
    pub ack_latency: Percentiles,
    pub server_processes: usize,
    /// The server's CPU seconds in the measured window, and per million deliveries in it.
    pub server_cpu_s: f64,
    pub server_cpu_s_per_million_deliveries: Option<f64>,
    /// The server's RSS at the end of the measured window (before the drain and the closes).
    pub server_rss_bytes: u64,
    /// RSS before the first connection opened.
    pub server_rss_before_bytes: u64,
    /// (RSS at the end − RSS before) / connections: with `--publishers 0` and a duration past
    /// the hibernation timeout, the memory an idle, hibernated connection costs.
    pub server_rss_per_connection_bytes: f64,
    /// The server's CPU seconds while the connections opened (from the first connect to the
    /// last welcome), per connection, in milliseconds: what a connect costs the server.
    pub server_cpu_ms_per_connect: f64,
    /// Connections that never got their `welcome` (refused, reset, or anything else).
    pub failed_connections: usize,
    /// `--chatty`: typing and read frames the connections sent, and received from the server.
    pub chatty: bool,
    pub chat_frames_sent: u64,
    pub chat_frames_received: u64,
    /// Of those, the `read` frames (receipts, for those received), and the model of the reads:
    /// at most one per connection per this many ms (0: `--read-every-message`).
    pub read_frames_sent: u64,
    pub read_frames_received: u64,
    pub read_interval_ms: u64,
    /// The end of run (bench/src/drain.rs): deliveries that came after a connection had been
    /// silent for a second after its own acks — counted missing by the quiet-second end of run
    /// used before —, and the longest such silence.
    pub late_deliveries: u64,
    pub drain_longest_gap_ms: f64,
    pub errors: Vec<String>,
}

/// Every connection's histograms merged, and who was in which room and what it acked.
struct Merged {
    latency: Histogram<u64>,
    ack_latency: Histogram<u64>,
    connect: Histogram<u64>,
    /// Connections per room.
    members: BTreeMap<usize, u64>,
    acked_per_room: BTreeMap<usize, u64>,
    errors: Vec<String>,
}

fn merge(reports: &[ConnReport]) -> Merged {
    let mut m = Merged {
        latency: histogram(),
        ack_latency: histogram(),
        connect: histogram(),
        members: BTreeMap::new(),
        acked_per_room: BTreeMap::new(),
        errors: Vec::new(),
    };
    for r in reports {
        let _ = m.latency.add(&r.latency);
        let _ = m.ack_latency.add(&r.ack_latency);
        let _ = m.connect.record((r.connect_ms * 1000.0).max(1.0) as u64);
        *m.members.entry(r.room).or_default() += 1;
        *m.acked_per_room.entry(r.room).or_default() += r.acked;
        m.errors.extend(r.errors.iter().cloned());
    }
    m
}

/// Every connection of a room must receive every message acked in that room.
fn expected_deliveries(m: &Merged) -> u64 {
    m.acked_per_room
        .iter()
        .map(|(room, acked)| acked * m.members.get(room).copied().unwrap_or(0))
        .sum()
}

/// Counted per connection, so that a duplicate cannot hide a loss, nor one connection's extra
/// copies another's missing ones: what it should have had, minus the distinct messages it got
/// (or the holes in its seqs, if that says more).
fn lost(reports: &[ConnReport], acked_per_room: &BTreeMap<usize, u64>) -> u64 {
    reports
        .iter()
        .map(|r| {
            let should = acked_per_room.get(&r.room).copied().unwrap_or(0);
            should
                .saturating_sub(r.received.saturating_sub(r.duplicates))
                .max(r.gaps)
        })
        .sum()
}

#[allow(clippy::too_many_arguments)]
pub fn summarise(
    args: &Args,
    users: usize,
    publishers: usize,
    reports: &[ConnReport],
    connect_elapsed: Duration,
    cpu_s: f64,
    rss: u64,
    server_processes: usize,
) -> Summary {
    let merged = merge(reports);
    let sum = |field: fn(&ConnReport) -> u64| -> u64 { reports.iter().map(field).sum() };
    let delivered = sum(|r| r.received);
    let window = args.duration.max(1e-9);
    let delivered_in_window = sum(|r| r.received_in_window);
    Summary {
        label: args.label.clone(),
        mode: args.mode,
        rooms: args.rooms,
        connections: args.conns,
        users,
        publishers,
        payload_bytes: args.payload,
        in_flight: args.in_flight,
        duration_s: args.duration,
        connections_per_s: args.conns as f64 / connect_elapsed.as_secs_f64().max(1e-9),
        connect_p99_ms: merged.connect.value_at_quantile(0.99) as f64 / 1000.0,
        publishes: sum(|r| r.published),
        acked: sum(|r| r.acked),
        delivered,
        expected_deliveries: expected_deliveries(&merged),
        lost: lost(reports, &merged.acked_per_room),
        duplicated: sum(|r| r.duplicates),
        delivered_per_s: delivered_in_window as f64 / window,
        deliveries_per_ws_message: delivered as f64 / sum(|r| r.ws_messages).max(1) as f64,
        batch: args.batch,
        publishes_per_s_per_room: sum(|r| r.acked_in_window) as f64
            / window
            / args.rooms.max(1) as f64,
        latency: percentiles(&merged.latency),
        ack_latency: percentiles(&merged.ack_latency),
        server_processes,
        server_cpu_s: cpu_s,
        server_cpu_s_per_million_deliveries: (server_processes > 0 && delivered_in_window > 0)
            .then(|| cpu_s / delivered_in_window as f64 * 1e6),
        server_rss_bytes: rss,
        server_rss_before_bytes: 0,
        server_rss_per_connection_bytes: 0.0,
        server_cpu_ms_per_connect: 0.0,
        failed_connections: 0,
        chatty: args.chatty,
        chat_frames_sent: sum(|r| r.chat_sent),
        chat_frames_received: sum(|r| r.chat_received),
        read_frames_sent: sum(|r| r.reads_sent),
        read_frames_received: sum(|r| r.reads_received),
        read_interval_ms: args.read_every().as_millis() as u64,
        late_deliveries: sum(|r| r.late),
        drain_longest_gap_ms: reports
            .iter()
            .map(|r| r.drain_gap.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
        errors: merged.errors,
    }
}

/// A Markdown table (header + one row).
pub fn markdown(s: &Summary) -> String {
    let cpu = s
        .server_cpu_s_per_million_deliveries
        .map_or("–".to_owned(), |c| format!("{c:.1}"));
    format!(
        "| peer | rooms×conns | payload | delivered/s | publishes/s/room | p50 | p99 | p99.9 | ack p99 | conn/s | connect p99 | CPU s/M deliveries | RSS MiB | lost | dup |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {} | {}×{} | {} B | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} | {:.1} ms | {} | {:.1} | {} | {} |",
        s.label,
        s.rooms,
        s.connections,
        s.payload_bytes,
        s.delivered_per_s,
        s.publishes_per_s_per_room,
        s.latency.p50_ms,
        s.latency.p99_ms,
        s.latency.p999_ms,
        s.ack_latency.p99_ms,
        s.connections_per_s,
        s.connect_p99_ms,
        cpu,
        s.server_rss_bytes as f64 / 1048576.0,
        s.lost,
        s.duplicated,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn conn(room: usize, acked: u64, received: u64, gaps: u64, duplicates: u64) -> ConnReport {
        ConnReport {
            room,
            acked,
            received,
            gaps,
            duplicates,
            ..ConnReport::default()
        }
    }

    fn summary(reports: &[ConnReport]) -> Summary {
        let args = Args::parse_from(["loadgen", "--rooms", "2", "--conns", "4"]);
        summarise(&args, 4, 4, reports, Duration::from_secs(1), 0.0, 0, 0)
    }

    #[test]
    fn a_complete_run_has_no_loss() {
        // Room 0: 2 members, 3 acked in total → 6 deliveries expected.
        let s = summary(&[
            conn(0, 2, 3, 0, 0),
            conn(0, 1, 3, 0, 0),
            conn(1, 5, 5, 0, 0),
        ]);
        assert_eq!(
            (s.expected_deliveries, s.delivered, s.lost, s.duplicated),
            (11, 11, 0, 0)
        );
    }

    #[test]
    fn missing_and_repeated_deliveries_are_counted() {
        let s = summary(&[conn(0, 2, 3, 0, 0), conn(0, 1, 2, 1, 0)]);
        assert_eq!(s.lost, 1);
        // Two copies of one message and none of the other: one duplicate that must not hide
        // the loss.
        let s = summary(&[conn(0, 2, 2, 0, 1)]);
        assert_eq!((s.duplicated, s.lost), (1, 1));
        // One connection's extra copy does not make up for another's missing message.
        let s = summary(&[conn(0, 1, 2, 0, 1), conn(0, 0, 0, 0, 0)]);
        assert_eq!((s.duplicated, s.lost), (1, 1));
    }
}
