//! `http` and `rest`: the canonical record as JSON, one POST each, with an `Idempotency-Key`
//! (the endpoint keeps the first answer per key). Authentication: a bearer token (`token_*`),
//! OAuth2 client credentials (`token_url`), or basic (`username_*`, `password_*`). With a signing
//! secret, each request carries `Edigate-Signature: t=UNIX,v1=HEX`, the HMAC-SHA256 of
//! `UNIX.BODY` under the secret, so the receiver can check origin and freshness.

use super::{need, Call, Reply, TokenCache};
use crate::config::Target;
use crate::store::DeliveryRow;

pub struct Http {
    target: Target,
    tokens: TokenCache,
}

/// The signature header's value for `body` sent at `unix` seconds.
pub fn signature(secret: &[u8], unix: i64, body: &[u8]) -> String {
    let mut signed = format!("{unix}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={unix},v1={}",
        crate::util::hex(&crate::util::hmac_sha256(secret, &signed))
    )
}

impl Http {
    pub fn new(t: &Target) -> Http {
        Http {
            target: t.clone(),
            tokens: TokenCache::new(),
        }
    }

    fn auth(&self, agent: &ureq::Agent) -> Result<Option<String>, Reply> {
        super::authorization(&self.target, &self.tokens, agent, "")
    }

    pub fn send(&self, agent: &ureq::Agent, row: &DeliveryRow) -> Reply {
        let t = &self.target;
        let mut call = Call::new("POST", t.url.clone())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", row.idem_key.clone());
        match self.auth(agent) {
            Ok(Some(a)) => call = call.header("Authorization", a),
            Ok(None) => {}
            Err(r) => return r,
        }
        if t.signing_secret_env.is_some() || t.signing_secret_file.is_some() {
            match need(
                "signing_secret",
                t,
                &t.signing_secret_env,
                &t.signing_secret_file,
            ) {
                Ok(secret) => {
                    let now = crate::util::Utc::now().epoch;
                    call = call.header(
                        "Edigate-Signature",
                        signature(secret.as_bytes(), now, &row.payload),
                    );
                }
                Err(r) => return r,
            }
        }
        call.body = Some(row.payload.clone());
        match call.send(agent) {
            Ok(a) if a.status == 401 && t.token_url.is_some() => {
                // A token refused: the next attempt fetches a new one.
                self.tokens.clear();
                let body = a.body.clone();
                Reply::failed(format!("HTTP 401: {body}"))
            }
            Ok(a) if (200..300).contains(&a.status) => {
                // The id the endpoint gave what it created, when it says (`{"id": ...}`).
                let id = a.json().and_then(|v| match &v["id"] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                Reply::done(a.status, &a.body, id)
            }
            Ok(a) => {
                let body = a.body.clone();
                Reply::of(a.response(body))
            }
            Err(e) => Reply::failed(e),
        }
    }

    /// The compensation `cancel`: `DELETE URL/ID` of what the endpoint created. Gone already
    /// (404, 410) counts as cancelled.
    pub fn cancel(&self, agent: &ureq::Agent, system_id: &str) -> Result<String, Reply> {
        let mut call = Call::new(
            "DELETE",
            format!(
                "{}/{}",
                self.target.url.trim_end_matches('/'),
                super::encode(system_id)
            ),
        );
        if let Some(a) = self.auth(agent)? {
            call = call.header("Authorization", a);
        }
        let a = call.send(agent).map_err(Reply::failed)?;
        match a.status {
            200..=299 | 404 | 410 => Ok(format!("HTTP {}: {system_id} cancelled", a.status)),
            _ => {
                let body = a.body.clone();
                Err(Reply::of(a.response(body)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_and_the_signature_covers_time_and_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            crate::util::hex(&crate::util::hmac_sha256(
                b"Jefe",
                b"what do ya want for nothing?"
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature(b"k", 1_700_000_000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="), "{s}");
        assert_ne!(s, signature(b"k", 1_700_000_001, b"{}"));
        assert_ne!(s, signature(b"k", 1_700_000_000, b"{ }"));
    }
}
