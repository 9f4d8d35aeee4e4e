//! Charts and reports from a capture the test writes itself: a sender at the
//! capture point (client) doing 4-byte writes at a fixed interval with Nagle
//! on (one small segment outstanding; held data leaves when the ACK
//! arrives), and a peer ACKing every segment one RTT later.
//!
//! Checks: the SVG histogram bars equal the report's histogram, the number
//! of segment bars in the time-sequence graph equals the series' segments,
//! PNG files decode, the HTML report is self-contained with one `<svg` per
//! chart, and (when Debian's chromium is installed) that it loads in a
//! headless browser with the charts present.

use nagle_analyze::decode::flags;
use nagle_analyze::pipeline::{self, Config};
use nagle_analyze::render::charts::{self, ChartFormat, Plot};
use nagle_analyze::render::html;
use nagle_analyze::report::Report;
use nagle_testkit::writer::{tcp_frame, Endian, PcapWriter, TcpSpec, TsPrecision};
use std::path::{Path, PathBuf};
use std::process::Command;

const LT_ETHERNET: u32 = 1;

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write a Nagle-on capture (client vantage): `n` writes of 4 bytes every
/// `interval_ms`, RTT `rtt_ms`; segment number `retrans` (if any) is sent
/// again 1 ms after its first transmission.
pub fn nagle_capture(path: &Path, rtt_ms: f64, interval_ms: f64, n: usize, retrans: Option<usize>) {
    let ms = |x: f64| (x * 1e6) as i64;
    let t0: i64 = 1_700_000_000_000_000_000;
    let c: std::net::SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let s: std::net::SocketAddr = "192.0.2.2:5001".parse().unwrap();
    let (ci, si) = (1000u32, 5000u32);
    let mut ev: Vec<(i64, TcpSpec)> = Vec::new();
    let spec = |src, dst, seq, ack, fl, payload: Vec<u8>, mss| TcpSpec {
        src,
        dst,
        seq,
        ack,
        flags: fl,
        mss,
        payload,
        ..Default::default()
    };
    ev.push((t0, spec(c, s, ci, 0, flags::SYN, vec![], Some(1460))));
    ev.push((
        t0 + ms(rtt_ms),
        spec(
            s,
            c,
            si,
            ci + 1,
            flags::SYN | flags::ACK,
            vec![],
            Some(1460),
        ),
    ));
    let start = t0 + ms(rtt_ms) + ms(0.05);
    ev.push((start, spec(c, s, ci + 1, si + 1, flags::ACK, vec![], None)));
    // Nagle simulation.
    let writes: Vec<i64> = (0..n)
        .map(|i| start + ms(1.0) + ms(interval_ms * i as f64))
        .collect();
    let mut next = 0usize; // next write not yet sent
    let mut sent_bytes = 0u32;
    let mut free_at = i64::MIN; // time the outstanding segment is ACKed
    let mut seg_no = 0usize;
    while next < n {
        let t = writes[next].max(free_at);
        let mut k = next;
        while k < n && writes[k] <= t {
            k += 1;
        }
        let len = 4 * (k - next) as u32;
        let seq = ci + 1 + sent_bytes;
        let payload = vec![b'x'; len as usize];
        ev.push((
            t,
            spec(
                c,
                s,
                seq,
                si + 1,
                flags::ACK | flags::PSH,
                payload.clone(),
                None,
            ),
        ));
        if retrans == Some(seg_no) {
            ev.push((
                t + ms(1.0),
                spec(c, s, seq, si + 1, flags::ACK | flags::PSH, payload, None),
            ));
        }
        sent_bytes += len;
        free_at = t + ms(rtt_ms);
        ev.push((
            free_at,
            spec(s, c, si + 1, ci + 1 + sent_bytes, flags::ACK, vec![], None),
        ));
        next = k;
        seg_no += 1;
    }
    ev.sort_by_key(|e| e.0);
    let mut w = PcapWriter::new(
        Vec::new(),
        LT_ETHERNET,
        65535,
        Endian::Little,
        TsPrecision::Nano,
    )
    .unwrap();
    for (t, sp) in &ev {
        let f = tcp_frame(LT_ETHERNET, sp);
        w.write(*t, &f, f.len() as u32).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

fn fixture(dir: &Path) -> (PathBuf, Report) {
    let p = dir.join("nagle.pcap");
    nagle_capture(&p, 25.0, 9.0, 60, Some(5));
    let cfg = Config {
        series: true,
        write_size: Some(4),
        ..Default::default()
    };
    let r = pipeline::analyze_files(&[p.display().to_string()], &cfg).unwrap();
    (p, r)
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(tag[i..j].to_string())
}

fn elements<'a>(svg: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    svg.match_indices(&open)
        .map(|(i, _)| {
            let j = svg[i..].find('>').unwrap() + i;
            &svg[i..=j]
        })
        .collect()
}

#[test]
fn histogram_bars_equal_report_counts() {
    let dir = out_dir("hist");
    let (_, r) = fixture(&dir);
    let f = &r.flows[0];
    let d = f.directions.iter().find(|d| d.data_segments > 0).unwrap();
    let hist = &d
        .writes_per_segment
        .as_ref()
        .expect("writes known")
        .histogram;
    assert!(hist.len() >= 2, "fixture should coalesce: {hist:?}");
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::Histogram { .. }))
        .unwrap();
    let svg = chart.svg().unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let color = format!(
        "#{:02X}{:02X}{:02X}",
        charts::BAR_COLOR.0,
        charts::BAR_COLOR.1,
        charts::BAR_COLOR.2
    );
    let mut bars: Vec<(f64, f64)> = elements(&svg, "rect")
        .into_iter()
        .filter(|r| attr(r, "fill").is_some_and(|f| f.eq_ignore_ascii_case(&color)))
        .map(|r| {
            (
                attr(r, "x").unwrap().parse().unwrap(),
                attr(r, "height").unwrap().parse().unwrap(),
            )
        })
        .collect();
    bars.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(bars.len(), hist.len(), "one bar per histogram bin");
    // Heights are proportional to the counts (integer pixels: ±1.5 px).
    let max_c = *hist.values().max().unwrap() as f64;
    let max_h = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    for ((_, h), (_, c)) in bars.iter().zip(hist) {
        let want = *c as f64 / max_c * max_h;
        assert!((h - want).abs() <= 1.5, "bar {h} px for count {c}");
    }
    // The count labels over the bars are the report's counts.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    for c in hist.values() {
        assert!(
            texts.contains(&c.to_string()),
            "label {c} missing in {texts:?}"
        );
    }
}

