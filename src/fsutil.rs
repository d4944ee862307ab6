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

/// Copies `from` over `to` (through a temporary name, so a reader never sees half), without
/// syncing: for large outputs, made durable by the caller's file-system flush.
pub fn copy_replace(from: &Path, to: &Path) -> io::Result<()> {
    let dir = parent(to);
    fs::create_dir_all(&dir)?;
    let tmp = tmp_name(to);
    fs::copy(from, &tmp)?;
    fs::rename(&tmp, to)
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

/// Whether some process holds `path` open for writing, as far as this machine can tell:
/// `Some(true)` while a writer has it open, `Some(false)` when none has, `None` where the
/// kernel cannot say (a network mount, a file of another owner without `CAP_LEASE`): the
/// caller then falls back to watching the size and time settle.
///
/// The test is a read lease (`F_SETLEASE`, Linux), which the kernel grants only while no
/// descriptor of the file is open for writing; it is released at once.
pub fn held_for_writing(path: &Path) -> Option<bool> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    static QUIET: std::sync::Once = std::sync::Once::new();
    // A lease break is signalled with SIGIO, whose default action ends the process; the lease
    // lives only for the two calls below, but a writer may open the file in between.
    // SAFETY: ignoring a signal that nothing else in the process uses.
    QUIET.call_once(|| unsafe {
        libc::signal(libc::SIGIO, libc::SIG_IGN);
    });
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    // SAFETY: `f` is an open descriptor for the duration of both calls.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) };
    if r == 0 {
        // SAFETY: as above.
        unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
        return Some(false);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => Some(true),
        _ => None,
    }
}

/// Copies `from` into `to` (temporary name, then rename; not synced, the caller flushes the
/// file system once for a batch) in bounded pieces, hashing as it goes. Returns the SHA-256
/// (hex) and the number of bytes copied; memory does not grow with the file.
pub fn copy_hashed(from: &Path, to: &Path) -> io::Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let dir = parent(to);
    fs::create_dir_all(&dir)?;
    let tmp = tmp_name(to);
    let mut src = File::open(from)?;
    let mut dst = File::create(&tmp)?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        hash.update(&buf[..k]);
        if let Err(e) = dst.write_all(&buf[..k]) {
            drop(dst);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        n += k as u64;
    }
    drop(dst);
    fs::rename(&tmp, to)?;
    Ok((crate::util::hex(&hash.finalize()), n))
}

/// The SHA-256 (hex) and length of a file, read in bounded pieces.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut src = File::open(path)?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                hash.update(&buf[..k]);
                n += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((crate::util::hex(&hash.finalize()), n))
}

/// Whether `dir` takes a write now (space, permissions, a read-only mount): a few bytes are
/// written and synced to an unnamed file in it (`O_TMPFILE`), which never shows in the folder,
/// so that nothing reading the folder (an ERP picking up the outbox) ever sees a probe, and
/// none is left behind by a crash. Where the file system has no unnamed files, a temporary
/// name is used and removed (and removed at start if a crash left it).
pub fn probe_write(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let unnamed = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir);
    let mut f = match unnamed {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::EISDIR)
            ) =>
        {
            let probe = tmp_name(&dir.join(".edigate-probe"));
            write_synced(&probe, b"probe")?;
            return fs::remove_file(&probe);
        }
        Err(e) => return Err(e),
    };
    f.write_all(b"probe")?;
    f.sync_all()
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
    fn a_file_open_for_writing_is_told_apart_from_a_closed_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.edi");
        let mut w = File::create(&p).unwrap();
        w.write_all(b"half").unwrap();
        // Local file systems (ext4, xfs, tmpfs) grant leases to the file's owner.
        assert_eq!(held_for_writing(&p), Some(true));
        let reader = File::open(&p).unwrap();
        drop(w);
        assert_eq!(held_for_writing(&p), Some(false), "a reader is no writer");
        drop(reader);
        let (sha, n) = copy_hashed(&p, &dir.path().join("copy")).unwrap();
        assert_eq!((sha, n), (crate::util::sha256_hex(b"half"), 4));
        assert_eq!(
            hash_file(&p).unwrap(),
            (crate::util::sha256_hex(b"half"), 4)
        );
    }

    #[test]
    fn a_probe_write_leaves_no_entry_in_the_folder_at_any_moment() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        use notify::Watcher;
        let mut w = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            let _ = tx.send(e);
        })
        .unwrap();
        w.watch(dir.path(), notify::RecursiveMode::NonRecursive)
            .unwrap();
        for _ in 0..20 {
            probe_write(dir.path()).unwrap();
        }
        // A marker file: once its event arrives, every earlier event has arrived too.
        fs::write(dir.path().join("marker"), b"").unwrap();
        let mut created = Vec::new();
        loop {
            let e = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap()
                .unwrap();
            if e.paths.iter().any(|p| p.ends_with("marker")) {
                break;
            }
            // Writes to the unnamed file are reported (as `#inode`), but no name is created.
            if e.kind.is_create() {
                created.extend(e.paths);
            }
        }
        assert!(created.is_empty(), "{created:?}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

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
