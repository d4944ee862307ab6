//! `cargo bench`: throughput of the EDI engine on deterministic synthetic input, one core.
//! Prints MB/s for X12 and EDIFACT parse + full validation, and for X12 850 -> canonical JSON.
//! Sizes: EDIGATE_BENCH_MB (default 64); EDIGATE_BENCH_MAPPINGS=DIR to measure other mappings;
//! EDIGATE_BENCH_ONLY=x12|edifact|translate runs one measure (to profile it);
//! EDIGATE_BENCH_RUNS=N (default 3) runs each measure N times, after one warm-up run, and
//! reports the best.

use edigate::config::Config;
use edigate::formats::edifact::validate::Messages;
use edigate::formats::x12::spec::Standards;
use edigate::translate::{dry_run, Input};
use edigate::util::Utc;
use std::time::Instant;

// The allocator the binary uses (src/main.rs), so the bench measures what runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small deterministic generator (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// X12 004010 850s: interchanges of 1-3 groups of 10-100 orders, 1-30 lines each.
pub fn x12_850(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = String::with_capacity(bytes + 4096);
    let mut isa = 0;
    while out.len() < bytes {
        isa += 1;
        out.push_str(&format!(
            "ISA*00*          *00*          *ZZ*BENCHSENDER    *ZZ*BENCHRECEIVER  *260517*1015*U*00401*{isa:09}*0*P*>~\n"
        ));
        let groups = 1 + r.next(3);
        for g in 1..=groups {
            out.push_str(&format!(
                "GS*PO*BENCHSENDER*BENCHRECEIVER*20260517*1015*{g}*X*004010~\n"
            ));
            let txs = 10 + r.next(90);
            for t in 1..=txs {
                let start = out.len();
                let mut n = 0;
                let mut seg = |s: String, out: &mut String| {
                    out.push_str(&s);
                    out.push_str("~\n");
                    n += 1;
                };
                seg(format!("ST*850*{t:04}"), &mut out);
                seg(
                    format!(
                        "BEG*00*SA*PO{isa:05}{g}{t:04}**2026{:02}{:02}",
                        1 + r.next(12),
                        1 + r.next(28)
                    ),
                    &mut out,
                );
                seg(format!("REF*DP*{:03}", r.next(999)), &mut out);
                seg(
                    format!("DTM*002*2026{:02}{:02}", 1 + r.next(12), 1 + r.next(28)),
                    &mut out,
                );
                for role in ["ST", "BT", "VN"] {
                    seg(
                        format!("N1*{role}*COMPANY {}*92*{:05}", r.next(500), r.next(99999)),
                        &mut out,
                    );
                    seg(format!("N3*{} MAIN STREET", r.next(9999)), &mut out);
                    seg(
                        format!("N4*SPRINGFIELD*IL*{:05}*US", r.next(99999)),
                        &mut out,
                    );
                }
                let lines = 1 + r.next(30);
                for l in 1..=lines {
                    seg(
                        format!(
                            "PO1*{l}*{}*EA*{}.{:02}**BP*{:08}*VP*VN-{:05}*UP*{:012}",
                            1 + r.next(500),
                            r.next(500),
                            r.next(100),
                            r.next(99_999_999),
                            r.next(99_999),
                            r.next(999_999_999_999)
                        ),
                        &mut out,
                    );
                    seg(
                        format!("PID*F****ITEM DESCRIPTION {}", r.next(1000)),
                        &mut out,
                    );
                }
                seg(format!("CTT*{lines}"), &mut out);
                let _ = start;
                out.push_str(&format!("SE*{}*{t:04}~\n", n + 1));
            }
            out.push_str(&format!("GE*{txs}*{g}~\n"));
        }
        out.push_str(&format!("IEA*{groups}*{isa:09}~\n"));
    }
    out.into_bytes()
}

/// EDIFACT D96A ORDERS, 50-200 messages per interchange.
pub fn edifact_orders(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = String::from("UNA:+.? '\n");
    let mut ic = 0;
    while out.len() < bytes {
        ic += 1;
        out.push_str(&format!(
            "UNB+UNOC:3+5412345000013:14+5498765000016:14+260517:1015+{ic}'\n"
        ));
        let msgs = 50 + r.next(150);
        for m in 1..=msgs {
            let mut segs = vec![
                format!("UNH+{m}+ORDERS:D:96A:UN"),
                format!("BGM+220+PO{ic}-{m}+9"),
                format!("DTM+137:2026{:02}{:02}:102", 1 + r.next(12), 1 + r.next(28)),
                format!(
                    "FTX+AAI+++Deliver to gate {}?, dock ?+{}",
                    r.next(20),
                    r.next(9)
                ),
                "NAD+BY+5498765000016::9".to_string(),
                "NAD+SU+5412345000013::9".to_string(),
                "CUX+2:EUR:9".to_string(),
            ];
            let lines = 1 + r.next(30);
            for l in 1..=lines {
                segs.push(format!("LIN+{l}++{:013}:SRS", r.next(9_999_999_999_999)));
                segs.push(format!("QTY+21:{}:PCE", 1 + r.next(500)));
                segs.push(format!("PRI+AAA:{}.{:02}", r.next(500), r.next(100)));
            }
            segs.push("UNS+S".to_string());
            segs.push(format!("CNT+2:{lines}"));
            let n = segs.len() + 1;
            for s in segs {
                out.push_str(&s);
                out.push_str("'\n");
            }
            out.push_str(&format!("UNT+{n}+{m}'\n"));
        }
        out.push_str(&format!("UNZ+{msgs}+{ic}'\n"));
    }
    out.into_bytes()
}

