//! `dynamics365`: Finance & Operations OData V4 entities under `/data/`, with an Entra
//! client-credentials token (cached, refreshed before it expires and on 401). A vendor invoice
//! or a purchase order is a header, then its lines (each only once the header exists). Nothing there
//! honours an idempotency key: a retry first looks the header up by its business key (invoice
//! number and account; the partner's PO number as `VendorOrderReference` and the vendor), then
//! creates only the lines not yet there (each line's key is the header and its number).

use super::{odata_str, Answer, Call, Reply, TokenCache};
use crate::config::Target;
use crate::store::DeliveryRow;
use serde_json::Value;

/// A document kind as F&O entities: the header set and the fields of its business key, the
/// field the system numbers the header by (which the lines carry), and the line set with the
/// field that numbers a line under its header.
struct Entities {
    header: &'static str,
    key: [&'static str; 3],
    id: &'static str,
    lines: &'static str,
    line_number: &'static str,
}

const INVOICE: Entities = Entities {
    header: "VendorInvoiceHeaders",
    key: ["dataAreaId", "InvoiceNumber", "InvoiceAccount"],
    id: "HeaderReference",
    lines: "VendorInvoiceLines",
    line_number: "InvoiceLineNumber",
};

const PURCHASE_ORDER: Entities = Entities {
    header: "PurchaseOrderHeadersV2",
    key: [
        "dataAreaId",
        "VendorOrderReference",
        "OrderVendorAccountNumber",
    ],
    id: "PurchaseOrderNumber",
    lines: "PurchaseOrderLinesV2",
    line_number: "LineNumber",
};

/// The entities of a schema's documents.
fn entities(schema: &str) -> Option<&'static Entities> {
    match schema.split('/').next().unwrap_or("") {
        "invoice" => Some(&INVOICE),
        "purchase_order" => Some(&PURCHASE_ORDER),
        _ => None,
    }
}

/// The OData filter of a header's business key, from its three values.
fn key_filter(e: &Entities, values: [&str; 3]) -> String {
    e.key
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{k} eq {}", odata_str(v)))
        .collect::<Vec<_>>()
        .join(" and ")
}

pub struct D365 {
    target: Target,
    tokens: TokenCache,
}

impl D365 {
    pub fn new(t: &Target) -> D365 {
        D365 {
            target: t.clone(),
            tokens: TokenCache::new(),
        }
    }

    fn data(&self) -> String {
        format!("{}/data", self.target.base_url.trim_end_matches('/'))
    }

    /// `Bearer TOKEN` from the Entra token endpoint (the default scope is the environment's).
    fn token(&self, agent: &ureq::Agent) -> Result<String, Reply> {
        let scope = format!("{}/.default", self.target.base_url.trim_end_matches('/'));
        super::required_authorization(&self.target, &self.tokens, agent, &scope)
    }

    /// One call with the bearer token, fetched again when it was refused (401). A 401 that
    /// persists with fresh tokens is a failure to retry (tokens revoked meanwhile, an app not yet
    /// registered in F&O), ending as a dead letter if it lasts; a client the token endpoint
    /// refuses is a rejection (see [`TokenCache::get`]).
    fn call(&self, agent: &ureq::Agent, make: &dyn Fn() -> Call<'static>) -> Result<Answer, Reply> {
        for _ in 0..3 {
            let token = self.token(agent)?;
            let a = make()
                .header("Authorization", token)
                .header("Accept", "application/json")
                .header("OData-Version", "4.0")
                .send(agent)
                .map_err(Reply::failed)?;
            if a.status != 401 {
                return Ok(a);
            }
            self.tokens.clear();
        }
        Err(Reply::failed(
            "HTTP 401 with three fresh tokens: is the application registered in F&O?",
        ))
    }

    /// What F&O holds for the document `body` (its payload) names by business key: the
    /// header with its lines (`lines`, by line number), for reconciliation; `None` when it
    /// holds no such header.
    pub fn read_back(
        &self,
        agent: &ureq::Agent,
        schema: &str,
        body: &Value,
    ) -> Result<Option<Value>, String> {
        let e = entities(schema)
            .ok_or_else(|| format!("dynamics365 does not take {schema} records"))?;
        let header = &body["header"];
        let value = |i: usize| header[e.key[i]].as_str().unwrap_or("");
        let filter = key_filter(e, [value(0), value(1), value(2)]);
        let data = self.data();
        let get = |set: &str, filter: String| -> Result<Vec<Value>, String> {
            let url = format!("{data}/{set}");
            let a = self
                .call(agent, &|| {
                    Call::new("GET", url.clone())
                        .query("$filter", filter.clone())
                        .query("cross-company", "true")
                })
                .map_err(|r| r.text())?;
            if a.status != 200 {
                return Err(format!(
                    "read-back: HTTP {}: {}",
                    a.status,
                    error_text(&a.body)
                ));
            }
            Ok(a.json().unwrap_or_default()["value"]
                .as_array()
                .cloned()
                .unwrap_or_default())
        };
        let Some(mut found) = get(e.header, filter)?.into_iter().next() else {
            return Ok(None);
        };
        let reference = found[e.id].as_str().unwrap_or("").to_string();
        let area = found["dataAreaId"].as_str().unwrap_or("").to_string();
        let mut lines = get(
            e.lines,
            format!(
                "dataAreaId eq {} and {} eq {}",
                odata_str(&area),
                e.id,
                odata_str(&reference)
            ),
        )?;
        lines.sort_by_key(|l| l[e.line_number].as_i64().unwrap_or(0));
        found["lines"] = Value::Array(lines);
        Ok(Some(found))
    }

