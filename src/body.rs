//! A document made for output that may outgrow memory (a 997 answering a million transaction sets): held in memory up to a bound, then in an unnamed temporary file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// How much of a body stays in memory before the rest goes to a temporary file.
pub const IN_MEMORY: usize = 4 << 20;

/// The bytes of one document, appended in pieces and read back once or more, whole.
#[derive(Debug, Default)]
pub struct Body {
    mem: Vec<u8>,
    /// Once `mem` would pass the bound: everything, in order (`mem` is then empty).
    file: Option<File>,
    len: u64,
    bound: usize,
    /// A write to the file failed: reading the body fails with this.
    failed: Option<String>,
}

/// An unnamed file in the temporary folder (created, then unlinked while open).
pub fn unnamed() -> io::Result<File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("edigate-spool-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl From<Vec<u8>> for Body {
    fn from(mem: Vec<u8>) -> Body {
        Body {
            len: mem.len() as u64,
            mem,
            file: None,
            bound: IN_MEMORY,
            failed: None,
        }
    }
}

impl PartialEq for Body {
    /// Same bytes (read back from the file when there is one; for tests).
    fn eq(&self, other: &Body) -> bool {
        self.len == other.len
            && match (self.to_vec(), other.to_vec()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
    }
}

impl Eq for Body {}

impl Body {
    /// An empty body that keeps at most `bound` bytes in memory.
    pub fn with_bound(bound: usize) -> Body {
        Body {
            bound,
            ..Body::default()
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole body when it is in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.mem.as_slice())
    }

    /// Appends `bytes`, moving everything to a temporary file once the bound is passed. When
    /// no temporary file can be made the body stays in memory, with a warning.
    pub fn append(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(bytes) {
                self.failed.get_or_insert(e.to_string());
            }
            return;
        }
        self.mem.extend_from_slice(bytes);
        let bound = if self.bound == 0 {
            IN_MEMORY
        } else {
            self.bound
        };
        if self.mem.len() > bound {
            match unnamed().and_then(|mut f| f.write_all(&self.mem).map(|()| f)) {
                Ok(f) => {
                    self.file = Some(f);
                    self.mem = Vec::new();
                }
                Err(e) => tracing::warn!(
                    bytes = self.mem.len(),
                    error = %e,
                    "no temporary file for a large output: it stays in memory"
                ),
            }
        }
    }

    /// Writes the whole body to `w`, in pieces.
    pub fn copy_to(&self, w: &mut impl Write) -> io::Result<()> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(format!(
                "a temporary file of an output failed while written: {e}"
            )));
        }
        let Some(f) = self.file.as_ref() else {
            return w.write_all(&self.mem);
        };
        let mut f = f.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut (&mut f).take(self.len), w)?;
        if copied != self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a temporary file of an output is shorter than written",
            ));
        }
        // Appends go on at the end.
        f.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Reads `len` bytes from `r` into a new body.
    pub fn read_from(r: &mut impl Read, len: u64) -> io::Result<Body> {
        let mut body = Body::default();
        let mut left = len;
        let mut buf = vec![0u8; (64 << 10).min(len as usize)];
        while left > 0 {
            let n = buf.len().min(left as usize);
            r.read_exact(&mut buf[..n])?;
            body.append(&buf[..n]);
            left -= n as u64;
        }
        Ok(body)
    }

    /// The whole body in memory (for tests and small documents).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        match self.in_memory() {
            Some(m) => Ok(m.to_vec()),
            None => {
                let mut v = Vec::with_capacity(self.len as usize);
                self.copy_to(&mut v)?;
                Ok(v)
            }
        }
    }

    /// The whole body in memory, without a copy when it is there already.
    pub fn into_vec(self) -> io::Result<Vec<u8>> {
        match self.file {
            None => Ok(self.mem),
            Some(_) => self.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_past_its_bound_moves_to_a_file_and_reads_back_whole_and_in_order() {
        let mut b = Body::with_bound(100);
        let mut want = Vec::new();
        for i in 0..50u8 {
            let piece = vec![i; 7];
            b.append(&piece);
            want.extend_from_slice(&piece);
        }
        assert!(b.in_memory().is_none(), "spilled");
        assert_eq!(b.len(), 350);
        assert_eq!(b.to_vec().unwrap(), want);
        // Read twice, then appended to: still whole and in order.
        assert_eq!(b.to_vec().unwrap(), want);
        b.append(b"end");
        want.extend_from_slice(b"end");
        assert_eq!(b.to_vec().unwrap(), want);
        let again = Body::read_from(&mut want.as_slice(), want.len() as u64).unwrap();
        assert_eq!(again, b);
        let small = Body::from(b"ISA".to_vec());
        assert_eq!(small.in_memory(), Some(&b"ISA"[..]));
    }
}
