//! Mappings as an operator uses them: partner overrides, code crosswalks, broken files, and
//! every emitted record checked against its published JSON Schema.

use crate::support::{data, Sandbox};
use std::fs;

fn write(sb: &Sandbox, rel: &str, text: &str) {
    let p = sb.path(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// The shipped X12 850 mapping, as an operator would copy it.
fn shipped_850() -> String {
    fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/inbound/x12/850.jq"),
    )
    .unwrap()
}

#[test]
fn a_partner_mapping_and_a_crosswalk_change_the_result_without_a_rebuild() {
    let sb = Sandbox::new();
    // ACME's own 850 mapping: the shipped one, plus a note.
    let shipped = shipped_850();
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
    sb.once(1);
    // A missing crosswalk entry is a configuration matter for the operator.
    let list = sb.stdout(&["quarantine", "list", "--class", "configuration"]);
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
    sb.once(0);
    let recs = sb.records();
    assert_eq!(recs.len(), 1);
    let r = &recs[0]["record"];
    assert_eq!(r["notes"][0], "mapped by ACME's own mapping");
    assert_eq!(r["lines"][0]["uom"], "EACH");
    assert_eq!(r["lines"][1]["uom"], "CASE");
}

#[test]
fn an_edited_shared_850_mapping_leaves_the_compiled_one_and_takes_effect() {
    let sb = Sandbox::new();
    let check = sb.stdout(&["check"]);
    assert!(
        check.contains(
            "compiled mappings: inbound/csv/invoice, inbound/csv/purchase_order, inbound/cxml/ConfirmationRequest, inbound/cxml/InvoiceDetailRequest, inbound/cxml/OrderRequest, inbound/cxml/ShipNoticeRequest, inbound/edifact/APERAK, inbound/edifact/CONTRL, inbound/edifact/DESADV, inbound/edifact/INVOIC, inbound/edifact/ORDERS, inbound/edifact/ORDRSP, inbound/edifact/REMADV, inbound/x12/810, inbound/x12/820, inbound/x12/850, inbound/x12/855, inbound/x12/856, inbound/x12/860, inbound/x12/997, inbound/x12/999\n"
        ),
        "{check}"
    );
    // The operator edits the shared 850 mapping (not a partner's copy).
    let shipped = shipped_850();
    write(
        &sb,
        "mappings/inbound/x12/850.jq",
        &shipped.replace(
            "po_type: ($beg | el(2)),",
            "po_type: ($beg | el(2) | ascii_downcase),",
        ),
    );
    let check = sb.stdout(&["check"]);
    assert!(
        check.contains("compiled mappings: inbound/csv/invoice, inbound/csv/purchase_order, inbound/cxml/ConfirmationRequest, inbound/cxml/InvoiceDetailRequest, inbound/cxml/OrderRequest, inbound/cxml/ShipNoticeRequest, inbound/edifact/APERAK, inbound/edifact/CONTRL, inbound/edifact/DESADV, inbound/edifact/INVOIC, inbound/edifact/ORDERS, inbound/edifact/ORDRSP, inbound/edifact/REMADV, inbound/x12/810, inbound/x12/820, inbound/x12/855, inbound/x12/856, inbound/x12/860, inbound/x12/997, inbound/x12/999\n"),
        "the other twins stay compiled: {check}"
    );
    assert!(
        check.contains("inbound/x12/850: edited, so it runs in the jq interpreter"),
        "{check}"
    );
    sb.drop_file(
        "po.edi",
        &fs::read(data("x12/ok/850-4010-acme.edi")).unwrap(),
    );
    sb.once(0);
    let recs = sb.records();
    assert_eq!(recs[0]["record"]["po_type"], "sa", "{recs:?}");
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

#[test]
fn canonical_records_dropped_by_the_erp_go_out_as_the_partners_documents() {
    let config = format!(
        "{}edifact_ids = [\"5412345000013:14\"]\n\n[partners.outbound]\nx12_sender = \"ZZ:BUYERCO\"\nx12_separators = \"|:^~\"\ndocuments = {{ \"purchase_order/v1\" = \"x12:850\", \"invoice/v1\" = \"edifact:INVOIC\" }}\n",
        crate::support::CONFIG
    );
    let sb = Sandbox::with_config(&config);
    let po = fs::read(data("outbound/x12-850/po.jsonl")).unwrap();
    let inv = fs::read(data("outbound/edifact-INVOIC/invoic.jsonl")).unwrap();
    sb.drop_file("from-erp.jsonl", &[po.clone(), inv].concat());
    sb.once(0);
    let files = sb.files("outbox");
    assert!(
        files.contains(&"ACME/outbound/850-000000001.x12".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"ACME/outbound/INVOIC-000000002.edi".to_string()),
        "{files:?}"
    );
    // The partner's separators, and the document reads back to the record sent.
    let x12 = sb.path("outbox/ACME/outbound/850-000000001.x12");
    let text = fs::read_to_string(&x12).unwrap();
    assert!(
        text.starts_with("ISA|00|") && text.contains("|ZZ|BUYERCO"),
        "{text}"
    );
    let back = sb.stdout(&["translate", x12.to_str().unwrap()]);
    let back: serde_json::Value = serde_json::from_str(back.lines().next().unwrap()).unwrap();
    let sent: serde_json::Value =
        serde_json::from_slice(po.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(back["record"], sent["record"]);

    // A record the partner takes no document for holds the file, with the reason.
    let mut ship: serde_json::Value = serde_json::from_str(
        fs::read_to_string(data("outbound/x12-856/asn.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    ship["partner"] = serde_json::json!("ACME");
    sb.drop_file("asn.jsonl", format!("{ship}\n").as_bytes());
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("asn.jsonl") && list.contains("takes no ship_notice/v1 documents"),
        "{list}"
    );
}

#[test]
fn an_edifact_value_without_a_crosswalk_entry_holds_the_message_as_configuration() {
    let sb = Sandbox::with_config(&format!(
        "{}edifact_ids = [\"5412345000013:14\"]\n",
        crate::support::CONFIG
    ));
    write(
        &sb,
        "mappings/codes/uom.csv",
        "partner,value,mapped\nACME,EA,EACH\n",
    );
    let orders = fs::read(data("edifact/ok/orders-d96a-ack-requested.edi")).unwrap();
    sb.drop_file("orders.edi", &orders);
    sb.once(1);
    let list = sb.stdout(&["quarantine", "list", "--class", "configuration"]);
    assert!(
        list.contains("orders.edi") && list.contains("no uom crosswalk entry for \"PCE\""),
        "{list}"
    );
}
