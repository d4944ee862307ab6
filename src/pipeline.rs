//! The pipeline: moves each file through its states, one store transaction per step.
//! Every step can be repeated after a crash with the same result.

use crate::bundle;
use crate::config::Config;
use crate::fsutil;
use crate::quarantine;
use crate::routing;
use crate::store::{
    Content, FileRow, InterchangeRow, NewFile, NewOutput, State, Store, StoreError,
};
use crate::translate::{self, Input};
use crate::util::Utc;
use std::fs;
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

/// Advances every unfinished file as far as it goes, stage by stage so that each stage costs
/// one transaction and one sync per folder for the whole batch. One file's error never stops
/// the others: it is logged, counted, and retried at the next pass.
///
/// Files are claimed first, a chunk at a time (`Store::claim_files`), so that nodes sharing a
/// store advance different files side by side; the claims are renewed while the chunk runs
/// ([`crate::nodes::ClaimsKept`]), every commit checks them, and they are given up when the
/// chunk is done.
pub fn advance_all(
    cfg: &Config,
    store: &mut Store,
    parallel: Parallel<'_>,
) -> Result<Report, StoreError> {
    advance_until(
        cfg,
        store,
        parallel,
        &std::sync::atomic::AtomicBool::new(false),
    )
}

/// [`advance_all`], stopping before its next chunk once `stop` is raised.
pub fn advance_until(
    cfg: &Config,
    store: &mut Store,
    parallel: Parallel<'_>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Report, StoreError> {
    let node = crate::nodes::node_name();
    crate::nodes::free_file_claims(cfg, store)?;
    let mut report = Report::default();
    let mut tried = std::collections::HashSet::new();
    // Files can appear while others advance (the documents of a bundle): go on until every
    // unfinished file was tried once in this pass.
    loop {
        let now = Utc::now().rfc3339();
        let todo: Vec<i64> = store
            .unfinished()?
            .into_iter()
            // A file whose step failed waits for its retry time (backoff), so one bad folder
            // cannot spin the service.
            .filter(|f| f.retry_at.as_deref().is_none_or(|t| t <= now.as_str()))
            .map(|f| f.id)
            .filter(|id| !tried.contains(id))
            .collect();
        if todo.is_empty() {
            return Ok(report);
        }
        for chunk in todo.chunks(CLAIM_CHUNK) {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(report);
            }
            tried.extend(chunk.iter().copied());
            let kept = crate::nodes::ClaimsKept::start(cfg);
            let claimed = store.claim_files(chunk, &node, kept.now(), kept.until())?;
            if claimed.is_empty() {
                continue;
            }
            kept.holding(claimed.len());
            store.guard_claims(Some((&node, &claimed)));
            let done = advance(cfg, store, parallel, &claimed, &mut report);
            store.guard_claims(None);
            drop(kept);
            let dropped = store.drop_file_claims(&node);
            match done {
                Err(StoreError::ClaimLost) => {
                    tracing::warn!(node = %node, "another node took over files this node was advancing (its claim ran out): this node's work on them is rolled back");
                    store.anomaly(
                        "file.claim_lost",
                        None,
                        "a node's claim on files ran out while it advanced them; another node took them over and this node's work was rolled back",
                    )?;
                }
                done => done?,
            }
            dropped?;
        }
    }
}

/// How many files a node claims at a time: small enough that nodes sharing a backlog split it,
/// large enough that a chunk's transactions and syncs are shared by many files.
const CLAIM_CHUNK: usize = 128;

