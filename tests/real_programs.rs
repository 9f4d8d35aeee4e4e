//! Real programs with strace as ground truth (root only; issue 16): a write
//! log applies only to its own connection and direction.
//!
//! Two network namespaces joined by a veth pair (no delay: attribution does
//! not need one); redis-server in one, redis-benchmark in the other, which
//! opens three connections one after another on the same descriptor (fd 4).
//! Both run under `strace -f -ttt -yy`; the capture is taken live by the
//! built binary (`-i … --save`). Each log is then given to the analyzer as
//! recorded (`-yy`: endpoints known) and stripped to what users usually
//! record (`-e trace=write,sendto,…` without `-yy`: descriptors only), and:
//!
//! - every direction the log belongs to gets `write_source: log` with
//!   exactly the strace count of writes on that connection (from the `-yy`
//!   decorations);
//! - every other direction's verdict, write source and write count are the
//!   same as without the log.
//!
//! Skips (with the reason printed) when not root or when redis-server,
//! redis-benchmark or strace is missing (`.ci/run` installs them).

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_nagle-analyze");
const CLIENT: &str = "10.98.0.1";
const SERVER: &str = "10.98.0.2";
const TRACE: &str =
    "trace=socket,connect,accept,accept4,close,dup,dup2,dup3,write,writev,sendto,sendmsg";

fn missing() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces)".into());
    }
    let tools = ["redis-server", "redis-benchmark", "strace", "ip"];
    if !nagle_testkit::helpers::tools_present("real_programs", &tools) {
        return Some("tools missing".into());
    }
    None
}

/// Two namespaces and what runs in them; torn down on drop (processes by
/// their own id).
struct Net {
    ns: [String; 2],
    children: Vec<Child>,
}