/// Runs per measure (EDIGATE_BENCH_RUNS, default 3); the best is reported.
fn runs() -> usize {
    std::env::var("EDIGATE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The best time of `runs` runs of `f`, after one run not counted (it warms the caches and
/// the allocator, whatever the measures before it left behind).
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    f();
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mb: usize = std::env::var("EDIGATE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let only = std::env::var("EDIGATE_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only == name;
    let x12 = x12_850(mb << 20, 850);
    // Translation first: each measure allocates, and what the large parse measures leave in
    // the allocator should not weigh on the smaller one.
    if run("translate") {
        translate(&x12);
    }
    if run("x12") {
        x12_validate(&x12);
    }
    if run("edifact") {
        edifact_validate(mb);
    }
}

fn x12_validate(x12: &[u8]) {
    let st = Standards::builtin();
    validated("x12", "transactions", x12.len(), |pipe| {
        edigate::formats::x12::validate::summary(x12, &st, 10, pipe).unwrap()
    });
}

fn edifact_validate(mb: usize) {
    let ed = edifact_orders(mb << 20, 96);
    let defs = Messages::builtin();
    validated("edifact", "messages", ed.len(), |pipe| {
        edigate::formats::edifact::validate::summary(&ed[..], &defs, 10, pipe).unwrap()
    });
}

/// Prints the best speed of `validate` over `bytes`, parsing on one thread and on two.
fn validated(
    syntax: &str,
    units: &str,
    bytes: usize,
    validate: impl Fn(bool) -> edigate::formats::Summary,
) {
    for (pipe, how) in [(false, "one thread"), (true, "two threads")] {
        let (secs, s) = best_of(runs(), || validate(pipe));
        assert!(!s.rejected(), "{:?}", s.diagnostics);
        let mb = bytes as f64 / 1e6;
        println!(
            "{syntax} parse+validate, {how}: {mb:.1} MB in {secs:.3} s = {:.1} MB/s ({} {units}, {} segments)",
            mb / secs,
            s.transactions,
            s.segments
        );
    }
}

fn translate(x12: &[u8]) {
    // EDIGATE_BENCH_MAPPINGS=DIR measures the mappings in DIR (an operator's own) instead of
    // the shipped ones.
    let mut cfg = Config::defaults(std::path::Path::new("/"));
    if let Some(dir) = std::env::var_os("EDIGATE_BENCH_MAPPINGS") {
        let maps = edigate::mapping::Mappings::load(Some(std::path::Path::new(&dir)))
            .unwrap_or_else(|e| panic!("mappings in {dir:?}: {e:?}"));
        cfg.maps = std::sync::Arc::new(maps);
    }
    let small = &x12[..x12.len().min(16 << 20)];
    let cut = small
        .windows(5)
        .rposition(|w| w == b"IEA*1" || w == b"IEA*2" || w == b"IEA*3")
        .unwrap_or(0);
    let end = cut + small[cut..].iter().position(|b| *b == b'\n').unwrap_or(0) + 1;
    let chunk = &x12[..end];
    let (secs, bytes) = best_of(runs(), || {
        let out = dry_run(
            &Input {
                data: chunk,
                file: "bench",
                sha256: "0",
                channel_partner: None,
                seen: None,
                whole: None,
            },
            &cfg,
            Utc { epoch: 0 },
        );
        assert!(out.refusal.is_none() && out.rejected == 0);
        // Each record's JSON Lines text was written when translation made it; the service
        // stores those lines as they are, one after the other (routing::outputs,
        // store::Content::Lines), with no copy of the whole.
        out.records.iter().map(|r| r.json.len() + 1).sum::<usize>()
    });
    println!(
        "x12 850 -> canonical JSON: {:.1} MB in {:.3} s = {:.1} MB/s ({:.1} MB of JSON)",
        chunk.len() as f64 / 1e6,
        secs,
        chunk.len() as f64 / 1e6 / secs,
        bytes as f64 / 1e6
    );
}
