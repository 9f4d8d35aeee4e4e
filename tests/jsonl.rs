//! `--format jsonl` end to end: one object per flow per line, then one
//! summary line; and the README's DuckDB query over the JSON lines of two
//! runs, with the `duckdb` Python package. Without the package the DuckDB
//! test prints why it skips, unless `NAGLE_NEED_DUCKDB=1` (set by `.ci/run`
//! and `scripts/test.sh` after installing it): then it fails.

use std::process::Command;

fn fixture(name: &str) -> String {
    format!(
        "{}/fixtures/lab/{name}/capture.pcap",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn jsonl(inputs: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
        .args(inputs)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn one_line_per_flow_then_a_summary() {
    let (a, b) = (fixture("reqresp-rtt20"), fixture("nagle-on-rtt20-int1"));
    let out = jsonl(&[&a, &b]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "two flows and a summary:\n{out}");
    for (l, path) in lines[..2].iter().zip([&a, &b]) {
        assert_eq!(l["type"], "flow");
        assert_eq!(l["capture_path"], path.as_str());
        assert!(l["directions"].is_array());
    }
    let s = &lines[2];
    assert_eq!(s["type"], "summary");
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["captures"].as_array().unwrap().len(), 2);
    // The flows are the JSON document's flows, field for field.
    let doc: serde_json::Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
            .args([&a, &b, "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut first = lines[0].clone();
    let m = first.as_object_mut().unwrap();
    m.remove("type");
    m.remove("capture_path");
    assert_eq!(first, doc["flows"][0]);
}

/// The README's query (section "JSON lines").
const QUERY: &str = "
SELECT capture_path, count(*) AS directions,
       round(sum(d.stalls.total_ms), 1) AS stall_ms,
       list(DISTINCT d.nagle.verdict ORDER BY d.nagle.verdict) AS verdicts
FROM (SELECT capture_path, unnest(directions) AS d
      FROM read_json_auto('DIR/*.jsonl', union_by_name = true)
      WHERE type = 'flow')
WHERE d.data_segments > 0
GROUP BY capture_path ORDER BY stall_ms DESC, capture_path";

#[test]
fn duckdb_reads_the_json_lines_of_several_captures() {
    let have = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var_os("NAGLE_NEED_DUCKDB").is_none(),
            "NAGLE_NEED_DUCKDB is set but python3 cannot import duckdb (pip install duckdb)"
        );
        eprintln!("skipped: python3 cannot import duckdb (pip install duckdb)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nagle-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (r, n, o) = (
        fixture("reqresp-rtt20"),
        fixture("nagle-on-rtt20-int1"),
        fixture("nodelay-rtt20-int1"),
    );
    std::fs::write(dir.join("a.jsonl"), jsonl(&[&r])).unwrap();
    std::fs::write(dir.join("b.jsonl"), jsonl(&[&n, &o])).unwrap();
    let query = QUERY.replace("DIR", dir.to_str().unwrap());
    let py = format!(
        "import duckdb, json\nfor r in duckdb.sql({query:?}).fetchall(): print(json.dumps(r))"
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0][0],
        r.as_str(),
        "the stalled request/response run first"
    );
    assert!(rows[0][2].as_f64().unwrap() > 100.0, "{rows:?}");
    let verdicts: Vec<&serde_json::Value> = rows.iter().map(|r| &r[3]).collect();
    assert!(
        verdicts.contains(&&serde_json::json!(["off"])),
        "{verdicts:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
