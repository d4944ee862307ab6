//! Process orchestration: runs the ordered steps of a route (`[[routes.steps]]`) for each of
//! its records, one after the other, each outcome stored; a failed step runs the
//! compensations configured for the steps before it (`compensate = "cancel"`) or holds the
//! record with the reason. Deliver steps go through the delivery model (their delivery
//! waits until the step is due); lookups and cancellations are calls made here.

use crate::config::{Config, Target};
use crate::delivery;
use crate::migration::{Mode, Route, Side, Step, StepKind};
use crate::store::{AdviceDoc, Next, ProcessRow, StepOutcome, Store, StoreError};
use crate::util::Utc;
use serde_json::Value;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Steps settled (done, skipped, failed) or started.
    pub steps: usize,
    pub done: usize,
    pub held: usize,
    pub compensated: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OrchestrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] crate::advise::AdviseError),
}

/// The most processes one round takes.
const ROUND: usize = 200;

/// Moves every process that can move, round after round while some moved, then writes the
/// documents respond steps made. Repeating it after a crash redoes nothing that was stored.
pub fn advance(cfg: &Config, store: &mut Store, now: Utc) -> Result<Moved, OrchestrateError> {
    let mut moved = Moved::default();
    for _ in 0..50 {
        let due = store.due_processes(now, ROUND)?;
        if due.is_empty() {
            break;
        }
        let before = moved;
        for p in &due {
            step(cfg, store, p, now, &mut moved)?;
        }
        if moved == before {
            break;
        }
    }
    let docs = store.unwritten_step_documents()?;
    crate::advise::write_outputs(cfg, &docs)?;
    for d in &docs {
        store.mark_written(d.id)?;
        tracing::info!(output = %d.path, "a route's process answered the partner");
    }
    Ok(moved)
}