/// Advances the files `todo`, which this node claims, as far as they go (see [`advance_all`]).
fn advance(
    cfg: &Config,
    store: &mut Store,
    parallel: Parallel<'_>,
    todo: &[i64],
    report: &mut Report,
) -> Result<(), StoreError> {
    let failed = |report: &mut Report, e: &PipelineError| {
        tracing::error!(error = %e, "file could not advance; it will be retried");
        report.errors += 1;
    };
    // Received -> translated: a batch in one transaction (each file's state changes are
    // savepoints inside it); a store error rolls the batch back for the next pass. A backlog
    // (after a restart) goes in intake-sized batches, so no transaction holds the database
    // for long.
    let received = store.files_among(todo, &[State::Received, State::Parsed])?;
    for batch in batches(&received, |f| f.size.max(0) as u64) {
        // A file alone in its batch (one that came alone, or one too big to share) is
        // translated before its transaction opens, so that the database is not held for as
        // long as a big file takes; several files are translated inside theirs, where taking
        // control numbers costs no sync each.
        let before = (batch.len() == 1).then(|| translate_ahead(cfg, store, batch, parallel));
        store.begin_batch()?;
        let ahead = before.unwrap_or_else(|| translate_ahead(cfg, store, batch, parallel));
        for (f, ahead) in batch.iter().zip(ahead) {
            match translate_file(cfg, store, f, ahead) {
                Ok(rejected) => report.rejected += rejected,
                Err(PipelineError::Store(e)) => {
                    let _ = store.end_batch(false);
                    return Err(e);
                }
                Err(e) => failed(report, &e),
            }
        }
        store.end_batch(true)?;
    }
    // Translated -> delivered: every output written and synced, then one transaction.
    let mut dirs = Dirs::default();
    let mut written = Vec::new();
    for f in store.files_among(todo, &[State::Translated])? {
        match write_outputs(cfg, store, &f, &mut dirs) {
            Ok(()) => written.push(f.id),
            Err(PipelineError::Store(e)) => return Err(e),
            Err(e) => {
                failed(report, &e);
                step_failed(store, &f, &e, true)?;
            }
        }
    }
    match dirs.sync() {
        Ok(()) if !written.is_empty() => store.mark_delivered(&written)?,
        Ok(()) => {}
        Err(e) => {
            tracing::error!(error = %e, "outbox could not be synced; outputs are written again later");
            report.errors += written.len();
        }
    }
    // Delivered -> archived or quarantined: every content moved, folders synced, then one
    // transaction.
    let mut dirs = Dirs::default();
    let mut placed = Vec::new();
    for f in store.files_among(todo, &[State::Delivered])? {
        match place(cfg, &f, &mut dirs) {
            Ok((blob, quarantined)) => placed.push((f, blob, quarantined)),
            Err(PipelineError::Store(e)) => return Err(e),
            Err(e) => {
                failed(report, &e);
                step_failed(store, &f, &e, false)?;
            }
        }
    }
    match dirs.sync() {
        Ok(()) if !placed.is_empty() => {
            let rows: Vec<(i64, String, bool)> = placed
                .iter()
                .map(|(f, b, q)| (f.id, b.clone(), *q))
                .collect();
            store.mark_placed(&rows)?;
            for (f, ..) in &placed {
                drop_spilled(cfg, f);
            }
            for (f, blob, quarantined) in &placed {
                if *quarantined {
                    tracing::warn!(id = f.id, file = %f.name, reason = %f.refusal.as_deref().unwrap_or(""), "quarantined");
                    report.quarantined += 1;
                } else {
                    tracing::info!(id = f.id, file = %f.name, archive = %blob, "archived");
                    report.archived += 1;
                }
            }
        }
        Ok(()) => {}
        Err(e) => {
            tracing::error!(error = %e, "archive could not be synced; files are placed again later");
            report.errors += placed.len();
        }
    }
    Ok(())
}

/// How many times writing a file's outputs is tried before the file goes to the quarantine.
pub const MAX_WRITE_ATTEMPTS: i64 = 10;

/// Records a failed step: the file waits (backoff) before it is tried again. Writing outputs
/// is given up after [`MAX_WRITE_ATTEMPTS`], or at once when the error cannot pass (a name the
/// file system refuses): the file then goes to the quarantine with the reason, where an
/// operator can act on it. Placing content is retried until it works (there is no other place
/// for it to go).
fn step_failed(
    store: &mut Store,
    f: &FileRow,
    e: &PipelineError,
    writing: bool,
) -> Result<(), StoreError> {
    let failures = f.failures + 1;
    let permanent = matches!(e, PipelineError::Io { source, .. } if source.raw_os_error() == Some(libc::ENAMETOOLONG));
    if writing && (permanent || failures >= MAX_WRITE_ATTEMPTS) {
        let reason = format!(
            "its outputs could not be written after {failures} attempt(s): {e}; fix the cause, then release it"
        );
        tracing::error!(id = f.id, file = %f.name, "{reason}");
        let refusal = serde_json::json!({
            "code": "file.unwritable",
            "reason": reason,
            "position": { "offset": 0 },
            "diagnostics": [],
        });
        return store.give_up_writing(f.id, &refusal.to_string(), &reason);
    }
    let wait = (1i64 << (failures - 1).clamp(0, 30)).min(300);
    store.step_failed(
        f.id,
        &e.to_string(),
        Utc {
            epoch: Utc::now().epoch + wait,
        },
    )
}

/// Folders written to in a stage, synced once at its end.
#[derive(Default)]
struct Dirs(Vec<PathBuf>);

impl Dirs {
    fn add(&mut self, path: &Path) {
        let d = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if !self.0.contains(&d) {
            self.0.push(d);
        }
    }

    /// One flush per file system touched (usually one for the whole batch).
    fn sync(&self) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mut devices = Vec::new();
        for d in &self.0 {
            let dev = fs::metadata(d)?.dev();
            if !devices.contains(&dev) {
                devices.push(dev);
                fsutil::sync_fs(d)?;
            }
        }
        Ok(())
    }
}

/// Where the outputs of file `f` too large for the database wait to be written.
fn spill_dir(cfg: &Config) -> PathBuf {
    cfg.spool().join("outputs")
}

/// What sets this process's spilled outputs apart from another node's: a node whose claim ran
/// out while it translated never overwrites the outputs that the node which took the file
/// over has committed (its own are removed with the rest when the file is placed).
fn spill_salt() -> String {
    let node = crate::nodes::node_name();
    node.rsplit(':').next().unwrap_or_default().to_string()
}

