//! Alerts: webhooks (`[[alerts]]`) told of what needs an operator: a quarantined file, a dead
//! letter, a rejection, an overdue acknowledgement, a failing channel, an open breaker, paused
//! storage. Each fact is told once per webhook, at most `max_per_minute` a minute (the rest
//! wait), as a JSON body signed with HMAC-SHA256, and retried with backoff like a delivery.

use crate::config::{Alert, Config, ALERT_KINDS};
use crate::store::{Store, StoreError};
use crate::util::Utc;
use std::time::Duration;

/// Attempts before an alert is given up (an anomaly, `alert.dead`).
const MAX_ATTEMPTS: i64 = 10;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub raised: usize,
    pub sent: usize,
    pub failed: usize,
}

/// Raises the new facts of every webhook and sends what is due and within its rate.
pub fn run(cfg: &Config, store: &mut Store, now: Utc) -> Result<Told, StoreError> {
    let mut told = Told::default();
    for a in &cfg.alerts {
        let kinds: Vec<&str> = if a.on.is_empty() {
            ALERT_KINDS.to_vec()
        } else {
            a.on.iter().map(String::as_str).collect()
        };
        told.raised += store.raise_alerts(&a.name, &kinds, now)?;
        let minute_ago = Utc {
            epoch: now.epoch - 60,
        };
        let budget = i64::from(a.max_per_minute) - store.alerts_sent_since(&a.name, minute_ago)?;
        if budget <= 0 {
            continue;
        }
        let due = store.due_alerts(&a.name, now, budget as usize)?;
        if due.is_empty() {
            continue;
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let secret = match crate::config::secret(&a.secret_env, &a.secret_file) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(alert = %a.name, error = %e, "the alert's signing secret is missing; nothing is sent unsigned");
                continue;
            }
        };
        for row in due {
            match send(&agent, a, secret.as_deref(), &row.body, row.id) {
                Ok(()) => {
                    store.alert_sent(row.id, Utc::now())?;
                    told.sent += 1;
                }
                Err(e) => {
                    told.failed += 1;
                    let next = (row.attempts + 1 < MAX_ATTEMPTS).then(|| Utc {
                        epoch: Utc::now().epoch + (1i64 << row.attempts.clamp(0, 8)).min(300),
                    });
                    if next.is_none() {
                        tracing::error!(alert = %a.name, kind = %row.kind, key = %row.key, error = %e, "an alert was given up");
                    } else {
                        tracing::warn!(alert = %a.name, kind = %row.kind, error = %e, "an alert failed; it is retried");
                    }
                    store.alert_failed(row.id, &e, next)?;
                }
            }
        }
    }
    Ok(told)
}

/// One POST of an alert's body, signed when the webhook has a secret.
fn send(
    agent: &ureq::Agent,
    a: &Alert,
    secret: Option<&str>,
    body: &str,
    id: i64,
) -> Result<(), String> {
    let mut req = agent
        .post(&a.url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &format!("edigate-alert-{id}"));
    if let Some(s) = secret {
        let sig = crate::targets::signature(s.as_bytes(), Utc::now().epoch, body.as_bytes());
        req = req.header("Edigate-Signature", &sig);
    }
    match req.send(body.as_bytes()) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Err(e.to_string()),
    }
}
