//! Targets: where records go. A closed set of connector kinds, one file each, behind one enum
//! and one delivery model (`delivery`: states, retry policy, breaker, stored response,
//! per-target key). A connector turns one due delivery into calls to its system and one reply.

mod coupa;
mod d365;
mod http;
mod legacy;
mod oracle;
mod sap;

pub use http::signature;

use crate::config::{Config, Target, TargetKind};
use crate::delivery::Response;
use crate::store::DeliveryRow;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub struct Reply {
    pub response: Response,
    /// The system's own id for the document (created now, or found by business key).
    pub system_id: Option<String>,
}

impl Reply {
    fn of(response: Response) -> Reply {
        Reply {
            response,
            system_id: None,
        }
    }

    /// What went wrong, in words (for callers that only report it).
    pub fn text(&self) -> String {
        match &self.response {
            Response::Status { status, body, .. } => format!("HTTP {status}: {body}"),
            Response::Failed(e) | Response::Refused(e) => e.clone(),
        }
    }

    fn refused(why: impl Into<String>) -> Reply {
        Reply::of(Response::Refused(why.into()))
    }

    fn failed(why: impl Into<String>) -> Reply {
        Reply::of(Response::Failed(why.into()))
    }

    /// A success: `status` and the body kept, with the system's id.
    fn done(status: u16, body: &str, system_id: Option<String>) -> Reply {
        Reply {
            response: Response::Status {
                status,
                retry_after: None,
                body: crate::delivery::excerpt(body),
            },
            system_id,
        }
    }
}

/// One connector, with the session state it keeps between deliveries (tokens, CSRF).
pub enum Connector {
    Http(http::Http),
    Sap(sap::Sap),
    D365(d365::D365),
    Legacy(legacy::Legacy),
    Oracle(oracle::Oracle),
    Coupa(coupa::Coupa),
}

impl Connector {
    fn new(t: &Target) -> Connector {
        match t.kind {
            TargetKind::SapS4hana => Connector::Sap(sap::Sap::new(t)),
            TargetKind::Dynamics365 => Connector::D365(d365::D365::new(t)),
            TargetKind::LegacyFiles => Connector::Legacy(legacy::Legacy::new(t)),
            TargetKind::OracleFusion => Connector::Oracle(oracle::Oracle::new(t)),
            TargetKind::CoupaCxml => Connector::Coupa(coupa::Coupa::new(t)),
            TargetKind::Http | TargetKind::Rest => Connector::Http(http::Http::new(t)),
        }
    }

    /// Makes one attempt at a due delivery (blocking).
    pub fn send(&self, cfg: &Config, t: &Target, agent: &ureq::Agent, row: &DeliveryRow) -> Reply {
        match self {
            Connector::Http(c) => c.send(agent, row),
            Connector::Sap(c) => match payload(cfg, t, row) {
                Ok(p) => c.send(agent, row, &p),
                Err(why) => Reply::refused(why),
            },
            Connector::D365(c) => match payload(cfg, t, row) {
                Ok(p) => c.send(agent, row, &p),
                Err(why) => Reply::refused(why),
            },
            Connector::Coupa(c) => match payload(cfg, t, row) {
                Ok(p) => c.send(agent, row, &p),
                Err(why) => Reply::refused(why),
            },
            Connector::Oracle(c) => match payload(cfg, t, row) {
                Ok(p) => c.send(agent, row, &p),
                Err(why) => Reply::refused(why),
            },
            Connector::Legacy(c) if c.passes_through() => c.send(cfg, t, row, &Value::Null),
            Connector::Legacy(c) => match payload(cfg, t, row) {
                Ok(p) => c.send(cfg, t, row, &p),
                Err(why) => Reply::refused(why),
            },
        }
    }
}

/// What a system answered when asked what it holds for a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// The document as the system holds it.
    Found(Value),
    /// The system holds no such document.
    Absent,
    /// This kind of target cannot be read back: what was sent is what counts.
    Unreadable,
}

