//! Byte-for-byte reports of the lab fixtures, checked against the copies in
//! `tests/data/golden/`. A restructure must leave them identical; a change
//! of behaviour updates them on purpose with `NAGLE_BLESS=1 cargo test
//! --test golden`, and the diff of those files is then part of the review.
//! (`scripts/golden.sh` does the same for the public corpus and the
//! benchmark capture.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The report of one invocation, as the binary prints it.
fn run(args: &[String]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run nagle-analyze");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn check(name: &str, got: &[u8]) -> Option<String> {
    let path = root().join("tests/data/golden").join(name);
    if std::env::var_os("NAGLE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return None;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (NAGLE_BLESS=1 writes it)", path.display()));
    (want != got).then(|| {
        let line = want
            .split(|&b| b == b'\n')
            .zip(got.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1);
        format!(
            "{name}: differs from {} (first at line {line})",
            path.display()
        )
    })
}

#[test]
fn fixture_reports_are_unchanged() {
    let mut failures = Vec::new();
    let fixtures = Path::new("fixtures/lab");
    let mut names: Vec<String> = std::fs::read_dir(root().join(fixtures))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 4, "lab fixtures missing: {names:?}");
    for name in &names {
        let cap = fixtures
            .join(name)
            .join("capture.pcap")
            .display()
            .to_string();
        let log = fixtures
            .join(name)
            .join("writes.jsonl")
            .display()
            .to_string();
        let variants: [(&str, Vec<String>); 3] = [
            ("plain", vec![cap.clone()]),
            ("log", vec![cap.clone(), "--writes".into(), log]),
            ("ws4", vec![cap, "--write-size".into(), "4".into()]),
        ];
        for (variant, args) in variants {
            for (ext, fmt) in [("txt", "text"), ("json", "json"), ("csv", "csv")] {
                let mut a = args.clone();
                a.extend(["--format".to_string(), fmt.to_string()]);
                let got = run(&a);
                failures.extend(check(&format!("{name}-{variant}.{ext}"), &got));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
