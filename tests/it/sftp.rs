//! SFTP drops against a real OpenSSH server on 127.0.0.1: pull, stable files, delete and move,
//! upload of the 997, pinned host keys, a server that goes away and comes back, and spoofing.

use crate::sshd::Sshd;
use crate::support::{data, terminate, wait_for, Sandbox};
use std::fs;

const PARTNERS: &str = "[[partners]]\nid = \"ACME\"\nx12_ids = [\"ZZ:ACMESUPPLY\"]\n";

fn sandbox(server: &Sshd, extra: &str) -> Sandbox {
    let cfg = format!(
        "[service]\nrescan_seconds = 1\nsettle_ms = 100\n\n{}\n{PARTNERS}",
        server.channel(extra)
    );
    let sb = Sandbox::with_config(&cfg);
    let check = sb.run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    sb
}

fn po() -> Vec<u8> {
    fs::read(data("x12/ok/850-4010-acme.edi")).unwrap()
}

fn records(sb: &Sandbox) -> Vec<String> {
    sb.files("outbox")
        .into_iter()
        .filter(|f| f.ends_with(".jsonl"))
        .collect()
}

/// When the SFTP channel was last polled, read from the state database (quicker than
/// `status`, so the next part is written well before the next poll).
fn last_poll(sb: &Sandbox) -> String {
    let Ok((store, _)) = edigate::store::Store::connect_read_only(&sb.location()) else {
        return String::new();
    };
    store
        .health()
        .unwrap_or_default()
        .into_iter()
        .find(|h| h.channel == "acme-sftp")
        .and_then(|h| h.last_poll_at)
        .unwrap_or_default()
}

#[test]
fn pulls_a_file_deletes_it_after_commit_and_uploads_the_997() {
    let server = Sshd::start();
    let sb = sandbox(&server, "");
    fs::write(server.remote("inbox/po.edi"), po()).unwrap();
    let mut child = sb.spawn(&["run"]);
    let done = wait_for(15, || {
        server.files("outbox").iter().any(|f| f.starts_with("997-"))
    });
    terminate(&mut child);
    assert!(
        done,
        "outbound: {:?}, local: {:?}",
        server.files("outbox"),
        sb.files("outbox")
    );
    assert_eq!(records(&sb), ["ACME/purchase_order/00000001-po.jsonl"]);
    assert!(
        server.files("inbox").is_empty(),
        "{:?}",
        server.files("inbox")
    );
    let up = server.files("outbox");
    assert_eq!(up, ["997-000000001.x12"], "no .part left behind");
    let ack = fs::read_to_string(server.remote("outbox/997-000000001.x12")).unwrap();
    assert!(ack.contains("AK9*A*1*1*1~"), "{ack}");
    let status = sb.stdout(&["status"]);
    assert!(status.contains("acme-sftp        ok"), "{status}");
    assert!(status.contains("pending 0, done 1"), "{status}");
}

#[test]
fn a_slowly_uploaded_file_is_taken_only_once_complete_and_then_moved() {
    let server = Sshd::start();
    let archive = server.remote("archive");
    let sb = sandbox(&server, &format!("after = \"move:{}\"", archive.display()));
    let mut child = sb.spawn(&["run"]);
    let content = po();
    let path = server.remote("inbox/slow.edi");
    let chunk = content.len() / 3 + 1;
    for part in content.chunks(chunk) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, part).unwrap();
        drop(f);
        // The next part comes once a poll has ended since this one was written (its time
        // moved): every listing sees the file grown since the one before, as with a slow
        // upload. (A writer that pauses for two whole polls looks complete over SFTP.)
        let seen = last_poll(&sb);
        assert!(wait_for(15, || last_poll(&sb) != seen), "{}", sb.log());
        assert!(
            sb.files("var/quarantine").is_empty(),
            "a partial file was taken"
        );
    }
    let done = wait_for(15, || {
        server.files("archive") == ["slow.edi"] && !records(&sb).is_empty()
    });
    terminate(&mut child);
    assert!(
        done,
        "archive {:?}, records {:?}, quarantine {:?}",
        server.files("archive"),
        records(&sb),
        sb.files("var/quarantine")
    );
    assert!(server.files("inbox").is_empty());
    assert_eq!(records(&sb).len(), 1);
}