#[test]
fn time_sequence_has_one_bar_per_segment() {
    let dir = out_dir("timeseq");
    let (_, r) = fixture(&dir);
    let f = &r.flows[0];
    let d = f.directions.iter().find(|d| d.data_segments > 0).unwrap();
    let series = d.series.as_ref().expect("series asked for");
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::TimeSequence { .. }))
        .unwrap();
    let svg = chart.svg().unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let marks = svg_marks(&svg);
    let count = |class: &str| marks.iter().filter(|m| m.0 == class).count();
    let retrans = series.segments.iter().filter(|s| s.retransmission).count();
    assert_eq!(retrans, 1, "fixture has one retransmission");
    assert_eq!(count("segment"), series.segments.len() - retrans);
    // Retransmission: a bar plus a cross marker, both with the tooltip.
    assert_eq!(count("retransmission"), 2 * retrans);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let colour = |c: plotters::style::RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    for (class, c) in [
        ("segment", charts::SEGMENT_COLOR),
        ("retransmission", charts::RETRANS_COLOR),
    ] {
        assert!(doc
            .descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .all(|n| n.attribute("stroke") == Some(colour(c).as_str())));
    }
    assert!(svg.contains("retransmission"));
    assert!(svg.contains(&format!("flow {}", f.id)));
    // Every chart's title names the capture file and the flow.
    let flows = charts::select_flows(&r, &[], 8).unwrap();
    let all: Vec<_> = charts::flow_charts(&r, &flows)
        .into_iter()
        .flat_map(|(_, c)| c)
        .collect();
    assert!(all.len() >= 3);
    for c in &all {
        assert!(
            c.title.contains("nagle.pcap, flow 0: "),
            "title without capture and flow: {}",
            c.title
        );
        assert!(c.svg().unwrap().contains("nagle.pcap"), "{}", c.name);
    }
    // With --write-size: write marks at each multiple of the size.
    let sized = count("size-write") as u64;
    assert_eq!(Some(sized), d.writes, "one mark per write of the size");
}

