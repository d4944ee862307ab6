//! Robustness over the shared third-party corpus (`../shared/corpus`): every file is either
//! translated or refused with a positioned reason, and nothing panics.

use edigate::translate::{dry_run, Input, Outcome};
use edigate::util::Utc;
use std::path::{Path, PathBuf};

/// The corpus folder; a missing one fails the test, never skips it.
pub fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        p.is_dir(),
        "{} is missing: the corpus tests need the shared corpus next to the project",
        p.display()
    );
    p
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.file_name().is_some_and(|n| n != "SOURCES.md") {
            out.push(p);
        }
    }
}

/// One file through translation without state, at a fixed instant.
fn dry(cfg: &edigate::config::Config, data: &[u8], shown: &str) -> Outcome {
    let input = Input {
        data,
        file: shown,
        sha256: "0",
        // A CSV file carries no sender: its channel names the partner.
        channel_partner: shown.starts_with("csv/").then_some("CORPUS"),
        seen: None,
        whole: None,
    };
    dry_run(&input, cfg, Utc { epoch: 0 })
}

#[test]
fn every_corpus_file_is_translated_or_refused_without_panic() {
    let root = corpus();
    let cfg = edigate::config::Config::defaults(&root);
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    assert!(all.len() > 400, "corpus has only {} files", all.len());
    let (mut records, mut refused, mut x12_read) = (0, 0, 0);
    // Records per source document (`x12:856`), each checked against its published schema.
    let mut by_document = std::collections::BTreeMap::<String, usize>::new();
    let mut validators = std::collections::HashMap::new();
    for p in &all {
        let data = std::fs::read(p).unwrap();
        let shown = p.strip_prefix(&root).unwrap().display().to_string();
        let out = std::panic::catch_unwind(|| dry(&cfg, &data, &shown))
            .unwrap_or_else(|_| panic!("{shown}: translate panicked"));
        records += out.records.len();
        for r in &out.records {
            let v = r.value();
            let validator = validators.entry(r.schema.clone()).or_insert_with(|| {
                jsonschema::validator_for(&edigate::canonical::schema(&r.schema).unwrap()).unwrap()
            });
            if let Some(e) = validator.iter_errors(&v).next() {
                panic!(
                    "{shown}: {} record breaks its schema: {e} at {}",
                    r.schema,
                    e.instance_path()
                );
            }
            *by_document
                .entry(format!(
                    "{}:{}",
                    v["source"]["format"].as_str().unwrap(),
                    v["source"]["document"].as_str().unwrap()
                ))
                .or_default() += 1;
        }
        if !out.interchanges.is_empty() {
            x12_read += 1;
        }
        match &out.refusal {
            Some(r) => {
                refused += 1;
                assert!(!r.reason.is_empty(), "{shown}: refusal without a reason");
            }
            None => assert!(out.accepted > 0, "{shown}: neither accepted nor refused"),
        }
        for d in &out.diagnostics {
            assert!(
                d.position.offset <= data.len(),
                "{shown}: {d} points past the end"
            );
        }
    }
    eprintln!(
        "corpus: {} files, {x12_read} with X12 interchanges, {records} records, {refused} refused",
        all.len()
    );
    eprintln!("corpus records by document: {by_document:?}");
    // Third-party files of every kind the corpus has become records.
    for doc in [
        "x12:850",
        "x12:855",
        "x12:856",
        "x12:810",
        "x12:820",
        "x12:997",
        "x12:999",
        "edifact:ORDERS",
        "edifact:ORDRSP",
        "edifact:DESADV",
        "edifact:INVOIC",
        "cxml:OrderRequest",
        "cxml:ConfirmationRequest",
        "cxml:ShipNoticeRequest",
        "cxml:InvoiceDetailRequest",
        "csv:order-lines",
    ] {
        assert!(
            by_document.contains_key(doc),
            "no corpus file became a {doc} record: {by_document:?}"
        );
    }
    assert!(records > 20, "only {records} records from the corpus");
}

/// Segment tags of an EDIFACT file, split on its terminator (UNA or the default `'`), skipping
/// released terminators: a reading independent of the engine's lexer.
fn edifact_tags(data: &[u8]) -> Vec<String> {
    let (term, release) = if data.starts_with(b"UNA") && data.len() > 8 {
        (data[8], data[6])
    } else {
        (b'\'', b'?')
    };
    let mut tags = Vec::new();
    let mut start = 0;
    for i in 0..data.len() {
        if data[i] == term && (i == 0 || data[i - 1] != release) {
            let seg = String::from_utf8_lossy(&data[start..i]);
            tags.push(seg.trim_start().chars().take(3).collect());
            start = i + 1;
        }
    }
    tags
}