/// The step `p` stands at, run once.
fn step(
    cfg: &Config,
    store: &mut Store,
    p: &ProcessRow,
    now: Utc,
    moved: &mut Moved,
) -> Result<(), OrchestrateError> {
    let Some(route) = cfg.routes.iter().find(|r| r.name == p.route) else {
        let reason = format!("route {} is no longer configured", p.route);
        end(store, p, "held", Some(reason), now, moved)?;
        return Ok(());
    };
    let Some(s) = route.steps.get(p.step) else {
        end(store, p, "done", None, now, moved)?;
        return Ok(());
    };
    let mode = Mode::parse(&p.mode).unwrap_or(route.mode);
    let outcome = |kind: &str, target: Option<&str>, outcome: &str, detail: String| StepOutcome {
        seq: p.step,
        name: s.name.clone(),
        kind: kind.to_string(),
        target: target.map(String::from),
        outcome: outcome.to_string(),
        detail,
        system_id: None,
        at: now.rfc3339(),
    };
    let next = || {
        if p.step + 1 < route.steps.len() {
            Next::Step(p.step + 1)
        } else {
            Next::End("done", None)
        }
    };
    let unsent = |side: Side| {
        format!(
            "skipped: mode {} does not send to the {} side",
            mode.as_str(),
            side.as_str()
        )
    };
    match s.kind() {
        Err(e) => {
            let o = outcome("invalid", None, "failed", e.clone());
            fail(cfg, store, p, route, s, o, now, moved)?;
        }
        Ok(StepKind::Deliver(t)) => match store.step_delivery(&p.record_id, t)? {
            None => {
                let side = route.side_of(t).unwrap_or(Side::Modern);
                let o = outcome("deliver", Some(t), "skipped", unsent(side));
                settle(store, p, &o, next(), now, moved)?;
            }
            Some(d) => match d.state.as_str() {
                "waiting" | "pending" => {
                    store.start_step_delivery(&p.record_id, d.id, now)?;
                    moved.steps += 1;
                }
                "delivered" => {
                    let detail = match &d.system_id {
                        Some(id) => format!("delivered, system id {id}"),
                        None => "delivered".to_string(),
                    };
                    let mut o = outcome("deliver", Some(t), "done", detail);
                    o.system_id = d.system_id.clone();
                    settle(store, p, &o, next(), now, moved)?;
                }
                other => {
                    let why = d.last_error.unwrap_or_else(|| other.to_string());
                    let o = outcome("deliver", Some(t), "failed", format!("{other}: {why}"));
                    fail(cfg, store, p, route, s, o, now, moved)?;
                }
            },
        },
        Ok(StepKind::LookupSupplier(t)) => {
            let side = route.side_of(t).unwrap_or(Side::Modern);
            let Some(target) = cfg.targets.iter().find(|x| x.name == t) else {
                let o = outcome("lookup", Some(t), "failed", format!("no target {t}"));
                return fail(cfg, store, p, route, s, o, now, moved);
            };
            if !mode.sends(side) {
                let o = outcome("lookup", Some(t), "skipped", unsent(side));
                return settle(store, p, &o, next(), now, moved);
            }
            let agent = delivery::agent(target);
            let answer =
                crate::targets::connector(target).lookup_supplier(cfg, target, &agent, &p.record);
            match answer {
                Ok((supplier, true)) => {
                    let o = outcome(
                        "lookup",
                        Some(t),
                        "done",
                        format!("supplier {supplier} exists in {t}"),
                    );
                    settle(store, p, &o, next(), now, moved)?;
                }
                Ok((supplier, false)) => {
                    let o = outcome(
                        "lookup",
                        Some(t),
                        "failed",
                        format!("supplier {supplier} does not exist in {t}"),
                    );
                    fail(cfg, store, p, route, s, o, now, moved)?;
                }
                Err(reply) => {
                    let text = reply.text();
                    if delivery::transient(&reply.response) && p.attempts + 1 < target.max_attempts
                    {
                        let seed = now.epoch as u64 ^ p.file_id as u64;
                        let wait = delivery::backoff(target, p.attempts, seed);
                        let when = Utc {
                            epoch: now.epoch + wait.as_secs().max(1) as i64,
                        };
                        tracing::warn!(route = %p.route, record = %p.record_id, step = %s.name, error = %text, "lookup failed; retried");
                        let o = outcome("lookup", Some(t), "retry", text);
                        settle(store, p, &o, Next::Retry(when), now, moved)?;
                    } else {
                        let o = outcome("lookup", Some(t), "failed", text);
                        fail(cfg, store, p, route, s, o, now, moved)?;
                    }
                }
            }
        }
        Ok(StepKind::Respond(doc)) => {
            let outcomes = store.step_outcomes(&p.record_id)?;
            // The partner hears only from a live side: a shadow run is never acknowledged.
            let live = outcomes.iter().find(|o| {
                o.kind == "deliver"
                    && o.outcome == "done"
                    && o.target
                        .as_deref()
                        .and_then(|t| route.side_of(t))
                        .is_some_and(|side| mode.live(side))
            });
            let Some(live) = live else {
                let o = outcome(
                    "respond",
                    None,
                    "skipped",
                    format!(
                        "skipped: no step delivered the record to a live side under mode {}",
                        mode.as_str()
                    ),
                );
                return settle(store, p, &o, next(), now, moved);
            };
            let system_id = live.system_id.clone();
            let o = outcome("respond", None, "done", format!("{doc} sent"));
            let made = store.make_step_document(p, &o, &next(), now, |control| {
                response(cfg, p, doc, system_id.as_deref(), control, now)
            })?;
            moved.steps += 1;
            match made {
                Ok(_) => {
                    if p.step + 1 >= route.steps.len() {
                        moved.done += 1;
                    }
                }
                Err(e) => {
                    moved.held += 1;
                    tracing::error!(route = %p.route, record = %p.record_id, step = %s.name, error = %e, "the process is held");
                }
            }
        }
    }
    Ok(())
}

fn settle(
    store: &mut Store,
    p: &ProcessRow,
    o: &StepOutcome,
    next: Next,
    now: Utc,
    moved: &mut Moved,
) -> Result<(), OrchestrateError> {
    store.settle_step(p, o, &next, now)?;
    // A retry is not a move: `edigate once` does not spin until it is due.
    if !matches!(next, Next::Retry(_)) {
        moved.steps += 1;
    }
    if next == Next::End("done", None) {
        moved.done += 1;
    }
    Ok(())
}

fn end(
    store: &mut Store,
    p: &ProcessRow,
    state: &'static str,
    reason: Option<String>,
    now: Utc,
    moved: &mut Moved,
) -> Result<(), OrchestrateError> {
    let o = StepOutcome {
        seq: p.step,
        name: "end".into(),
        kind: "end".into(),
        target: None,
        outcome: state.into(),
        detail: reason.clone().unwrap_or_else(|| "every step done".into()),
        system_id: None,
        at: now.rfc3339(),
    };
    match state {
        "done" => moved.done += 1,
        _ => moved.held += 1,
    }
    store.settle_step(p, &o, &Next::End(state, reason), now)?;
    Ok(())
}

