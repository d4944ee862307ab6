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
    /// Stable files left for the next pass because this pass's batch was full.
    pub deferred: usize,
}

/// The most files one pass takes in: bounds the length of the pipeline's transactions (so that
/// deliveries and the CLI never wait long for the database) and the time to the first delivery.
pub const MAX_BATCH: usize = 500;

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
        let mut present = std::collections::HashSet::new();
        let mut ready: Vec<Ready<'_>> = Vec::new();
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
                present.insert(path.clone());
                match self.seen.get(&path) {
                    Some((before, at))
                        if *before == now && at.elapsed() >= settle && ready.len() >= MAX_BATCH =>
                    {
                        report.deferred += 1;
                    }
                    Some((before, at)) if *before == now && at.elapsed() >= settle => {
                        self.seen.remove(&path);
                        let key = format!(
                            "{}:{}:{}:{}:{}",
                            channel.name, name, now.size, now.mtime_ns, now.inode
                        );
                        if let Some(done) = store.file_by_source(&key)? {
                            // Committed before a crash that came before the inbox removal.
                            tracing::info!(file = %name, id = done.id, "already received; removing it from the inbox");
                            fsutil::remove_durable(&path).map_err(io_at(&path))?;
                            continue;
                        }
                        let data = fs::read(&path).map_err(io_at(&path))?;
                        if data.len() as u64 != now.size {
                            continue; // Changed under us: the next pass sees it again.
                        }
                        ready.push(Ready {
                            channel,
                            path,
                            name,
                            key,
                            data,
                            stamp: now,
                        });
                    }
                    Some((before, _)) if *before == now => report.waiting += 1,
                    _ => {
                        self.seen.insert(path, (now, Instant::now()));
                        report.waiting += 1;
                    }
                }
            }
        }
        for c in commit_batch(cfg, store, &ready)? {
            report.add(c);
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

/// A stable input read into memory, waiting to be committed.
struct Ready<'c> {
    channel: &'c Channel,
    path: PathBuf,
    name: String,
    key: String,
    data: Vec<u8>,
    stamp: Stamp,
}

/// Removes a committed file from the inbox, unless the name now holds something else: a file
/// the sender rewrote or replaced since it was read is a new drop, taken by a later pass.
fn remove_taken(r: &Ready<'_>) -> Result<(), IntakeError> {
    let gone = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => Ok(()),
        _ => Err(IntakeError::Io {
            path: r.path.clone(),
            source: e,
        }),
    };
    match fs::metadata(&r.path) {
        Ok(m) if stamp(&m) == r.stamp => fs::remove_file(&r.path).or_else(gone),
        Ok(_) => {
            tracing::info!(file = %r.name, "changed since it was taken: left for the next pass as a new drop");
            Ok(())
        }
        Err(e) => gone(e),
    }
}

fn spool_path(cfg: &Config, source_key: &str) -> PathBuf {
    cfg.spool().join(&sha256_hex(source_key.as_bytes())[..32])
}

fn log_committed(c: Committed, channel: &Channel, name: &str, size: usize, sha: &str) {
    match c {
        Committed::Duplicate(id) => {
            tracing::warn!(file = name, id, sha256 = %sha, "duplicate file received; it will be archived, not processed")
        }
        Committed::New(id) => {
            tracing::info!(file = name, id, channel = %channel.name, bytes = size, sha256 = %sha, "file received")
        }
    }
}

