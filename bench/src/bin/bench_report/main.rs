//! `bench-report`: turns the matrix results (`bench/results/matrix.json`, written by
//! `bench/scripts/matrix.mjs`) into the Markdown tables and the chart of `docs/benchmarks.md`.
//!
//! ```text
//! bench-report bench/results/matrix.json --doc docs/benchmarks.md --svg docs/benchmarks-throughput.svg
//! ```
//!
//! Only the part of the document between `<!-- bench:matrix:begin -->` and
//! `<!-- bench:matrix:end -->` is replaced (the markers are appended if missing), so the
//! hand-written analysis around it survives a re-run. Every figure is a median over the runs
//! of one cell, next to its range, because one run on a shared 2-core machine proves little.

mod chart;
mod markdown;
mod matrix;
mod stats;

use matrix::Matrix;
use std::path::PathBuf;

const BEGIN: &str = "<!-- bench:matrix:begin -->";
const END: &str = "<!-- bench:matrix:end -->";

/// The command line: the results file, and where the section and the chart go.
struct Options {
    input: PathBuf,
    /// The document whose generated section is replaced; without it, the section is printed.
    doc: Option<PathBuf>,
    svg: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Options {
    let mut opts = Options {
        input: PathBuf::from("bench/results/matrix.json"),
        doc: None,
        svg: None,
    };
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--doc" => {
                opts.doc = args.get(i + 1).map(PathBuf::from);
                i += 1;
            }
            "--svg" => {
                opts.svg = args.get(i + 1).map(PathBuf::from);
                i += 1;
            }
            other => opts.input = PathBuf::from(other),
        }
        i += 1;
    }
    opts
}

fn run(opts: &Options) -> Result<(), String> {
    let input = &opts.input;
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let m: Matrix = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", input.display()))?;
    // The section links the chart by its file name: the chart sits next to the document.
    let chart_name = opts
        .svg
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or("benchmarks-throughput.svg".into(), |n| {
            n.to_string_lossy().into_owned()
        });
    let section = markdown::markdown(&m, &chart_name);
    if let Some(svg) = &opts.svg {
        chart::chart(&m, svg)?;
    }
    match &opts.doc {
        Some(doc) => {
            let old = std::fs::read_to_string(doc).unwrap_or_default();
            std::fs::write(doc, splice(&old, &section))
                .map_err(|e| format!("{}: {e}", doc.display()))?;
        }
        None => println!("{section}"),
    }
    Ok(())
}

/// Replaces the generated section of `doc` (or appends it).
fn splice(doc: &str, section: &str) -> String {
    let block = format!("{BEGIN}\n{section}\n{END}");
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{}{}", &doc[..b], block, &doc[e + END.len()..]),
        _ => format!("{}\n\n{}\n", doc.trim_end(), block),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&parse_args(&args)) {
        eprintln!("bench-report: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix::{Cell, Latency, Peer, Run};
    use std::collections::BTreeMap;

    #[test]
    fn splicing_replaces_only_the_generated_section() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        let new = splice(&doc, "new");
        assert_eq!(new, format!("intro\n{BEGIN}\nnew\n{END}\noutro\n"));
        let appended = splice("just text\n", "gen");
        assert!(appended.starts_with("just text\n\n") && appended.contains("gen"));
    }

    #[test]
    fn a_small_matrix_renders_tables_and_a_chart() {
        let run_lost = |cell: &str, peer: &str, d: f64, p99: f64, lost: u64| Run {
            cell: cell.into(),
            peer: peer.into(),
            summary: Some(serde_json::json!({
                "delivered_per_s": d, "lost": lost, "duplicated": 0,
                "server_cpu_s_per_million_deliveries": 10.0,
                "latency": {"p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": p99, "p999_ms": 4.0}
            })),
            failed: None,
        };
        let run = |cell: &str, peer: &str, d: f64| run_lost(cell, peer, d, 3.0, 0);
        let m = Matrix {
            started: "now".into(),
            machine: "test".into(),
            runs_per_cell: 1,
            seconds_per_run: 1.0,
            cells: vec![Cell {
                id: "base".into(),
                name: "1 room × 64".into(),
                factor: "base".into(),
            }],
            peers: ["rust-batch", "rust", "js", "fastapi"]
                .iter()
                .map(|p| Peer {
                    id: p.to_string(),
                    label: p.to_string(),
                })
                .collect(),
            runs: vec![
                run("base", "rust-batch", 400_000.0),
                run("base", "rust", 80_000.0),
                run("base", "js", 40_000.0),
                run("base", "fastapi", 50_000.0),
            ],
            latency: Some(Latency {
                rate: 100.0,
                basis: "test".into(),
                runs: vec![
                    run_lost("latency", "rust-batch", 1.0, 2.0, 0),
                    // A loss in the v1 peer's latency run, and one in the twin's.
                    run_lost("latency", "rust", 1.0, 6.0, 2),
                    run_lost("latency", "js", 1.0, 5.0, 1),
                ],
            }),
            scenarios: BTreeMap::new(),
        };
        let md = markdown::markdown(&m, "chart.svg");
        assert!(md.contains("| 1 room × 64 | **400.0k**"), "{md}");
        assert!(md.contains("10.00×"), "{md}");
        assert!(
            md.contains("| delivered/s ≥ 2× the JS twin | **met** (10.00×) | **met** (2.00×) |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| delivered/s ahead of FastAPI + Redis | **met** (8.00×) | **met** (1.60×) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("≤ 0.5× the twin's | **met** (0.40×) | **not met** (1.20×) |"),
            "{md}"
        );
        // Losses count for the peer that had them, over matrix and latency runs alike.
        assert!(
            md.contains("| 0 lost, 0 duplicated | **met** | **not met** |"),
            "{md}"
        );
        assert!(md.contains("(matrix and latency): **3**"), "{md}");
        let svg = std::env::temp_dir().join(format!("bench-report-{}.svg", std::process::id()));
        chart::chart(&m, &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("rect"));
        let _ = std::fs::remove_file(svg);
    }
}
