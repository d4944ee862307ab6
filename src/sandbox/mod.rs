//! `edigate sandbox`: simulators of the ERP APIs the connectors call, on one loopback port,
//! faithful to the contracts the connectors rely on (see `docs/CONNECTORS.md`), with fault
//! injection (`POST /_sandbox/faults`) and a view of what each system holds
//! (`GET /_sandbox/records`); `POST /_sandbox/alter` changes what SAP or F&O holds, as a
//! person in the ERP would, to plant differences for reconciliation. For tests, demos and a migration team's dry run; not part of
//! the service.

mod coupa;
mod d365;
mod oracle;
mod sap;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Credentials the simulated systems accept (the SAP user also for Oracle's basic
/// authentication).
#[derive(Debug, Clone)]
pub struct Accounts {
    pub sap_user: String,
    pub sap_password: String,
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of the OAuth2 tokens handed out.
    pub token_seconds: u64,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            sap_user: "edigate".into(),
            sap_password: "sandbox".into(),
            client_id: "edigate".into(),
            client_secret: "sandbox".into(),
            token_seconds: 3599,
        }
    }
}

/// What goes wrong on purpose, for changes (POST): each with probability `rate`, one of
/// `kinds` drawn at random.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub rate: f64,
    pub kinds: Vec<String>,
    /// How late a `timeout` answer comes (after the change is committed).
    pub slow_ms: u64,
}

/// Every fault kind the sandbox knows.
pub const FAULT_KINDS: [&str; 8] = [
    "500",
    "429",
    "timeout",
    "reset",
    "commit_then_fail",
    "token_expiry",
    "csrf_expiry",
    "html_login",
];

/// A fault drawn for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// 500 before anything is stored.
    Before,
    TooMany,
    /// Stored, then answered later than the client waits.
    Late,
    /// The connection dropped before anything is stored.
    Reset,
    /// Stored, then 500 (or a dropped connection).
    AfterCommit,
    TokenExpiry,
    CsrfExpiry,
    LoginPage,
}

/// The simulators' shared state.
pub struct Sandbox {
    pub accounts: Accounts,
    faults: Mutex<Faults>,
    rng: Mutex<u64>,
    pub(crate) sap: Mutex<sap::State>,
    pub(crate) d365: Mutex<d365::State>,
    pub(crate) oracle: Mutex<oracle::State>,
    pub(crate) coupa: Mutex<coupa::State>,
    changes: AtomicUsize,
    injected: AtomicUsize,
}

impl Sandbox {
    pub fn new(accounts: Accounts, seed: u64) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            accounts,
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(seed.max(1)),
            sap: Mutex::new(sap::State::default()),
            d365: Mutex::new(d365::State::default()),
            oracle: Mutex::new(oracle::State::default()),
            coupa: Mutex::new(coupa::State::default()),
            changes: AtomicUsize::new(0),
            injected: AtomicUsize::new(0),
        })
    }

    pub fn set_faults(&self, f: Faults) {
        *lock(&self.faults) = f;
    }

    fn draw(&self) -> u64 {
        let mut x = lock(&self.rng);
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// The fault for one change, among the kinds that apply to the system (`allowed`).
    pub(crate) fn fault(&self, allowed: &[&str]) -> Fault {
        self.changes.fetch_add(1, Ordering::Relaxed);
        let f = lock(&self.faults).clone();
        let kinds: Vec<&String> = f
            .kinds
            .iter()
            .filter(|k| allowed.contains(&k.as_str()))
            .collect();
        if kinds.is_empty() || (self.draw() % 10_000) as f64 / 10_000.0 >= f.rate {
            return Fault::None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        match kinds[(self.draw() % kinds.len() as u64) as usize].as_str() {
            "500" => Fault::Before,
            "429" => Fault::TooMany,
            "timeout" => Fault::Late,
            "reset" => Fault::Reset,
            "commit_then_fail" => Fault::AfterCommit,
            "token_expiry" => Fault::TokenExpiry,
            "csrf_expiry" => Fault::CsrfExpiry,
            _ => Fault::LoginPage,
        }
    }

    fn slow(&self) -> Duration {
        Duration::from_millis(lock(&self.faults).slow_ms.max(100))
    }

    /// Changes what SAP holds (see `sap::alter`), F&O with `"system": "d365"` (see
    /// `d365::alter`) or Fusion with `"system": "oracle"` (see `oracle::alter`); how many
    /// entities changed.
    pub fn alter_sap(&self, v: &Value) -> usize {
        match v["system"].as_str() {
            Some("d365") => d365::alter(self, v),
            Some("oracle") => oracle::alter(self, v),
            _ => sap::alter(self, v),
        }
    }

    /// What every system holds, and the counts of changes and injected faults.
    pub fn records_json(&self) -> Value {
        json!({
            "sap_s4hana": lock(&self.sap).records(),
            "dynamics365": lock(&self.d365).records(),
            "oracle_fusion": lock(&self.oracle).records(),
            "coupa": lock(&self.coupa).records(),
            "changes": self.changes.load(Ordering::Relaxed),
            "faults_injected": self.injected.load(Ordering::Relaxed),
        })
    }
}

/// Applies an alteration (`{"where": {field: value}, "fields": {field: value}}`) to one
/// entity: whether it matched (and was changed).
pub(crate) fn alter_entity(e: &mut Value, v: &Value) -> bool {
    let hit = v["where"]
        .as_object()
        .is_some_and(|w| w.iter().all(|(k, x)| &e[k] == x));
    if hit {
        for (k, x) in v["fields"].as_object().into_iter().flatten() {
            e[k] = x.clone();
        }
    }
    hit
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One parsed request.
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// `Authorization: Basic` user and password.
    pub fn basic(&self) -> Option<(String, String)> {
        let b = self.header("authorization")?.strip_prefix("Basic ")?;
        let text = String::from_utf8(decode_base64(b.trim())?).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

/// An answer to write.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (a slow system).
    pub delay: Option<Duration>,
    /// Close without answering.
    pub drop: bool,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: v.to_string(),
            delay: None,
            drop: false,
        }
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: None,
            drop: false,
        }
    }

    pub fn dropped() -> Resp {
        Resp {
            drop: true,
            ..Resp::text(500, "text/plain", "")
        }
    }

    pub fn with(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn late(mut self, d: Duration) -> Resp {
        self.delay = Some(d);
        self
    }

    /// The page a single-sign-on gateway shows a user who is not a communication user.
    pub fn login_page() -> Resp {
        Resp::text(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Logon</title></head><body><form method=\"post\">User <input name=\"j_username\"></form></body></html>",
        )
    }
}