/// A file's records, one JSON Lines output per partner and schema: each in memory up to
/// `inline_output_kb`, then in a synced spool file instead of a database value (which SQLite
/// caps near 1 GB). Files are named by the file, its attempt, the process and the order they
/// are started in.
struct Grouped<'c> {
    cfg: &'c Config,
    f: &'c FileRow,
    groups: std::collections::BTreeMap<String, Group>,
    spilled: usize,
}

enum Group {
    Memory(Vec<u8>),
    Spilled {
        path: PathBuf,
        w: io::BufWriter<fs::File>,
        len: usize,
    },
}

impl<'c> Grouped<'c> {
    fn new(cfg: &'c Config, f: &'c FileRow) -> Self {
        Grouped {
            cfg,
            f,
            groups: Default::default(),
            spilled: 0,
        }
    }

    fn add(&mut self, r: &translate::Emitted) -> Result<(), PipelineError> {
        use std::io::Write as _;
        let path = routing::records_path(self.f, &r.partner, &r.schema);
        let group = self
            .groups
            .entry(path)
            .or_insert_with(|| Group::Memory(Vec::new()));
        match group {
            Group::Memory(buf) => {
                buf.extend_from_slice(r.json.as_bytes());
                buf.push(b'\n');
                if buf.len() > self.cfg.inline_output_bytes {
                    let name = format!(
                        "{:08}-a{}-{}-{}.jsonl",
                        self.f.id,
                        self.f.attempt,
                        spill_salt(),
                        self.spilled
                    );
                    let path = spill_dir(self.cfg).join(name);
                    self.spilled += 1;
                    let open = || -> io::Result<io::BufWriter<fs::File>> {
                        fs::create_dir_all(spill_dir(self.cfg))?;
                        let mut w = io::BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
                        w.write_all(buf)?;
                        Ok(w)
                    };
                    let w = open().map_err(io_err(self.f, &path))?;
                    let len = buf.len();
                    *group = Group::Spilled { path, w, len };
                }
            }
            Group::Spilled { path, w, len } => {
                let mut write = || -> io::Result<()> {
                    w.write_all(r.json.as_bytes())?;
                    w.write_all(b"\n")
                };
                write().map_err(io_err(self.f, path))?;
                *len += r.json.len() + 1;
            }
        }
        Ok(())
    }

    /// The outputs, each spilled file synced (and their folder).
    fn finish(self) -> Result<Vec<NewOutput<'static>>, PipelineError> {
        let mut out = Vec::with_capacity(self.groups.len());
        let mut synced = false;
        for (path, group) in self.groups {
            let content = match group {
                Group::Memory(buf) => Content::Bytes(buf),
                Group::Spilled { path: at, w, len } => {
                    let sync = || -> io::Result<()> {
                        w.into_inner().map_err(|e| e.into_error())?.sync_all()
                    };
                    sync().map_err(io_err(self.f, &at))?;
                    synced = true;
                    Content::Stored {
                        path: self.cfg.rel(&at),
                        len,
                    }
                }
            };
            out.push(NewOutput {
                kind: "records".into(),
                path,
                content,
                uploads: Vec::new(),
                awaits_ack: None,
            });
        }
        if synced {
            let dir = spill_dir(self.cfg);
            fsutil::sync_dir(&dir).map_err(io_err(self.f, &dir))?;
        }
        Ok(out)
    }
}

/// An acknowledgement's content: its bytes, or past `inline_output_kb` a synced spool file
/// (named by its place in the file's acknowledgements, so a repeated step writes the same).
fn ack_content(
    cfg: &Config,
    f: &FileRow,
    n: usize,
    doc: &crate::acks::AckDoc,
) -> Result<Content<'static>, PipelineError> {
    if let Some(bytes) = doc.bytes.in_memory() {
        if bytes.len() <= cfg.inline_output_bytes {
            return Ok(Content::Bytes(bytes.to_vec()));
        }
    }
    let dir = spill_dir(cfg);
    let path = dir.join(format!(
        "{:08}-a{}-{}-ack{n}.ack",
        f.id,
        f.attempt,
        spill_salt()
    ));
    let write = || -> io::Result<()> {
        fs::create_dir_all(&dir)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
        doc.bytes.copy_to(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fsutil::sync_dir(&dir)
    };
    write().map_err(io_err(f, &path))?;
    Ok(Content::Stored {
        path: cfg.rel(&path),
        len: doc.bytes.len() as usize,
    })
}