/// Without a log or a write size, the writes of the inferred unit are
/// drawn (one mark per inferred write, each naming a frame of the
/// series) and the legend says they are inferred.
#[test]
fn time_sequence_draws_inferred_writes() {
    let dir = out_dir("inferred");
    let p = dir.join("nagle.pcap");
    nagle_capture(&p, 25.0, 9.0, 60, Some(5));
    let cfg = Config {
        series: true,
        ..Default::default()
    };
    let r = pipeline::analyze_files(&[p.display().to_string()], &cfg).unwrap();
    let f = &r.flows[0];
    let d = f.directions.iter().find(|d| d.data_segments > 0).unwrap();
    assert_eq!(
        d.write_source.as_ref().map(|s| s.to_string()).as_deref(),
        Some("inferred")
    );
    assert_eq!(d.write_unit, Some(4));
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::TimeSequence { .. }))
        .unwrap();
    let svg = chart.svg().unwrap();
    std::fs::write(dir.join("timeseq.svg"), &svg).unwrap();
    let marks = svg_marks(&svg);
    let inferred: Vec<_> = marks.iter().filter(|m| m.0 == "inferred-write").collect();
    assert_eq!(
        Some(inferred.len() as u64),
        d.writes,
        "marks = inferred writes"
    );
    assert!(marks.iter().all(|m| m.0 != "write"), "no log writes");
    let frames: Vec<u64> = d
        .series
        .as_ref()
        .unwrap()
        .segments
        .iter()
        .map(|s| s.frame)
        .collect();
    for (_, title) in &inferred {
        let fr = frames_in(title);
        assert_eq!(fr.len(), 1, "{title}");
        assert!(frames.contains(&fr[0]), "{title}");
    }
    // The legend (wrapped over lines in the strip) says "inferred writes".
    assert!(svg.contains("\ninferred writes (4-byte\n"), "legend");
}

/// A public capture with SACK blocks and zero-window episodes: every SACK
/// block and episode of the series is a mark whose tooltip names a frame
/// of the capture, the episodes' zero-window ACKs add up to the receiver's
/// `zero_window` count, and the RTO tail is cut off the time axis.
#[test]
fn time_sequence_marks_sack_and_zero_window_on_corpus() {
    let Ok(corpus) = std::env::var("NAGLE_CORPUS") else {
        eprintln!("skipped: NAGLE_CORPUS not set (the public captures)");
        return;
    };
    let p = Path::new(&corpus).join("http_bulk_retrans_ooo_zerowin_sack.pcap");
    assert!(
        p.is_file(),
        "NAGLE_CORPUS is set but {} is missing",
        p.display()
    );
    let cfg = Config {
        series: true,
        ..Default::default()
    };
    let r = pipeline::analyze_files(&[p.display().to_string()], &cfg).unwrap();
    let frames = r.captures[0].frames;
    let f = &r.flows[0];
    let d = f.directions.iter().max_by_key(|d| d.payload_bytes).unwrap();
    let peer = f.directions.iter().find(|o| o.from == d.to).unwrap();
    let s = d.series.as_ref().unwrap();
    assert!(s.sacks.len() >= 10, "SACK blocks: {}", s.sacks.len());
    assert_eq!(s.zero_windows.len(), 2, "{:?}", s.zero_windows);
    let adverts: u64 = s.zero_windows.iter().map(|z| z.adverts).sum();
    assert_eq!(
        adverts, peer.zero_window,
        "zero-window ACKs of the receiver"
    );
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::TimeSequence { .. }))
        .unwrap();
    assert!(chart
        .title
        .contains("http_bulk_retrans_ooo_zerowin_sack.pcap"));
    let svg = chart.svg().unwrap();
    let marks = svg_marks(&svg);
    let of = |class: &str| -> Vec<&String> {
        marks
            .iter()
            .filter(|m| m.0 == class)
            .map(|m| &m.1)
            .collect()
    };
    let (sacks, zeros) = (of("sack"), of("zero-window"));
    assert_eq!(sacks.len(), s.sacks.len());
    assert_eq!(zeros.len(), s.zero_windows.len());
    for (t, b) in sacks.iter().zip(&s.sacks) {
        assert_eq!(frames_in(t)[0], b.frame, "{t}");
        assert!(b.frame >= 1 && b.frame <= frames, "{t}");
        assert!(t.contains(&format!("{} bytes", b.end - b.start)), "{t}");
    }
    for (t, z) in zeros.iter().zip(&s.zero_windows) {
        let fr = frames_in(t);
        assert_eq!(fr[0], z.frame, "{t}");
        assert!(fr.iter().all(|&x| x >= 1 && x <= frames), "{t}");
        assert!(t.contains("reopened"), "{t}");
    }
    // Distinguishable: own colours, and legend entries.
    let colour = |c: plotters::style::RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for (class, c) in [
        ("sack", charts::timeseq::SACK_COLOR),
        ("zero-window", charts::timeseq::ZERO_WINDOW_COLOR),
        ("retransmission", charts::RETRANS_COLOR),
    ] {
        let n = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .inspect(|n| assert_eq!(n.attribute("stroke"), Some(colour(c).as_str())))
            .count();
        assert!(n > 0, "{class}");
    }
    assert!(svg.contains("SACK block") && svg.contains("zero window (until"));
    assert!(svg.contains("left off the time axis"), "RTO tail note");
}

