//! The delivery model every target shares: what a response means (transient vs business
//! failures, exponential backoff with full jitter, `Retry-After`, dead letters) and the circuit
//! breaker per target. Deciding is pure; the connectors (`targets`) make the calls and the
//! scheduler runs them with bounded concurrency.

use crate::config::Target;
use crate::store::{Attempt, Breaker, DeliveryRow};
use crate::util::Utc;
use std::time::Duration;

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Status {
        status: u16,
        retry_after: Option<u64>,
        body: String,
    },
    /// No response: refused, reset, timed out (or an answer that is no answer, such as a login
    /// page where JSON was due).
    Failed(String),
    /// Not sent: what the system would get cannot be built (no payload mapping, the mapping
    /// refused the record, no account for the partner). Held for the operator.
    Refused(String),
}

/// Bodies kept from an answer are at most this many characters.
pub const EXCERPT: usize = 2000;

/// The first [`EXCERPT`] characters of a body.
pub fn excerpt(body: &str) -> String {
    body.chars().take(EXCERPT).collect()
}

/// An HTTP client for one target, shared by its requests (connections are reused).
pub fn agent(target: &Target) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(target.timeout_seconds.max(1))))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Whether a response is worth retrying.
pub fn transient(resp: &Response) -> bool {
    match resp {
        Response::Failed(_) => true,
        Response::Refused(_) => false,
        Response::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
    }
}

