//! Intake: finds stable files in channel folders and commits their content to the spool
//! before anything else. The inbox file is removed only after the commit.

use crate::config::{Channel, Config};
use crate::fsutil;
use crate::store::{NewFile, Store, StoreError};
use crate::util::sha256_hex;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IntakeError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> IntakeError + '_ {
    move |source| IntakeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

/// What one intake pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IntakeReport {
    pub ingested: usize,
    pub duplicates: usize,
    /// Files seen but not yet stable (still being written, or seen only once).
    pub waiting: usize,
}

/// Remembers what each folder looked like, to take only files that stopped changing.
#[derive(Default)]
pub struct Intake {
    seen: HashMap<PathBuf, (Stamp, Instant)>,
}

/// Names that writers use while a file is incomplete, and our own temporary names.
pub fn is_partial(name: &str) -> bool {
    name.starts_with('.')
        || [".part", ".tmp", ".filepart", ".edigate-tmp", ".partial"]
            .iter()
            .any(|s| name.ends_with(s))
}

fn stamp(meta: &fs::Metadata) -> Stamp {
    Stamp {
        size: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        inode: meta.ino(),
    }
}

/// Files waiting in a channel folder (for status); `None` for remote channels.
pub fn waiting(channel: &Channel) -> Option<usize> {
    let dir = channel.dir()?;
    Some(
        fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter(|e| !is_partial(&e.file_name().to_string_lossy()))
                    .count()
            })
            .unwrap_or(0),
    )
}

impl Intake {
    /// Takes every stable file of the folder channels `due` selects. A file is stable when two
    /// observations at least `settle` apart saw the same size, modification time and inode.
    pub fn pass(
        &mut self,
        cfg: &Config,
        store: &mut Store,
        due: &dyn Fn(&Channel) -> bool,
    ) -> Result<IntakeReport, IntakeError> {
        let settle = Duration::from_millis(cfg.settle_ms);
        let mut report = IntakeReport::default();
        let mut present = Vec::new();
        for channel in cfg.channels.iter().filter(|c| due(c)) {
            let Some(dir) = channel.dir() else { continue };
            let rd = fs::read_dir(dir).map_err(io_at(dir))?;
            let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_partial(&name) || !e.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let path = e.path();
                let Ok(meta) = e.metadata() else { continue };
                let now = stamp(&meta);
                present.push(path.clone());
                match self.seen.get(&path) {
                    Some((before, at)) if *before == now && at.elapsed() >= settle => {
                        self.seen.remove(&path);
                        let key = format!(
                            "{}:{}:{}:{}:{}",
                            channel.name, name, now.size, now.mtime_ns, now.inode
                        );
                        if let Some(done) = store.file_by_source(&key)? {
                            // Committed before a crash that came before the inbox removal.
                            tracing::info!(file = %name, id = done.id, "already received; removing it from the inbox");
                        } else {
                            let data = fs::read(&path).map_err(io_at(&path))?;
                            if data.len() as u64 != now.size {
                                continue; // Changed under us: the next pass sees it again.
                            }
                            report.add(commit(cfg, store, channel, &name, &key, &data)?);
                        }
                        fsutil::remove_durable(&path).map_err(io_at(&path))?;
                    }
                    Some((before, _)) if *before == now => report.waiting += 1,
                    _ => {
                        self.seen.insert(path, (now, Instant::now()));
                        report.waiting += 1;
                    }
                }
            }
        }
        self.seen.retain(|p, _| present.contains(p));
        Ok(report)
    }
}

/// What committing one input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    New(i64),
    /// Same content as an earlier file: recorded and archived, not processed.
    Duplicate(i64),
}

impl IntakeReport {
    pub fn add(&mut self, c: Committed) {
        self.ingested += 1;
        if let Committed::Duplicate(_) = c {
            self.duplicates += 1;
        }
    }
}

/// Commits one input: its bytes to the spool (fsync), then its state row. The caller removes
/// the source only after this returns. `source_key` names this exact drop so that a crash
/// between commit and removal is recognised.
pub fn commit(
    cfg: &Config,
    store: &mut Store,
    channel: &Channel,
    name: &str,
    source_key: &str,
    data: &[u8],
) -> Result<Committed, IntakeError> {
    let sha = sha256_hex(data);
    let spool = cfg.spool().join(&sha256_hex(source_key.as_bytes())[..32]);
    fsutil::write_atomic(&spool, data).map_err(io_at(&spool))?;
    let duplicate_of = store.original_of(&sha)?;
    let id = store.insert_file(
        &NewFile {
            channel: &channel.name,
            partner: channel.partner.as_deref(),
            name,
            source_key,
            sha256: &sha,
            size: data.len() as i64,
            blob: &cfg.rel(&spool),
        },
        duplicate_of,
    )?;
    Ok(match duplicate_of {
        Some(o) => {
            tracing::warn!(file = name, id, duplicate_of = o, sha256 = %sha, "duplicate file received; it will be archived, not processed");
            Committed::Duplicate(id)
        }
        None => {
            tracing::info!(file = name, id, channel = %channel.name, bytes = data.len(), sha256 = %sha, "file received");
            Committed::New(id)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_skipped() {
        for n in [".hidden", "a.part", "b.tmp", "c.edigate-tmp", "d.filepart"] {
            assert!(is_partial(n), "{n}");
        }
        assert!(!is_partial("po.edi"));
    }
}
