//! Deliveries to an HTTP target that fails 30% of requests in every way (500 before and after
//! storing, 429 with Retry-After, 503, answers slower than the timeout, dropped connections):
//! every record ends delivered exactly once, or held with the target's reason.

use crate::support::{data, Sandbox, Target};
use edigate::sim::SimConfig;
use std::fs;
use std::time::{Duration, Instant};

fn po(n: usize) -> Vec<u8> {
    String::from_utf8(fs::read(data("x12/ok/850-4010-acme.edi")).unwrap())
        .unwrap()
        .replace("4500001234", &format!("PO{n:08}"))
        .replace("000000905", &format!("{:09}", 3000 + n))
        .into_bytes()
}

#[test]
fn every_record_is_delivered_once_or_held_with_the_reason_despite_a_failing_target() {
    failing_target(false);
}

/// The same through the service, whose deliveries run on their own thread beside the passes.
#[test]
fn the_service_delivers_every_record_once_or_holds_it_despite_a_failing_target() {
    failing_target(true);
}

fn failing_target(service: bool) {
    let target = Target::start(SimConfig {
        fail_rate: 0.3,
        seed: 42,
        slow_ms: 1500,
        latency_ms: 0,
        reject_marker: Some("PO00000013".into()),
    });
    let sb = Sandbox::with_config(&format!(
        "{}{}",
        crate::support::CONFIG,
        target.config(
            "timeout_seconds = 1\nbackoff_ms = 50\nbackoff_cap_seconds = 1\nmax_attempts = 40\n\
             breaker_threshold = 4\nbreaker_cooldown_seconds = 1\nconcurrency = 4\n"
        )
    ));
    let n = 40;
    for i in 1..=n {
        sb.drop_file(&format!("po{i:03}.edi"), &po(i));
    }
    let mut child = service.then(|| sb.spawn(&["run"]));
    let end = Instant::now() + Duration::from_secs(90);
    let mut status = String::new();
    while Instant::now() < end {
        if child.is_none() {
            sb.once(0);
        }
        status = sb.stdout(&["status"]);
        if status.contains("pending 0,") && status.contains("delivered 39") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(c) = &mut child {
        assert!(crate::support::terminate(c).success());
    }
    assert!(
        status.contains("erp              pending 0, delivered 39, rejected 1, dead 0"),
        "{status}"
    );
    let stored = target.sim.stored_keys();
    // Each record's key is its identity (record id) for this target.
    let mut want: Vec<String> = sb
        .records()
        .iter()
        .filter(|r| r["record"]["po_number"] != "PO00000013")
        .map(|r| format!("{}@erp", r["id"].as_str().unwrap()))
        .collect();
    want.sort();
    assert_eq!(want.len(), n - 1);
    assert_eq!(
        stored, want,
        "each record stored once, under its idempotency key"
    );
    let stats = target.stats();
    assert!(stats["failures_injected"].as_u64().unwrap() >= 8, "{stats}");
    assert!(
        stats["posts"].as_u64().unwrap() > 40,
        "retries happened: {stats}"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("erp") && list.contains("rejected") && list.contains("HTTP 422"),
        "{list}"
    );
    // The operator drops the held delivery; releasing one that is not held is refused.
    let id = list
        .lines()
        .find(|l| l.contains("HTTP 422"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(
        sb.run(&["quarantine", "release", "--delivery", "999"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        sb.run(&["quarantine", "discard", "--delivery", &id])
            .status
            .code(),
        Some(0)
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(!list.contains("HTTP 422"), "{list}");
    // The operator's action is in the history of the file the record came from.
    let said = format!("discarded by operator (delivery {id}, target erp");
    assert!(
        (1..=n).any(|f| sb
            .stdout(&["quarantine", "show", &f.to_string()])
            .contains(&said)),
        "no file's history says {said}"
    );
}

#[test]
fn replay_reprocesses_archived_files_without_doubles_at_the_target_or_new_acks() {
    let target = Target::start(SimConfig {
        fail_rate: 0.0,
        seed: 1,
        slow_ms: 0,
        latency_ms: 0,
        reject_marker: None,
    });
    let sb = Sandbox::with_config(&format!("{}{}", crate::support::CONFIG, target.config("")));
    for i in 1..=3 {
        sb.drop_file(&format!("po{i}.edi"), &po(i));
    }
    sb.once(0);
    let posts_before = target.stats()["posts"].as_u64().unwrap();
    assert_eq!(posts_before, 3);
    let acks_before = sb
        .files("outbox")
        .iter()
        .filter(|f| f.contains("/acks/"))
        .count();
    let out = sb.run(&[
        "replay",
        "--partner",
        "ACME",
        "--document",
        "purchase_order",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 file(s) queued"));
    sb.once(0);
    let stats = target.stats();
    assert_eq!(stats["posts"], 3, "no second request for the same records");
    assert_eq!(stats["stored"].as_array().unwrap().len(), 3);
    let files = sb.files("outbox");
    assert_eq!(
        files.iter().filter(|f| f.contains("/acks/")).count(),
        acks_before,
        "no new acknowledgements"
    );
    assert_eq!(
        files.iter().filter(|f| f.contains("-a2-")).count(),
        3,
        "{files:?}"
    );
    assert_eq!(
        sb.run(&["replay", "--partner", "NOBODY"]).status.code(),
        Some(1)
    );
}

/// Files without control numbers (CSV) used to share delivery keys (`ACME:::0`, ...), so the
/// records of a second file were silently dropped.
#[test]
fn records_of_a_second_csv_file_are_delivered_too() {
    let target = Target::start(SimConfig {
        fail_rate: 0.0,
        seed: 1,
        slow_ms: 0,
        latency_ms: 0,
        reject_marker: None,
    });
    let sb = Sandbox::with_config(&format!(
        "{}\n[[channels]]\nname = \"csv\"\ntype = \"dir\"\npath = \"csv\"\npartner = \"ACME\"\n{}",
        crate::support::CONFIG,
        target.config("")
    ));
    fs::create_dir(sb.path("csv")).unwrap();
    let first = fs::read_to_string(data("csv/ok/order-lines.csv")).unwrap();
    let second = first
        .replace("4500001240", "4500001250")
        .replace("4500001241", "4500001251");
    fs::write(sb.path("csv/a.csv"), &first).unwrap();
    fs::write(sb.path("csv/b.csv"), &second).unwrap();
    sb.once(0);
    let records = sb.records();
    assert_eq!(records.len(), 4);
    let stats = target.stats();
    assert_eq!(
        stats["stored"].as_array().unwrap().len(),
        4,
        "every record reaches the target: {stats}"
    );
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("pending 0, delivered 4, rejected 0, dead 0"),
        "{status}"
    );
    assert!(!status.contains("anomalies"), "{status}");
}
