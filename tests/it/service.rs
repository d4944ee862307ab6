//! The real service, driven as a user would: files dropped into `inbox/`, outputs read from
//! `outbox/`, the process stopped with SIGTERM or killed with SIGKILL.

use crate::golden::render;
use crate::support::{data, mask_x12, terminate, wait_for, Sandbox};
use std::fs;

fn po(n: usize) -> Vec<u8> {
    let text = fs::read_to_string(data("x12/ok/850-4010-acme.edi")).unwrap();
    text.replace("4500001234", &format!("PO{n:08}"))
        .replace("000000905", &format!("{:09}", 1000 + n))
        .into_bytes()
}

/// Inputs in the archive (not counting the days' SHA256SUMS).
fn archived(sb: &Sandbox) -> usize {
    sb.files("var/archive")
        .iter()
        .filter(|f| !f.ends_with("SHA256SUMS"))
        .count()
}

fn records(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.records()
}

#[test]
fn run_turns_a_dropped_850_into_records_and_a_997_then_stops_on_sigterm() {
    let sb = Sandbox::new();
    let mut child = sb.spawn(&["run"]);
    // The service is up once its database exists.
    assert!(wait_for(10, || sb.state_ready()));
    let input = fs::read(data("x12/ok/850-4010-acme.edi")).unwrap();
    sb.drop_file("po.edi", &input);
    let done = wait_for(5, || {
        sb.files("outbox").len() == 2 && sb.files("var/archive").len() == 2
    });
    let status = terminate(&mut child);
    assert!(done, "outputs: {:?}", sb.files("outbox"));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        sb.files("outbox"),
        [
            "ACME/acks/997-000000001.x12",
            "ACME/purchase_order/00000001-po.jsonl"
        ]
    );
    let golden = render("inbox/po.edi", &input);
    let got = fs::read_to_string(sb.path("outbox/ACME/purchase_order/00000001-po.jsonl")).unwrap();
    assert_eq!(got, golden[0]);
    let ack = fs::read_to_string(sb.path("outbox/ACME/acks/997-000000001.x12")).unwrap();
    // Control numbers masked (ours and the test's differ in length too).
    let masked = |t: &str| {
        let m = mask_x12(t);
        m.split('#')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("#")
    };
    assert_eq!(masked(&ack), masked(&golden[1]));
    assert!(sb.files("inbox").is_empty());
    let archived = sb.files("var/archive");
    assert!(archived[0].ends_with("00000001-po.edi"), "{archived:?}");
    let sum = fs::read_to_string(sb.path("var/archive").join(&archived[1])).unwrap();
    assert!(sum.starts_with(&edigate::util::sha256_hex(&input)), "{sum}");
}