/// The lab fixture `name` analysed with its write log and series.
fn lab_report(name: &str) -> Report {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lab")
        .join(name);
    let cfg = Config {
        series: true,
        writes_log: Some(dir.join("writes.jsonl")),
        ..Default::default()
    };
    pipeline::analyze_files(&[dir.join("capture.pcap").display().to_string()], &cfg).unwrap()
}

/// (class, title) of every data mark in an SVG.
fn svg_marks(svg: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    doc.descendants()
        .filter(|n| n.is_element() && n.attribute("class").is_some())
        .filter(|n| {
            n.parent()
                .is_some_and(|p| p.attribute("class") == Some("marks"))
        })
        .map(|n| {
            let title = n
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("")
                .to_string();
            (n.attribute("class").unwrap().to_string(), title)
        })
        .collect()
}

/// Numbers after "frame " / "frames " in a tooltip.
fn frames_in(title: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in title.split("frame").skip(1) {
        let part = part.trim_start_matches('s').trim_start();
        for n in part.split('–').take(2) {
            let digits: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(v) = digits.parse() {
                out.push(v);
            }
            if !n.chars().all(|c| c.is_ascii_digit()) {
                break;
            }
        }
    }
    out
}

#[test]
fn time_sequence_marks_every_write_stall_and_frame() {
    for name in ["nagle-on-rtt20-int1", "reqresp-rtt20"] {
        let r = lab_report(name);
        let f = &r.flows[0];
        let frames_in_capture = r.captures[0].frames;
        let d = f
            .directions
            .iter()
            .find(|d| d.write_delay_ms.is_some())
            .expect("log direction");
        let series = d.series.as_ref().unwrap();
        let n_writes = d.writes.unwrap() as usize;
        assert_eq!(
            series.writes.len(),
            n_writes,
            "{name}: one series write per log write"
        );
        let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
            .into_iter()
            .find(|c| matches!(c.plot, Plot::TimeSequence { .. }))
            .unwrap();
        let svg = chart.svg().unwrap();
        let marks = svg_marks(&svg);
        // Every write of the log is a mark, numbered 1..=n.
        let writes: Vec<&String> = marks
            .iter()
            .filter(|m| m.0 == "write")
            .map(|m| &m.1)
            .collect();
        assert_eq!(writes.len(), n_writes, "{name}");
        for (i, t) in writes.iter().enumerate() {
            assert!(t.starts_with(&format!("write {}:", i + 1)), "{name}: {t}");
        }
        // Every stall event is a marker naming its frame and cost.
        let stalls: Vec<&String> = marks
            .iter()
            .filter(|m| m.0 == "stall")
            .map(|m| &m.1)
            .collect();
        assert_eq!(stalls.len(), d.stalls.events.len(), "{name}");
        for (e, t) in d.stalls.events.iter().zip(&stalls) {
            assert!(t.contains(&format!("frame {},", e.frame)), "{t}");
            assert!(t.contains(&format!("cost {:.3} ms", e.ms)), "{t}");
        }
        if name == "reqresp-rtt20" {
            assert!(!stalls.is_empty(), "the request/response fixture stalls");
        }
        // Every segment is a mark; every mark has a tooltip; every frame
        // named exists in the capture and is a segment of the series.
        let seg_frames: std::collections::HashSet<u64> =
            series.segments.iter().map(|s| s.frame).collect();
        let segs = marks.iter().filter(|m| m.0 == "segment").count();
        assert_eq!(
            segs,
            series.segments.iter().filter(|s| !s.retransmission).count()
        );
        let mut named = 0;
        for (class, t) in &marks {
            assert!(!t.is_empty(), "{class} mark without a tooltip");
            for fr in frames_in(t) {
                assert!(
                    fr >= 1 && fr <= frames_in_capture,
                    "{name}: frame {fr} in {t}"
                );
                assert!(
                    seg_frames.contains(&fr),
                    "{name}: frame {fr} is not a data segment: {t}"
                );
                named += 1;
            }
        }
        assert!(
            named >= segs + n_writes,
            "{name}: tooltips name frames ({named})"
        );
        // Segment tooltips carry time, bytes and writes.
        let seg = marks.iter().find(|m| m.0 == "segment").unwrap();
        assert!(
            seg.1.contains(" ms") && seg.1.contains("bytes") && seg.1.contains("write"),
            "{}",
            seg.1
        );
    }
}

