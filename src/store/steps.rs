//! The store's part of process orchestration: the records whose process can move, the
//! deliveries their steps wait for, and each step's outcome written with the process's next
//! position in one transaction.

use super::advices::keep_output;
use super::db::params;
use super::{anomaly_in, draw_controls, exec, AdviceDoc, OutputRow, Result, Store};
use crate::util::Utc;

/// A route's process held for the operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldProcess {
    pub record_id: String,
    pub route: String,
    /// 1-based.
    pub step: usize,
    pub reason: String,
}

/// A record whose process can move now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    pub record_id: String,
    pub file_id: i64,
    pub route: String,
    /// The mode the record was routed under (kept for good).
    pub mode: String,
    pub partner: String,
    /// Position of the current step (0-based).
    pub step: usize,
    pub attempts: i64,
    /// The record's canonical envelope (JSON).
    pub record: Vec<u8>,
}

/// A step's delivery as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDelivery {
    pub id: i64,
    pub state: String,
    pub system_id: Option<String>,
    pub last_error: Option<String>,
}

/// One step's (or compensation's) outcome, as kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepOutcome {
    pub seq: usize,
    pub name: String,
    /// `deliver`, `lookup`, `respond` or `cancel` (a compensation).
    pub kind: String,
    pub target: Option<String>,
    /// `done`, `skipped` or `failed`.
    pub outcome: String,
    pub detail: String,
    pub system_id: Option<String>,
    pub at: String,
}

/// Where a process goes after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// On to step `n`.
    Step(usize),
    /// The same step again at this time (a transient failure).
    Retry(Utc),
    /// Finished: `done`, `compensated` or `held`, with the reason when not done.
    End(&'static str, Option<String>),
}

/// A process and its steps, for `edigate track` and `edigate routes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Process {
    pub route: String,
    /// `running`, `done`, `compensated` or `held`.
    pub state: String,
    pub step: usize,
    pub reason: Option<String>,
    pub steps: Vec<StepOutcome>,
}

impl Store {
    /// Processes that can move: running, due, and not waiting on a delivery still pending.
    pub fn due_processes(&self, now: Utc, limit: usize) -> Result<Vec<ProcessRow>> {
        self.all(
            "SELECT o.record_id, o.file_id, o.route, rr.mode, r.partner, o.step, o.attempts,
                    (SELECT payload FROM deliveries d WHERE d.record_id = o.record_id ORDER BY d.id LIMIT 1)
             FROM orchestrations o JOIN records r ON r.id = o.record_id
             JOIN record_routes rr ON rr.record_id = o.record_id
             WHERE o.state = 'running' AND o.next_at <= ?1
               AND (o.delivery_id IS NULL OR NOT EXISTS
                    (SELECT 1 FROM deliveries d WHERE d.id = o.delivery_id AND d.state = 'pending'))
             ORDER BY o.next_at LIMIT ?2",
            params![now.rfc3339(), limit as i64],
            |r| {
                Ok(ProcessRow {
                    record_id: r.get(0)?,
                    file_id: r.get(1)?,
                    route: r.get(2)?,
                    mode: r.get(3)?,
                    partner: r.get(4)?,
                    step: r.get::<i64>(5)? as usize,
                    attempts: r.get(6)?,
                    record: r.get::<Option<Vec<u8>>>(7)?.unwrap_or_default(),
                })
            },
        )
    }

    /// The delivery of `record` to `target`, if the record's mode queued one.
    pub fn step_delivery(&self, record: &str, target: &str) -> Result<Option<StepDelivery>> {
        self
            .conn
            .query_opt("SELECT id, state, system_id, last_error FROM deliveries WHERE record_id = ?1 AND target = ?2", params![record, target], |r| {
                Ok(StepDelivery {
                    id: r.get(0)?,
                    state: r.get(1)?,
                    system_id: r.get(2)?,
                    last_error: r.get(3)?,
                })
            })
    }

