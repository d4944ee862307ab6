//! The store's part of rejection advice: the ERP rejections queued for the partner, each
//! turned into one output (with its control number) in one transaction, then written.

use super::db::params;
use super::{anomaly_in, draw_controls, exec, OutputRow, Result, Store};
use crate::util::Utc;

/// A rejection waiting to be told to the partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceRow {
    pub id: i64,
    pub record_id: String,
    pub file_id: i64,
    pub partner: String,
    pub target: String,
    /// What the ERP said.
    pub error: String,
    /// The record's canonical envelope (JSON), as delivered.
    pub record: Vec<u8>,
}

/// An advice made into a document, ready to be written.
pub struct AdviceDoc {
    /// `advice:824`, `advice:APERAK`.
    pub kind: String,
    /// Outbox-relative path.
    pub path: String,
    pub bytes: Vec<u8>,
    /// SFTP channels that also take it.
    pub uploads: Vec<String>,
}

/// Keeps a document edigate made as an output of file `file_id`, with an upload per channel
/// that takes it (inside the caller's transaction); returns the output's id.
pub(super) fn keep_output(
    tx: &super::db::Db,
    file_id: i64,
    doc: &AdviceDoc,
    at: &str,
) -> Result<i64> {
    let output_id: i64 = tx.query_row(
        "INSERT INTO outputs (file_id, kind, path, content) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        params![file_id, doc.kind, doc.path, doc.bytes],
        |r| r.get(0),
    )?;
    let remote = doc.path.rsplit('/').next().unwrap_or(&doc.path);
    for channel in &doc.uploads {
        exec(tx,
            "INSERT INTO uploads (output_id, channel, remote_name, state, next_at) VALUES (?1, ?2, ?3, 'pending', ?4)",
            params![output_id, channel, remote, at],
        )?;
    }
    Ok(output_id)
}

impl Store {
    /// Rejections queued and not yet made into a document, oldest first.
    pub fn due_advices(&self, limit: usize) -> Result<Vec<AdviceRow>> {
        self.all(
            "SELECT a.id, a.record_id, a.file_id, r.partner, a.target, a.error, d.payload
             FROM advices a JOIN records r ON r.id = a.record_id JOIN deliveries d ON d.id = a.delivery_id
             WHERE a.state = 'due' ORDER BY a.id LIMIT ?1",
            params![limit as i64],
            |r| {
                Ok(AdviceRow {
                    id: r.get(0)?,
                    record_id: r.get(1)?,
                    file_id: r.get(2)?,
                    partner: r.get(3)?,
                    target: r.get(4)?,
                    error: r.get(5)?,
                    record: r.get(6)?,
                })
            },
        )
    }

    /// Makes advice `a` into a document: draws the partner's next control number, lets `make`
    /// build the document with it, and keeps the document as an output of the record's file
    /// (with its uploads), all in one transaction, so that a crash leaves either nothing (the
    /// number is not spent) or the whole. When `make` fails, the advice is marked failed and
    /// kept as an anomaly; the error is returned.
    pub fn make_advice(
        &mut self,
        a: &AdviceRow,
        now: Utc,
        make: impl FnOnce(u64) -> std::result::Result<AdviceDoc, String>,
    ) -> Result<std::result::Result<i64, String>> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        // The partner's one counter, as for acknowledgements and outbound documents.
        let control = draw_controls(&tx, &a.partner, "x12", 1)?;
        let doc = match make(control) {
            Ok(d) => d,
            Err(e) => {
                drop(tx);
                let tx = self.conn.savepoint()?;
                exec(
                    &tx,
                    "UPDATE advices SET state = 'failed', note = ?2 WHERE id = ?1",
                    params![a.id, e],
                )?;
                let detail = format!(
                    "record {} of partner {}: the rejection by {} could not be written as an advice: {e}",
                    a.record_id, a.partner, a.target
                );
                anomaly_in(&tx, stamp, "advice.failed", Some(a.file_id), &detail)?;
                tx.commit()?;
                return Ok(Err(e));
            }
        };
        let at = now.rfc3339();
        let output_id = keep_output(&tx, a.file_id, &doc, &at)?;
        exec(
            &tx,
            "UPDATE advices SET state = 'made', output_id = ?2 WHERE id = ?1",
            params![a.id, output_id],
        )?;
        exec(
            &tx,
            "INSERT INTO events (file_id, at, state, detail) VALUES (?1, ?2, 'advice', ?3)",
            params![
                a.file_id,
                at,
                format!(
                    "rejection by {} of record {} told to the partner as {}",
                    a.target, a.record_id, doc.path
                )
            ],
        )?;
        tx.commit()?;
        Ok(Ok(output_id))
    }

    /// An advice the partner did not ask for (its profile says so): kept, not written.
    pub fn skip_advice(&mut self, id: i64, note: &str) -> Result<()> {
        exec(
            &self.conn,
            "UPDATE advices SET state = 'not_asked', note = ?2 WHERE id = ?1 AND state = 'due'",
            params![id, note],
        )?;
        Ok(())
    }

    /// Advice documents made and not yet written to the outbox.
    pub fn unwritten_advices(&self) -> Result<Vec<(i64, OutputRow)>> {
        self.all(
            "SELECT a.id, o.id, o.file_id, o.kind, o.path, o.content FROM advices a JOIN outputs o ON o.id = a.output_id
             WHERE a.state = 'made' ORDER BY a.id",
            params![],
            |r| {
                Ok((
                    r.get(0)?,
                    OutputRow {
                        id: r.get(1)?,
                        file_id: r.get(2)?,
                        kind: r.get(3)?,
                        path: r.get(4)?,
                        content: r.get(5)?,
                        written: false,
                        stored: None,
                    },
                ))
            },
        )
    }

    /// The advice's document is in the outbox (written and synced by the caller).
    pub fn advice_written(&mut self, advice: i64, output: i64) -> Result<()> {
        self.mark_written(output)?;
        exec(
            &self.conn,
            "UPDATE advices SET state = 'sent' WHERE id = ?1",
            params![advice],
        )?;
        Ok(())
    }

    /// Advices per state (`due`, `made`, `sent`, `not_asked`, `failed`).
    pub fn advice_counts(&self) -> Result<Vec<(String, i64)>> {
        self.all(
            "SELECT state, COUNT(*) FROM advices GROUP BY state ORDER BY state",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
