//! The SAP S/4HANA simulator: OData V2 services for supplier invoices
//! (`API_SUPPLIERINVOICE_PROCESS_SRV`), purchase orders (`API_PURCHASEORDER_PROCESS_SRV`) and
//! goods receipts (`API_MATERIAL_DOCUMENT_SRV`), with basic authentication of a communication
//! user, CSRF tokens bound to a session cookie, V2 JSON only when asked for (Atom otherwise),
//! number ranges (`51056xxxxx`, `45000xxxxx`, `50000xxxxx`, with the year where SAP keys by it),
//! the duplicate-invoice check, suppliers of the demo range `1730xxxx` only, the material
//! document's reference-type rule, and V2 error bodies.

use super::{equalities, lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};
use std::collections::HashMap;

const COOKIE: &str = "SAP_SESSIONID_SBX_100";
const INVOICES: &str = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV";
const ORDERS: &str = "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV";
const MATERIAL_DOCS: &str = "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV";
const PARTNERS: &str = "/sap/opu/odata/sap/API_BUSINESS_PARTNER";

/// The entity set each service creates.
fn entity_set(service: &str) -> &'static str {
    match service {
        INVOICES => "A_SupplierInvoice",
        ORDERS => "A_PurchaseOrder",
        _ => "A_MaterialDocumentHeader",
    }
}

#[derive(Default)]
pub struct State {
    /// CSRF token per session id.
    sessions: HashMap<String, String>,
    /// Created entities per entity set.
    sets: HashMap<&'static str, Vec<Value>>,
    next: HashMap<&'static str, u64>,
    serial: u64,
}

impl State {
    pub fn records(&self) -> Value {
        let mut v = json!({});
        for set in [
            "A_SupplierInvoice",
            "A_PurchaseOrder",
            "A_MaterialDocumentHeader",
        ] {
            v[set] = json!(self.sets.get(set).cloned().unwrap_or_default());
        }
        v
    }

    fn token(&mut self) -> String {
        self.serial += 1;
        format!(
            "{:016x}{:08x}",
            self.serial.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.serial
        )
    }

    fn number(&mut self, set: &'static str) -> u64 {
        let n = self.next.entry(set).or_default();
        *n += 1;
        *n
    }
}

fn error_with(status: u16, service: &str, errors: &[(&str, &str)]) -> Resp {
    let (code, message) = errors[0];
    let details: Vec<Value> = errors
        .iter()
        .map(|(c, m)| json!({"code": c, "message": m, "propertyref": "", "severity": "error", "target": ""}))
        .collect();
    Resp::json(
        status,
        &json!({"error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "application": {"component_id": "SBX", "service_namespace": "/SAP/",
                                "service_id": service.rsplit('/').next().unwrap_or(""), "service_version": "0001"},
                "errordetails": details
            }
        }}),
    )
}

fn error(status: u16, code: &str, message: &str) -> Resp {
    error_with(status, INVOICES, &[(code, message)])
}

fn wants_json(req: &Req) -> bool {
    req.header("accept").is_some_and(|a| a.contains("json"))
        || req.query.get("$format").is_some_and(|f| f == "json")
}

/// `/Date(ms)/` to the year it falls in.
fn year_of(v: &Value) -> Option<i64> {
    let ms: i64 = v
        .as_str()?
        .strip_prefix("/Date(")?
        .strip_suffix(")/")?
        .parse()
        .ok()?;
    Some(crate::util::civil_from_days(ms.div_euclid(86_400_000)).0)
}

fn decimal(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| crate::canonical::Decimal::parse(s).is_some())
}