    /// The step's delivery is due now: it leaves `waiting`, and the process waits for it.
    pub fn start_step_delivery(&mut self, record: &str, delivery: i64, now: Utc) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        exec(
            &tx,
            "UPDATE deliveries SET state = 'pending', next_at = ?2, created_at = ?2 WHERE id = ?1 AND state = 'waiting'",
            params![delivery, now.rfc3339()],
        )?;
        exec(
            &tx,
            "UPDATE orchestrations SET delivery_id = ?2, updated_at = ?3 WHERE record_id = ?1",
            params![record, delivery, now.rfc3339()],
        )?;
        super::delivery_event(
            &tx,
            stamp,
            delivery,
            "its step in the route's process is due",
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps a step's outcome and moves the process on, in one transaction. A process that
    /// ends compensated (or done) leaves none of its deliveries waiting.
    pub fn settle_step(
        &mut self,
        p: &ProcessRow,
        outcome: &StepOutcome,
        next: &Next,
        now: Utc,
    ) -> Result<()> {
        let tx = self.conn.savepoint()?;
        settle_step_in(&tx, p, outcome, None, next, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps a compensation's outcome (the process itself moves with the failed step's
    /// [`Store::settle_step`]).
    pub fn note_compensation(&mut self, p: &ProcessRow, outcome: &StepOutcome) -> Result<()> {
        let tx = self.conn.savepoint()?;
        insert_step(&tx, p, outcome, None)?;
        tx.commit()?;
        Ok(())
    }

    /// The outcomes kept for `record`'s process so far, in order.
    pub fn step_outcomes(&self, record: &str) -> Result<Vec<StepOutcome>> {
        self.all(
            "SELECT seq, name, kind, target, outcome, detail, system_id, at FROM steps WHERE record_id = ?1 ORDER BY id",
            params![record],
            |r| {
                Ok(StepOutcome {
                    seq: r.get::<i64>(0)? as usize,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    target: r.get(3)?,
                    outcome: r.get(4)?,
                    detail: r.get(5)?,
                    system_id: r.get(6)?,
                    at: r.get(7)?,
                })
            },
        )
    }

    /// `record`'s process with its steps, if its route runs one.
    pub fn process(&self, record: &str) -> Result<Option<Process>> {
        let head = self.conn.query_opt(
            "SELECT route, state, step, reason FROM orchestrations WHERE record_id = ?1",
            params![record],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<i64>(2)?,
                    r.get::<Option<String>>(3)?,
                ))
            },
        )?;
        let Some((route, state, step, reason)) = head else {
            return Ok(None);
        };
        Ok(Some(Process {
            route,
            state,
            step: step as usize,
            reason,
            steps: self.step_outcomes(record)?,
        }))
    }