/// Removes the spool copies of `f`'s large outputs (once the file is archived or
/// quarantined, its outputs are in the outbox for good).
fn drop_spilled(cfg: &Config, f: &FileRow) {
    let prefix = format!("{:08}-", f.id);
    for e in fs::read_dir(spill_dir(cfg)).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes a translated file's outputs (each synced; their folders are synced by the caller).
/// Repeating this after a crash writes the same bytes under the same names.
fn write_outputs(
    cfg: &Config,
    store: &Store,
    f: &FileRow,
    dirs: &mut Dirs,
) -> Result<(), PipelineError> {
    const PAGE: usize = 256;
    let mut after = 0;
    loop {
        let page = store.outputs_after(f.id, after, PAGE as i64)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.id;
        for o in page.iter().filter(|o| !o.written) {
            write_output(cfg, f, o, dirs)?;
        }
        if page.len() < PAGE {
            return Ok(());
        }
    }
}

/// Writes one output into the outbox.
fn write_output(
    cfg: &Config,
    f: &FileRow,
    o: &crate::store::OutputRow,
    dirs: &mut Dirs,
) -> Result<(), PipelineError> {
    let path = cfg.outbox.join(&o.path);
    stop_unless_claimed(cfg)?;
    // Made durable by the stage's file-system flush, before the state says so.
    match &o.stored {
        None => fsutil::write_replace(&path, &o.content).map_err(io_err(f, &path))?,
        Some(stored) => {
            let from = cfg.resolve(stored);
            fsutil::copy_replace(&from, &path).map_err(io_err(f, &path))?;
        }
    }
    dirs.add(&path);
    tracing::info!(id = f.id, output = %o.path, kind = %o.kind, "written to outbox");
    Ok(())
}

/// Refuses to act outside the database once this node's claims on its files may have been
/// taken by another node (`nodes::claims_fresh`).
fn stop_unless_claimed(cfg: &Config) -> Result<(), PipelineError> {
    match crate::nodes::claims_fresh(cfg) {
        true => Ok(()),
        false => Err(PipelineError::Store(StoreError::ClaimLost)),
    }
}

/// Moves a delivered file's content to the archive, or to quarantine with its sidecar. Returns
/// the new location and whether it is quarantined.
fn place(cfg: &Config, f: &FileRow, dirs: &mut Dirs) -> Result<(String, bool), PipelineError> {
    stop_unless_claimed(cfg)?;
    let quarantined = f.refusal.is_some();
    let to = if quarantined {
        quarantine::path(cfg, f)
    } else {
        archive_path(cfg, f)
    };
    let from = cfg.resolve(&f.blob);
    // Whether this call puts the content in a place where it never was: only then can its
    // checksum line be new; a repeated step (after a crash, a replay to the same name) looks.
    let fresh = from != to && from.exists() && !to.exists();
    if from != to {
        if from.exists() {
            if let Some(d) = to.parent() {
                fs::create_dir_all(d).map_err(io_err(f, d))?;
            }
            fs::rename(&from, &to).map_err(io_err(f, &to))?;
            dirs.add(&from);
            dirs.add(&to);
        } else if !to.exists() {
            return Err(PipelineError::Lost {
                id: f.id,
                name: f.name.clone(),
                path: from,
            });
        }
    }
    // Sidecars can be derived again from the state row: replaced atomically, not synced.
    match &f.refusal {
        Some(refusal) => {
            let side = quarantine::sidecar_path(&to);
            fsutil::write_replace(&side, &quarantine::sidecar(f, refusal))
                .map_err(io_err(f, &side))?;
        }
        None => {
            // One `SHA256SUMS` per day folder (`sha256sum -c` checks it), each line once.
            let sum = format!(
                "{}  {}\n",
                f.sha256,
                to.file_name().unwrap_or_default().to_string_lossy()
            );
            let sums = to.with_file_name("SHA256SUMS");
            let listed = !fresh
                && fs::read_to_string(&sums)
                    .is_ok_and(|t| t.lines().any(|l| l.as_bytes() == sum.trim_end().as_bytes()));
            if !listed {
                fsutil::append(&sums, sum.as_bytes()).map_err(io_err(f, &sums))?;
            }
        }
    }
    Ok((cfg.rel(&to), quarantined))
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
                store.mark_parsed(f.id, None, "zip", crate::store::no_interchanges())?;
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
/// Runs `job(i)` for every `i` in `0..n`, on several threads when the caller has them (the
/// scheduler owns threads and passes its runner in; [`serial`] runs them one after another).
pub type Parallel<'a> = &'a (dyn Fn(usize, &(dyn Fn(usize) + Sync)) + Sync);

/// A [`Parallel`] runner on the calling thread.
pub fn serial(n: usize, job: &(dyn Fn(usize) + Sync)) {
    (0..n).for_each(job);
}

/// The most input bytes in one translation batch (their outcomes, several times that size,
/// wait in memory for their commits); a bigger file makes a batch of its own.
const AHEAD_BYTES: u64 = 32 << 20;

/// Splits files into translation batches of at most `MAX_BATCH` files and `AHEAD_BYTES` bytes;
/// a file bigger than that is a batch of its own.
fn batches<T>(files: &[T], size: impl Fn(&T) -> u64) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        let n = size(f);
        if i > start && (i - start == crate::intake::MAX_BATCH || bytes + n > AHEAD_BYTES) {
            out.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// A file translated ahead of its commit, beside the others of its batch: its outcome and the
/// duplicate checks it made with the answers the store gave then. The first [`UNMARKED`] are
/// asked again at its commit; past those, the store's [`Store::interchanges_mark`] is read
/// first, and the later checks are asked again only if it moved (`asked` is `None` when there
/// were more than [`ASKED`]: the file is then translated again).
struct Ahead {
    translated: Translated,
    early: Vec<Asked>,
    mark: Option<i64>,
    asked: Option<Vec<Asked>>,
}

/// A duplicate check and its answer: (partner, sender, control), seen before.
type Asked = (String, String, String, bool);

/// The duplicate checks of a file translated ahead asked without reading the store's mark
/// first, and asked again at its commit whatever happened meanwhile: most files hold one
/// interchange, for which the mark would cost two reads to save one.
const UNMARKED: usize = 4;

/// The most duplicate checks of a file translated ahead kept to check again at its commit (a
/// file of a million interchanges keeps none: it is translated again if another file's
/// interchanges were recorded meanwhile).
const ASKED: usize = 4096;

/// A file's translation waiting for its commit: the outcome (counts, diagnostics, refusal,
/// rejected items) and its records, acknowledgements and interchanges in spools.
struct Translated {
    outcome: translate::Outcome,
    collected: translate::Collected,
}

/// Acknowledgement control numbers drawn in growing blocks (1, 2, 4, ... 1024 per partner)
/// rather than one by one: a file of many interchanges, or a batch of many files, costs a few
/// requests (and, outside a transaction, a few syncs), and PostgreSQL does not update one
/// counter row thousands of times in one transaction (each update of a row the transaction
/// already changed walks the versions it left: 31,646 numbers drawn one by one took minutes).
/// What is not used goes back by [`Draws::give_back`].
#[derive(Default)]
struct Draws {
    /// (next, last, size of the next block) per partner.
    partners: std::collections::HashMap<String, (u64, u64, u64)>,
}

impl Draws {
    /// The next number for `partner`, drawing a block from `store` when none is left.
    fn take(&mut self, store: &mut Store, partner: &str) -> Result<u64, StoreError> {
        let (next, last, block) = self
            .partners
            .entry(partner.to_string())
            .or_insert((1, 0, 1));
        if *next > *last {
            *next = store.reserve_controls(partner, "x12", *block)?;
            *last = *next + *block - 1;
            *block = (*block * 2).min(1024);
        }
        *next += 1;
        Ok(*next - 1)
    }

    /// Returns the numbers drawn and not used, so that a partner sees no gap in them (inside
    /// the transaction that drew them nobody else draws; outside it, a number another process
    /// drew since stops the return, and the rest stay unused).
    fn give_back(self, store: &mut Store) -> Result<(), StoreError> {
        for (partner, (next, last, _)) in self.partners {
            if next <= last {
                store.return_controls(&partner, "x12", last, last - next + 1)?;
            }
        }
        Ok(())
    }
}

/// Translates the files of a batch side by side (the CPU-heavy part: parsing and mapping).
/// They reach the store through one lock, only to check for duplicate interchanges and to take
/// control numbers for acknowledgements. `None` for a file left to the commit step (a bundle).
///
/// Control numbers are drawn in growing blocks (1, 2, 4, ... 1024) rather than one by one, so
/// that a file of many interchanges, or a batch of many files, costs a few requests (and,
/// outside a transaction, a few syncs); those not used are returned at the end.
fn translate_ahead(
    cfg: &Config,
    store: &mut Store,
    batch: &[FileRow],
    parallel: Parallel<'_>,
) -> Vec<Option<Result<Ahead, PipelineError>>> {
    let shared = std::sync::Mutex::new(store);
    let slots: Vec<std::sync::Mutex<Option<Result<Ahead, PipelineError>>>> =
        batch.iter().map(|_| std::sync::Mutex::new(None)).collect();
    // A panic while one file is translated (a bug) must not poison the store for the others.
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    // Blocks are shared by the batch's files: 128 files ask the database about 8 times, not
    // 128. Taken under `lock`.
    let drawn: std::sync::Mutex<Draws> = Default::default();
    parallel(batch.len(), &|i| {
        let f = &batch[i];
        let result = read_input(cfg, f).and_then(|data| {
            if bundle::is_zip(&data.data) && !data.streamed {
                return Ok(None);
            }
            let early = std::cell::RefCell::new(Vec::new());
            let mark = std::cell::Cell::new(None);
            let asked = std::cell::RefCell::new(Some(Vec::new()));
            let failure = std::cell::RefCell::new(None);
            let seen = |partner: &str, sender: &str, control: &str| {
                let store = lock();
                let mut early = early.borrow_mut();
                if early.len() == UNMARKED && mark.get().is_none() {
                    match store.interchanges_mark() {
                        Ok(m) => mark.set(Some(m)),
                        Err(e) => {
                            failure.borrow_mut().get_or_insert(e);
                            return false;
                        }
                    }
                }
                let answer = match seen_before(cfg, &store, f, partner, sender, control) {
                    Ok(a) => a,
                    Err(e) => {
                        failure.borrow_mut().get_or_insert(e);
                        false
                    }
                };
                let check = (
                    partner.to_string(),
                    sender.to_string(),
                    control.to_string(),
                    answer,
                );
                if early.len() < UNMARKED {
                    early.push(check);
                    return answer;
                }
                let mut asked = asked.borrow_mut();
                match asked.as_mut() {
                    Some(list) if list.len() < ASKED => list.push(check),
                    _ => *asked = None,
                }
                answer
            };
            let outcome = guarded(f, || {
                run_translation(cfg, f, &data, &seen, &mut |partner| {
                    let mut store = lock();
                    let mut drawn = drawn.lock().unwrap_or_else(|p| p.into_inner());
                    drawn.take(&mut store, partner)
                })
            });
            // A duplicate check that failed decided nothing: the step is retried.
            if let Some(e) = failure.into_inner() {
                return Err(e.into());
            }
            Ok(Some(Ahead {
                translated: outcome?,
                early: early.into_inner(),
                mark: mark.get(),
                asked: asked.into_inner(),
            }))
        });
        *slots[i].lock().expect("slot") = result.transpose();
    });
    // Numbers drawn but not used go back, so that a partner sees no gap in them; a batch
    // whose numbers cannot go back keeps none of its translations (they are made again).
    let mut store = lock();
    let drawn = drawn.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = drawn.give_back(&mut store) {
        tracing::error!(error = %e, "control numbers drawn ahead could not go back");
        return batch.iter().map(|_| None).collect();
    }
    drop(store);
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("slot"))
        .collect()
}

/// A file's content (only its start when it is read from disk as it is translated), or
/// nothing when it is over `max_file_mb` (it is not read at all).
fn read_input(cfg: &Config, f: &FileRow) -> Result<translate::Loaded, PipelineError> {
    if translate::oversized(f.size.max(0) as u64, cfg).is_some() {
        return Ok(translate::Loaded::in_memory(Vec::new()));
    }
    let path = cfg.resolve(&f.blob);
    if f.blob.contains(".zip!") {
        // A document of an archived day (a replay), inside its day's zip: copied out to be
        // read from disk when it is too large to read whole.
        let copy = cfg.spool().join(format!("replay-{}.edigate-tmp", f.id));
        if crate::retention::extract_large_blob(cfg, &f.blob, &copy)
            .map_err(io_err(f, &path))?
            .is_some()
        {
            return translate::Loaded::read_temporary(&copy, cfg).map_err(io_err(f, &copy));
        }
        return crate::retention::read_blob(cfg, &f.blob)
            .map(translate::Loaded::in_memory)
            .map_err(io_err(f, &path));
    }
    translate::Loaded::read(&path, cfg).map_err(io_err(f, &path))
}

/// Whether interchange `control` from `sender` was received before, within the duplicate
/// window. An error is an error: it never counts as "not a duplicate".
fn seen_before(
    cfg: &Config,
    store: &Store,
    f: &FileRow,
    partner: &str,
    sender: &str,
    control: &str,
) -> Result<bool, StoreError> {
    let since = Utc {
        epoch: Utc::now().epoch - cfg.duplicate_window_days as i64 * 86_400,
    };
    store.interchange_seen(partner, sender, control, since, f.id)
}

/// Runs a file's translation so that a panic in it (a bug) quarantines that file with class
/// `internal` instead of stopping the service.
fn guarded(
    f: &FileRow,
    translation: impl FnOnce() -> Result<Translated, PipelineError>,
) -> Result<Translated, PipelineError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if crate::util::fault("panic:translate", &f.name) {
            panic!("injected fault (EDIGATE_FAULT) for {}", f.name);
        }
        translation()
    }))
    .unwrap_or_else(|p| {
        let text = translate::panic_text(&*p);
        tracing::error!(id = f.id, file = %f.name, panic = %text, "translation panicked; the file is quarantined");
        Ok(Translated {
            outcome: translate::internal_failure(&text),
            collected: Default::default(),
        })
    })
}

