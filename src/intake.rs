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

/// Remembers what each folder looked like, to take only files that stopped changing, and
/// what was already said about entries it cannot take (said once, not at every pass).
#[derive(Default)]
pub struct Intake {
    seen: HashMap<PathBuf, (Stamp, Instant)>,
    noticed: std::collections::HashSet<(PathBuf, &'static str)>,
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

/// What a channel folder holds now (for status): files waiting, and entries that are not
/// taken because they are not plain files (links, folders, FIFOs, devices).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FolderCount {
    pub waiting: usize,
    pub not_files: usize,
}

/// Files waiting and entries ignored in a channel folder; `None` for remote channels.
pub fn folder_count(channel: &Channel) -> Option<FolderCount> {
    let dir = channel.dir()?;
    let mut c = FolderCount::default();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if is_partial(&e.file_name().to_string_lossy()) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_file() => c.waiting += 1,
            Ok(_) => c.not_files += 1,
            Err(_) => {}
        }
    }
    Some(c)
}

/// What kind of entry a folder entry that is not a plain file is, for the log.
fn kind_of(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}

impl Intake {
    /// Says something about an entry once while it stays as it is.
    fn once(&mut self, path: &Path, what: &'static str) -> bool {
        self.noticed.insert((path.to_path_buf(), what))
    }

    /// Takes every complete file of the folder channels `due` selects. A file is complete when
    /// no process holds it open for writing (asked of the kernel, see
    /// [`fsutil::held_for_writing`]); where that cannot be asked (network mounts), when two
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
                if is_partial(&name) {
                    continue;
                }
                let path = e.path();
                let Ok(kind) = e.file_type() else { continue };
                if !kind.is_file() {
                    present.insert(path.clone());
                    if self.once(&path, "not a file") {
                        tracing::warn!(channel = %channel.name, entry = %name, "{} in the channel folder is not taken (only plain files are); `edigate status` counts it", kind_of(kind));
                    }
                    continue;
                }
                // Not followed: a plain file, as the entry itself says (no link).
                let Ok(meta) = e.metadata() else { continue };
                let now = stamp(&meta);
                present.insert(path.clone());
                let complete = match fsutil::held_for_writing(&path) {
                    Some(true) => {
                        if self.once(&path, "open") {
                            tracing::info!(file = %name, bytes = now.size, "still open for writing: taken once its writer closes it");
                        }
                        self.seen.insert(path, (now, Instant::now()));
                        report.waiting += 1;
                        continue;
                    }
                    Some(false) => true,
                    None => {
                        matches!(self.seen.get(&path), Some((before, at)) if *before == now && at.elapsed() >= settle)
                    }
                };
                if !complete {
                    match self.seen.get(&path) {
                        Some((before, _)) if *before == now => {}
                        _ => {
                            self.seen.insert(path, (now, Instant::now()));
                        }
                    }
                    report.waiting += 1;
                    continue;
                }
                if ready.len() >= MAX_BATCH {
                    report.deferred += 1;
                    continue;
                }
                self.seen.remove(&path);
                self.noticed.remove(&(path.clone(), "open"));
                let key = format!(
                    "{}:{}:{}:{}:{}",
                    channel.name, name, now.size, now.mtime_ns, now.inode
                );
                if let Some(done) = store.file_by_source(&key)? {
                    // Committed before a crash that came before the inbox removal.
                    tracing::info!(file = %name, id = done.id, "already received; removing it from the inbox");
                    if fsutil::held_for_writing(&path) != Some(true) {
                        fsutil::remove_durable(&path).map_err(io_at(&path))?;
                    }
                    continue;
                }
                let spool = spool_path(cfg, &key);
                let taken = if now.size > cfg.max_file_bytes {
                    // Refused for its size: never read into memory nor copied. A second name
                    // in the spool keeps it (sparse files stay sparse) until it is quarantined.
                    let _ = fs::remove_file(&spool);
                    match fs::hard_link(&path, &spool) {
                        Ok(()) => fsutil::hash_file(&spool),
                        Err(e) => {
                            if self.once(&path, "too large") {
                                tracing::error!(file = %name, bytes = now.size, error = %e, "over max_file_mb and on another file system than the spool: left where it is (raise max_file_mb or move it by hand)");
                            }
                            report.waiting += 1;
                            continue;
                        }
                    }
                } else {
                    fsutil::copy_hashed(&path, &spool)
                };
                let (sha, size) = taken.map_err(io_at(&path))?;
                if size != now.size {
                    let _ = fs::remove_file(&spool);
                    continue; // Changed under us: the next pass sees it again.
                }
                ready.push(Ready {
                    channel,
                    path,
                    name,
                    key,
                    sha,
                    size,
                    spool,
                    stamp: now,
                });
            }
        }
        for c in commit_batch(cfg, store, &ready)? {
            report.add(c);
        }
        self.seen.retain(|p, _| present.contains(p));
        self.noticed.retain(|(p, _)| present.contains(p));
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

