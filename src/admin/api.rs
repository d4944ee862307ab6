//! The JSON API under `/api/v1`: status, the quarantine (list, one file, its content, a
//! corrected copy, release, discard, bulk jobs), documents by business key with their
//! timeline, routes, targets and channels, and the OpenAPI document that describes them.

use super::{caller, error, operator, with_store, AppState};
use crate::quarantine;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/quarantine", get(quarantine_list))
        .route("/api/v1/quarantine/bulk", post(bulk))
        .route("/api/v1/quarantine/{id}", get(quarantine_one))
        .route(
            "/api/v1/quarantine/{id}/content",
            get(content).put(put_content),
        )
        .route("/api/v1/quarantine/{id}/release", post(release))
        .route("/api/v1/quarantine/{id}/discard", post(discard))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/documents", get(documents))
        .route("/api/v1/routes", get(routes_list))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/channels", get(channels))
        .route("/api/v1/acks/overdue", get(overdue))
        .route("/api/v1/openapi.json", get(openapi))
}

/// An id from the path, or a 400.
fn id(raw: &str) -> Result<i64, Response> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "bad id: ids are positive integers"))
}

/// A failed operator action: unknown files are 404, files not in the quarantine 409,
/// anything else 500 (logged, never shown).
#[derive(Debug)]
pub struct Refused(pub StatusCode, pub String);

impl From<crate::pipeline::PipelineError> for Refused {
    fn from(e: crate::pipeline::PipelineError) -> Refused {
        use crate::pipeline::PipelineError as P;
        use crate::store::StoreError as S;
        match e {
            P::Store(S::NotFound(_)) => Refused(StatusCode::NOT_FOUND, "not found".into()),
            P::Store(w @ S::WrongState { .. }) => Refused(StatusCode::CONFLICT, w.to_string()),
            other => {
                tracing::error!(error = %other, "an operator action failed");
                Refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (see the log)".into(),
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Refused {
        crate::pipeline::PipelineError::from(e).into()
    }
}

fn store_answer(e: &Refused) -> Response {
    error(e.0, &e.1)
}

async fn status(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    match super::status(&s).await {
        Ok(st) => Json(&*st).into_response(),
        Err(r) => r,
    }
}

pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    match with_store(&s, |cfg, store| {
        crate::report::metrics_text(cfg, store)
            .map(|t| t + &crate::latency::exposition())
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(r) => r,
    }
}

/// Filters of the quarantine listing (as the CLI's), with a page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    pub partner: Option<String>,
    pub document: Option<String>,
    pub class: Option<String>,
    /// `30m`, `12h`, `7d`.
    pub older_than: Option<String>,
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

/// One quarantined file in a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub received_at: String,
    pub channel: String,
    pub partner: Option<String>,
    pub documents: String,
    pub class: &'static str,
    pub name: String,
    pub reason: String,
}

/// The most entries one page holds.
pub const MAX_PAGE: usize = 200;

/// The quarantined files matching `f`, newest first: (total, this page).
pub fn listing(store: &crate::store::Store, f: &Filter) -> Result<(usize, Vec<Entry>), String> {
    let all = matching(store, f)?;
    let per = f.per_page.unwrap_or(50).clamp(1, MAX_PAGE);
    let page = f.page.unwrap_or(1).max(1);
    let total = all.len();
    let items = all.into_iter().skip((page - 1) * per).take(per).collect();
    Ok((total, items))
}

/// Every quarantined file matching `f`'s filters (its page ignored), newest first.
fn matching(store: &crate::store::Store, f: &Filter) -> Result<Vec<Entry>, String> {
    let age = match f.older_than.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(
            quarantine::parse_age(a)
                .ok_or_else(|| format!("older_than {a:?}: use 30m, 12h or 7d"))?,
        ),
        None => None,
    };
    let some = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(String::from);
    let all = quarantine::list(
        store,
        some(&f.partner).as_deref(),
        some(&f.document).as_deref(),
        some(&f.class).as_deref(),
        age,
    )
    .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .rev()
        .map(|(f, class, reason)| Entry {
            id: f.id,
            received_at: f.received_at,
            channel: f.channel,
            partner: f.partner,
            documents: f.documents,
            class,
            name: f.name,
            reason,
        })
        .collect())
}

