//! The pipeline: moves each file through its states, one store transaction per step.
//! Every step can be repeated after a crash with the same result.

use crate::bundle;
use crate::config::Config;
use crate::fsutil;
use crate::quarantine;
use crate::routing;
use crate::store::{FileRow, InterchangeRow, NewFile, RecordKeys, State, Store, StoreError};
use crate::translate::{self, Input};
use crate::util::Utc;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("file {id} ({name}): {path}: {source}")]
    Io {
        id: i64,
        name: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("file {id} ({name}): its content is missing from {path} and from where it was going")]
    Lost {
        id: i64,
        name: String,
        path: PathBuf,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one processing pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Files that reached the archive.
    pub archived: usize,
    /// Files that reached quarantine.
    pub quarantined: usize,
    /// Transactions rejected inside files that otherwise flowed.
    pub rejected: usize,
    /// Files that could not advance because of an error (they are retried later).
    pub errors: usize,
}

impl Report {
    pub fn add(&mut self, o: Report) {
        self.archived += o.archived;
        self.quarantined += o.quarantined;
        self.rejected += o.rejected;
        self.errors += o.errors;
    }
}

/// Advances every unfinished file as far as it goes. One file's error never stops the others.
pub fn advance_all(cfg: &Config, store: &mut Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut tried = std::collections::HashSet::new();
    // Files can appear while others advance (the documents of a bundle): go on until every
    // unfinished file was tried once in this pass.
    loop {
        let todo: Vec<i64> = store
            .unfinished()?
            .into_iter()
            .map(|f| f.id)
            .filter(|id| !tried.contains(id))
            .collect();
        if todo.is_empty() {
            return Ok(report);
        }
        for id in todo {
            tried.insert(id);
            match advance(cfg, store, id) {
                Ok(r) => report.add(r),
                Err(e) => {
                    tracing::error!(error = %e, "file could not advance; it will be retried");
                    report.errors += 1;
                }
            }
        }
    }
}

fn io_err(f: &FileRow, path: &Path) -> impl FnOnce(io::Error) -> PipelineError {
    let (id, name, path) = (f.id, f.name.clone(), path.to_path_buf());
    move |source| PipelineError::Io {
        id,
        name,
        path,
        source,
    }
}

/// Where an archived file goes: by day received, named by id and original name.
pub fn archive_path(cfg: &Config, f: &FileRow) -> PathBuf {
    let day = f.received_at.get(..10).unwrap_or("undated");
    cfg.archive
        .join(day)
        .join(format!("{:08}-{}", f.id, routing::component(&f.name)))
}

/// Moves the content of `f` to `to` unless it is there already (a repeated step).
pub fn relocate(cfg: &Config, f: &FileRow, to: &Path) -> Result<(), PipelineError> {
    let from = cfg.resolve(&f.blob);
    if from == to {
        return Ok(());
    }
    if from.exists() {
        fsutil::move_durable(&from, to).map_err(io_err(f, to))
    } else if to.exists() {
        Ok(())
    } else {
        Err(PipelineError::Lost {
            id: f.id,
            name: f.name.clone(),
            path: from,
        })
    }
}

/// Runs the next steps for one file until it rests.
pub fn advance(cfg: &Config, store: &mut Store, id: i64) -> Result<Report, PipelineError> {
    let mut report = Report::default();
    loop {
        let f = store.file(id)?;
        match f.state {
            State::Received | State::Parsed => {
                if f.state == State::Parsed {
                    // A crash after parsing: translate again from the start.
                    tracing::debug!(id, "re-translating after restart");
                }
                report.rejected += translate_file(cfg, store, &f)?;
            }
            State::Translated => {
                for o in store.outputs(id)? {
                    if o.written {
                        continue;
                    }
                    let path = cfg.outbox.join(&o.path);
                    fsutil::write_atomic(&path, &o.content).map_err(io_err(&f, &path))?;
                    tracing::info!(id, output = %o.path, kind = %o.kind, "written to outbox");
                }
                // One transaction marks every output written and the file delivered; a crash
                // before it writes the same outputs again under the same names.
                store.mark_delivered(id)?;
            }
            State::Delivered => {
                if let Some(refusal) = &f.refusal {
                    let to = quarantine::path(cfg, &f);
                    relocate(cfg, &f, &to)?;
                    let side = quarantine::sidecar(&f, refusal);
                    let side_path = quarantine::sidecar_path(&to);
                    fsutil::write_atomic(&side_path, &side).map_err(io_err(&f, &side_path))?;
                    store.mark_quarantined(id, &cfg.rel(&to))?;
                    tracing::warn!(id, file = %f.name, reason = %refusal, "quarantined");
                    report.quarantined += 1;
                } else {
                    let to = archive_path(cfg, &f);
                    relocate(cfg, &f, &to)?;
                    let sum = format!(
                        "{}  {}\n",
                        f.sha256,
                        to.file_name().unwrap_or_default().to_string_lossy()
                    );
                    let sum_path = PathBuf::from(format!("{}.sha256", to.display()));
                    // Derivable from the state row: replaced atomically, not synced.
                    fsutil::write_replace(&sum_path, sum.as_bytes())
                        .map_err(io_err(&f, &sum_path))?;
                    store.mark_archived(id, &cfg.rel(&to))?;
                    tracing::info!(id, file = %f.name, archive = %cfg.rel(&to), "archived");
                    report.archived += 1;
                }
            }
            State::Archived | State::Quarantined | State::Discarded => return Ok(report),
        }
    }
}

