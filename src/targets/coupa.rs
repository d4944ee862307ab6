//! `coupa_cxml`: cXML over HTTP to Coupa: invoices (`/cxml/invoices`), ship notices
//! (`/cxml/ship_notice_request`) and order confirmations (the tenant's confirmation URL,
//! `values.confirmation_path`). The outcome is the cXML
//! `Status@code` in the body, whatever the HTTP status (Coupa answers 200 with a 4xx code):
//! 2xx delivered, 5xx retried, 4xx rejected with the status text. The `payloadID` is the
//! record's identity, so a resent document is the same document; a duplicate-invoice 417 on a
//! retry whose first attempt may have been stored is our own invoice: delivered.

use super::{need, Call, Reply};
use crate::config::Target;
use crate::delivery::Response;
use crate::store::DeliveryRow;
use serde_json::Value;

pub struct Coupa {
    target: Target,
}

/// `code` and `text` of the first `<Status ...>` in a cXML body, and its content.
pub fn status_of(body: &str) -> Option<(u16, String, String)> {
    let start = body.find("<Status")?;
    let rest = &body[start..];
    let end = rest.find('>')?;
    let tag = &rest[..end];
    let attr = |name: &str| -> Option<String> {
        let i = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let j = tag[i..].find('"')? + i;
        Some(unescape(&tag[i..j]))
    };
    let code = attr("code")?.parse().ok()?;
    let content = if tag.ends_with('/') {
        String::new()
    } else {
        let after = &rest[end + 1..];
        unescape(after.split("</Status>").next().unwrap_or("").trim())
    };
    Some((code, attr("text").unwrap_or_default(), content))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl Coupa {
    pub fn new(t: &Target) -> Coupa {
        Coupa { target: t.clone() }
    }

    pub fn send(&self, agent: &ureq::Agent, row: &DeliveryRow, tree: &Value) -> Reply {
        let t = &self.target;
        let env: Value = serde_json::from_slice(&row.payload).unwrap_or_default();
        let schema = env["schema"].as_str().unwrap_or("");
        // Where each document goes, and the header element and attribute naming it.
        let (path, header, id_attr) = match schema.split('/').next().unwrap_or("") {
            "invoice" => ("/cxml/invoices", "InvoiceDetailRequestHeader", "invoiceID"),
            "ship_notice" => (
                "/cxml/ship_notice_request",
                "ShipNoticeHeader",
                "shipmentID",
            ),
            "po_acknowledgement" => (
                t.values
                    .get("confirmation_path")
                    .map_or("/cxml/order_confirmations", String::as_str),
                "ConfirmationHeader",
                "confirmID",
            ),
            _ => return Reply::refused(format!("coupa_cxml does not take {schema} records")),
        };
        let secret = match need(
            "shared_secret",
            t,
            &t.shared_secret_env,
            &t.shared_secret_file,
        ) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let (Some(from), Some(to)) = (t.values.get("from"), t.values.get("to")) else {
            return Reply::refused(format!(
                "target {}: values.from and values.to (domain:identity) are needed for the cXML header",
                t.name
            ));
        };
        let payload_id = format!("{}@edigate", env["id"].as_str().unwrap_or(""));
        let envelope = crate::outbound::Envelope {
            payload_id: &payload_id,
            from,
            to,
            secret: Some(&secret),
            test: t.values.get("deployment_mode").is_some_and(|m| m == "test"),
        };
        let doc = match crate::outbound::cxml_document(&envelope, tree, crate::util::Utc::now()) {
            Ok(d) => d,
            Err(e) => return Reply::refused(format!("cXML of the payload mapping: {e}")),
        };
        let mut call = Call::new(
            "POST",
            format!("{}{path}", t.base_url.trim_end_matches('/')),
        )
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("Accept", "text/xml");
        call.body = Some(doc);
        let a = match call.send(agent) {
            Ok(a) => a,
            Err(e) => return Reply::failed(e),
        };
        if a.status >= 300 {
            let body = a.body.clone();
            return Reply::of(a.response(body));
        }
        let Some((code, text, detail)) = status_of(&a.body) else {
            return Reply::failed(format!("HTTP {} without a cXML Status", a.status));
        };
        let said = if detail.is_empty() {
            format!("cXML {code} {text}")
        } else {
            format!("cXML {code} {text}: {detail}")
        };
        let invoice = tree_id(tree, header, id_attr);
        match code {
            200..=299 => Reply::done(code, &said, invoice),
            417 if row.maybe_sent && said.to_ascii_lowercase().contains("duplicate") => {
                Reply::done(
                    200,
                    &format!("already received (our earlier attempt): {said}"),
                    invoice,
                )
            }
            _ => Reply::of(Response::Status {
                status: code,
                retry_after: None,
                body: said,
            }),
        }
    }
}

/// The document's own id: attribute `attr` of the `header` element in the mapping's tree.
fn tree_id(tree: &Value, header: &str, attr: &str) -> Option<String> {
    let arr = tree.as_array()?;
    arr.iter().skip(2).find_map(|c| {
        let c = c.as_array()?;
        (c.first()?.as_str()? == header)
            .then(|| c.get(1)?.get(attr)?.as_str().map(String::from))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cxml_status_decides_not_the_http_status() {
        let body = r#"<cXML><Response><Status code="417" text="Expectation Failed">Duplicate invoice &amp; more</Status></Response></cXML>"#;
        assert_eq!(
            status_of(body),
            Some((
                417,
                "Expectation Failed".into(),
                "Duplicate invoice & more".into()
            ))
        );
        assert_eq!(
            status_of(r#"<Status code="200" text="OK"/>"#),
            Some((200, "OK".into(), String::new()))
        );
        assert_eq!(status_of("<html>"), None);
    }
}