async fn quarantine_list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    let (page, per) = (
        f.page.unwrap_or(1).max(1),
        f.per_page.unwrap_or(50).clamp(1, MAX_PAGE),
    );
    match with_store(&s, move |_, store| Ok(listing(store, &f))).await {
        Ok(Ok((total, items))) => {
            Json(json!({"total": total, "page": page, "per_page": per, "items": items}))
                .into_response()
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, &e),
        Err(r) => r,
    }
}

/// One quarantined file: its row, the reason with every diagnostic and its position, and
/// its history.
pub fn detail(
    cfg: &crate::config::Config,
    store: &crate::store::Store,
    id: i64,
) -> Result<Option<Value>, String> {
    let f = match store.file(id) {
        Ok(f) => f,
        Err(crate::store::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let refusal: Value = f
        .refusal
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    let history: Vec<Value> = store
        .events(id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|e| json!(e))
        .collect();
    let code = refusal["code"].as_str().unwrap_or("");
    Ok(Some(json!({
        "id": f.id,
        "name": f.name,
        "state": f.state.as_str(),
        "channel": f.channel,
        "partner": f.partner,
        "documents": f.documents,
        "sha256": f.sha256,
        "size": f.size,
        "received_at": f.received_at,
        "class": quarantine::class(code),
        "code": code,
        "reason": refusal["reason"],
        "position": refusal["position"],
        "diagnostics": refusal["diagnostics"],
        "original_kept": quarantine::original_path(cfg, &f).exists(),
        "history": history,
    })))
}

/// One item by the id in the path, read for a viewer: 401 without a token, 400 for a bad
/// id, 404 when `read` finds nothing.
async fn read_one<T: Send + 'static>(
    s: &AppState,
    headers: &HeaderMap,
    raw: &str,
    read: impl FnOnce(&crate::config::Config, &mut crate::store::Store, i64) -> Result<Option<T>, String>
        + Send
        + 'static,
) -> Result<T, Response> {
    caller(s, headers)?;
    let id = id(raw)?;
    with_store(s, move |cfg, store| read(cfg, store, id))
        .await?
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not found"))
}

async fn quarantine_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match read_one(&s, &headers, &raw, |cfg, store, id| detail(cfg, store, id)).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// The content of quarantined file `id` as it is now (a correction, once uploaded).
pub fn read_content(
    cfg: &crate::config::Config,
    store: &crate::store::Store,
    id: i64,
) -> Result<Option<Vec<u8>>, String> {
    let f = match store.file(id) {
        Ok(f) if f.state == crate::store::State::Quarantined => f,
        Ok(_) | Err(crate::store::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    std::fs::read(cfg.resolve(&f.blob))
        .map(Some)
        .map_err(|e| format!("reading file {id}: {e}"))
}

async fn content(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match read_one(&s, &headers, &raw, |cfg, store, id| {
        read_content(cfg, store, id)
    })
    .await
    {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn put_content(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let p = match operator(&s, &headers, None) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, "an empty file is no correction");
    }
    let r = with_store(&s, move |cfg, store| {
        Ok(quarantine::correct(cfg, store, id, &body, &p.name).map_err(Refused::from))
    })
    .await;
    match r {
        Ok(Ok(original)) => Json(json!({
            "id": id,
            "corrected": true,
            "original": original.file_name().map(|n| n.to_string_lossy().into_owned()),
        }))
        .into_response(),
        Ok(Err(e)) => store_answer(&e),
        Err(r) => r,
    }
}

/// Releases or discards quarantined file `id` for `actor`, with the audit event.
pub fn act(
    cfg: &crate::config::Config,
    store: &mut crate::store::Store,
    id: i64,
    release: bool,
    actor: &str,
) -> Result<(), Refused> {
    if release {
        quarantine::release(cfg, store, id)?;
    } else {
        quarantine::discard(cfg, store, id)?;
    }
    let what = if release { "released" } else { "discarded" };
    store.note_event(id, "operator", &format!("{what} by {actor} (admin)"))?;
    Ok(())
}

async fn one_action(s: AppState, headers: HeaderMap, raw: String, release: bool) -> Response {
    let p = match operator(&s, &headers, None) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let r = with_store(&s, move |cfg, store| {
        Ok(act(cfg, store, id, release, &p.name))
    })
    .await;
    match r {
        Ok(Ok(())) => Json(json!({
            "id": id,
            "state": if release { "released" } else { "discarded" },
        }))
        .into_response(),
        Ok(Err(e)) => store_answer(&e),
        Err(r) => r,
    }
}

async fn release(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    one_action(s, headers, raw, true).await
}

async fn discard(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    one_action(s, headers, raw, false).await
}

/// A bulk action over the files a filter selects, run as a job.
#[derive(Debug, Clone, Deserialize)]
pub struct Bulk {
    /// `release` or `discard`.
    pub action: String,
    #[serde(flatten)]
    pub filter: Filter,
    /// At most this many files (1 to 1000): a bulk action never runs unbounded.
    pub limit: usize,
}

/// A bulk job's progress and result.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    pub action: String,
    pub by: String,
    /// `running` or `done`.
    pub state: String,
    pub selected: usize,
    pub done: usize,
    pub failed: Vec<(i64, String)>,
}

/// The most files one bulk job takes.
pub const BULK_LIMIT: usize = 1000;

/// Starts a bulk job; its id is returned at once and its progress is at `/api/v1/jobs/ID`.
pub async fn start_bulk(s: &AppState, by: &str, b: Bulk) -> Result<u64, Response> {
    let release = match b.action.as_str() {
        "release" => true,
        "discard" => false,
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "action is release or discard",
            ))
        }
    };
    if b.limit == 0 || b.limit > BULK_LIMIT {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 1000",
        ));
    }
    let filter = b.filter.clone();
    let limit = b.limit;
    // Every matching id up to the limit, listed once.
    let ids = with_store(s, move |_, store| {
        Ok(matching(store, &filter)?
            .into_iter()
            .take(limit)
            .map(|e| e.id)
            .collect::<Vec<_>>())
    })
    .await?;
    let id = s.next_job.fetch_add(1, Ordering::Relaxed);
    let job = Job {
        id,
        action: b.action.clone(),
        by: by.to_string(),
        state: "running".into(),
        selected: ids.len(),
        done: 0,
        failed: Vec::new(),
    };
    s.jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, job);
    let (shared, by) = (s.clone(), by.to_string());
    tokio::spawn(async move {
        for file in ids {
            let by = by.clone();
            let r = with_store(&shared, move |cfg, store| {
                Ok(act(cfg, store, file, release, &by))
            })
            .await;
            let mut jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(j) = jobs.get_mut(&id) {
                match r {
                    Ok(Ok(())) => j.done += 1,
                    Ok(Err(e)) => j.failed.push((file, e.1)),
                    Err(_) => j.failed.push((file, "internal error".into())),
                }
            }
        }
        let mut jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = jobs.get_mut(&id) {
            j.state = "done".into();
            tracing::warn!(job = id, action = %j.action, by = %j.by, done = j.done, failed = j.failed.len(), "bulk quarantine action");
        }
    });
    Ok(id)
}

