//! The Dynamics 365 Finance & Operations simulator: an Entra-like token endpoint (client
//! credentials, tokens that expire), OData V4 entities under `/data/` (case-sensitive names)
//! for pending vendor invoices (`VendorInvoiceHeaders`, `VendorInvoiceLines`), a number
//! sequence for `HeaderReference`, vendor accounts of the demo range `10xx` only, and F&O's
//! error shape (an empty code, the infolog in `innererror.message`).

use super::{equalities, lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Default)]
pub struct State {
    /// Access token -> when it expires.
    tokens: HashMap<String, Instant>,
    headers: Vec<Value>,
    lines: Vec<Value>,
    /// (dataAreaId, HeaderReference) of every header, and the same with the line number of
    /// every line: the keys the entities are unique by.
    header_keys: std::collections::HashSet<(String, String)>,
    line_keys: std::collections::HashSet<(String, String, String)>,
    next: u64,
    serial: u64,
}

impl State {
    pub fn records(&self) -> Value {
        json!({ "VendorInvoiceHeaders": self.headers, "VendorInvoiceLines": self.lines })
    }
}

fn error(status: u16, entity: &str, infolog: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {
            "code": "",
            "message": "An error has occurred.",
            "innererror": {
                "message": format!("Write failed for table row of type '{entity}'. Infolog: Error: {infolog}"),
                "type": "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException",
                "stacktrace": ""
            }
        }}),
    )
}

fn unauthorized() -> Resp {
    Resp::json(401, &json!({"error": {"code": "", "message": "Authorization failed: the access token is missing, invalid or expired."}}))
        .with("WWW-Authenticate", "Bearer error=\"invalid_token\"")
}

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    if req.path.contains("/oauth2/") {
        return token(sb, req);
    }
    let valid = req.bearer().is_some_and(|t| {
        lock(&sb.d365)
            .tokens
            .get(t)
            .is_some_and(|until| Instant::now() < *until)
    });
    if !valid {
        return unauthorized();
    }
    let rest = req.path.strip_prefix("/data/").unwrap_or("");
    match (req.method.as_str(), rest) {
        ("GET", "VendorInvoiceHeaders") => {
            let st = lock(&sb.d365);
            query(&st.headers, req)
        }
        ("GET", "VendorInvoiceLines") => {
            let st = lock(&sb.d365);
            query(&st.lines, req)
        }
        ("GET", r) if r.starts_with("VendorInvoiceLines(") => {
            let Some(key) = r
                .strip_prefix("VendorInvoiceLines(")
                .and_then(|k| k.strip_suffix(')'))
                .and_then(|k| equalities(&k.replace(',', " and ").replace('=', " eq ")))
            else {
                return Resp::json(400, &json!({"error": {"code": "", "message": "Bad key"}}));
            };
            let st = lock(&sb.d365);
            match st.lines.iter().find(|l| matches(l, &key)) {
                Some(l) => Resp::json(200, l),
                None => Resp::json(
                    404,
                    &json!({"error": {"code": "", "message": "No resources were found for the request."}}),
                ),
            }
        }
        ("POST", "VendorInvoiceHeaders") => create_header(sb, req),
        ("POST", "VendorInvoiceLines") => create_line(sb, req),
        _ => Resp::json(
            404,
            &json!({"error": {"code": "", "message": format!("No HTTP resource was found that matches the request URI '/data/{rest}'.")}}),
        ),
    }
}

/// Whether an entity has every (field, value) pair (numbers compared as text).
fn matches(e: &Value, eqs: &[(String, String)]) -> bool {
    eqs.iter().all(|(k, v)| match &e[k] {
        Value::String(s) => s == v,
        Value::Number(n) => {
            n.to_string() == *v || n.as_f64().is_some_and(|f| v.parse::<f64>() == Ok(f))
        }
        _ => false,
    })
}

fn query(items: &[Value], req: &Req) -> Resp {
    let eqs = match req.query.get("$filter") {
        Some(f) => match equalities(f) {
            Some(e) => e,
            None => {
                return Resp::json(
                    400,
                    &json!({"error": {"code": "", "message": "The query specified in the URI is not valid."}}),
                )
            }
        },
        None => Vec::new(),
    };
    let found: Vec<&Value> = items.iter().filter(|e| matches(e, &eqs)).collect();
    Resp::json(
        200,
        &json!({"@odata.context": "/data/$metadata", "value": found}),
    )
}

