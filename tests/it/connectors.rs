//! ERP connectors against the sandbox's simulators over loopback HTTP: every invoice created
//! exactly once in SAP S/4HANA and Dynamics 365 while every fault kind strikes 30% of the
//! changes, business rejections held with the system's own message, tokens and CSRF sessions
//! refreshed, lookups by business key used after ambiguous failures.

use crate::support::{data, wait_for, Sandbox};
use edigate::sandbox::{Accounts, Faults, FAULT_KINDS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The sandbox on a loopback port, served from a thread until dropped.
pub(crate) struct Erp {
    pub sb: Arc<edigate::sandbox::Sandbox>,
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Erp {
    pub fn start(token_seconds: u64) -> Erp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sb = edigate::sandbox::Sandbox::new(
            Accounts {
                token_seconds,
                ..Accounts::default()
            },
            7,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sb.clone(), stop.clone());
        std::thread::spawn(move || edigate::sandbox::serve(listener, s, st));
        Erp { sb, port, stop }
    }

    pub fn records(&self) -> Value {
        self.sb.records_json()
    }
}

impl Drop for Erp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The configuration contract of the issue, with a second partner unknown to both systems.
/// Every target retries quickly and often (faults strike 30% of the changes in the tests).
fn config(port: u16) -> String {
    let retry = "backoff_ms = 200\nbackoff_cap_seconds = 2\ntimeout_seconds = 1\nmax_attempts = 60\nbreaker_threshold = 50\nconcurrency = 4";
    format!(
        r#"
[service]
rescan_seconds = 1
settle_ms = 50

[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]
[partners.erp_ids]
s4 = "17300001"
d365 = "1001"
ora = "Acme Supply"

[[partners]]
id = "OTHER"
x12_ids = ["ZZ:OTHERCO"]
[partners.erp_ids]
s4 = "99999999"
d365 = "9999"
ora = "Unknown Supplier Inc"

[[targets]]
name = "s4"
type = "sap_s4hana"
base_url = "http://127.0.0.1:{port}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1"]
values = {{ company_code = "1710" }}
{retry}

[[targets]]
name = "coupa"
type = "coupa_cxml"
base_url = "http://127.0.0.1:{port}"
shared_secret_env = "COUPA_SECRET"
partners = ["ACME"]
documents = ["invoice/v1"]
values = {{ from = "DUNS:123456789", to = "NetworkID:COUPA" }}
{retry}

[[targets]]
name = "ora"
type = "oracle_fusion"
base_url = "http://127.0.0.1:{port}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1"]
values = {{ business_unit = "Vision Operations" }}
{retry}

[[targets]]
name = "d365"
type = "dynamics365"
base_url = "http://127.0.0.1:{port}"
token_url = "http://127.0.0.1:{port}/TENANT/oauth2/v2.0/token"
client_id_env = "D365_CLIENT_ID"
client_secret_env = "D365_CLIENT_SECRET"
documents = ["invoice/v1"]
values = {{ data_area = "usmf" }}
{retry}
"#
    )
}

pub(crate) const SECRETS: [(&str, &str); 5] = [
    ("COUPA_SECRET", "sandbox"),
    ("S4_USER", "edigate"),
    ("S4_PASSWORD", "sandbox"),
    ("D365_CLIENT_ID", "edigate"),
    ("D365_CLIENT_SECRET", "sandbox"),
];

/// Invoice `n` of the fixture, from ACME or (with `other`) from a partner neither ERP knows.
pub(crate) fn invoice(n: usize, other: bool) -> Vec<u8> {
    let text = std::fs::read_to_string(data("x12/ok/810-4010-invoice-with-charges.edi")).unwrap();
    let mut t = text
        .replace("INV-9001", &format!("INV-{n:05}"))
        .replace("000000910", &format!("{n:09}"))
        .replace("*142*X*", &format!("*{n}*X*"))
        .replace("GE*1*142~", &format!("GE*1*{n}~"));
    if other {
        t = t
            .replace("ACMESUPPLY     ", "OTHERCO        ")
            .replace("*ACMESUPPLY*", "*OTHERCO*");
    }
    t.into_bytes()
}