/// Commits a batch of folder inputs: every content synced into the spool, the spool folder
/// synced once, every state row in one transaction, and only then the inbox files removed
/// (each inbox folder synced once).
fn commit_batch(
    cfg: &Config,
    store: &mut Store,
    ready: &[Ready<'_>],
) -> Result<Vec<Committed>, IntakeError> {
    if ready.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(ready.len());
    for r in ready {
        let sha = sha256_hex(&r.data);
        let spool = spool_path(cfg, &r.key);
        // A copy, not a second name: a sender that rewrites the same name in place later
        // (many reuse one file name) must not change what was committed.
        fsutil::write_replace(&spool, &r.data).map_err(io_at(&spool))?;
        rows.push((sha, cfg.rel(&spool)));
    }
    // One flush makes every spool copy durable before any state row points at it.
    fsutil::sync_fs(&cfg.spool()).map_err(io_at(&cfg.spool()))?;
    let new: Vec<NewFile<'_>> = ready
        .iter()
        .zip(&rows)
        .map(|(r, (sha, blob))| NewFile {
            channel: &r.channel.name,
            partner: r.channel.partner.as_deref(),
            name: &r.name,
            source_key: &r.key,
            sha256: sha,
            size: r.data.len() as i64,
            blob,
        })
        .collect();
    let ids = store.insert_files(&new)?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut out = Vec::with_capacity(ready.len());
    for ((r, (sha, _)), (id, dup)) in ready.iter().zip(&rows).zip(ids) {
        let c = if dup.is_some() {
            Committed::Duplicate(id)
        } else {
            Committed::New(id)
        };
        log_committed(c, r.channel, &r.name, r.data.len(), sha);
        remove_taken(r)?;
        if let Some(d) = r.path.parent() {
            if !dirs.iter().any(|x| x == d) {
                dirs.push(d.to_path_buf());
            }
        }
        out.push(c);
    }
    for d in &dirs {
        fsutil::sync_fs(d).map_err(io_at(d))?;
    }
    Ok(out)
}

/// Commits one input (from a remote drop): its bytes to the spool (synced), then its state
/// row. The caller removes the source only after this returns. `source_key` names this exact
/// drop so that a crash between commit and removal is recognised.
pub fn commit(
    cfg: &Config,
    store: &mut Store,
    channel: &Channel,
    name: &str,
    source_key: &str,
    data: &[u8],
) -> Result<Committed, IntakeError> {
    let sha = sha256_hex(data);
    let spool = spool_path(cfg, source_key);
    fsutil::write_atomic(&spool, data).map_err(io_at(&spool))?;
    let (id, dup) = store.insert_files(&[NewFile {
        channel: &channel.name,
        partner: channel.partner.as_deref(),
        name,
        source_key,
        sha256: &sha,
        size: data.len() as i64,
        blob: &cfg.rel(&spool),
    }])?[0];
    let c = if dup.is_some() {
        Committed::Duplicate(id)
    } else {
        Committed::New(id)
    };
    log_committed(c, channel, name, data.len(), &sha);
    Ok(c)
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

    fn folder() -> (tempfile::TempDir, Config, Store) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("inbox")).unwrap();
        let text = "[service]\nsettle_ms = 1\n\n[[channels]]\nname = \"in\"\ntype = \"dir\"\npath = \"inbox\"\n";
        let cfg = crate::config::parse(&dir.path().join("edigate.toml"), text).unwrap();
        fs::create_dir_all(cfg.spool()).unwrap();
        let store = Store::open(&cfg.database()).unwrap();
        (dir, cfg, store)
    }

    /// Two passes, the settle time apart: the first sees the files, the second takes them.
    fn settle(intake: &mut Intake, cfg: &Config, store: &mut Store) -> IntakeReport {
        intake.pass(cfg, store, &|_| true).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        intake.pass(cfg, store, &|_| true).unwrap()
    }

    #[test]
    fn a_file_rewritten_after_it_was_read_is_kept_as_a_new_drop_and_the_spool_keeps_what_was_read()
    {
        let (dir, cfg, mut store) = folder();
        let path = dir.path().join("inbox/orders.edi");
        fs::write(&path, b"first").unwrap();
        let meta = fs::metadata(&path).unwrap();
        let channel = &cfg.channels[0];
        let taken = Ready {
            channel,
            path: path.clone(),
            name: "orders.edi".into(),
            key: "k1".into(),
            data: fs::read(&path).unwrap(),
            stamp: stamp(&meta),
        };
        // The sender writes the same name again, in place, before the commit removes it.
        std::thread::sleep(Duration::from_millis(10));
        fs::write(&path, b"second, longer").unwrap();
        commit_batch(&cfg, &mut store, &[taken]).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            b"second, longer",
            "left in the inbox"
        );
        let spooled = cfg.resolve(&store.file(1).unwrap().blob);
        assert_eq!(fs::read(&spooled).unwrap(), b"first");
        // The next passes take it as a new file.
        let mut intake = Intake::default();
        assert_eq!(settle(&mut intake, &cfg, &mut store).ingested, 1);
        assert!(!path.exists());
        let again = cfg.resolve(&store.file(2).unwrap().blob);
        assert_eq!(fs::read(&again).unwrap(), b"second, longer");
        assert_eq!(fs::read(&spooled).unwrap(), b"first");
    }

    #[test]
    fn a_pass_takes_at_most_one_batch_and_leaves_the_rest_for_the_next() {
        let (dir, cfg, mut store) = folder();
        for i in 0..MAX_BATCH + 3 {
            fs::write(dir.path().join(format!("inbox/{i:04}.edi")), i.to_string()).unwrap();
        }
        let mut intake = Intake::default();
        let first = settle(&mut intake, &cfg, &mut store);
        assert_eq!((first.ingested, first.deferred), (MAX_BATCH, 3));
        let next = intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!((next.ingested, next.deferred, next.waiting), (3, 0, 0));
    }
}
