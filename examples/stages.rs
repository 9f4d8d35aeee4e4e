//! Times the pipeline's stages on one capture (for profiling; the benchmark
//! proper is scripts/bench.sh): read only, read + decode, full analysis
//! without rendering, and the JSON rendering into memory.
use nagle_analyze::{capture, decode, pipeline, render};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: stages CAPTURE [stage]");
    let which = std::env::args().nth(2).unwrap_or_else(|| "all".into());
    let run = |s: &str| which == "all" || which == s;
    if run("read") {
        let t = Instant::now();
        let mut bytes = 0u64;
        let info = capture::file::read_path(&path, None, &mut |f| bytes += f.data.len() as u64)?;
        println!(
            "read          {:7.3} s  {} frames",
            t.elapsed().as_secs_f64(),
            info.frames
        );
    }
    if run("decode") {
        let t = Instant::now();
        let mut n = 0u64;
        capture::file::read_path(&path, None, &mut |f| {
            if decode::decode(f).is_ok() {
                n += 1
            }
        })?;
        println!(
            "read+decode   {:7.3} s  {n} segments",
            t.elapsed().as_secs_f64()
        );
    }
    if run("analyze") || run("render") {
        let t = Instant::now();
        let r = pipeline::analyze_files(std::slice::from_ref(&path), &pipeline::Config::default())?;
        println!(
            "analyze       {:7.3} s  {} flows",
            t.elapsed().as_secs_f64(),
            r.flows.len()
        );
        let t = Instant::now();
        let mut out = Vec::new();
        render::render(&r, render::Format::Json, &mut out)?;
        println!(
            "render json   {:7.3} s  {} bytes",
            t.elapsed().as_secs_f64(),
            out.len()
        );
    }
    Ok(())
}
