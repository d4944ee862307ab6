//! Phased migration against the sandbox: each mode and each transition (with `once`, with a
//! running service that re-reads its configuration, and with a SIGKILL during a change), a
//! shadow side that fails every time, and reconciliation of planted differences.

use crate::connectors::{invoice, Erp, SECRETS};
use crate::support::{terminate, wait_for, Sandbox};
use serde_json::Value;

/// The issue's configuration contract, with the modern target and a second partner that no
/// route covers.
fn config(port: u16, mode: &str, extra: &str) -> String {
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

[[partners]]
id = "OTHER"
x12_ids = ["ZZ:OTHERCO"]

[[targets]]
name = "legacy"
type = "legacy_files"
path = "legacy-import"
format = "csv"
documents = ["invoice/v1"]

[[targets]]
name = "s4"
type = "sap_s4hana"
base_url = "http://127.0.0.1:{port}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1"]
values = {{ company_code = "1710" }}
backoff_ms = 100
backoff_cap_seconds = 1
max_attempts = 3
timeout_seconds = 2
breaker_threshold = 100

[[routes]]
name = "acme-invoices"
partners = ["ACME"]
documents = ["invoice/v1"]
legacy = ["legacy"]
modern = ["s4"]
mode = "{mode}"
{extra}
"#
    )
}

/// Invoice numbers the legacy import folder holds (from the CSV files written there).
fn legacy_invoices(sb: &Sandbox) -> Vec<String> {
    let mut out = Vec::new();
    for f in sb.written("legacy-import") {
        let text = std::fs::read_to_string(sb.path(&format!("legacy-import/{f}"))).unwrap();
        for line in text.lines().skip(1) {
            let number = line.split(',').nth(1).unwrap_or("").to_string();
            if !out.contains(&number) {
                out.push(number);
            }
        }
    }
    out.sort();
    out
}

