//! Network namespaces for the lab: creation, entering from a thread, and
//! cleanup on every exit path.
//!
//! What it does: checks for root, creates uniquely named namespaces
//! (`nagle-<pid>-<n>-<role>`) with `ip netns add`, deletes them when their
//! [`Netns`] guard is dropped (normal return, `?` error, panic unwind), and
//! keeps a process-wide registry so that the Ctrl-C handler can delete what is
//! left before exiting. [`enter`] moves the *calling thread* into a namespace
//! with `setns(2)`; sockets, TUN devices and packet captures opened afterwards
//! by that thread live in that namespace for their whole life.
//!
//! What it does not do: it never touches interfaces or namespaces it did not
//! create, and it does not configure addresses or routes (see `delay`).

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};

/// Namespaces currently alive, for the Ctrl-C handler.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Set by the first Ctrl-C: every loop of the lab polls it and winds down.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Refuse clearly unless we are root.
pub fn require_root() -> anyhow::Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the lab needs root (it creates network namespaces, TUN devices and a live capture): run it with sudo"
        );
    }
    Ok(())
}

/// Install the Ctrl-C handler once: the first Ctrl-C asks the run to stop
/// (the run then cleans up through its guards); a second one (not the same
/// request, see [`crate::signals`]) deletes every namespace still alive and
/// exits at once.
pub fn install_ctrlc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let r = crate::signals::on_stop_signals(
            || {
                STOP.store(true, Ordering::SeqCst);
                eprintln!("lab: interrupted, cleaning up (Ctrl-C again to force)");
            },
            || {
                cleanup_all();
                eprintln!("lab: interrupted twice, namespaces removed");
                std::process::exit(130);
            },
        );
        if let Err(e) = r {
            eprintln!("lab: warning: cannot install Ctrl-C handler: {e}");
        }
    });
}

/// Delete every namespace in the registry (used by the forced exit path).
pub fn cleanup_all() {
    let names: Vec<String> = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
    for n in names {
        let _ = Command::new("ip").args(["netns", "del", &n]).status();
    }
}

/// Run a command, failing with its stderr in the message.
pub fn sh(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("cannot run {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Create `nagle-<pid>-<n>-<role>`.
    pub fn create(role: &str) -> anyhow::Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("nagle-{}-{}-{}", std::process::id(), n, role);
        sh(&["ip", "netns", "add", &name]).with_context(|| {
            format!("cannot create network namespace {name}: are network namespaces available (ip netns)?")
        })?;
        LIVE.lock().unwrap().push(name.clone());
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME args...`
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip netns exec NAME args...`
    pub fn exec(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Write a sysctl inside the namespace; returns whether it worked.
    pub fn sysctl(&self, key: &str, value: &str) -> bool {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")])
            .is_ok()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if let Ok(mut v) = LIVE.lock() {
            v.retain(|n| n != &self.name);
        }
    }
}

/// Move the calling thread into namespace `name` (net namespace only).
pub fn enter(name: &str) -> anyhow::Result<()> {
    let path = format!("/var/run/netns/{name}");
    let f = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("setns into {name}"));
    }
    Ok(())
}

/// Spawn a named thread that first enters namespace `ns`, then runs `f`.
pub fn spawn_in<T: Send + 'static>(
    thread_name: &str,
    ns: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> std::thread::JoinHandle<anyhow::Result<T>> {
    let ns = ns.to_string();
    std::thread::Builder::new()
        .name(thread_name.to_string())
        .spawn(move || {
            enter(&ns)?;
            f()
        })
        .expect("spawn thread")
}

/// Join a lab thread, turning a panic into an error.
pub fn join<T>(h: std::thread::JoinHandle<anyhow::Result<T>>, what: &str) -> anyhow::Result<T> {
    match h.join() {
        Ok(r) => r.with_context(|| what.to_string()),
        Err(_) => bail!("{what}: thread panicked"),
    }
}
