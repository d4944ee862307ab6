//! Fuzz target: the compiled twins of documents mapped whole against the jq interpreter. The
//! first byte picks a cXML request (the rest is the body of its element) or a shipped CSV
//! column map (the rest is the rows under its header); wherever a twin answers, its records
//! must be the interpreter's (and a CSV twin reading a row at a time must give those of the
//! rows read whole), and nothing may panic; the faster evaluator gives jaq's answer on every
//! document, or hands it to jaq.
#![no_main]

use edigate::canonical::Written;
use edigate::formats::{csv, xml};
use edigate::mapping::twin::Streamed;
use edigate::mapping::{jq, Mappings};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn maps() -> &'static Mappings {
    static M: OnceLock<Mappings> = OnceLock::new();
    M.get_or_init(Mappings::builtin)
}

const REQUESTS: [&str; 4] = [
    "OrderRequest",
    "InvoiceDetailRequest",
    "ConfirmationRequest",
    "ShipNoticeRequest",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let maps = maps();
    let pick = pick as usize % (REQUESTS.len() + maps.csv.len());
    let (mapping, fields, twin) = if let Some(kind) = REQUESTS.get(pick) {
        let mut input = format!("<cXML><Request><{kind}>").into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(format!("</{kind}></Request></cXML>").as_bytes());
        let Ok(doc) = xml::parse(&input) else {
            return;
        };
        let Some(mapping) = maps.find("ACME", "inbound", "cxml", kind) else {
            return;
        };
        let twin = maps.twin_cxml(mapping, "ACME", &doc);
        let fields = serde_json::json!({
            "format": "cxml", "standard": "", "document": kind, "control": "", "partner": "ACME",
            "xml": doc.to_json(),
        });
        (mapping, fields, twin)
    } else {
        let map = &maps.csv[pick - REQUESTS.len()].1;
        let delimiter = map.delimiter.clone();
        let header: Vec<&str> = map.columns.values().map(String::as_str).collect();
        let mut input = header.join(&delimiter).into_bytes();
        input.push(b'\n');
        input.extend_from_slice(body);
        let Ok(rows) = csv::rows(&input, map) else {
            return;
        };
        let Some(mapping) = maps.find("ACME", "inbound", "csv", &map.document) else {
            return;
        };
        let twin = maps.twin_csv(mapping, "ACME", &rows);
        // Read a row at a time (a filter of 64 bits, unsure of most numbers): when every
        // number's rows are together, the records of the file read whole.
        let mut reader = csv::RowReader::new(&input[..], map).unwrap();
        let group = reader.empty();
        let mut streamed = Vec::new();
        let read = &mut |rows: &mut csv::Rows| reader.next_row(rows);
        let answer = maps.twin_csv_streamed(mapping, "ACME", read, group, 64, &mut |w| {
            streamed.push(w)
        });
        if let Some(Ok(Streamed::Mapped { field, recheck })) = answer {
            let again = csv::RowReader::new(&input[..], map).unwrap();
            if csv::apart(again, field, &recheck).unwrap().is_none() {
                assert_eq!(Some(&streamed), twin.as_ref());
            }
        }
        let fields = serde_json::json!({
            "format": "csv", "document": map.document, "partner": "ACME", "rows": rows.to_json(),
        });
        (mapping, fields, twin)
    };
    // The faster evaluator gives jaq's answer, or hands the document to jaq.
    let (fast, jaq) = maps
        .both_evaluators(mapping, "ACME", jq::from_json(&fields))
        .unwrap();
    if let Some(fast) = fast {
        assert_eq!(fast, jaq);
    }
    if let Some(twin) = twin {
        let interpreted = maps
            .inbound(mapping, "ACME", jq::from_json(&fields))
            .map(|bs| bs.iter().map(Written::from).collect::<Vec<_>>());
        assert_eq!(Ok(&twin), interpreted.as_ref());
    }
});