/// Invoice numbers SAP holds, each once (a second copy fails the test).
fn sap_invoices(erp: &Erp) -> Vec<String> {
    let rec = erp.records();
    let mut out: Vec<String> = rec["sap_s4hana"]["A_SupplierInvoice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["SupplierInvoiceIDByInvcgParty"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    out.sort();
    let mut unique = out.clone();
    unique.dedup();
    assert_eq!(unique, out, "an invoice was created twice in SAP");
    out
}

fn once(sb: &Sandbox) -> std::process::Output {
    sb.cmd(&["once"]).envs(SECRETS).output().unwrap()
}

fn reconcile(sb: &Sandbox, extra: &[&str]) -> Value {
    let mut args = vec!["reconcile", "--format", "json"];
    args.extend_from_slice(extra);
    let out = sb.cmd(&args).envs(SECRETS).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The document of a reconcile report with this business key.
fn document(r: &Value, key: &str) -> Value {
    r["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == key)
        .unwrap_or_else(|| panic!("no document {key}: {r:#}"))
        .clone()
}

fn names(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_mode_sends_to_its_sides_and_no_change_sends_again() {
    let erp = Erp::start(3599);
    let sb = Sandbox::with_config(&config(erp.port, "legacy", ""));
    let step = |n: usize, mode: &str| {
        sb.write_config(&config(erp.port, mode, ""));
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
        let out = once(&sb);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    step(1, "legacy");
    // A partner no route covers still reaches the legacy system, and never the modern one.
    sb.drop_file("other.edi", &invoice(99, true));
    assert_eq!(once(&sb).status.code(), Some(0));
    assert_eq!(legacy_invoices(&sb), names(&["INV-00001", "INV-00099"]));
    assert!(sap_invoices(&erp).is_empty());
    step(2, "shadow");
    assert_eq!(sap_invoices(&erp), names(&["INV-00002"]));
    step(3, "dual");
    step(4, "modern");
    step(5, "legacy");
    assert_eq!(
        legacy_invoices(&sb),
        names(&[
            "INV-00001",
            "INV-00002",
            "INV-00003",
            "INV-00005",
            "INV-00099"
        ])
    );
    assert_eq!(
        sap_invoices(&erp),
        names(&["INV-00002", "INV-00003", "INV-00004"])
    );
    // Replaying every file under today's mode sends nothing again: each record keeps the
    // mode it was first routed under.
    let out = sb.run(&["replay", "--partner", "ACME"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(once(&sb).status.code(), Some(0));
    assert_eq!(
        sap_invoices(&erp),
        names(&["INV-00002", "INV-00003", "INV-00004"])
    );
    assert_eq!(legacy_invoices(&sb).len(), 5);
    // The audit trail has every change, oldest first.
    let routes = sb.stdout(&["routes"]);
    let changes: Vec<&str> = routes.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(changes.len(), 5, "{routes}");
    for (line, want) in changes.iter().zip([
        "(new) -> legacy",
        "legacy -> shadow",
        "shadow -> dual",
        "dual -> modern",
        "modern -> legacy",
    ]) {
        assert!(line.contains(want) && line.contains("by os:"), "{routes}");
    }
    // Reconcile: what went under legacy and after the rollback is legacy-only, under modern
    // modern-only, and the shadow and dual ones are matched against what SAP holds.
    let r = reconcile(&sb, &["--route", "acme-invoices"]);
    let summary = &r["summary"];
    let mut keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "different",
            "legacy_only",
            "matched",
            "modern_only",
            "pending",
            "rejected_legacy",
            "rejected_modern",
        ]
    );
    assert_eq!(summary["matched"], 2, "{r:#}");
    assert_eq!(summary["legacy_only"], 2, "{r:#}");
    assert_eq!(summary["modern_only"], 1, "{r:#}");
    assert_eq!(summary["different"], 0, "{r:#}");
    let shadow = &document(&r, "INV-00002");
    assert_eq!(shadow["mode"], "shadow");
    assert_eq!(shadow["modern"]["source"], "read back", "{shadow:#}");
    assert!(shadow["modern"]["id"]
        .as_str()
        .unwrap()
        .starts_with("51056"));
    assert!(r["totals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["side"] == "modern" && t["currency"] == "USD" && t["documents"] == 3));
}

#[test]
fn reconcile_reports_planted_differences_and_a_rejection_on_one_side() {
    let erp = Erp::start(3599);
    let rule = "ignore = [{ name = \"sap-rounding\", fields = [\"total\"], tolerance = \"0.01\" }]";
    let sb = Sandbox::with_config(&config(erp.port, "dual", rule));
    for n in 1..=4 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    // An invoice number longer than SAP's 16 characters: SAP refuses it, legacy takes it.
    let long = String::from_utf8(invoice(5, false))
        .unwrap()
        .replace("INV-00005", "INV-2026-0000000005");
    sb.drop_file("inv5.edi", long.as_bytes());
    assert_eq!(once(&sb).status.code(), Some(0));
    let alter = |number: &str, body: &str| {
        let v: Value = serde_json::from_str(body).unwrap();
        let mut v = v;
        v["where"] = serde_json::json!({"SupplierInvoiceIDByInvcgParty": number});
        assert_eq!(erp.sb.alter_sap(&v), 1);
    };
    // Planted: an amount changed beyond the tolerance, a line dropped, and a rounding
    // difference the named rule explains.
    alter(
        "INV-00002",
        r#"{"fields": {"InvoiceGrossAmount": "999.00"}}"#,
    );
    alter("INV-00003", r#"{"drop_item": true}"#);
    let r = reconcile(&sb, &[]);
    assert_eq!(document(&r, "INV-00004")["legacy"]["state"], "delivered");
    let amount_of = |key: &str| -> String {
        erp.records()["sap_s4hana"]["A_SupplierInvoice"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["SupplierInvoiceIDByInvcgParty"] == key)
            .unwrap()["InvoiceGrossAmount"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // One cent more, exactly (the amount has at most two decimals).
    let a4 = amount_of("INV-00004");
    let (int, frac) = a4.split_once('.').unwrap_or((&a4, ""));
    let cents: i64 = format!("{int}{frac:0<2}").parse::<i64>().unwrap() + 1;
    let nudged = format!("{}.{:02}", cents / 100, cents % 100);
    alter(
        "INV-00004",
        &format!(r#"{{"fields": {{"InvoiceGrossAmount": "{nudged}"}}}}"#),
    );
    let r = reconcile(&sb, &[]);
    let s = &r["summary"];
    assert_eq!(
        (
            s["matched"].as_u64(),
            s["different"].as_u64(),
            s["rejected_modern"].as_u64()
        ),
        (Some(2), Some(2), Some(1)),
        "{r:#}"
    );
    let doc = |key: &str| document(&r, key);
    let fields = |d: &Value, what: &str| -> Vec<String> {
        d[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect()
    };
    let d2 = doc("INV-00002");
    assert_eq!(fields(&d2, "differences"), ["total"], "{d2:#}");
    assert_eq!(d2["differences"][0]["modern"], "999");
    let d3 = doc("INV-00003");
    assert_eq!(d3["status"], "different");
    let f3 = fields(&d3, "differences");
    assert!(
        f3.contains(&"lines".to_string()) && f3.iter().any(|f| f.starts_with("line.2.")),
        "{d3:#}"
    );
    let d4 = doc("INV-00004");
    assert_eq!(d4["status"], "matched");
    assert_eq!(d4["ignored"][0]["rule"], "sap-rounding", "{d4:#}");
    let d5 = doc("INV-2026-0000000005");
    assert_eq!(d5["status"], "rejected_modern");
    // Each side's totals count what it holds: the rejected invoice is not in SAP's.
    let documents_on = |side: &str| -> u64 {
        r["totals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["side"] == side)
            .map(|t| t["documents"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (documents_on("legacy"), documents_on("modern")),
        (5, 4),
        "{r:#}"
    );
    assert!(d5["modern"]["targets"][0][3]
        .as_str()
        .unwrap()
        .contains("longer than 16 characters"));
    // The table and CSV forms say the same; the exit code flags the differences.
    let out = sb.cmd(&["reconcile"]).envs(SECRETS).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("total: legacy ") && table.contains("| modern 999"),
        "{table}"
    );
    assert!(table.contains("(ignored: sap-rounding)"), "{table}");
    let out = sb
        .cmd(&["reconcile", "--format", "csv", "--partner", "ACME"])
        .envs(SECRETS)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("INV-00003") && l.contains(",different,")),
        "{csv}"
    );
    // The latest counts are kept for `edigate routes`.
    assert!(sb.stdout(&["routes"]).contains("last reconcile"));
}

#[test]
fn a_shadow_side_that_fails_every_time_leaves_the_legacy_side_flowing() {
    let erp = Erp::start(3599);
    erp.sb.set_faults(edigate::sandbox::Faults {
        rate: 1.0,
        kinds: vec!["500".into()],
        slow_ms: 0,
    });
    let sb = Sandbox::with_config(&config(erp.port, "shadow", ""));
    for n in 1..=8 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    let mut status = String::new();
    let done = wait_for(60, || {
        status = sb.stdout(&["status"]);
        legacy_invoices(&sb).len() == 8
            && status.contains("s4               pending 0, delivered 0, rejected 0, dead 8")
    });
    terminate(&mut child);
    assert!(done, "{status}\n{}", sb.log());
    assert!(sap_invoices(&erp).is_empty());
    // One 997 per interchange, whatever the shadow side did.
    let acks: Vec<String> = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("/acks/997-"))
        .collect();
    assert_eq!(acks.len(), 8, "{acks:?}");
    let r = reconcile(&sb, &[]);
    assert_eq!(r["summary"]["rejected_modern"], 8, "{r:#}");
    assert_eq!(r["gates"][0]["clean_shadow_days"], 0);
    assert_eq!(r["gates"][0]["shadow_days"], 1);
}

#[test]
fn a_running_service_applies_a_mode_change_refuses_a_bad_one_and_survives_a_kill_midway() {
    let erp = Erp::start(3599);
    let sb = Sandbox::with_config(&config(erp.port, "legacy", ""));
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    sb.drop_file("inv1.edi", &invoice(1, false));
    assert!(
        wait_for(30, || legacy_invoices(&sb).len() == 1),
        "{}",
        sb.log()
    );
    // A broken edit is refused; the mode in force stays, and status says why.
    sb.write_config(&config(erp.port, "sideways", ""));
    assert!(
        wait_for(30, || sb
            .log()
            .contains("the changed configuration is refused")),
        "{}",
        sb.log()
    );
    assert!(
        sb.log().contains("unknown variant `sideways`"),
        "{}",
        sb.log()
    );
    // Status still answers, from the configuration in force, and says the file is refused.
    let out = sb.run(&["status"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("the configuration file is refused")
            && stderr.contains("unknown variant `sideways`"),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("(configuration)")
                && l.contains("changed configuration refused")),
        "{stdout}"
    );
    sb.drop_file("inv2.edi", &invoice(2, false));
    assert!(wait_for(30, || legacy_invoices(&sb).len() == 2));
    assert!(sap_invoices(&erp).is_empty());
    // The one-line change to shadow is applied without a restart.
    sb.write_config(&config(erp.port, "shadow", ""));
    assert!(
        wait_for(30, || sb.stdout(&["routes"]).contains("legacy -> shadow")),
        "{}",
        sb.log()
    );
    let status = sb.stdout(&["status"]);
    assert!(
        status
            .lines()
            .any(|l| l.trim_start().starts_with("(configuration)") && l.contains(" ok")),
        "{status}"
    );
    sb.drop_file("inv3.edi", &invoice(3, false));
    assert!(
        wait_for(30, || sap_invoices(&erp) == names(&["INV-00003"])),
        "{}",
        sb.log()
    );
    // A change to dual, and the service killed at once (as a rule before its file watch saw
    // it): whichever start applies it records it once.
    let changes_now = |sb: &Sandbox| {
        sb.stdout(&["routes"])
            .lines()
            .filter(|l| l.contains(" -> "))
            .count()
    };
    assert_eq!(changes_now(&sb), 2);
    sb.write_config(&config(erp.port, "dual", ""));
    let _ = child.kill();
    let _ = child.wait();
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    sb.drop_file("inv4.edi", &invoice(4, false));
    assert!(
        wait_for(30, || sap_invoices(&erp)
            == names(&["INV-00003", "INV-00004"])
            && legacy_invoices(&sb).len() == 4),
        "{}",
        sb.log()
    );
    // A change to modern, and the service killed once the change is recorded: the next start
    // finds it in force and records nothing again.
    sb.write_config(&config(erp.port, "modern", ""));
    assert!(
        wait_for(30, || sb.stdout(&["routes"]).contains("dual -> modern")),
        "{}",
        sb.log()
    );
    let _ = child.kill();
    let _ = child.wait();
    let mut child = sb.spawn_with(&["run"], &SECRETS);
    sb.drop_file("inv5.edi", &invoice(5, false));
    assert!(
        wait_for(30, || sap_invoices(&erp)
            == names(&["INV-00003", "INV-00004", "INV-00005"])),
        "{}",
        sb.log()
    );
    terminate(&mut child);
    assert_eq!(
        legacy_invoices(&sb).len(),
        4,
        "modern sends nothing to legacy"
    );
    let routes = sb.stdout(&["routes"]);
    let changes: Vec<&str> = routes.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(
        changes.len(),
        4,
        "one row per change, none lost or doubled: {routes}"
    );
    assert!(changes[2].contains("shadow -> dual"), "{routes}");
    assert!(changes[3].contains("dual -> modern"), "{routes}");
    let r = reconcile(&sb, &[]);
    let mut modes: Vec<(String, String)> = r["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap().into(),
                d["mode"].as_str().unwrap().into(),
            )
        })
        .collect();
    modes.sort();
    assert_eq!(
        modes,
        [
            ("INV-00001".into(), "legacy".into()),
            ("INV-00002".into(), "legacy".into()),
            ("INV-00003".into(), "shadow".into()),
            ("INV-00004".into(), "dual".into()),
            ("INV-00005".into(), "modern".into())
        ]
    );
}

#[test]
fn a_live_rejection_travels_back_to_the_partner_once_and_a_shadow_one_never() {
    let erp = Erp::start(3599);
    let asking = |mode: &str| {
        config(erp.port, mode, "").replace(
            "[partners.erp_ids]",
            "advise_rejections = true\nedifact_ids = [\"5412345000013:14\"]\n[partners.erp_ids]",
        )
    };
    let sb = Sandbox::with_config(&asking("dual"));
    // Invoice numbers longer than SAP's 16 characters: SAP refuses them, legacy takes them.
    let long = |n: usize| {
        String::from_utf8(invoice(n, false))
            .unwrap()
            .replace(&format!("INV-{n:05}"), &format!("INV-2026-00000000{n:02}"))
    };
    sb.drop_file("inv1.edi", long(1).as_bytes());
    let edifact =
        std::fs::read_to_string(crate::support::data("edifact/ok/invoic-d96a-with-tax.edi"))
            .unwrap()
            .replace("INV-2026-0042", "INV-2026-0000000042");
    sb.drop_file("invoic.edi", edifact.as_bytes());
    assert_eq!(once(&sb).status.code(), Some(0), "{}", sb.log());
    let advices = |sb: &Sandbox| -> Vec<String> {
        sb.files("outbox")
            .into_iter()
            .filter(|f| f.contains("/acks/824-") || f.contains("/acks/APERAK-"))
            .collect()
    };
    let found = advices(&sb);
    assert_eq!(found.len(), 2, "{found:?}\n{}", sb.log());
    let x12 = found.iter().find(|f| f.contains("824-")).unwrap();
    let text = std::fs::read_to_string(sb.path(&format!("outbox/{x12}"))).unwrap();
    assert!(text.contains("ST*824*0001"), "{text}");
    assert!(text.contains("OTI*TR*IV*INV-2026-0000000001*"), "{text}");
    assert!(
        text.contains("*810~"),
        "OTI10 names the rejected set: {text}"
    );
    assert!(
        text.contains("TED*848*s4 - HTTP 400")
            && text.contains("NTE*ERN*")
            && text.contains("16 characters"),
        "{text}"
    );
    // The APERAK reads back, through edigate's own inbound mapping, as the rejection of
    // message 1 with SAP's words.
    let aperak = found.iter().find(|f| f.contains("APERAK-")).unwrap();
    let out = sb
        .cmd(&[
            "translate",
            &sb.path(&format!("outbox/{aperak}")).to_string_lossy(),
        ])
        .output()
        .unwrap();
    let ack: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(ack["schema"], "functional_ack/v1", "{ack:#}");
    assert_eq!(ack["record"]["status"], "rejected", "{ack:#}");
    assert_eq!(ack["record"]["transaction_control"], "1", "{ack:#}");
    assert!(
        ack["record"]["errors"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("16 characters"),
        "{ack:#}"
    );
    // Passes again write nothing new; a shadow rejection is recorded, never told.
    sb.write_config(&asking("shadow"));
    sb.drop_file("inv2.edi", long(2).as_bytes());
    assert_eq!(once(&sb).status.code(), Some(0));
    assert_eq!(once(&sb).status.code(), Some(0));
    assert_eq!(advices(&sb), found);
    let r = reconcile(&sb, &[]);
    assert_eq!(r["summary"]["rejected_modern"], 3, "{r:#}");
    assert_eq!(legacy_invoices(&sb).len(), 3);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("rejection advice to partners: sent 2"),
        "{status}"
    );
}

/// The fenced blocks of a Markdown text: (language, body).
fn fenced(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Whether `line` matches `want`, where `…` in `want` stands for any text.
fn matches(want: &str, line: &str) -> bool {
    let parts: Vec<&str> = want.split('…').collect();
    let Some(rest) = line.strip_prefix(parts[0]) else {
        return false;
    };
    let mut rest = rest;
    for (i, p) in parts.iter().enumerate().skip(1) {
        if i == parts.len() - 1 {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[test]
fn the_walk_through_in_docs_migration_md_runs_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/MIGRATION.md")).unwrap();
    let blocks = fenced(&doc);
    // Each sh block, with the text block that follows it (its expected output), if any.
    let mut steps: Vec<(String, Option<String>)> = Vec::new();
    for (lang, body) in blocks {
        match lang.as_str() {
            "sh" => steps.push((body, None)),
            "text" => steps.last_mut().expect("output before any command").1 = Some(body),
            _ => {}
        }
    }
    assert!(steps.len() >= 8, "the walk-through lost its steps");
    let mut script =
        String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    for (i, (body, _)) in steps.iter().enumerate() {
        script.push_str(&format!("echo '@@@ step {i}'\n{body}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::path::PathBuf::from(crate::support::bin());
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SRC", root)
        .env("PORT", port.to_string())
        .env_remove("EDIGATE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walk-through failed:\n{stdout}\n{stderr}"
    );
    let mut printed: Vec<Vec<&str>> = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("@@@ step ") {
            printed.push(Vec::new());
        } else if let Some(p) = printed.last_mut() {
            p.push(line);
        }
    }
    assert_eq!(printed.len(), steps.len(), "{stdout}");
    for (i, (body, want)) in steps.iter().enumerate() {
        let Some(want) = want else { continue };
        let mut lines = printed[i].iter();
        for w in want.lines() {
            assert!(
                lines.any(|l| matches(w, l)),
                "step {i}:\n{body}\ndid not print {w:?} (in order); it printed:\n{}",
                printed[i].join("\n")
            );
        }
    }
}

#[test]
fn an_order_is_tracked_across_its_documents_in_whatever_order_they_arrive() {
    let sb = Sandbox::with_config(
        r#"
[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]

[[targets]]
name = "legacy"
type = "legacy_files"
path = "legacy-import"
format = "csv"
documents = ["invoice/v1", "purchase_order/v1"]
"#,
    );
    // Each fixture with its own interchange control number (several share one): the set's
    // number.
    let fixture = |name: &str| {
        let text =
            std::fs::read_to_string(crate::support::data(&format!("x12/ok/{name}"))).unwrap();
        text.replace("000000910", &format!("000000{}", &name[..3]))
            .into_bytes()
    };
    let track = |value: &str| -> Value {
        let out = sb.run(&["track", value, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let milestones = |t: &Value| -> Vec<String> {
        t["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["milestone"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    // The invoice comes first: it is kept, linked to its order, which awaits the rest.
    sb.drop_file("810.edi", &fixture("810-4010-invoice-with-charges.edi"));
    assert_eq!(sb.once(0).status.code(), Some(0));
    let t = track("4500001234");
    assert_eq!(t["status"], "invoiced", "{t:#}");
    assert_eq!(t["awaiting"], serde_json::json!(["ordered", "shipped"]));
    assert_eq!(t["systems"][0]["status"], "invoiced", "{t:#}");
    // The payment (linked through the invoice number), then the ship notice, the order and
    // its acknowledgement, in that order.
    for name in [
        "820-4010-remittance.edi",
        "856-5010-order-pack-item.edi",
        "850-4010-acme.edi",
        "855-4010-ack-with-changes.edi",
    ] {
        sb.drop_file(name, &fixture(name));
        assert_eq!(sb.once(0).status.code(), Some(0));
    }
    let t = track("4500001234");
    assert_eq!(t["status"], "paid", "{t:#}");
    assert_eq!(t["awaiting"], serde_json::json!([]));
    assert_eq!(
        milestones(&t),
        ["ordered", "acknowledged", "shipped", "invoiced", "paid"]
    );
    // The same order from any of its keys.
    assert_eq!(milestones(&track("INV-9001")), milestones(&t));
    assert_eq!(milestones(&track("SHP-20260520-1")), milestones(&t));
    // Updates are idempotent: replaying every file links nothing twice.
    assert_eq!(
        sb.run(&["replay", "--partner", "ACME"]).status.code(),
        Some(0)
    );
    assert_eq!(sb.once(0).status.code(), Some(0));
    assert_eq!(milestones(&track("4500001234")), milestones(&t));
    let text = sb.stdout(&["track", "4500001234"]);
    assert!(text.starts_with("4500001234: paid ("), "{text}");
    assert!(text.contains("-> legacy delivered"), "{text}");
    assert!(text.contains("system legacy: invoiced"), "{text}");
    assert_eq!(sb.run(&["track", "NOPE"]).status.code(), Some(2));
}

/// The contract's configuration in dual mode with F&O as a target too (vendor 1001), and the
/// route's modern side as `modern`.
fn with_d365(port: u16, modern: &str) -> String {
    config(port, "dual", "")
        .replace("s4 = \"17300001\"", "s4 = \"17300001\"\nd365 = \"1001\"")
        .replace("modern = [\"s4\"]", modern)
        .replace(
            "[[routes]]",
            &format!(
                r#"[[targets]]
name = "d365"
type = "dynamics365"
base_url = "http://127.0.0.1:{port}"
token_url = "http://127.0.0.1:{port}/TENANT/oauth2/v2.0/token"
client_id_env = "D365_CLIENT_ID"
client_secret_env = "D365_CLIENT_SECRET"
documents = ["invoice/v1"]
values = {{ data_area = "usmf" }}

[[routes]]"#
            ),
        )
}

#[test]
fn reconcile_reads_dynamics_365_back_by_business_key() {
    let erp = Erp::start(3599);
    let port = erp.port;
    let cfg = with_d365(port, "modern = [\"d365\"]");
    let sb = Sandbox::with_config(&cfg);
    for n in 1..=3 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    assert_eq!(once(&sb).status.code(), Some(0), "{}", sb.log());
    let r = reconcile(&sb, &[]);
    assert_eq!(r["summary"]["matched"], 3, "{r:#}");
    let alter = |number: &str, body: Value| {
        let mut v = body;
        v["system"] = "d365".into();
        v["where"] = serde_json::json!({"InvoiceNumber": number});
        assert_eq!(erp.sb.alter_sap(&v), 1);
    };
    alter(
        "INV-00002",
        serde_json::json!({"fields": {"ImportedAmount": 999.5}}),
    );
    alter("INV-00003", serde_json::json!({"drop_line": true}));
    let r = reconcile(&sb, &[]);
    assert_eq!(
        (
            r["summary"]["matched"].as_u64(),
            r["summary"]["different"].as_u64()
        ),
        (Some(1), Some(2)),
        "{r:#}"
    );
    let doc = |key: &str| document(&r, key);
    let d2 = doc("INV-00002");
    assert_eq!(d2["modern"]["source"], "read back", "{d2:#}");
    assert_eq!(d2["differences"][0]["field"], "total", "{d2:#}");
    assert_eq!(d2["differences"][0]["modern"], "999.5", "{d2:#}");
    let d3 = doc("INV-00003");
    assert!(
        d3["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "lines"),
        "{d3:#}"
    );
}

#[test]
fn reconcile_reads_oracle_fusion_back_by_business_key() {
    let erp = Erp::start(3599);
    let port = erp.port;
    let cfg = config(port, "dual", "")
        .replace(
            "s4 = \"17300001\"",
            "s4 = \"17300001\"\nora = \"Acme Supply\"",
        )
        .replace("modern = [\"s4\"]", "modern = [\"ora\"]")
        .replace(
            "[[routes]]",
            &format!(
                r#"[[targets]]
name = "ora"
type = "oracle_fusion"
base_url = "http://127.0.0.1:{port}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1"]
values = {{ business_unit = "Vision Operations" }}

[[routes]]"#
            ),
        );
    let sb = Sandbox::with_config(&cfg);
    for n in 1..=3 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    assert_eq!(once(&sb).status.code(), Some(0), "{}", sb.log());
    let r = reconcile(&sb, &[]);
    assert_eq!(r["summary"]["matched"], 3, "{r:#}");
    assert_eq!(
        document(&r, "INV-00001")["modern"]["source"],
        "read back",
        "{r:#}"
    );
    let alter = |number: &str, body: Value| {
        let mut v = body;
        v["system"] = "oracle".into();
        v["where"] = serde_json::json!({"InvoiceNumber": number});
        assert_eq!(erp.sb.alter_sap(&v), 1);
    };
    alter(
        "INV-00002",
        serde_json::json!({"fields": {"InvoiceAmount": "999.50"}}),
    );
    alter("INV-00003", serde_json::json!({"drop_line": true}));
    let r = reconcile(&sb, &[]);
    assert_eq!(
        (
            r["summary"]["matched"].as_u64(),
            r["summary"]["different"].as_u64()
        ),
        (Some(1), Some(2)),
        "{r:#}"
    );
    let d2 = document(&r, "INV-00002");
    assert_eq!(d2["differences"][0]["field"], "total", "{d2:#}");
    assert_eq!(d2["differences"][0]["modern"], "999.5", "{d2:#}");
    assert!(
        document(&r, "INV-00003")["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "lines"),
        "{r:#}"
    );
}

#[test]
fn several_subscribers_on_a_side_are_each_delivered_and_held_on_their_own() {
    let erp = Erp::start(3599);
    let port = erp.port;
    // Two modern subscribers: F&O, and SAP with a password it refuses.
    let cfg = with_d365(port, "modern = [\"d365\", \"s4\"]");
    let sb = Sandbox::with_config(&cfg);
    for n in 1..=3 {
        sb.drop_file(&format!("inv{n}.edi"), &invoice(n, false));
    }
    let out = sb
        .cmd(&["once"])
        .envs(SECRETS)
        .env("S4_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("d365             pending 0, delivered 3, rejected 0, dead 0"),
        "{status}"
    );
    assert!(
        status.contains("legacy           pending 0, delivered 3"),
        "{status}"
    );
    assert!(
        status.contains("s4               pending 0, delivered 0, rejected 3"),
        "{status}"
    );
    assert!(sap_invoices(&erp).is_empty());
    assert_eq!(
        erp.records()["dynamics365"]["VendorInvoiceHeaders"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // The held subscriber is released once its password is right; the others are not sent
    // again.
    let list = sb.stdout(&["quarantine", "list"]);
    let ids: Vec<String> = list
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (id, target) = (w.next()?, w.next()?);
            (target == "s4" && id.parse::<i64>().is_ok()).then(|| id.to_string())
        })
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    let mut args = vec!["quarantine", "release", "--delivery"];
    args.extend(ids.iter().map(String::as_str));
    assert_eq!(sb.run(&args).status.code(), Some(0));
    assert_eq!(once(&sb).status.code(), Some(0));
    assert_eq!(
        sap_invoices(&erp),
        names(&["INV-00001", "INV-00002", "INV-00003"])
    );
    assert_eq!(
        erp.records()["dynamics365"]["VendorInvoiceHeaders"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(legacy_invoices(&sb).len(), 3);
}

#[test]
fn rejections_travel_back_as_a_cxml_status_and_as_an_order_response_when_asked() {
    let erp = Erp::start(3599);
    // SAP knows no supplier 99990001: it refuses both the invoice and the order.
    let cfg = format!(
        r#"
[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]
cxml_ids = ["NetworkID:AN01000000147"]
advise_rejections = true
order_rejections = "order_response"
[partners.erp_ids]
s4 = "99990001"
[partners.outbound]
x12_sender = "ZZ:BUYERCO"
cxml_from = "NetworkID:AN01000000001"

[[targets]]
name = "s4"
type = "sap_s4hana"
base_url = "http://127.0.0.1:{}"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1", "purchase_order/v1"]
values = {{ company_code = "1710", plant = "1710" }}

[[routes]]
name = "acme"
partners = ["ACME"]
documents = ["invoice/v1", "purchase_order/v1"]
modern = ["s4"]
mode = "modern"
"#,
        erp.port
    );
    let sb = Sandbox::with_config(&cfg);
    sb.drop_file(
        "invoice.xml",
        &std::fs::read(crate::support::data("cxml/ok/invoice-detail-request.xml")).unwrap(),
    );
    sb.drop_file("po4.edi", &crate::connectors::order_or_asn(4, false));
    assert_eq!(once(&sb).status.code(), Some(0), "{}", sb.log());
    let acks = sb.files("outbox/ACME/acks");
    let status: Vec<&String> = acks
        .iter()
        .filter(|f| f.starts_with("StatusUpdateRequest-"))
        .collect();
    assert_eq!(status.len(), 1, "{acks:?}\n{}", sb.log());
    let xml = std::fs::read_to_string(sb.path(&format!("outbox/ACME/acks/{}", status[0]))).unwrap();
    for want in [
        "<StatusUpdateRequest><DocumentReference payloadID=\"1004@buyer.example\"/>",
        "<Status code=\"400\" text=\"Bad Request\"",
        "<InvoiceIDInfo invoiceID=\"INV-CX-1\"/>",
        "99990001",
    ] {
        assert!(xml.contains(want), "{want} not in {xml}");
    }
    // The order is refused with an 855 rejecting it and each line, not an 824.
    assert!(!acks.iter().any(|f| f.starts_with("824-")), "{acks:?}");
    let answers = sb.files("outbox/ACME/outbound");
    assert_eq!(answers.len(), 1, "{answers:?}");
    let path = sb.path(&format!("outbox/ACME/outbound/{}", answers[0]));
    let x12 = std::fs::read_to_string(&path).unwrap();
    assert!(x12.contains("BAK*00*RD*PO000004*"), "{x12}");
    assert_eq!(x12.matches("ACK*IR*").count(), 2, "{x12}");
    // It reads back, through edigate's own 855 mapping, as the order rejected.
    let out = sb
        .cmd(&["translate", &path.to_string_lossy()])
        .output()
        .unwrap();
    let ack: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(ack["schema"], "po_acknowledgement/v1", "{ack:#}");
    assert_eq!(ack["record"]["status"], "rejected", "{ack:#}");
    assert_eq!(ack["record"]["po_number"], "PO000004", "{ack:#}");
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("rejection advice to partners: sent 2"),
        "{status}"
    );
}
