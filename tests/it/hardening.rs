//! Regressions found by using the appliance as a careless or hostile user would: each test is
//! named after what went wrong, and failed on the build before the fix.

use crate::support::{data, terminate, wait_for, Sandbox, Target};
use edigate::sim::SimConfig;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

fn po(n: usize) -> Vec<u8> {
    String::from_utf8(fs::read(data("x12/ok/850-4010-acme.edi")).unwrap())
        .unwrap()
        .replace("4500001234", &format!("PO{n:08}"))
        .replace("000000905", &format!("{:09}", 5000 + n))
        .into_bytes()
}

fn status(sb: &Sandbox) -> String {
    sb.stdout(&["status"])
}

fn quiet_target() -> Target {
    Target::start(SimConfig {
        fail_rate: 0.0,
        seed: 1,
        slow_ms: 0,
        latency_ms: 0,
        reject_marker: None,
    })
}

#[test]
fn a_file_still_being_written_is_taken_only_once_its_writer_closes_it() {
    let sb = Sandbox::new();
    let mut child = sb.spawn_with(&["run"], &[("EDIGATE_LOG", "info")]);
    assert!(wait_for(10, || sb.log().contains("edigate is running")));
    let g = fs::read(data("x12/ok/850-4010-acme.edi")).unwrap();
    let mut w = fs::File::create(sb.path("inbox/s.edi")).unwrap();
    w.write_all(&g[..330]).unwrap();
    // The service sees the file and waits for its writer; it takes nothing half-written.
    let waited = wait_for(10, || sb.log().contains("still open for writing"));
    let early = sb.files("var/quarantine");
    w.write_all(&g[330..]).unwrap();
    drop(w);
    let done = wait_for(10, || sb.records().len() == 1);
    let log = sb.log();
    assert!(terminate(&mut child).success());
    assert!(waited, "{log}");
    assert!(early.is_empty(), "taken half-written: {early:?}");
    assert!(done, "{log}");
    assert!(sb.files("var/quarantine").is_empty());
    let acks: Vec<String> = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("/acks/"))
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    let ack = fs::read_to_string(sb.path("outbox").join(&acks[0])).unwrap();
    assert!(ack.contains("AK9*A*1*1*1~"), "{ack}");
}

#[test]
fn envelope_less_edifact_files_are_not_duplicates_of_each_other() {
    let text = fs::read_to_string(data("edifact/ok/orders-d96a-ack-requested.edi")).unwrap();
    let bare: Vec<&str> = text
        .split_inclusive('\'')
        .filter(|s| !s.trim_start().starts_with("UNB") && !s.trim_start().starts_with("UNZ"))
        .collect();
    let bare = bare.concat();
    assert!(bare.contains("UNH+") && !bare.contains("UNB+"));
    let sb = Sandbox::new();
    sb.drop_file("one.edi", bare.as_bytes());
    sb.once(0);
    sb.drop_file("two.edi", bare.replace("PO4711", "PO4712").as_bytes());
    sb.once(0);
    let mut pos: Vec<String> = sb
        .records()
        .iter()
        .map(|r| r["record"]["po_number"].as_str().unwrap().to_string())
        .collect();
    pos.sort();
    assert_eq!(pos, ["PO4711", "PO4712"]);
    assert!(sb.files("var/quarantine").is_empty());
}

#[test]
fn a_file_with_a_250_byte_name_flows_under_bounded_names() {
    let sb = Sandbox::new();
    let name = format!("{}.edi", "n".repeat(246));
    assert_eq!(name.len(), 250);
    fs::write(sb.path("inbox").join(&name), po(1)).unwrap();
    sb.once(0);
    assert_eq!(sb.records().len(), 1);
    for f in sb.files("outbox").iter().chain(&sb.files("var/archive")) {
        for part in f.split('/') {
            assert!(part.len() <= 150, "{part}");
        }
    }
    assert!(!status(&sb).contains("in flight    1"), "{}", status(&sb));
}

