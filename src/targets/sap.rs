//! `sap_s4hana`: OData V2 A2X services. Each change fetches a CSRF token first (bound to the
//! session cookies it came with) and fetches it again once on `403 x-csrf-token: Required`;
//! answers must be JSON (`Accept: application/json`): an HTML page (a login page) is a failure.
//! The A2X services honour no idempotency key, so every retry first looks the document up by
//! its business key and, when it is there, takes the found id instead of creating another.

use super::{odata_str, Call, Reply, TokenCache};
use crate::config::Target;
use crate::store::DeliveryRow;
use serde_json::Value;
use std::sync::Mutex;

/// The business partner service, where suppliers are looked up.
const SUPPLIERS: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER";

/// Where a document kind goes: service, entity set, the fields of its business key, and how
/// the system's id is read from an entity.
struct Service {
    path: &'static str,
    set: &'static str,
    key: &'static [&'static str],
    id: fn(&Value) -> Option<String>,
    /// The navigation property of its items, for a read-back.
    items: Option<&'static str>,
}

const INVOICE: Service = Service {
    path: "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV",
    set: "A_SupplierInvoice",
    key: &["InvoicingParty", "SupplierInvoiceIDByInvcgParty"],
    id: |e| {
        Some(format!(
            "{}/{}",
            e["SupplierInvoice"].as_str()?,
            e["FiscalYear"].as_str()?
        ))
    },
    items: Some("to_SuplrInvcItemPurOrdRef"),
};

const PURCHASE_ORDER: Service = Service {
    path: "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV",
    set: "A_PurchaseOrder",
    key: &["Supplier", "CorrespncExternalReference"],
    id: |e| e["PurchaseOrder"].as_str().map(String::from),
    items: Some("to_PurchaseOrderItem"),
};

const GOODS_RECEIPT: Service = Service {
    path: "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV",
    set: "A_MaterialDocumentHeader",
    key: &["ReferenceDocument"],
    id: |e| {
        Some(format!(
            "{}/{}",
            e["MaterialDocument"].as_str()?,
            e["MaterialDocumentYear"].as_str()?
        ))
    },
    items: Some("to_MaterialDocumentItem"),
};

/// The service of a schema: invoices, purchase orders, and goods receipts (posted from ship
/// notices or receipts).
fn service(schema: &str) -> Option<&'static Service> {
    match schema.split('/').next()? {
        "invoice" => Some(&INVOICE),
        "purchase_order" => Some(&PURCHASE_ORDER),
        "ship_notice" | "goods_receipt" => Some(&GOODS_RECEIPT),
        _ => None,
    }
}

/// A CSRF token with the session cookies it belongs to.
#[derive(Clone)]
struct Csrf {
    token: String,
    cookies: String,
}

pub struct Sap {
    target: Target,
    csrf: Mutex<Option<Csrf>>,
    tokens: TokenCache,
}

impl Sap {
    pub fn new(t: &Target) -> Sap {
        Sap {
            target: t.clone(),
            csrf: Mutex::new(None),
            tokens: TokenCache::new(),
        }
    }

    /// The `Authorization` header: OAuth2 client credentials when a token URL is set, else
    /// basic authentication of the communication user.
    fn auth(&self, agent: &ureq::Agent) -> Result<String, Reply> {
        super::required_authorization(&self.target, &self.tokens, agent, "")
    }

    /// A 401 while an OAuth2 token is used: the token was refused (expired or revoked), so it
    /// is forgotten and the attempt fails, to be retried with a new one.
    fn token_refused(&self, a: &super::Answer) -> Result<(), Reply> {
        super::token_refused(&self.target, &self.tokens, a)
    }

    fn root(&self, svc: &Service) -> String {
        format!("{}{}", self.target.base_url.trim_end_matches('/'), svc.path)
    }