#[test]
fn latency_chart_has_every_seen_write_and_reference_lines() {
    let r = lab_report("nagle-on-rtt20-int1");
    let f = &r.flows[0];
    let d = f
        .directions
        .iter()
        .find(|d| d.write_delay_ms.is_some())
        .unwrap();
    let seen = d.write_delay_ms.as_ref().unwrap().waits().count();
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::Latency { .. }))
        .expect("latency chart with a log");
    let Plot::Latency(l) = &chart.plot else {
        unreachable!()
    };
    assert_eq!(l.points.len(), seen);
    // Nagle held each write up to one RTT: no delay above RTT + 10 %.
    let rtt = f.rtt_ms.min.unwrap();
    assert!(
        l.points.iter().all(|p| p.1 <= rtt * 1.1),
        "delays above the RTT"
    );
    assert!(
        l.points.iter().any(|p| p.1 >= rtt * 0.8),
        "some write waited about an RTT"
    );
    let svg = chart.svg().unwrap();
    roxmltree::Document::parse(&svg).unwrap();
    assert!(svg.contains(&format!("path RTT {rtt:.3} ms")));
    assert!(svg.contains("ACK delay") || svg.contains("delayed-ACK timer"));
}

#[test]
fn sweep_marks_each_rtt_and_leaves_gaps_for_missing_points() {
    use charts::SweepPoint;
    let p = |rtt_ms: f64, interval_ms: f64, wps: f64| SweepPoint {
        rtt_ms,
        interval_ms,
        aggregated: ((wps - 1.0) * 100.0).max(0.0) as u64,
        mean_wps: wps,
        nodelay: false,
    };
    // RTT 40 ms lacks the 10 ms point; RTT 1 ms is complete.
    let pts = vec![
        p(1.0, 0.1, 10.0),
        p(1.0, 1.0, 1.0),
        p(1.0, 10.0, 1.0),
        p(1.0, 50.0, 1.0),
        p(40.0, 0.1, 400.0),
        p(40.0, 1.0, 40.0),
        p(40.0, 50.0, 1.0),
    ];
    let chart = charts::sweep_chart(&pts, charts::sweep::YAxis::Auto);
    let svg = chart.svg().unwrap();
    roxmltree::Document::parse(&svg).unwrap();
    // The interval = RTT marks: vertical dash pieces at one x per RTT and panel.
    let mut xs: Vec<i64> = elements(&svg, "polyline")
        .into_iter()
        .filter(|e| attr(e, "stroke").as_deref() == Some("#5A5A5A"))
        .filter_map(|e| {
            let pts = attr(e, "points")?;
            let v: Vec<(i64, i64)> = pts
                .split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            (v.len() == 2 && v[0].0 == v[1].0).then_some(v[0].0)
        })
        .collect();
    xs.sort_unstable();
    xs.dedup();
    assert_eq!(xs.len(), 4, "one RTT mark per RTT in each panel: {xs:?}");
    // log x axis: 1 ms and 40 ms are log10(40) decades apart in both panels.
    let gap = |a: i64, b: i64| (b - a) as f64;
    assert!((gap(xs[0], xs[1]) - gap(xs[2], xs[3])).abs() <= 2.0);
    assert!(
        svg.contains("1 missing point(s) drawn as gaps"),
        "note names the gap"
    );
    // Writes per segment spans 1..400: the automatic axis goes log.
    assert!(svg.contains("mean writes per segment (log)"));
    // Legend outside the data: every legend label sits right of both panels.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for n in doc.descendants().filter(|n| n.has_tag_name("text")) {
        if n.text().is_some_and(|t| t.starts_with("RTT ")) {
            let x: f64 = n.attribute("x").unwrap().parse().unwrap();
            assert!(x > (charts::WIDTH - 230) as f64, "legend label at x {x}");
        }
    }
}

