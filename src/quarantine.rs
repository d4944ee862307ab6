//! Quarantine: where files that cannot flow wait for an operator, each with a sidecar that
//! says why. Release sends a file back through the pipeline; discard archives it.

use crate::config::Config;
use crate::fsutil;
use crate::pipeline::{archive_path, relocate, PipelineError};
use crate::routing::component;
use crate::store::{FileRow, State, Store};
use crate::util::{sha256_hex, Utc};
use std::fs;
use std::path::{Path, PathBuf};

/// Where a quarantined file's content lives.
pub fn path(cfg: &Config, f: &FileRow) -> PathBuf {
    cfg.quarantine
        .join(format!("{:08}-{}", f.id, component(&f.name)))
}

pub fn sidecar_path(content: &Path) -> PathBuf {
    PathBuf::from(format!("{}.reason.json", content.display()))
}

/// The sidecar: file, position, reason and time, plus every diagnostic.
pub fn sidecar(f: &FileRow, refusal: &str) -> Vec<u8> {
    let refusal: serde_json::Value = serde_json::from_str(refusal).unwrap_or_default();
    let v = serde_json::json!({
        "id": f.id,
        "file": f.name,
        "channel": f.channel,
        "partner": f.partner,
        "sha256": f.sha256,
        "received_at": f.received_at,
        "quarantined_at": Utc::now().rfc3339(),
        "code": refusal["code"],
        "reason": refusal["reason"],
        "position": refusal["position"],
        "diagnostics": refusal["diagnostics"],
    });
    let mut out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Sends a quarantined file back to the pipeline, with its content as it is now in the
/// quarantine folder (an operator may have replaced it).
pub fn release(cfg: &Config, store: &mut Store, id: i64) -> Result<(), PipelineError> {
    let f = store.file(id)?;
    if f.state != State::Quarantined {
        return Err(crate::store::StoreError::WrongState {
            id,
            state: f.state.as_str().into(),
            expected: "quarantined",
        }
        .into());
    }
    let here = cfg.resolve(&f.blob);
    let data = fs::read(&here).map_err(|source| PipelineError::Io {
        id,
        name: f.name.clone(),
        path: here.clone(),
        source,
    })?;
    let spool = cfg.spool().join(format!("{:08}-a{}", f.id, f.attempt + 1));
    fsutil::write_atomic(&spool, &data).map_err(|source| PipelineError::Io {
        id,
        name: f.name.clone(),
        path: spool.clone(),
        source,
    })?;
    store.release(id, &cfg.rel(&spool), &sha256_hex(&data), data.len() as i64)?;
    fsutil::remove_durable(&here).ok();
    fsutil::remove_durable(&sidecar_path(&here)).ok();
    Ok(())
}

/// Drops a quarantined file from the queue; its content is kept in the archive.
pub fn discard(cfg: &Config, store: &mut Store, id: i64) -> Result<(), PipelineError> {
    let f = store.file(id)?;
    if f.state != State::Quarantined {
        return Err(crate::store::StoreError::WrongState {
            id,
            state: f.state.as_str().into(),
            expected: "quarantined",
        }
        .into());
    }
    let to = archive_path(cfg, &f);
    relocate(cfg, &f, &to)?;
    let side = sidecar_path(&cfg.resolve(&f.blob));
    if side.exists() {
        fsutil::move_durable(&side, &sidecar_path(&to)).ok();
    }
    store.discard(id, &cfg.rel(&to))?;
    Ok(())
}

/// Sends archived files through today's configuration again. Their content is copied back to
/// the spool; deliveries keep their idempotency keys, so targets never see a record twice.
pub fn replay(cfg: &Config, store: &mut Store, files: &[FileRow]) -> Result<usize, PipelineError> {
    for f in files {
        let from = cfg.resolve(&f.blob);
        let data = fs::read(&from).map_err(|source| PipelineError::Io {
            id: f.id,
            name: f.name.clone(),
            path: from.clone(),
            source,
        })?;
        let spool = cfg.spool().join(format!("{:08}-a{}", f.id, f.attempt + 1));
        fsutil::write_atomic(&spool, &data).map_err(|source| PipelineError::Io {
            id: f.id,
            name: f.name.clone(),
            path: spool.clone(),
            source,
        })?;
        store.replay(f.id, &cfg.rel(&spool))?;
    }
    Ok(files.len())
}