    /// Fetches a CSRF token and its session cookies.
    fn fetch_csrf(&self, agent: &ureq::Agent, auth: &str, svc: &Service) -> Result<Csrf, Reply> {
        let a = Call::new("GET", format!("{}/", self.root(svc)))
            .header("Authorization", auth)
            .header("X-CSRF-Token", "Fetch")
            .header("Accept", "application/json")
            .send(agent)
            .map_err(|e| Reply::failed(format!("CSRF token fetch: {e}")))?;
        self.token_refused(&a)?;
        if a.is_html() {
            return Err(Reply::failed(format!(
                "CSRF token fetch answered HTTP {} with an HTML page (a login page: is the user a communication user?)",
                a.status
            )));
        }
        let token = a.header("x-csrf-token").unwrap_or("");
        if a.status != 200 || token.is_empty() || token.eq_ignore_ascii_case("required") {
            let body = format!("CSRF token fetch: {}", a.body);
            return Err(Reply::of(a.response(body)));
        }
        let cookies = a
            .all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Csrf {
            token: token.to_string(),
            cookies,
        })
    }

    /// Looks the document up by its business key: its id when it exists.
    fn lookup(
        &self,
        agent: &ureq::Agent,
        auth: &str,
        svc: &Service,
        body: &Value,
    ) -> Result<Option<String>, Reply> {
        Ok(self
            .find(agent, auth, svc, body, false)?
            .as_ref()
            .and_then(svc.id))
    }

    /// The entity the system holds under the business key of the payload `body`, with its
    /// items when `expand` (`$expand`): the one query behind the lookup before a retry and
    /// the read-back of reconciliation.
    fn find(
        &self,
        agent: &ureq::Agent,
        auth: &str,
        svc: &Service,
        body: &Value,
        expand: bool,
    ) -> Result<Option<Value>, Reply> {
        let mut filter = Vec::new();
        for k in svc.key {
            let Some(v) = body[*k].as_str().filter(|v| !v.is_empty()) else {
                return Err(Reply::refused(format!(
                    "the payload has no {k}: the document cannot be looked up, so it is not sent"
                )));
            };
            filter.push(format!("{k} eq {}", odata_str(v)));
        }
        let mut call = Call::new("GET", format!("{}/{}", self.root(svc), svc.set))
            .query("$filter", filter.join(" and "))
            .query("$format", "json")
            .header("Authorization", auth)
            .header("Accept", "application/json");
        if let Some(items) = svc.items.filter(|_| expand) {
            call = call.query("$expand", items);
        }
        let a = call
            .send(agent)
            .map_err(|e| Reply::failed(format!("lookup by business key: {e}")))?;
        self.token_refused(&a)?;
        if a.is_html() {
            return Err(Reply::failed(
                "lookup by business key answered with an HTML page",
            ));
        }
        if a.status != 200 {
            let text = format!("lookup by business key: {}", error_text(&a.body));
            return Err(Reply::of(a.response(text)));
        }
        Ok(a.json().unwrap_or_default()["d"]["results"]
            .as_array()
            .and_then(|r| r.first())
            .cloned())
    }

    /// The entity with these key values, if the system holds it.
    fn by_keys(
        &self,
        agent: &ureq::Agent,
        auth: &str,
        svc: &Service,
        keys: &[(&str, &str)],
    ) -> Result<Option<Value>, Reply> {
        let filter: Vec<String> = keys
            .iter()
            .map(|(k, v)| format!("{k} eq {}", odata_str(v)))
            .collect();
        let a = Call::new("GET", format!("{}/{}", self.root(svc), svc.set))
            .query("$filter", filter.join(" and "))
            .query("$format", "json")
            .header("Authorization", auth.to_string())
            .header("Accept", "application/json")
            .send(agent)
            .map_err(|e| Reply::failed(format!("lookup by key: {e}")))?;
        self.token_refused(&a)?;
        if a.status != 200 || a.is_html() {
            return Err(Reply::failed(format!(
                "lookup by key: HTTP {}: {}",
                a.status,
                error_text(&a.body)
            )));
        }
        Ok(a.json().unwrap_or_default()["d"]["results"]
            .as_array()
            .and_then(|r| r.first())
            .cloned())
    }

    /// What the system holds for the document `body` (its payload) names by business key,
    /// with its items, for reconciliation: `None` when it holds nothing.
    pub fn read_back(
        &self,
        agent: &ureq::Agent,
        schema: &str,
        body: &Value,
    ) -> Result<Option<Value>, String> {
        let svc = service(schema).ok_or_else(|| format!("sap_s4hana does not take {schema}"))?;
        let auth = self.auth(agent).map_err(|r| r.text())?;
        self.find(agent, &auth, svc, body, true)
            .map_err(|r| r.text())
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
        let svc = service(schema)
            .ok_or_else(|| Reply::refused(format!("sap_s4hana does not take {schema} records")))?;
        let auth = self.auth(agent)?;
        // An earlier attempt may have created it (a timeout, a reset, a 5xx after the body
        // was sent): never create a second document.
        if row.maybe_sent {
            if let Some(id) = self.lookup(agent, &auth, svc, body)? {
                return Ok(Reply::done(
                    200,
                    &format!("found by business key: {id}"),
                    Some(id),
                ));
            }
        }
        let url = format!("{}/{}", self.root(svc), svc.set);
        let a = self.change(agent, &auth, svc, "POST", url, Some(body))?;
        if (200..300).contains(&a.status) {
            let v = a.json().unwrap_or_default();
            let id = (svc.id)(&v["d"]);
            if id.is_none() {
                return Err(Reply::failed(format!(
                    "HTTP {} without the document's id in the answer",
                    a.status
                )));
            }
            return Ok(Reply::done(a.status, &a.body, id));
        }
        let text = error_text(&a.body);
        Ok(Reply::of(a.response(text)))
    }

    /// One modifying request (`POST`, `DELETE`) with the session's CSRF token, fetched first
    /// and once more on `403 x-csrf-token: Required`. An HTML answer is a failure.
    fn change(
        &self,
        agent: &ureq::Agent,
        auth: &str,
        svc: &Service,
        method: &'static str,
        url: String,
        body: Option<&Value>,
    ) -> Result<super::Answer, Reply> {
        let mut refetched = false;
        loop {
            let cached = self.csrf.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let csrf = match cached {
                Some(c) => c,
                None => {
                    let c = self.fetch_csrf(agent, auth, svc)?;
                    *self.csrf.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                    c
                }
            };
            let mut call = Call::new(method, url.clone())
                .header("Authorization", auth.to_string())
                .header("X-CSRF-Token", csrf.token.clone())
                .header("Cookie", csrf.cookies.clone())
                .header("Accept", "application/json");
            if let Some(b) = body {
                call = call.json(b);
            }
            let a = call.send(agent).map_err(Reply::failed)?;
            self.token_refused(&a)?;
            if a.status == 403
                && a.header("x-csrf-token")
                    .is_some_and(|v| v.eq_ignore_ascii_case("required"))
            {
                *self.csrf.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if !refetched {
                    refetched = true;
                    continue;
                }
                // Refused again with a fresh token (sessions dropped meanwhile): retried
                // later, never a rejection of the document.
                return Err(Reply::failed(
                    "CSRF token refused twice (x-csrf-token: Required)",
                ));
            }
            if a.is_html() {
                return Err(Reply::failed(format!(
                    "answered HTTP {} with an HTML page instead of JSON (a login page?)",
                    a.status
                )));
            }
            return Ok(a);
        }
    }

    /// Whether the supplier `id` exists (`API_BUSINESS_PARTNER`, `A_Supplier`).
    pub fn supplier_exists(&self, agent: &ureq::Agent, id: &str) -> Result<bool, Reply> {
        let auth = self.auth(agent)?;
        let a = Call::new(
            "GET",
            format!(
                "{}{SUPPLIERS}/A_Supplier({})",
                self.target.base_url.trim_end_matches('/'),
                odata_str(id)
            ),
        )
        .query("$format", "json")
        .header("Authorization", auth)
        .header("Accept", "application/json")
        .send(agent)
        .map_err(|e| Reply::failed(format!("supplier lookup: {e}")))?;
        self.token_refused(&a)?;
        if a.is_html() {
            return Err(Reply::failed("supplier lookup answered with an HTML page"));
        }
        match a.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => {
                let text = format!("supplier lookup: {}", error_text(&a.body));
                Err(Reply::of(a.response(text)))
            }
        }
    }

    /// Undoes the document `system_id` created for a `schema` record: a purchase order is
    /// deleted (SAP sets its deletion indicator), an invoice or a material document is
    /// reversed by the `Cancel` function import. Ok with what the system answered.
    pub fn cancel(
        &self,
        agent: &ureq::Agent,
        schema: &str,
        system_id: &str,
        today: &str,
    ) -> Result<String, Reply> {
        let svc = service(schema)
            .ok_or_else(|| Reply::refused(format!("sap_s4hana does not take {schema} records")))?;
        let auth = self.auth(agent)?;
        let (number, year) = system_id.split_once('/').unwrap_or((system_id, ""));
        // Cancelling twice (a retry after a crash between the call and its record) must not
        // fail: what the system already shows as cancelled, or no longer holds, is done.
        let keys: Vec<(&str, &str)> = match svc.set {
            "A_PurchaseOrder" => vec![("PurchaseOrder", number)],
            "A_SupplierInvoice" => vec![("SupplierInvoice", number), ("FiscalYear", year)],
            _ => vec![],
        };
        if !keys.is_empty() {
            match self.by_keys(agent, &auth, svc, &keys)? {
                None => {
                    return Ok(format!(
                        "{} {system_id} is not held: nothing to cancel",
                        svc.set
                    ))
                }
                Some(e)
                    if e["PurchasingDocumentDeletionCode"] == "L"
                        || e["ReverseDocument"].as_str().is_some_and(|r| !r.is_empty()) =>
                {
                    return Ok(format!("{} {system_id} was cancelled already", svc.set));
                }
                Some(_) => {}
            }
        }
        let date = format!("datetime'{today}T00:00:00'");
        let root = self.root(svc);
        let (method, url) = match svc.set {
            "A_PurchaseOrder" => ("DELETE", format!("{root}/A_PurchaseOrder({})", odata_str(number))),
            "A_SupplierInvoice" => (
                "POST",
                format!(
                    "{root}/Cancel?PostingDate={}&ReversalReason={}&FiscalYear={}&SupplierInvoice={}",
                    super::encode(&date),
                    super::encode("'01'"),
                    super::encode(&odata_str(year)),
                    super::encode(&odata_str(number))
                ),
            ),
            _ => (
                "POST",
                format!(
                    "{root}/Cancel?MaterialDocumentYear={}&MaterialDocument={}&PostingDate={}",
                    super::encode(&odata_str(year)),
                    super::encode(&odata_str(number)),
                    super::encode(&date)
                ),
            ),
        };
        let a = self.change(agent, &auth, svc, method, url, None)?;
        if (200..300).contains(&a.status) {
            return Ok(format!(
                "HTTP {}: {} {system_id} cancelled",
                a.status, svc.set
            ));
        }
        let text = error_text(&a.body);
        Err(Reply::of(a.response(text)))
    }
}

/// The system's message from an OData V2 error body (`code: message`), else the body.
pub(super) fn error_text(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let e = &v["error"];
    let message = e["message"]["value"]
        .as_str()
        .or_else(|| e["message"].as_str());
    match message {
        Some(m) => {
            let details: Vec<String> = e["innererror"]["errordetails"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["message"].as_str())
                .filter(|d| *d != m)
                .map(String::from)
                .collect();
            let mut text = format!("{}: {m}", e["code"].as_str().unwrap_or(""));
            if !details.is_empty() {
                text.push_str(&format!(" ({})", details.join("; ")));
            }
            text
        }
        None => body.to_string(),
    }
}
