//! Zip bundles: a partner's archive of documents is unpacked into its entries, each processed on
//! its own. Pure (works on bytes in memory) and bounded: entry count, total size, compression
//! ratio and nesting are limited; entry names that climb out (`..`), absolute paths and links
//! are refused (zip slip).

use std::io::{Cursor, Read};
use thiserror::Error;

/// What a bundle may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_total: u64,
    /// Uncompressed size over compressed size, per entry.
    pub max_ratio: u64,
    /// Bundles inside bundles, counted from the outermost.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1000,
            max_total: 256 << 20,
            max_ratio: 200,
            max_depth: 3,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a readable zip archive: {0}")]
    Unreadable(String),
    #[error("the archive holds {0} entries; at most {1} are accepted")]
    TooManyEntries(usize, usize),
    #[error("entry {0:?} leaves the archive's folder (zip slip): refused")]
    Slip(String),
    #[error("entry {0:?} is a link: refused")]
    Link(String),
    #[error("entry {name:?} expands {ratio} times (limit {limit}): a zip bomb")]
    Ratio {
        name: String,
        ratio: u64,
        limit: u64,
    },
    #[error("the archive expands past {0} bytes: a zip bomb")]
    TooLarge(u64),
    #[error("bundles nested more than {0} deep")]
    TooDeep(usize),
    #[error("entry {0:?} is encrypted")]
    Encrypted(String),
    #[error("the archive holds {count} entries named {name:?}: each would hide the one before it, so the bundle is refused whole")]
    RepeatedName { name: String, count: usize },
}

impl BundleError {
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Unreadable(_) => "zip.unreadable",
            BundleError::TooManyEntries(..) => "zip.too_many_entries",
            BundleError::Slip(_) => "zip.slip",
            BundleError::Link(_) => "zip.link",
            BundleError::Ratio { .. } | BundleError::TooLarge(_) => "zip.bomb",
            BundleError::TooDeep(_) => "zip.too_deep",
            BundleError::Encrypted(_) => "zip.encrypted",
            BundleError::RepeatedName { .. } => "zip.repeated_name",
        }
    }
}

/// One document from a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
}

/// Whether `data` is a zip archive.
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

fn unsafe_name(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/')
        || n.contains('\0')
        || n.as_bytes().get(1) == Some(&b':')
        || n.split('/').any(|c| c == "..")
}