fn known_supplier(s: &str) -> bool {
    s.len() == 8 && s.starts_with("1730") && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    let Some((service, rest)) = [INVOICES, ORDERS, MATERIAL_DOCS, PARTNERS]
        .iter()
        .find_map(|s| req.path.strip_prefix(s).map(|r| (*s, r)))
    else {
        return error(
            404,
            "/IWFND/MED/170",
            "No service found for namespace '/SAP/'",
        );
    };
    // The communication user, or an OAuth2 client-credentials token of the sandbox's token
    // endpoint (the one its Dynamics 365 uses too).
    let authorized = req
        .basic()
        .is_some_and(|(u, p)| u == sb.accounts.sap_user && p == sb.accounts.sap_password)
        || req
            .bearer()
            .is_some_and(|t| super::d365::token_valid(sb, t));
    if !authorized {
        return Resp::text(401, "text/plain", "Logon failed").with(
            "WWW-Authenticate",
            "Basic realm=\"SAP NetWeaver Application Server [SBX/100]\"",
        );
    }
    let json_out = wants_json(req);
    if service == PARTNERS {
        return supplier(rest);
    }
    let set = entity_set(service);
    match (req.method.as_str(), rest.trim_start_matches('/')) {
        ("GET" | "HEAD", "" | "$metadata") => {
            let mut resp = if rest.ends_with("$metadata") {
                Resp::text(200, "application/xml", METADATA)
            } else {
                Resp::json(200, &json!({"d": {"EntitySets": [set]}}))
            };
            if req
                .header("x-csrf-token")
                .is_some_and(|v| v.eq_ignore_ascii_case("fetch"))
            {
                let mut st = lock(&sb.sap);
                let sid = match req.cookie(COOKIE).filter(|s| st.sessions.contains_key(s)) {
                    Some(s) => s,
                    None => st.token(),
                };
                let token = st.token();
                st.sessions.insert(sid.clone(), token.clone());
                resp = resp
                    .with("x-csrf-token", token)
                    .with("Set-Cookie", format!("{COOKIE}={sid}; path=/; HttpOnly"))
                    .with("Set-Cookie", "sap-usercontext=sap-client=100; path=/");
            }
            resp
        }
        ("GET", s) if s == set => {
            let eqs = match req.query.get("$filter") {
                Some(f) => match equalities(f) {
                    Some(e) => e,
                    None => {
                        return error(
                            400,
                            "/IWBEP/CM_MGW_RT/022",
                            "System query option '$filter' is not supported in this form",
                        )
                    }
                },
                None => Vec::new(),
            };
            let st = lock(&sb.sap);
            let found: Vec<Value> = st
                .sets
                .get(set)
                .into_iter()
                .flatten()
                .filter(|i| eqs.iter().all(|(k, v)| i[k].as_str() == Some(v.as_str())))
                .cloned()
                .collect();
            list(&found, json_out)
        }
        ("POST", s) if s == set => create(sb, req, service, json_out),
        ("POST", "Cancel") if service != ORDERS => cancel(sb, req, service),
        ("DELETE", s) if service == ORDERS && s.starts_with("A_PurchaseOrder('") => {
            cancel(sb, req, service)
        }
        ("POST" | "GET", other) => error(
            404,
            "/IWBEP/CM_MGW_RT/021",
            &format!("Resource not found for segment '{other}'"),
        ),
        _ => error(405, "/IWBEP/CM_MGW_RT/004", "Method not allowed"),
    }
}

/// `A_Supplier('ID')` of the business partner service: the demo range exists, nothing else.
fn supplier(rest: &str) -> Resp {
    let id = rest
        .trim_start_matches('/')
        .strip_prefix("A_Supplier('")
        .and_then(|r| r.strip_suffix("')"));
    match id {
        Some(id) if known_supplier(id) => Resp::json(
            200,
            &json!({"d": {"Supplier": id, "SupplierName": format!("Sandbox supplier {id}")}}),
        ),
        Some(_) => error_with(
            404,
            PARTNERS,
            &[(
                "/IWBEP/CM_MGW_RT/020",
                "Resource not found for segment 'A_Supplier'",
            )],
        ),
        None => error_with(
            404,
            PARTNERS,
            &[(
                "/IWBEP/CM_MGW_RT/021",
                &format!("Resource not found for segment '{rest}'"),
            )],
        ),
    }
}