/// Translates one file's content with the given duplicate check and control-number source.
fn run_translation(
    cfg: &Config,
    f: &FileRow,
    data: &translate::Loaded,
    seen: &dyn Fn(&str, &str, &str) -> bool,
    allocate: &mut dyn FnMut(&str) -> Result<u64, StoreError>,
) -> Result<Translated, PipelineError> {
    let mut collected = translate::Collected::default();
    if let Some(outcome) = translate::oversized(f.size.max(0) as u64, cfg) {
        return Ok(Translated { outcome, collected });
    }
    let channel = cfg.channels.iter().find(|c| c.name == f.channel);
    let shown = shown(cfg, f);
    let input = Input {
        data: &data.data,
        file: &shown,
        sha256: &f.sha256,
        channel_partner: channel.and_then(|c| c.partner.as_deref()),
        seen: Some(seen),
        whole: data.whole(),
    };
    let mut alloc_err = None;
    let outcome = translate::translate_to(
        &input,
        cfg,
        Utc::now(),
        &mut |partner| {
            allocate(partner).unwrap_or_else(|e| {
                alloc_err = Some(e);
                0
            })
        },
        &mut collected,
    );
    if let Some(e) = alloc_err {
        return Err(e.into());
    }
    // A spool that could not be written (a full temporary folder): retried later.
    if let Some(e) = collected.failed.take() {
        return Err(io_err(f, &std::env::temp_dir())(e));
    }
    Ok(Translated { outcome, collected })
}

