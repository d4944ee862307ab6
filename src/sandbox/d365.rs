//! The Dynamics 365 Finance & Operations simulator: an Entra-like token endpoint (client
//! credentials, tokens that expire), OData V4 entities under `/data/` (case-sensitive names)
//! for pending vendor invoices (`VendorInvoiceHeaders`, `VendorInvoiceLines`) and purchase
//! orders (`PurchaseOrderHeadersV2`, `PurchaseOrderLinesV2`), number sequences for
//! `HeaderReference` and `PurchaseOrderNumber`, lines only under an existing header and each
//! key once, vendor accounts of the demo range `10xx` only, and F&O's error shape (an empty code,
//! the infolog in `innererror.message`).

use super::{equalities, lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// One document kind: header and line sets, the field the system numbers headers by (and
/// the prefix of its numbers), the line number field, the vendor account field, the fields a
/// header must have, and the entity type names errors mention.
pub(crate) struct Kind {
    header: &'static str,
    lines: &'static str,
    id: &'static str,
    prefix: &'static str,
    line_number: &'static str,
    vendor: &'static str,
    required: &'static [&'static str],
    header_entity: &'static str,
    line_entity: &'static str,
}

const KINDS: [Kind; 2] = [
    Kind {
        header: "VendorInvoiceHeaders",
        lines: "VendorInvoiceLines",
        id: "HeaderReference",
        prefix: "VI",
        line_number: "InvoiceLineNumber",
        vendor: "InvoiceAccount",
        required: &[
            "dataAreaId",
            "InvoiceNumber",
            "InvoiceAccount",
            "InvoiceDate",
            "Currency",
        ],
        header_entity: "VendorInvoiceHeaderEntity",
        line_entity: "VendorInvoiceLineEntity",
    },
    Kind {
        header: "PurchaseOrderHeadersV2",
        lines: "PurchaseOrderLinesV2",
        id: "PurchaseOrderNumber",
        prefix: "PO",
        line_number: "LineNumber",
        vendor: "OrderVendorAccountNumber",
        required: &["dataAreaId", "OrderVendorAccountNumber", "CurrencyCode"],
        header_entity: "PurchPurchaseOrderHeaderV2Entity",
        line_entity: "PurchPurchaseOrderLineV2Entity",
    },
];

#[derive(Default)]
pub struct State {
    /// Access token -> when it expires.
    tokens: HashMap<String, Instant>,
    /// Entities per set.
    sets: HashMap<&'static str, Vec<Value>>,
    /// (dataAreaId, id) of every header per header set, and the same with the line number of
    /// every line per line set: the keys the entities are unique by.
    header_keys: HashMap<&'static str, HashSet<(String, String)>>,
    line_keys: HashMap<&'static str, HashSet<(String, String, String)>>,
    next: HashMap<&'static str, u64>,
    serial: u64,
}