#[test]
fn an_unknown_or_changed_host_key_is_refused_with_its_fingerprint() {
    let server = Sshd::start();
    let sb = sandbox(&server, "");
    fs::write(server.remote("inbox/po.edi"), po()).unwrap();
    // Pin another key for this host.
    let other = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(other.path().join("k"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let key = fs::read_to_string(other.path().join("k.pub")).unwrap();
    let key: Vec<&str> = key.split_whitespace().take(2).collect();
    fs::write(
        server.dir.path().join("known_hosts"),
        format!("[127.0.0.1]:{} {} {}\n", server.port, key[0], key[1]),
    )
    .unwrap();
    sb.once(2);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("FAILING")
            && status.contains("HOST KEY CHANGED")
            && status.contains("ssh-ed25519 SHA256:"),
        "{status}"
    );
    assert_eq!(server.files("inbox"), ["po.edi"], "nothing was taken");
    let metrics = sb.stdout(&["metrics"]);
    assert!(
        metrics.contains("edigate_channel_up{channel=\"acme-sftp\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edigate_channel_error_info{channel=\"acme-sftp\",error=\"")
            && metrics.contains("HOST KEY CHANGED"),
        "{metrics}"
    );
    // A host that is not in known_hosts at all.
    fs::write(server.dir.path().join("known_hosts"), "").unwrap();
    sb.once(2);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("is not in") && status.contains("refusing to connect"),
        "{status}"
    );
    assert!(records(&sb).is_empty());
}

#[test]
fn a_server_that_goes_away_is_retried_and_uploads_wait_for_it() {
    let mut server = Sshd::start();
    let sb = sandbox(&server, "");
    server.stop();
    fs::write(server.remote("inbox/po.edi"), po()).unwrap();
    let mut child = sb.spawn(&["run"]);
    let failing = wait_for(10, || sb.stdout(&["status"]).contains("FAILING"));
    assert!(
        failing,
        "{}\n{}",
        String::from_utf8_lossy(&sb.run(&["status"]).stdout),
        sb.log()
    );
    server.resume();
    // A finished upload only: `997-*.part` is still being written.
    let done = wait_for(20, || {
        server
            .files("outbox")
            .iter()
            .any(|f| f.starts_with("997-") && !f.ends_with(".part"))
    });
    // Now the upload target disappears: the next 997 waits and is retried.
    let outbound = server.remote("outbox");
    fs::rename(&outbound, server.remote("outbox-away")).unwrap();
    let mut second = po();
    let text = String::from_utf8(second.clone())
        .unwrap()
        .replace("000000905", "000000906")
        .replace("4500001234", "4500009999");
    second = text.into_bytes();
    fs::write(server.remote("inbox/po2.edi"), second).unwrap();
    assert!(
        wait_for(15, || records(&sb).len() == 2),
        "{:?}",
        records(&sb)
    );
    let mut status = String::new();
    wait_for(15, || {
        status = sb.stdout(&["status"]);
        status.contains("pending 1")
    });
    fs::rename(server.remote("outbox-away"), &outbound).unwrap();
    let uploaded = wait_for(20, || {
        let files = server.files("outbox");
        files.len() == 2 && files.iter().all(|f| !f.ends_with(".part"))
    });
    terminate(&mut child);
    assert!(done, "first file never delivered");
    assert!(status.contains("pending 1"), "{status}");
    assert!(uploaded, "{:?}", server.files("outbox"));
}

#[test]
fn a_file_whose_sender_is_not_the_channel_partner_is_quarantined_as_spoofed() {
    let server = Sshd::start();
    let sb = sandbox(&server, "");
    let spoof = String::from_utf8(po())
        .unwrap()
        .replace("ACMESUPPLY     ", "EVILCORP       ");
    fs::write(server.remote("inbox/spoof.edi"), spoof).unwrap();
    let out = sb.run(&["once"]);
    let out2 = sb.run(&["once"]);
    assert!(
        out.status.code() == Some(1) || out2.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("spoof.edi") && list.contains("ZZ:EVILCORP is not one of partner ACME's ids"),
        "{list}"
    );
    assert!(records(&sb).is_empty());
    assert!(
        server.files("outbox").is_empty(),
        "a spoofer gets no acknowledgement"
    );
}

#[test]
fn a_file_committed_before_its_remote_move_failed_is_not_processed_twice() {
    let server = Sshd::start();
    let later = server.remote("done");
    let sb = sandbox(
        &server,
        &format!("after = \"move:{}\"\nstable = \"rename\"", later.display()),
    );
    fs::write(server.remote("inbox/po.edi"), po()).unwrap();
    // The move target does not exist yet: the content is committed, then the move fails.
    sb.once(2);
    assert_eq!(server.files("inbox"), ["po.edi"]);
    fs::create_dir(&later).unwrap();
    sb.once(0);
    assert_eq!(server.files("done"), ["po.edi"]);
    assert!(server.files("inbox").is_empty());
    assert_eq!(records(&sb).len(), 1, "processed exactly once");
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("done         1 (of which 0 duplicate)"),
        "{status}"
    );
}

