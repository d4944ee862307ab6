//! The Oracle Fusion simulator: payables `invoices` and `receivingReceiptRequests` (accepted,
//! then failed in processing with `processingErrors`) under `/fscmRestApi/resources/11.13.18.05/`
//! with basic authentication (401 with an empty body otherwise), `REST-Framework-Version`
//! choosing the error form (`o:errorDetails` JSON from 4, plain text below), `q=` with `=` and
//! `and`, `InvoiceId` numbers, the duplicate check on invoice number, supplier and business unit,
//! suppliers of a demo list only, and `items`/`links` collections.

use super::{lock, Fault, Req, Resp, Sandbox};
use serde_json::{json, Value};

const ROOT: &str = "/fscmRestApi/resources/11.13.18.05";

/// Suppliers the simulated tenant knows.
pub const SUPPLIERS: [&str; 3] = ["Acme Supply", "Advanced Network Devices", "Vision Supplies"];

#[derive(Default)]
pub struct State {
    invoices: Vec<Value>,
    receipts: Vec<Value>,
    drafts: Vec<Value>,
    /// The processing errors of each receipt request, by its HeaderInterfaceId.
    errors: std::collections::HashMap<u64, Vec<Value>>,
    next: u64,
}

impl State {
    pub fn records(&self) -> Value {
        json!({
            "invoices": self.invoices,
            "receivingReceiptRequests": self.receipts,
            "draftPurchaseOrders": self.drafts,
        })
    }
}

fn error(req: &Req, status: u16, code: &str, detail: &str) -> Resp {
    let v4 = req
        .header("rest-framework-version")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|v| v >= 4);
    if v4 {
        let mut r = Resp::json(
            status,
            &json!({
                "title": if status == 400 { "Bad Request" } else { "Error" },
                "status": status.to_string(),
                "o:errorDetails": [{"detail": detail, "o:errorCode": code, "o:errorPath": "/invoices"}]
            }),
        );
        r.headers = vec![(
            "Content-Type".into(),
            "application/vnd.oracle.adf.error+json".into(),
        )];
        r
    } else {
        Resp::text(status, "text/plain", detail)
    }
}

/// `A='x' and B='y'` (the framework 2+ grammar, equalities only).
fn q_equalities(q: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in q.split(" and ") {
        let (k, v) = part.trim().split_once('=')?;
        let v = v
            .trim()
            .strip_prefix('\'')?
            .strip_suffix('\'')?
            .replace("''", "'");
        out.push((k.trim().to_string(), v));
    }
    Some(out)
}

/// A collection answer: the items matching the request's `q`, with Fusion's paging fields.
fn collection(req: &Req, name: &str, all: &[Value]) -> Resp {
    let eqs = match req.query.get("q") {
        Some(q) => match q_equalities(q) {
            Some(e) => e,
            None => return error(req, 400, "SBX-Q", "The query expression is not valid."),
        },
        None => Vec::new(),
    };
    // As Fusion does: child collections come only when `expand` names them (or `all`).
    let expand: Vec<&str> = req
        .query
        .get("expand")
        .map(|e| e.split(',').collect())
        .unwrap_or_default();
    let items: Vec<Value> = all
        .iter()
        .filter(|i| eqs.iter().all(|(k, v)| i[k].as_str() == Some(v.as_str())))
        .map(|i| {
            let mut i = i.clone();
            if let Some(o) = i.as_object_mut() {
                o.retain(|k, v| {
                    !v.is_array() || expand.contains(&"all") || expand.contains(&k.as_str())
                });
            }
            i
        })
        .collect();
    Resp::json(
        200,
        &json!({"items": items, "count": items.len(), "hasMore": false, "limit": 25, "offset": 0,
            "links": [{"rel": "self", "href": format!("{ROOT}/{name}"), "name": name, "kind": "collection"}]}),
    )
}

/// Changes what Fusion holds (`{"system": "oracle", "set": "invoices", "where": {...},
/// "fields": {...}, "drop_line": true}`), as a user in the system would; how many changed.
pub fn alter(sb: &Sandbox, v: &Value) -> usize {
    let mut st = lock(&sb.oracle);
    let (items, lines) = match v["set"].as_str().unwrap_or("invoices") {
        "draftPurchaseOrders" => (&mut st.drafts, "lines"),
        "receivingReceiptRequests" => (&mut st.receipts, "lines"),
        _ => (&mut st.invoices, "invoiceLines"),
    };
    let mut n = 0;
    for e in items.iter_mut() {
        if !super::alter_entity(e, v) {
            continue;
        }
        n += 1;
        if v["drop_line"].as_bool() == Some(true) {
            // The last item line (freight lines are lines of their own).
            if let Some(l) = e[lines].as_array_mut() {
                if let Some(i) = l.iter().rposition(|x| x["LineType"] != "Freight") {
                    l.remove(i);
                }
            }
        }
    }
    n
}

