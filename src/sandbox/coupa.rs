//! The Coupa cXML simulator: `POST /cxml/invoices` takes an `InvoiceDetailRequest`,
//! `/cxml/ship_notice_request` a `ShipNoticeRequest`, `/cxml/order_confirmations` a
//! `ConfirmationRequest`; each always answers HTTP 200 with a cXML `Status`: 401 for a wrong
//! `SharedSecret`, 406 for what is not the document the endpoint takes, 417 for a missing order
//! reference or an invoice number already received under another `payloadID`; a `payloadID`
//! seen before gets its original answer again.

use super::{lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Default)]
pub struct State {
    invoices: Vec<Value>,
    ship_notices: Vec<Value>,
    confirmations: Vec<Value>,
    /// The answer given per payloadID.
    answers: HashMap<String, (u16, String)>,
}

impl State {
    pub fn records(&self) -> Value {
        json!({
            "invoices": self.invoices,
            "ship_notices": self.ship_notices,
            "confirmations": self.confirmations,
        })
    }
}

fn status(code: u16, text: &str, detail: &str) -> Resp {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd\">\n<cXML payloadID=\"sandbox\" timestamp=\"2026-01-01T00:00:00Z\"><Response><Status code=\"{code}\" text=\"{text}\">{}</Status></Response></cXML>",
        detail.replace('&', "&amp;").replace('<', "&lt;")
    );
    Resp::text(200, "text/xml; charset=utf-8", &body)
}

/// The value of `name="..."` on the first `<tag ` element.
fn attr(doc: &str, tag: &str, name: &str) -> Option<String> {
    let at = doc.find(&format!("<{tag} "))?;
    let end = doc[at..].find('>')? + at;
    let el = &doc[at..end];
    let i = el.find(&format!(" {name}=\""))? + name.len() + 3;
    let j = el[i..].find('"')? + i;
    Some(el[i..j].replace("&amp;", "&"))
}

fn text(doc: &str, tag: &str) -> Option<String> {
    let i = doc.find(&format!("<{tag}>"))? + tag.len() + 2;
    let j = doc[i..].find(&format!("</{tag}>"))? + i;
    Some(doc[i..j].replace("&amp;", "&"))
}

/// Each endpoint: its path, the request element it takes, and the header element and
/// attribute naming the document.
const ENDPOINTS: [(&str, &str, &str, &str); 3] = [
    (
        "/cxml/invoices",
        "InvoiceDetailRequest",
        "InvoiceDetailRequestHeader",
        "invoiceID",
    ),
    (
        "/cxml/ship_notice_request",
        "ShipNoticeRequest",
        "ShipNoticeHeader",
        "shipmentID",
    ),
    (
        "/cxml/order_confirmations",
        "ConfirmationRequest",
        "ConfirmationHeader",
        "confirmID",
    ),
];

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    let Some(&(_, request, header, id_attr)) = ENDPOINTS
        .iter()
        .find(|e| req.method == "POST" && req.path == e.0)
    else {
        return Resp::text(404, "text/plain", "not found");
    };
    let doc = String::from_utf8_lossy(&req.body).into_owned();
    let (Some(payload_id), true) = (
        attr(&doc, "cXML", "payloadID"),
        doc.contains(&format!("<{request}")),
    ) else {
        return status(
            406,
            "Not Acceptable",
            &format!("The document is not a cXML {request}"),
        );
    };
    if text(&doc, "SharedSecret").as_deref() != Some(sb.accounts.client_secret.as_str()) {
        return status(
            401,
            "Unauthorized",
            "Invalid credentials: the SharedSecret does not match the supplier's",
        );
    }
    if let Some((code, detail)) = lock(&sb.coupa).answers.get(&payload_id).cloned() {
        let text = if code == 200 {
            "OK"
        } else {
            "Expectation Failed"
        };
        return status(code, text, &detail);
    }
    let fault = sb.fault(&["500", "429", "timeout", "reset", "commit_then_fail"]);
    match fault {
        // Coupa-style: a temporary failure said inside an HTTP 200.
        Fault::Before => return status(500, "Internal Server Error", "Temporary error, try again"),
        Fault::TooMany => {
            return Resp::text(429, "text/plain", "Too Many Requests").with("Retry-After", "1")
        }
        Fault::Reset => return Resp::dropped(),
        _ => {}
    }
    let id = attr(&doc, header, id_attr).unwrap_or_default();
    let order = attr(&doc, "OrderReference", "orderID").unwrap_or_default();
    if order.is_empty() {
        return status(
            417,
            "Expectation Failed",
            "Invalid order reference: the document must reference a purchase order",
        );
    }
    let mut st = lock(&sb.coupa);
    if request == "InvoiceDetailRequest"
        && st.invoices.iter().any(|i| i["invoiceID"] == id.as_str())
    {
        let detail = format!("Duplicate invoice number {id}");
        st.answers.insert(payload_id, (417, detail.clone()));
        return status(417, "Expectation Failed", &detail);
    }
    let row = json!({id_attr: id, "orderID": order, "payloadID": payload_id});
    match request {
        "InvoiceDetailRequest" => st.invoices.push(row),
        "ShipNoticeRequest" => st.ship_notices.push(row),
        _ => st.confirmations.push(row),
    }
    st.answers.insert(payload_id, (200, String::new()));
    drop(st);
    match fault {
        Fault::AfterCommit => Resp::dropped(),
        Fault::Late => status(200, "OK", "").late(sb.slow()),
        _ => status(200, "OK", ""),
    }
}