impl Net {
    fn new() -> Net {
        let id = std::process::id();
        let ns = [format!("h16c{id}"), format!("h16s{id}")];
        let (vc, vs) = (
            format!("h16c{}", id % 100000),
            format!("h16s{}", id % 100000),
        );
        let net = Net {
            ns: ns.clone(),
            children: Vec::new(),
        };
        for cmd in [
            format!("ip netns add {}", ns[0]),
            format!("ip netns add {}", ns[1]),
            format!("ip link add {vc} type veth peer name {vs}"),
            format!("ip link set {vc} netns {}", ns[0]),
            format!("ip link set {vs} netns {}", ns[1]),
            format!("ip -n {} addr add {CLIENT}/24 dev {vc}", ns[0]),
            format!("ip -n {} addr add {SERVER}/24 dev {vs}", ns[1]),
            format!("ip -n {} link set {vc} up", ns[0]),
            format!("ip -n {} link set {vs} up", ns[1]),
            format!("ip -n {} link set lo up", ns[0]),
            format!("ip -n {} link set lo up", ns[1]),
        ] {
            let ok = Command::new("sh")
                .args(["-c", &cmd])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "{cmd} failed");
        }
        net
    }

    fn cmd(&self, side: usize, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns[side]]).args(args);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(c.id().to_string())
                .status();
            std::thread::sleep(Duration::from_millis(200));
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Record the run into `dir`: capture.pcap, client.strace, server.strace.
fn record(dir: &Path) {
    let mut net = Net::new();
    let server = net
        .cmd(1, &["strace", "-f", "-ttt", "-yy", "-e", TRACE, "-o"])
        .arg(dir.join("server.strace"))
        .args([
            "redis-server",
            "--bind",
            SERVER,
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--protected-mode", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    net.children.push(server);
    let iface = format!("h16c{}", std::process::id() % 100000);
    let cap = net
        .cmd(
            0,
            &[
                BIN,
                "-i",
                &iface,
                "--duration",
                "6s",
                "--format",
                "json",
                "--save",
            ],
        )
        .arg(dir.join("capture.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("capture");
    std::thread::sleep(Duration::from_millis(1500));
    let bench = net
        .cmd(0, &["strace", "-f", "-ttt", "-yy", "-e", TRACE, "-o"])
        .arg(dir.join("client.strace"))
        .args([
            "redis-benchmark",
            "-h",
            SERVER,
            "-p",
            "6379",
            "-c",
            "1",
            "-n",
            "50",
            "-t",
            "set,get",
        ])
        .output()
        .expect("redis-benchmark");
    assert!(
        bench.status.success(),
        "redis-benchmark: {}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let out = { cap }.wait_with_output().expect("capture ended");
    assert!(out.status.success(), "live capture failed");
}

/// The log as users usually record it: descriptors only, no lifecycle.
fn strip(src: &Path, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if [" socket(", " connect(", " accept", " close(", " dup"]
            .iter()
            .any(|c| line.contains(c))
        {
            continue;
        }
        out.push_str(&undecorate(line));
        out.push('\n');
    }
    std::fs::write(dst, out).unwrap();
}

/// `write(4<TCP:[a->b]>, …` → `write(4, …`.
fn undecorate(line: &str) -> String {
    let mut s = line.to_string();
    while let Some(i) = s.find("<TCP") {
        match s[i..].find("]>") {
            Some(j) => s.replace_range(i..i + j + 2, ""),
            None => break,
        }
    }
    s
}

/// Writes per connection ("local>peer") in a `-yy` trace: the truth.
fn truth(trace: &Path) -> HashMap<String, u64> {
    let mut n = HashMap::new();
    for line in std::fs::read_to_string(trace).unwrap().lines() {
        let call = ["write(", "sendto(", "writev(", "sendmsg("]
            .iter()
            .find_map(|c| line.find(c));
        let Some(i) = call else { continue };
        let rest = &line[i..];
        let (Some(a), Some(b), Some(c)) = (rest.find("<TCP:["), rest.find("->"), rest.find("]>"))
        else {
            continue;
        };
        let ok = rest
            .rsplit_once(" = ")
            .is_some_and(|(_, r)| r.trim().parse::<u64>().is_ok_and(|v| v > 0));
        if ok && a < b && b < c {
            *n.entry(format!("{}>{}", &rest[a + 6..b], &rest[b + 2..c]))
                .or_default() += 1;
        }
    }
    n
}

/// Per direction "from>to": (verdict, write_source, writes).
fn analyze(
    cap: &Path,
    log: Option<(&Path, Option<&str>)>,
) -> HashMap<String, (Value, Value, Value)> {
    let mut c = Command::new(BIN);
    c.args(["--format", "json"]).arg(cap);
    if let Some((l, fd)) = log {
        c.arg("--writes").arg(l);
        if let Some(fd) = fd {
            c.args(["--writes-fd", fd]);
        }
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut m = HashMap::new();
    for f in v["flows"].as_array().unwrap() {
        for d in f["directions"].as_array().unwrap() {
            let key = format!(
                "{}>{}",
                d["from"].as_str().unwrap(),
                d["to"].as_str().unwrap()
            );
            let val = (
                d["nagle"]["verdict"].clone(),
                d["write_source"].clone(),
                d["writes"].clone(),
            );
            m.insert(key, val);
        }
    }
    m
}

/// The log of `sender` (an address prefix) applies to each of its
/// directions with the strace count, and to nothing else.
fn check_log(cap: &Path, log: &Path, fd: Option<&str>, sender: &str, truth: &HashMap<String, u64>) {
    let base = analyze(cap, None);
    let with = analyze(cap, Some((log, fd)));
    let mut applied = 0;
    for (dir, before) in &base {
        let after = &with[dir];
        let from = dir.split('>').next().unwrap();
        if from.starts_with(sender) {
            let want = truth.get(dir).copied().unwrap_or(0);
            if want == 0 {
                continue;
            }
            assert_eq!(
                after.1,
                "log",
                "{}: {dir} should take the log: {after:?}",
                log.display()
            );
            assert_eq!(
                after.2,
                want,
                "{}: {dir}: writes against strace",
                log.display()
            );
            applied += 1;
        } else {
            assert_eq!(
                after,
                before,
                "{}: {dir} changed by another direction's log",
                log.display()
            );
        }
    }
    assert!(
        applied >= 3,
        "{}: applied to {applied} directions",
        log.display()
    );
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("nagle-real-programs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn redis_logs_apply_only_to_their_connection() {
    if let Some(why) = missing() {
        eprintln!("real_programs: skipped: {why}");
        return;
    }
    let d = dir();
    record(&d);
    let cap = d.join("capture.pcap");
    for side in ["client", "server"] {
        let yy = d.join(format!("{side}.strace"));
        let plain = d.join(format!("{side}-fd.strace"));
        strip(&yy, &plain);
        let t = truth(&yy);
        let sender = if side == "client" { CLIENT } else { SERVER };
        assert!(
            t.keys().filter(|k| k.starts_with(sender)).count() >= 3,
            "{side}: {t:?}"
        );
        check_log(&cap, &yy, None, sender, &t);
        check_log(&cap, &plain, None, sender, &t);
        if side == "client" {
            // As issue 16 reported it: descriptor-only, `--writes-fd 4`.
            check_log(&cap, &plain, Some("4"), sender, &t);
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}
