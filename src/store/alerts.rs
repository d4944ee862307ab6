//! The store's part of alerts: the facts that need an operator, raised once per alert and
//! fact (quarantined files, dead or rejected deliveries, overdue acknowledgements, failing
//! channels, paused storage, open breakers), and their sending with retries.

use super::db::{params, Engine};
use super::{anomaly_in, count, exec, Result, Store};
use crate::util::Utc;

/// An alert due for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub body: String,
    pub attempts: i64,
}

/// For each kind: the facts it is raised for, as (key, JSON detail) rows.
fn facts(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "quarantine" => "SELECT 'quarantine:' || id AS k, json_object('file_id', id, 'name', name, 'channel', channel, 'partner', partner, 'code', json_extract(refusal, '$.code'), 'reason', json_extract(refusal, '$.reason')) AS d FROM files WHERE state = 'quarantined'",
        "dead_letter" => "SELECT 'dead:' || id AS k, json_object('delivery_id', id, 'target', target, 'record_id', record_id, 'file_id', file_id, 'attempts', attempts, 'error', last_error) AS d FROM deliveries WHERE state = 'dead'",
        "rejection" => "SELECT 'rejected:' || id AS k, json_object('delivery_id', id, 'target', target, 'record_id', record_id, 'file_id', file_id, 'status', last_status, 'error', last_error) AS d FROM deliveries WHERE state = 'rejected'",
        "overdue_ack" => "SELECT 'overdue:' || id AS k, json_object('partner', partner, 'document', document, 'control', control, 'sent_at', sent_at, 'due_at', due_at) AS d FROM sent_interchanges WHERE state = 'awaiting' AND due_at <= ?1",
        "channel_failing" => "SELECT 'channel:' || channel || ':' || COALESCE(last_ok_at, 'never') AS k, json_object('channel', channel, 'failures', failures, 'last_ok_at', last_ok_at, 'error', last_error) AS d FROM channel_health WHERE last_error IS NOT NULL AND channel NOT IN ('(storage)', '(configuration)')",
        "storage_paused" => "SELECT 'storage:' || COALESCE(last_ok_at, 'never') AS k, json_object('error', last_error, 'last_ok_at', last_ok_at) AS d FROM channel_health WHERE last_error IS NOT NULL AND channel = '(storage)'",
        "breaker_open" => "SELECT 'breaker:' || target || ':' || COALESCE(opened_at, '') AS k, json_object('target', target, 'opened_at', opened_at, 'failures', failures) AS d FROM breakers WHERE state = 'open'",
        _ => return None,
    })
}

/// SQLite's JSON functions of [`facts`] in PostgreSQL's words.
fn json_for_postgres(sql: &str) -> String {
    sql.replace("json_object(", "json_build_object(")
        .replace("json(f.d)", "f.d")
        .replace(
            "json_extract(refusal, '$.code')",
            "(refusal::json ->> 'code')",
        )
        .replace(
            "json_extract(refusal, '$.reason')",
            "(refusal::json ->> 'reason')",
        )
}

impl Store {
    /// Raises alert `alert` for every current fact of `kinds` it was not raised for yet;
    /// returns how many are new.
    pub fn raise_alerts(&mut self, alert: &str, kinds: &[&str], now: Utc) -> Result<usize> {
        let tx = self.conn.savepoint()?;
        let at = now.rfc3339();
        let mut n = 0;
        for kind in kinds {
            let Some(select) = facts(kind) else { continue };
            let sql = format!(
                "INSERT INTO alerts (alert, key, kind, body, state, next_at, created_at)
                 SELECT ?2, f.k, ?3, json_object('alert', ?2, 'kind', ?3, 'key', f.k, 'at', ?1, 'detail', json(f.d)), 'pending', ?1, ?1
                 FROM ({select}) AS f WHERE true ON CONFLICT DO NOTHING"
            );
            let sql = match tx.engine() {
                Engine::Sqlite => sql,
                Engine::Postgres => json_for_postgres(&sql),
            };
            n += count(&tx, &sql, params![at, alert, kind])?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Alerts of `alert` due now, oldest first, at most `limit`.
    pub fn due_alerts(&self, alert: &str, now: Utc, limit: usize) -> Result<Vec<AlertRow>> {
        self.all(
            "SELECT id, kind, key, body, attempts FROM alerts WHERE alert = ?1 AND state = 'pending' AND next_at <= ?2 ORDER BY id LIMIT ?3",
            params![alert, now.rfc3339(), limit as i64],
            |r| {
                Ok(AlertRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    key: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get(4)?,
                })
            },
        )
    }

    /// How many alerts of `alert` were sent since `since`.
    pub fn alerts_sent_since(&self, alert: &str, since: Utc) -> Result<i64> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM alerts WHERE alert = ?1 AND sent_at >= ?2",
            params![alert, since.rfc3339()],
            |r| r.get(0),
        )
    }

    pub fn alert_sent(&mut self, id: i64, now: Utc) -> Result<()> {
        exec(
            &self.conn,
            "UPDATE alerts SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id, now.rfc3339()],
        )?;
        Ok(())
    }

    /// A failed attempt: retried at `next_at`, or given up (`None`), which is an anomaly.
    pub fn alert_failed(&mut self, id: i64, error: &str, next_at: Option<Utc>) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        match next_at {
            Some(t) => exec(
                &tx,
                "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_at = ?3 WHERE id = ?1",
                params![id, error, t.rfc3339()],
            )?,
            None => {
                anomaly_in(&tx, stamp, "alert.dead", None, &format!("alert {id}: gave up: {error}"))?;
                exec(
                    &tx,
                    "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, state = 'dead' WHERE id = ?1",
                    params![id, error],
                )?
            }
        };
        tx.commit()?;
        Ok(())
    }

    /// Alerts per state (`pending`, `sent`, `dead`).
    pub fn alert_counts(&self) -> Result<Vec<(String, i64)>> {
        self.all(
            "SELECT state, COUNT(*) FROM alerts GROUP BY state ORDER BY state",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
