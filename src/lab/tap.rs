//! The lab's packet taps: a libpcap live capture on the sender's and/or the
//! receiver's interface, each saved to its own file.
//!
//! What it does: [`CaptureAt`] says which ends are tapped (`--capture-at`);
//! [`Tap::start`] opens one live capture inside a namespace, in a thread
//! under SCHED_FIFO, with the same settings at both ends (filter `tcp`,
//! snaplen 2048, 16 MiB buffer, nanosecond timestamps when libpcap has them),
//! saves every frame to its file and counts the sender's data segments
//! (timestamp, payload) as the lab's own cross-check; [`Tap::finish`] stops
//! it and returns what it saw with libpcap's counters.
//!
//! The sender side is `capture.pcap` (as before this option existed), the
//! receiver side `capture-receiver.pcap`.
//!
//! What it does not do: no analysis, no decoding beyond the payload length
//! of IPv4 packets from the sender (`measure::tcp_payload_from`).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::bail;

use super::{delay, measure, netns};
use crate::capture::linktype;
use crate::capture::live::{open_live, LiveOptions, LiveStats};
use crate::capture::CaptureInfo;
use crate::lab_record::{CaptureRecord, CaptureStats};

/// Snapshot length of every lab capture: whole packets fit (MTU 1500); a
/// small snaplen keeps the ring's frames small (libpcap sizes TPACKET_V2
/// frames, used in immediate mode, by the snaplen) so 16 MiB hold ~8000
/// packets.
pub const SNAPLEN: i32 = 2048;
/// Capture filter of every lab capture.
pub const FILTER: &str = "tcp";

pub use crate::lab_record::{CaptureAt, Side};

/// What one tap saw, after it stopped.
#[derive(Debug, Clone)]
pub struct Taken {
    pub side: Side,
    pub file: PathBuf,
    pub link_type: u32,
    pub nano: bool,
    pub info: CaptureInfo,
    pub stats: LiveStats,
    /// (timestamp ns, payload bytes) of the sender's data segments.
    pub segs: Vec<(i64, usize)>,
}

impl Taken {
    /// Payload bytes of the sender's data segments.
    pub fn payload_bytes(&self) -> u64 {
        self.segs.iter().map(|s| s.1 as u64).sum()
    }

    /// The `lab.json` record of this capture.
    pub fn to_record(&self) -> CaptureRecord {
        CaptureRecord {
            file: self.side.file_name().to_string(),
            filter: FILTER.to_string(),
            frames: self.info.frames,
            interface: delay::IFNAME.to_string(),
            link_type: self.link_type,
            nanosecond_timestamps: self.nano,
            sender_data_segments: Some(self.segs.len() as u64),
            sender_payload_bytes: Some(self.payload_bytes()),
            side: self.side,
            snaplen: Some(SNAPLEN as u32),
            stats: CaptureStats {
                dropped: self.stats.dropped,
                if_dropped: self.stats.if_dropped,
                received: self.stats.received,
            },
            warnings: self.info.warnings.clone(),
        }
    }
}

type TapResult = anyhow::Result<(CaptureInfo, LiveStats)>;

/// A running live capture.
pub struct Tap {
    side: Side,
    file: PathBuf,
    link_type: u32,
    nano: bool,
    segs: Arc<Mutex<Vec<(i64, usize)>>>,
    thread: JoinHandle<TapResult>,
}

impl Tap {
    /// Open a live capture of `side` inside namespace `ns` into `dir`;
    /// returns once libpcap is capturing. `abort` stops it.
    pub fn start(side: Side, ns: &str, dir: &Path, abort: Arc<AtomicBool>) -> anyhow::Result<Tap> {
        let file = dir.join(side.file_name());
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<(u32, bool)>>();
        let segs = Arc::new(Mutex::new(Vec::<(i64, usize)>::new()));
        let opts = LiveOptions {
            snaplen: SNAPLEN,
            buffer_size: 16 << 20,
            filter: Some(FILTER.into()),
            save: Some(file.clone()),
            ..LiveOptions::new(delay::IFNAME)
        };
        let thread = {
            let segs = segs.clone();
            let name = format!("lab-capture-{side:?}").to_lowercase();
            netns::spawn_in(&name, ns, move || {
                capture_loop(&opts, &abort, &segs, ready_tx)
            })
        };
        let (link_type, nano) = match ready_rx.recv() {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => bail!("live capture at the {side:?}: {e}"),
            Err(_) => bail!("live capture thread ({side:?}) ended before it was ready"),
        };
        Ok(Tap {
            side,
            file,
            link_type,
            nano,
            segs,
            thread,
        })
    }

    /// Wait for the capture to end (set `abort` first) and collect it.
    pub fn finish(self) -> anyhow::Result<Taken> {
        let what = format!("live capture ({:?})", self.side);
        let (info, stats) = netns::join(self.thread, &what)?;
        let segs = std::mem::take(&mut *self.segs.lock().unwrap());
        Ok(Taken {
            side: self.side,
            file: self.file,
            link_type: self.link_type,
            nano: self.nano,
            info,
            stats,
            segs,
        })
    }
}

/// The capture thread's body: open, report readiness, run until aborted.
fn capture_loop(
    opts: &LiveOptions,
    abort: &AtomicBool,
    segs: &Mutex<Vec<(i64, usize)>>,
    ready: mpsc::Sender<anyhow::Result<(u32, bool)>>,
) -> TapResult {
    // Keep up with the traffic even when other work loads the CPUs.
    delay::realtime(30);
    let cap = match open_live(opts) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("{e:#}")));
            return Err(e);
        }
    };
    let lt = cap.link_type();
    let _ = ready.send(Ok((lt, cap.nanosecond_timestamps())));
    let src: [u8; 4] = [10, 77, 0, 1];
    let skip = if lt == linktype::ETHERNET { 14 } else { 0 };
    cap.run(abort, &mut |f| {
        let payload = f
            .data
            .get(skip..)
            .and_then(|ip| measure::tcp_payload_from(ip, src));
        if let Some(p) = payload.filter(|p| *p > 0) {
            segs.lock().unwrap().push((f.ts_ns, p));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_files() {
        assert_eq!(CaptureAt::default(), CaptureAt::Sender);
        assert_eq!(CaptureAt::Both.sides(), &[Side::Sender, Side::Receiver]);
        assert_eq!(Side::Sender.file_name(), "capture.pcap");
        assert_eq!(Side::Receiver.file_name(), "capture-receiver.pcap");
        assert_eq!(Side::Receiver.report_name(Side::Receiver), "report.json");
        assert_eq!(
            Side::Receiver.report_name(Side::Sender),
            "report-receiver.json"
        );
        assert_eq!(
            serde_json::to_value(CaptureAt::Both).unwrap(),
            serde_json::json!("both")
        );
    }
}