fn token(sb: &Sandbox, req: &Req) -> Resp {
    if req.method != "POST" {
        return Resp::json(405, &json!({"error": "invalid_request"}));
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(&req.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (super::decode(k), super::decode(&v.replace('+', " "))))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Resp::json(
            400,
            &json!({"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."}),
        );
    }
    if form.get("client_id") != Some(&sb.accounts.client_id)
        || form.get("client_secret") != Some(&sb.accounts.client_secret)
    {
        return Resp::json(
            401,
            &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
        );
    }
    let mut st = lock(&sb.d365);
    st.serial += 1;
    let t = format!(
        "eyJzYW5kYm94In0.{:016x}.{:08x}",
        st.serial.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        st.serial
    );
    let life = sb.accounts.token_seconds;
    st.tokens.insert(
        t.clone(),
        Instant::now() + std::time::Duration::from_secs(life),
    );
    Resp::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": t}),
    )
}

/// Faults on a change; `Some` is the answer instead of the change.
fn before(sb: &Sandbox) -> (Fault, Option<Resp>) {
    let f = sb.fault(&[
        "500",
        "429",
        "timeout",
        "reset",
        "commit_then_fail",
        "token_expiry",
    ]);
    let early = match f {
        Fault::Before => Some(Resp::json(500, &json!({"error": {"code": "", "message": "An error has occurred.", "innererror": {"message": "Transient database failure", "type": "System.Data.SqlClient.SqlException"}}}))),
        Fault::TooMany => Some(Resp::json(429, &json!({"error": {"code": "", "message": "Rate limit is exceeded. Try again later."}})).with("Retry-After", "1")),
        Fault::Reset => Some(Resp::dropped()),
        Fault::TokenExpiry => {
            lock(&sb.d365).tokens.clear();
            Some(unauthorized())
        }
        _ => None,
    };
    (f, early)
}

fn after(sb: &Sandbox, f: Fault, entity: Value) -> Resp {
    match f {
        Fault::AfterCommit => Resp::dropped(),
        Fault::Late => Resp::json(201, &entity).late(sb.slow()),
        _ => Resp::json(201, &entity),
    }
}

fn create_header(sb: &Sandbox, req: &Req) -> Resp {
    let (f, early) = before(sb);
    if let Some(r) = early {
        return r;
    }
    const ENTITY: &str = "VendorInvoiceHeaderEntity";
    let Some(body) = req.json() else {
        return error(400, ENTITY, "The request body is not valid JSON.");
    };
    for k in [
        "dataAreaId",
        "InvoiceNumber",
        "InvoiceAccount",
        "InvoiceDate",
        "Currency",
    ] {
        if body[k].as_str().is_none_or(str::is_empty) {
            return error(400, ENTITY, &format!("Field '{k}' must be filled in."));
        }
    }
    let account = body["InvoiceAccount"].as_str().unwrap_or("");
    if !(account.len() == 4
        && account.starts_with("10")
        && account.bytes().all(|b| b.is_ascii_digit()))
    {
        return error(
            400,
            ENTITY,
            &format!("Vendor account {account} does not exist."),
        );
    }
    let mut st = lock(&sb.d365);
    st.next += 1;
    let mut e = body.clone();
    let reference = format!("VI{:06}", st.next);
    e["HeaderReference"] = Value::from(reference.clone());
    e["@odata.etag"] = Value::from(format!("W/\"{}\"", st.next));
    let area = e["dataAreaId"].as_str().unwrap_or("").to_string();
    st.header_keys.insert((area, reference));
    st.headers.push(e.clone());
    drop(st);
    after(sb, f, e)
}

fn create_line(sb: &Sandbox, req: &Req) -> Resp {
    let (f, early) = before(sb);
    if let Some(r) = early {
        return r;
    }
    const ENTITY: &str = "VendorInvoiceLineEntity";
    let Some(body) = req.json() else {
        return error(400, ENTITY, "The request body is not valid JSON.");
    };
    if body["Currency"].as_str().is_none_or(str::is_empty) {
        return error(400, ENTITY, "Field 'Currency' must be filled in.");
    }
    let text = |k: &str| match &body[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| f.to_string()),
        _ => String::new(),
    };
    let header = (text("dataAreaId"), text("HeaderReference"));
    let mut st = lock(&sb.d365);
    if !st.header_keys.contains(&header) {
        return error(
            400,
            ENTITY,
            &format!(
                "Vendor invoice header {} does not exist.",
                body["HeaderReference"]
            ),
        );
    }
    let key = (header.0, header.1, text("InvoiceLineNumber"));
    if !st.line_keys.insert(key) {
        return error(400, ENTITY, "Cannot create a record in Vendor invoice lines (VendInvoiceInfoLine). The record already exists.");
    }
    let mut e = body.clone();
    e["@odata.etag"] = Value::from("W/\"1\"");
    st.lines.push(e.clone());
    drop(st);
    after(sb, f, e)
}
