//! The SAP S/4HANA simulator: `API_SUPPLIERINVOICE_PROCESS_SRV` (OData V2) with basic
//! authentication of a communication user, CSRF tokens bound to a session cookie, V2 JSON
//! only when asked for (Atom otherwise), number ranges (`51056xxxxx` + fiscal year), the
//! duplicate-invoice check on supplier, reference and fiscal year, suppliers of the demo range
//! `1730xxxx` only, and V2 error bodies.

use super::{equalities, lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};
use std::collections::HashMap;

const SERVICE: &str = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV";
const COOKIE: &str = "SAP_SESSIONID_SBX_100";

#[derive(Default)]
pub struct State {
    /// CSRF token per session id.
    sessions: HashMap<String, String>,
    invoices: Vec<Value>,
    next: u64,
    serial: u64,
}

impl State {
    pub fn records(&self) -> Value {
        json!({ "A_SupplierInvoice": self.invoices })
    }

    fn token(&mut self) -> String {
        self.serial += 1;
        format!(
            "{:016x}{:08x}",
            self.serial.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.serial
        )
    }
}

fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "application": {"component_id": "MM-IV-LIV", "service_namespace": "/SAP/",
                                "service_id": "API_SUPPLIERINVOICE_PROCESS_SRV", "service_version": "0001"},
                "errordetails": [{"code": code, "message": message, "propertyref": "", "severity": "error", "target": ""}]
            }
        }}),
    )
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

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    let Some(rest) = req.path.strip_prefix(SERVICE) else {
        return error(
            404,
            "/IWFND/MED/170",
            "No service found for namespace '/SAP/'",
        );
    };
    let authorized = req
        .basic()
        .is_some_and(|(u, p)| u == sb.accounts.sap_user && p == sb.accounts.sap_password);
    if !authorized {
        return Resp::text(401, "text/plain", "Logon failed").with(
            "WWW-Authenticate",
            "Basic realm=\"SAP NetWeaver Application Server [SBX/100]\"",
        );
    }
    let json_out = wants_json(req);
    match (req.method.as_str(), rest) {
        ("GET" | "HEAD", "/" | "" | "/$metadata") => {
            let mut resp = if rest == "/$metadata" {
                Resp::text(200, "application/xml", METADATA)
            } else {
                Resp::json(200, &json!({"d": {"EntitySets": ["A_SupplierInvoice"]}}))
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
        ("GET", "/A_SupplierInvoice") => {
            let Some(filter) = req.query.get("$filter") else {
                return list(&lock(&sb.sap).invoices, json_out);
            };
            let Some(eqs) = equalities(filter) else {
                return error(
                    400,
                    "/IWBEP/CM_MGW_RT/022",
                    "System query option '$filter' is not supported in this form",
                );
            };
            let st = lock(&sb.sap);
            let found: Vec<Value> = st
                .invoices
                .iter()
                .filter(|i| eqs.iter().all(|(k, v)| i[k].as_str() == Some(v.as_str())))
                .cloned()
                .collect();
            list(&found, json_out)
        }
        ("POST", "/A_SupplierInvoice") => create(sb, req, json_out),
        ("POST", _) | ("GET", _) => error(
            404,
            "/IWBEP/CM_MGW_RT/021",
            &format!(
                "Resource not found for segment '{}'",
                rest.trim_start_matches('/')
            ),
        ),
        _ => error(405, "/IWBEP/CM_MGW_RT/004", "Method not allowed"),
    }
}

fn list(items: &[Value], json_out: bool) -> Resp {
    if json_out {
        Resp::json(200, &json!({"d": {"results": items}}))
    } else {
        Resp::text(200, "application/atom+xml", "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"/>")
    }
}

fn create(sb: &Sandbox, req: &Req, json_out: bool) -> Resp {
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
        Fault::Before => return error(500, "/IWBEP/CM_MGW_RT/000", "Runtime error (short dump) in the backend"),
        Fault::TooMany => return Resp::json(429, &json!({"error": {"code": "429", "message": {"lang": "en", "value": "Rate limit exceeded"}}})).with("Retry-After", "1"),
        Fault::Reset => return Resp::dropped(),
        Fault::CsrfExpiry => {
            lock(&sb.sap).sessions.clear();
            return Resp::text(403, "text/plain", "CSRF token validation failed").with("x-csrf-token", "Required");
        }
        Fault::LoginPage => return Resp::login_page(),
        _ => {}
    }
    let Some(body) = req.json() else {
        return error(
            400,
            "/IWBEP/CM_MGW_RT/006",
            "The request body is not valid JSON",
        );
    };
    for k in [
        "CompanyCode",
        "DocumentDate",
        "PostingDate",
        "SupplierInvoiceIDByInvcgParty",
        "InvoicingParty",
        "DocumentCurrency",
        "InvoiceGrossAmount",
    ] {
        if body[k].as_str().is_none_or(str::is_empty) {
            return error(400, "M8/021", &format!("Enter a value in field {k}"));
        }
    }
    let Some(year) = year_of(&body["DocumentDate"]) else {
        return error(
            400,
            "/IWBEP/CM_MGW_RT/009",
            "Property 'DocumentDate' has an invalid value (expected /Date(milliseconds)/)",
        );
    };
    if !decimal(&body["InvoiceGrossAmount"]) {
        return error(
            400,
            "/IWBEP/CM_MGW_RT/009",
            "Property 'InvoiceGrossAmount' has an invalid value (expected a decimal as a string)",
        );
    }
    let supplier = body["InvoicingParty"].as_str().unwrap_or("");
    if !(supplier.len() == 8
        && supplier.starts_with("1730")
        && supplier.bytes().all(|b| b.is_ascii_digit()))
    {
        return error(
            400,
            "M8/152",
            &format!(
                "Supplier {supplier} is not defined in company code {}",
                body["CompanyCode"].as_str().unwrap_or("")
            ),
        );
    }
    let reference = body["SupplierInvoiceIDByInvcgParty"].as_str().unwrap_or("");
    if reference.chars().count() > 16 {
        return error(
            400,
            "/IWBEP/CM_MGW_RT/009",
            "Property 'SupplierInvoiceIDByInvcgParty' is longer than 16 characters",
        );
    }
    let mut st = lock(&sb.sap);
    let fiscal = year.to_string();
    if let Some(dup) = st.invoices.iter().find(|i| {
        i["InvoicingParty"].as_str() == Some(supplier)
            && i["SupplierInvoiceIDByInvcgParty"].as_str() == Some(reference)
            && i["FiscalYear"].as_str() == Some(&fiscal)
    }) {
        return error(
            400,
            "M8/108",
            &format!(
                "Check if invoice already entered under accounting document {} {}",
                dup["SupplierInvoice"].as_str().unwrap_or(""),
                fiscal
            ),
        );
    }
    st.next += 1;
    let mut entity = body.clone();
    entity["SupplierInvoice"] = Value::from(format!("51056{:05}", st.next));
    entity["FiscalYear"] = Value::from(fiscal);
    entity["__metadata"] = json!({"type": "API_SUPPLIERINVOICE_PROCESS_SRV.A_SupplierInvoiceType"});
    st.invoices.push(entity.clone());
    drop(st);
    match fault {
        Fault::AfterCommit => error(500, "/IWBEP/CM_MGW_RT/000", "Runtime error after the document was saved"),
        Fault::Late => Resp::json(201, &json!({"d": entity})).late(sb.slow()),
        _ if json_out => Resp::json(201, &json!({"d": entity})),
        _ => Resp::text(201, "application/atom+xml", "<?xml version=\"1.0\" encoding=\"utf-8\"?><entry xmlns=\"http://www.w3.org/2005/Atom\"/>"),
    }
}

const METADATA: &str = r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices><Schema Namespace="API_SUPPLIERINVOICE_PROCESS_SRV" xmlns="http://schemas.microsoft.com/ado/2008/09/edm"><EntityType Name="A_SupplierInvoiceType"><Key><PropertyRef Name="SupplierInvoice"/><PropertyRef Name="FiscalYear"/></Key><Property Name="SupplierInvoice" Type="Edm.String" MaxLength="10"/><Property Name="FiscalYear" Type="Edm.String" MaxLength="4"/><Property Name="CompanyCode" Type="Edm.String" MaxLength="4"/><Property Name="DocumentDate" Type="Edm.DateTime"/><Property Name="PostingDate" Type="Edm.DateTime"/><Property Name="SupplierInvoiceIDByInvcgParty" Type="Edm.String" MaxLength="16"/><Property Name="InvoicingParty" Type="Edm.String" MaxLength="10"/><Property Name="DocumentCurrency" Type="Edm.String" MaxLength="5"/><Property Name="InvoiceGrossAmount" Type="Edm.Decimal" Precision="14" Scale="3"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>"#;
