//! Measurements the lab takes beside the capture: the achieved RTT by ping,
//! summary statistics, and a minimal count of the sender's data segments
//! from the captured frames (a cross-check for the analyzer, not a decoder:
//! IPv4 over RAW or Ethernet only, no options beyond header lengths).

use serde::Serialize;

use super::netns::Netns;

/// min / median / p90 / max (and mean) of a sample, in ms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
    pub mean: f64,
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let i = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[i.clamp(1, n) - 1]
}

pub fn summarize(v: &[f64]) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(Summary {
        n: s.len(),
        min: s[0],
        median: if s.len() % 2 == 1 {
            s[s.len() / 2]
        } else {
            (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
        },
        p90: pct(&s, 90.0),
        max: s[s.len() - 1],
        mean: s.iter().sum::<f64>() / s.len() as f64,
    })
}

/// Parse `time=40.1 ms` from ping's per-reply lines.
pub fn parse_ping(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| {
            let i = l.find("time=")?;
            let rest = &l[i + 5..];
            let end = rest.find(' ').unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// `count` pings from `ns` to `dst`, `spacing_ms` apart; RTTs in ms.
pub fn ping(ns: &Netns, dst: &str, count: u32, spacing_ms: f64) -> anyhow::Result<Vec<f64>> {
    let out = ns.exec(&[
        "ping",
        "-n",
        "-c",
        &count.to_string(),
        "-i",
        &format!("{:.3}", spacing_ms / 1000.0),
        "-W",
        "3",
        dst,
    ])?;
    Ok(parse_ping(&out))
}

/// Payload length of an IPv4/TCP packet from `src` (bytes of the IP header
/// onwards), or None when it is something else.
pub fn tcp_payload_from(ip: &[u8], src: [u8; 4]) -> Option<usize> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 || ip[12..16] != src {
        return None;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let tcp = ip.get(ihl..)?;
    if tcp.len() < 13 {
        return None;
    }
    let doff = (tcp[12] >> 4) as usize * 4;
    total.checked_sub(ihl + doff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_lines_are_parsed() {
        let out = "PING 10.77.0.2 (10.77.0.2) 56(84) bytes of data.\n\
                   64 bytes from 10.77.0.2: icmp_seq=1 ttl=64 time=40.1 ms\n\
                   64 bytes from 10.77.0.2: icmp_seq=2 ttl=64 time=40.25 ms\n\n\
                   rtt min/avg/max/mdev = 40.1/40.2/40.25/0.1 ms\n";
        assert_eq!(parse_ping(out), vec![40.1, 40.25]);
    }

    #[test]
    fn summary_percentiles() {
        let v: Vec<f64> = (1..=10).map(|x| x as f64).collect();
        let s = summarize(&v).unwrap();
        assert_eq!((s.min, s.median, s.p90, s.max), (1.0, 5.5, 9.0, 10.0));
    }

    #[test]
    fn payload_of_ipv4_tcp() {
        let mut p = vec![0u8; 20 + 32 + 4];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(56u16).to_be_bytes());
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 77, 0, 1]);
        p[20 + 12] = 8 << 4;
        assert_eq!(tcp_payload_from(&p, [10, 77, 0, 1]), Some(4));
        assert_eq!(tcp_payload_from(&p, [10, 77, 0, 2]), None);
    }
}