/// The name a file is shown under in records and logs.
fn shown(cfg: &Config, f: &FileRow) -> String {
    match cfg.channels.iter().find(|c| c.name == f.channel) {
        Some(c) => c.origin(cfg, &f.name),
        None => f.name.clone(),
    }
}

/// Commits a file's translation: the one translated ahead when every duplicate check it made
/// still gets the same answer (an earlier file of the same batch may have brought the same
/// interchange), else a translation made now.
fn translate_file(
    cfg: &Config,
    store: &mut Store,
    f: &FileRow,
    ahead: Option<Result<Ahead, PipelineError>>,
) -> Result<usize, PipelineError> {
    let ahead = match ahead {
        Some(Ok(a)) => {
            let mut same = true;
            for (p, s, c, answer) in &a.early {
                same &= seen_before(cfg, store, f, p, s, c)? == *answer;
            }
            if let (true, Some(mark)) = (same, a.mark) {
                if store.interchanges_mark()? != mark {
                    same = match &a.asked {
                        Some(asked) => {
                            let mut all = true;
                            for (p, s, c, answer) in asked {
                                all &= seen_before(cfg, store, f, p, s, c)? == *answer;
                            }
                            all
                        }
                        None => false,
                    };
                }
            }
            same.then_some(a.translated)
        }
        Some(Err(e)) => return Err(e),
        None => None,
    };
    let translated = match ahead {
        Some(t) => t,
        None => {
            let data = read_input(cfg, f)?;
            if !data.data.is_empty() && bundle::is_zip(&data.data) && !data.streamed {
                return split_bundle(cfg, store, f, &data.data).map(|()| 0);
            }
            let cell = std::cell::RefCell::new(&mut *store);
            let failure = std::cell::RefCell::new(None);
            let seen = |p: &str, s: &str, c: &str| {
                seen_before(cfg, &cell.borrow(), f, p, s, c).unwrap_or_else(|e| {
                    failure.borrow_mut().get_or_insert(e);
                    false
                })
            };
            let mut drawn = Draws::default();
            let translated = guarded(f, || {
                run_translation(cfg, f, &data, &seen, &mut |partner| {
                    drawn.take(&mut cell.borrow_mut(), partner)
                })
            });
            if let Some(e) = failure.into_inner() {
                return Err(e.into());
            }
            drawn.give_back(&mut cell.borrow_mut())?;
            translated?
        }
    };
    commit(cfg, store, f, translated)
}

