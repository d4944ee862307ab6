//! Process orchestration against the sandbox: a route's ordered steps (look the supplier up
//! in SAP, post the order, hand it to a portal, answer the partner with an 855), each outcome
//! stored; a failed later step cancels what an earlier one created, an unknown supplier holds
//! the record before anything is created, and running again repeats nothing.

use crate::connectors::{order_or_asn, Erp, SECRETS};
use crate::support::{Sandbox, Target};
use edigate::sim::SimConfig;
use serde_json::Value;
use std::fs;

fn config(erp: u16, portal: &Target, mode: &str) -> String {
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
[partners.outbound]
x12_sender = "ZZ:BUYERCO"

[[partners]]
id = "GHOST"
x12_ids = ["ZZ:GHOSTSUPPL"]
[partners.erp_ids]
s4 = "99990001"
[partners.outbound]
x12_sender = "ZZ:BUYERCO"

[[targets]]
name = "s4"
type = "sap_s4hana"
base_url = "http://127.0.0.1:{erp}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["purchase_order/v1"]
values = {{ company_code = "1710", plant = "1710" }}
backoff_ms = 100
backoff_cap_seconds = 1
max_attempts = 3
timeout_seconds = 2

[[targets]]
name = "portal"
type = "http"
url = "http://127.0.0.1:{port}/records"
documents = ["purchase_order/v1"]
max_attempts = 3
backoff_ms = 100
backoff_cap_seconds = 1

[[targets]]
name = "legacy"
type = "legacy_files"
path = "legacy-import"
format = "csv"
documents = ["purchase_order/v1"]

[[routes]]
name = "orders"
partners = ["ACME", "GHOST"]
documents = ["purchase_order/v1"]
legacy = ["legacy"]
modern = ["s4", "portal"]
mode = "{mode}"
steps = [
  {{ name = "supplier", lookup = "supplier", target = "s4" }},
  {{ name = "post", deliver = "s4", compensate = "cancel" }},
  {{ name = "portal", deliver = "portal" }},
  {{ name = "confirm", respond = "x12:855" }},
]
"#,
        port = portal.port
    )
}

fn ghost_order(n: usize) -> Vec<u8> {
    String::from_utf8(order_or_asn(n, false))
        .unwrap()
        .replace("ACMESUPPLY", "GHOSTSUPPL")
        .into_bytes()
}

