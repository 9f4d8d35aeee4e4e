//! The one duration grammar of every command (the analyzer, `lab`, and the
//! test kit's simulator, which compiles this same file): one or more
//! `NUMBER UNIT` parts, summed, as in `1m30s`, `200us`, `2.5ms`, `30s`,
//! `1h`. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`.
//! A number may have a fraction; a bare number is an error that shows an
//! example, because `--rtt 40` meant milliseconds in one place and seconds
//! in another before.
//!
//! What it does not do: format durations, or accept negative, infinite or
//! overflowing values. It uses nothing but `std`, so that the test kit can
//! include it without depending on the analyzer.

use std::time::Duration;

const EXAMPLES: &str = "e.g. 30s, 1m30s, 2.5ms, 200us";

/// Parse a duration in the grammar above.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err(format!("empty duration ({EXAMPLES})"));
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let v: f64 = num
            .parse()
            .map_err(|_| format!("not a duration: {text:?} ({EXAMPLES})"))?;
        if unit.is_empty() {
            return Err(format!(
                "duration {text:?} needs a unit: ns, us, ms, s, m or h ({EXAMPLES})"
            ));
        }
        total += v * unit_seconds(unit).ok_or_else(|| {
            format!("unknown unit {unit:?} in {text:?}: use ns, us, ms, s, m or h ({EXAMPLES})")
        })?;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("duration out of range: {text:?}"))
}

/// Seconds per `unit`.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("200us"), Duration::from_micros(200));
        assert_eq!(ok("200µs"), Duration::from_micros(200));
        assert_eq!(ok("2.5ms"), Duration::from_micros(2500));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("4h"), Duration::from_secs(4 * 3600));
        assert_eq!(ok("1h2m3s4ms"), Duration::from_millis(3_723_004));
        assert_eq!(ok("500ns"), Duration::from_nanos(500));
        assert_eq!(ok("0ms"), Duration::ZERO);
    }

    #[test]
    fn a_bare_number_or_unknown_unit_is_an_error_with_an_example() {
        for bad in ["40", "1m30", "", "fast", "3 parsecs", "-1s", "1.2.3s", "5x"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("e.g. 30s"), "{bad}: {e}");
        }
    }
}
