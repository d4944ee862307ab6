//! Fuzz target: the compiled twins against the jq interpreter. Any bytes become the body of an
//! X12 850, 810, 855, 856, 860, 820, 997 or 999 or of an EDIFACT ORDERS, INVOIC, ORDRSP,
//! DESADV, REMADV, CONTRL or APERAK (the first byte picks); wherever a twin answers, its
//! records must be the interpreter's, JSON text included, and nothing may panic. On every
//! document, the interpreter's own evaluator (`mapping::eval`) must give jaq's outputs or
//! error, or hand the document to jaq.
#![no_main]

use edigate::canonical::Written;
use edigate::formats::{edifact, x12};
use edigate::mapping::{doc, Mappings};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn maps() -> &'static Mappings {
    static M: OnceLock<Mappings> = OnceLock::new();
    M.get_or_init(Mappings::builtin)
}

const SETS: [(&str, &str); 15] = [
    ("850", "PO"),
    ("810", "IN"),
    ("855", "PR"),
    ("856", "SH"),
    ("860", "PC"),
    ("820", "RA"),
    ("997", "FA"),
    ("999", "FA"),
    ("ORDERS", ""),
    ("INVOIC", ""),
    ("ORDRSP", ""),
    ("DESADV", ""),
    ("REMADV", ""),
    ("CONTRL", ""),
    ("APERAK", ""),
];

/// The faster evaluator gives jaq's answer on `$input`, or hands the document to jaq.
macro_rules! evaluators_agree {
    ($maps:expr, $mapping:expr, $input:expr) => {
        let (fast, jaq) = $maps.both_evaluators($mapping, "ACME", $input).unwrap();
        if let Some(fast) = fast {
            assert_eq!(fast, jaq);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (set, group) = SETS[pick as usize % SETS.len()];
    let maps = maps();
    if group.is_empty() {
        let mut input = format!(
            "UNA:+.? 'UNB+UNOC:3+SENDER:14+RECEIVER:14+260517:1015+1'UNH+1+{set}:D:96A:UN'"
        )
        .into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(b"'UNT+2+1'UNZ+1+1'");
        let Some(mapping) = maps.find("ACME", "inbound", "edifact", set) else {
            return;
        };
        for ic in &edifact::parse(&input).interchanges {
            for m in ic.messages.iter().filter(|m| m.kind == set) {
                evaluators_agree!(maps, mapping, doc::edifact(m, "ACME"));
                if let Some(twin) = maps.twin_edifact(mapping, "ACME", m) {
                    let interpreted = maps
                        .inbound(mapping, "ACME", doc::edifact(m, "ACME"))
                        .map(|bs| bs.iter().map(Written::from).collect::<Vec<_>>());
                    assert_eq!(Ok(&twin), interpreted.as_ref());
                }
            }
        }
        return;
    }
    let mut input = format!(
        "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260517*1015*U*00401*000000001*0*P*>~GS*{group}*SENDER*RECEIVER*20260517*1015*1*X*004010~ST*{set}*0001~"
    )
    .into_bytes();
    input.extend_from_slice(body);
    input.extend_from_slice(b"~SE*2*0001~GE*1*1~IEA*1*000000001~");
    let Some(mapping) = maps.find("ACME", "inbound", "x12", set) else {
        return;
    };
    let file = x12::parse(&input);
    for ic in &file.interchanges {
        for g in &ic.groups {
            for tx in g.transactions.iter().filter(|t| t.id == set) {
                evaluators_agree!(maps, mapping, doc::x12(tx, &g.version, "ACME"));
                if let Some(twin) = maps.twin_x12(mapping, "ACME", tx) {
                    let interpreted = maps
                        .inbound(mapping, "ACME", doc::x12(tx, &g.version, "ACME"))
                        .map(|bs| bs.iter().map(Written::from).collect::<Vec<_>>());
                    assert_eq!(Ok(&twin), interpreted.as_ref());
                }
            }
        }
    }
});
