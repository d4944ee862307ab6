//! Data-driven golden tests: every input under `tests/data/<format>/{ok,err}/` is translated
//! with a fixed clock; records, acknowledgements and diagnostics are compared with the files
//! beside it. `UPDATE_GOLDEN=1 cargo test` rewrites them.

use crate::support::data;
use edigate::config;
use edigate::translate::{dry_run, Input};
use edigate::util::{sha256_hex, Utc};
use std::fmt::Write;
use std::fs;
use std::path::Path;

/// 2026-05-17T10:15:00Z
pub const FIXED_NOW: Utc = Utc {
    epoch: 1_779_012_900,
};

const EXPECTED: [&str; 3] = ["jsonl", "ack", "diag"];

/// The golden configuration, parsed (and its mappings compiled) once per test binary.
pub fn cfg() -> &'static config::Config {
    static CFG: std::sync::OnceLock<config::Config> = std::sync::OnceLock::new();
    CFG.get_or_init(parse_cfg)
}

fn parse_cfg() -> config::Config {
    config::parse(
        Path::new("/golden/edigate.toml"),
        "[[channels]]\nname = \"in\"\ntype = \"dir\"\npath = \"/\"\n\n[[partners]]\nid = \"ACME\"\nx12_ids = [\"ZZ:ACMESUPPLY\"]\nedifact_ids = [\"5412345000013:14\"]\ncxml_ids = [\"NetworkID:AN01000000147\"]\n",
    )
    .unwrap()
}

/// The three golden texts for one input.
pub fn render(rel: &str, bytes: &[u8]) -> [String; 3] {
    let sha = sha256_hex(bytes);
    let input = Input {
        data: bytes,
        file: rel,
        sha256: &sha,
        // CSV carries no sender id: its channel names the partner.
        channel_partner: rel.contains("/csv/").then_some("ACME"),
        seen: None,
        whole: None,
    };
    let out = dry_run(&input, cfg(), FIXED_NOW);
    let mut jsonl = String::new();
    for r in &out.records {
        jsonl.push_str(&r.json);
        jsonl.push('\n');
    }
    let mut ack = String::new();
    for a in &out.acks {
        ack.push_str(&String::from_utf8_lossy(&a.doc.bytes.to_vec().unwrap()));
    }
    let mut diag = String::new();
    for d in &out.diagnostics {
        writeln!(diag, "{d}").unwrap();
    }
    match &out.refusal {
        Some(r) => writeln!(diag, "refused: {}: {} [{}]", r.position, r.reason, r.code).unwrap(),
        None => writeln!(diag, "accepted {}, rejected {}", out.accepted, out.rejected).unwrap(),
    }
    [jsonl, ack, diag]
}

fn check_dir(format: &str, kind: &str) {
    let dir = data(&format!("{format}/{kind}"));
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !EXPECTED
                .iter()
                .any(|x| p.extension().is_some_and(|e| e == *x))
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("tests/data/{format}/{kind}/{name}");
        let got = render(&rel, &fs::read(input).unwrap());
        let flagged = got[2].starts_with("refused")
            || got[2].lines().any(|l| l.starts_with("refused"))
            || !got[2].contains("rejected 0");
        if (kind == "ok") == flagged {
            failures.push(format!("{rel}: expected {kind}, got:\n{}", got[2]));
        }
        for (ext, text) in EXPECTED.iter().zip(got.iter()) {
            let path = dir.join(format!("{name}.{ext}"));
            if update {
                fs::write(&path, text).unwrap();
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(want) if want == *text => {}
                Ok(want) => failures.push(format!(
                    "{}: differs (UPDATE_GOLDEN=1 to accept)\n--- want\n{want}\n--- got\n{text}",
                    path.display()
                )),
                Err(_) => failures.push(format!(
                    "{}: missing (UPDATE_GOLDEN=1 creates it)",
                    path.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn csv_ok() {
    check_dir("csv", "ok");
}

#[test]
fn csv_err() {
    check_dir("csv", "err");
}

#[test]
fn cxml_ok() {
    check_dir("cxml", "ok");
}

#[test]
fn cxml_err() {
    check_dir("cxml", "err");
}

#[test]
fn x12_ok() {
    check_dir("x12", "ok");
}

#[test]
fn x12_err() {
    check_dir("x12", "err");
}

#[test]
fn edifact_err() {
    check_dir("edifact", "err");
}

#[test]
fn edifact_ok() {
    check_dir("edifact", "ok");
}

/// Every golden record of a document an ERP kind has a shipped mapping for
/// (`mappings/targets/KIND/DOCUMENT.jq`) becomes that ERP's payload; the payloads are compared
/// with `tests/data/targets/KIND/SOURCE.N.json`.
#[test]
fn target_payloads_match_their_goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut invoices = Vec::new();
    for format in ["x12", "edifact", "cxml", "csv"] {
        let dir = data(&format!("{format}/ok"));
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        for f in files {
            let stem = f
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".jsonl", "");
            let text = fs::read_to_string(&f).unwrap();
            for (i, line) in text.lines().enumerate() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                invoices.push((format!("{format}-{stem}.{i}"), v));
            }
        }
    }
    assert!(invoices.len() >= 10, "{} records", invoices.len());
    let mut made = 0;
    let mut failures = Vec::new();
    for (kind, values) in [
        ("sap_s4hana", serde_json::json!({"company_code": "1710"})),
        ("dynamics365", serde_json::json!({"data_area": "usmf"})),
        (
            "oracle_fusion",
            serde_json::json!({"business_unit": "Vision Operations"}),
        ),
        ("legacy_files", serde_json::json!({})),
        ("coupa_cxml", serde_json::json!({})),
    ] {
        let dir = data(&format!("targets/{kind}"));
        for (name, record) in &invoices {
            let mut input = record.clone();
            input["target"] =
                serde_json::json!({"name": "erp", "erp_id": "17300001", "values": values});
            let partner = record["partner"].as_str().unwrap();
            let document = record["schema"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let Some(mapping) = cfg().maps.find(partner, "targets", kind, document) else {
                continue;
            };
            made += 1;
            let got = match cfg().maps.outbound(mapping, partner, &input) {
                Ok(v) => serde_json::to_string_pretty(&v).unwrap() + "\n",
                Err(e) => format!("refused: {}\n", e.message),
            };
            let path = dir.join(format!("{name}.json"));
            if update {
                fs::create_dir_all(&dir).unwrap();
                fs::write(&path, &got).unwrap();
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{}: differs (UPDATE_GOLDEN=1 to accept)\n--- want\n{want}\n--- got\n{got}",
                    path.display()
                )),
                Err(_) => failures.push(format!(
                    "{}: missing (UPDATE_GOLDEN=1 creates it)",
                    path.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Invoices for six kinds, orders and ship notices for SAP, orders for the legacy side.
    assert!(made >= 30, "only {made} payloads");
}