pub fn route(sb: &Sandbox, req: &Req) -> Resp {
    let authorized = req
        .basic()
        .is_some_and(|(u, p)| u == sb.accounts.sap_user && p == sb.accounts.sap_password);
    if !authorized {
        return Resp::text(401, "text/plain", "")
            .with("WWW-Authenticate", "Basic realm=\"fusion\"");
    }
    let Some(rest) = req.path.strip_prefix(ROOT) else {
        return Resp::text(404, "text/plain", "");
    };
    match (req.method.as_str(), rest) {
        ("GET", "/invoices") => collection(req, "invoices", &lock(&sb.oracle).invoices),
        ("POST", "/invoices") => create(sb, req),
        ("GET", "/receivingReceiptRequests") => {
            collection(req, "receivingReceiptRequests", &lock(&sb.oracle).receipts)
        }
        ("GET", r)
            if r.starts_with("/receivingReceiptRequests/")
                && r.ends_with("/child/processingErrors") =>
        {
            let id: u64 = r
                .trim_start_matches("/receivingReceiptRequests/")
                .trim_end_matches("/child/processingErrors")
                .parse()
                .unwrap_or(0);
            let st = lock(&sb.oracle);
            match st.errors.get(&id) {
                Some(e) => Resp::json(
                    200,
                    &json!({"items": e, "count": e.len(), "hasMore": false}),
                ),
                None => Resp::text(404, "text/plain", ""),
            }
        }
        ("POST", "/receivingReceiptRequests") => receipt(sb, req),
        ("GET", "/draftPurchaseOrders") => {
            collection(req, "draftPurchaseOrders", &lock(&sb.oracle).drafts)
        }
        ("POST", "/draftPurchaseOrders") => draft(sb, req),
        ("POST", r) if r.starts_with("/draftPurchaseOrders/") && r.ends_with("/action/submit") => {
            let id = r
                .trim_start_matches("/draftPurchaseOrders/")
                .trim_end_matches("/action/submit")
                .to_string();
            submit(sb, req, &id)
        }
        _ => Resp::text(404, "text/plain", ""),
    }
}

/// The fault drawn for a change and its body, or the answer instead of the change: a fault, a
/// body that is not JSON, a `required` attribute missing, or a `supplier` attribute naming a
/// supplier the tenant does not know.
fn before(
    sb: &Sandbox,
    req: &Req,
    required: &[&str],
    supplier: &str,
) -> Result<(Fault, Value), Resp> {
    let fault = sb.fault(&[
        "500",
        "429",
        "timeout",
        "reset",
        "commit_then_fail",
        "html_login",
    ]);
    match fault {
        // Fusion's 500s often come with no body at all.
        Fault::Before => return Err(Resp::text(500, "text/plain", "")),
        Fault::TooMany => {
            return Err(Resp::text(429, "text/plain", "Too Many Requests").with("Retry-After", "1"))
        }
        Fault::Reset => return Err(Resp::dropped()),
        Fault::LoginPage => return Err(Resp::login_page()),
        _ => {}
    }
    let Some(body) = req.json() else {
        return Err(error(
            req,
            400,
            "SBX-JSON",
            "The request body is not valid JSON.",
        ));
    };
    for k in required {
        if body[*k].as_str().is_none_or(str::is_empty) {
            return Err(error(
                req,
                400,
                "SBX-REQ",
                &format!("The attribute {k} is required."),
            ));
        }
    }
    let name = body[supplier].as_str().unwrap_or("");
    if !SUPPLIERS.contains(&name) {
        return Err(error(
            req,
            400,
            "SBX-SUPPLIER",
            &format!("The value of the attribute {supplier} isn't valid: {name}."),
        ));
    }
    Ok((fault, body))
}

/// The answer to a stored change, as the drawn fault has it.
fn after(sb: &Sandbox, fault: Fault, e: &Value) -> Resp {
    match fault {
        Fault::AfterCommit => Resp::text(500, "text/plain", ""),
        Fault::Late => Resp::json(201, e).late(sb.slow()),
        _ => Resp::json(201, e),
    }
}