#[test]
fn an_unwritable_outbox_subfolder_backs_off_shows_in_status_and_recovers() {
    let sb = Sandbox::new();
    fs::create_dir(sb.path("outbox")).unwrap();
    // ACME's folder cannot be made: a file stands where it would go.
    fs::write(sb.path("outbox/ACME"), b"in the way").unwrap();
    for i in 1..=3 {
        sb.drop_file(&format!("po{i}.edi"), &po(i));
    }
    let mut child = sb.spawn(&["run"]);
    let failed_twice = wait_for(20, || status(&sb).matches("2 failure(s)").count() == 3);
    let shown = status(&sb);
    let log = sb.log();
    let attempts = log.matches("could not advance").count();
    // Each failed attempt is logged once; the retries wait (1 s, then 2 s, ...).
    fs::remove_file(sb.path("outbox/ACME")).unwrap();
    // Recovered: every record written and no step left failing (acknowledgements included).
    let recovered = wait_for(30, || {
        sb.records().len() == 3 && !status(&sb).contains("steps failing")
    });
    let after = status(&sb);
    assert!(terminate(&mut child).success());
    assert!(failed_twice, "{shown}\n{log}");
    assert!(shown.contains("steps failing"), "{shown}");
    assert!(
        (6..=12).contains(&attempts),
        "{attempts} attempts logged for 3 files that failed twice:\n{log}"
    );
    assert!(recovered, "{after}");
    assert!(!after.contains("steps failing"), "{after}");
}

#[test]
fn a_file_over_max_file_mb_is_never_read_nor_copied() {
    let sb = Sandbox::with_config(&format!(
        "{}\n",
        crate::support::CONFIG.replace("settle_ms = 100", "settle_ms = 100\nmax_file_mb = 1")
    ));
    let big = sb.path("inbox/huge.edi");
    let f = fs::File::create(&big).unwrap();
    f.set_len(64 << 20).unwrap(); // sparse: 64 MB that take no disk
    drop(f);
    let inode = fs::metadata(&big).unwrap().ino();
    sb.once(1);
    let q: Vec<String> = sb
        .files("var/quarantine")
        .into_iter()
        .filter(|f| f.ends_with("huge.edi"))
        .collect();
    assert_eq!(q.len(), 1, "{:?}", sb.files("var"));
    let held = fs::metadata(sb.path("var/quarantine").join(&q[0])).unwrap();
    assert_eq!(held.ino(), inode, "moved, not copied");
    assert!(held.blocks() * 512 < 1 << 20, "still sparse");
    assert_eq!(held.len(), 64 << 20);
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(list.contains("max_file_mb"), "{list}");
}

#[test]
fn a_silent_target_does_not_hold_up_another_target() {
    // Accepts connections (the kernel completes them) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let target = quiet_target();
    let sb = Sandbox::with_config(&format!(
        "{}\n[[targets]]\nname = \"silent\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/x\"\ntimeout_seconds = 120\n{}",
        crate::support::CONFIG,
        target.config("")
    ));
    for i in 1..=5 {
        sb.drop_file(&format!("po{i}.edi"), &po(i));
    }
    let mut child = sb.spawn(&["run"]);
    let delivered = wait_for(20, || {
        target.stats()["stored"]
            .as_array()
            .is_some_and(|s| s.len() == 5)
    });
    let shown = status(&sb);
    let stopped = terminate(&mut child);
    assert!(delivered, "{shown}\n{}", sb.log());
    assert!(shown.contains("silent           pending 5"), "{shown}");
    assert!(stopped.success(), "stops although a request is in flight");
    drop(silent);
}

#[test]
fn a_panic_on_one_file_quarantines_it_as_internal_and_the_service_goes_on() {
    let sb = Sandbox::new();
    let mut child = sb.spawn_with(&["run"], &[("EDIGATE_FAULT", "panic:translate:boom")]);
    sb.drop_file("boom.edi", &po(1));
    sb.drop_file("fine.edi", &po(2));
    let first = wait_for(20, || {
        sb.records().len() == 1 && sb.stdout(&["quarantine", "list"]).contains("boom.edi")
    });
    sb.drop_file("later.edi", &po(3));
    let later = wait_for(20, || sb.records().len() == 2);
    let alive = child.try_wait().unwrap().is_none();
    let list = sb.stdout(&["quarantine", "list", "--class", "internal"]);
    assert!(terminate(&mut child).success());
    assert!(first && later, "{}", sb.log());
    assert!(alive);
    assert!(
        list.contains("boom.edi") && list.contains("internal"),
        "{list}"
    );
}

#[test]
fn a_delivery_worker_that_panics_is_restarted_and_counted() {
    let target = quiet_target();
    let sb = Sandbox::with_config(&format!("{}{}", crate::support::CONFIG, target.config("")));
    let mut child = sb.spawn_with(&["run"], &[("EDIGATE_FAULT", "panic:deliver:erp")]);
    for i in 1..=3 {
        sb.drop_file(&format!("po{i}.edi"), &po(i));
    }
    let delivered = wait_for(30, || {
        target.stats()["stored"]
            .as_array()
            .is_some_and(|s| s.len() == 3)
    });
    let shown = status(&sb);
    assert!(terminate(&mut child).success());
    assert!(delivered, "{shown}\n{}", sb.log());
    assert!(shown.contains("worker.restart           1"), "{shown}");
    assert!(sb.log().contains("the delivery worker panicked"));
}

