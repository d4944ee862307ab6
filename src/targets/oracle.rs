//! `oracle_fusion`: Fusion Applications REST (`/fscmRestApi/resources/11.13.18.05/`): payables
//! invoices, receipt requests from ship notices, and draft purchase orders (created, then
//! submitted with `action/submit`). Requests say `REST-Framework-Version: 4`,
//! so errors come as `o:errorDetails` (plain text and empty bodies are read too); basic
//! authentication or an OAuth2 bearer. Nothing there is an idempotency key for a create, so
//! every retry first looks the document up by its business key (`q=`) and takes the found id.
//! A receipt request is accepted with 201 and processed afterwards: one whose processing
//! failed (`ProcessingStatusCode` `ERROR`) is a rejection with its `processingErrors`.

use super::{Call, Reply, TokenCache};
use crate::config::Target;
use crate::delivery::Response;
use crate::store::DeliveryRow;
use serde_json::Value;

const ROOT: &str = "/fscmRestApi/resources/11.13.18.05";
const ITEM: &str = "application/vnd.oracle.adf.resourceitem+json";

/// A document kind: its resource, the fields of its business key, and its id field.
struct Resource {
    name: &'static str,
    key: [&'static str; 2],
    id: &'static str,
}

const INVOICES: Resource = Resource {
    name: "invoices",
    key: ["InvoiceNumber", "Supplier"],
    id: "InvoiceId",
};

const RECEIPTS: Resource = Resource {
    name: "receivingReceiptRequests",
    key: ["ShipmentNumber", "VendorName"],
    id: "HeaderInterfaceId",
};

/// Draft purchase orders carry no external reference of their own: the mapping writes the
/// partner's PO number into a `Description` of a fixed form, the key a retry looks it up by.
const DRAFT_ORDERS: Resource = Resource {
    name: "draftPurchaseOrders",
    key: ["Description", "Supplier"],
    id: "POHeaderId",
};

/// The resource of a schema.
fn resource(schema: &str) -> Option<&'static Resource> {
    match schema.split('/').next().unwrap_or("") {
        "invoice" => Some(&INVOICES),
        "ship_notice" => Some(&RECEIPTS),
        "purchase_order" => Some(&DRAFT_ORDERS),
        _ => None,
    }
}

pub struct Oracle {
    target: Target,
    tokens: TokenCache,
}

impl Oracle {
    pub fn new(t: &Target) -> Oracle {
        Oracle {
            target: t.clone(),
            tokens: TokenCache::new(),
        }
    }

    fn auth(&self, agent: &ureq::Agent) -> Result<String, Reply> {
        super::required_authorization(&self.target, &self.tokens, agent, "")
    }

    fn url(&self, resource: &str) -> String {
        format!(
            "{}{ROOT}/{resource}",
            self.target.base_url.trim_end_matches('/')
        )
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
        let r = resource(schema).ok_or_else(|| {
            Reply::refused(format!("oracle_fusion does not take {schema} records"))
        })?;
        let auth = self.auth(agent)?;
        if row.maybe_sent {
            let found = self.find(agent, &auth, r, body, None)?;
            if let Some(item) = found.filter(|i| id_of(&i[r.id]).is_some()) {
                let id = id_of(&item[r.id]).unwrap_or_default();
                if item["ProcessingStatusCode"] == "ERROR" {
                    // The earlier attempt's request was stored and failed in processing.
                    return Ok(self.failed_processing(agent, &auth, r, &id));
                }
                if r.name == DRAFT_ORDERS.name && item["Status"] == "INCOMPLETE" {
                    // Created, but its submission did not go through.
                    return self.submit(agent, &auth, &item);
                }
                return Ok(Reply::done(
                    200,
                    &format!("found by {} and {}: {id}", r.key[0], r.key[1]),
                    Some(system_id(&item).unwrap_or(id)),
                ));
            }
        }
        let mut call = Call::new("POST", self.url(r.name))
            .header("Authorization", auth.clone())
            .header("REST-Framework-Version", "4")
            .header("Accept", "application/json");
        call.body = Some(body.to_string().into_bytes());
        call = call.header("Content-Type", ITEM);
        let a = call.send(agent).map_err(Reply::failed)?;
        super::token_refused(&self.target, &self.tokens, &a)?;
        if a.is_html() {
            return Err(Reply::failed(format!(
                "answered HTTP {} with an HTML page",
                a.status
            )));
        }
        if !(200..300).contains(&a.status) {
            let text = error_text(&a.body);
            return Ok(Reply::of(a.response(text)));
        }
        let v = a.json().unwrap_or_default();
        let Some(id) = id_of(&v[r.id]) else {
            return Err(Reply::failed(format!(
                "HTTP {} without {} in the answer",
                a.status, r.id
            )));
        };
        if v["ProcessingStatusCode"] == "ERROR" {
            return Ok(self.failed_processing(agent, &auth, r, &id));
        }
        if r.name == DRAFT_ORDERS.name {
            return self.submit(agent, &auth, &v);
        }
        Ok(Reply::done(a.status, &a.body, Some(id)))
    }