fn u16_at(d: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(d: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The entry names of the archive's central directory, every one of them, repeats included
/// (the zip reader keeps only the last entry of a name). `None` when the directory cannot be
/// walked here (ZIP64, data before the archive): the reader's own checks then apply.
fn central_names(d: &[u8]) -> Option<Vec<Vec<u8>>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let from = d.len().saturating_sub(22 + 65_535);
    let at = from + memchr::memmem::rfind(&d[from..], EOCD)?;
    let (count, offset) = (u16_at(d, at + 10)?, u32_at(d, at + 16)?);
    if count == 0xFFFF || offset == 0xFFFF_FFFF {
        return None;
    }
    let mut names = Vec::with_capacity(count.min(4096));
    let mut p = offset;
    for _ in 0..count {
        if d.get(p..p + 4)? != b"PK\x01\x02" {
            return None;
        }
        let (n, extra, comment) = (u16_at(d, p + 28)?, u16_at(d, p + 30)?, u16_at(d, p + 32)?);
        names.push(d.get(p + 46..p + 46 + n)?.to_vec());
        p += 46 + n + extra + comment;
    }
    Some(names)
}

/// The first entry name that the archive holds more than once, with its count.
fn repeated_name(d: &[u8]) -> Option<(String, usize)> {
    let mut names = central_names(d)?;
    names.sort();
    names
        .chunk_by(|a, b| a == b)
        .find(|run| run.len() > 1)
        .map(|run| (String::from_utf8_lossy(&run[0]).into_owned(), run.len()))
}

/// Unpacks `data` (a bundle at nesting `depth`, 0 for a file as dropped). Directories are
/// skipped; anything unsafe refuses the whole bundle.
pub fn unpack(data: &[u8], depth: usize, limits: &Limits) -> Result<Vec<Entry>, BundleError> {
    if depth >= limits.max_depth {
        return Err(BundleError::TooDeep(limits.max_depth));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(data))
        .map_err(|e| BundleError::Unreadable(e.to_string()))?;
    if zip.len() > limits.max_entries {
        return Err(BundleError::TooManyEntries(zip.len(), limits.max_entries));
    }
    if let Some((name, count)) = repeated_name(data) {
        return Err(BundleError::RepeatedName { name, count });
    }
    let mut total = 0u64;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| BundleError::Unreadable(e.to_string()))?;
        let name = f
            .name()
            .map_err(|e| BundleError::Unreadable(e.to_string()))?
            .into_owned();
        if unsafe_name(&name) || f.enclosed_name().is_none() {
            return Err(BundleError::Slip(name));
        }
        if f.is_symlink() {
            return Err(BundleError::Link(name));
        }
        if f.is_dir() {
            continue;
        }
        if f.encrypted() {
            return Err(BundleError::Encrypted(name));
        }
        let declared = f.size();
        let ratio = declared / f.compressed_size().max(1);
        if ratio > limits.max_ratio {
            return Err(BundleError::Ratio {
                name,
                ratio,
                limit: limits.max_ratio,
            });
        }
        // Never trust the declared size: read at most what the remaining budget allows.
        let budget = limits.max_total.saturating_sub(total);
        let mut bytes = Vec::with_capacity(declared.min(budget).min(1 << 20) as usize);
        (&mut f)
            .take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| BundleError::Unreadable(format!("{name}: {e}")))?;
        total += bytes.len() as u64;
        if total > limits.max_total {
            return Err(BundleError::TooLarge(limits.max_total));
        }
        let compressed = f.compressed_size().max(1);
        if bytes.len() as u64 / compressed > limits.max_ratio {
            return Err(BundleError::Ratio {
                name,
                ratio: bytes.len() as u64 / compressed,
                limit: limits.max_ratio,
            });
        }
        out.push(Entry { name, data: bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_documents_and_keeps_nested_bundles_for_later() {
        let inner = build(&[("c.edi", b"ISA*inner")]);
        let z = build(&[
            ("a.edi", b"ISA*a"),
            ("dir/b.edi", b"ISA*b"),
            ("inner.zip", &inner),
        ]);
        assert!(is_zip(&z));
        let e = unpack(&z, 0, &Limits::default()).unwrap();
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.edi", "dir/b.edi", "inner.zip"]);
        assert!(is_zip(&e[2].data));
        assert_eq!(
            unpack(&e[2].data, 1, &Limits::default()).unwrap()[0].data,
            b"ISA*inner"
        );
        assert_eq!(
            unpack(&e[2].data, 3, &Limits::default()),
            Err(BundleError::TooDeep(3))
        );
    }

    #[test]
    fn refuses_zip_slip_absolute_paths_and_bombs() {
        for bad in [
            "../evil.edi",
            "a/../../evil.edi",
            "/etc/passwd",
            "..\\evil.edi",
            "C:/x.edi",
        ] {
            let z = build(&[("ok.edi", b"x"), (bad, b"y")]);
            let e = unpack(&z, 0, &Limits::default()).unwrap_err();
            assert!(matches!(e, BundleError::Slip(_)), "{bad}: {e:?}");
        }
        let bomb = build(&[("zeros.edi", &vec![0u8; 4 << 20])]);
        assert!(bomb.len() < 64 << 10);
        let e = unpack(&bomb, 0, &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "zip.bomb", "{e}");
        let big = build(&[("a.edi", &[7u8; 3000][..]), ("b.edi", &[8u8; 3000][..])]);
        let tight = Limits {
            max_total: 4000,
            max_ratio: 10_000,
            ..Limits::default()
        };
        assert_eq!(unpack(&big, 0, &tight), Err(BundleError::TooLarge(4000)));
        let many: Vec<(String, Vec<u8>)> =
            (0..5).map(|i| (format!("{i}.edi"), vec![b'x'])).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
        let few = Limits {
            max_entries: 4,
            ..Limits::default()
        };
        assert_eq!(
            unpack(&build(&refs), 0, &few),
            Err(BundleError::TooManyEntries(5, 4))
        );
        assert!(matches!(
            unpack(b"PK\x03\x04garbage", 0, &Limits::default()),
            Err(BundleError::Unreadable(_))
        ));
    }

    #[test]
    fn refuses_links() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("link.edi", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        let z = w.finish().unwrap().into_inner();
        assert_eq!(
            unpack(&z, 0, &Limits::default()).unwrap_err().code(),
            "zip.link"
        );
    }
}
