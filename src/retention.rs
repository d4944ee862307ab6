//! Retention: archive folders of past days are packed into one zip per day, archives older than
//! `archive_days` are deleted, finished files' state rows older than `state_days` are deleted,
//! and the state database gives the space back. Every step can be repeated after a crash.

use crate::config::Config;
use crate::fsutil;
use crate::store::{Store, StoreError};
use crate::util::{days_from_civil, valid_date, Utc};
use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RetentionError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {message}")]
    Zip { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RetentionError + '_ {
    move |source| RetentionError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub days_packed: usize,
    pub archives_deleted: usize,
    pub files_forgotten: usize,
}

fn day_number(name: &str) -> Option<i64> {
    let b = name.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        name[0..4].parse().ok()?,
        name[5..7].parse().ok()?,
        name[8..10].parse().ok()?,
    );
    valid_date(y, m, d).then(|| days_from_civil(y, m, d))
}

/// Reads stored content: a plain file, or `ARCHIVE.zip!NAME` inside a packed day.
pub fn read_blob(cfg: &Config, blob: &str) -> io::Result<Vec<u8>> {
    match blob.split_once(".zip!") {
        Some((zip, entry)) => {
            let mut out = Vec::new();
            in_zip(cfg, zip, entry, |f| f.read_to_end(&mut out).map(drop))?;
            Ok(out)
        }
        None => fs::read(cfg.resolve(blob)),
    }
}

/// The size of an archived document inside its day's zip (`ARCHIVE.zip!NAME`), and a copy of
/// it at `dest` when it is over `max_whole_bytes` (to be read from disk, not into memory).
pub fn extract_large_blob(cfg: &Config, blob: &str, dest: &Path) -> io::Result<Option<u64>> {
    let Some((zip, entry)) = blob.split_once(".zip!") else {
        return Ok(None);
    };
    in_zip(cfg, zip, entry, |f| {
        let len = f.size();
        if len <= cfg.max_whole_bytes {
            return Ok(None);
        }
        let mut out = fs::File::create(dest)?;
        io::copy(f, &mut out)?;
        Ok(Some(len))
    })
}

fn in_zip<T>(
    cfg: &Config,
    zip: &str,
    entry: &str,
    with: impl FnOnce(&mut zip::read::ZipFile<'_, fs::File>) -> io::Result<T>,
) -> io::Result<T> {
    let file = fs::File::open(cfg.resolve(&format!("{zip}.zip")))?;
    let mut z = zip::ZipArchive::new(file).map_err(io::Error::other)?;
    let mut f = z.by_name(entry).map_err(io::Error::other)?;
    with(&mut f)
}

/// Runs retention as of `today` (the service passes the clock; operators may plan ahead).
pub fn run(cfg: &Config, store: &mut Store, today: Utc) -> Result<Report, RetentionError> {
    let mut report = Report::default();
    let today_n = today.epoch.div_euclid(86_400);
    let mut days: Vec<String> = fs::read_dir(&cfg.archive)
        .map_err(io_at(&cfg.archive))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    days.sort();
    for name in &days {
        let day = name.trim_end_matches(".zip");
        let Some(n) = day_number(day) else { continue };
        let folder = cfg.archive.join(day);
        let zip_path = cfg.archive.join(format!("{day}.zip"));
        if n < today_n - cfg.archive_days as i64 {
            for p in [&folder, &zip_path] {
                if p.is_dir() {
                    fs::remove_dir_all(p).map_err(io_at(p))?;
                } else if p.exists() {
                    fsutil::remove_durable(p).map_err(io_at(p))?;
                }
            }
            report.archives_deleted += 1;
        } else if n < today_n && folder.is_dir() {
            pack(cfg, store, &folder, &zip_path)?;
            report.days_packed += 1;
        }
    }
    let before = Utc {
        epoch: (today_n - cfg.state_days as i64) * 86_400,
    };
    report.files_forgotten = store.purge(&before.rfc3339())?;
    Ok(report)
}

/// Packs one day's folder into `DAY.zip` (merging with a zip made earlier), points the state
/// rows at the entries, then removes the folder.
fn pack(
    cfg: &Config,
    store: &mut Store,
    folder: &Path,
    zip_path: &Path,
) -> Result<(), RetentionError> {
    let zerr = |message: String| RetentionError::Zip {
        path: zip_path.display().to_string(),
        message,
    };
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    if zip_path.exists() {
        let data = fs::read(zip_path).map_err(io_at(zip_path))?;
        let mut z = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| zerr(e.to_string()))?;
        for i in 0..z.len() {
            let mut f = z.by_index(i).map_err(|e| zerr(e.to_string()))?;
            let name = f.name().map_err(|e| zerr(e.to_string()))?.into_owned();
            let mut data = Vec::new();
            f.read_to_end(&mut data).map_err(io_at(zip_path))?;
            entries.push((name, data));
        }
    }
    let mut names: Vec<_> = fs::read_dir(folder)
        .map_err(io_at(folder))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in &names {
        let p = folder.join(n);
        let data = fs::read(&p).map_err(io_at(&p))?;
        entries.retain(|(e, _)| e != n);
        entries.push((n.clone(), data));
    }
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &entries {
        w.start_file(name.as_str(), opts)
            .map_err(|e| zerr(e.to_string()))?;
        w.write_all(data).map_err(io_at(zip_path))?;
    }
    let bytes = w.finish().map_err(|e| zerr(e.to_string()))?.into_inner();
    fsutil::write_atomic(zip_path, &bytes).map_err(io_at(zip_path))?;
    let prefix = format!("{}/", cfg.rel(folder));
    let zip_rel = cfg.rel(zip_path);
    let moves: Vec<(i64, String)> = store
        .blobs_under(&prefix)?
        .into_iter()
        .map(|(id, blob)| (id, format!("{zip_rel}!{}", &blob[prefix.len()..])))
        .collect();
    store.move_blobs(&moves)?;
    fs::remove_dir_all(folder).map_err(io_at(folder))?;
    fsutil::sync_dir(&cfg.archive).map_err(io_at(&cfg.archive))?;
    Ok(())
}