    /// Processes per route and state, for status and `edigate routes`.
    pub fn process_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.all(
            "SELECT route, state, COUNT(*) FROM orchestrations GROUP BY route, state ORDER BY route, state",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Held processes: (record id, route, step position, reason).
    pub fn held_processes(&self) -> Result<Vec<HeldProcess>> {
        self.all(
            "SELECT record_id, route, step, COALESCE(reason, '') FROM orchestrations WHERE state = 'held' ORDER BY updated_at",
            params![],
            |r| {
                Ok(HeldProcess {
                    record_id: r.get(0)?,
                    route: r.get(1)?,
                    step: r.get::<i64>(2)? as usize + 1,
                    reason: r.get(3)?,
                })
            },
        )
    }

    /// A respond step: draws the partner's next control number, lets `make` build the
    /// document with it, keeps it as an output of the record's file (with its uploads) and
    /// moves the process on, all in one transaction. When `make` fails, the process is held
    /// with the reason (returned).
    pub fn make_step_document(
        &mut self,
        p: &ProcessRow,
        step: &StepOutcome,
        next: &Next,
        now: Utc,
        make: impl FnOnce(u64) -> std::result::Result<AdviceDoc, String>,
    ) -> Result<std::result::Result<i64, String>> {
        let tx = self.conn.savepoint()?;
        let control = draw_controls(&tx, &p.partner, "x12", 1)?;
        let doc = match make(control) {
            Ok(d) => d,
            Err(e) => {
                drop(tx);
                let failed = StepOutcome {
                    outcome: "failed".into(),
                    detail: e.clone(),
                    ..step.clone()
                };
                let tx = self.conn.savepoint()?;
                let reason = format!("step {} ({}) failed: {e}", step.seq + 1, step.name);
                settle_step_in(&tx, p, &failed, None, &Next::End("held", Some(reason)), now)?;
                tx.commit()?;
                return Ok(Err(e));
            }
        };
        let at = now.rfc3339();
        let output = keep_output(&tx, p.file_id, &doc, &at)?;
        let done = StepOutcome {
            detail: format!("{} written as {}", step.detail, doc.path),
            ..step.clone()
        };
        settle_step_in(&tx, p, &done, Some(output), next, now)?;
        tx.commit()?;
        Ok(Ok(output))
    }

    /// Documents that respond steps made and that are not yet in the outbox.
    pub fn unwritten_step_documents(&self) -> Result<Vec<OutputRow>> {
        self.all(
            "SELECT o.id, o.file_id, o.kind, o.path, o.content FROM steps s JOIN outputs o ON o.id = s.output_id
             WHERE o.written_at IS NULL ORDER BY o.id",
            params![],
            |r| {
                Ok(OutputRow {
                    id: r.get(0)?,
                    file_id: r.get(1)?,
                    kind: r.get(2)?,
                    path: r.get(3)?,
                    content: r.get(4)?,
                    written: false,
                    stored: None,
                })
            },
        )
    }
}

fn insert_step(
    tx: &super::db::Db,
    p: &ProcessRow,
    o: &StepOutcome,
    output: Option<i64>,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO steps (record_id, file_id, seq, name, kind, target, outcome, detail, system_id, output_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (record_id, seq, kind) DO UPDATE SET outcome = ?7, detail = ?8, system_id = ?9, output_id = COALESCE(?10, steps.output_id), at = ?11",
        params![p.record_id, p.file_id, o.seq as i64, o.name, o.kind, o.target, o.outcome, o.detail, o.system_id, output, o.at],
    )?;
    exec(
        tx,
        "INSERT INTO events (file_id, at, state, detail) VALUES (?1, ?2, 'step', ?3)",
        params![
            p.file_id,
            o.at,
            format!(
                "route {} record {}: step {} ({}, {}) {}: {}",
                p.route,
                p.record_id,
                o.seq + 1,
                o.name,
                o.kind,
                o.outcome,
                o.detail
            )
        ],
    )?;
    Ok(())
}

fn settle_step_in(
    tx: &super::db::Db,
    p: &ProcessRow,
    o: &StepOutcome,
    output: Option<i64>,
    next: &Next,
    now: Utc,
) -> Result<()> {
    insert_step(tx, p, o, output)?;
    let at = now.rfc3339();
    match next {
        Next::Step(n) => exec(
            tx,
            "UPDATE orchestrations SET step = ?2, attempts = 0, next_at = ?3, delivery_id = NULL, updated_at = ?3 WHERE record_id = ?1",
            params![p.record_id, *n as i64, at],
        )?,
        Next::Retry(when) => exec(
            tx,
            "UPDATE orchestrations SET attempts = attempts + 1, next_at = ?2, updated_at = ?3 WHERE record_id = ?1",
            params![p.record_id, when.rfc3339(), at],
        )?,
        Next::End(state, reason) => {
            if *state != "held" {
                // Nothing of a finished process waits any more.
                exec(
                    tx,
                    "UPDATE deliveries SET state = 'cancelled', last_error = ?2 WHERE record_id = ?1 AND state = 'waiting'",
                    params![p.record_id, reason],
                )?;
            } else {
                let detail = format!(
                    "route {} record {}: {}",
                    p.route,
                    p.record_id,
                    reason.as_deref().unwrap_or("")
                );
                anomaly_in(tx, now.into(), "process.held", Some(p.file_id), &detail)?;
            }
            exec(
                tx,
                "UPDATE orchestrations SET state = ?2, reason = ?3, updated_at = ?4 WHERE record_id = ?1",
                params![p.record_id, state, reason, at],
            )?
        }
    };
    Ok(())
}
