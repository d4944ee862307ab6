//! The store's part of a phased migration: route modes and their audit trail, the records
//! each route carried with their deliveries, and the reconciliations kept.

use super::db::params;
use super::{exec, Result, Store};
use crate::migration::{Mode, Side};
use crate::util::Utc;

/// One change of a route's mode, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModeChange {
    pub at: String,
    pub route: String,
    /// `None` when the route first appeared.
    pub old_mode: Option<String>,
    /// A mode, or `removed` when the route left the configuration.
    pub new_mode: String,
    pub config_hash: String,
    pub actor: String,
}

/// A delivery of a routed record, as reconcile reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedDelivery {
    pub target: String,
    pub side: Side,
    /// `pending`, `delivered`, `rejected`, `dead` or `discarded`.
    pub state: String,
    pub system_id: Option<String>,
    pub error: Option<String>,
    pub shadow: bool,
}

/// A record a route carried: the mode it went under, its JSON and its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedRecord {
    pub record_id: String,
    pub file_id: i64,
    pub route: String,
    pub mode: Mode,
    pub routed_at: String,
    pub schema: String,
    pub partner: String,
    /// The record's JSON (its canonical envelope), as sent.
    pub json: Vec<u8>,
    pub deliveries: Vec<RoutedDelivery>,
}

impl Store {
    /// Brings the stored mode of every route to `modes` (the configuration now in force),
    /// keeping one audit row per change, all in one transaction. Routes no longer configured
    /// are recorded as `removed`. Returns the changes made.
    pub fn apply_route_modes(
        &mut self,
        modes: &[(String, Mode)],
        config_hash: &str,
        actor: &str,
        now: Utc,
    ) -> Result<Vec<ModeChange>> {
        let tx = self.conn.savepoint()?;
        let at = now.rfc3339();
        let stored: Vec<(String, String)> = tx.query_map(
            "SELECT route, mode FROM route_modes ORDER BY route",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut changes = Vec::new();
        for (route, mode) in modes {
            let old = stored
                .iter()
                .find(|(r, _)| r == route)
                .map(|(_, m)| m.clone());
            if old.as_deref() == Some(mode.as_str()) {
                continue;
            }
            exec(
                &tx,
                "INSERT INTO route_modes (route, mode, since) VALUES (?1, ?2, ?3)
                 ON CONFLICT (route) DO UPDATE SET mode = ?2, since = ?3",
                params![route, mode.as_str(), at],
            )?;
            changes.push(ModeChange {
                at: at.clone(),
                route: route.clone(),
                old_mode: old,
                new_mode: mode.as_str().to_string(),
                config_hash: config_hash.to_string(),
                actor: actor.to_string(),
            });
        }
        for (route, mode) in &stored {
            if modes.iter().any(|(r, _)| r == route) {
                continue;
            }
            exec(
                &tx,
                "DELETE FROM route_modes WHERE route = ?1",
                params![route],
            )?;
            changes.push(ModeChange {
                at: at.clone(),
                route: route.clone(),
                old_mode: Some(mode.clone()),
                new_mode: "removed".into(),
                config_hash: config_hash.to_string(),
                actor: actor.to_string(),
            });
        }
        for c in &changes {
            exec(&tx,
                "INSERT INTO route_changes (at, route, old_mode, new_mode, config_hash, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.at, c.route, c.old_mode, c.new_mode, c.config_hash, c.actor],
            )?;
        }
        tx.commit()?;
        Ok(changes)
    }

    /// Every mode change, oldest first (of one route, or all).
    pub fn mode_changes(&self, route: Option<&str>) -> Result<Vec<ModeChange>> {
        self.all(
            "SELECT at, route, old_mode, new_mode, config_hash, actor FROM route_changes
             WHERE ?1 IS NULL OR route = ?1 ORDER BY id",
            params![route],
            |r| {
                Ok(ModeChange {
                    at: r.get(0)?,
                    route: r.get(1)?,
                    old_mode: r.get(2)?,
                    new_mode: r.get(3)?,
                    config_hash: r.get(4)?,
                    actor: r.get(5)?,
                })
            },
        )
    }

    /// The records routed by `route` (or by every route) at or after `since`, in the order
    /// they were routed, each with its deliveries.
    pub fn routed_records(
        &self,
        route: Option<&str>,
        since: Option<&str>,
    ) -> Result<Vec<RoutedRecord>> {
        let mut out = self.all(
            "SELECT rr.record_id, rr.file_id, rr.route, rr.mode, rr.routed_at, r.schema, r.partner
             FROM record_routes rr JOIN records r ON r.id = rr.record_id
             WHERE (?1 IS NULL OR rr.route = ?1) AND (?2 IS NULL OR rr.routed_at >= ?2)
             ORDER BY rr.routed_at, rr.record_id",
            params![route, since],
            |r| {
                let mode: String = r.get(3)?;
                Ok(RoutedRecord {
                    record_id: r.get(0)?,
                    file_id: r.get(1)?,
                    route: r.get(2)?,
                    mode: Mode::parse(&mode).unwrap_or(Mode::Legacy),
                    routed_at: r.get(4)?,
                    schema: r.get(5)?,
                    partner: r.get(6)?,
                    json: Vec::new(),
                    deliveries: Vec::new(),
                })
            },
        )?;
        for rec in &mut out {
            let rows = self.conn.query_map(
                "SELECT target, side, state, system_id, last_error, shadow, payload FROM deliveries
             WHERE record_id = ?1 AND side IS NOT NULL ORDER BY id",
                params![rec.record_id],
                |r| {
                    let side: String = r.get(1)?;
                    Ok((
                        RoutedDelivery {
                            target: r.get(0)?,
                            side: Side::parse(&side).unwrap_or(Side::Legacy),
                            state: r.get(2)?,
                            system_id: r.get(3)?,
                            error: r.get(4)?,
                            shadow: r.get(5)?,
                        },
                        r.get::<Vec<u8>>(6)?,
                    ))
                },
            )?;
            for (d, payload) in rows {
                if rec.json.is_empty() {
                    rec.json = payload;
                }
                rec.deliveries.push(d);
            }
        }
        Ok(out)
    }

    /// Keeps a reconciliation's summary of one route (JSON), for `edigate routes`.
    pub fn keep_reconcile(&mut self, route: &str, summary: &str, now: Utc) -> Result<()> {
        exec(
            &self.conn,
            "INSERT INTO reconcile_runs (at, route, summary) VALUES (?1, ?2, ?3)",
            params![now.rfc3339(), route, summary],
        )?;
        Ok(())
    }

    /// The latest reconciliation kept for `route`: (time, summary JSON).
    pub fn latest_reconcile(&self, route: &str) -> Result<Option<(String, String)>> {
        self.conn.query_opt(
            "SELECT at, summary FROM reconcile_runs WHERE route = ?1 ORDER BY id DESC LIMIT 1",
            params![route],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