impl Connector {
    /// Reads back what the target's system holds for the record `json` (its canonical
    /// envelope), by the business key its payload mapping gives, for reconciliation.
    pub fn read_back(
        &self,
        cfg: &Config,
        t: &Target,
        agent: &ureq::Agent,
        json: &[u8],
    ) -> Result<Held, String> {
        let row = row_of(t, json);
        let schema = schema_of(&row);
        let held = match self {
            Connector::Sap(c) => c.read_back(agent, &schema, &payload(cfg, t, &row)?)?,
            Connector::D365(c) => c.read_back(agent, &schema, &payload(cfg, t, &row)?)?,
            Connector::Oracle(c) => c.read_back(agent, &schema, &payload(cfg, t, &row)?)?,
            _ => return Ok(Held::Unreadable),
        };
        Ok(match held {
            Some(v) => Held::Found(v),
            None => Held::Absent,
        })
    }
}

/// A record's canonical envelope as a delivery row, for calls made outside a delivery
/// (read-back, process steps).
fn row_of(t: &Target, json: &[u8]) -> DeliveryRow {
    DeliveryRow {
        id: 0,
        target: t.name.clone(),
        idem_key: String::new(),
        payload: json.to_vec(),
        attempts: 0,
        created_at: String::new(),
        maybe_sent: true,
        file_id: 0,
        claim_no: 0,
    }
}

impl Connector {
    /// Whether the supplier the record's payload for `t` names exists in `t`'s system:
    /// `Ok((supplier, exists))`, or the reply of a call that did not answer the question.
    pub fn lookup_supplier(
        &self,
        cfg: &Config,
        t: &Target,
        agent: &ureq::Agent,
        json: &[u8],
    ) -> Result<(String, bool), Reply> {
        let Connector::Sap(c) = self else {
            return Err(Reply::refused(format!(
                "{} targets cannot look suppliers up",
                t.kind.as_str()
            )));
        };
        let body = payload(cfg, t, &row_of(t, json)).map_err(Reply::refused)?;
        let supplier = ["Supplier", "InvoicingParty"]
            .iter()
            .find_map(|k| body[*k].as_str())
            .ok_or_else(|| Reply::refused("the payload names no Supplier or InvoicingParty"))?
            .to_string();
        let exists = c.supplier_exists(agent, &supplier)?;
        Ok((supplier, exists))
    }

    /// Undoes what a delivery of a `schema` record created in `t` (its system id): the
    /// compensation `cancel`. Ok with what the system answered.
    pub fn cancel(
        &self,
        t: &Target,
        agent: &ureq::Agent,
        schema: &str,
        system_id: &str,
        today: &str,
    ) -> Result<String, Reply> {
        match self {
            Connector::Sap(c) => c.cancel(agent, schema, system_id, today),
            Connector::Http(c) => c.cancel(agent, system_id),
            _ => Err(Reply::refused(format!(
                "{} targets cannot cancel a document",
                t.kind.as_str()
            ))),
        }
    }
}

/// The connector of a target, shared by every round of this process so that tokens and CSRF
/// sessions are reused (one per target name and configuration).
pub fn connector(t: &Target) -> Arc<Connector> {
    type Registry = Mutex<HashMap<String, (Target, Arc<Connector>)>>;
    static ALL: OnceLock<Registry> = OnceLock::new();
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match all.get(&t.name) {
        Some((cfg, c)) if cfg == t => c.clone(),
        _ => {
            let c = Arc::new(Connector::new(t));
            all.insert(t.name.clone(), (t.clone(), c.clone()));
            c
        }
    }
}

/// What a record becomes for the target's system: its payload mapping
/// (`targets/KIND/DOCUMENT.jq`, the partner's own under `partners/PARTNER/` when it has one)
/// run on the record's envelope with `.target` = `{name, erp_id, values}`.
pub fn payload(cfg: &Config, t: &Target, row: &DeliveryRow) -> Result<Value, String> {
    let mut env: Value = serde_json::from_slice(&row.payload)
        .map_err(|e| format!("the stored record is not JSON: {e}"))?;
    let partner = env["partner"].as_str().unwrap_or("").to_string();
    let schema = env["schema"].as_str().unwrap_or("").to_string();
    let document = schema.split('/').next().unwrap_or("");
    let kind = t.kind.as_str();
    let mapping = cfg
        .maps
        .find(&partner, "targets", kind, document)
        .ok_or_else(|| {
            format!("no payload mapping targets/{kind}/{document}.jq for {schema} records")
        })?;
    let erp_id = cfg
        .partner(&partner)
        .and_then(|p| p.erp_ids.get(&t.name))
        .cloned();
    env["target"] = serde_json::json!({
        "name": t.name,
        "erp_id": erp_id,
        "values": t.values,
    });
    cfg.maps.outbound(mapping, &partner, &env).map_err(|e| {
        format!(
            "payload mapping targets/{kind}/{document}.jq: {}",
            e.message
        )
    })
}