#[test]
fn time_sequence_axes_fit_the_data() {
    // Data fills the first ~1 s, then a long idle tail with one late ACK
    // would stretch a flow-duration axis: the chart's axis follows the data.
    let r = lab_report("nagle-on-rtt20-int1");
    let f = &r.flows[0];
    let d = f
        .directions
        .iter()
        .find(|d| d.write_delay_ms.is_some())
        .unwrap();
    let chart = charts::direction_charts(f, d, &charts::capture_name(&r, f))
        .into_iter()
        .find(|c| matches!(c.plot, Plot::TimeSequence { .. }))
        .unwrap();
    let svg = chart.svg().unwrap();
    let marks = svg_marks(&svg);
    // Writes start at ~21 ms after the SYN: the first write mark must sit
    // well inside the plot, not at its left edge (x axis starts at the data).
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let xs: Vec<f64> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("write"))
        .map(|n| n.attribute("cx").unwrap().parse().unwrap())
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(
        hi - lo > 0.6 * (charts::WIDTH as f64 - 230.0 - 120.0),
        "writes span {lo}..{hi} px"
    );
    assert!(!marks.is_empty());
}

#[test]
fn png_files_decode_and_svgs_parse() {
    let dir = out_dir("png");
    let (_, r) = fixture(&dir);
    let flows = charts::select_flows(&r, &[], 8).unwrap();
    let all: Vec<_> = charts::flow_charts(&r, &flows)
        .into_iter()
        .flat_map(|(_, c)| c)
        .collect();
    assert_eq!(all.len(), 3, "histogram, time-sequence, send interval");
    let files = charts::write_charts(&all, &dir, ChartFormat::Both).unwrap();
    assert_eq!(files.len(), 6);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        if f.extension().unwrap() == "png" {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", f.display());
            let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
            assert_eq!((w, h), (charts::WIDTH, charts::HEIGHT));
            // Not blank: more than a few distinct byte values.
            assert!(bytes.len() > 5000, "{} suspiciously small", f.display());
        } else {
            let s = String::from_utf8(bytes).unwrap();
            roxmltree::Document::parse(&s).unwrap();
        }
    }
}

#[test]
fn write_delay_cdf_with_a_log() {
    let dir = out_dir("cdf");
    let p = dir.join("nagle.pcap");
    nagle_capture(&p, 25.0, 9.0, 40, None);
    // The log: same write times as the fixture (start + 1 ms + i × 9 ms).
    let t0 = 1_700_000_000.0 + 0.025 + 0.00005 + 0.001;
    let log: String = (0..40)
        .map(|i| format!("{{\"t\": {:.9}, \"bytes\": 4}}\n", t0 + 0.009 * i as f64))
        .collect();
    let lp = dir.join("writes.jsonl");
    std::fs::write(&lp, log).unwrap();
    let cfg = Config {
        series: true,
        writes_log: Some(lp),
        ..Default::default()
    };
    let r = pipeline::analyze_files(&[p.display().to_string()], &cfg).unwrap();
    let f = &r.flows[0];
    let d = f.directions.iter().find(|d| d.data_segments > 0).unwrap();
    let wd = d.write_delay_ms.as_ref().expect("write delay with a log");
    let cs = charts::direction_charts(f, d, &charts::capture_name(&r, f));
    let cdf = cs
        .iter()
        .find(|c| matches!(c.plot, Plot::WriteDelayCdf { .. }))
        .expect("CDF chart");
    if let Plot::WriteDelayCdf { points, total, .. } = &cdf.plot {
        assert_eq!(*total, wd.per_write.len());
        assert!((points.last().unwrap().1 - 1.0).abs() < 1e-9);
    }
    charts::write_charts(&cs, &dir, ChartFormat::Both).unwrap();
}