/// A random-looking number from a delivery id and the clock (full jitter needs no quality).
fn jitter_seed(id: i64, attempts: i64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut x =
        t ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (attempts as u64).rotate_left(17);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Delay before retry number `attempts + 1`: uniform in [0, min(cap, base * 2^attempts)].
pub fn backoff(target: &Target, attempts: i64, seed: u64) -> Duration {
    let ceiling = (target.backoff_ms as u128)
        .saturating_mul(1u128 << attempts.clamp(0, 30))
        .min(u128::from(target.backoff_cap_seconds) * 1000) as u64;
    Duration::from_millis(if ceiling == 0 {
        0
    } else {
        seed % (ceiling + 1)
    })
}

/// What an attempt means for the delivery; `system_id` is the system's id for what a
/// successful attempt created.
pub fn classify(
    target: &Target,
    row: &DeliveryRow,
    resp: &Response,
    system_id: Option<String>,
    now: Utc,
) -> Attempt {
    let (status, error) = match resp {
        Response::Status { status, body, .. } => (Some(*status), format!("HTTP {status}: {body}")),
        Response::Failed(e) => (None, e.clone()),
        Response::Refused(e) => (None, format!("not sent: {e}")),
    };
    match resp {
        Response::Status {
            status: s @ 200..=299,
            body,
            ..
        } => Attempt::Delivered {
            status: *s,
            system_id,
            response: excerpt(body),
        },
        r if !transient(r) => Attempt::Rejected {
            status: status.unwrap_or(0),
            error,
        },
        r => {
            let age = Utc::parse_rfc3339(&row.created_at).map_or(0, |c| now.epoch - c.epoch);
            if row.attempts + 1 >= target.max_attempts || age >= target.max_age_seconds {
                return Attempt::Dead {
                    status,
                    error: format!("gave up after {} attempt(s): {error}", row.attempts + 1),
                };
            }
            let mut wait = backoff(target, row.attempts, jitter_seed(row.id, row.attempts));
            if let Response::Status {
                retry_after: Some(s),
                ..
            } = r
            {
                wait = wait.max(Duration::from_secs(*s));
            }
            let next = Utc {
                epoch: now.epoch + wait.as_secs() as i64 + i64::from(wait.subsec_millis() > 0),
            };
            Attempt::Retry {
                status,
                error,
                next_at: next,
            }
        }
    }
}

/// How many deliveries the breaker lets through now: all, one probe, or none.
pub fn allowed(target: &Target, b: &Breaker, now: Utc) -> Option<usize> {
    match b.state.as_str() {
        "open" => {
            let opened = b
                .opened_at
                .as_deref()
                .and_then(Utc::parse_rfc3339)
                .map_or(0, |u| u.epoch);
            (now.epoch - opened >= target.breaker_cooldown_seconds).then_some(1)
        }
        _ => Some(usize::MAX),
    }
}

/// The breaker after a batch of responses (in order).
pub fn after(target: &Target, b: &Breaker, responses: &[&Response], now: Utc) -> Breaker {
    let mut b = b.clone();
    let probing = b.state == "open";
    for r in responses {
        if transient(r) {
            b.failures += 1;
        } else {
            b.failures = 0;
        }
    }
    let failed = responses.last().is_some_and(|r| transient(r));
    if (probing && failed) || (!probing && b.failures >= target.breaker_threshold) {
        b.state = "open".into();
        b.opened_at = Some(now.rfc3339());
    } else if !failed && !responses.is_empty() {
        b.state = "closed".into();
        b.opened_at = None;
        b.failures = 0;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        toml::from_str("name = \"t\"\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\nmax_attempts = 3\nbreaker_threshold = 2\nbreaker_cooldown_seconds = 10\n").unwrap()
    }

    fn row(attempts: i64) -> DeliveryRow {
        DeliveryRow {
            id: 1,
            target: "t".into(),
            idem_key: "k".into(),
            payload: vec![],
            attempts,
            created_at: Utc::now().rfc3339(),
            maybe_sent: attempts > 0,
            file_id: 1,
            claim_no: 1,
        }
    }

    fn status(s: u16, retry_after: Option<u64>) -> Response {
        Response::Status {
            status: s,
            retry_after,
            body: "why".into(),
        }
    }

    #[test]
    fn classifies_success_business_and_transient_failures() {
        let t = target();
        let now = Utc::now();
        assert_eq!(
            classify(&t, &row(0), &status(201, None), None, now),
            Attempt::Delivered {
                status: 201,
                system_id: None,
                response: "why".into()
            }
        );
        assert!(matches!(
            classify(&t, &row(0), &status(422, None), None, now),
            Attempt::Rejected { status: 422, .. }
        ));
        for s in [408, 425, 429, 500, 503] {
            assert!(
                matches!(
                    classify(&t, &row(0), &status(s, None), None, now),
                    Attempt::Retry { .. }
                ),
                "{s}"
            );
        }
        assert!(matches!(
            classify(&t, &row(0), &Response::Failed("reset".into()), None, now),
            Attempt::Retry { status: None, .. }
        ));
        assert!(matches!(
            classify(&t, &row(2), &status(503, None), None, now),
            Attempt::Dead { .. }
        ));
        match classify(&t, &row(0), &status(429, Some(120)), None, now) {
            Attempt::Retry { next_at, .. } => assert!(next_at.epoch >= now.epoch + 120),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_has_full_jitter_under_a_growing_ceiling() {
        let t = target();
        for attempts in 0..12 {
            let ceiling = (1000u64 << attempts).min(300_000);
            for seed in [0, 1, 12345, u64::MAX] {
                assert!(backoff(&t, attempts, seed).as_millis() as u64 <= ceiling);
            }
        }
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|s| backoff(&t, 5, s * 7919).as_millis())
            .collect();
        assert!(spread.len() > 40, "jitter spreads retries");
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let t = target();
        let now = Utc::now();
        let closed = Breaker {
            state: "closed".into(),
            failures: 0,
            opened_at: None,
        };
        let fail = Response::Failed("refused".into());
        let ok = status(200, None);
        let b = after(&t, &closed, &[&fail, &fail], now);
        assert_eq!(b.state, "open");
        assert_eq!(allowed(&t, &b, now), None);
        let later = Utc {
            epoch: now.epoch + 11,
        };
        assert_eq!(allowed(&t, &b, later), Some(1));
        let again = after(&t, &b, &[&fail], later);
        assert_eq!(again.state, "open");
        assert_eq!(allowed(&t, &again, later), None);
        let healed = after(
            &t,
            &again,
            &[&ok],
            Utc {
                epoch: later.epoch + 11,
            },
        );
        assert_eq!(healed.state, "closed");
        assert_eq!(
            after(&t, &closed, &[&fail, &ok, &fail], now).state,
            "closed"
        );
    }
}
