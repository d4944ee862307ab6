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

/// File `id`, when it is in the quarantine.
fn quarantined(store: &Store, id: i64) -> Result<FileRow, PipelineError> {
    let f = store.file(id)?;
    if f.state != State::Quarantined {
        return Err(crate::store::StoreError::WrongState {
            id,
            state: f.state.as_str().into(),
            expected: "quarantined",
        }
        .into());
    }
    Ok(f)
}

/// Sends a quarantined file back to the pipeline, with its content as it is now in the
/// quarantine folder (an operator may have replaced it).
pub fn release(cfg: &Config, store: &mut Store, id: i64) -> Result<(), PipelineError> {
    let f = quarantined(store, id)?;
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

/// Where the content of a quarantined file as received is kept once an operator corrected it.
pub fn original_path(cfg: &Config, f: &FileRow) -> PathBuf {
    let a = archive_path(cfg, f);
    PathBuf::from(format!("{}.original", a.display()))
}

/// Keeps an operator's corrected copy of quarantined file `id`: the content as received is
/// kept first (once: see [`original_path`]), then the correction replaces the quarantined
/// content (what a release sends on), and the audit trail says who and what. Returns where
/// the original is.
pub fn correct(
    cfg: &Config,
    store: &mut Store,
    id: i64,
    data: &[u8],
    actor: &str,
) -> Result<PathBuf, PipelineError> {
    let f = quarantined(store, id)?;
    let here = cfg.resolve(&f.blob);
    let original = original_path(cfg, &f);
    let io = |path: &Path| {
        let (name, path) = (f.name.clone(), path.to_path_buf());
        move |source| PipelineError::Io {
            id,
            name,
            path,
            source,
        }
    };
    if !original.exists() {
        let received = fs::read(&here).map_err(io(&here))?;
        fsutil::write_atomic(&original, &received).map_err(io(&original))?;
    }
    fsutil::write_atomic(&here, data).map_err(io(&here))?;
    store.note_event(
        id,
        "operator",
        &format!(
            "corrected copy uploaded by {actor}: {} bytes, sha256 {}; the content as received is kept at {}",
            data.len(),
            sha256_hex(data),
            cfg.rel(&original)
        ),
    )?;
    Ok(original)
}

/// Drops a quarantined file from the queue; its content is kept in the archive.
pub fn discard(cfg: &Config, store: &mut Store, id: i64) -> Result<(), PipelineError> {
    let f = quarantined(store, id)?;
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
        let data =
            crate::retention::read_blob(cfg, &f.blob).map_err(|source| PipelineError::Io {
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

/// The class of an exception, from the code of its reason: `syntax` (the input breaks its
/// standard), `configuration` (no mapping, crosswalk entry, partner or channel setup),
/// `security` (spoofing, unsafe archives), `business` (a mapping or target refused the content),
/// `transient` (retries exhausted) or `internal` (edigate itself failed on the file).
pub fn class(code: &str) -> &'static str {
    match code {
        "partner.spoofed" | "zip.slip" | "zip.link" | "zip.bomb" | "zip.too_deep" => "security",
        "x12.unsupported_transaction"
        | "edifact.unsupported_message"
        | "cxml.unsupported_request"
        | "csv.unsupported"
        | "csv.no_partner"
        | "records.no_target"
        | "x12.crosswalk"
        | "file.too_large" => "configuration",
        "rejected" | "edifact.mapping" | "cxml.mapping" | "csv.mapping" | "x12.mapping"
        | "records.outbound" => "business",
        "dead" | "file.unwritable" => "transient",
        c if c.starts_with("internal.") => "internal",
        c if c.ends_with(".crosswalk") => "configuration",
        _ => "syntax",
    }
}

/// Quarantined files matching the filters, each with its class.
pub fn list(
    store: &Store,
    partner: Option<&str>,
    document: Option<&str>,
    class_filter: Option<&str>,
    older_than_secs: Option<i64>,
) -> Result<Vec<(FileRow, &'static str, String)>, crate::store::StoreError> {
    let now = Utc::now().epoch;
    Ok(store
        .files_in(State::Quarantined)?
        .into_iter()
        .filter_map(|f| {
            let v: serde_json::Value = f
                .refusal
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            let code = v["code"].as_str().unwrap_or("").to_string();
            let reason = v["reason"].as_str().unwrap_or("").to_string();
            let c = class(&code);
            let age = Utc::parse_rfc3339(&f.received_at).map_or(0, |t| now - t.epoch);
            let keep = partner.is_none_or(|p| f.partner.as_deref() == Some(p))
                && document.is_none_or(|d| f.documents.split(',').any(|x| x == d))
                && class_filter.is_none_or(|k| k == c)
                && older_than_secs.is_none_or(|s| age >= s);
            keep.then_some((f, c, reason))
        })
        .collect())
}

/// `30m`, `12h`, `7d` or plain seconds.
pub fn parse_age(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().ok()?;
    Some(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    })
}
