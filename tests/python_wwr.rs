//! A real program pair through the lab's delay line (root; CI is root):
//! Python's socket module, a write-write-read client (a 10-byte header and a
//! 100-byte body per request, then a 200-byte reply) and a server that sets
//! TCP_NODELAY on every accepted socket, as memcached and redis do. The
//! client runs two connections over a 40 ms path: the first with Nagle on,
//! the second with TCP_NODELAY. strace records both programs' setsockopt
//! calls: that is the truth the verdicts must agree with, at the sender's
//! end of the path and at the receiver's. The client measures each
//! request's latency: the stall cost the tool reports must be within 10 %
//! of what TCP_NODELAY saved the client.

use nagle_analyze::lab::delay::{self, Loss, RECEIVER_ADDR};
use nagle_analyze::lab::netns::Netns;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PORT: u16 = 6000;
const REQUESTS: usize = 20;

const SERVER: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4)
for _ in range(2):
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        need, got = 110, b""
        while len(got) < need:
            b = c.recv(need - len(got))
            if not b: break
            got += b
        if len(got) < need: break
        c.sendall(b"r" * 200)
    c.close()
"#;

const CLIENT: &str = r#"
import socket, sys, time, json
out = []
for nodelay in (0, 1):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    if nodelay:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    total = 0.0
    for _ in range(int(sys.argv[3])):
        t = time.monotonic()
        c.send(b"h" * 10); c.send(b"b" * 100)
        got = 0
        while got < 200: got += len(c.recv(200 - got))
        total += (time.monotonic() - t) * 1000
        time.sleep(0.02)
    out.append({"port": c.getsockname()[1], "nodelay": nodelay, "total_ms": total})
    c.close()
print(json.dumps(out))
"#;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// `tcpdump` on the lab interface of `ns`, writing `file`.
fn capture(ns: &Netns, file: &Path) -> Child {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "tcpdump",
            "-i",
            delay::IFNAME,
            "-s",
            "256",
            "-U",
        ])
        .args(["--immediate-mode", "--time-stamp-precision=nano", "-w"])
        .arg(file)
        .arg("tcp")
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(Duration::from_millis(700));
    child
}

fn stop(mut child: Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
}

/// `prog` under `strace -f -ttt` in `ns`, its trace in `trace`.
fn traced(ns: &Netns, trace: &Path, prog: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        &ns.name,
        "strace",
        "-f",
        "-ttt",
        "-e",
        "trace=setsockopt,connect,accept,accept4,sendto,write",
        "-o",
    ])
    .arg(trace)
    .args(["python3", "-c", prog])
    .args(args);
    c
}

/// The client→server and server→client directions of every flow.
fn report(capture: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_nagle-analyze"))
        .arg(capture)
        .args(["--format", "json"])
        .output()
        .expect("nagle-analyze");
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    r["flows"].as_array().unwrap().clone()
}

/// The flow whose client port is `port`.
fn flow_of(flows: &[Value], port: u64) -> &Value {
    flows
        .iter()
        .find(|f| f["client"].as_str().unwrap().ends_with(&format!(":{port}")))
        .unwrap_or_else(|| panic!("no flow from port {port}"))
}