    /// The item Fusion holds under the business key of the payload `body` (`q` on both key
    /// fields), with the child collection `expand` when asked: the one query behind the lookup
    /// before a retry and the read-back of reconciliation.
    fn find(
        &self,
        agent: &ureq::Agent,
        auth: &str,
        r: &Resource,
        body: &Value,
        expand: Option<&str>,
    ) -> Result<Option<Value>, Reply> {
        let field = |k: &str| -> Result<&str, Reply> {
            body[k]
                .as_str()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Reply::refused(format!("the payload has no {k}")))
        };
        let (number, supplier) = (field(r.key[0])?, field(r.key[1])?);
        let q = format!(
            "{}='{}' and {}='{}'",
            r.key[0],
            quote(number),
            r.key[1],
            quote(supplier)
        );
        let mut call = Call::new("GET", self.url(r.name))
            .query("q", q)
            .query("onlyData", "true");
        if let Some(e) = expand {
            call = call.query("expand", e);
        }
        let a = call
            .header("Authorization", auth.to_string())
            .header("REST-Framework-Version", "4")
            .header("Accept", "application/json")
            .send(agent)
            .map_err(|e| Reply::failed(format!("lookup by business key: {e}")))?;
        super::token_refused(&self.target, &self.tokens, &a)?;
        if a.status != 200 || a.is_html() {
            let text = format!("lookup by business key: {}", error_text(&a.body));
            return Err(if a.is_html() {
                Reply::failed(text)
            } else {
                Reply::of(a.response(text))
            });
        }
        Ok(a.json().unwrap_or_default()["items"]
            .as_array()
            .and_then(|i| i.first())
            .cloned())
    }

    /// What Fusion holds for the document the payload `body` names by business key, with its
    /// lines, for reconciliation: `None` when it holds nothing.
    pub fn read_back(
        &self,
        agent: &ureq::Agent,
        schema: &str,
        body: &Value,
    ) -> Result<Option<Value>, String> {
        let r = resource(schema).ok_or_else(|| format!("oracle_fusion does not take {schema}"))?;
        let auth = self.auth(agent).map_err(|r| r.text())?;
        let lines = if r.name == INVOICES.name {
            "invoiceLines"
        } else {
            "lines"
        };
        self.find(agent, &auth, r, body, Some(lines))
            .map_err(|r| r.text())
    }

    /// The rejection of a request accepted and then refused in processing, with its
    /// `processingErrors` (a child collection).
    fn failed_processing(&self, agent: &ureq::Agent, auth: &str, r: &Resource, id: &str) -> Reply {
        let errors = Call::new(
            "GET",
            format!("{}/{id}/child/processingErrors", self.url(r.name)),
        )
        .header("Authorization", auth.to_string())
        .header("REST-Framework-Version", "4")
        .header("Accept", "application/json")
        .send(agent);
        let items = match errors {
            Ok(a) if a.status == 200 => a.json().unwrap_or_default()["items"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            // Without its errors the rejection would say nothing: asked again later.
            Ok(a) => return Reply::failed(format!("processing errors of {id}: HTTP {}", a.status)),
            Err(e) => return Reply::failed(format!("processing errors of {id}: {e}")),
        };
        let text: Vec<String> = items
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["ErrorMessageName"].as_str().unwrap_or(""),
                    e["ErrorMessage"].as_str().unwrap_or("")
                )
            })
            .collect();
        Reply::of(Response::Status {
            status: 422,
            retry_after: None,
            body: format!(
                "{} {id} was accepted but failed in processing: {}",
                r.name,
                text.join("; ")
            ),
        })
    }

    /// Submits a draft purchase order for approval (`action/submit`): delivered with its order
    /// number once the action succeeds.
    fn submit(&self, agent: &ureq::Agent, auth: &str, draft: &Value) -> Result<Reply, Reply> {
        let id = id_of(&draft[DRAFT_ORDERS.id]).unwrap_or_default();
        let mut call = Call::new(
            "POST",
            format!("{}/{id}/action/submit", self.url(DRAFT_ORDERS.name)),
        )
        .header("Authorization", auth.to_string())
        .header("REST-Framework-Version", "4")
        .header("Accept", "application/json")
        .header("Content-Type", "application/vnd.oracle.adf.action+json");
        call.body = Some(b"{}".to_vec());
        let a = call
            .send(agent)
            .map_err(|e| Reply::failed(format!("submit of draft {id}: {e}")))?;
        super::token_refused(&self.target, &self.tokens, &a)?;
        if a.is_html() || !(200..300).contains(&a.status) {
            let text = format!("submit of draft {id}: {}", error_text(&a.body));
            return Err(if a.is_html() {
                Reply::failed(text)
            } else {
                Reply::of(a.response(text))
            });
        }
        Ok(Reply::done(
            a.status,
            &format!("draft {id} submitted: {}", a.body),
            system_id(draft).or(Some(id)),
        ))
    }
}

/// The id people use for a document: a draft's `OrderNumber`.
fn system_id(item: &Value) -> Option<String> {
    id_of(&item["OrderNumber"])
}

/// A `q` literal: single quotes doubled.
fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The system's message: `o:errorDetails` (framework 4), else the plain-text body, else the
/// status alone (a 500 often has no body).
fn error_text(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let details: Vec<String> = v["o:errorDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let code = d["o:errorCode"].as_str().unwrap_or("");
            let detail = d["detail"].as_str().unwrap_or("");
            if code.is_empty() {
                detail.to_string()
            } else {
                format!("{code}: {detail}")
            }
        })
        .collect();
    if !details.is_empty() {
        return details.join("; ");
    }
    if body.trim().is_empty() {
        return "(empty body)".into();
    }
    body.to_string()
}
