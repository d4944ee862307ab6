//! Outbound documents: golden outputs for canonical records (`tests/data/outbound/<format>-<
//! document>/*.jsonl`, expected document beside each as `.out`), and round trips: record ->
//! document -> record keeps every mapped field, for the fixtures and for random records.

use crate::golden::{cfg, FIXED_NOW};
use crate::support::{data, Rng};
use edigate::outbound::{render, Target};
use edigate::translate::{dry_run, Input};
use edigate::util::sha256_hex;
use serde_json::{json, Value};
use std::fs;

/// Translates a document back to canonical records (only the business objects).
fn inbound(doc: &[u8]) -> Result<Vec<Value>, String> {
    let sha = sha256_hex(doc);
    let input = Input {
        data: doc,
        file: "roundtrip",
        sha256: &sha,
        channel_partner: None,
        seen: None,
        whole: None,
    };
    let out = dry_run(&input, cfg(), FIXED_NOW);
    if let Some(r) = &out.refusal {
        return Err(format!("{}: {} [{}]", r.position, r.reason, r.code));
    }
    if out.rejected > 0 {
        return Err(format!(
            "{:?}",
            out.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        ));
    }
    Ok(out
        .records
        .iter()
        .map(|r| r.value()["record"].take())
        .collect())
}

fn outbound(target: &str, records: &[Value]) -> Result<Vec<u8>, String> {
    let t: Target = target.parse().map_err(|e| format!("{e}"))?;
    render(cfg(), "ACME", &t, records, 7, FIXED_NOW).map_err(|e| e.to_string())
}

