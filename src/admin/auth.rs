//! Who is asking: bearer tokens from the configuration (each with a name and a role), and
//! browser sessions made by logging in with one (an HttpOnly, SameSite=Strict cookie, with a
//! CSRF token that every state-changing form and cookie-authenticated API call must carry).

use crate::config::{Admin, Role};
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "edigate_session";
/// How long a browser session lasts without use.
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (what the audit trail records).
    pub name: String,
    pub role: Role,
    /// The session's CSRF token (browser sessions only).
    pub csrf: Option<String>,
}

struct Session {
    name: String,
    role: Role,
    csrf: String,
    seen: Instant,
}

/// The tokens, loaded once at start, and the live sessions.
pub struct Auth {
    tokens: Vec<(String, Role, Vec<u8>)>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Auth {
    /// Loads every token's secret (environment or file); a missing one is an error naming
    /// the token, never its value.
    pub fn load(a: &Admin) -> Result<Auth, String> {
        let mut tokens = Vec::new();
        for t in &a.tokens {
            let secret = crate::config::secret(&t.token_env, &t.token_file)
                .map_err(|e| format!("[[admin.tokens]] {}: {e}", t.name))?
                .ok_or_else(|| {
                    format!("[[admin.tokens]] {}: no token_env or token_file", t.name)
                })?;
            if secret.len() < 16 {
                return Err(format!(
                    "[[admin.tokens]] {}: the token is shorter than 16 characters",
                    t.name
                ));
            }
            tokens.push((t.name.clone(), t.role, secret.into_bytes()));
        }
        Ok(Auth {
            tokens,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The token `presented` belongs to, compared in constant time against every token.
    pub fn token(&self, presented: &str) -> Option<Principal> {
        let mut found = None;
        for (name, role, secret) in &self.tokens {
            if equal(secret, presented.as_bytes()) {
                found = Some(Principal {
                    name: name.clone(),
                    role: *role,
                    csrf: None,
                });
            }
        }
        found
    }

    /// The caller of a request: a bearer token, else a live session cookie.
    pub fn principal(&self, headers: &HeaderMap) -> Option<Principal> {
        if let Some(v) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            return v.strip_prefix("Bearer ").and_then(|t| self.token(t.trim()));
        }
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let s = sessions.get_mut(&id)?;
        if s.seen.elapsed() > IDLE {
            sessions.remove(&id);
            return None;
        }
        s.seen = Instant::now();
        Some(Principal {
            name: s.name.clone(),
            role: s.role,
            csrf: Some(s.csrf.clone()),
        })
    }

    /// Opens a session for `p`: (session id, CSRF token).
    pub fn open_session(&self, p: &Principal) -> (String, String) {
        let (id, csrf) = (crate::util::random_hex(32), crate::util::random_hex(32));
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.seen.elapsed() <= IDLE);
        sessions.insert(
            id.clone(),
            Session {
                name: p.name.clone(),
                role: p.role,
                csrf: csrf.clone(),
                seen: Instant::now(),
            },
        );
        (id, csrf)
    }

    pub fn close_session(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }
}

/// Whether a state-changing request of `p` is allowed: bearer callers need nothing more; a
/// session must show its CSRF token (form field or `X-CSRF-Token` header).
pub fn csrf_ok(p: &Principal, presented: Option<&str>) -> bool {
    match &p.csrf {
        None => true,
        Some(want) => presented.is_some_and(|got| equal(want.as_bytes(), got.as_bytes())),
    }
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Equality that takes as long whatever the first difference.
fn equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_sessions_need_their_csrf() {
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd") && !equal(b"abc", b"abcd"));
        let p = Principal {
            name: "ops".into(),
            role: Role::Operator,
            csrf: Some("x".repeat(64)),
        };
        assert!(!csrf_ok(&p, None) && !csrf_ok(&p, Some("y")));
        assert!(csrf_ok(&p, Some(&"x".repeat(64))));
        let a = crate::util::random_hex(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, crate::util::random_hex(32));
    }
}
