//! The throughput chart: grouped bars, log scale, one group per cell and one bar per peer
//! (the median), with a line for the range.

use crate::matrix::{metric, stat_of, Matrix, Peer};
use crate::stats::human;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::PathBuf;

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

const COLORS: [RGBColor; 5] = [
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0x66, 0x66, 0x66),
    RGBColor(0xe7, 0x29, 0x8a),
];

/// Draws the chart of `m` into the SVG file at `path`.
pub fn chart(m: &Matrix, path: &PathBuf) -> Result<(), String> {
    let width = 160 * m.cells.len() as u32 + 200;
    let root = SVGBackend::new(path, (width.max(900), 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut ctx = axes(&root, m)?;
    let bar = 0.8 / m.peers.len().max(1) as f64;
    for (pi, p) in m.peers.iter().enumerate() {
        draw_peer(&mut ctx, m, pi, p, bar)?;
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// The highest delivered/s of any run, and at least 10k: the scale ends 8× above it.
fn highest_rate(m: &Matrix) -> f64 {
    let mut top: f64 = 10_000.0;
    for r in &m.runs {
        if let Some(v) = r
            .summary
            .as_ref()
            .and_then(|s| metric(s, &["delivered_per_s"]))
        {
            top = top.max(v);
        }
    }
    top
}

/// The caption and the axes: cells along x (a label under the middle of each group),
/// delivered/s on a log scale from 1,000.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    m: &Matrix,
) -> Result<Chart<'a, 'b>, String> {
    let groups = m.cells.len();
    let mut ctx = ChartBuilder::on(root)
        .caption(
            "Messages delivered per second (median of runs; log scale)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0f64..groups as f64,
            (1_000f64..highest_rate(m) * 8.0).log_scale(),
        )
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = m.cells.iter().map(|c| c.name.clone()).collect();
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(groups * 2 + 1)
        .x_label_formatter(&|x| {
            let i = (*x - 0.5).round();
            if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| human(*y))
        .y_desc("delivered/s")
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(ctx)
}

/// The `pi`-th peer's bar in every cell it has results for, their range lines, and its legend
/// entry.
fn draw_peer(ctx: &mut Chart, m: &Matrix, pi: usize, p: &Peer, bar: f64) -> Result<(), String> {
    let color = COLORS[pi % COLORS.len()];
    let mut bars = Vec::new();
    let mut ranges = Vec::new();
    for (ci, c) in m.cells.iter().enumerate() {
        let Some(s) = stat_of(&m.runs, &c.id, &p.id, &["delivered_per_s"]) else {
            continue;
        };
        let x0 = ci as f64 + 0.1 + pi as f64 * bar;
        bars.push(Rectangle::new(
            [(x0, 1_000.0), (x0 + bar * 0.9, s.median.max(1_000.0))],
            color.filled(),
        ));
        let xm = x0 + bar * 0.45;
        ranges.push(PathElement::new(
            vec![(xm, s.min.max(1_000.0)), (xm, s.max.max(1_000.0))],
            BLACK.stroke_width(1),
        ));
    }
    ctx.draw_series(bars)
        .map_err(|e| e.to_string())?
        .label(p.label.replace('`', ""))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    ctx.draw_series(ranges).map_err(|e| e.to_string())?;
    Ok(())
}