/// How often each value of `field` occurs among `items`.
fn counts(items: &Value, field: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in items.as_array().unwrap() {
        *m.entry(i[field].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn every_invoice_lands_once_in_every_erp_despite_every_fault_kind() {
    let erp = Erp::start(3);
    erp.sb.set_faults(Faults {
        rate: 0.3,
        kinds: FAULT_KINDS.iter().map(|k| k.to_string()).collect(),
        slow_ms: 1500,
    });
    let sb = Sandbox::with_config(&config(erp.port));
    let (good, bad) = (40, 3);
    for n in 1..=good {
        sb.drop_file(&format!("inv{n:03}.edi"), &invoice(n, false));
    }
    for n in 1..=bad {
        sb.drop_file(&format!("other{n}.edi"), &invoice(900 + n, true));
    }
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    let want = format!("delivered {good}, rejected {bad}, dead 0");
    let mut status = String::new();
    let settled = wait_for(240, || {
        status = sb.stdout(&["status"]);
        status.contains(&format!("s4               pending 0, {want}"))
            && status.contains(&format!("d365             pending 0, {want}"))
            && status.contains(&format!("ora              pending 0, {want}"))
            && status.contains(&format!(
                "coupa            pending 0, delivered {good}, rejected 0, dead 0"
            ))
    });
    crate::support::terminate(&mut child);
    assert!(settled, "{status}\n{}", sb.log());
    let rec = erp.records();
    assert!(rec["faults_injected"].as_u64().unwrap() >= 20, "{rec}");
    // SAP: one supplier invoice per invoice number, each with both PO-referenced items.
    let sap = &rec["sap_s4hana"]["A_SupplierInvoice"];
    let by_ref = counts(sap, "SupplierInvoiceIDByInvcgParty");
    assert_eq!(by_ref.len(), good, "{by_ref:?}");
    assert!(by_ref.values().all(|c| *c == 1), "{by_ref:?}");
    // D365: one header per invoice, and exactly its two lines.
    let heads = &rec["dynamics365"]["VendorInvoiceHeaders"];
    let by_number = counts(heads, "InvoiceNumber");
    assert_eq!(by_number.len(), good, "{by_number:?}");
    assert!(by_number.values().all(|c| *c == 1), "{by_number:?}");
    let lines = counts(&rec["dynamics365"]["VendorInvoiceLines"], "HeaderReference");
    assert_eq!(lines.len(), good, "{lines:?}");
    assert!(lines.values().all(|c| *c == 2), "{lines:?}");
    // Coupa: one invoice per invoice number (only ACME's go there).
    let coupa = counts(&rec["coupa"]["invoices"], "invoiceID");
    assert_eq!(coupa.len(), good, "{coupa:?}");
    assert!(coupa.values().all(|c| *c == 1), "{coupa:?}");
    // Oracle: one payables invoice per invoice number.
    let ora = counts(&rec["oracle_fusion"]["invoices"], "InvoiceNumber");
    assert_eq!(ora.len(), good, "{ora:?}");
    assert!(ora.values().all(|c| *c == 1), "{ora:?}");
    // The rejections carry each system's own message.
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("Supplier 99999999 is not defined in company code 1710"),
        "{list}"
    );
    assert!(
        list.contains("Vendor account 9999 does not exist"),
        "{list}"
    );
    assert!(
        list.contains(
            "SBX-SUPPLIER: The value of the attribute Supplier isn't valid: Unknown Supplier Inc."
        ),
        "{list}"
    );
    // The system's ids answer "where is invoice INV-00007?".
    let found = sb.stdout(&["find", "INV-00007"]);
    let sap_id = sap
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["SupplierInvoiceIDByInvcgParty"] == "INV-00007")
        .map(|i| {
            format!(
                "{}/{}",
                i["SupplierInvoice"].as_str().unwrap(),
                i["FiscalYear"].as_str().unwrap()
            )
        })
        .unwrap();
    assert!(found.contains(&format!("s4 = {sap_id}")), "{found}");
    assert!(found.contains("d365 = VI"), "{found}");
    assert!(found.contains("ora = 3001001870"), "{found}");
    // No secret reaches the log, the status or the database.
    let db = sb.state_bytes();
    for text in [sb.log().into_bytes(), status.into_bytes(), db] {
        let text = String::from_utf8_lossy(&text);
        assert!(!text.contains("sandbox:") && !text.contains("client_secret=sandbox"));
    }
}

#[test]
fn wrong_credentials_hold_deliveries_with_the_systems_answer_and_nothing_is_created() {
    let erp = Erp::start(3599);
    let sb = Sandbox::with_config(&config(erp.port));
    sb.drop_file("inv.edi", &invoice(1, false));
    let out = sb
        .cmd(&["once"])
        .envs([
            ("S4_USER", "edigate"),
            ("S4_PASSWORD", "wrong-password"),
            ("D365_CLIENT_ID", "edigate"),
            ("D365_CLIENT_SECRET", "wrong-secret"),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("wrong-password") && !log.contains("wrong-secret"),
        "{log}"
    );
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("d365             pending 0, delivered 0, rejected 1"),
        "{status}"
    );
    assert!(
        status.contains("s4               pending 0, delivered 0, rejected 1"),
        "{status}"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(list.contains("AADSTS7000215"), "{list}");
    let rec = erp.records();
    assert_eq!(
        rec["sap_s4hana"]["A_SupplierInvoice"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        rec["dynamics365"]["VendorInvoiceHeaders"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_legacy_import_folder_gets_one_csv_per_invoice_and_never_a_second() {
    let sb = Sandbox::with_config(&format!(
        "{}\n[[targets]]\nname = \"legacy\"\ntype = \"legacy_files\"\npath = \"legacy-import\"\nformat = \"csv\"\ndocuments = [\"invoice/v1\"]\n",
        crate::support::CONFIG
    ));
    for n in 1..=3 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    sb.once(0);
    let files = sb.files("legacy-import");
    assert_eq!(files.len(), 3, "{files:?}");
    let first = std::fs::read_to_string(sb.path("legacy-import").join(&files[0])).unwrap();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 3, "{first}");
    assert!(
        lines[0].starts_with("vendor,invoice_number,invoice_date"),
        "{first}"
    );
    assert!(lines[1].starts_with("ACME,INV-0000"), "{first}");
    assert!(lines[1].ends_with(",12,EA,10.50,126.00"), "{first}");
    // The legacy ERP takes its files away; replaying the archive publishes none again.
    for f in &files {
        std::fs::remove_file(sb.path("legacy-import").join(f)).unwrap();
    }
    assert!(sb.run(&["replay", "--partner", "ACME"]).status.success());
    sb.once(0);
    assert!(
        sb.files("legacy-import").is_empty(),
        "{:?}",
        sb.files("legacy-import")
    );
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("legacy           pending 0, delivered 3"),
        "{status}"
    );
}

/// Purchase order `n` (X12 850) or ship notice `n` (X12 856) of the fixtures.
pub(crate) fn order_or_asn(n: usize, asn: bool) -> Vec<u8> {
    let (file, control, group) = if asn {
        ("x12/ok/856-5010-order-pack-item.edi", "000000910", "259")
    } else {
        ("x12/ok/850-4010-acme.edi", "000000905", "905")
    };
    let text = std::fs::read_to_string(data(file)).unwrap();
    text.replace("SHP-20260520-1", &format!("SHP-{n:05}"))
        .replace("BEG*00*SA*4500001234", &format!("BEG*00*SA*PO{n:06}"))
        .replace(control, &format!("{n:09}"))
        .replace(&format!("*{group}*X*"), &format!("*{n}*X*"))
        .replace(&format!("GE*1*{group}~"), &format!("GE*1*{n}~"))
        .into_bytes()
}

#[test]
fn orders_and_ship_notices_become_purchase_orders_and_goods_receipts_once() {
    let erp = Erp::start(3599);
    erp.sb.set_faults(Faults {
        rate: 0.3,
        kinds: FAULT_KINDS.iter().map(|k| k.to_string()).collect(),
        slow_ms: 1500,
    });
    let cfg = config(erp.port).replace(
        "documents = [\"invoice/v1\"]\nvalues = { company_code = \"1710\" }",
        "documents = [\"purchase_order/v1\", \"ship_notice/v1\"]\nvalues = { company_code = \"1710\", plant = \"1710\" }",
    );
    let cfg = cfg.replace(
        "documents = [\"invoice/v1\"]\nvalues = { data_area = \"usmf\" }",
        "documents = [\"purchase_order/v1\"]\nvalues = { data_area = \"usmf\" }",
    );
    let cfg = cfg.replace(
        "documents = [\"invoice/v1\"]\nvalues = { business_unit = \"Vision Operations\" }",
        "documents = [\"ship_notice/v1\", \"purchase_order/v1\"]\nvalues = { business_unit = \"Vision Operations\", organization = \"M1\" }",
    );
    assert!(cfg.contains("ship_notice/v1"), "{cfg}");
    assert!(cfg.contains("documents = [\"purchase_order/v1\"]"), "{cfg}");
    let cfg = cfg.replace(
        "partners = [\"ACME\"]\ndocuments = [\"invoice/v1\"]",
        "partners = [\"ACME\"]\ndocuments = [\"ship_notice/v1\"]",
    );
    assert!(cfg.contains("organization = \"M1\""), "{cfg}");
    assert!(
        cfg.contains("partners = [\"ACME\"]\ndocuments = [\"ship_notice/v1\"]"),
        "{cfg}"
    );
    let sb = Sandbox::with_config(&cfg);
    let n = 15;
    for i in 1..=n {
        sb.drop_file(&format!("po{i:03}.edi"), &order_or_asn(i, false));
        sb.drop_file(&format!("asn{i:03}.edi"), &order_or_asn(100 + i, true));
    }
    // A ship notice with a line of nothing: Oracle accepts its receipt request, then fails it.
    let empty = String::from_utf8(order_or_asn(199, true))
        .unwrap()
        .replace("SN1**2*CS~", "SN1**0*CS~");
    sb.drop_file("asn199.edi", empty.as_bytes());
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    let mut status = String::new();
    let want = format!(
        "s4               pending 0, delivered {}, rejected 0, dead 0",
        2 * n + 1
    );
    let settled = wait_for(240, || {
        status = sb.stdout(&["status"]);
        status.contains(&want)
            && status.contains(&format!(
                "d365             pending 0, delivered {n}, rejected 0, dead 0"
            ))
            && status.contains(&format!(
                "ora              pending 0, delivered {}, rejected 1, dead 0",
                2 * n
            ))
            && status.contains(&format!(
                "coupa            pending 0, delivered {}, rejected 0, dead 0",
                n + 1
            ))
    });
    crate::support::terminate(&mut child);
    assert!(settled, "{status}\n{}", sb.log());
    let rec = erp.records();
    let orders = counts(
        &rec["sap_s4hana"]["A_PurchaseOrder"],
        "CorrespncExternalReference",
    );
    assert_eq!(orders.len(), n, "{orders:?}");
    assert!(orders.values().all(|c| *c == 1), "{orders:?}");
    let receipts = counts(
        &rec["sap_s4hana"]["A_MaterialDocumentHeader"],
        "ReferenceDocument",
    );
    assert_eq!(receipts.len(), n + 1, "{receipts:?}");
    let oracle = counts(
        &rec["oracle_fusion"]["receivingReceiptRequests"],
        "ShipmentNumber",
    );
    assert_eq!(oracle.len(), n + 1, "{oracle:?}");
    assert!(oracle.values().all(|c| *c == 1), "{oracle:?}");
    // Oracle: one draft per order, each submitted (OPEN).
    let drafts = &rec["oracle_fusion"]["draftPurchaseOrders"];
    let by_description = counts(drafts, "Description");
    assert_eq!(by_description.len(), n, "{by_description:?}");
    assert!(
        by_description.values().all(|c| *c == 1),
        "{by_description:?}"
    );
    assert!(
        drafts
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["Status"] == "OPEN"),
        "{drafts}"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(
        list.contains("was accepted but failed in processing: RCV_SBX_QUANTITY: Line 2: the quantity must be greater than zero."),
        "{list}"
    );
    assert!(receipts.values().all(|c| *c == 1), "{receipts:?}");
    let heads = counts(
        &rec["dynamics365"]["PurchaseOrderHeadersV2"],
        "VendorOrderReference",
    );
    assert_eq!(heads.len(), n, "{heads:?}");
    assert!(heads.values().all(|c| *c == 1), "{heads:?}");
    let lines = counts(
        &rec["dynamics365"]["PurchaseOrderLinesV2"],
        "PurchaseOrderNumber",
    );
    assert_eq!(lines.len(), n, "{lines:?}");
    let per_order = std::fs::read_to_string(data("x12/ok/850-4010-acme.edi"))
        .unwrap()
        .matches("PO1*")
        .count();
    assert!(lines.values().all(|c| *c == per_order), "{lines:?}");
    let asns = counts(&rec["coupa"]["ship_notices"], "shipmentID");
    assert_eq!(asns.len(), n + 1, "{asns:?}");
    assert!(asns.values().all(|c| *c == 1), "{asns:?}");
    let found = sb.stdout(&["find", "SHP-00103"]);
    assert!(found.contains("s4 = 50000"), "{found}");
}

#[test]
fn check_names_documents_a_system_target_has_no_payload_mapping_for() {
    let sb = Sandbox::with_config(&format!(
        "{}\n[[targets]]\nname = \"s4\"\ntype = \"sap_s4hana\"\nbase_url = \"http://127.0.0.1:9\"\ndocuments = [\"payment_status/v1\"]\n\n[[targets]]\nname = \"legacy\"\ntype = \"legacy_files\"\npath = \"legacy-import\"\n",
        crate::support::CONFIG
    ));
    let out = sb.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("target \"s4\": no payload mapping targets/sap_s4hana/payment_status.jq"),
        "{err}"
    );
    assert!(
        err.contains("shipped: invoice, purchase_order, ship_notice"),
        "{err}"
    );
    assert!(
        err.contains("target \"legacy\": list the documents it takes"),
        "{err}"
    );
}

#[test]
fn a_partners_own_payload_mapping_replaces_the_shipped_one_without_a_rebuild() {
    let erp = Erp::start(3599);
    let sb = Sandbox::with_config(
        &config(erp.port).replace("[service]\n", "[service]\nmappings = \"mappings\"\n"),
    );
    let own = sb.path("mappings/partners/ACME/targets/sap_s4hana");
    std::fs::create_dir_all(&own).unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings/targets/sap_s4hana/invoice.jq"),
    )
    .unwrap();
    std::fs::write(
        own.join("invoice.jq"),
        shipped.replace("($t.values.document_type // \"RE\")", "\"KR\""),
    )
    .unwrap();
    assert!(sb.run(&["check"]).status.success());
    sb.drop_file("inv.edi", &invoice(1, false));
    let out = sb.cmd(&["once"]).envs(SECRETS).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sap = &erp.records()["sap_s4hana"]["A_SupplierInvoice"];
    assert_eq!(sap[0]["AccountingDocumentType"], "KR", "{sap}");
}

#[test]
fn the_legacy_side_can_take_fixed_width_files_or_the_original_edi_once_per_file() {
    let sb = Sandbox::with_config(&format!(
        "{}\n[[targets]]\nname = \"fixed\"\ntype = \"legacy_files\"\npath = \"fixed-import\"\nformat = \"fixed\"\ndocuments = [\"invoice/v1\"]\n\n[[targets]]\nname = \"edi\"\ntype = \"legacy_files\"\npath = \"edi-import\"\nformat = \"edi\"\ndocuments = [\"invoice/v1\", \"purchase_order/v1\"]\n",
        crate::support::CONFIG
    ));
    assert!(sb.run(&["check"]).status.success());
    sb.drop_file("inv.edi", &invoice(1, false));
    // Two purchase orders in one interchange: two records, one file passed through.
    let po = std::fs::read_to_string(data("x12/ok/850-5010-ta1-requested.edi")).unwrap();
    sb.drop_file("two.edi", po.as_bytes());
    sb.once(0);
    let fixed = sb.files("fixed-import");
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    let text = std::fs::read_to_string(sb.path("fixed-import").join(&fixed[0])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().all(|l| l.chars().count() == 156), "{text}");
    assert!(lines[0].starts_with("ACME      INV-00001"), "{text}");
    let edi = sb.files("edi-import");
    assert_eq!(edi.len(), 2, "{edi:?}");
    let mut got: Vec<Vec<u8>> = edi
        .iter()
        .map(|f| std::fs::read(sb.path("edi-import").join(f)).unwrap())
        .collect();
    got.sort();
    let mut want = vec![invoice(1, false), po.into_bytes()];
    want.sort();
    assert_eq!(got, want);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("edi              pending 0, delivered 3"),
        "{status}"
    );
}

#[test]
fn a_receipt_request_stored_by_a_timed_out_attempt_is_found_and_its_processing_errors_reported() {
    let erp = Erp::start(3599);
    // Every change is stored, then answered after the client gave up.
    erp.sb.set_faults(Faults {
        rate: 1.0,
        kinds: vec!["timeout".into()],
        slow_ms: 1500,
    });
    let cfg = config(erp.port).replace(
        "documents = [\"invoice/v1\"]\nvalues = { business_unit = \"Vision Operations\" }",
        "documents = [\"ship_notice/v1\"]\nvalues = { business_unit = \"Vision Operations\", organization = \"M1\" }",
    );
    assert!(cfg.contains("organization = \"M1\""), "{cfg}");
    let sb = Sandbox::with_config(&cfg);
    let empty = String::from_utf8(order_or_asn(7, true))
        .unwrap()
        .replace("SN1**2*CS~", "SN1**0*CS~");
    sb.drop_file("asn.edi", empty.as_bytes());
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    let mut status = String::new();
    let settled = wait_for(60, || {
        status = sb.stdout(&["status"]);
        status.contains("ora              pending 0, delivered 0, rejected 1, dead 0")
    });
    crate::support::terminate(&mut child);
    assert!(settled, "{status}\n{}", sb.log());
    let rec = erp.records();
    assert_eq!(
        rec["oracle_fusion"]["receivingReceiptRequests"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{rec}"
    );
    let list = sb.stdout(&["quarantine", "list"]);
    assert!(list.contains("RCV_SBX_QUANTITY"), "{list}");
}

#[test]
fn sap_takes_oauth2_client_credentials_instead_of_a_communication_user() {
    let erp = Erp::start(2);
    erp.sb.set_faults(Faults {
        rate: 0.3,
        kinds: vec!["token_expiry".into(), "500".into(), "csrf_expiry".into()],
        slow_ms: 1500,
    });
    let cfg = config(erp.port).replace(
        "username_env = \"S4_USER\"\npassword_env = \"S4_PASSWORD\"\ndocuments = [\"invoice/v1\"]\nvalues = { company_code = \"1710\" }",
        &format!("token_url = \"http://127.0.0.1:{}/TENANT/oauth2/v2.0/token\"\nclient_id_env = \"D365_CLIENT_ID\"\nclient_secret_env = \"D365_CLIENT_SECRET\"\ndocuments = [\"invoice/v1\"]\nvalues = {{ company_code = \"1710\" }}", erp.port),
    );
    assert!(cfg.contains("token_url = \"http://127.0.0.1"), "{cfg}");
    let sb = Sandbox::with_config(&cfg);
    for n in 1..=10 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    let mut status = String::new();
    let settled = wait_for(120, || {
        status = sb.stdout(&["status"]);
        status.contains("s4               pending 0, delivered 10, rejected 0, dead 0")
    });
    crate::support::terminate(&mut child);
    assert!(settled, "{status}\n{}", sb.log());
    let by_ref = counts(
        &erp.records()["sap_s4hana"]["A_SupplierInvoice"],
        "SupplierInvoiceIDByInvcgParty",
    );
    assert_eq!(by_ref.len(), 10, "{by_ref:?}");
    assert!(by_ref.values().all(|c| *c == 1), "{by_ref:?}");
}
