//! Latency histograms of this process, for `/metrics`: how long files take from arrival to
//! translation (`edigate_stage_seconds{stage="translated"}`), from translation to delivery per
//! target (`edigate_stage_seconds{stage="delivered",target}`), and each request to a target
//! (`edigate_target_request_seconds{target}`). Counters since the process started, as
//! Prometheus histograms are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

/// Upper bounds of the buckets, in seconds.
const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

/// (metric, labels) -> histogram.
type Registry = Mutex<BTreeMap<(&'static str, String), Histogram>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Records one observation of `seconds` under `metric` with `labels` (already in the
/// exposition's form, `stage="translated"`).
pub fn observe(metric: &'static str, labels: &str, seconds: f64) {
    let seconds = seconds.max(0.0);
    let mut r = registry().lock().unwrap_or_else(|p| p.into_inner());
    let h = r.entry((metric, labels.to_string())).or_default();
    for (i, b) in BOUNDS.iter().enumerate() {
        if seconds <= *b {
            h.buckets[i] += 1;
        }
    }
    h.count += 1;
    h.sum += seconds;
}

/// Seconds from an RFC 3339 time (whole seconds) to now.
pub fn since(rfc3339: &str) -> Option<f64> {
    let t = crate::util::Utc::parse_rfc3339(rfc3339.get(..19).map(|s| format!("{s}Z"))?.as_str())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(now - t.epoch as f64)
}

const HELP: [(&str, &str); 2] = [
    ("edigate_stage_seconds", "Seconds from a file's arrival to its translation (stage=translated), and from translation to delivery per target (stage=delivered)."),
    ("edigate_target_request_seconds", "Seconds each delivery request to a target took."),
];

/// The histograms in the Prometheus text format.
pub fn exposition() -> String {
    let r = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = String::new();
    for (metric, help) in HELP {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} histogram");
        for ((m, labels), h) in r.iter().filter(|((m, _), _)| *m == metric) {
            for (i, b) in BOUNDS.iter().enumerate() {
                let _ = writeln!(out, "{m}_bucket{{{labels},le=\"{b}\"}} {}", h.buckets[i]);
            }
            let _ = writeln!(out, "{m}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{m}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{m}_count{{{labels}}} {}", h.count);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_count_every_observation() {
        observe("edigate_target_request_seconds", "target=\"t-test\"", 0.02);
        observe("edigate_target_request_seconds", "target=\"t-test\"", 3.0);
        let text = exposition();
        for want in [
            "edigate_target_request_seconds_bucket{target=\"t-test\",le=\"0.01\"} 0",
            "edigate_target_request_seconds_bucket{target=\"t-test\",le=\"0.025\"} 1",
            "edigate_target_request_seconds_bucket{target=\"t-test\",le=\"5\"} 2",
            "edigate_target_request_seconds_bucket{target=\"t-test\",le=\"+Inf\"} 2",
            "edigate_target_request_seconds_count{target=\"t-test\"} 2",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        assert!(since("2026-01-01T00:00:00Z").is_some_and(|s| s > 0.0));
        assert!(since("2026-01-01T00:00:00.123Z").is_some());
    }
}