#[test]
fn html_report_is_self_contained() {
    let dir = out_dir("html");
    let (_, r) = fixture(&dir);
    let flows = charts::select_flows(&r, &[], 8).unwrap();
    let n_charts: usize = charts::flow_charts(&r, &flows)
        .iter()
        .map(|(_, c)| c.len())
        .sum();
    let path = dir.join("report.html");
    html::write_report(&r, &flows, &path, ChartFormat::Svg).unwrap();
    let s = std::fs::read_to_string(&path).unwrap();
    for bad in ["src=\"http", "href=\"http", "<script", "@import", "url("] {
        assert!(!s.contains(bad), "external reference {bad}");
    }
    assert_eq!(s.matches("<svg").count(), n_charts);
    assert!(s.contains("Nagle on") || s.contains("Nagle off") || s.contains("inconclusive"));
    // Advice (when there is any) comes before the summary table.
    if r.flows.iter().any(|f| !f.advice.is_empty()) {
        assert!(s.find("<h2>Advice").unwrap() < s.find("<h2>Summary").unwrap());
    }
    // The page title names the capture.
    assert!(
        s.contains("<title>nagle.pcap — nagle-analyze report</title>"),
        "title"
    );
    // Summary rows link to flow sections that exist.
    let doc = roxmltree::Document::parse_with_options(
        &s[s.find("<table>").unwrap()..s.find("</table>").unwrap() + 8],
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("summary table is well-formed");
    let links: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("href"))
        .collect();
    assert!(!links.is_empty(), "summary links");
    for l in &links {
        assert!(
            s.contains(&format!("id=\"{}\"", l.trim_start_matches('#'))),
            "{l} has no target"
        );
    }
    // Every numeric cell carries its unit.
    for row in doc.descendants().filter(|n| n.has_tag_name("tr")).skip(1) {
        let cells: Vec<String> = row
            .children()
            .filter(|c| c.has_tag_name("td"))
            .map(|c| c.descendants().filter_map(|t| t.text()).collect())
            .collect();
        for (i, unit) in [
            (3, " ms"),
            (4, " segments"),
            (5, " segments"),
            (7, " writes/segment"),
            (9, " ms total"),
        ] {
            assert!(
                cells[i] == "–" || cells[i].ends_with(unit),
                "cell {i} {:?} lacks {unit}",
                cells[i]
            );
        }
    }
    chromium_check(&path, n_charts);
}

#[test]
fn markdown_report_links_written_charts() {
    let dir = out_dir("md");
    let (_, r) = fixture(&dir);
    let flows = charts::select_flows(&r, &[], 8).unwrap();
    let path = dir.join("report.md");
    html::write_report(&r, &flows, &path, ChartFormat::Png).unwrap();
    let s = std::fs::read_to_string(&path).unwrap();
    let links: Vec<&str> = s
        .match_indices("](")
        .map(|(i, _)| {
            let rest = &s[i + 2..];
            &rest[..rest.find(')').unwrap()]
        })
        .collect();
    assert_eq!(links.len(), 3);
    for l in links {
        assert!(l.ends_with(".png"));
        assert!(dir.join(l).is_file(), "{l} not written");
    }
}

#[test]
fn flow_selector() {
    let dir = out_dir("select");
    let (_, r) = fixture(&dir);
    let id = r.flows[0].id;
    assert_eq!(
        charts::select_flows(&r, &[id.to_string()], 8)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        charts::select_flows(&r, &["192.0.2.2:5001".into()], 8)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        charts::select_flows(&r, &[":40000".into()], 8)
            .unwrap()
            .len(),
        1
    );
    assert!(charts::select_flows(&r, &["10.0.0.1:1".into()], 8).is_err());
}