/// Serves until `stop` is set; a thread per connection.
pub fn serve(listener: TcpListener, sb: Arc<Sandbox>, stop: Arc<AtomicBool>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let sb = sb.clone();
                std::thread::spawn(move || {
                    let _ = connection(stream, &sb);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Requests on one connection (kept alive) until the client closes it.
fn connection(stream: TcpStream, sb: &Sandbox) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        let resp = route(sb, &req);
        if resp.drop {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if let Some(d) = resp.delay {
            std::thread::sleep(d);
        }
        let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        // One write: a head and a body in two segments would wait for a delayed ACK.
        let mut all = head.into_bytes();
        all.extend_from_slice(resp.body.as_bytes());
        out.write_all(&all)?;
        out.flush()?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Req>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; length.min(16 << 20)];
    reader.read_exact(&mut body)?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Some(Req {
        method,
        path: decode(path),
        query,
        headers,
        body,
    }))
}

/// Percent-decoding.
pub(crate) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// `Field eq 'text' and Other eq 12`: the (field, value) pairs of an OData filter made only of
/// equalities (all the connectors' lookups need).
pub(crate) fn equalities(filter: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in filter.split(" and ") {
        let (field, value) = part.trim().split_once(" eq ")?;
        let value = value.trim();
        let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(v) => v.replace("''", "'"),
            None => value.to_string(),
        };
        out.push((field.trim().to_string(), value));
    }
    Some(out)
}

fn route(sb: &Sandbox, req: &Req) -> Resp {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/_sandbox/records") => Resp::json(200, &sb.records_json()),
        ("POST", "/_sandbox/faults") => {
            let v = req.json().unwrap_or_default();
            let kinds: Vec<String> = match v["kinds"].as_array() {
                Some(k) => k
                    .iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect(),
                None => FAULT_KINDS.iter().map(|k| k.to_string()).collect(),
            };
            if let Some(bad) = kinds.iter().find(|k| !FAULT_KINDS.contains(&k.as_str())) {
                return Resp::json(
                    400,
                    &json!({"error": format!("unknown fault kind {bad:?}"), "kinds": FAULT_KINDS}),
                );
            }
            sb.set_faults(Faults {
                rate: v["rate"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0),
                kinds,
                slow_ms: v["slow_ms"].as_u64().unwrap_or(3000),
            });
            Resp::json(200, &json!({"ok": true}))
        }
        ("POST", "/_sandbox/alter") => match req.json().map(|v| sb.alter_sap(&v)) {
            Some(n) if n > 0 => Resp::json(200, &json!({"altered": n})),
            _ => Resp::json(404, &json!({"error": "no entity matches"})),
        },
        (_, p) if p.starts_with("/sap/") => sap::route(sb, req),
        (_, p) if p.starts_with("/fscmRestApi/") => oracle::route(sb, req),
        (_, p) if p.starts_with("/cxml/") => coupa::route(sb, req),
        (_, p) if p.starts_with("/data/") || p.contains("/oauth2/") => d365::route(sb, req),
        _ => Resp::json(404, &json!({"error": "no such service in the sandbox"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_cookies_and_credentials_are_read() {
        assert_eq!(
            equalities("A eq 'x y' and B eq 'O''Brien' and N eq 3").unwrap(),
            [
                ("A".to_string(), "x y".to_string()),
                ("B".into(), "O'Brien".into()),
                ("N".into(), "3".into())
            ]
        );
        assert_eq!(decode("a%20b%27"), "a b'");
        assert_eq!(
            decode_base64(&crate::util::base64(b"edigate:sandbox")).unwrap(),
            b"edigate:sandbox"
        );
    }
}