#[test]
fn a_missing_mappings_folder_is_an_error_and_a_missing_shipped_mapping_is_said() {
    let sb = Sandbox::with_config(
        &crate::support::CONFIG
            .replace("settle_ms = 100", "settle_ms = 100\nmappings = \"mapings\""),
    );
    let out = sb.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mappings folder") && err.contains("mapings"),
        "{err}"
    );
    assert_eq!(sb.run(&["once"]).status.code(), Some(2));
    // An existing folder without one of the shipped mappings: the built-in one runs, and says so.
    let sb = Sandbox::new();
    fs::create_dir_all(sb.path("mappings/inbound/x12")).unwrap();
    fs::write(
        sb.path("mappings/inbound/x12/850.jq"),
        fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/inbound/x12/850.jq"),
        )
        .unwrap(),
    )
    .unwrap();
    let out = sb.stdout(&["check"]);
    assert!(
        out.contains("inbound/x12/810.jq is not in") && !out.contains("inbound/x12/850.jq is not"),
        "{out}"
    );
    let none = Sandbox::new();
    assert!(
        none.stdout(&["check"]).contains("the built-in set runs"),
        "{}",
        none.stdout(&["check"])
    );
}

#[test]
fn file_names_with_newlines_or_escapes_cannot_forge_log_lines() {
    let sb = Sandbox::new();
    let name = "po.edi\n2026-01-01T00:00:00Z ERROR forged: all is lost\x1b[2K";
    fs::write(sb.path("inbox").join(name), po(1)).unwrap();
    let out = sb
        .cmd(&["once"])
        .env("EDIGATE_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z ERROR forged")),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(err.contains("po.edi\\n2026-01-01"), "{err}");
}

