//! Issue 17's command-line habits end to end: tcpdump's `-r FILE` with a
//! trailing filter, a filter written where files go, no arguments, `--flow`
//! in every output, charts that leave standard output alone, one duration
//! grammar and one flag vocabulary across commands.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two flows: one to port 5001 (the lab's request/response), one on the
/// lab's Nagle-on run; both files in the repository.
fn fixture(name: &str) -> String {
    format!(
        "{}/fixtures/lab/{name}/capture.pcap",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nagle-habits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("JSON")
}

#[test]
fn no_arguments_is_a_usage_error() {
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no capture given"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

#[test]
#[cfg(feature = "live")]
fn read_flag_takes_a_trailing_filter_as_tcpdump() {
    let f = fixture("reqresp-rtt20");
    let all = json(&run(&["-r", &f, "--format", "json"]));
    let n = all["flows"].as_array().unwrap().len();
    assert!(n >= 1);
    let port = all["flows"][0]["server"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let kept = json(&run(&["-r", &f, "--format", "json", "tcp", "port", &port]));
    assert_eq!(kept["flows"].as_array().unwrap().len(), n);
    let none = json(&run(&["-r", &f, "--format", "json", "tcp", "port", "9"]));
    assert_eq!(none["flows"].as_array().unwrap().len(), 0);
    assert_eq!(none["captures"][0]["frames_matched"], 0);
    // -r twice: two inputs.
    let two = json(&run(&["-r", &f, "-r", &f, "--format", "json"]));
    assert_eq!(two["captures"].as_array().unwrap().len(), 2);
    // A filter in both places is ambiguous.
    let o = run(&["-r", &f, "--filter", "tcp", "tcp", "port", "9"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_filter_written_as_files_suggests_filter() {
    let f = fixture("reqresp-rtt20");
    let o = run(&[&f, "tcp", "port", "11211"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("--filter \"tcp port 11211\""), "{err}");
    assert!(o.stdout.is_empty(), "no unfiltered report");
    // A missing file that is no filter stays an input error (exit 1).
    let o = run(&["/nonexistent/capture.pcap"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn tcpdump_short_flags_exist() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    for flag in [
        "-r, --read",
        "-w, --save",
        "-c, --count",
        "-s, --snaplen",
        "-D, --list-interfaces",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn flow_selects_in_every_output_and_an_unknown_flow_is_an_error() {
    let (a, b) = (fixture("reqresp-rtt20"), fixture("nagle-on-rtt20-int1"));
    let all = json(&run(&[&a, &b, "--format", "json"]));
    assert!(all["flows"].as_array().unwrap().len() >= 2);
    let id = all["flows"][1]["id"].as_u64().unwrap().to_string();
    let one = json(&run(&[&a, &b, "--format", "json", "--flow", &id]));
    let flows = one["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["id"].as_u64().unwrap().to_string(), id);
    let csv = run(&[&a, &b, "--format", "csv", "--flow", &id]);
    let text = String::from_utf8(csv.stdout).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap_or(""))
        .collect();
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|i| *i == id),
        "CSV rows of flow {id} only: {ids:?}"
    );
    let t = String::from_utf8(run(&[&a, &b, "--flow", &id]).stdout).unwrap();
    let t_all = String::from_utf8(run(&[&a, &b]).stdout).unwrap();
    assert!(t.len() < t_all.len(), "text is selected too");
    for format in ["text", "json", "csv"] {
        let o = run(&[&a, "--format", format, "--flow", "99"]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert!(stderr(&o).contains("--flow 99"), "{}", stderr(&o));
    }
    let dir = tmp("charts-unknown");
    let o = run(&[&a, "--charts", dir.to_str().unwrap(), "--flow", "99"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn charts_do_not_change_standard_output() {
    let f = fixture("nagle-on-rtt20-int1");
    let plain = run(&[&f, "--format", "json"]);
    let dir = tmp("charts-stdout");
    let charted = run(&[&f, "--format", "json", "--charts", dir.to_str().unwrap()]);
    assert_eq!(charted.status.code(), Some(0), "{}", stderr(&charted));
    assert!(
        std::fs::read_dir(&dir).unwrap().count() > 0,
        "charts written"
    );
    assert_eq!(plain.stdout, charted.stdout);
    let series = json(&run(&[&f, "--format", "json", "--series"]));
    assert!(series["flows"][0]["directions"][0]["series"].is_object());
}

#[test]
fn one_duration_grammar_in_every_command() {
    let f = fixture("reqresp-rtt20");
    for ok in ["1m30s", "200us", "2.5ms", "30s"] {
        let o = run(&[&f, "--idle-timeout", ok, "--format", "csv"]);
        assert_eq!(o.status.code(), Some(0), "{ok}: {}", stderr(&o));
    }
    let o = run(&[&f, "--idle-timeout", "40"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("e.g. 30s, 1m30s"), "{}", stderr(&o));
    #[cfg(feature = "lab")]
    {
        let o = run(&["lab", "--rtt", "40", "--out-dir", "/nonexistent/x"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("e.g. 30s"), "{}", stderr(&o));
    }
}

#[test]
#[cfg(feature = "lab")]
fn one_flag_vocabulary_in_the_lab() {
    let help = String::from_utf8(run(&["lab", "--help"]).stdout).unwrap();
    for flag in ["--write-count", "--write-size", "--out-dir"] {
        assert!(help.contains(flag), "lab --help lacks {flag}");
    }
    for old in ["--size <", "--out <", "--writes <"] {
        assert!(!help.contains(old), "lab --help still shows {old}");
    }
    let sweep = String::from_utf8(run(&["sweep", "--help"]).stdout).unwrap();
    assert!(sweep.contains("--out-dir"));
}

#[test]
fn help_is_grouped_wrapped_with_examples_and_exit_codes() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8(o.stdout).unwrap();
    for heading in [
        "Input:",
        "Output:",
        "Write boundaries:",
        "Live capture:",
        "Limits:",
        "Examples:",
        "Exit codes:",
    ] {
        assert!(
            help.lines().any(|l| l == heading),
            "--help lacks {heading}\n{help}"
        );
    }
    let long = help.lines().filter(|l| l.chars().count() > 100).count();
    assert_eq!(long, 0, "lines over 100 columns:\n{help}");
    assert!(help.contains("  2  usage error"), "{help}");
}

#[test]
fn version_lists_the_compiled_features() {
    let v = String::from_utf8(run(&["--version"]).stdout).unwrap();
    assert!(v.starts_with("nagle-analyze "), "{v}");
    let features = v.lines().nth(1).unwrap_or_default();
    if cfg!(feature = "live") {
        assert!(
            features.contains("live capture and BPF filters: yes (libpcap version"),
            "{v}"
        );
    } else {
        assert!(features.contains("live capture and BPF filters: no"), "{v}");
    }
    assert!(
        features.contains(if cfg!(feature = "lab") {
            "lab: yes"
        } else {
            "lab: no"
        }),
        "{v}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_same_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(
            script.contains("filter"),
            "{shell} completion lacks --filter"
        );
        assert!(
            script.contains("write-size"),
            "{shell} completion lacks --write-size"
        );
    }
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let man = String::from_utf8(o.stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "roff: {}",
        &man[..200.min(man.len())]
    );
    assert!(man.contains("\\-\\-filter"), "man page lists --filter");
    let exit = &man[man.find("EXIT STATUS").expect("an EXIT STATUS section")..];
    for code in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR", "\\fB3\\fR"] {
        assert!(exit.contains(code), "exit code {code} missing");
    }
    assert!(exit.contains("usage error"));
}

/// The text report of the four lab fixtures, with `extra` flags.
fn text(extra: &[&str]) -> String {
    let mut args: Vec<String> = [
        "nagle-on-rtt20-int1",
        "nagle-on-rtt20-int30",
        "nodelay-rtt20-int1",
        "reqresp-rtt20",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = bin().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn text_leads_with_a_summary_and_a_ranked_table() {
    let t = text(&["--top", "2"]);
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].contains("capture.pcap: "),
        "summary first: {}",
        lines[0]
    );
    // Each capture: its line, then its first and last packet times.
    for i in 0..4 {
        assert!(lines[2 * i].contains("capture.pcap: "), "{}", lines[2 * i]);
        assert!(
            lines[2 * i + 1].starts_with("  first packet 2026-11-22T"),
            "{}",
            lines[2 * i + 1]
        );
    }
    assert!(
        lines[8].starts_with("4 flows, 5 directions with data"),
        "{}",
        lines[8]
    );
    let head = lines
        .iter()
        .position(|l| l.trim_start().starts_with("#   flow direction"))
        .expect("table");
    let rows: Vec<&str> = lines[head + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert_eq!(rows.len(), 5, "one row per direction with data");
    let cost = |r: &str| -> f64 {
        let f: Vec<&str> = r.split_whitespace().collect();
        let n = f.len();
        f[n - 3].parse::<f64>().unwrap() + f[n - 4].parse::<f64>().unwrap()
    };
    for w in rows.windows(2) {
        assert!(cost(w[0]) >= cost(w[1]), "ranked by cost: {w:?}");
    }
    assert!(
        cost(rows[0]) > 100.0,
        "the reqresp stalls lead: {}",
        rows[0]
    );
    for r in lines[head..=head + rows.len()].iter() {
        assert!(
            r.chars().count() <= 120,
            "{} columns: {r}",
            r.chars().count()
        );
    }
    assert!(t.contains("details of the top 2 of 4 flows"));
    assert_eq!(
        t.lines().filter(|l| l.starts_with("flow ")).count(),
        2,
        "--top 2 blocks"
    );
    assert!(
        !t.contains("what a capture cannot show"),
        "the footer is for --verbose"
    );
    let v = text(&["-v"]);
    assert_eq!(
        v.lines().filter(|l| l.starts_with("flow ")).count(),
        4,
        "every flow"
    );
    assert!(v.contains("what a capture cannot show"));
    let d = text(&[]);
    assert_eq!(
        d.lines().filter(|l| l.starts_with("flow ")).count(),
        4,
        "default top 10"
    );
}

/// tshark's instant (`-t ud`, UTC) of the fixture's first and last frame,
/// checked with `tshark -r … -t ud`; frame numbers on evidence and advice;
/// the advice listed once per endpoint, above the details.
#[test]
fn text_shows_packet_times_frames_and_grouped_advice() {
    let f = fixture("nagle-on-rtt20-int1");
    let log = f.replace("capture.pcap", "writes.jsonl");
    let o = run(&[&f, "--writes", &log]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = String::from_utf8(o.stdout).unwrap();
    let times = t
        .lines()
        .filter(|l| l.trim_start().starts_with("first packet "))
        .collect::<Vec<_>>();
    assert_eq!(times.len(), 2, "capture and flow: {times:?}");
    let iso = |s: &str| {
        s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
    };
    for l in &times {
        let w: Vec<&str> = l.split_whitespace().collect();
        assert!(iso(w[2].trim_end_matches(',')), "{l}");
        assert!(iso(w[5]), "{l}");
    }
    assert_eq!(times[0], times[1], "one flow: the capture's own span");
    // The verdict's evidence names the frames Nagle released.
    assert!(
        t.contains("9 segment(s) (frames 6, 8, 10, 12, 14, …) carried writes"),
        "{t}"
    );
    let list = t.find("\nadvice, most saving first").expect("advice list");
    let details = t.find("\ndetails of the top").expect("details");
    assert!(list < details);
    let advice = &t[list..details];
    assert!(
        advice.contains("  1. TCP_NODELAY on the client 10.77.0.1, flow 0: set TCP_NODELAY"),
        "{advice}"
    );
    assert!(advice.contains("200 writes from 10.77.0.1:"), "{advice}");
    assert!(
        advice.contains("       frames: 6, 8, 10, 12, 14"),
        "{advice}"
    );
    // The flow's details refer to it in one line each, with frames.
    assert!(
        t[details..].contains(
            "  advice: TCP_NODELAY on the client 10.77.0.1:46512 (frames 6, 8, 10, 12, 14): up to"
        ),
        "{}",
        &t[details..]
    );
}

/// A browsing capture: 5 connections to one server, one entry each for
/// TCP_CORK and TCP_DEFER_ACCEPT, not one paragraph per connection.
#[test]
fn browsing_advice_is_one_entry_per_server() {
    let Some(dir) = nagle_testkit::helpers::corpus_dir("browsing_advice_is_one_entry_per_server")
    else {
        return;
    };
    let p = dir.join("http_keepalive_browsing.pcap");
    let o = run(&[p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = String::from_utf8(o.stdout).unwrap();
    for o in ["TCP_CORK", "TCP_DEFER_ACCEPT"] {
        let head = format!("{o} on the server 192.150.187.43:80, 5 connections (flows ");
        assert_eq!(t.matches(&head).count(), 1, "{o}: {t}");
    }
    assert!(t.contains("packets in all over 5 connections"));
    assert!(
        !t.contains("advice (most costly first)"),
        "no per-flow paragraphs"
    );
}