#[test]
fn corpus_orders_messages_become_one_purchase_order_each_with_every_line() {
    let root = corpus();
    let cfg = edigate::config::Config::defaults(&root);
    let mut all = Vec::new();
    files(&root.join("edifact"), &mut all);
    all.sort();
    let mut mapped = 0;
    for p in &all {
        let data = std::fs::read(p).unwrap();
        if !data.windows(8).any(|w| w == b"ORDERS:D") {
            continue;
        }
        let shown = p.strip_prefix(&root).unwrap().display().to_string();
        let out = dry(&cfg, &data, &shown);
        if out.refusal.is_some() || out.rejected > 0 {
            continue;
        }
        let tags = edifact_tags(&data);
        let messages = tags.iter().filter(|t| *t == "UNH").count();
        let lins = tags.iter().filter(|t| *t == "LIN").count();
        assert_eq!(
            out.records.len(),
            messages,
            "{shown}: one record per message"
        );
        let lines: usize = out
            .records
            .iter()
            .map(|r| {
                let v = r.value();
                assert_eq!(v["schema"], "purchase_order/v1", "{shown}");
                let po = v["record"]["po_number"].as_str().unwrap().to_string();
                assert!(
                    !po.is_empty() && data.windows(po.len()).any(|w| w == po.as_bytes()),
                    "{shown}: po_number {po:?} is not in the file"
                );
                v["record"]["lines"].as_array().unwrap().len()
            })
            .sum();
        assert_eq!(lines, lins, "{shown}: one line per LIN");
        mapped += 1;
    }
    eprintln!("corpus: {mapped} ORDERS files mapped");
    assert!(mapped >= 10, "only {mapped} corpus ORDERS files mapped");
}

/// Every corpus file dropped at once into the running service, with a target failing 30% of
/// requests: each file ends in exactly one place (done or quarantined), nothing is left in the
/// inbox or the spool, and every record reaches the target once.
#[test]
fn the_service_routes_the_whole_corpus_to_one_place_per_file_despite_a_failing_target() {
    let root = corpus();
    let target = crate::support::Target::start(edigate::sim::SimConfig {
        fail_rate: 0.3,
        seed: 7,
        slow_ms: 1500,
        latency_ms: 0,
        reject_marker: None,
    });
    let sb = crate::support::Sandbox::with_config(&format!(
        "{}{}",
        crate::support::CONFIG,
        target.config(
            "timeout_seconds = 1\nbackoff_ms = 50\nbackoff_cap_seconds = 1\nmax_attempts = 60\n"
        )
    ));
    let mut all = Vec::new();
    files(&root, &mut all);
    for (i, p) in all.iter().enumerate() {
        let name = format!("{i:03}-{}", p.file_name().unwrap().to_string_lossy());
        sb.drop_file(&name, &std::fs::read(p).unwrap());
    }
    let mut child = sb.spawn(&["run"]);
    let count = |status: &str, label: &str| -> usize {
        status
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let mut status = String::new();
    while std::time::Instant::now() < end {
        status = sb.stdout(&["status"]);
        let settled = count(&status, "quarantined") + count(&status, "done");
        if settled == all.len() && status.contains("erp              pending 0,") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let code = crate::support::terminate(&mut child);
    assert!(code.success(), "{code}:\n{}", sb.log());
    let (quarantined, done) = (count(&status, "quarantined"), count(&status, "done"));
    assert_eq!(quarantined + done, all.len(), "{status}");
    assert_eq!(count(&status, "in flight"), 0, "{status}");
    assert!(done > 50 && quarantined > 50, "{status}");
    assert!(sb.files("inbox").is_empty() && sb.files("var/spool").is_empty());
    let delivered: usize = status
        .split("delivered ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(status.contains("rejected 0, dead 0"), "{status}");
    let stats = target.stats();
    assert_eq!(
        stats["stored"].as_array().unwrap().len(),
        delivered,
        "{status}"
    );
    assert!(delivered > 100, "{status}");
    assert!(!sb.log().contains("panicked"), "{}", sb.log());
    eprintln!("{} corpus files through the service:\n{status}", all.len());
}