#[test]
fn outbound_goldens_and_their_round_trips() {
    let root = data("outbound");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let target = dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replacen('-', ":", 1);
        let mut inputs: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        inputs.sort();
        for input in inputs {
            let records: Vec<Value> = fs::read_to_string(&input)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let got = match outbound(&target, &records) {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("{}: {e}", input.display()));
                    continue;
                }
            };
            let expected = input.with_extension("jsonl.out");
            if update {
                fs::write(&expected, &got).unwrap();
            }
            match fs::read(&expected) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{}: differs (UPDATE_GOLDEN=1 to accept)\n--- want\n{}\n--- got\n{}",
                    expected.display(),
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got)
                )),
                Err(_) => failures.push(format!("{}: missing", expected.display())),
            }
            // Document -> canonical gives the records back (cXML: one document per record).
            let back = if target.starts_with("cxml") {
                let text = String::from_utf8(got.clone()).unwrap();
                text.split_inclusive("</cXML>\n")
                    .map(|d| inbound(d.as_bytes()))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.concat())
            } else {
                inbound(&got)
            };
            let want: Vec<Value> = records.iter().map(|r| r["record"].clone()).collect();
            match back {
                Ok(back) if back == want => checked += 1,
                Ok(back) => failures.push(format!(
                    "{}: round trip changed the record\n--- sent\n{}\n--- back\n{}",
                    input.display(),
                    serde_json::to_string(&want).unwrap(),
                    serde_json::to_string(&back).unwrap()
                )),
                Err(e) => failures.push(format!(
                    "{}: the document does not read back: {e}",
                    input.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 11, "only {checked} outbound goldens");
}

#[test]
fn a_value_the_target_cannot_carry_is_refused_not_rounded() {
    let mut inv = first_record("outbound/x12-810/invoice.jsonl");
    inv["record"]["total_amount"] = json!("391.005");
    let e = outbound("x12:810", &[inv]).unwrap_err();
    assert!(e.contains("391.005"), "{e}");
    let mut po = first_record("outbound/x12-850/po.jsonl");
    po["record"]["lines"][0]["item"]["buyer_part"] = json!("A*B");
    let e = outbound("x12:850", &[po.clone()]).unwrap_err();
    assert!(e.contains("separator"), "{e}");
    po["record"]["po_number"] = json!(17);
    let e = outbound("x12:850", &[po]).unwrap_err();
    assert!(e.contains("not a canonical record"), "{e}");
}

/// The first record of a golden JSON Lines file.
fn first_record(rel: &str) -> Value {
    let text = fs::read_to_string(data(rel)).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// What a target can carry; the generator stays inside it.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    X12,
    Edifact,
    Cxml,
}

fn party(r: &mut Rng, kind: Kind, role: &str) -> Value {
    let mut p = json!({"role": role, "name": r.text(3)});
    match kind {
        Kind::Cxml => p["id"] = json!(r.word(8)),
        Kind::X12 if r.chance(70) => {
            p["id"] = json!(format!("P{}", r.word(10)));
            p["id_qualifier"] = json!(r.pick(&["92", "1", "9"]));
        }
        Kind::Edifact if r.chance(70) => {
            p["id"] = json!(r.digits(13));
            p["id_qualifier"] = json!(r.pick(&["GLN", "DUNS"]));
        }
        _ => {}
    }
    if kind == Kind::Cxml || r.chance(60) {
        let mut a = json!({"lines": (0..1 + r.below(2)).map(|_| r.text(3)).collect::<Vec<_>>(), "city": r.text(2), "country": r.pick(&["US", "DE", "FR"])});
        if r.chance(70) {
            a["region"] = json!(r.pick(&["IL", "CA", "NY"]));
        }
        if r.chance(70) {
            a["postal_code"] = json!(r.digits(5));
        }
        p["address"] = a;
    }
    p
}

fn item(r: &mut Rng, kind: Kind) -> Value {
    let mut i = json!({});
    if kind != Kind::Cxml && r.chance(50) {
        i["gtin"] = json!(r.digits(13));
    }
    if kind == Kind::Cxml || r.chance(60) {
        i["supplier_part"] = json!(format!("S-{}", r.word(8)));
    }
    if r.chance(50) || i.as_object().unwrap().is_empty() {
        i["buyer_part"] = json!(format!("B-{}", r.word(8)));
    }
    if kind == Kind::Cxml || r.chance(40) {
        i["description"] = json!(r.text(4));
    }
    i
}

fn envelope(schema: &str, record: Value) -> Value {
    json!({"schema": schema, "id": "rec_00", "partner": "ACME", "correlation": {},
           "source": {"format": "api", "document": "random", "file": "generated", "sha256": "0"},
           "record": record})
}

fn purchase_order(r: &mut Rng, kind: Kind, purposes: &[&str]) -> Value {
    let uoms = ["EA", "CS", "KG", "BX"];
    let roles: &[&str] = if kind == Kind::Cxml {
        &["ship_to", "bill_to"]
    } else {
        &["buyer", "supplier", "ship_to", "bill_to"]
    };
    let mut parties = Vec::new();
    for role in roles {
        if r.chance(60) {
            parties.push(party(r, kind, role));
        }
    }
    let lines: Vec<Value> = (0..1 + r.below(6))
        .map(|n| {
            let mut l = json!({"line_number": (n + 1).to_string(), "item": item(r, kind),
                               "quantity": r.decimal(2), "uom": r.pick(&uoms)});
            // cXML items always carry a unit price.
            if kind == Kind::Cxml || r.chance(70) {
                l["unit_price"] = json!(r.decimal(4));
            }
            if r.chance(30) {
                l["requested_delivery_date"] = json!(r.date());
            }
            l
        })
        .collect();
    let po_type = if kind == Kind::Cxml {
        "SA"
    } else {
        r.pick(&["SA", "NE"])
    };
    let mut po = json!({
        "po_number": r.word(12), "purpose": r.pick(purposes), "order_date": r.date(),
        "po_type": po_type, "parties": parties, "lines": lines,
    });
    // cXML amounts always name their currency.
    if kind == Kind::Cxml || r.chance(60) {
        po["currency"] = json!(r.pick(&["USD", "EUR"]));
    }
    if r.chance(50) {
        po["total_amount"] = json!(r.decimal(2));
    }
    if kind != Kind::Cxml && r.chance(40) {
        po["requested_delivery_date"] = json!(r.date());
    }
    if r.chance(40) {
        po["notes"] = json!((0..1 + r.below(2)).map(|_| r.text(5)).collect::<Vec<_>>());
    }
    match kind {
        Kind::X12 if r.chance(40) => po["payment_terms"] = json!(r.text(4)),
        Kind::Cxml if r.chance(40) => {
            po["payment_terms"] = json!(format!("net {} days", 1 + r.below(90)))
        }
        _ => {}
    }
    if kind != Kind::Edifact && r.chance(40) {
        po["requisition_id"] = json!(r.word(10));
    }
    envelope("purchase_order/v1", po)
}

fn acknowledgement(r: &mut Rng) -> Value {
    let statuses = ["accepted", "changed", "rejected"];
    let lines: Vec<Value> = (0..1 + r.below(5))
        .map(|n| {
            let mut l = json!({"line_number": (n + 1).to_string(), "item": item(r, Kind::Edifact),
                               "status": r.pick(&statuses), "quantity": r.decimal(0), "uom": r.pick(&["EA", "CS"])});
            if r.chance(50) { l["unit_price"] = json!(r.decimal(2)); }
            if r.chance(50) { l["scheduled_date"] = json!(r.date()); }
            l
        })
        .collect();
    envelope(
        "po_acknowledgement/v1",
        json!({
        "po_number": r.word(12), "status": r.pick(&["accepted", "accepted_with_changes", "rejected"]),
        "ack_date": r.date(), "supplier_order_number": r.word(10), "lines": lines}),
    )
}

fn invoice(r: &mut Rng, kind: Kind) -> Value {
    let lines: Vec<Value> = (0..1 + r.below(5))
        .map(|n| {
            let mut l = json!({"line_number": (n + 1).to_string(), "item": item(r, kind),
                               "quantity": r.decimal(0), "uom": "EA", "unit_price": r.decimal(2)});
            if kind == Kind::Edifact && r.chance(50) {
                l["amount"] = json!(r.decimal(2));
            }
            if r.chance(40) {
                l["po_line_number"] = json!((n + 1).to_string());
            }
            l
        })
        .collect();
    let mut parties = Vec::new();
    for role in ["supplier", "bill_to"] {
        if r.chance(50) {
            parties.push(party(r, kind, role));
        }
    }
    let mut inv = json!({
        "invoice_number": r.word(12), "invoice_date": r.date(), "currency": r.pick(&["USD", "EUR"]),
        "total_amount": r.cents(), "po_number": r.word(10), "lines": lines, "parties": parties,
    });
    if r.chance(50) {
        inv["tax_total"] = json!(r.decimal(2));
    }
    if r.chance(50) {
        inv["due_date"] = json!(r.date());
    }
    if r.chance(50) {
        inv["payment_terms"] = json!(r.text(3));
    } // at most 35 characters (EDIFACT 4277)
    if r.chance(50) {
        inv["allowances_charges"] = json!([{"type": r.pick(&["allowance", "charge"]), "amount": r.cents(), "description": r.text(2)}]);
    }
    envelope("invoice/v1", inv)
}

fn ship_notice(r: &mut Rng, kind: Kind) -> Value {
    let po = r.word(10);
    let line = |r: &mut Rng, n: u64| {
        let mut l = json!({"po_number": po, "po_line_number": n.to_string(), "item": item(r, kind),
                           "quantity": r.decimal(0), "uom": r.pick(&["EA", "CS"])});
        if r.chance(40) {
            l["lot"] = json!(r.word(8));
        }
        l
    };
    let packed: Vec<Value> = (0..r.below(3)).map(|n| line(r, n + 1)).collect();
    let loose: Vec<Value> = (0..1 + r.below(3)).map(|n| line(r, n + 10)).collect();
    // X12 lists a pack's items before the loose ones of the same order; EDIFACT the loose
    // ones first (under the first CPS level).
    let lines: Vec<Value> = match kind {
        Kind::X12 => packed.iter().chain(&loose).cloned().collect(),
        _ => loose.iter().chain(&packed).cloned().collect(),
    };
    let mut sn = json!({"shipment_id": r.word(12), "ship_date": r.date(), "po_numbers": [po], "lines": lines,
                        "parties": [party(r, kind, "ship_from")]});
    if !packed.is_empty() {
        sn["packages"] = json!([{"sscc": r.digits(18), "lines": packed}]);
    }
    if r.chance(50) {
        sn["expected_delivery_date"] = json!(r.date());
    }
    if r.chance(50) {
        sn["carrier"] = json!(r.word(4));
    }
    if r.chance(50) {
        sn["tracking_number"] = json!(r.word(12));
    }
    envelope("ship_notice/v1", sn)
}

fn payment(r: &mut Rng) -> Value {
    let invoices: Vec<Value> = (0..1 + r.below(4))
        .map(|_| {
            let mut i = json!({"invoice_number": r.word(10), "amount_paid": r.decimal(2)});
            if r.chance(40) {
                i["discount"] = json!(r.decimal(2));
            }
            i
        })
        .collect();
    envelope(
        "payment_status/v1",
        json!({
        "payment_id": r.word(12), "payment_date": r.date(), "amount": r.decimal(2), "currency": "USD",
        "method": r.pick(&["ACH", "CHK", "FWT"]), "status": r.pick(&["paid", "scheduled"]),
        "invoices": invoices,
        "parties": [party(r, Kind::X12, "payer"), party(r, Kind::X12, "payee")]}),
    )
}

#[test]
fn random_records_survive_every_outbound_round_trip() {
    type Generator = fn(&mut Rng) -> Value;
    let cases: &[(&str, Generator)] = &[
        ("x12:850", |r| {
            purchase_order(r, Kind::X12, &["original", "cancel", "change", "replace"])
        }),
        ("x12:860", |r| {
            // An 860 carries the changed order, not its terms, total or requisition.
            let mut po = purchase_order(r, Kind::X12, &["cancel", "change", "replace"]);
            for k in ["payment_terms", "total_amount", "requisition_id"] {
                po["record"].as_object_mut().unwrap().remove(k);
            }
            po
        }),
        ("edifact:ORDERS", |r| {
            purchase_order(
                r,
                Kind::Edifact,
                &["original", "cancel", "change", "replace"],
            )
        }),
        ("cxml:OrderRequest", |r| {
            purchase_order(r, Kind::Cxml, &["original", "cancel", "change"])
        }),
        ("x12:855", acknowledgement),
        ("edifact:ORDRSP", acknowledgement),
        ("x12:810", |r| invoice(r, Kind::X12)),
        ("edifact:INVOIC", |r| invoice(r, Kind::Edifact)),
        ("x12:856", |r| ship_notice(r, Kind::X12)),
        ("edifact:DESADV", |r| ship_notice(r, Kind::Edifact)),
        ("x12:820", payment),
    ];
    let runs: u64 = std::env::var("EDIGATE_ROUNDTRIP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for (target, make) in cases {
        for seed in 0..runs {
            let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ target.len() as u64);
            let mut rec = make(&mut r);
            // A record that breaks the contract would be the generator's fault; reading it
            // also drops what the contract omits (empty lists).
            let typed = serde_json::from_value::<edigate::canonical::Record>(rec.clone())
                .unwrap_or_else(|e| {
                    panic!("{target} seed {seed}: generated an invalid record: {e}\n{rec}")
                });
            rec = serde_json::to_value(&typed).unwrap();
            let doc = outbound(target, std::slice::from_ref(&rec))
                .unwrap_or_else(|e| panic!("{target} seed {seed}: {e}\n{rec}"));
            let back = inbound(&doc).unwrap_or_else(|e| {
                panic!(
                    "{target} seed {seed}: does not read back: {e}\n{}",
                    String::from_utf8_lossy(&doc)
                )
            });
            assert_eq!(
                back,
                vec![rec["record"].clone()],
                "{target} seed {seed}: the round trip changed the record\n{}",
                String::from_utf8_lossy(&doc)
            );
        }
    }
}