/// A complete input copied into the spool, waiting to be committed.
struct Ready<'c> {
    channel: &'c Channel,
    path: PathBuf,
    name: String,
    key: String,
    sha: String,
    size: u64,
    spool: PathBuf,
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
        // Never unlinked while a writer holds it: what it writes next would be lost with the
        // name. It stays, and is taken again (as a new drop) once it changed and was closed.
        Ok(_) if fsutil::held_for_writing(&r.path) == Some(true) => {
            tracing::warn!(file = %r.name, "opened for writing again after it was taken: left for the next pass");
            Ok(())
        }
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

fn log_committed(c: Committed, channel: &Channel, name: &str, size: u64, sha: &str) {
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
    // The spool holds a copy of each (not a second name: a sender that rewrites the same name
    // in place later, as many reuse one file name, must not change what was committed), but
    // for files refused for their size, which are never translated.
    let rows: Vec<(&str, String)> = ready
        .iter()
        .map(|r| (r.sha.as_str(), cfg.rel(&r.spool)))
        .collect();
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
            size: r.size as i64,
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
        log_committed(c, r.channel, &r.name, r.size, sha);
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
    log_committed(c, channel, name, data.len() as u64, &sha);
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
        let store = Store::for_config(&cfg).unwrap();
        (dir, cfg, store)
    }

    #[test]
    fn a_file_rewritten_after_it_was_read_is_kept_as_a_new_drop_and_the_spool_keeps_what_was_read()
    {
        let (dir, cfg, mut store) = folder();
        let path = dir.path().join("inbox/orders.edi");
        fs::write(&path, b"first").unwrap();
        let meta = fs::metadata(&path).unwrap();
        let channel = &cfg.channels[0];
        let spool = spool_path(&cfg, "k1");
        let (sha, size) = fsutil::copy_hashed(&path, &spool).unwrap();
        let taken = Ready {
            channel,
            path: path.clone(),
            name: "orders.edi".into(),
            key: "k1".into(),
            sha,
            size,
            spool,
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
        // The next pass takes it as a new file.
        let mut intake = Intake::default();
        assert_eq!(
            intake.pass(&cfg, &mut store, &|_| true).unwrap().ingested,
            1
        );
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
        let first = intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!((first.ingested, first.deferred), (MAX_BATCH, 3));
        let next = intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!((next.ingested, next.deferred, next.waiting), (3, 0, 0));
    }

    #[test]
    fn a_file_half_written_is_not_taken_while_its_writer_holds_it() {
        use std::io::Write;
        let (dir, cfg, mut store) = folder();
        let path = dir.path().join("inbox/s.edi");
        let mut w = fs::File::create(&path).unwrap();
        w.write_all(b"ISA*00*half").unwrap();
        let mut intake = Intake::default();
        for _ in 0..3 {
            let r = intake.pass(&cfg, &mut store, &|_| true).unwrap();
            assert_eq!((r.ingested, r.waiting), (0, 1));
        }
        w.write_all(b" and the rest").unwrap();
        drop(w);
        let r = intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!(r.ingested, 1);
        let spooled = cfg.resolve(&store.file(1).unwrap().blob);
        assert_eq!(fs::read(spooled).unwrap(), b"ISA*00*half and the rest");
        assert!(!path.exists());
    }

    #[test]
    fn links_folders_and_fifos_are_not_taken_and_are_counted() {
        let (dir, cfg, mut store) = folder();
        let inbox = dir.path().join("inbox");
        fs::write(dir.path().join("secret"), b"not for partners").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), inbox.join("link.edi")).unwrap();
        fs::create_dir(inbox.join("sub")).unwrap();
        let fifo = std::ffi::CString::new(inbox.join("pipe.edi").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let mut intake = Intake::default();
        let r = intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!(r.ingested, 0);
        assert!(
            intake.noticed.len() == 3,
            "each said once: {:?}",
            intake.noticed
        );
        intake.pass(&cfg, &mut store, &|_| true).unwrap();
        assert_eq!(intake.noticed.len(), 3);
        assert_eq!(
            folder_count(&cfg.channels[0]),
            Some(FolderCount {
                waiting: 0,
                not_files: 3
            })
        );
        assert!(dir.path().join("secret").exists());
    }
}