/// Step `failed` failed: the compensations of the steps before it run, latest first; the
/// process ends `compensated` when they all succeed, and is held with the reason otherwise
/// (or when nothing before it can be compensated).
#[allow(clippy::too_many_arguments)]
fn fail(
    cfg: &Config,
    store: &mut Store,
    p: &ProcessRow,
    route: &Route,
    s: &Step,
    failed: StepOutcome,
    now: Utc,
    moved: &mut Moved,
) -> Result<(), OrchestrateError> {
    let reason = format!("step {} ({}) failed: {}", p.step + 1, s.name, failed.detail);
    let schema = serde_json::from_slice::<Value>(&p.record)
        .ok()
        .and_then(|v| v["schema"].as_str().map(String::from))
        .unwrap_or_default();
    let mut compensated = Vec::new();
    let mut failures = Vec::new();
    let done = store.step_outcomes(&p.record_id)?;
    for earlier in done
        .iter()
        .rev()
        .filter(|o| o.seq < p.step && o.kind == "deliver" && o.outcome == "done")
    {
        let Some(step) = route.steps.get(earlier.seq) else {
            continue;
        };
        if step.compensate.as_deref() != Some("cancel") {
            continue;
        }
        let t = earlier.target.as_deref().unwrap_or("");
        let result = match (
            cfg.targets.iter().find(|x| x.name == t),
            earlier.system_id.as_deref(),
        ) {
            (Some(target), Some(id)) => cancel(target, &schema, id, now),
            (None, _) => Err(format!("no target {t}")),
            (_, None) => Err(format!("{t} gave no id for what it created")),
        };
        let (outcome, detail) = match &result {
            Ok(d) => ("done", d.clone()),
            Err(e) => ("failed", e.clone()),
        };
        store.note_compensation(
            p,
            &StepOutcome {
                seq: earlier.seq,
                name: step.name.clone(),
                kind: "cancel".into(),
                target: earlier.target.clone(),
                outcome: outcome.into(),
                detail: detail.clone(),
                system_id: earlier.system_id.clone(),
                at: now.rfc3339(),
            },
        )?;
        match result {
            Ok(_) => compensated.push(step.name.clone()),
            Err(e) => failures.push(format!("cancelling step {} in {t}: {e}", step.name)),
        }
    }
    let (state, reason) = if !failures.is_empty() {
        ("held", format!("{reason}; {}", failures.join("; ")))
    } else if compensated.is_empty() {
        ("held", reason)
    } else {
        (
            "compensated",
            format!("{reason}; compensated: {}", compensated.join(", ")),
        )
    };
    tracing::error!(route = %p.route, record = %p.record_id, state, reason = %reason, "a route's process stopped");
    store.settle_step(p, &failed, &Next::End(state, Some(reason)), now)?;
    moved.steps += 1;
    if state == "held" {
        moved.held += 1;
    } else {
        moved.compensated += 1;
    }
    Ok(())
}

fn cancel(target: &Target, schema: &str, system_id: &str, now: Utc) -> Result<String, String> {
    let agent = delivery::agent(target);
    crate::targets::connector(target)
        .cancel(target, &agent, schema, system_id, &now.date())
        .map_err(|r| r.text())
}

/// The answer of a respond step: the purchase order acknowledged as sent (every line
/// accepted), with the ERP's order number as the supplier's, in the partner's syntax.
fn response(
    cfg: &Config,
    p: &ProcessRow,
    doc: &str,
    system_id: Option<&str>,
    control: u64,
    now: Utc,
) -> Result<AdviceDoc, String> {
    let env: Value = serde_json::from_slice(&p.record).map_err(|e| format!("the record: {e}"))?;
    let ack = crate::acks::advice::order_response(&env, true, system_id, &now.date());
    let target: crate::outbound::Target = doc.parse().map_err(|e| format!("{e}"))?;
    let bytes = crate::outbound::render(cfg, &p.partner, &target, &[ack], control, now)
        .map_err(|e| e.to_string())?;
    let ext = if target.format == "x12" { "x12" } else { "edi" };
    Ok(AdviceDoc {
        kind: format!("outbound:{doc}"),
        path: format!(
            "{}/outbound/{}-{control:09}.{ext}",
            crate::routing::component(&p.partner),
            crate::routing::component(&target.document)
        ),
        bytes,
        uploads: crate::routing::upload_channels(cfg, &p.partner),
    })
}