fn track(sb: &Sandbox, po: &str) -> Value {
    let out = sb.cmd(&["track", po, "--json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The process of the one record `track` finds for `po`: (state, [(step, kind, outcome)]).
fn process(sb: &Sandbox, po: &str) -> (String, Vec<(String, String, String)>) {
    let t = track(sb, po);
    let records = t["documents"].as_array().expect("documents");
    let p = records
        .iter()
        .find_map(|r| r.get("process").filter(|p| !p.is_null()))
        .unwrap_or_else(|| panic!("no process for {po}: {t:#}"));
    let steps = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (p["state"].as_str().unwrap().to_string(), steps)
}

fn steps(xs: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    xs.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// SAP's purchase orders: (the partner's PO number, deletion code).
fn sap_orders(erp: &Erp) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = erp.records()["sap_s4hana"]["A_PurchaseOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["CorrespncExternalReference"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                o["PurchasingDocumentDeletionCode"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn steps_run_in_order_a_failed_step_cancels_the_earlier_one_and_an_unknown_supplier_holds() {
    let erp = Erp::start(3599);
    let portal = Target::start(SimConfig {
        fail_rate: 0.0,
        seed: 3,
        slow_ms: 500,
        latency_ms: 0,
        reject_marker: Some("PO000002".into()),
    });
    let sb = Sandbox::with_config(&config(erp.port, &portal, "modern"));
    let check = sb.run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    sb.drop_file("po1.edi", &order_or_asn(1, false));
    sb.drop_file("po2.edi", &order_or_asn(2, false));
    sb.drop_file("po3.edi", &ghost_order(3));
    let run = sb.cmd(&["once"]).envs(SECRETS).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // 1: every step, in order; the 855 carries SAP's order number.
    let (state, done) = process(&sb, "PO000001");
    assert_eq!(state, "done");
    assert_eq!(
        done,
        steps(&[
            ("supplier", "lookup", "done"),
            ("post", "deliver", "done"),
            ("portal", "deliver", "done"),
            ("confirm", "respond", "done"),
        ])
    );
    let answers = sb.files("outbox/ACME/outbound");
    assert_eq!(answers.len(), 1, "{answers:?}");
    let ack =
        std::fs::read_to_string(sb.path(&format!("outbox/ACME/outbound/{}", answers[0]))).unwrap();
    let sap_po = erp.records()["sap_s4hana"]["A_PurchaseOrder"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["CorrespncExternalReference"] == "PO000001")
        .map(|o| o["PurchaseOrder"].as_str().unwrap().to_string())
        .unwrap();
    assert!(ack.contains("ST*855*"), "{ack}");
    assert!(
        ack.contains("BAK*00*AD*PO000001*20") && ack.contains(&format!("****{sap_po}~")),
        "{ack}"
    );

    // 2: the portal refused it, so the order SAP created is cancelled, and nobody answers.
    let (state, failed) = process(&sb, "PO000002");
    assert_eq!(state, "compensated");
    assert_eq!(
        failed,
        steps(&[
            ("supplier", "lookup", "done"),
            ("post", "deliver", "done"),
            ("post", "cancel", "done"),
            ("portal", "deliver", "failed"),
        ])
    );
    // 3: unknown supplier: held before anything is created.
    let (state, held) = process(&sb, "PO000003");
    assert_eq!(state, "held");
    assert_eq!(held, steps(&[("supplier", "lookup", "failed")]));
    assert_eq!(
        sap_orders(&erp),
        [
            ("PO000001".to_string(), String::new()),
            ("PO000002".to_string(), "L".to_string())
        ]
    );
    let stats = portal.stats();
    assert_eq!(stats["stored"].as_array().map(Vec::len), Some(1), "{stats}");
    assert_eq!(
        stats["posts"], 2,
        "the held order never reached the portal: {stats}"
    );
    // The legacy side is not a step and is not sent in mode modern.
    assert!(sb.files("legacy-import").is_empty());
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("route processes: 1 done, 1 compensated, 1 held"),
        "{status}"
    );
    let t = track(&sb, "PO000003");
    let reason = t["documents"][0]["process"]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(
        reason.contains("supplier 99990001 does not exist in s4"),
        "{t:#}"
    );

    // A cancel repeated (a crash between the call and its record) finds it done, and does
    // not fail the compensation.
    let secrets = |name: &str| {
        let v = SECRETS.iter().find(|(k, _)| *k == name).unwrap().1;
        fs::write(sb.path(name), v).unwrap();
        sb.path(name).display().to_string()
    };
    let direct = format!(
        "[[channels]]\nname = \"in\"\ntype = \"dir\"\npath = \"inbox\"\n[[targets]]\nname = \"s4\"\ntype = \"sap_s4hana\"\nbase_url = \"http://127.0.0.1:{}\"\nusername_file = \"{}\"\npassword_file = \"{}\"\ndocuments = [\"purchase_order/v1\"]\n",
        erp.port,
        secrets("S4_USER"),
        secrets("S4_PASSWORD")
    );
    let cfg = edigate::config::parse(&sb.path("direct.toml"), &direct).unwrap();
    let t = &cfg.targets[0];
    let cancelled = erp.records()["sap_s4hana"]["A_PurchaseOrder"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["CorrespncExternalReference"] == "PO000002")
        .map(|o| o["PurchaseOrder"].as_str().unwrap().to_string())
        .unwrap();
    let agent = edigate::delivery::agent(t);
    let again = edigate::targets::connector(t)
        .cancel(t, &agent, "purchase_order/v1", &cancelled, "2026-12-05")
        .unwrap_or_else(|r| panic!("{}", r.text()));
    assert!(again.contains("cancelled already"), "{again}");

    // Running again (and replaying everything) repeats no step and creates nothing twice.
    let again = sb.cmd(&["once"]).envs(SECRETS).output().unwrap();
    assert!(again.status.success());
    assert_eq!(sap_orders(&erp).len(), 2);
    assert_eq!(sb.files("outbox/ACME/outbound").len(), 1);
    assert_eq!(process(&sb, "PO000001").1.len(), 4);
}

#[test]
fn in_shadow_the_steps_run_on_the_modern_side_and_the_partner_is_never_answered() {
    let erp = Erp::start(3599);
    let portal = Target::start(SimConfig {
        fail_rate: 0.0,
        seed: 5,
        slow_ms: 500,
        latency_ms: 0,
        reject_marker: None,
    });
    let sb = Sandbox::with_config(&config(erp.port, &portal, "shadow"));
    sb.drop_file("po7.edi", &order_or_asn(7, false));
    let run = sb.cmd(&["once"]).envs(SECRETS).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (state, done) = process(&sb, "PO000007");
    assert_eq!(state, "done");
    assert_eq!(
        done,
        steps(&[
            ("supplier", "lookup", "done"),
            ("post", "deliver", "done"),
            ("portal", "deliver", "done"),
            ("confirm", "respond", "skipped"),
        ])
    );
    assert_eq!(sap_orders(&erp), [("PO000007".to_string(), String::new())]);
    assert_eq!(sb.files("legacy-import").len(), 1, "the legacy side flows");
    assert!(
        sb.files("outbox/ACME/outbound").is_empty(),
        "a shadow run never answers the partner"
    );
    let text = sb.stdout(&["track", "PO000007"]);
    assert!(text.contains("process of route orders: done"), "{text}");
    assert!(
        text.contains("4. confirm respond skipped: skipped: no step delivered the record to a live side under mode shadow"),
        "{text}"
    );
}
