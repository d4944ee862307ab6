//! Application advice of an ERP rejection, as segments for the partner's syntax: an X12 824
//! (OTI transaction rejected, TED with the system's words) or an EDIFACT APERAK (BGM 27 not
//! accepted, DOC, RFF to the message, ERC and FTX), a cXML StatusUpdateRequest, or an order
//! response that accepts or rejects a purchase order as sent. Pure: the envelope is the
//! caller's.

use crate::util::Utc;
use serde_json::{json, Value};

/// What an advice says about one rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection<'a> {
    /// The record's schema (`invoice/v1`).
    pub schema: &'a str,
    /// The business key the partner knows the document by (invoice number, PO number).
    pub key: &'a str,
    /// The transaction set or message it came in (`810`, `INVOIC`).
    pub document: &'a str,
    pub group_control: &'a str,
    pub transaction_control: &'a str,
    /// Who rejected it and why, in the system's words.
    pub target: &'a str,
    pub error: &'a str,
    /// The payload id of the cXML document it came in (cXML only).
    pub payload_id: &'a str,
}

/// The syntax and document of the advice for a record that came in `format`, if edigate
/// can answer in it.
pub fn advice_document(format: &str) -> Option<(&'static str, &'static str)> {
    match format {
        "x12" => Some(("x12", "824")),
        "edifact" => Some(("edifact", "APERAK")),
        "cxml" => Some(("cxml", "StatusUpdateRequest")),
        _ => None,
    }
}

/// Text safe in any element: printable ASCII without the X12 separators the partner may
/// use, at most `max` characters (the system's message can be long and in any script).
fn plain(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .filter(|c| !"*~^>|:+'?".contains(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.len() > max {
        out.truncate(max);
    }
    out
}

/// The X12 824 transaction (segments between ST and SE), for one rejected record.
pub fn x12_824(r: &Rejection<'_>, reference: u64, now: Utc) -> Value {
    let (y, mo, d, h, mi, _) = now.parts();
    // OTI02: what the OTI03 reference is, by document.
    let qualifier = match r.schema.split('/').next().unwrap_or("") {
        "invoice" => "IV",
        "ship_notice" => "SI",
        "payment_status" => "TN",
        _ => "PO",
    };
    // TED02 holds 60 characters; the whole message follows in NTE segments of 80.
    let text = plain(&format!("{} - {}", r.target, r.error), 5 * 80);
    let mut segments = vec![
        json!([
            "BGN",
            "00",
            reference.to_string(),
            format!("{y:04}{mo:02}{d:02}"),
            format!("{h:02}{mi:02}")
        ]),
        json!([
            "OTI",
            "TR",
            qualifier,
            plain(r.key, 30),
            "",
            "",
            "",
            "",
            plain(r.group_control, 9),
            plain(r.transaction_control, 9),
            plain(r.document, 3)
        ]),
        json!(["TED", "848", text.get(..60).unwrap_or(&text).trim_end()]),
    ];
    for piece in text.as_bytes().chunks(80) {
        segments.push(json!(["NTE", "ERN", String::from_utf8_lossy(piece).trim()]));
    }
    Value::Array(segments)
}

/// The EDIFACT APERAK message (segments between UNH and UNT), for one rejected record.
pub fn aperak(r: &Rejection<'_>, reference: u64, now: Utc) -> Value {
    let (y, mo, d, h, mi, _) = now.parts();
    // DOC 1001: the document name code of what was rejected.
    let code = match r.document {
        "INVOIC" => "380",
        "ORDERS" => "220",
        "ORDRSP" => "231",
        "DESADV" => "351",
        "REMADV" => "481",
        _ => "",
    };
    // FTX 4440: up to five pieces of 512.
    let text = plain(&format!("{} - {}", r.target, r.error), 5 * 512);
    let pieces: Vec<String> = text
        .as_bytes()
        .chunks(512)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    json!([
        ["BGM", "305", reference.to_string(), "27"],
        [
            "DTM",
            ["137", format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}"), "203"]
        ],
        ["DOC", [code, "", "", r.document], plain(r.key, 35)],
        ["RFF", ["ACW", plain(r.transaction_control, 35)]],
        ["ERC", ["12"]],
        ["FTX", "AAO", "", "", pieces],
    ])
}

/// A cXML `StatusUpdateRequest` telling the sender its document was not accepted (JSONML):
/// the original's payload id, `Status` 400 with the system's words, and for an invoice an
/// `InvoiceStatus` of type `rejected`.
pub fn cxml_status(r: &Rejection<'_>) -> Value {
    let text = plain(&format!("{} - {}", r.target, r.error), 2000);
    let mut tree = vec![
        json!("StatusUpdateRequest"),
        json!(["DocumentReference", {"payloadID": r.payload_id}]),
        json!(["Status", {"code": "400", "text": "Bad Request", "xml:lang": "en-US"}, text]),
    ];
    if r.schema.starts_with("invoice/") {
        tree.push(json!(["InvoiceStatus", {"type": "rejected"},
            ["InvoiceIDInfo", {"invoiceID": r.key}],
            ["Comments", {"xml:lang": "en-US"}, text]]));
    }
    Value::Array(tree)
}

/// A `po_acknowledgement/v1` record answering the purchase order `env` as it came: every line
/// accepted (with the system's order number as the supplier's, when given) or every line
/// rejected.
pub fn order_response(
    env: &Value,
    accepted: bool,
    supplier_order: Option<&str>,
    today: &str,
) -> Value {
    let status = if accepted { "accepted" } else { "rejected" };
    let po = &env["record"];
    let lines: Vec<Value> = po["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let mut line = json!({ "status": status });
            for k in ["line_number", "quantity", "uom", "unit_price", "item"] {
                if !l[k].is_null() {
                    line[k] = l[k].clone();
                }
            }
            line
        })
        .collect();
    let mut record = json!({
        "po_number": po["po_number"],
        "status": status,
        "ack_date": today,
        "lines": lines,
    });
    if let Some(id) = supplier_order {
        record["supplier_order_number"] = json!(id);
    }
    json!({
        "schema": "po_acknowledgement/v1",
        "id": format!("{}-{status}", env["id"].as_str().unwrap_or("")),
        "partner": env["partner"],
        "correlation": {"po_number": po["po_number"]},
        "source": env["source"],
        "record": record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_fits_any_separator_set_and_length() {
        assert_eq!(plain("a*b~c\n d:e+f'g?h", 100), "abc defgh");
        assert_eq!(plain("Ünïcode ok", 100), "n code ok");
        assert_eq!(plain(&"x".repeat(80), 60).len(), 60);
    }
}
