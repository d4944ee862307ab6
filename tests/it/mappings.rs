//! Mappings as an operator uses them: partner overrides, code crosswalks, broken files, and
//! every emitted record checked against its published JSON Schema.

use crate::support::{data, Sandbox};
use std::fs;

fn write(sb: &Sandbox, rel: &str, text: &str) {
    let p = sb.path(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn a_partner_mapping_and_a_crosswalk_change_the_result_without_a_rebuild() {
    let sb = Sandbox::new();
    // ACME's own 850 mapping: the shipped one, plus a note.
    let shipped = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/inbound/x12/850.jq"),
    )
    .unwrap();
    write(
        &sb,
        "mappings/partners/ACME/inbound/x12/850.jq",
        &format!("{shipped}\n| .record.notes += [\"mapped by ACME's own mapping\"]\n"),
    );
    // ACME's units go through a crosswalk that knows EA but not yet CS.
    write(
        &sb,
        "mappings/codes/uom.csv",
        "partner,value,mapped\nACME,EA,EACH\n",
    );
    let po = fs::read(data("x12/ok/850-4010-acme.edi")).unwrap();
    sb.drop_file("po.edi", &po);
    let out = sb.run(&["once"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("no uom crosswalk entry for \"CS\" (partner ACME)"),
        "{list}"
    );
    let ack = sb
        .files("outbox")
        .into_iter()
        .find(|f| f.contains("997"))
        .unwrap();
    let ack = fs::read_to_string(sb.path("outbox").join(ack)).unwrap();
    assert!(ack.contains("AK5*R*5~"), "{ack}");

    // The operator adds the missing entry and releases the file: it flows, mapped by ACME's
    // mapping, with the crosswalked units.
    write(
        &sb,
        "mappings/codes/uom.csv",
        "partner,value,mapped\nACME,EA,EACH\nACME,CS,CASE\n",
    );
    assert!(sb.run(&["quarantine", "release", "1"]).status.success());
    let out = sb.run(&["once"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = sb.records();
    assert_eq!(recs.len(), 1);
    let r = &recs[0]["record"];
    assert_eq!(r["notes"][0], "mapped by ACME's own mapping");
    assert_eq!(r["lines"][0]["uom"], "EACH");
    assert_eq!(r["lines"][1]["uom"], "CASE");
}

#[test]
fn check_reports_a_broken_mapping_with_its_file_and_line() {
    let sb = Sandbox::new();
    write(
        &sb,
        "mappings/inbound/x12/855.jq",
        "{\n  po_number: .x |\n}\n",
    );
    write(&sb, "mappings/codes/uom.csv", "value,mapped\n");
    let out = sb.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("mappings/inbound/x12/855.jq:3"), "{text}");
    assert!(
        text.contains("mappings/codes/uom.csv:1: the header must be"),
        "{text}"
    );
}