/// The schema of a delivery's record (`invoice/v1`), which decides where a connector sends it.
pub(crate) fn schema_of(row: &DeliveryRow) -> String {
    serde_json::from_slice::<Value>(&row.payload)
        .ok()
        .and_then(|v| v["schema"].as_str().map(String::from))
        .unwrap_or_default()
}

/// One HTTP answer, read whole (bounded).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header (`Set-Cookie`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the body is an HTML page (a login or error page answered in place of data).
    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("html"))
            || self.body.trim_start().starts_with('<')
                && !self.body.trim_start().starts_with("<?xml")
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The answer as a response for the delivery model (`Retry-After` in seconds, or an HTTP
    /// date counted from now).
    pub fn response(&self, body: String) -> Response {
        Response::Status {
            status: self.status,
            retry_after: self.header("retry-after").and_then(retry_after),
            body: crate::delivery::excerpt(&body),
        }
    }
}

/// `Retry-After` as seconds: delta-seconds, or an IMF date.
pub fn retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let when = crate::util::Utc::parse_http_date(v)?;
    Some((when.epoch - crate::util::Utc::now().epoch).max(0) as u64)
}

/// A request to make: method, URL with query, headers, body.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub url: String,
    pub query: Vec<(&'a str, String)>,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn new(method: &'a str, url: String) -> Call<'a> {
        Call {
            method,
            url,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, k: &'a str, v: impl Into<String>) -> Call<'a> {
        self.headers.push((k, v.into()));
        self
    }

    pub fn query(mut self, k: &'a str, v: impl Into<String>) -> Call<'a> {
        self.query.push((k, v.into()));
        self
    }

    pub fn json(mut self, v: &Value) -> Call<'a> {
        self.body = Some(v.to_string().into_bytes());
        self.headers
            .push(("Content-Type", "application/json".into()));
        self
    }

    /// Sends it; an error is no answer at all (refused, reset, timed out).
    pub fn send(self, agent: &ureq::Agent) -> Result<Answer, String> {
        let uri = {
            let mut u = self.url.clone();
            for (i, (k, v)) in self.query.iter().enumerate() {
                u.push(if i == 0 { '?' } else { '&' });
                u.push_str(&encode(k));
                u.push('=');
                u.push_str(&encode(v));
            }
            u
        };
        let mut req = ureq::http::Request::builder().method(self.method).uri(&uri);
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(self.body.unwrap_or_default())
            .map_err(|e| format!("request to {}: {e}", self.url))?;
        let mut r = agent.run(req).map_err(|e| e.to_string())?;
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status: r.status().as_u16(),
            headers,
            body,
        })
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'$' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An OData string literal: quotes doubled.
pub fn odata_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `Basic` credentials.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        crate::util::base64(format!("{user}:{password}").as_bytes())
    )
}

