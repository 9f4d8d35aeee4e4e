//! Redraws `docs/sweep.png` from the lab sweep measured for the README
//! (2026-11-22; the table in the README's "The lab" section): aggregated
//! writes = 1000 writes − data segments. Run: `cargo run --release --example
//! readme_sweep -- docs/sweep.png`.

use nagle_analyze::render::charts::{self, SweepPoint};

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/sweep.png".into());
    // (RTT ms, interval ms, data segments, writes per segment, TCP_NODELAY)
    let rows: [(f64, f64, u64, f64, bool); 13] = [
        (40.0, 0.1, 6, 166.7, false),
        (40.0, 0.5, 14, 71.4, false),
        (40.0, 1.0, 26, 38.5, false),
        (40.0, 2.0, 51, 19.6, false),
        (40.0, 5.0, 125, 8.0, false),
        (40.0, 10.0, 247, 4.05, false),
        (40.0, 50.0, 1000, 1.0, false),
        (40.0, 0.1, 71, 14.1, true),
        (40.0, 1.0, 950, 1.05, true),
        (40.0, 10.0, 1000, 1.0, true),
        (0.5, 0.1, 130, 7.7, false),
        (0.5, 1.0, 979, 1.02, false),
        (0.5, 10.0, 1000, 1.0, false),
    ];
    let points: Vec<SweepPoint> = rows
        .iter()
        .map(
            |&(rtt_ms, interval_ms, segs, mean_wps, nodelay)| SweepPoint {
                rtt_ms,
                interval_ms,
                aggregated: 1000 - segs,
                mean_wps,
                nodelay,
            },
        )
        .collect();
    charts::sweep_chart(&points, charts::sweep::YAxis::Auto).write_png(std::path::Path::new(&out))
}