async fn bulk(State(s): State<AppState>, headers: HeaderMap, Json(b): Json<Bulk>) -> Response {
    let p = match operator(&s, &headers, None) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match start_bulk(&s, &p.name, b).await {
        Ok(id) => (
            StatusCode::ACCEPTED,
            Json(json!({"job": id, "progress": format!("/api/v1/jobs/{id}")})),
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn job(State(s): State<AppState>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    let id = match id(&raw) {
        Ok(i) => i as u64,
        Err(r) => return r,
    };
    let jobs = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
    match jobs.get(&id) {
        Some(j) => Json(j.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// `?key=VALUE` of a document search.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    pub key: Option<String>,
}

/// The document timeline of `key` (see [`crate::tracking::timeline`]).
pub fn document_timeline(store: &crate::store::Store, key: &str) -> Result<Option<Value>, String> {
    crate::tracking::timeline(store, key).map_err(|e| e.to_string())
}

async fn documents(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<KeyQuery>,
) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    let Some(key) = q.key.filter(|k| !k.is_empty() && k.len() <= 200) else {
        return error(
            StatusCode::BAD_REQUEST,
            "key=VALUE is needed (at most 200 characters)",
        );
    };
    match with_store(&s, move |_, store| document_timeline(store, &key)).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no record has this key"),
        Err(r) => r,
    }
}

/// Routes with their mode in force, targets, steps, audit trail and latest reconcile.
pub fn routes_view(
    cfg: &crate::config::Config,
    store: &crate::store::Store,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let processes = store.process_counts().map_err(|e| e.to_string())?;
    for r in &cfg.routes {
        let changes = store
            .mode_changes(Some(&r.name))
            .map_err(|e| e.to_string())?;
        let latest = store.latest_reconcile(&r.name).map_err(|e| e.to_string())?;
        let counts: Vec<Value> = processes
            .iter()
            .filter(|(route, ..)| *route == r.name)
            .map(|(_, state, n)| json!({"state": state, "count": n}))
            .collect();
        out.push(json!({
            "name": r.name,
            "mode": changes.last().map_or(r.mode.as_str().to_string(), |c| c.new_mode.clone()),
            "partners": r.partners,
            "documents": r.documents,
            "legacy": r.legacy,
            "modern": r.modern,
            "steps": r.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "processes": counts,
            "changes": changes,
            "last_reconcile": latest.map(|(at, summary)| json!({
                "at": at,
                "summary": serde_json::from_str::<Value>(&summary).unwrap_or(Value::String(summary)),
            })),
        }));
    }
    Ok(out)
}

async fn routes_list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    match with_store(&s, |cfg, store| routes_view(cfg, store)).await {
        Ok(v) => Json(json!({ "routes": v })).into_response(),
        Err(r) => r,
    }
}

async fn targets(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    let st = match super::status(&s).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    let r = with_store(&s, move |_, store| {
        let mut out = Vec::new();
        for t in &st.targets {
            let last = store.last_error(&t.name).map_err(|e| e.to_string())?;
            let mut v = serde_json::to_value(t).map_err(|e| e.to_string())?;
            v["last_error"] = json!(last.map(|(at, e)| json!({"at": at, "error": e})));
            out.push(v);
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(v) => Json(json!({ "targets": v })).into_response(),
        Err(r) => r,
    }
}

async fn channels(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    match super::status(&s).await {
        Ok(st) => Json(json!({"channels": st.channels, "health": st.health})).into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct AtQuery {
    /// Overdue as of this time (RFC 3339); default now.
    at: Option<String>,
}

async fn overdue(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AtQuery>,
) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    let at = match q.at.as_deref() {
        None => crate::util::Utc::now(),
        Some(t) => match crate::util::Utc::parse_rfc3339(t) {
            Some(t) => t,
            None => return error(StatusCode::BAD_REQUEST, "at: use an RFC 3339 time"),
        },
    };
    match with_store(&s, move |_, store| {
        store.overdue_acks(at, 1000).map_err(|e| e.to_string())
    })
    .await
    {
        Ok(v) => Json(json!({"at": at.rfc3339(), "overdue": v})).into_response(),
        Err(r) => r,
    }
}

async fn openapi(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = caller(&s, &headers) {
        return r;
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}