#[test]
fn cli_charts_report_and_sweep() {
    let dir = out_dir("cli");
    let cap = dir.join("nagle.pcap");
    nagle_capture(&cap, 25.0, 9.0, 60, Some(5));
    let bin = env!("CARGO_BIN_EXE_nagle-analyze");
    let st = Command::new(bin)
        .arg(&cap)
        .args(["--write-size", "4", "--chart-format", "both", "--charts"])
        .arg(dir.join("charts"))
        .arg("--report")
        .arg(dir.join("report.html"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let n = std::fs::read_dir(dir.join("charts")).unwrap().count();
    assert_eq!(n, 6, "3 charts × svg+png");
    assert!(dir.join("report.html").is_file());

    // Sweep: 3 intervals × 2 RTTs, interval from lab metadata for some,
    // inferred for others.
    let mut args = Vec::new();
    for (j, rtt) in [5.0, 40.0].iter().enumerate() {
        for (k, iv) in [1.0, 4.0, 20.0, 60.0].iter().enumerate() {
            let p = dir.join(format!("sweep-{j}-{k}.pcap"));
            nagle_capture(&p, *rtt, *iv, 80, None);
            if k % 2 == 0 {
                std::fs::write(
                    dir.join(format!("sweep-{j}-{k}.pcap.json")),
                    format!("{{\"interval_ms\": {iv}, \"rtt_ms\": {rtt}}}"),
                )
                .unwrap();
            }
            args.push(p);
        }
    }
    let out = Command::new(bin)
        .args([
            "sweep",
            "--sweep-log-y",
            "--write-size",
            "4",
            "--chart-format",
            "both",
            "--out-dir",
        ])
        .arg(dir.join("sweep"))
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
    assert!(stdout.contains("metadata") && stdout.contains("inferred"));
    // Inferred intervals are close to the truth.
    for line in stdout.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let k: usize = cols[0].rsplit('-').next().unwrap()[..1].parse().unwrap();
        let want = [1.0, 4.0, 20.0, 60.0][k];
        let got: f64 = cols[2].parse().unwrap();
        assert!((got - want).abs() / want < 0.2, "{line}");
    }
    assert!(dir.join("sweep/sweep.png").is_file());
    let svg = std::fs::read_to_string(dir.join("sweep/sweep.svg")).unwrap();
    assert!(
        svg.contains("mean writes per segment (log)"),
        "--sweep-log-y gives a log axis"
    );
}

/// Load the report in Debian's headless chromium and check the DOM.
fn chromium_check(path: &Path, n_charts: usize) {
    if !nagle_testkit::helpers::tools_present("html_report_is_self_contained", &["chromium"]) {
        return;
    }
    let bin = "chromium";
    let profile = out_dir("chromium-profile");
    let shot = profile.join("report.png");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dom.matches("<svg").count(), n_charts, "svgs in the DOM");
    assert!(dom.contains("Summary"));
    // No console errors (chromium logs console messages as "CONSOLE(...)").
    let err = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = err.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // And a screenshot of the page renders.
    let st = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("chromium runs");
    assert!(
        st.status.success(),
        "screenshot: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "screenshot suspiciously small");
}

/// The HTML page's advice section lists each endpoint's advice once: the
/// browsing capture's 5 connections to one web server give one TCP_CORK
/// entry with the packets summed, linking to the charted flows.
#[test]
fn html_advice_is_grouped_by_endpoint() {
    let Some(corpus) = nagle_testkit::helpers::corpus_dir("html_advice_is_grouped_by_endpoint")
    else {
        return;
    };
    let dir = out_dir("html-grouped");
    let p = corpus.join("http_keepalive_browsing.pcap");
    let r = pipeline::analyze_files(&[p.display().to_string()], &Config::default()).unwrap();
    let flows = charts::select_flows(&r, &[], 2).unwrap();
    let path = dir.join("report.html");
    html::write_report(&r, &flows, &path, ChartFormat::Svg).unwrap();
    let s = std::fs::read_to_string(&path).unwrap();
    let advice = &s[s.find("<h2>Advice").unwrap()..s.find("<h2>Summary").unwrap()];
    let cork: Vec<&str> = advice
        .lines()
        .filter(|l| l.starts_with("<li><b>TCP_CORK</b>"))
        .collect();
    assert_eq!(cork.len(), 1, "{advice}");
    assert!(
        cork[0].contains("<code>192.150.187.43:80</code>, 5 connection(s)"),
        "{}",
        cork[0]
    );
    let g = r
        .advice_groups
        .iter()
        .find(|g| g.option == "TCP_CORK")
        .unwrap();
    assert!(cork[0].contains(&format!("{} packets in all", g.saving_packets.unwrap())));
    for f in &flows {
        if g.flows.contains(&f.id) {
            assert!(
                cork[0].contains(&format!("href=\"#flow{}\"", f.id)),
                "{}",
                cork[0]
            );
        }
    }
}