/// An OAuth2 client-credentials token, cached until a minute before it expires.
pub(crate) struct TokenCache {
    token: Mutex<Option<(String, std::time::Instant)>>,
}

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache {
            token: Mutex::new(None),
        }
    }

    /// Forgets the token (after a 401).
    pub fn clear(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The cached token, or a new one from `token_url`.
    pub fn get(
        &self,
        agent: &ureq::Agent,
        token_url: &str,
        client_id: &str,
        client_secret: &str,
        scope: &str,
    ) -> Result<String, Reply> {
        let mut slot = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, until)) = &*slot {
            if std::time::Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            encode(client_id),
            encode(client_secret),
            encode(scope)
        );
        let mut call = Call::new("POST", token_url.to_string())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json");
        call.body = Some(form.into_bytes());
        let a = call
            .send(agent)
            .map_err(|e| Reply::failed(format!("token endpoint: {e}")))?;
        let v = a.json().unwrap_or_default();
        if a.status != 200 {
            // The error text names the endpoint's own code and description, never the secret.
            let text = format!(
                "token endpoint answered HTTP {}: {} {}",
                a.status,
                v["error"].as_str().unwrap_or(""),
                v["error_description"].as_str().unwrap_or("")
            );
            return Err(if a.status == 400 || a.status == 401 {
                Reply::refused(text)
            } else {
                Reply::of(a.response(text))
            });
        }
        let Some(token) = v["access_token"].as_str() else {
            return Err(Reply::failed("token endpoint gave no access_token"));
        };
        let life = v["expires_in"]
            .as_u64()
            .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(300);
        let until = std::time::Instant::now() + Duration::from_secs(life.saturating_sub(60).max(1));
        *slot = Some((token.to_string(), until));
        Ok(token.to_string())
    }
}

/// The `Authorization` header a target's configuration asks for: an OAuth2 client-credentials
/// bearer when `token_url` is set (`scope`, or `default_scope`), a fixed bearer token
/// (`token_*`), basic (`username_*`/`password_*`), or none.
pub(crate) fn authorization(
    t: &Target,
    tokens: &TokenCache,
    agent: &ureq::Agent,
    default_scope: &str,
) -> Result<Option<String>, Reply> {
    if let Some(url) = &t.token_url {
        let id = need("client_id", t, &t.client_id_env, &t.client_id_file)?;
        let secret = need(
            "client_secret",
            t,
            &t.client_secret_env,
            &t.client_secret_file,
        )?;
        let scope = t.scope.clone().unwrap_or_else(|| default_scope.to_string());
        let token = tokens.get(agent, url, &id, &secret, &scope)?;
        return Ok(Some(format!("Bearer {token}")));
    }
    match crate::config::secret(&t.token_env, &t.token_file) {
        Ok(Some(tok)) => return Ok(Some(format!("Bearer {tok}"))),
        Ok(None) => {}
        Err(e) => return Err(Reply::refused(format!("bearer token: {e}"))),
    }
    if t.username_env.is_some() || t.username_file.is_some() {
        let user = need("username", t, &t.username_env, &t.username_file)?;
        let password = need("password", t, &t.password_env, &t.password_file)?;
        return Ok(Some(basic(&user, &password)));
    }
    Ok(None)
}

/// A 401 while an OAuth2 token is used means the token was refused (expired or revoked): it is
/// forgotten and the attempt fails, to be retried with a new one. Without OAuth2 a 401 stays
/// the system's answer (wrong credentials: a rejection for the operator).
pub(crate) fn token_refused(t: &Target, tokens: &TokenCache, a: &Answer) -> Result<(), Reply> {
    if a.status == 401 && t.token_url.is_some() {
        tokens.clear();
        return Err(Reply::failed("HTTP 401: the OAuth2 token was refused"));
    }
    Ok(())
}

/// [`authorization`] for a system that always needs one.
pub(crate) fn required_authorization(
    t: &Target,
    tokens: &TokenCache,
    agent: &ureq::Agent,
    default_scope: &str,
) -> Result<String, Reply> {
    authorization(t, tokens, agent, default_scope)?.ok_or_else(|| {
        Reply::refused(format!(
            "target {}: no credentials configured (username_* and password_*, or token_url with client_id_* and client_secret_*)",
            t.name
        ))
    })
}

/// A secret of the target, or a refusal naming what is missing.
pub(crate) fn need(
    what: &str,
    t: &Target,
    env: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<String, Reply> {
    match crate::config::secret(env, file) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Reply::refused(format!(
            "target {}: no {what} configured ({what}_env or {what}_file)",
            t.name
        ))),
        Err(e) => Err(Reply::refused(format!("target {}: {what}: {e}", t.name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_and_odata_literals_are_escaped() {
        assert_eq!(encode("a eq 'b c'&x"), "a%20eq%20%27b%20c%27%26x");
        assert_eq!(encode("$filter"), "$filter");
        assert_eq!(odata_str("O'Brien"), "'O''Brien'");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(" 7 "), Some(7));
        assert_eq!(retry_after("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(retry_after("soon"), None);
    }
}