/// Undoes a document, as the system does: a purchase order gets its deletion indicator
/// (`DELETE A_PurchaseOrder('N')`), an invoice or a material document is reversed (`Cancel`
/// function import). The CSRF token is checked as for a create.
fn cancel(sb: &Sandbox, req: &Req, service: &str) -> Resp {
    let valid = {
        let st = lock(&sb.sap);
        match (req.cookie(COOKIE), req.header("x-csrf-token")) {
            (Some(sid), Some(tok)) => st.sessions.get(&sid).is_some_and(|t| t == tok),
            _ => false,
        }
    };
    if !valid {
        return Resp::text(403, "text/plain", "CSRF token validation failed")
            .with("x-csrf-token", "Required");
    }
    let unquote = |v: Option<&String>| {
        v.map(|v| v.trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    let (set, keys): (&str, Vec<(&str, String)>) = match service {
        ORDERS => {
            let n = req
                .path
                .rsplit("A_PurchaseOrder('")
                .next()
                .unwrap_or("")
                .trim_end_matches("')");
            ("A_PurchaseOrder", vec![("PurchaseOrder", n.to_string())])
        }
        INVOICES => (
            "A_SupplierInvoice",
            vec![
                ("SupplierInvoice", unquote(req.query.get("SupplierInvoice"))),
                ("FiscalYear", unquote(req.query.get("FiscalYear"))),
            ],
        ),
        _ => (
            "A_MaterialDocumentHeader",
            vec![
                (
                    "MaterialDocument",
                    unquote(req.query.get("MaterialDocument")),
                ),
                (
                    "MaterialDocumentYear",
                    unquote(req.query.get("MaterialDocumentYear")),
                ),
            ],
        ),
    };
    let mut st = lock(&sb.sap);
    let found = st
        .sets
        .get_mut(set)
        .into_iter()
        .flatten()
        .find(|e| keys.iter().all(|(k, v)| e[*k].as_str() == Some(v.as_str())));
    let Some(e) = found else {
        return error_with(
            404,
            service,
            &[("/IWBEP/CM_MGW_RT/020", "Resource not found")],
        );
    };
    if set == "A_PurchaseOrder" {
        if e["PurchasingDocumentDeletionCode"] == "L" {
            return error_with(
                400,
                service,
                &[("06/019", "Purchase order is already flagged for deletion")],
            );
        }
        e["PurchasingDocumentDeletionCode"] = json!("L");
        return Resp::text(204, "application/json", "");
    }
    if e["ReverseDocument"].as_str().is_some_and(|r| !r.is_empty()) {
        return error_with(
            400,
            service,
            &[("M8/501", "Document has already been reversed")],
        );
    }
    e["ReverseDocument"] = json!(format!("R{}", keys[0].1));
    Resp::json(200, &json!({"d": {"Cancel": {"Success": true}}}))
}

fn list(items: &[Value], json_out: bool) -> Resp {
    if json_out {
        Resp::json(200, &json!({"d": {"results": items}}))
    } else {
        Resp::text(
            200,
            "application/atom+xml",
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"/>",
        )
    }
}

/// Checks a new entity and gives it its keys, or the error SAP would answer.
fn admit(st: &mut State, service: &str, body: &Value) -> Result<Value, Resp> {
    let need = |keys: &[&str]| -> Result<(), Resp> {
        for k in keys {
            if body[*k].as_str().is_none_or(str::is_empty) {
                return Err(error_with(
                    400,
                    service,
                    &[("M8/021", &format!("Enter a value in field {k}"))],
                ));
            }
        }
        Ok(())
    };
    let mut e = body.clone();
    match service {
        INVOICES => {
            need(&[
                "CompanyCode",
                "DocumentDate",
                "PostingDate",
                "SupplierInvoiceIDByInvcgParty",
                "InvoicingParty",
                "DocumentCurrency",
                "InvoiceGrossAmount",
            ])?;
            let Some(year) = year_of(&body["DocumentDate"]) else {
                return Err(error(
                    400,
                    "/IWBEP/CM_MGW_RT/009",
                    "Property 'DocumentDate' has an invalid value (expected /Date(milliseconds)/)",
                ));
            };
            if !decimal(&body["InvoiceGrossAmount"]) {
                return Err(error(400, "/IWBEP/CM_MGW_RT/009", "Property 'InvoiceGrossAmount' has an invalid value (expected a decimal as a string)"));
            }
            let supplier = body["InvoicingParty"].as_str().unwrap_or("");
            if !known_supplier(supplier) {
                return Err(error(
                    400,
                    "M8/152",
                    &format!(
                        "Supplier {supplier} is not defined in company code {}",
                        body["CompanyCode"].as_str().unwrap_or("")
                    ),
                ));
            }
            let reference = body["SupplierInvoiceIDByInvcgParty"].as_str().unwrap_or("");
            if reference.chars().count() > 16 {
                return Err(error(
                    400,
                    "/IWBEP/CM_MGW_RT/009",
                    "Property 'SupplierInvoiceIDByInvcgParty' is longer than 16 characters",
                ));
            }
            let fiscal = year.to_string();
            if let Some(dup) = st
                .sets
                .get("A_SupplierInvoice")
                .into_iter()
                .flatten()
                .find(|i| {
                    i["InvoicingParty"].as_str() == Some(supplier)
                        && i["SupplierInvoiceIDByInvcgParty"].as_str() == Some(reference)
                        && i["FiscalYear"].as_str() == Some(&fiscal)
                })
            {
                return Err(error(
                    400,
                    "M8/108",
                    &format!(
                        "Check if invoice already entered under accounting document {} {}",
                        dup["SupplierInvoice"].as_str().unwrap_or(""),
                        fiscal
                    ),
                ));
            }
            let n = st.number("A_SupplierInvoice");
            e["SupplierInvoice"] = Value::from(format!("51056{n:05}"));
            e["FiscalYear"] = Value::from(fiscal);
        }
        ORDERS => {
            need(&[
                "CompanyCode",
                "PurchaseOrderType",
                "Supplier",
                "PurchasingOrganization",
                "DocumentCurrency",
            ])?;
            let supplier = body["Supplier"].as_str().unwrap_or("");
            if !known_supplier(supplier) {
                return Err(error_with(
                    400,
                    service,
                    &[("06/321", &format!("Supplier {supplier} does not exist"))],
                ));
            }
            if body["CorrespncExternalReference"]
                .as_str()
                .is_some_and(|r| r.chars().count() > 12)
            {
                return Err(error_with(
                    400,
                    service,
                    &[(
                        "/IWBEP/CM_MGW_RT/009",
                        "Property 'CorrespncExternalReference' is longer than 12 characters",
                    )],
                ));
            }
            let items = body["to_PurchaseOrderItem"]["results"]
                .as_array()
                .or(body["to_PurchaseOrderItem"].as_array());
            if items.is_none_or(|i| i.is_empty()) {
                return Err(error_with(
                    400,
                    service,
                    &[("06/017", "Purchase order has no items")],
                ));
            }
            let n = st.number("A_PurchaseOrder");
            e["PurchaseOrder"] = Value::from(format!("45000{n:05}"));
        }
        _ => {
            need(&["PostingDate", "GoodsMovementCode"])?;
            let Some(year) = year_of(&body["PostingDate"]) else {
                return Err(error_with(
                    400,
                    service,
                    &[(
                        "/IWBEP/CM_MGW_RT/009",
                        "Property 'PostingDate' has an invalid value",
                    )],
                ));
            };
            let items = body["to_MaterialDocumentItem"]
                .as_array()
                .or(body["to_MaterialDocumentItem"]["results"].as_array());
            for item in items.into_iter().flatten() {
                if item["GoodsMovementType"] == "101"
                    && item["PurchaseOrder"]
                        .as_str()
                        .is_some_and(|p| !p.is_empty())
                    && item["GoodsMovementRefDocType"] != "B"
                {
                    return Err(error_with(
                        400,
                        service,
                        &[
                            (
                                "MM_IM_ODATA_API_MDOC/011",
                                "Property PURCHASEORDER is not supported for GoodsMovementType 101",
                            ),
                            (
                                "MM_IM_ODATA_API_MDOC/014",
                                "Material Document processing failed",
                            ),
                        ],
                    ));
                }
            }
            let n = st.number("A_MaterialDocumentHeader");
            e["MaterialDocument"] = Value::from(format!("50000{n:05}"));
            e["MaterialDocumentYear"] = Value::from(year.to_string());
        }
    }
    Ok(e)
}

fn create(sb: &Sandbox, req: &Req, service: &str, json_out: bool) -> Resp {
    // The token must be the one of the session its cookie names.
    let valid = {
        let st = lock(&sb.sap);
        match (req.cookie(COOKIE), req.header("x-csrf-token")) {
            (Some(sid), Some(tok)) => st.sessions.get(&sid).is_some_and(|t| t == tok),
            _ => false,
        }
    };
    if !valid {
        return Resp::text(403, "text/plain", "CSRF token validation failed")
            .with("x-csrf-token", "Required");
    }
    let fault = sb.fault(&[
        "500",
        "429",
        "timeout",
        "reset",
        "commit_then_fail",
        "csrf_expiry",
        "html_login",
    ]);
    match fault {
        Fault::Before => return error_with(500, service, &[("/IWBEP/CM_MGW_RT/000", "Runtime error (short dump) in the backend")]),
        Fault::TooMany => {
            return Resp::json(429, &json!({"error": {"code": "429", "message": {"lang": "en", "value": "Rate limit exceeded"}}}))
                .with("Retry-After", "1")
        }
        Fault::Reset => return Resp::dropped(),
        Fault::CsrfExpiry => {
            lock(&sb.sap).sessions.clear();
            return Resp::text(403, "text/plain", "CSRF token validation failed").with("x-csrf-token", "Required");
        }
        Fault::LoginPage => return Resp::login_page(),
        _ => {}
    }
    let Some(body) = req.json() else {
        return error_with(
            400,
            service,
            &[("/IWBEP/CM_MGW_RT/006", "The request body is not valid JSON")],
        );
    };
    let set = entity_set(service);
    let mut st = lock(&sb.sap);
    let mut entity = match admit(&mut st, service, &body) {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    entity["__metadata"] =
        json!({"type": format!("{}.{set}Type", service.rsplit('/').next().unwrap_or(""))});
    st.sets.entry(set).or_default().push(entity.clone());
    drop(st);
    if set == "A_MaterialDocumentHeader" {
        // As SAP does: the created header comes back with empty items.
        entity["to_MaterialDocumentItem"] = json!({"results": []});
    }
    match fault {
        Fault::AfterCommit => error_with(500, service, &[("/IWBEP/CM_MGW_RT/000", "Runtime error after the document was saved")]),
        Fault::Late => Resp::json(201, &json!({"d": entity})).late(sb.slow()),
        _ if json_out => Resp::json(201, &json!({"d": entity})),
        _ => Resp::text(201, "application/atom+xml", "<?xml version=\"1.0\" encoding=\"utf-8\"?><entry xmlns=\"http://www.w3.org/2005/Atom\"/>"),
    }
}

const METADATA: &str = r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices><Schema Namespace="API_SUPPLIERINVOICE_PROCESS_SRV" xmlns="http://schemas.microsoft.com/ado/2008/09/edm"><EntityType Name="A_SupplierInvoiceType"><Key><PropertyRef Name="SupplierInvoice"/><PropertyRef Name="FiscalYear"/></Key><Property Name="SupplierInvoice" Type="Edm.String" MaxLength="10"/><Property Name="FiscalYear" Type="Edm.String" MaxLength="4"/><Property Name="CompanyCode" Type="Edm.String" MaxLength="4"/><Property Name="DocumentDate" Type="Edm.DateTime"/><Property Name="PostingDate" Type="Edm.DateTime"/><Property Name="SupplierInvoiceIDByInvcgParty" Type="Edm.String" MaxLength="16"/><Property Name="InvoicingParty" Type="Edm.String" MaxLength="10"/><Property Name="DocumentCurrency" Type="Edm.String" MaxLength="5"/><Property Name="InvoiceGrossAmount" Type="Edm.Decimal" Precision="14" Scale="3"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>"#;

/// Changes entities SAP holds, as a user in the system would (for planting reconciliation
/// differences): `{"set": "A_SupplierInvoice", "where": {field: value}, "fields": {field:
/// value}, "drop_item": true}` (the last drops the last item). Returns how many changed.
pub fn alter(sb: &Sandbox, v: &Value) -> usize {
    let set = v["set"].as_str().unwrap_or("A_SupplierInvoice");
    let mut st = lock(&sb.sap);
    let Some(items) = st.sets.get_mut(set) else {
        return 0;
    };
    let mut n = 0;
    for e in items.iter_mut() {
        if !super::alter_entity(e, v) {
            continue;
        }
        n += 1;
        if v["drop_item"].as_bool() == Some(true) {
            for nav in ["to_SuplrInvcItemPurOrdRef", "to_PurchaseOrderItem"] {
                if let Some(list) = e[nav]["results"].as_array_mut() {
                    list.pop();
                }
            }
        }
    }
    n
}
