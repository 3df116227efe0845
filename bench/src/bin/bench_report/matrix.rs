//! The matrix results as `bench/scripts/matrix.mjs` writes them, and the questions the report
//! asks of them.

use crate::stats::{stat, Stat};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub struct Matrix {
    pub started: String,
    pub machine: String,
    pub runs_per_cell: usize,
    pub seconds_per_run: f64,
    pub cells: Vec<Cell>,
    pub peers: Vec<Peer>,
    pub runs: Vec<Run>,
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub scenarios: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
pub struct Cell {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub factor: String,
}

#[derive(Deserialize)]
pub struct Peer {
    pub id: String,
    pub label: String,
}

#[derive(Deserialize)]
pub struct Run {
    pub cell: String,
    pub peer: String,
    #[serde(default)]
    pub summary: Option<Value>,
    #[serde(default)]
    pub failed: Option<String>,
}

#[derive(Deserialize)]
pub struct Latency {
    /// Publishes per second offered to every peer (half the JS twin's measured maximum).
    pub rate: f64,
    pub basis: String,
    pub runs: Vec<Run>,
}

/// A number in a run's summary, by its path of keys.
pub fn metric(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

/// Runs of one cell and peer.
pub fn runs_of<'a>(runs: &'a [Run], cell: &'a str, peer: &'a str) -> impl Iterator<Item = &'a Run> {
    runs.iter()
        .filter(move |r| r.cell == cell && r.peer == peer)
}

pub fn stat_of(runs: &[Run], cell: &str, peer: &str, path: &[&str]) -> Option<Stat> {
    stat(
        runs_of(runs, cell, peer)
            .filter_map(|r| r.summary.as_ref().and_then(|s| metric(s, path)))
            .collect(),
    )
}

impl Matrix {
    /// Delivered messages per second of `peer` in `cell` (closed loop).
    pub fn delivered(&self, cell: &str, peer: &str) -> Option<Stat> {
        stat_of(&self.runs, cell, peer, &["delivered_per_s"])
    }

    /// The p99 latency of `peer` at the fixed arrival rate, if the matrix measured it.
    pub fn latency_p99(&self, peer: &str) -> Option<Stat> {
        let l = self.latency.as_ref()?;
        stat_of(&l.runs, "latency", peer, &["latency", "p99_ms"])
    }

    /// Over every run (matrix and latency): the deliveries that came after a connection had
    /// been silent for a second after its own acks (bench/src/drain.rs), and the longest such
    /// silence in ms.
    pub fn late(&self) -> (f64, f64) {
        let latency = self.latency.iter().flat_map(|l| l.runs.iter());
        let summaries: Vec<&Value> = self
            .runs
            .iter()
            .chain(latency)
            .filter_map(|r| r.summary.as_ref())
            .collect();
        let late = summaries
            .iter()
            .filter_map(|s| metric(s, &["late_deliveries"]));
        let gap = summaries
            .iter()
            .filter_map(|s| metric(s, &["drain_longest_gap_ms"]));
        (late.sum(), gap.fold(0.0, f64::max))
    }

    /// Lost + duplicated messages over every run of `peer` (matrix and latency runs).
    pub fn damage(&self, peer: &str) -> f64 {
        let latency = self.latency.iter().flat_map(|l| l.runs.iter());
        self.runs
            .iter()
            .chain(latency)
            .filter(|r| r.peer == peer)
            .filter_map(|r| r.summary.as_ref())
            .map(|s| {
                metric(s, &["lost"]).unwrap_or(0.0) + metric(s, &["duplicated"]).unwrap_or(0.0)
            })
            .sum()
    }
}