    pub fn send(&self, agent: &ureq::Agent, row: &DeliveryRow, body: &Value) -> Reply {
        match self.attempt(agent, row, body) {
            Ok(r) | Err(r) => r,
        }
    }

    fn attempt(
        &self,
        agent: &ureq::Agent,
        row: &DeliveryRow,
        body: &Value,
    ) -> Result<Reply, Reply> {
        let schema = super::schema_of(row);
        let schema = schema.as_str();
        let Some(e) = entities(schema) else {
            return Err(Reply::refused(format!(
                "dynamics365 does not take {schema} records"
            )));
        };
        let (header, lines) = (&body["header"], body["lines"].as_array());
        let field = |k: &str| -> Result<String, Reply> {
            header[k]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(String::from)
                .ok_or_else(|| Reply::refused(format!("the payload's header has no {k}")))
        };
        let (area, number, account) = (field(e.key[0])?, field(e.key[1])?, field(e.key[2])?);
        let data = self.data();
        // A retry may follow a header (and some lines) already created.
        let mut found = None;
        if row.maybe_sent {
            let filter = key_filter(e, [&area, &number, &account]);
            let url = format!("{data}/{}", e.header);
            let a = self.call(agent, &|| {
                Call::new("GET", url.clone())
                    .query("$filter", filter.clone())
                    .query("cross-company", "true")
            })?;
            if a.status != 200 {
                let text = format!("lookup before retry: {}", error_text(&a.body));
                return Err(Reply::of(a.response(text)));
            }
            found = a.json().unwrap_or_default()["value"]
                .as_array()
                .and_then(|v| v.first())
                .and_then(|h| h[e.id].as_str())
                .map(String::from);
        }
        let reference = match found.clone() {
            Some(r) => r,
            None => {
                let url = format!("{data}/{}", e.header);
                let a = self.call(agent, &|| Call::new("POST", url.clone()).json(header))?;
                if !(200..300).contains(&a.status) {
                    let text = error_text(&a.body);
                    return Err(Reply::of(a.response(text)));
                }
                match a.json().unwrap_or_default()[e.id].as_str() {
                    Some(r) => r.to_string(),
                    None => {
                        return Err(Reply::failed(format!(
                            "HTTP {} without {} in the answer",
                            a.status, e.id
                        )))
                    }
                }
            }
        };
        for line in lines.into_iter().flatten() {
            let mut line = line.clone();
            line["dataAreaId"] = Value::from(area.clone());
            line[e.id] = Value::from(reference.clone());
            let n = line[e.line_number].clone();
            if found.is_some() {
                let key = format!(
                    "{data}/{}(dataAreaId={},{}={},{}={})",
                    e.lines,
                    odata_str(&area),
                    e.id,
                    odata_str(&reference),
                    e.line_number,
                    n
                );
                let a = self.call(agent, &|| Call::new("GET", key.clone()))?;
                match a.status {
                    200 => continue,
                    404 => {}
                    _ => {
                        let text = format!("line lookup: {}", error_text(&a.body));
                        return Err(Reply::of(a.response(text)));
                    }
                }
            }
            let url = format!("{data}/{}", e.lines);
            let a = self.call(agent, &|| Call::new("POST", url.clone()).json(&line))?;
            if !(200..300).contains(&a.status) {
                // The header stays; the retry looks it up and adds what is missing. A business
                // refusal of a line holds the whole invoice for the operator.
                let text = format!("line {n} of header {reference}: {}", error_text(&a.body));
                return Err(Reply::of(a.response(text)));
            }
        }
        let how = if found.is_some() {
            "header found by its business key"
        } else {
            "created"
        };
        Ok(Reply::done(
            201,
            &format!("{how}: {reference}"),
            Some(reference),
        ))
    }
}

/// The system's message from an F&O error body: the code is often empty, the infolog sits in
/// `innererror.message`.
fn error_text(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let e = &v["error"];
    match (e["message"].as_str(), e["innererror"]["message"].as_str()) {
        (_, Some(inner)) => inner.to_string(),
        (Some(m), None) => m.to_string(),
        _ => body.to_string(),
    }
}
