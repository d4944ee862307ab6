//! The published JSON Schemas: `docs/schemas/*.json` are what `edigate schema` prints, and
//! every record in the golden files is valid against the schema it names.

use crate::support::Sandbox;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn schema_file(name: &str) -> PathBuf {
    root()
        .join("docs/schemas")
        .join(format!("{}.json", name.replace('/', ".")))
}

#[test]
fn published_schemas_are_what_the_binary_prints() {
    let sb = Sandbox::new();
    let names: Vec<String> = sb.stdout(&["schema"]).lines().map(str::to_string).collect();
    assert_eq!(names.len(), 9, "{names:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for name in &names {
        let printed = sb.stdout(&["schema", name]);
        let path = schema_file(name);
        if update {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &printed).unwrap();
        }
        let committed = fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(
            committed,
            printed,
            "{} differs from `edigate schema {name}`",
            path.display()
        );
    }
    assert_eq!(
        sb.run(&["schema", "purchase_order/v9"]).status.code(),
        Some(1)
    );
}

fn jsonl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            jsonl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

#[test]
fn every_golden_record_is_valid_against_its_schema() {
    let mut files = Vec::new();
    jsonl_files(&root().join("tests/data"), &mut files);
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for f in &files {
        for line in fs::read_to_string(f).unwrap().lines() {
            let rec: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = rec["schema"].as_str().unwrap().to_string();
            let schema: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(schema_file(&name)).unwrap()).unwrap();
            let validator = jsonschema::validator_for(&schema).unwrap();
            for e in validator.iter_errors(&rec) {
                failures.push(format!(
                    "{}: {name}: {e} at {}",
                    f.display(),
                    e.instance_path()
                ));
            }
            seen.insert(name);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The goldens cover every document the mappings produce.
    for s in [
        "purchase_order/v1",
        "po_acknowledgement/v1",
        "ship_notice/v1",
        "invoice/v1",
        "payment_status/v1",
        "functional_ack/v1",
    ] {
        assert!(seen.contains(s), "no golden record of {s}");
    }
}

#[test]
fn a_record_that_breaks_its_schema_is_caught() {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(schema_file("invoice/v1")).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut rec: serde_json::Value = serde_json::json!({
        "schema": "invoice/v1", "id": "rec_00ab", "partner": "ACME", "correlation": {},
        "source": {"format": "x12", "document": "810", "file": "f", "sha256": "0"},
        "record": {"invoice_number": "1", "invoice_date": "2026-05-17", "currency": "USD",
                   "total_amount": "10.00", "lines": []}
    });
    assert!(v.is_valid(&rec));
    rec["record"]["total_amount"] = serde_json::json!(10.0);
    assert!(!v.is_valid(&rec), "a float amount must be refused");
    rec["record"]["total_amount"] = serde_json::json!("10.00");
    rec["record"]["tax_total"] = serde_json::Value::Null;
    assert!(
        !v.is_valid(&rec),
        "null for an absent field must be refused"
    );
}