#[test]
fn once_exit_codes_quarantine_release_and_discard() {
    let sb = Sandbox::new();
    sb.drop_file("po.edi", &po(1));
    sb.once(0);

    sb.drop_file("junk.txt", b"hello, not EDI");
    sb.drop_file(
        "bad.edi",
        &fs::read(data("x12/err/850-se-count-wrong.edi")).unwrap(),
    );
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("junk.txt") && list.contains("not a document we read"),
        "{list}"
    );
    assert!(
        list.contains("bad.edi") && list.contains("SE01 says 9 segments"),
        "{list}"
    );
    // The rejected interchange was still answered: a 997 with AK5*R*4.
    let acks: Vec<_> = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("acks/"))
        .collect();
    assert_eq!(acks.len(), 2, "{acks:?}");
    let nack = fs::read_to_string(sb.path("outbox").join(&acks[1])).unwrap();
    assert!(
        nack.contains("AK5*R*4~") && nack.contains("AK9*R*1*1*0~"),
        "{nack}"
    );

    let q = sb.files("var/quarantine");
    assert_eq!(q.len(), 4, "{q:?}");
    let sidecar: serde_json::Value = serde_json::from_slice(
        &fs::read(
            sb.path("var/quarantine")
                .join(q.iter().find(|f| f.contains("bad.edi.reason")).unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["code"], "x12.se01_count");
    assert_eq!(sidecar["position"]["segment"], 4);
    assert!(sidecar["quarantined_at"].as_str().unwrap().ends_with('Z'));

    let show = sb.stdout(&["quarantine", "show", "2"]);
    assert!(
        show.contains("segment 4 SE") && show.contains("quarantined"),
        "{show}"
    );

    // The operator replaces the broken file with a good one and releases it.
    let content = q.iter().find(|f| f.ends_with("bad.edi")).unwrap();
    fs::write(sb.path("var/quarantine").join(content), po(2)).unwrap();
    let out = sb.run(&["quarantine", "release", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sb.once(0);
    let pos: Vec<_> = records(&sb)
        .iter()
        .map(|r| r["record"]["po_number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pos, ["PO00000001", "PO00000002"]);

    let out = sb.run(&["quarantine", "discard", "3"]);
    assert!(out.status.success());
    assert!(
        sb.files("var/quarantine").is_empty(),
        "{:?}",
        sb.files("var/quarantine")
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("done         2") && status.contains("discarded    1"),
        "{status}"
    );
    // Releasing something that is not quarantined is refused.
    assert_eq!(
        sb.run(&["quarantine", "release", "1"]).status.code(),
        Some(2)
    );
}

#[test]
fn the_same_file_twice_is_processed_once_and_archived_as_duplicate() {
    let sb = Sandbox::new();
    sb.drop_file("a.edi", &po(7));
    sb.once(0);
    sb.drop_file("a-again.edi", &po(7));
    sb.once(0);
    assert_eq!(records(&sb).len(), 1);
    assert_eq!(
        sb.files("outbox")
            .iter()
            .filter(|f| f.contains("997"))
            .count(),
        1
    );
    assert_eq!(
        sb.files("var/archive").len(),
        3,
        "two inputs and the day's SHA256SUMS"
    );
    let status = sb.stdout(&["status"]);
    assert!(status.contains("(of which 1 duplicate)"), "{status}");
}

#[test]
fn translate_prints_records_and_diagnostics_without_state() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "translate",
        data("x12/ok/850-4010-acme.edi").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["record"]["po_number"], "4500001234");
    let out = sb.run(&[
        "translate",
        data("x12/err/850-partial-bad-date-missing-beg.edi")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("segment 2 (BEG), element 5: error: BEG05"),
        "{err}"
    );
    assert_eq!(
        sb.run(&["translate", "/nonexistent"]).status.code(),
        Some(2)
    );
    assert!(!sb.path("var").exists(), "translate must not create state");
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let sb = Sandbox::with_config(
        "[[channels]]\nname = \"a\"\ntype = \"dir\"\npath = \"nowhere\"\npartner = \"X\"\n",
    );
    let out = sb.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("edigate.toml:1: channel \"a\": folder"),
        "{err}"
    );
    assert!(
        err.contains("edigate.toml:1: channel \"a\": partner \"X\""),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
    let good = Sandbox::new();
    assert_eq!(good.run(&["check"]).status.code(), Some(0));
}

#[test]
fn a_second_instance_on_the_same_data_is_refused() {
    let sb = Sandbox::new();
    let mut child = sb.spawn(&["run"]);
    assert!(wait_for(10, || sb.state_ready()));
    let out = sb.run(&["once"]);
    terminate(&mut child);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
}

/// kill -9 at random instants while files flow; then finish and prove nothing was lost or
/// written twice.
#[test]
fn sigkill_at_any_instant_loses_nothing_and_doubles_nothing() {
    let sb =
        Sandbox::with_config(&crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 5"));
    // At least 25 rounds, and on until eight kills caught files in flight (at most 200
    // rounds): how many rounds that takes depends on the machine, what is proven does not.
    let per_round = 16;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut rounds, mut interrupted) = (0, 0);
    while rounds < 25 || interrupted < 8 {
        assert!(
            rounds < 200,
            "only {interrupted} of {rounds} kills hit work in flight"
        );
        for i in 0..per_round {
            let k = rounds * per_round + i;
            sb.drop_file(&format!("po{k:04}.edi"), &po(k));
        }
        let waiting = sb.files("inbox").len();
        let mut child = sb.spawn(&["run"]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Killed a random number of looks (a millisecond apart) after the service is seen
        // taking this round's files, so the kill lands while they are in flight.
        let mut looks = seed % 40;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while sb.files("inbox").len() >= waiting || looks > 0 {
            if sb.files("inbox").len() < waiting {
                looks = looks.saturating_sub(1);
            }
            assert!(std::time::Instant::now() < end, "{}", sb.log());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        rounds += 1;
        if archived(&sb) < rounds * per_round {
            interrupted += 1;
        }
    }
    let n = rounds * per_round;
    let before = archived(&sb);
    eprintln!("{rounds} kills, {interrupted} with work in flight; {before} of {n} files archived before the final run");
    sb.once(0);
    let recs = records(&sb);
    let mut pos: Vec<_> = recs
        .iter()
        .map(|r| r["record"]["po_number"].as_str().unwrap().to_string())
        .collect();
    pos.sort();
    let want: Vec<_> = (0..n).map(|i| format!("PO{i:08}")).collect();
    assert_eq!(pos, want, "every PO exactly once after {rounds} kills");
    let files = sb.files("outbox");
    assert_eq!(
        files.iter().filter(|f| f.contains("/acks/997-")).count(),
        n,
        "one 997 per input"
    );
    assert!(
        files.iter().all(|f| !f.ends_with(".edigate-tmp")),
        "temporary files left: {files:?}"
    );
    assert!(sb.files("inbox").is_empty());
    assert!(
        sb.files("var/spool").is_empty(),
        "{:?}",
        sb.files("var/spool")
    );
    assert_eq!(archived(&sb), n);
    assert!(sb.files("var/quarantine").is_empty());
}

#[test]
fn an_edifact_orders_is_answered_with_contrl_and_becomes_a_purchase_order() {
    let sb = Sandbox::with_config(&format!(
        "{}edifact_ids = [\"5412345000013:14\"]\n",
        crate::support::CONFIG
    ));
    sb.drop_file(
        "orders.edi",
        &fs::read(data("edifact/ok/orders-d96a-ack-requested.edi")).unwrap(),
    );
    sb.once(0);
    let files = sb.files("outbox");
    assert!(
        files.contains(&"ACME/acks/CONTRL-000000001.x12".to_string()),
        "{files:?}"
    );
    let contrl = fs::read_to_string(sb.path("outbox/ACME/acks/CONTRL-000000001.x12")).unwrap();
    assert!(
        contrl.contains("UCI+000000123+5412345000013:14+5498765000016:14+7'"),
        "{contrl}"
    );
    assert!(contrl.contains("UCM+1+ORDERS:D:96A:UN+7'"), "{contrl}");
    let recs = records(&sb);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["schema"], "purchase_order/v1");
    assert_eq!(recs[0]["record"]["po_number"], "PO4711");
    assert_eq!(recs[0]["record"]["lines"][0]["unit_price"], "10.50");
    assert_eq!(
        recs[0]["record"]["lines"][0]["item"]["gtin"],
        "4000862141404"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(!list.contains("orders.edi"), "{list}");
}

#[test]
fn an_edifact_message_its_mapping_refuses_is_acknowledged_and_held() {
    let sb = Sandbox::with_config(&format!(
        "{}edifact_ids = [\"5412345000013:14\"]\n",
        crate::support::CONFIG
    ));
    let text = "UNA:+.? 'UNB+UNOC:3+5412345000013:14+5498765000016:14+260517:1015+000000123++++1'\
                UNH+1+DESADV:D:96A:UN'BGM+351++9'DTM+137:20260517:102'\
                NAD+SU+5412345000013::9'UNT+5+1'UNZ+1+000000123'";
    sb.drop_file("desadv.edi", text.as_bytes());
    sb.once(1);
    let files = sb.files("outbox");
    assert_eq!(files, ["ACME/acks/CONTRL-000000001.x12"]);
    let contrl = fs::read_to_string(sb.path("outbox/ACME/acks/CONTRL-000000001.x12")).unwrap();
    assert!(contrl.contains("UCM+1+DESADV:D:96A:UN+7'"), "{contrl}");
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("desadv.edi")
            && list.contains("ACME")
            && list.contains("BGM holds no despatch advice number"),
        "{list}"
    );
}

#[test]
fn validate_and_ack_commands_report_positions_and_exit_codes() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "validate",
        data("x12/ok/850-4010-acme.edi").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 interchange(s), 1 group(s), 1 transaction set(s), 24 segment(s)"),
        "{text}"
    );
    // The summary is a whole line: stderr's timing line never runs into it on a terminal.
    assert!(text.ends_with('\n'), "{text:?}");
    let out = sb.run(&[
        "validate",
        data("edifact/err/orders-d01b-envelope-errors.edi")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("byte 119, segment 5 (UNT): error: UNT says 9 segments, the message has 5"),
        "{text}"
    );
    let out = sb.run(&[
        "ack",
        data("x12/err/850-se-count-wrong.edi").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("AK5*R*4~") && text.starts_with("ISA*00*"),
        "{text}"
    );
    assert_eq!(
        sb.run(&["validate", data("x12/err/not-edi.csv").to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn a_resent_interchange_is_answered_with_ta1_025_and_not_processed_again() {
    let sb = Sandbox::new();
    sb.drop_file("first.edi", &po(5));
    sb.once(0);
    sb.drop_file("again.edi", &reenveloped(5));
    sb.once(1);
    assert_eq!(records(&sb).len(), 1);
    let ta1 = held_as_resent(&sb, "again.edi");
    assert!(ta1.contains("*R*025~"), "{ta1}");
}

/// Both copies arrive in one batch, whose files are translated side by side: the second is
/// still recognised once the first is committed.
#[test]
fn a_resent_interchange_in_the_same_batch_is_processed_once() {
    let sb = Sandbox::new();
    for i in 0..8 {
        sb.drop_file(&format!("a{i}.edi"), &po(100 + i));
    }
    sb.drop_file("b-first.edi", &po(6));
    sb.drop_file("b-second.edi", &reenveloped(6));
    sb.once(1);
    assert_eq!(records(&sb).len(), 9);
    held_as_resent(&sb, "b-second.edi");
}

/// The resent interchange is the sixth of its file: past the first four duplicate checks, which
/// are asked again at every commit, the later ones are asked again because the store's mark
/// of recorded interchanges moved while the batch was translated side by side.
#[test]
fn a_resent_interchange_past_a_files_fourth_in_the_same_batch_is_not_processed_again() {
    let sb = Sandbox::new();
    for i in 0..8 {
        sb.drop_file(&format!("a{i}.edi"), &po(100 + i));
    }
    sb.drop_file("b-first.edi", &po(6));
    let mut six = Vec::new();
    for n in 300..305 {
        six.extend_from_slice(&po(n));
    }
    six.extend_from_slice(&reenveloped(6));
    sb.drop_file("b-second.edi", &six);
    sb.once(1);
    let mut pos: Vec<String> = records(&sb)
        .iter()
        .map(|r| r["record"]["po_number"].as_str().unwrap_or("").to_string())
        .collect();
    pos.sort();
    let mut want: Vec<String> = (100..108)
        .chain([6])
        .chain(300..305)
        .map(|n| format!("PO{n:08}"))
        .collect();
    want.sort();
    assert_eq!(pos, want);
    let ta1: Vec<_> = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("TA1-"))
        .collect();
    assert_eq!(ta1.len(), 1, "{:?}", sb.files("outbox"));
    let ta1 = fs::read_to_string(sb.path("outbox").join(&ta1[0])).unwrap();
    assert!(
        ta1.contains("*000001006*") && ta1.contains("*R*025~"),
        "{ta1}"
    );
}

/// PO `n` with the same interchange control number from the same sender, other bytes (sent
/// again, enveloped anew).
fn reenveloped(n: usize) -> Vec<u8> {
    String::from_utf8(po(n))
        .unwrap()
        .replace("*260517*1015*", "*260518*0900*")
        .into_bytes()
}

/// Checks that `name` is held as already received and answered by the one TA1; returns it.
fn held_as_resent(sb: &Sandbox, name: &str) -> String {
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains(name) && list.contains("already received"),
        "{list}"
    );
    let acks: Vec<_> = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("TA1-"))
        .collect();
    assert_eq!(acks.len(), 1, "{:?}", sb.files("outbox"));
    fs::read_to_string(sb.path("outbox").join(&acks[0])).unwrap()
}

#[test]
fn quarantine_list_filters_by_partner_document_class_and_age() {
    let sb = Sandbox::new();
    sb.drop_file("junk.txt", b"hello, not EDI");
    sb.drop_file(
        "bad.edi",
        &fs::read(data("x12/err/850-se-count-wrong.edi")).unwrap(),
    );
    let inv = String::from_utf8(po(9))
        .unwrap()
        .replace("ST*850", "ST*830");
    sb.drop_file("inv.edi", inv.as_bytes());
    sb.once(1);
    let list = |args: &[&str]| {
        let mut a = vec!["quarantine", "list"];
        a.extend_from_slice(args);
        let out = sb.stdout(&a);
        let mut names: Vec<String> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(6).map(String::from))
            .collect();
        names.sort();
        names
    };
    assert_eq!(list(&[]), ["bad.edi", "inv.edi", "junk.txt"]);
    assert_eq!(list(&["--partner", "ACME"]), ["bad.edi", "inv.edi"]);
    assert_eq!(list(&["--document", "830"]), ["inv.edi"]);
    assert_eq!(list(&["--class", "configuration"]), ["inv.edi"]);
    assert_eq!(list(&["--class", "syntax"]), ["bad.edi", "junk.txt"]);
    assert_eq!(list(&["--older-than", "1h"]), Vec::<String>::new());
    assert_eq!(list(&["--older-than", "0s"]).len(), 3);
    // Bulk release of a class.
    assert_eq!(
        sb.run(&["quarantine", "discard", "1", "2", "3"])
            .status
            .code(),
        Some(0)
    );
    assert!(list(&[]).is_empty());
}

#[test]
fn an_unwritable_outbox_pauses_intake_until_it_is_writable_again() {
    let sb = Sandbox::new();
    let mut child = sb.spawn(&["run"]);
    assert!(wait_for(10, || sb.state_ready() && sb.path("outbox").is_dir()));
    // The outbox turns into something that cannot take files (as a full or read-only disk):
    // a plain file renamed into its place. The running service may make the folder again
    // between moving it away and the rename, so each step is tried until the file stands there.
    fs::write(sb.path("outbox-file"), b"not a folder").unwrap();
    let mut away = 0;
    let swapped = wait_for(10, || {
        if sb.path("outbox").is_dir() {
            away += 1;
            let _ = fs::rename(sb.path("outbox"), sb.path(&format!("outbox-away-{away}")));
        }
        fs::rename(sb.path("outbox-file"), sb.path("outbox")).is_ok() && sb.path("outbox").is_file()
    });
    assert!(swapped, "the outbox could not be replaced by a file");
    let paused = wait_for(10, || sb.stdout(&["status"]).contains("intake paused"));
    // Dropped once the pause is observed, then watched over two more paused passes (the
    // storage row counts each one), so a pass that began before the break cannot take it.
    let passes = || -> u64 {
        let m = sb.stdout(&["metrics"]);
        m.lines()
            .find_map(|l| l.strip_prefix("edigate_channel_failures{channel=\"(storage)\"} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    sb.drop_file("po.edi", &po(11));
    let seen = passes();
    let watched = wait_for(15, || passes() >= seen + 2);
    let still_waiting = sb.files("inbox") == ["po.edi"];
    fs::remove_file(sb.path("outbox")).unwrap();
    // The service may make it first: either way a folder stands there again.
    fs::create_dir_all(sb.path("outbox")).unwrap();
    let resumed = wait_for(15, || !records(&sb).is_empty());
    let status = sb.stdout(&["status"]);
    terminate(&mut child);
    assert!(paused, "{}", sb.log());
    assert!(watched, "{}", sb.log());
    assert!(still_waiting, "nothing is taken while paused");
    assert!(resumed, "{}", sb.log());
    assert!(status.contains("(storage)        ok"), "{status}");
}

#[test]
fn retention_packs_days_into_zips_forgets_old_state_and_shrinks_the_database() {
    let sb = Sandbox::with_config(&format!("{}\n", crate::support::CONFIG).replace(
        "[service]\n",
        "[service]\narchive_days = 30\nstate_days = 30\n",
    ));
    for i in 0..120 {
        sb.drop_file(&format!("po{i:03}.edi"), &po(500 + i));
    }
    sb.once(0);
    let now = edigate::util::Utc::now();
    let today = now.date();
    let tomorrow = edigate::util::Utc {
        epoch: now.epoch + 86_400,
    }
    .date();
    let out = sb.run(&["retention", "--as-of", &tomorrow]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("packed 1 day(s)"));
    assert_eq!(sb.files("var/archive"), [format!("{today}.zip")]);
    // Packed content is still readable: replay one file from the zip.
    assert!(sb.run(&["replay", "--id", "7"]).status.success());
    sb.once(0);
    assert!(
        sb.files("outbox")
            .iter()
            .any(|f| f.contains("00000007-a2-")),
        "{:?}",
        sb.files("outbox")
    );
    // Much later: the archive and the state rows are gone, and the database shrank.
    let size = || sb.state_bytes().len();
    let before = size();
    let later = edigate::util::Utc {
        epoch: now.epoch + 400 * 86_400,
    }
    .date();
    let out = sb.run(&["retention", "--as-of", &later]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("forgot 120 file(s)"), "{err}");
    let after = size();
    eprintln!("state database: {before} -> {after} bytes");
    assert!(after < before / 2, "{before} -> {after}");
    assert!(
        sb.files("var/archive").is_empty(),
        "{:?}",
        sb.files("var/archive")
    );
    let status = sb.stdout(&["status"]);
    assert!(status.contains("done         0"), "{status}");
}

#[test]
fn transactions_rejected_inside_a_file_that_flows_are_kept_as_exception_items() {
    let sb = Sandbox::new();
    sb.drop_file(
        "mixed.edi",
        &fs::read(data("x12/err/850-partial-bad-date-missing-beg.edi")).unwrap(),
    );
    sb.once(1);
    assert_eq!(records(&sb).len(), 1, "the good transaction flows");
    let list = sb.stdout(&["quarantine", "list"]);
    let items: Vec<&str> = list.lines().filter(|l| l.contains("1:mixed.edi")).collect();
    assert_eq!(items.len(), 3, "{list}");
    assert!(
        items[0].contains("850") && items[0].contains("0002") && items[0].contains("BEG05"),
        "{list}"
    );
    assert!(
        items[2].contains("810") && items[2].contains("TDS"),
        "{list}"
    );
    let first = items[0].split_whitespace().next().unwrap().to_string();
    assert_eq!(
        sb.run(&["quarantine", "discard", "--item", &first])
            .status
            .code(),
        Some(0)
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert_eq!(
        list.lines().filter(|l| l.contains("1:mixed.edi")).count(),
        2
    );
}

#[test]
fn a_csv_file_over_max_whole_file_mb_streams_unless_an_orders_rows_are_apart() {
    let sb = Sandbox::with_config(
        &format!("{}\n", crate::support::CONFIG)
            .replace("[service]\n", "[service]\nmax_whole_file_mb = 1\n")
            .replace(
                "path = \"inbox\"\n",
                "path = \"inbox\"\npartner = \"ACME\"\n",
            ),
    );
    let text = fs::read_to_string(data("csv/ok/order-lines.csv")).unwrap();
    let mut lines = text.lines();
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    let order = |n: usize| row.replacen("4500001240", &format!("45{n:08}"), 1) + "\n";
    // About 1.3 MB of orders of one row each: read a row at a time, so the limit does not
    // apply.
    let mut big = format!("{header}\n");
    (0..12_000).for_each(|n| big.push_str(&order(n)));
    assert!(big.len() > 1 << 20, "{}", big.len());
    sb.drop_file("big.csv", big.as_bytes());
    // The same with the first order's row again at the end: its rows are apart, so the file
    // would be grouped whole, and it is over the limit.
    sb.drop_file("apart.csv", format!("{big}{}", order(0)).as_bytes());
    // A small file whose order 7 comes back after order 8: grouped whole, one order each, in
    // the order the file first names them.
    let small = format!("{header}\n{}{}{}", order(7), order(8), order(7));
    sb.drop_file("small.csv", small.as_bytes());
    sb.once(1);
    let records = records(&sb);
    assert_eq!(records.len(), 12_002);
    let numbers = |r: &serde_json::Value| r["record"]["po_number"].as_str().unwrap().to_string();
    let small: Vec<_> = records
        .iter()
        .filter(|r| r["source"]["file"].as_str().unwrap().ends_with("small.csv"))
        .collect();
    assert_eq!(
        small.iter().map(|r| numbers(r)).collect::<Vec<_>>(),
        ["4500000007", "4500000008"]
    );
    assert_eq!(small[0]["record"]["lines"].as_array().unwrap().len(), 2);
    let list = sb.stdout(&["quarantine", "list", "--class", "configuration"]);
    assert!(
        list.contains("apart.csv")
            && list.contains("line 12002 names po_number \"4500000000\" again")
            && list.contains("over max_whole_file_mb = 1"),
        "{list}"
    );
    assert!(
        !list.contains("big.csv") && !list.contains("small.csv"),
        "{list}"
    );
}

#[test]
fn a_file_read_whole_is_bounded_by_max_whole_file_mb_and_one_that_streams_is_not() {
    let sb = Sandbox::with_config(&format!("{}\n", crate::support::CONFIG).replace(
        "[service]\n",
        "[service]\nmax_whole_file_mb = 1\narchive_days = 30\n",
    ));
    // About 1.3 MB of X12: streams, so the limit does not apply.
    let big: Vec<u8> = (1..=2000).flat_map(po).collect();
    assert!(big.len() > 1 << 20, "{}", big.len());
    sb.drop_file("big.edi", &big);
    // About 1.5 MB of cXML: read whole, so it is held, unread beyond its start.
    let xml = fs::read_to_string(data("cxml/ok/order-request.xml")).unwrap();
    let at = xml.find("<cXML").expect("a cXML root");
    let padded = format!(
        "{}<!-- {} -->\n{}",
        &xml[..at],
        "padding ".repeat(200_000),
        &xml[at..]
    );
    sb.drop_file("big.xml", padded.as_bytes());
    sb.once(1);
    assert_eq!(records(&sb).len(), 2000);
    let list = sb.stdout(&["quarantine", "list", "--class", "configuration"]);
    assert!(
        list.contains("big.xml") && list.contains("over max_whole_file_mb = 1"),
        "{list}"
    );
    assert!(!list.contains("big.edi"), "{list}");
    // Packed into its day's zip, the X12 file is replayed from a copy read from disk.
    let tomorrow = edigate::util::Utc {
        epoch: edigate::util::Utc::now().epoch + 86_400,
    }
    .date();
    assert!(sb
        .run(&["retention", "--as-of", &tomorrow])
        .status
        .success());
    assert!(sb.files("var/archive").iter().any(|f| f.ends_with(".zip")));
    let out = sb.run(&["replay", "--partner", "ACME"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 file(s) queued"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sb.once(0);
    let again = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("-a2-"))
        .collect::<Vec<_>>();
    assert!(!again.is_empty(), "{:?}", sb.files("outbox"));
    let lines: usize = again
        .iter()
        .map(|f| {
            fs::read_to_string(sb.path("outbox").join(f))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 2000, "{again:?}");
    assert!(
        !sb.files("var/spool").iter().any(|f| f.contains("replay-")),
        "{:?}",
        sb.files("var/spool")
    );
}

#[test]
fn a_file_over_the_size_limit_is_held_untranslated_until_the_operator_raises_it() {
    let small =
        crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 100\nmax_file_mb = 1");
    let sb = Sandbox::with_config(&small);
    // About 1.3 MB: two thousand interchanges of one purchase order each.
    let big: Vec<u8> = (1..=2000).flat_map(po).collect();
    assert!(big.len() > 1 << 20, "{}", big.len());
    sb.drop_file("big.edi", &big);
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list", "--class", "configuration"]);
    assert!(
        list.contains("big.edi") && list.contains("over max_file_mb = 1"),
        "{list}"
    );
    assert!(records(&sb).is_empty());
    // The operator raises the limit and releases the file: every order flows.
    sb.write_config(&small.replace("max_file_mb = 1", "max_file_mb = 2"));
    assert!(sb.run(&["quarantine", "release", "1"]).status.success());
    sb.once(0);
    assert_eq!(records(&sb).len(), 2000);
    // One 997 per interchange, each under its own control number (the file was translated
    // alone, drawing its numbers in blocks).
    let acks = sb.files("outbox");
    assert_eq!(acks.iter().filter(|f| f.contains("/997-")).count(), 2000);
    // Numbers drawn but not used went back: the next acknowledgement follows on.
    sb.drop_file("next.edi", &po(3001));
    sb.once(0);
    let acks = sb.files("outbox");
    assert!(
        acks.iter().any(|f| f.ends_with("/997-000002001.x12")),
        "{:?}",
        acks.iter()
            .filter(|f| !f.contains("/997-0000"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn outputs_too_large_for_the_database_are_kept_as_spool_files_until_written() {
    // Every output over 1 KB goes through a spool file (the default is 1 MB).
    let sb = Sandbox::with_config(
        &crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 100\ninline_output_kb = 1"),
    );
    let input = po(5);
    sb.drop_file("po.edi", &input);
    sb.once(0);
    let records = sb.path("outbox/ACME/purchase_order/00000001-po.jsonl");
    let written = fs::read_to_string(&records).unwrap();
    assert!(
        written.len() > 1024,
        "the output must be over the limit: {}",
        written.len()
    );
    let golden = render("inbox/po.edi", &input);
    assert_eq!(written, golden[0]);
    // The database kept the path, not the value, and the spool copy is gone once archived.
    let stored = sb.state_column("SELECT stored FROM outputs WHERE kind = 'records'");
    let size =
        sb.state_column("SELECT CAST(length(content) AS TEXT) FROM outputs WHERE kind = 'records'");
    assert_eq!(size, ["0"]);
    // Named by the file, its attempt, the process (so that two nodes never write the same
    // one) and its order.
    let name = stored[0]
        .strip_prefix("var/spool/outputs/00000001-a1-")
        .unwrap();
    let (salt, order) = name.split_once('-').unwrap();
    assert_eq!((salt.len(), order), (6, "0.jsonl"), "{stored:?}");
    assert!(
        sb.files("var/spool/outputs").is_empty(),
        "{:?}",
        sb.files("var/spool")
    );
    // The small acknowledgement stayed a database value.
    let acks = sb.state_column(
        "SELECT CAST(COUNT(*) AS TEXT) FROM outputs WHERE kind LIKE 'ack:%' AND stored IS NULL",
    );
    assert_eq!(acks, ["1"]);
}

/// `n` purchase orders as one interchange and one group of `n` transaction sets.
fn one_interchange(n: usize) -> Vec<u8> {
    let text = String::from_utf8(po(0)).unwrap();
    let segs: Vec<&str> = text
        .split('~')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let st = segs.iter().position(|s| s.starts_with("ST*")).unwrap();
    let se = segs.iter().position(|s| s.starts_with("SE*")).unwrap();
    let body = &segs[st + 1..se];
    let isa = segs[0].replace("000001000", "000777777");
    let mut out = format!("{isa}~\n{}~\n", segs[1]);
    for k in 0..n {
        out.push_str(&format!("ST*850*{k:04}~\n"));
        for seg in body {
            out.push_str(&seg.replace("PO00000000", &format!("PO{k:08}")));
            out.push_str("~\n");
        }
        out.push_str(&format!("SE*{}*{k:04}~\n", body.len() + 2));
    }
    let group = segs[1].split('*').nth(6).unwrap();
    out.push_str(&format!("GE*{n}*{group}~\nIEA*1*000777777~\n"));
    out.into_bytes()
}

/// `count` purchase orders from `first` on, each its own interchange, in one file.
fn many_interchanges(first: usize, count: usize) -> Vec<u8> {
    (first..first + count).flat_map(po).collect()
}

#[test]
fn a_big_file_is_read_from_disk_and_its_results_stream_into_the_store() {
    // Both files are larger than the start read to tell their format (64 KiB), so they are
    // read from disk as they are translated; every output over 1 KB goes through a spool file.
    let sb = Sandbox::with_config(
        &crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 100\ninline_output_kb = 1"),
    );
    let many = many_interchanges(0, 150);
    // Its 997 (about 84 KB) leaves the writer in pieces and is kept as a spool file.
    let one = one_interchange(4000);
    assert!(many.len() > 64 << 10 && one.len() > 64 << 10);
    let acks = |sb: &Sandbox| -> Vec<String> {
        sb.files("outbox/ACME/acks")
            .into_iter()
            .filter(|f| f.starts_with("997-"))
            .collect()
    };
    sb.drop_file("many.edi", &many);
    sb.once(0);
    let golden = render("inbox/many.edi", &many);
    let written = fs::read_to_string(sb.path("outbox/ACME/purchase_order/00000001-many.jsonl"));
    assert_eq!(written.unwrap(), golden[0]);
    let first = acks(&sb);
    assert_eq!(first.len(), 150, "one 997 per interchange");
    sb.drop_file("one.edi", &one);
    sb.once(0);
    let golden = render("inbox/one.edi", &one);
    let written = fs::read_to_string(sb.path("outbox/ACME/purchase_order/00000002-one.jsonl"));
    assert_eq!(written.unwrap(), golden[0]);
    let new: Vec<String> = acks(&sb)
        .into_iter()
        .filter(|f| !first.contains(f))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let ack = fs::read_to_string(sb.path(&format!("outbox/ACME/acks/{}", new[0]))).unwrap();
    // Control numbers masked (ours and the test's differ in length too).
    let masked = |t: &str| {
        let m = mask_x12(t);
        m.split('#')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("#")
    };
    assert_eq!(masked(&ack), masked(&golden[1]));
    let count = |sql: &str| -> i64 {
        let sql = sql.replace("SELECT COUNT(*)", "SELECT CAST(COUNT(*) AS TEXT)");
        sb.state_column(&sql)[0].parse().unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM records"), 4150);
    assert_eq!(
        count("SELECT COUNT(*) FROM interchanges WHERE file_id = 1"),
        150
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outputs WHERE kind = 'records' AND stored IS NOT NULL"),
        2,
        "records over the limit are spool files, not database values"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outputs WHERE kind = 'ack:997' AND stored IS NOT NULL"),
        1,
        "so are acknowledgements"
    );
    assert!(ack.len() > 64 << 10, "{}", ack.len());
    assert!(sb.files("var/spool/outputs").is_empty());
}

/// kill -9 at random instants while big files (read from disk, their results streamed into
/// the store, their records spilled to spool files) are translated and committed.
#[test]
fn sigkill_while_big_files_stream_into_the_store_loses_nothing_and_doubles_nothing() {
    let sb = Sandbox::with_config(
        &crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 5\ninline_output_kb = 4"),
    );
    let (files, per_file) = (4, 200);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let (mut rounds, mut interrupted) = (0, 0);
    for f in 0..files {
        sb.drop_file(
            &format!("big{f}.edi"),
            &many_interchanges(f * per_file, per_file),
        );
    }
    // Killed while files are in flight, until four kills caught some (at most 60 rounds).
    while interrupted < 4 && archived(&sb) < files {
        assert!(
            rounds < 60,
            "only {interrupted} of {rounds} kills hit work in flight"
        );
        let mut child = sb.spawn(&["run"]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Killed a random number of looks (a millisecond apart) after the service is seen
        // taking a file.
        let waiting = sb.files("inbox").len();
        let mut looks = seed % 300;
        let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while (waiting > 0 && sb.files("inbox").len() >= waiting) || looks > 0 {
            if waiting == 0 || sb.files("inbox").len() < waiting {
                looks = looks.saturating_sub(1);
            }
            assert!(std::time::Instant::now() < end, "{}", sb.log());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        rounds += 1;
        if archived(&sb) < files {
            interrupted += 1;
        }
    }
    eprintln!("{rounds} kills, {interrupted} with work in flight");
    sb.once(0);
    let mut pos: Vec<_> = records(&sb)
        .iter()
        .map(|r| r["record"]["po_number"].as_str().unwrap().to_string())
        .collect();
    pos.sort();
    let want: Vec<_> = (0..files * per_file).map(|i| format!("PO{i:08}")).collect();
    assert_eq!(pos, want, "every PO exactly once after {rounds} kills");
    let outbox = sb.files("outbox");
    assert_eq!(
        outbox.iter().filter(|f| f.contains("/acks/997-")).count(),
        files * per_file,
        "one 997 per interchange"
    );
    assert!(outbox.iter().all(|f| !f.ends_with(".edigate-tmp")));
    assert!(
        sb.files("var/spool").is_empty(),
        "{:?}",
        sb.files("var/spool")
    );
    assert_eq!(archived(&sb), files);
}

#[test]
fn init_writes_a_new_installation_that_checks_and_runs_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("edi");
    let bin = crate::support::bin();
    let init = std::process::Command::new(&bin)
        .args(["init", home.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(home.join("mappings/inbound/x12/810.jq").is_file());
    assert!(home.join("inbox").is_dir() && home.join("outbox").is_dir());
    let config = home.join("edigate.toml");
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("EDIGATE_LOG", "warn")
            .output()
            .unwrap()
    };
    let check = run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The copied mappings are the shipped ones: the 850 runs compiled, none is "edited".
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        said.contains(
            "compiled mappings: inbound/csv/invoice, inbound/csv/purchase_order, inbound/cxml/ConfirmationRequest, inbound/cxml/InvoiceDetailRequest, inbound/cxml/OrderRequest, inbound/cxml/ShipNoticeRequest, inbound/edifact/APERAK, inbound/edifact/CONTRL, inbound/edifact/DESADV, inbound/edifact/INVOIC, inbound/edifact/ORDERS, inbound/edifact/ORDRSP, inbound/edifact/REMADV, inbound/x12/810, inbound/x12/820, inbound/x12/850, inbound/x12/855, inbound/x12/856, inbound/x12/860, inbound/x12/997, inbound/x12/999\n"
        ) && !said.contains("edited"),
        "{said}"
    );
    fs::write(home.join("inbox/po.edi"), po(9)).unwrap();
    assert_eq!(run(&["once"]).status.code(), Some(0));
    assert!(home.join("outbox/ACME/acks/997-000000001.x12").is_file());
    // A second init changes nothing.
    let again = std::process::Command::new(&bin)
        .args(["init", home.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}
