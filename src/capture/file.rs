//! Capture files: pcap (both byte orders, µs/ns) and pcapng (several sections
//! and interfaces, per-interface link type, if_tsresol and if_tsoffset), from
//! a path or from standard input (`-`), streamed in constant memory.

use super::{CaptureInfo, Frame};

/// Read every frame of `path` (`-` = standard input), calling `on_frame` for
/// each one that passes `filter` (a BPF expression compiled by libpcap).
///
/// Returns `Err` only when nothing can be read at all (missing file, not a
/// capture). A file damaged part-way returns `Ok` with `damaged = true` and a
/// warning naming the byte offset and frame number where reading stopped.
pub fn read_path(
    path: &str,
    filter: Option<&str>,
    on_frame: &mut dyn FnMut(&Frame),
) -> anyhow::Result<CaptureInfo> {
    let _ = (path, filter, on_frame);
    todo!()
}