fn create(sb: &Sandbox, req: &Req) -> Resp {
    let (fault, body) = match before(
        sb,
        req,
        &[
            "InvoiceNumber",
            "InvoiceCurrency",
            "InvoiceAmount",
            "InvoiceDate",
            "BusinessUnit",
            "Supplier",
            "SupplierSite",
        ],
        "Supplier",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let supplier = body["Supplier"].as_str().unwrap_or("");
    let mut st = lock(&sb.oracle);
    let same = |i: &&Value| {
        ["InvoiceNumber", "Supplier", "BusinessUnit"]
            .iter()
            .all(|k| i[*k] == body[*k])
    };
    if st.invoices.iter().any(|i| same(&i)) {
        return error(
            req,
            400,
            "SBX-DUPLICATE",
            &format!(
                "The invoice number {} already exists for supplier {supplier}.",
                body["InvoiceNumber"].as_str().unwrap_or("")
            ),
        );
    }
    st.next += 1;
    let id = 300_100_187_000_000u64 + st.next;
    let mut e = body.clone();
    e["InvoiceId"] = Value::from(id);
    e["ValidationStatus"] = Value::from("Not validated");
    e["ApprovalStatus"] = Value::from("Required");
    e["PaidStatus"] = Value::from("Unpaid");
    e["links"] = json!([{"rel": "self", "href": format!("{ROOT}/invoices/{id}"), "name": "invoices", "kind": "item"}]);
    st.invoices.push(e.clone());
    drop(st);
    after(sb, fault, &e)
}

/// A receipt request: accepted with 201 when its header is whole, then "processed" at once:
/// lines without a PO or with no quantity fail, and the request says `ERROR` with its
/// `processingErrors`, as the receiving interface does.
fn receipt(sb: &Sandbox, req: &Req) -> Resp {
    let (fault, body) = match before(
        sb,
        req,
        &[
            "ReceiptSourceCode",
            "OrganizationCode",
            "VendorName",
            "ShipmentNumber",
        ],
        "VendorName",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut problems = Vec::new();
    for (i, line) in body["lines"].as_array().into_iter().flatten().enumerate() {
        if line["DocumentNumber"].as_str().is_none_or(str::is_empty) {
            problems.push(json!({"ErrorMessageName": "RCV_SBX_NO_PO", "ErrorMessage": format!("Line {}: the source document number is required.", i + 1), "ColumnName": "DOCUMENT_NUMBER"}));
        }
        if line["Quantity"].as_f64().is_none_or(|q| q <= 0.0) {
            problems.push(json!({"ErrorMessageName": "RCV_SBX_QUANTITY", "ErrorMessage": format!("Line {}: the quantity must be greater than zero.", i + 1), "ColumnName": "QUANTITY"}));
        }
    }
    let mut st = lock(&sb.oracle);
    st.next += 1;
    let id = 300_100_555_000_000u64 + st.next;
    let mut e = body.clone();
    e["HeaderInterfaceId"] = Value::from(id);
    e["ProcessingStatusCode"] = Value::from(if problems.is_empty() {
        "SUCCESS"
    } else {
        "ERROR"
    });
    st.errors.insert(id, problems);
    st.receipts.push(e.clone());
    drop(st);
    after(sb, fault, &e)
}

/// A draft purchase order: created `INCOMPLETE` with an `OrderNumber`, to be submitted.
fn draft(sb: &Sandbox, req: &Req) -> Resp {
    let (fault, body) = match before(
        sb,
        req,
        &["ProcurementBU", "Supplier", "CurrencyCode"],
        "Supplier",
    ) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if body["lines"].as_array().is_none_or(|l| l.is_empty()) {
        return error(
            req,
            400,
            "SBX-LINES",
            "A purchase order needs at least one line.",
        );
    }
    let mut st = lock(&sb.oracle);
    st.next += 1;
    let id = 300_100_777_000_000u64 + st.next;
    let mut e = body.clone();
    e["POHeaderId"] = Value::from(id);
    e["OrderNumber"] = Value::from(format!("{}", 1_000_000 + st.next));
    e["Status"] = Value::from("INCOMPLETE");
    e["links"] = json!([{"rel": "self", "href": format!("{ROOT}/draftPurchaseOrders/{id}"), "name": "draftPurchaseOrders", "kind": "item"}]);
    st.drafts.push(e.clone());
    drop(st);
    after(sb, fault, &e)
}

/// `action/submit` on a draft: `OPEN` from then on.
fn submit(sb: &Sandbox, req: &Req, id: &str) -> Resp {
    if !req
        .header("content-type")
        .is_some_and(|c| c.contains("vnd.oracle.adf.action+json"))
    {
        return Resp::text(415, "text/plain", "Unsupported Media Type");
    }
    let fault = sb.fault(&["500", "429", "reset"]);
    match fault {
        Fault::Before => return Resp::text(500, "text/plain", ""),
        Fault::TooMany => {
            return Resp::text(429, "text/plain", "Too Many Requests").with("Retry-After", "1")
        }
        Fault::Reset => return Resp::dropped(),
        _ => {}
    }
    let mut st = lock(&sb.oracle);
    let Some(d) = st.drafts.iter_mut().find(|d| {
        d["POHeaderId"]
            .as_u64()
            .is_some_and(|n| Some(n) == id.parse().ok())
    }) else {
        return Resp::text(404, "text/plain", "");
    };
    d["Status"] = Value::from("OPEN");
    Resp::json(200, &json!({"result": "SUCCESS"}))
}