#[test]
fn python_write_write_read_through_the_delay_line() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, TUN, tcpdump)");
        return;
    }
    if !nagle_testkit::helpers::tools_present("python_wwr", &["python3", "strace", "tcpdump"]) {
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("nagle-python-wwr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snd = Netns::create("pysnd").unwrap();
    let rcv = Netns::create("pyrcv").unwrap();
    let path = delay::build(
        &snd,
        &rcv,
        Duration::from_millis(40),
        "auto",
        Loss::default(),
    )
    .unwrap();
    let (at_sender, at_receiver) = (dir.join("client.pcap"), dir.join("server.pcap"));
    let caps = [capture(&snd, &at_sender), capture(&rcv, &at_receiver)];
    let port = PORT.to_string();
    let mut server = traced(
        &rcv,
        &dir.join("server.strace"),
        SERVER,
        &[RECEIVER_ADDR, &port],
    )
    .spawn()
    .expect("server");
    std::thread::sleep(Duration::from_millis(700));
    let client = traced(
        &snd,
        &dir.join("client.strace"),
        CLIENT,
        &[RECEIVER_ADDR, &port, &REQUESTS.to_string()],
    )
    .output()
    .expect("client");
    assert!(
        client.status.success(),
        "client: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(300));
    caps.into_iter().for_each(stop);
    drop(path);

    // The truth: strace shows TCP_NODELAY set once by the client (after its
    // second connect) and once per accepted socket by the server.
    let trace = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let (ct, st) = (trace("client.strace"), trace("server.strace"));
    let nodelay_lines = |t: &str| t.lines().filter(|l| l.contains("TCP_NODELAY, [1]")).count();
    assert_eq!(nodelay_lines(&ct), 1, "client trace:\n{ct}");
    assert_eq!(nodelay_lines(&st), 2, "server trace:\n{st}");
    let second_connect = ct.match_indices("connect(").nth(1).expect("two connects").0;
    assert!(ct.find("TCP_NODELAY, [1]").unwrap() > second_connect);

    let runs: Vec<Value> = serde_json::from_slice(&client.stdout).expect("client JSON");
    let (nagle, nodelay) = (&runs[0], &runs[1]);
    let lost = nagle["total_ms"].as_f64().unwrap() - nodelay["total_ms"].as_f64().unwrap();
    assert!(
        lost > 0.5 * 80.0 * REQUESTS as f64,
        "Nagle × delayed ACK should cost ~80 ms a request: {lost} ms"
    );

    for capture in [&at_sender, &at_receiver] {
        let flows = report(capture);
        let on = flow_of(&flows, nagle["port"].as_u64().unwrap());
        let off = flow_of(&flows, nodelay["port"].as_u64().unwrap());
        let (c_on, c_off) = (&on["directions"][0], &off["directions"][0]);
        assert_eq!(
            c_on["nagle"]["verdict"],
            "on",
            "{}: {}",
            capture.display(),
            c_on["nagle"]
        );
        assert_eq!(
            c_off["nagle"]["verdict"],
            "off",
            "{}: {}",
            capture.display(),
            c_off["nagle"]
        );
        // The server set TCP_NODELAY: never blamed on Nagle.
        for f in [on, off] {
            assert_ne!(
                f["directions"][1]["nagle"]["verdict"],
                "on",
                "{}: server {}",
                capture.display(),
                f["directions"][1]["nagle"]
            );
        }
        let saved = c_on["stalls"]["total_ms"].as_f64().unwrap();
        eprintln!(
            "{}: client→server on/off, stalls {} costing {saved:.0} ms; client lost {lost:.0} ms",
            capture.display(),
            c_on["stalls"]["count"]
        );
        // At the sender every stall is seen (10 %). At the receiver a
        // release is matched in the sender's frame within max(1 ms + 2 %
        // of near, 4 × the path's measured delay variation) (README
        // "ACK-clocked segments"). That takes the late releases of a path
        // that varies all along (the replay test below: 18 → 19 of 19),
        // but not one round the userspace delay line slows by a few ms on
        // an otherwise quiet path: the other trips show no variation to
        // measure (seen: 2 of 19 releases 2.8 and 4.8 ms late where the
        // near samples varied by 0.27 ms; 1 of 19 2.7 ms late at 0.02 ms;
        // each about 1 run in 10). So the receiver may still miss one or
        // two stalls (20 %); a limit of the receiver's view, not of the
        // rule at the sender.
        let tolerance = if capture == &at_sender { 0.1 } else { 0.2 };
        assert!(
            (saved - lost).abs() <= tolerance * lost,
            "{}: stalls cost {saved} ms, TCP_NODELAY saved the client {lost} ms",
            capture.display()
        );
    }
    // NAGLE_KEEP=1 keeps the captures and traces (to replay a miss).
    if std::env::var_os("NAGLE_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
}

/// A run of the test above whose receiver-side capture missed a stall
/// before the release tolerance followed the path's variation
/// (`tests/data/jitter/`, recorded 2026-12-02 with NAGLE_KEEP=1): the
/// delay line varied the client's trips by 0.63 ms on average (mean
/// absolute deviation of the server's data→ACK samples, 60.8–63.8 ms) and
/// saw the first held body 2.2 ms later than the trip's minimum in the
/// client's frame, beyond 1 ms + 2 % of 40.1 ms. strace showed TCP_NODELAY
/// set on the client's second connection (port 33834) and on both of the
/// server's sockets; the client lost 1617 ms to Nagle (its own clock); at
/// the sender's capture 19 stalls cost 1574 ms. No root needed.
#[test]
fn a_jittery_paths_late_release_is_still_a_stall_at_the_receiver() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jitter");
    let client_lost = 1617.0;
    for (name, jitter) in [
        ("python-wwr-client.pcap", None),
        ("python-wwr-server.pcap", Some(0.63)),
    ] {
        let flows = report(&dir.join(name));
        let (on, off) = (flow_of(&flows, 33822), flow_of(&flows, 33834));
        let c = &on["directions"][0];
        assert_eq!(c["nagle"]["verdict"], "on", "{name}: {}", c["nagle"]);
        assert_eq!(c["stalls"]["count"], 19, "{name}: {}", c["stalls"]);
        let cost = c["stalls"]["total_ms"].as_f64().unwrap();
        assert!(
            (cost - client_lost).abs() <= 0.1 * client_lost,
            "{name}: {cost} ms"
        );
        let j = c["sender_frame"]["jitter_ms"].as_f64();
        assert_eq!(j.map(|j| (j * 100.0).round() / 100.0), jitter, "{name}");
        // TCP_NODELAY: never a stall or an `on`, whatever the window.
        let n = &off["directions"][0];
        assert_eq!(n["nagle"]["verdict"], "off", "{name}: {}", n["nagle"]);
        assert_eq!(n["stalls"]["count"], 0, "{name}");
        for f in [on, off] {
            let s = &f["directions"][1];
            assert_ne!(s["nagle"]["verdict"], "on", "{name}: server {}", s["nagle"]);
            assert_eq!(s["stalls"]["count"], 0, "{name}: server");
        }
    }
}
