//! Crash reproducers found by the fuzzers (`fuzz/`), replayed through the
//! very same target bodies (`fuzz/src/targets.rs`, included below). Each
//! file under `tests/data/fuzz/<target>/` is one input that once panicked,
//! hung or blew up memory; its name says what it was.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        eprintln!("replaying {}", p.display());
        run(&data);
        n += 1;
    }
    eprintln!("{target}: {n} reproducer(s)");
}

#[test]
fn capture_reader_reproducers() {
    replay("capture_reader", targets::capture_reader::capture_reader);
}

#[test]
fn decode_frame_reproducers() {
    replay("decode_frame", targets::decode_frame::decode_frame);
}

#[test]
fn flow_analysis_reproducers() {
    replay("flow_analysis", targets::flow_analysis::flow_analysis);
}