/// Commits a file's translation, its results read from their spools into one transaction
/// (the records' outputs written on the way): parsed with its interchanges, then translated
/// with its outputs, records, deliveries and exceptions. Returns the number of rejected
/// transactions.
fn commit(
    cfg: &Config,
    store: &mut Store,
    f: &FileRow,
    translated: Translated,
) -> Result<usize, PipelineError> {
    let Translated {
        outcome,
        mut collected,
    } = translated;
    let shown = shown(cfg, f);
    for d in &outcome.diagnostics {
        tracing::warn!(id = f.id, file = %shown, "{d}");
    }
    let spool_err = |e: io::Error| io_err(f, &std::env::temp_dir())(e);
    if f.state == State::Received {
        let mut rows = collected.interchanges.take().map_err(spool_err)?.peekable();
        let partner = match rows.peek() {
            Some(Ok(i)) => Some(i.partner.clone()),
            _ => None,
        };
        let rows = rows.map(|i| {
            i.map(|i| InterchangeRow {
                partner: i.partner,
                sender: i.sender,
                control: i.control,
            })
            .map_err(spool_err)
        });
        store.mark_parsed(f.id, partner.as_deref(), &outcome.documents.join(","), rows)?;
    }
    let refused = outcome.refusal.is_some();
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
        collected.records.len(),
        collected.acks.len(),
        outcome.accepted,
        outcome.rejected
    );
    let mut grouped = Grouped::new(cfg, f);
    let mut tx = store.begin_translation(f.id)?;
    if !refused {
        for e in &outcome.rejected_items {
            tx.exception(e)?;
        }
    }
    for r in collected.records.take().map_err(spool_err)? {
        let r = r.map_err(spool_err)?;
        grouped.add(&r)?;
        if !refused {
            for d in routing::deliveries(cfg, &r) {
                tx.delivery(&d)?;
            }
        }
        tx.record(&routing::keys(&r))?;
    }
    for o in grouped.finish()? {
        tx.output(&o)?;
    }
    // A replay reprocesses what was already acknowledged: no acknowledgement is sent again.
    if !f.replay {
        for (n, a) in collected.acks.take().map_err(spool_err)?.enumerate() {
            let a = a.map_err(spool_err)?;
            let content = ack_content(cfg, f, n, &a.doc)?;
            tx.output(&routing::ack_output(cfg, &a, content))?;
        }
    }
    for o in routing::outbound_outputs(cfg, f, &outcome.outbound) {
        tx.output(&o)?;
    }
    let conflicts = tx.finish(refusal.as_deref(), &detail)?;
    for c in &conflicts {
        tracing::error!(id = f.id, file = %shown, "delivery refused: {c}");
    }
    if let Some(s) = crate::latency::since(&f.received_at) {
        crate::latency::observe("edigate_stage_seconds", "stage=\"translated\"", s);
    }
    tracing::info!(id = f.id, file = %shown, "{detail}");
    Ok(if refused { 0 } else { outcome.rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_bytes_and_a_big_file_goes_alone() {
        const MB: u64 = 1 << 20;
        let sizes =
            |v: &[u64]| -> Vec<usize> { batches(v, |n| *n).iter().map(|b| b.len()).collect() };
        assert_eq!(sizes(&[1; 1200]), [500, 500, 200]);
        assert_eq!(sizes(&[10 * MB, 10 * MB, 10 * MB, 10 * MB]), [3, 1]);
        assert_eq!(sizes(&[MB, 40 * MB, MB, MB]), [1, 1, 2]);
        assert_eq!(sizes(&[40 * MB]), [1]);
        assert!(sizes(&[]).is_empty());
    }

    /// A folder channel with the ACME partner and the 850 fixture taken into the spool.
    fn taken() -> (tempfile::TempDir, Config, Store) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("inbox")).unwrap();
        let text = "[service]\nsettle_ms = 1\n\n[[channels]]\nname = \"in\"\ntype = \"dir\"\npath = \"inbox\"\n\n\
                    [[partners]]\nid = \"ACME\"\nx12_ids = [\"ZZ:ACMESUPPLY\"]\n";
        let cfg = crate::config::parse(&dir.path().join("edigate.toml"), text).unwrap();
        std::fs::create_dir_all(cfg.spool()).unwrap();
        std::fs::create_dir_all(&cfg.outbox).unwrap();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/x12/ok/850-4010-acme.edi");
        std::fs::copy(fixture, dir.path().join("inbox/po.edi")).unwrap();
        let mut store = Store::for_config(&cfg).unwrap();
        let report = crate::intake::Intake::default()
            .pass(&cfg, &mut store, &|_| true)
            .unwrap();
        assert_eq!(report.ingested, 1);
        (dir, cfg, store)
    }

    fn advance(cfg: &Config, store: &mut Store) -> Result<Report, StoreError> {
        advance_all(cfg, store, &serial)
    }

    #[test]
    fn a_failing_duplicate_check_stops_the_step_and_never_counts_as_new() {
        let (_dir, cfg, mut store) = taken();
        store.execute_for_test("ALTER TABLE interchanges RENAME TO interchanges_away");
        assert!(advance(&cfg, &mut store).is_err());
        let f = store.file(1).unwrap();
        assert!(
            matches!(f.state, State::Received | State::Parsed),
            "{:?}",
            f.state
        );
        assert!(store.file(1).unwrap().refusal.is_none());
        // Once the check can be made again the file flows.
        store.execute_for_test("ALTER TABLE interchanges_away RENAME TO interchanges");
        advance(&cfg, &mut store).unwrap();
        assert_eq!(store.file(1).unwrap().state, State::Archived);
    }

    #[test]
    fn outputs_that_cannot_be_written_back_off_then_go_to_the_quarantine() {
        let (dir, cfg, mut store) = taken();
        // The outbox is a plain file: nothing can be written under it.
        std::fs::remove_dir(&cfg.outbox).unwrap();
        std::fs::write(&cfg.outbox, b"not a folder").unwrap();
        let mut waits = Vec::new();
        for attempt in 1..MAX_WRITE_ATTEMPTS {
            let report = advance(&cfg, &mut store).unwrap();
            assert_eq!(report.errors, 1, "attempt {attempt}");
            let f = store.file(1).unwrap();
            assert_eq!((f.state, f.failures), (State::Translated, attempt));
            let at = f.retry_at.unwrap();
            waits.push(at.clone());
            // Not tried again before its time.
            assert_eq!(advance(&cfg, &mut store).unwrap().errors, 0);
            store.execute_for_test("UPDATE files SET retry_at = '2000-01-01T00:00:00Z'");
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        advance(&cfg, &mut store).unwrap();
        let f = store.file(1).unwrap();
        assert_eq!(f.state, State::Quarantined, "{:?}", f.last_error);
        let refusal: serde_json::Value = serde_json::from_str(&f.refusal.unwrap()).unwrap();
        assert_eq!(refusal["code"], "file.unwritable");
        assert!(store.failing_files().unwrap().is_empty());
        assert!(dir.path().join(&f.blob).exists() || cfg.resolve(&f.blob).exists());
    }
}