#[test]
fn an_authentication_failure_is_reported_and_leaves_the_drop_alone() {
    let server = Sshd::start();
    // A client key the server does not know.
    let other = server.dir.path().join("stranger");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let extra = "";
    let mut cfg = server.channel(extra);
    cfg = cfg.replace(
        &format!("{}/client_ed25519", server.dir.path().display()),
        &other.display().to_string(),
    );
    let sb = Sandbox::with_config(&format!("[service]\nsettle_ms = 100\n\n{cfg}\n{PARTNERS}"));
    fs::write(server.remote("inbox/po.edi"), po()).unwrap();
    sb.once(2);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("FAILING") && status.contains("authentication as"),
        "{status}"
    );
    assert_eq!(server.files("inbox"), ["po.edi"]);
}

#[test]
fn a_remote_file_written_again_after_it_was_taken_is_left_for_the_next_poll() {
    let server = Sshd::start();
    let text = format!("{}\n{PARTNERS}", server.channel(""));
    let dir = tempfile::tempdir().unwrap();
    let cfg = edigate::config::parse(&dir.path().join("edigate.toml"), &text).unwrap();
    let s = cfg.channels[0].sftp().unwrap();
    fs::write(server.remote("inbox/orders.edi"), po()).unwrap();
    let remote = edigate::sftp::connect(s).unwrap();
    let listed = remote.list(&s.remote_dir).unwrap();
    let (name, size, mtime) = listed[0].clone();
    // The partner uploads the same name again after the poll read it.
    fs::write(server.remote("inbox/orders.edi"), b"a newer order").unwrap();
    assert!(!edigate::sftp::finish(&remote, s, &name, (size, mtime)).unwrap());
    assert_eq!(
        fs::read(server.remote("inbox/orders.edi")).unwrap(),
        b"a newer order"
    );
    // What the poll now lists is what it takes and finishes.
    let (_, size, mtime) = remote.list(&s.remote_dir).unwrap()[0].clone();
    assert!(edigate::sftp::finish(&remote, s, &name, (size, mtime)).unwrap());
    assert!(server.files("inbox").is_empty());
}

#[test]
fn the_legacy_import_folder_over_sftp_gets_each_record_once() {
    let server = Sshd::start();
    fs::create_dir_all(server.remote("legacy")).unwrap();
    let legacy = server.remote("legacy");
    let cfg = format!(
        "[service]\nrescan_seconds = 1\nsettle_ms = 100\n\n{}\n{PARTNERS}\n[[targets]]\nname = \"legacy\"\ntype = \"legacy_files\"\nchannel = \"acme-sftp\"\nremote_dir = \"{}\"\nformat = \"csv\"\ndocuments = [\"invoice/v1\"]\n",
        server.channel(""),
        legacy.display()
    );
    let sb = Sandbox::with_config(&cfg);
    let check = sb.run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let invoice = fs::read_to_string(data("x12/ok/810-4010-invoice-with-charges.edi")).unwrap();
    for n in 1..=2 {
        let text = invoice
            .replace("INV-9001", &format!("INV-{n}"))
            .replace("000000910", &format!("{n:09}"));
        fs::write(server.remote(&format!("inbox/inv{n}.edi")), text).unwrap();
    }
    sb.run(&["once"]);
    let published = server.files("legacy");
    assert_eq!(
        published.len(),
        2,
        "{published:?}\n{}",
        sb.stdout(&["status"])
    );
    assert!(
        published.iter().all(|f| f.ends_with(".csv")),
        "{published:?}"
    );
    let text = fs::read_to_string(legacy.join(&published[0])).unwrap();
    assert!(text.starts_with("vendor,invoice_number"), "{text}");
    // The legacy ERP takes the files; a replay publishes none of them again.
    for f in &published {
        fs::remove_file(legacy.join(f)).unwrap();
    }
    assert!(sb.run(&["replay", "--partner", "ACME"]).status.success());
    sb.run(&["once"]);
    assert!(
        server.files("legacy").is_empty(),
        "{:?}",
        server.files("legacy")
    );
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("legacy           pending 0, delivered 2"),
        "{status}"
    );
}
