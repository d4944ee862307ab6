//! Zip bundles through the service: every document inside is processed on its own; unsafe
//! archives are quarantined with the reason.

use crate::support::{data, Sandbox};
use std::fs;
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

fn zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn po(n: u32) -> Vec<u8> {
    String::from_utf8(fs::read(data("x12/ok/850-4010-acme.edi")).unwrap())
        .unwrap()
        .replace("4500001234", &format!("PO{n:08}"))
        .replace("000000905", &format!("{:09}", 2000 + n))
        .into_bytes()
}

#[test]
fn a_bundle_and_a_nested_bundle_yield_every_document() {
    let sb = Sandbox::new();
    let inner = zip(&[("c.edi", po(3))]);
    sb.drop_file(
        "batch.zip",
        &zip(&[("a.edi", po(1)), ("sub/b.edi", po(2)), ("inner.zip", inner)]),
    );
    sb.once(0);
    let mut pos = Vec::new();
    for f in sb.files("outbox").iter().filter(|f| f.ends_with(".jsonl")) {
        let text = fs::read_to_string(sb.path("outbox").join(f)).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        pos.push(v["record"]["po_number"].as_str().unwrap().to_string());
        assert!(
            v["source"]["file"].as_str().unwrap().contains("batch.zip!"),
            "{v}"
        );
    }
    pos.sort();
    assert_eq!(pos, ["PO00000001", "PO00000002", "PO00000003"]);
    assert!(sb.files("var/quarantine").is_empty());
}

#[test]
fn zip_slip_and_zip_bombs_are_quarantined() {
    let sb = Sandbox::new();
    sb.drop_file(
        "slip.zip",
        &zip(&[("ok.edi", po(1)), ("../../etc/cron.d/evil", b"x".to_vec())]),
    );
    sb.drop_file("bomb.zip", &zip(&[("zeros.edi", vec![b'0'; 8 << 20])]));
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("slip.zip") && list.contains("zip slip"),
        "{list}"
    );
    assert!(
        list.contains("bomb.zip") && list.contains("zip bomb"),
        "{list}"
    );
    assert!(
        sb.files("outbox").is_empty(),
        "nothing from a refused bundle flows"
    );
}

/// A zip whose entries are all named `name` (written under distinct names of the same length,
/// then renamed in every header, as some zip tools produce them).
fn zip_same_name(name: &str, contents: &[Vec<u8>]) -> Vec<u8> {
    let names: Vec<String> = (0..contents.len())
        .map(|i| format!("{}{i}", &name[..name.len() - 1]))
        .collect();
    let entries: Vec<(&str, Vec<u8>)> = names
        .iter()
        .zip(contents)
        .map(|(n, c)| (n.as_str(), c.clone()))
        .collect();
    let mut z = zip(&entries);
    for n in &names {
        let mut at = 0;
        while let Some(i) = z[at..].windows(n.len()).position(|w| w == n.as_bytes()) {
            z[at + i..at + i + n.len()].copy_from_slice(name.as_bytes());
            at += i + n.len();
        }
    }
    z
}

#[test]
fn a_zip_with_two_entries_of_the_same_name_is_quarantined_with_the_reason() {
    let sb = Sandbox::new();
    sb.drop_file("twice.zip", &zip_same_name("po.edi", &[po(1), po(2)]));
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("twice.zip") && list.contains("2 entries named \"po.edi\""),
        "{list}"
    );
    // Neither entry flows on its own: the bundle is held whole, with both inside it.
    assert!(sb.records().is_empty(), "{:?}", sb.files("outbox"));
    let status = sb.stdout(&["status"]);
    assert!(status.contains("quarantined  1"), "{status}");
}