/// Unpacks a zip bundle into its documents (each then processed on its own), or refuses it.
fn split_bundle(
    cfg: &Config,
    store: &mut Store,
    f: &FileRow,
    data: &[u8],
) -> Result<(), PipelineError> {
    let depth = f.name.matches('!').count();
    match bundle::unpack(data, depth, &bundle::Limits::default()) {
        Ok(entries) => {
            let blobs: Vec<(std::path::PathBuf, String, String)> = entries
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    let path = cfg.spool().join(format!("{:08}-a{}-b{k}", f.id, f.attempt));
                    (
                        path,
                        crate::util::sha256_hex(&e.data),
                        format!("bundle:{}:{}:{k}", f.id, f.attempt),
                    )
                })
                .collect();
            for ((path, ..), e) in blobs.iter().zip(&entries) {
                fsutil::write_atomic(path, &e.data).map_err(io_err(f, path))?;
            }
            let names: Vec<String> = entries
                .iter()
                .map(|e| format!("{}!{}", f.name, e.name))
                .collect();
            let rels: Vec<String> = blobs.iter().map(|(p, ..)| cfg.rel(p)).collect();
            let children: Vec<NewFile<'_>> = entries
                .iter()
                .enumerate()
                .map(|(k, e)| NewFile {
                    channel: &f.channel,
                    partner: f.partner.as_deref(),
                    name: &names[k],
                    source_key: &blobs[k].2,
                    sha256: &blobs[k].1,
                    size: e.data.len() as i64,
                    blob: &rels[k],
                })
                .collect();
            let ids = store.split_bundle(f.id, &children)?;
            tracing::info!(id = f.id, file = %f.name, documents = ids.len(), "bundle unpacked");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(id = f.id, file = %f.name, error = %e, "bundle refused");
            if f.state == State::Received {
                store.mark_parsed(f.id, None, "zip", &[])?;
            }
            let refusal = serde_json::json!({
                "code": e.code(),
                "reason": e.to_string(),
                "position": { "offset": 0 },
                "diagnostics": [],
            });
            store.commit_translation(
                f.id,
                &[],
                &[],
                Some(&refusal.to_string()),
                "bundle refused",
            )?;
            Ok(())
        }
    }
}

/// Parses and translates a received file, then commits its outputs. Returns the number of
/// rejected transactions.
fn translate_file(cfg: &Config, store: &mut Store, f: &FileRow) -> Result<usize, PipelineError> {
    let blob = cfg.resolve(&f.blob);
    let data = crate::retention::read_blob(cfg, &f.blob).map_err(io_err(f, &blob))?;
    if bundle::is_zip(&data) {
        return split_bundle(cfg, store, f, &data).map(|()| 0);
    }
    let channel = cfg.channels.iter().find(|c| c.name == f.channel);
    let shown = match channel {
        Some(c) => c.origin(cfg, &f.name),
        None => f.name.clone(),
    };
    let cell = std::cell::RefCell::new(&mut *store);
    let since = Utc {
        epoch: Utc::now().epoch - cfg.duplicate_window_days as i64 * 86_400,
    };
    let seen = |partner: &str, sender: &str, control: &str| {
        cell.borrow()
            .interchange_seen(partner, sender, control, since, f.id)
            .unwrap_or(false)
    };
    let input = Input {
        data: &data,
        file: &shown,
        sha256: &f.sha256,
        channel_partner: channel.and_then(|c| c.partner.as_deref()),
        seen: Some(&seen),
    };
    let mut alloc_err = None;
    let outcome = translate::translate(&input, cfg, Utc::now(), &mut |partner| {
        cell.borrow_mut()
            .allocate_control(partner, "x12")
            .unwrap_or_else(|e| {
                alloc_err = Some(e);
                0
            })
    });
    if let Some(e) = alloc_err {
        return Err(e.into());
    }
    for d in &outcome.diagnostics {
        tracing::warn!(id = f.id, file = %shown, "{d}");
    }
    let partner = outcome.interchanges.first().map(|i| i.partner.as_str());
    let rows: Vec<InterchangeRow<'_>> = outcome
        .interchanges
        .iter()
        .map(|i| InterchangeRow {
            partner: &i.partner,
            sender: &i.sender,
            control: &i.control,
        })
        .collect();
    if f.state == State::Received {
        store.mark_parsed(f.id, partner, &outcome.documents.join(","), &rows)?;
    }
    let outputs = routing::outputs(cfg, f, &outcome);
    let keys: Vec<RecordKeys> = outcome
        .records
        .iter()
        .map(|r| RecordKeys {
            id: r.id.clone(),
            schema: r.schema.clone(),
            partner: r.partner.clone(),
            keys: r
                .correlation
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect();
    let refusal = outcome.refusal.as_ref().map(|r| {
        serde_json::json!({
            "code": r.code,
            "reason": r.reason,
            "position": r.position,
            "diagnostics": outcome.diagnostics.iter().take(100).collect::<Vec<_>>(),
        })
        .to_string()
    });
    let detail = format!(
        "{} record(s), {} acknowledgement(s), {} transaction(s) accepted, {} rejected",
        outcome.records.len(),
        outcome.acks.len(),
        outcome.accepted,
        outcome.rejected
    );
    let deliveries = if outcome.refusal.is_none() {
        routing::deliveries(cfg, &outcome)
    } else {
        Vec::new()
    };
    let exceptions = if outcome.refusal.is_none() {
        &outcome.rejected_items[..]
    } else {
        &[]
    };
    store.commit_translation_with(
        f.id,
        &outputs,
        &keys,
        &deliveries,
        exceptions,
        refusal.as_deref(),
        &detail,
    )?;
    tracing::info!(id = f.id, file = %shown, "{detail}");
    Ok(if outcome.refusal.is_some() {
        0
    } else {
        outcome.rejected
    })
}
