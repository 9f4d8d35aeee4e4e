//! Live capture end to end (root; CI is root): two network namespaces joined
//! by a veth pair, real kernel TCP with Nagle on and with TCP_NODELAY
//! between them, the tool capturing live on one end with `--save`. Checks
//! the flows found, the bytes against the sender's own count, the verdicts,
//! and that the saved pcap analyzes to the same figures. Also the error path
//! without privileges (as `nobody`).

use nagle_testkit::helpers as common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nagle-analyze")
}

/// Deletes the namespaces however the test ends.
struct Netns(Vec<String>);

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {args:?} failed");
}

/// The sender: one connection per mode, each a burst of 4-byte writes with
/// a short pause every 50 writes; prints the bytes it wrote per port.
const SENDER: &str = r#"
import socket, sys, time
host = sys.argv[1]
for port, nodelay in ((5601, 0), (5602, 1)):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
    sent = 0
    for i in range(2000):
        sent += s.send(b"abcd")
        if i % 50 == 49:
            time.sleep(0.002)
    s.close()
    print(port, sent, flush=True)
"#;

/// The receiver: accepts both connections and discards what arrives.
const RECEIVER: &str = r#"
import socket, threading
def serve(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port)); l.listen(1)
    c, _ = l.accept()
    while c.recv(65536): pass
ts = [threading.Thread(target=serve, args=(p,)) for p in (5601, 5602)]
[t.start() for t in ts]; [t.join() for t in ts]
"#;

#[test]
fn live_capture_matches_sender_and_saved_file() {
    if !common::is_root() {
        eprintln!("live: skipped, needs root (network namespaces and packet capture)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("nlive{pid}a"), format!("nlive{pid}b"));
    ip(&["netns", "add", &a]);
    let _guard = Netns(vec![a.clone(), b.clone()]);
    ip(&["netns", "add", &b]);
    let (va, vb) = (
        format!("nla{}", pid % 100000),
        format!("nlb{}", pid % 100000),
    );
    ip(&[
        "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b,
    ]);
    ip(&["-n", &a, "addr", "add", "10.78.0.1/24", "dev", &va]);
    ip(&["-n", &b, "addr", "add", "10.78.0.2/24", "dev", &vb]);
    for (ns, dev) in [(&a, &va), (&b, &vb)] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let dir = std::env::temp_dir().join(format!("nagle-live-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("live.pcap");

    let capture = Command::new("ip")
        .args(["netns", "exec", &a, bin(), "--interface", &va])
        .args(["--filter", "tcp portrange 5601-5602", "--duration", "6s"])
        .args(["--format", "json", "--write-size", "4", "--save"])
        .arg(&saved)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut receiver = Command::new("ip")
        .args(["netns", "exec", &b, "python3", "-c", RECEIVER])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sender = Command::new("ip")
        .args(["netns", "exec", &a, "python3", "-c", SENDER, "10.78.0.2"])
        .output()
        .unwrap();
    assert!(
        sender.status.success(),
        "sender: {}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let _ = receiver.wait();
    let out = capture.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "capture failed: {stderr}");
    assert!(stderr.contains("dropped by the kernel"), "{stderr}");

    // The sender's own byte counts per port.
    let sent: Vec<(String, u64)> = String::from_utf8_lossy(&sender.stdout)
        .lines()
        .map(|l| {
            let (p, n) = l.split_once(' ').unwrap();
            (p.to_string(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(sent.len(), 2);

    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cap = &live["captures"][0];
    assert_eq!(cap["format"], "live");
    assert_eq!(cap["live"]["dropped"], 0, "{cap}");
    let flows = live["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2, "{}", live["flows"]);
    for (port, bytes) in &sent {
        let f = flows
            .iter()
            .find(|f| f["server"].as_str().unwrap().ends_with(&format!(":{port}")))
            .unwrap_or_else(|| panic!("no flow to port {port}"));
        let d = &f["directions"][0];
        assert_eq!(
            d["payload_bytes"].as_u64(),
            Some(*bytes),
            "port {port}: {d}"
        );
        assert_eq!(d["writes"].as_u64(), Some(bytes / 4));
        let verdict = d["nagle"]["verdict"].as_str().unwrap();
        let expect = if port == "5601" { "on" } else { "off" };
        assert_eq!(verdict, expect, "port {port}: {}", d["nagle"]);
    }

    // The saved file reads back to the same analysis.
    let file = Command::new(bin())
        .arg(&saved)
        .args(["--format", "json", "--write-size", "4"])
        .output()
        .unwrap();
    assert_eq!(
        file.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&file.stderr)
    );
    let from_file: serde_json::Value = serde_json::from_slice(&file.stdout).unwrap();
    assert_eq!(
        from_file["flows"], live["flows"],
        "saved pcap analyzes differently"
    );
    assert_eq!(from_file["captures"][0]["frames"], cap["frames"]);
}

#[test]
fn live_capture_without_privileges_says_how_to_fix_it() {
    if !common::is_root() {
        eprintln!("live: skipped, dropping privileges to `nobody` needs root");
        return;
    }
    // A copy nobody can execute, wherever the build tree lives.
    let copy = std::env::temp_dir().join(format!("nagle-analyze-nobody-{}", std::process::id()));
    std::fs::copy(bin(), &copy).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&copy)
        .args(["--interface", "lo", "--duration", "1s"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&copy);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs root or CAP_NET_RAW"), "{err}");
    assert!(
        err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn unknown_interface_is_named() {
    if !common::is_root() {
        eprintln!("live: skipped, opening interfaces needs root");
        return;
    }
    let out = Command::new(bin())
        .args(["--interface", "nosuchif0", "--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nosuchif0"), "{err}");
}