#[test]
fn links_fifos_and_folders_in_a_channel_are_logged_once_and_counted() {
    let sb = Sandbox::new();
    fs::write(sb.path("secret.edi"), po(1)).unwrap();
    std::os::unix::fs::symlink(sb.path("secret.edi"), sb.path("inbox/link.edi")).unwrap();
    fs::create_dir(sb.path("inbox/folder.edi")).unwrap();
    sb.drop_file("real.edi", &po(2));
    let out = sb.cmd(&["once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("a symbolic link").count(), 1, "{err}");
    assert_eq!(err.matches("a folder").count(), 1, "{err}");
    assert_eq!(sb.records().len(), 1, "only the plain file is taken");
    let s = status(&sb);
    assert!(s.contains("not taken 2"), "{s}");
}

#[test]
fn status_works_while_the_data_folder_is_full() {
    // The SQLite file on a full disk (a PostgreSQL store is not on that disk).
    let sb = Sandbox::on_sqlite(crate::support::CONFIG);
    sb.drop_file("po.edi", &po(1));
    sb.once(0);
    // A private mount namespace: a full file system over var/, with the state copied in.
    let script = format!(
        "set -e; cp -a var var.copy; mount -t tmpfs -o size=2m tmpfs var; cp -a var.copy/. var/; \
         dd if=/dev/zero of=var/filler bs=4k 2>/dev/null || true; exec {} status",
        crate::support::bin()
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .current_dir(sb.dir.path())
        .env_remove("EDIGATE_CONFIG")
        .env("EDIGATE_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("done         1"), "{text}");
}

#[test]
fn checksum_listings_have_each_file_once_across_restarts_and_replays() {
    let sb = Sandbox::new();
    for i in 1..=2 {
        sb.drop_file(&format!("po{i}.edi"), &po(i));
        sb.once(0);
    }
    assert!(sb.run(&["replay", "--partner", "ACME"]).status.success());
    sb.once(0);
    sb.once(0);
    let sums: Vec<String> = sb
        .files("var/archive")
        .into_iter()
        .filter(|f| f.ends_with("SHA256SUMS"))
        .collect();
    assert_eq!(sums.len(), 1);
    let text = fs::read_to_string(sb.path("var/archive").join(&sums[0])).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), n, "{text}");
    assert_eq!(n, 2, "{text}");
}

#[test]
fn a_megabyte_element_is_quoted_cut_short_in_the_log_the_quarantine_and_the_database() {
    // An 850 whose buyer name is 1 MB: every message once quoted the whole value, so one
    // file wrote megabyte log lines and a megabyte quarantine reason.
    let sb = Sandbox::new();
    let name = "A".repeat(1 << 20);
    let text = String::from_utf8(po(1))
        .unwrap()
        .replacen("N1*BY*", &format!("N1*BY*{name}*"), 1);
    assert!(text.contains(&name), "the fixture has an N1*BY");
    let list = quarantined_with_short_lines(&sb, "big-name.edi", &text, "(1048576 bytes)");
    assert!(list.contains("bytes)"), "{}", &list[..list.len().min(2000)]);
    let db = sb.state_bytes().len();
    assert!(
        db < 1 << 20,
        "the database holds a copy of the element: {db} bytes"
    );
}

#[test]
fn a_megabyte_value_a_mapping_refuses_is_quoted_cut_short() {
    // A cXML order whose quantity is 1 MB of digits: the mapping's own error quoted it whole.
    let sb = Sandbox::new();
    let text = fs::read_to_string(data("cxml/ok/order-request.xml"))
        .unwrap()
        .replacen(
            "quantity=\"10\"",
            &format!("quantity=\"1{}x\"", "2".repeat(1 << 20)),
            1,
        );
    quarantined_with_short_lines(&sb, "big-quantity.xml", &text, "bytes) is not valid");
}

/// Drops `text` as `name` and runs `once`, which quarantines it; the log says `said` and no
/// line of the log or of the quarantine listing is long. Returns the listing.
fn quarantined_with_short_lines(sb: &Sandbox, name: &str, text: &str, said: &str) -> String {
    sb.drop_file(name, text.as_bytes());
    let out = sb.once(1);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(said), "{}", &log[..log.len().min(2000)]);
    assert!(
        log.lines().all(|l| l.len() < 4096),
        "a log line quotes the whole value"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(list.len() < 4096, "{}", &list[..list.len().min(2000)]);
    list
}

#[test]
fn a_transaction_set_of_a_hundred_thousand_bad_segments_keeps_a_thousand_errors() {
    // 100,000 N9 segments where one may stand: every one was an error kept, printed and
    // acknowledged (seconds and hundreds of megabytes for a few megabytes of input).
    let sb = Sandbox::new();
    let text = String::from_utf8(po(1)).unwrap();
    let at = text.find("PO1*").unwrap();
    let (head, tail) = text.split_at(at);
    let se = tail.find("SE*").unwrap();
    let count: usize = tail[se + 3..].split('*').next().unwrap().parse().unwrap();
    let extra = 100_000;
    let body = format!(
        "{head}{}{}SE*{}{}",
        "N9*L1*x~\n".repeat(extra),
        &tail[..se],
        count + extra,
        &tail[se + 3 + count.to_string().len()..]
    );
    keeps_a_thousand_errors(&sb, "many-n9.edi", &body);
    let ack = sb.stdout(&["ack", "inbox/many-n9.edi"]);
    let ak3 = ack
        .split('~')
        .filter(|s| s.trim_start().starts_with("AK3"))
        .count();
    assert!((1..=1000).contains(&ak3), "{ak3} AK3 segments");
}

#[test]
fn an_edifact_message_of_a_hundred_thousand_misplaced_segments_keeps_a_thousand_errors() {
    let sb = Sandbox::new();
    let n = 100_000;
    let msg = format!(
        "UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20260517:102'{}UNS+S'UNT+{}+1'",
        "FTX+AAI+++x'".repeat(n),
        n + 5
    );
    let text =
        format!("UNA:+.? 'UNB+UNOC:3+5412345000013:14+RECEIVER:14+260517:1015+1'{msg}UNZ+1+1'");
    keeps_a_thousand_errors(&sb, "many-ftx.edi", &text);
}

/// Drops `text` as `name` and translates it: between 1 and 1,000 errors are printed, the last
/// saying how many more there were.
fn keeps_a_thousand_errors(sb: &Sandbox, name: &str, text: &str) {
    sb.drop_file(name, text.as_bytes());
    let out = sb.run(&["translate", &format!("inbox/{name}")]);
    let said = String::from_utf8_lossy(&out.stderr);
    let errors = said.lines().filter(|l| l.contains(": error: ")).count();
    assert!((1..=1000).contains(&errors), "{errors} errors");
    assert!(
        said.contains("more errors here are not listed"),
        "{}",
        &said[..said.len().min(2000)]
    );
}