impl State {
    pub fn records(&self) -> Value {
        let mut v = json!({});
        for k in &KINDS {
            for set in [k.header, k.lines] {
                v[set] = json!(self.sets.get(set).cloned().unwrap_or_default());
            }
        }
        v
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

/// Whether `token` was handed out by the token endpoint and has not expired or been revoked.
pub(crate) fn token_valid(sb: &Sandbox, token: &str) -> bool {
    lock(&sb.d365)
        .tokens
        .get(token)
        .is_some_and(|until| Instant::now() < *until)
}

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    if req.path.contains("/oauth2/") {
        return token(sb, req);
    }
    let valid = req.bearer().is_some_and(|t| token_valid(sb, t));
    if !valid {
        return unauthorized();
    }
    let rest = req.path.strip_prefix("/data/").unwrap_or("");
    let not_found = || {
        Resp::json(
            404,
            &json!({"error": {"code": "", "message": format!("No HTTP resource was found that matches the request URI '/data/{rest}'.")}}),
        )
    };
    for k in &KINDS {
        match req.method.as_str() {
            "GET" if rest == k.header || rest == k.lines => {
                let st = lock(&sb.d365);
                return query(
                    st.sets.get(rest).map(Vec::as_slice).unwrap_or_default(),
                    req,
                );
            }
            "GET" if rest.starts_with(&format!("{}(", k.lines)) => {
                let Some(key) = rest
                    .strip_prefix(&format!("{}(", k.lines))
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|r| equalities(&r.replace(',', " and ").replace('=', " eq ")))
                else {
                    return Resp::json(400, &json!({"error": {"code": "", "message": "Bad key"}}));
                };
                let st = lock(&sb.d365);
                return match st
                    .sets
                    .get(k.lines)
                    .into_iter()
                    .flatten()
                    .find(|l| matches(l, &key))
                {
                    Some(l) => Resp::json(200, l),
                    None => Resp::json(
                        404,
                        &json!({"error": {"code": "", "message": "No resources were found for the request."}}),
                    ),
                };
            }
            "POST" if rest == k.header => return create_header(sb, req, k),
            "POST" if rest == k.lines => return create_line(sb, req, k),
            _ => {}
        }
    }
    not_found()
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

fn create_header(sb: &Sandbox, req: &Req, k: &Kind) -> Resp {
    let (f, early) = before(sb);
    if let Some(r) = early {
        return r;
    }
    let Some(body) = req.json() else {
        return error(400, k.header_entity, "The request body is not valid JSON.");
    };
    for field in k.required {
        if body[*field].as_str().is_none_or(str::is_empty) {
            return error(
                400,
                k.header_entity,
                &format!("Field '{field}' must be filled in."),
            );
        }
    }
    let account = body[k.vendor].as_str().unwrap_or("");
    if !(account.len() == 4
        && account.starts_with("10")
        && account.bytes().all(|b| b.is_ascii_digit()))
    {
        return error(
            400,
            k.header_entity,
            &format!("Vendor account {account} does not exist."),
        );
    }
    let mut st = lock(&sb.d365);
    let n = {
        let n = st.next.entry(k.header).or_default();
        *n += 1;
        *n
    };
    let mut e = body.clone();
    let id = format!("{}{n:06}", k.prefix);
    e[k.id] = Value::from(id.clone());
    e["@odata.etag"] = Value::from(format!("W/\"{n}\""));
    let area = e["dataAreaId"].as_str().unwrap_or("").to_string();
    st.header_keys
        .entry(k.header)
        .or_default()
        .insert((area, id));
    st.sets.entry(k.header).or_default().push(e.clone());
    drop(st);
    after(sb, f, e)
}

fn create_line(sb: &Sandbox, req: &Req, k: &Kind) -> Resp {
    let (f, early) = before(sb);
    if let Some(r) = early {
        return r;
    }
    let Some(body) = req.json() else {
        return error(400, k.line_entity, "The request body is not valid JSON.");
    };
    let text = |field: &str| match &body[field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| f.to_string()),
        _ => String::new(),
    };
    let header = (text("dataAreaId"), text(k.id));
    let mut st = lock(&sb.d365);
    if !st
        .header_keys
        .get(k.header)
        .is_some_and(|h| h.contains(&header))
    {
        return error(
            400,
            k.line_entity,
            &format!("Header {} does not exist.", body[k.id]),
        );
    }
    let key = (header.0, header.1, text(k.line_number));
    if !st.line_keys.entry(k.lines).or_default().insert(key) {
        return error(
            400,
            k.line_entity,
            &format!(
                "Cannot create a record in {}. The record already exists.",
                k.lines
            ),
        );
    }
    let mut e = body.clone();
    e["@odata.etag"] = Value::from("W/\"1\"");
    st.sets.entry(k.lines).or_default().push(e.clone());
    drop(st);
    after(sb, f, e)
}

/// Changes entities F&O holds, as a user in the system would (for planting reconciliation
/// differences): `{"system": "d365", "set": "VendorInvoiceHeaders", "where": {field: value},
/// "fields": {field: value}, "drop_line": true}` (the last drops the header's last line).
/// Returns how many headers changed.
pub fn alter(sb: &Sandbox, v: &Value) -> usize {
    let set = v["set"].as_str().unwrap_or("VendorInvoiceHeaders");
    let Some(kind) = KINDS.iter().find(|k| k.header == set) else {
        return 0;
    };
    let mut st = lock(&sb.d365);
    let mut dropped = Vec::new();
    let mut n = 0;
    for e in st.sets.get_mut(set).into_iter().flatten() {
        if !super::alter_entity(e, v) {
            continue;
        }
        n += 1;
        if v["drop_line"].as_bool() == Some(true) {
            dropped.push((e["dataAreaId"].clone(), e[kind.id].clone()));
        }
    }
    for (area, id) in dropped {
        if let Some(lines) = st.sets.get_mut(kind.lines) {
            if let Some(i) = lines
                .iter()
                .rposition(|l| l["dataAreaId"] == area && l[kind.id] == id)
            {
                lines.remove(i);
            }
        }
    }
    n
}
