//! Durable file operations: write to a temporary name, fsync, rename, fsync the folder.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `data` to `path` so that after a crash the file is either absent/old or complete.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_synced(path, data)?;
    sync_dir(&parent(path))
}

/// Like [`write_atomic`] but leaves syncing the folder to the caller (who syncs it once for a
/// batch of files before relying on them).
pub fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    fs::create_dir_all(&dir)?;
    let tmp = tmp_name(path);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Replaces `path` atomically (readers see the old or the new file) without syncing: for files
/// that can be derived again from the state database, such as checksum sidecars.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    fs::create_dir_all(&dir)?;
    let tmp = tmp_name(path);
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// Appends to a file (created if needed), without syncing: for derivable listings.
pub fn append(path: &Path, data: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(data)
}

/// Moves `from` to `to` durably (same file system). Creates the target folder.
pub fn move_durable(from: &Path, to: &Path) -> io::Result<()> {
    let dir = parent(to);
    fs::create_dir_all(&dir)?;
    fs::rename(from, to)?;
    sync_dir(&dir)?;
    sync_dir(&parent(from))
}

/// Removes a file and makes the removal durable. A missing file is not an error.
pub fn remove_durable(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(&parent(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Flushes everything pending on the file system holding `path` (data and metadata: files,
/// renames, removals) in one call: a batch's durability point instead of one sync per file.
pub fn sync_fs(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(path)?;
    // SAFETY: `f` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// fsync of a folder, so that renames and creations in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The name used while a file is being written; scanners skip it.
pub fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".edigate-tmp");
    let mut p = path.to_path_buf();
    p.set_file_name(name);
    p
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!tmp_name(&p).exists());
        move_durable(&p, &dir.path().join("c/d.txt")).unwrap();
        assert!(!p.exists());
        remove_durable(&dir.path().join("c/d.txt")).unwrap();
        remove_durable(&dir.path().join("c/d.txt")).unwrap();
    }
}
