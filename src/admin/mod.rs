//! The admin listener inside `edigate run`: one HTTP server (axum) on a loopback address that
//! serves the JSON API under `/api/v1`, the operators' dashboard (server-rendered HTML), and
//! `/metrics`. Every route but `/healthz` and the login page needs a token (bearer) or a
//! session made by logging in with one; every operator action goes to the audit trail with
//! the token's name.

// Handlers answer errors as responses, which are large; they are built once per request.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
mod pages;

use crate::config::{Config, Role};
use crate::store::Store;
use auth::{Auth, Principal};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// What every handler shares.
pub struct Shared {
    pub cfg: Arc<Config>,
    auth: Auth,
    jobs: Mutex<HashMap<u64, api::Job>>,
    next_job: AtomicU64,
    /// The status read model, shared by every caller for [`FRESH`].
    status: Cached<crate::report::Status>,
    /// The overview page's facts, likewise.
    overview: Cached<pages::Overview>,
}

/// How long a computed status or overview serves every caller: many operators watching the
/// dashboard cost one computation per interval, not one each.
const FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// A value computed from the store at most once per [`FRESH`]; callers that come while it is
/// being computed wait for that computation instead of starting their own.
pub(crate) struct Cached<T> {
    slot: tokio::sync::Mutex<Option<(std::time::Instant, Arc<T>)>>,
}

impl<T: Send + Sync + 'static> Cached<T> {
    fn new() -> Cached<T> {
        Cached {
            slot: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(
        &self,
        s: &AppState,
        f: impl FnOnce(&Config, &mut Store) -> Result<T, String> + Send + 'static,
    ) -> Result<Arc<T>, Response> {
        let mut slot = self.slot.lock().await;
        if let Some((at, v)) = slot.as_ref() {
            if at.elapsed() < FRESH {
                return Ok(v.clone());
            }
        }
        let v = Arc::new(with_store(s, f).await?);
        *slot = Some((std::time::Instant::now(), v.clone()));
        Ok(v)
    }
}

/// The status read model (shared for [`FRESH`]).
async fn status(s: &AppState) -> Result<Arc<crate::report::Status>, Response> {
    s.status
        .get(s, |cfg, store| {
            crate::report::status(cfg, store).map_err(|e| e.to_string())
        })
        .await
}

type AppState = Arc<Shared>;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Config(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Binds the listener (so that a taken port stops the start) and serves it on `rt`. Returns
/// the address it listens on (port 0 picks a free one).
pub fn start(
    cfg: Arc<Config>,
    rt: &tokio::runtime::Handle,
) -> Result<Option<std::net::SocketAddr>, AdminError> {
    let Some(a) = cfg.admin.clone() else {
        return Ok(None);
    };
    let auth = Auth::load(&a).map_err(AdminError::Config)?;
    let listener = std::net::TcpListener::bind(&a.listen).map_err(|source| AdminError::Bind {
        addr: a.listen.clone(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| AdminError::Bind {
        addr: a.listen.clone(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| AdminError::Bind {
            addr: a.listen.clone(),
            source,
        })?;
    let a_data_dir = cfg.data_dir.clone();
    let shared = Arc::new(Shared {
        cfg,
        auth,
        jobs: Mutex::new(HashMap::new()),
        next_job: AtomicU64::new(1),
        status: Cached::new(),
        overview: Cached::new(),
    });
    let app = router(shared, a.max_upload_bytes);
    rt.spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the admin listener could not start");
                return;
            }
        };
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the admin listener stopped");
        }
    });
    tracing::info!(address = %addr, "admin listener (API, dashboard, metrics)");
    // Where it listens, for tools and people (a port 0 picks one).
    let file = shared_file(&a_data_dir);
    crate::nodes::listening_at(&format!("http://{addr}"));
    if let Err(e) = crate::fsutil::write_replace(&file, format!("http://{addr}\n").as_bytes()) {
        tracing::warn!(path = %file.display(), error = %e, "the admin address could not be written");
    }
    Ok(Some(addr))
}

/// The file in the data folder that says where the admin listener listens.
pub const ADDRESS_FILE: &str = "admin-address";

fn shared_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join(ADDRESS_FILE)
}

fn router(shared: AppState, max_upload: usize) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        )
        .route("/metrics", get(api::metrics))
        .merge(api::routes())
        .merge(pages::routes())
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .layer(axum::extract::DefaultBodyLimit::max(max_upload))
        .with_state(shared)
}

/// A JSON error answer: the status and a short message, nothing more (no stack, no path).
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let mut r = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"edigate\""),
        );
    }
    r
}

/// The caller, or the 401 answer.
fn caller(s: &Shared, headers: &HeaderMap) -> Result<Principal, Response> {
    s.auth
        .principal(headers)
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized"))
}

/// The caller if it may change things (an operator, with the session's CSRF token when it
/// is a browser session), or the 401/403 answer.
fn operator(s: &Shared, headers: &HeaderMap, csrf: Option<&str>) -> Result<Principal, Response> {
    let p = caller(s, headers)?;
    if p.role < Role::Operator {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden: this needs an operator token",
        ));
    }
    let presented = csrf.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
    if !auth::csrf_ok(&p, presented) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden: missing or wrong CSRF token",
        ));
    }
    Ok(p)
}

thread_local! {
    /// One store connection per blocking thread, kept between requests.
    static STORE: RefCell<Option<(crate::store::Location, Store)>> = const { RefCell::new(None) };
}

/// Runs `f` with a store connection on a blocking thread.
async fn with_store<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Config, &mut Store) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let shared = s.clone();
    let r = tokio::task::spawn_blocking(move || {
        STORE.with(|cell| {
            let mut cell = cell.borrow_mut();
            let db = shared.cfg.store_location().map_err(|e| e.to_string())?;
            if cell.as_ref().is_none_or(|(p, _)| *p != db) {
                let store = Store::connect(&db).map_err(|e| e.to_string())?;
                *cell = Some((db, store));
            }
            let (_, store) = cell.as_mut().expect("opened above");
            f(&shared.cfg, store)
        })
    })
    .await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "an admin request failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see the log)",
            ))
        }
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (see the log)",
        )),
    }
}
