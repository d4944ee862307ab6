//! The operators' dashboard: server-rendered HTML from the same binary, no script needed to
//! read or act (forms post back; the CSRF token rides in each form). Pages: overview,
//! quarantine list and file (raw content with the faulty segment and element highlighted),
//! document search with its timeline, and bulk jobs.

use super::api::{self, Bulk, Filter};
use super::auth::{self, Principal};
use super::{with_store, AppState};
use crate::config::Role;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The facts of the overview page: status, routes, each channel's activity, overdue acks.
pub type Overview = (
    crate::report::Status,
    Vec<Value>,
    Vec<crate::store::ChannelActivity>,
    Vec<crate::store::SentInterchange>,
);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/quarantine", get(quarantine))
        .route("/quarantine/bulk", post(bulk))
        .route("/quarantine/{id}", get(file))
        .route("/quarantine/{id}/content", post(correct))
        .route("/quarantine/{id}/release", post(release))
        .route("/quarantine/{id}/discard", post(discard))
        .route("/documents", get(documents))
        .route("/jobs/{id}", get(job))
}

/// Text safe inside HTML (elements and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// A query-string component.
fn q(s: &str) -> String {
    crate::targets::encode(s)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2733}\
header{background:#1d2733;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center}\
header a{color:#fff;text-decoration:none}main{padding:1em 1.5em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.3em .5em;text-align:left;vertical-align:top}\
.tiles{display:flex;flex-wrap:wrap;gap:.8em}.tile{border:1px solid #ccd;border-radius:6px;padding:.6em .9em;min-width:14em}\
.bad{color:#a40000;font-weight:600}.ok{color:#1a6b2a}pre{background:#f6f7f9;padding:.8em;overflow:auto;max-height:32em}\
mark.seg{background:#ffe7a8}mark.el{background:#ff9f8a;font-weight:700}form.inline{display:inline}\
textarea{width:100%;font-family:monospace}";

/// A whole page for `p`.
fn page(p: &Principal, title: &str, body: &str) -> Response {
    let logout = match &p.csrf {
        Some(c) => format!(
            "<form class=inline method=post action=/logout><input type=hidden name=csrf value=\"{}\"><button>Log out</button></form>",
            esc(c)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t} · edigate</title>\
         <meta name=viewport content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <header><strong>edigate</strong><a href=/>Overview</a><a href=/quarantine>Quarantine</a>\
         <a href=/documents>Documents</a><span style=margin-left:auto>{who} ({role})</span>{logout}</header>\
         <main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
        who = esc(&p.name),
        role = if p.role == Role::Operator { "operator" } else { "viewer" },
    );
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

/// The hidden CSRF field of a form.
fn csrf_field(p: &Principal) -> String {
    p.csrf
        .as_deref()
        .map(|c| format!("<input type=hidden name=csrf value=\"{}\">", esc(c)))
        .unwrap_or_default()
}

/// The login form, with status 401 for a page asked for without a session.
fn login_page(status: StatusCode, next: &str, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Log in · edigate</title>\
         <style>{STYLE}</style></head><body><main><h1>edigate: log in</h1>{m}\
         <form method=post action=/login><input type=hidden name=next value=\"{n}\">\
         <label>Token <input type=password name=token id=token autocomplete=off size=48></label> \
         <button id=login>Log in</button></form></main></body></html>",
        m = if message.is_empty() {
            String::new()
        } else {
            format!("<p class=bad>{}</p>", esc(message))
        },
        n = esc(next),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The caller of a page, or the login form (401).
fn viewer(s: &AppState, headers: &HeaderMap, here: &str) -> Result<Principal, Response> {
    s.auth
        .principal(headers)
        .ok_or_else(|| login_page(StatusCode::UNAUTHORIZED, here, ""))
}

/// The caller of a form post that changes something: an operator with the session's CSRF
/// token.
fn operator(s: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Principal, Response> {
    let p = viewer(s, headers, "/")?;
    if p.role < Role::Operator {
        return Err(page(
            &p,
            "Not allowed",
            "<p class=bad>This needs an operator token.</p>",
        ));
    }
    if !auth::csrf_ok(&p, Some(csrf)) {
        return Err(super::error(
            StatusCode::FORBIDDEN,
            "forbidden: missing or wrong CSRF token",
        ));
    }
    Ok(p)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(Query(q): Query<NextQuery>) -> Response {
    login_page(StatusCode::OK, q.next.as_deref().unwrap_or("/"), "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Only paths of this site are followed after logging in.
fn local(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

pub async fn login(State(s): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let next = local(f.next.as_deref());
    let Some(p) = s.auth.token(f.token.trim()) else {
        tracing::warn!("a dashboard login with a wrong token");
        return login_page(StatusCode::UNAUTHORIZED, &next, "That token is not known.");
    };
    let (id, _) = s.auth.open_session(&p);
    tracing::info!(token = %p.name, "dashboard login");
    let mut r = Redirect::to(&next).into_response();
    if let Ok(v) = format!("{}={id}; Path=/; HttpOnly; SameSite=Strict", auth::COOKIE).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(p) = s.auth.principal(&headers) {
        if auth::csrf_ok(&p, Some(&f.csrf)) {
            s.auth.close_session(&headers);
        }
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    )
    .parse()
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn overview(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let p = match viewer(&s, &headers, "/") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = s
        .overview
        .get(&s, |cfg, store| {
            let st = crate::report::status(cfg, store).map_err(|e| e.to_string())?;
            let routes = api::routes_view(cfg, store)?;
            let overdue = store
                .overdue_acks(crate::util::Utc::now(), 50)
                .map_err(|e| e.to_string())?;
            let mut lasts = Vec::new();
            for c in &cfg.channels {
                lasts.push(store.channel_activity(&c.name).map_err(|e| e.to_string())?);
            }
            Ok((st, routes, lasts, overdue))
        })
        .await;
    let o = match r {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (st, routes, lasts, overdue) = (&o.0, &o.1, &o.2, &o.3);
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Files in flight {}, quarantined <a href=/quarantine>{}</a>, done {} ({} duplicate), discarded {}.</p>",
        st.files.in_flight, st.files.quarantined, st.files.done, st.files.duplicates, st.files.discarded
    );
    b.push_str("<h2>Channels</h2><div class=tiles>");
    for (c, act) in st.channels.iter().zip(lasts) {
        let health = st.health.iter().find(|h| h.channel == c.name);
        let state = match health.and_then(|h| h.last_error.as_deref()) {
            Some(e) => format!(
                "<span class=bad>failing since {} ({} in a row)</span>: {}",
                esc(health
                    .and_then(|h| h.last_ok_at.as_deref())
                    .unwrap_or("the start")),
                health.map_or(0, |h| h.failures),
                esc(e)
            ),
            None => "<span class=ok>ok</span>".into(),
        };
        let state = match &c.quiet_since {
            Some(since) => format!(
                "{state}<br><span class=bad>quiet: no file since {} (its partner sends more often)</span>",
                esc(since)
            ),
            None => state,
        };
        let _ = write!(
            b,
            "<div class=tile id=\"channel-{n}\"><strong>{n}</strong> {partner}<br>{state}<br>\
             last file {last}<br>files today {today}, quarantined {q}, waiting {w}</div>",
            n = esc(&c.name),
            partner = c
                .partner
                .as_deref()
                .map(|p| format!("({})", esc(p)))
                .unwrap_or_default(),
            last = esc(act.last_file_at.as_deref().unwrap_or("never")),
            today = act.files_today,
            q = act.quarantined,
            w = c.waiting.map_or("-".to_string(), |n| n.to_string()),
        );
    }
    b.push_str("</div><h2>Targets</h2><table><tr><th>Target</th><th>Kind</th><th>Pending</th><th>Delivered</th><th>Rejected</th><th>Dead</th><th>Breaker</th></tr>");
    for t in &st.targets {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&t.name),
            esc(&t.kind),
            t.pending + t.waiting,
            t.delivered,
            t.rejected,
            t.dead,
            if t.breaker == "closed" { "ok" } else { "bad" },
            esc(&t.breaker)
        );
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<h2>Overdue acknowledgements</h2><p id=overdue>{} interchange(s) sent wait past their due time for the partner's 997/999/CONTRL.</p>",
        st.acks_overdue
    );
    if !overdue.is_empty() {
        b.push_str("<table><tr><th>Partner</th><th>Document</th><th>Control</th><th>Sent</th><th>Due</th></tr>");
        for o in overdue {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=bad>{}</td></tr>",
                esc(&o.partner),
                esc(&o.document),
                esc(&o.control),
                esc(&o.sent_at),
                esc(&o.due_at)
            );
        }
        b.push_str("</table>");
    }
    if !routes.is_empty() {
        b.push_str("<h2>Migration routes</h2><table><tr><th>Route</th><th>Mode</th><th>Legacy</th><th>Modern</th><th>Latest reconcile</th></tr>");
        for r in routes {
            let list = |v: &Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            let last = match &r["last_reconcile"] {
                Value::Null => "never".to_string(),
                l => format!("{}: {}", l["at"].as_str().unwrap_or(""), l["summary"]),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(r["name"].as_str().unwrap_or("")),
                esc(r["mode"].as_str().unwrap_or("")),
                esc(&list(&r["legacy"])),
                esc(&list(&r["modern"])),
                esc(&last)
            );
        }
        b.push_str("</table>");
    }
    if !st.anomalies.is_empty() {
        b.push_str("<h2>Anomalies</h2><ul>");
        for a in &st.anomalies {
            let _ = write!(
                b,
                "<li>{} {}: {}</li>",
                esc(&a.kind),
                a.count,
                esc(&a.latest)
            );
        }
        b.push_str("</ul>");
    }
    page(&p, "Overview", &b)
}

async fn quarantine(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    let p = match viewer(&s, &headers, "/quarantine") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let fc = f.clone();
    let r = with_store(&s, move |_, store| Ok(api::listing(store, &fc))).await;
    let (total, items) = match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return page(&p, "Quarantine", &format!("<p class=bad>{}</p>", esc(&e))),
        Err(r) => return r,
    };
    let val = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    let mut b = format!(
        "<form method=get action=/quarantine>Partner <input name=partner value=\"{}\"> Document <input name=document value=\"{}\"> \
         Class <input name=class value=\"{}\"> Older than <input name=older_than value=\"{}\" size=5> <button>Filter</button></form>\
         <p id=total>{total} file(s)</p><table id=files><tr><th>Id</th><th>Received</th><th>Channel</th><th>Partner</th><th>Documents</th><th>Class</th><th>File</th><th>Reason</th></tr>",
        val(&f.partner), val(&f.document), val(&f.class), val(&f.older_than)
    );
    for e in &items {
        let _ = write!(
            b,
            "<tr><td><a href=\"/quarantine/{id}\" id=\"file-{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.received_at),
            esc(&e.channel),
            esc(e.partner.as_deref().unwrap_or("-")),
            esc(&e.documents),
            e.class,
            esc(&e.name),
            esc(&e.reason),
            id = e.id,
        );
    }
    b.push_str("</table>");
    let page_no = f.page.unwrap_or(1).max(1);
    let per = f.per_page.unwrap_or(50).clamp(1, api::MAX_PAGE);
    if page_no * per < total {
        let _ = write!(
            b,
            "<p><a href=\"/quarantine?partner={}&document={}&class={}&older_than={}&page={}\">Next page</a></p>",
            q(f.partner.as_deref().unwrap_or("")),
            q(f.document.as_deref().unwrap_or("")),
            q(f.class.as_deref().unwrap_or("")),
            q(f.older_than.as_deref().unwrap_or("")),
            page_no + 1
        );
    }
    if p.role == Role::Operator && total > 0 {
        let _ = write!(
            b,
            "<h2>Bulk action on this filter</h2><form method=post action=/quarantine/bulk>{}\
             <input type=hidden name=partner value=\"{}\"><input type=hidden name=document value=\"{}\">\
             <input type=hidden name=class value=\"{}\"><input type=hidden name=older_than value=\"{}\">\
             <select name=action><option>release</option><option>discard</option></select> \
             at most <input name=limit type=number min=1 max=1000 value={}> file(s) \
             <label><input type=checkbox name=confirm value=yes required> I confirm</label> <button>Start</button></form>",
            csrf_field(&p), val(&f.partner), val(&f.document), val(&f.class), val(&f.older_than), total.min(api::BULK_LIMIT)
        );
    }
    page(&p, "Quarantine", &b)
}

/// The separators of a document, for display: (segment terminator, element separator).
fn separators(data: &[u8]) -> (u8, u8) {
    if data.starts_with(b"ISA") && data.len() > 105 {
        (data[105], data[3])
    } else if data.starts_with(b"UNA") && data.len() > 8 {
        (data[8], data[4])
    } else if data.starts_with(b"UNB") {
        (b'\'', b'+')
    } else {
        (b'\n', 0)
    }
}

/// The content as HTML, one segment per line, with the segments at the diagnostics' byte
/// offsets marked (`mark.seg`) and their faulty element too (`mark.el`).
pub fn highlighted(data: &[u8], marks: &[(usize, Option<usize>)]) -> String {
    const SHOWN: usize = 512 * 1024;
    let (term, sep) = separators(data);
    let shown = &data[..data.len().min(SHOWN)];
    let mut out = String::new();
    let mut start = 0;
    let mut first = true;
    while start < shown.len() {
        let end = shown[start..]
            .iter()
            .position(|b| *b == term)
            .map_or(shown.len(), |i| start + i + 1);
        let seg = &shown[start..end];
        let hit = marks
            .iter()
            .find(|(o, _)| *o >= start && *o < end.max(start + 1));
        let text = String::from_utf8_lossy(seg);
        let text = text.trim_matches(['\r', '\n']);
        // The terminator stays outside the marks.
        let (text, tail) = match text.strip_suffix(term as char) {
            Some(t) if term != b'\n' => (t, (term as char).to_string()),
            _ => (text, String::new()),
        };
        match hit {
            None => out.push_str(&esc(text)),
            Some((_, element)) => {
                let id = if first { " id=error" } else { "" };
                first = false;
                out.push_str(&format!("<mark class=seg{id}>"));
                match element {
                    Some(n) if sep != 0 => {
                        let parts: Vec<&str> = text.split(sep as char).collect();
                        for (i, part) in parts.iter().enumerate() {
                            if i > 0 {
                                out.push_str(&esc(&(sep as char).to_string()));
                            }
                            if i == *n {
                                out.push_str(&format!("<mark class=el>{}</mark>", esc(part)));
                            } else {
                                out.push_str(&esc(part));
                            }
                        }
                    }
                    _ => out.push_str(&esc(text)),
                }
                out.push_str("</mark>");
            }
        }
        out.push_str(&esc(&tail));
        out.push('\n');
        start = end;
    }
    if data.len() > SHOWN {
        let _ = write!(out, "… ({} more bytes)", data.len() - SHOWN);
    }
    out
}

async fn file(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let here = format!("/quarantine/{}", q(&raw));
    let p = match viewer(&s, &headers, &here) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<i64>() else {
        return super::error(StatusCode::BAD_REQUEST, "bad id: ids are positive integers");
    };
    let r = with_store(&s, move |cfg, store| {
        let d = api::detail(cfg, store, id)?;
        let content = api::read_content(cfg, store, id)?;
        Ok((d, content))
    })
    .await;
    let (d, content) = match r {
        Ok((Some(d), c)) => (d, c),
        Ok((None, _)) => return super::error(StatusCode::NOT_FOUND, "not found"),
        Err(r) => return r,
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>File <strong>{}</strong> from channel {} (partner {}), received {}, {} bytes; state <strong id=state>{}</strong>.</p>\
         <p id=reason class=bad>{} [{}]</p>",
        esc(d["name"].as_str().unwrap_or("")),
        esc(d["channel"].as_str().unwrap_or("")),
        esc(d["partner"].as_str().unwrap_or("-")),
        esc(d["received_at"].as_str().unwrap_or("")),
        d["size"],
        esc(d["state"].as_str().unwrap_or("")),
        esc(d["reason"].as_str().unwrap_or("")),
        esc(d["code"].as_str().unwrap_or("")),
    );
    let mut marks = Vec::new();
    if let Some(ds) = d["diagnostics"].as_array() {
        b.push_str("<h2>Diagnostics</h2><ul id=diagnostics>");
        for x in ds {
            let pos = &x["position"];
            if let Some(o) = pos["offset"].as_u64() {
                marks.push((o as usize, pos["element"].as_u64().map(|e| e as usize)));
            }
            let _ = write!(
                b,
                "<li>byte {}, segment {} ({}), element {}: {} [{}]</li>",
                pos["offset"],
                pos["segment"],
                esc(pos["segment_id"].as_str().unwrap_or("")),
                pos["element"],
                esc(x["message"]
                    .as_str()
                    .or(x["text"].as_str())
                    .unwrap_or(&x.to_string())),
                esc(x["code"].as_str().unwrap_or("")),
            );
        }
        b.push_str("</ul>");
    }
    if marks.is_empty() {
        if let Some(o) = d["position"]["offset"].as_u64() {
            marks.push((
                o as usize,
                d["position"]["element"].as_u64().map(|e| e as usize),
            ));
        }
    }
    if let Some(c) = &content {
        let _ = write!(
            b,
            "<h2>Content{}</h2><pre id=content>{}</pre>",
            if d["original_kept"] == true {
                " (corrected copy; the content as received is kept)"
            } else {
                ""
            },
            highlighted(c, &marks)
        );
        if p.role == Role::Operator {
            let _ = write!(
                b,
                "<h2>Correct a copy</h2><form method=post action=/quarantine/{id}/content>{csrf}\
                 <textarea name=content id=correction rows=12>{text}</textarea><br>\
                 <button id=save>Save the corrected copy</button> (the content as received is kept)</form>\
                 <h2>Act</h2><form class=inline method=post action=/quarantine/{id}/release>{csrf}\
                 <label><input type=checkbox name=confirm value=yes required id=confirm-release> I confirm</label> <button id=release>Release</button></form> \
                 <form class=inline method=post action=/quarantine/{id}/discard>{csrf}\
                 <label><input type=checkbox name=confirm value=yes required> I confirm</label> <button id=discard>Discard</button></form>",
                id = id,
                csrf = csrf_field(&p),
                text = esc(&String::from_utf8_lossy(c)),
            );
        }
    }
    b.push_str("<h2>History</h2><table id=history>");
    for h in d["history"].as_array().into_iter().flatten() {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(h["at"].as_str().unwrap_or("")),
            esc(h["state"].as_str().unwrap_or("")),
            esc(h["detail"].as_str().unwrap_or(""))
        );
    }
    b.push_str("</table>");
    page(&p, &format!("Quarantined file {id}"), &b)
}

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    confirm: Option<String>,
    content: Option<String>,
}

async fn act(s: AppState, headers: HeaderMap, raw: String, f: ActForm, release: bool) -> Response {
    let p = match operator(&s, &headers, &f.csrf) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<i64>() else {
        return super::error(StatusCode::BAD_REQUEST, "bad id: ids are positive integers");
    };
    if f.confirm.as_deref() != Some("yes") {
        return page(&p, "Not done", "<p class=bad>Tick “I confirm” first.</p>");
    }
    let name = p.name.clone();
    let r = with_store(&s, move |cfg, store| {
        Ok(api::act(cfg, store, id, release, &name))
    })
    .await;
    match r {
        Ok(Ok(())) => page(
            &p,
            if release { "Released" } else { "Discarded" },
            &format!(
                "<p id=done>File {id} {}. <a href=/quarantine>Back to the quarantine</a></p>",
                if release {
                    "goes through the pipeline again"
                } else {
                    "left the quarantine (its content is kept in the archive)"
                }
            ),
        ),
        Ok(Err(e)) => page(&p, "Not done", &format!("<p class=bad>{}</p>", esc(&e.1))),
        Err(r) => r,
    }
}

async fn release(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    act(s, headers, raw, f, true).await
}

async fn discard(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    act(s, headers, raw, f, false).await
}

async fn correct(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    let p = match operator(&s, &headers, &f.csrf) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(id) = raw.parse::<i64>() else {
        return super::error(StatusCode::BAD_REQUEST, "bad id: ids are positive integers");
    };
    // A browser's textarea sends CR LF line ends: the file had whatever it had, so a
    // correction keeps LF where the browser added CR.
    let text = f.content.unwrap_or_default().replace("\r\n", "\n");
    if text.is_empty() {
        return page(
            &p,
            "Not done",
            "<p class=bad>An empty file is no correction.</p>",
        );
    }
    let body = Bytes::from(text.into_bytes());
    let name = p.name.clone();
    let r = with_store(&s, move |cfg, store| {
        Ok(crate::quarantine::correct(cfg, store, id, &body, &name).map_err(api::Refused::from))
    })
    .await;
    match r {
        Ok(Ok(_)) => Redirect::to(&format!("/quarantine/{id}")).into_response(),
        Ok(Err(e)) => page(&p, "Not done", &format!("<p class=bad>{}</p>", esc(&e.1))),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct BulkForm {
    csrf: String,
    confirm: Option<String>,
    action: String,
    limit: usize,
    partner: Option<String>,
    document: Option<String>,
    class: Option<String>,
    older_than: Option<String>,
}

async fn bulk(State(s): State<AppState>, headers: HeaderMap, Form(f): Form<BulkForm>) -> Response {
    let p = match operator(&s, &headers, &f.csrf) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if f.confirm.as_deref() != Some("yes") {
        return page(&p, "Not done", "<p class=bad>Tick “I confirm” first.</p>");
    }
    let b = Bulk {
        action: f.action,
        limit: f.limit,
        filter: Filter {
            partner: f.partner,
            document: f.document,
            class: f.class,
            older_than: f.older_than,
            page: None,
            per_page: None,
        },
    };
    match api::start_bulk(&s, &p.name, b).await {
        Ok(id) => Redirect::to(&format!("/jobs/{id}")).into_response(),
        Err(r) => r,
    }
}

async fn job(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let p = match viewer(&s, &headers, "/") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id: u64 = raw.parse().unwrap_or(0);
    let j = s
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    let Some(j) = j else {
        return super::error(StatusCode::NOT_FOUND, "not found");
    };
    let mut b = format!(
        "<p id=job>{} by {}: {} of {} done, {} failed ({}). <a href=/jobs/{id}>Refresh</a></p><ul>",
        esc(&j.action),
        esc(&j.by),
        j.done,
        j.selected,
        j.failed.len(),
        j.state
    );
    for (file, e) in &j.failed {
        let _ = write!(b, "<li>file {file}: {}</li>", esc(e));
    }
    b.push_str("</ul>");
    page(&p, &format!("Bulk job {id}"), &b)
}

async fn documents(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(k): Query<api::KeyQuery>,
) -> Response {
    let here = match &k.key {
        Some(v) => format!("/documents?key={}", q(v)),
        None => "/documents".into(),
    };
    let p = match viewer(&s, &headers, &here) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let key = k.key.unwrap_or_default();
    let mut b = format!(
        "<form method=get action=/documents>PO, invoice or ASN number, or an ERP's id <input name=key id=key value=\"{}\"> <button id=search>Search</button></form>",
        esc(&key)
    );
    if key.is_empty() || key.len() > 200 {
        return page(&p, "Documents", &b);
    }
    let kk = key.clone();
    let r = with_store(&s, move |_, store| api::document_timeline(store, &kk)).await;
    let v = match r {
        Ok(Some(v)) => v,
        Ok(None) => {
            let _ = write!(b, "<p id=none>No record has the key {}.</p>", esc(&key));
            return page(&p, "Documents", &b);
        }
        Err(r) => return r,
    };
    let t = &v["track"];
    let _ = write!(
        b,
        "<p id=milestone>Order status: <strong>{}</strong>{}</p><p>Deep link: <a href=\"/documents?key={k}\">/documents?key={k}</a></p>",
        esc(t["status"].as_str().unwrap_or("-")),
        match t["awaiting"].as_array() {
            Some(a) if !a.is_empty() => format!(
                "; awaiting {}",
                esc(&a.iter().filter_map(|m| m.as_str()).collect::<Vec<_>>().join(", "))
            ),
            _ => String::new(),
        },
        k = esc(&q(&key)),
    );
    b.push_str("<h2>Systems</h2><table id=systems><tr><th>Target</th><th>Holds</th><th>Pending</th><th>Held</th></tr>");
    for sy in t["systems"].as_array().into_iter().flatten() {
        let _ = write!(
            b,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(sy["target"].as_str().unwrap_or("")),
            if sy["shadow"] == true {
                " (shadow)"
            } else {
                ""
            },
            esc(sy["status"].as_str().unwrap_or("-")),
            sy["pending"],
            sy["held"]
        );
    }
    b.push_str("</table><h2>Documents and their timelines</h2>");
    let docs = t["documents"].as_array().cloned().unwrap_or_default();
    for (d, tl) in docs
        .iter()
        .zip(v["timelines"].as_array().cloned().unwrap_or_default())
    {
        let _ = write!(
            b,
            "<section class=doc><h3>{} {} ({})</h3><p>File {} <a href=\"/quarantine/{}\">{}</a> from {}, received {}</p><ul>",
            esc(d["milestone"].as_str().unwrap_or("-")),
            esc(d["schema"].as_str().unwrap_or("")),
            esc(d["record_id"].as_str().unwrap_or("")),
            tl["file"]["id"],
            tl["file"]["id"],
            esc(tl["file"]["name"].as_str().unwrap_or("")),
            esc(tl["file"]["channel"].as_str().unwrap_or("")),
            esc(tl["file"]["received_at"].as_str().unwrap_or("")),
        );
        for e in tl["events"].as_array().into_iter().flatten() {
            let _ = write!(
                b,
                "<li>{} <strong>{}</strong> {}</li>",
                esc(e["at"].as_str().unwrap_or("")),
                esc(e["state"].as_str().unwrap_or("")),
                esc(e["detail"].as_str().unwrap_or(""))
            );
        }
        b.push_str("</ul><table><tr><th>Delivered to</th><th>State</th><th>System id</th><th>Answer</th></tr>");
        for x in d["deliveries"].as_array().into_iter().flatten() {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(x["target"].as_str().unwrap_or("")),
                esc(x["state"].as_str().unwrap_or("")),
                esc(x["system_id"].as_str().unwrap_or("")),
                esc(x["error"].as_str().unwrap_or(""))
            );
        }
        b.push_str("</table></section>");
    }
    page(&p, &format!("Documents: {key}"), &b)
}
