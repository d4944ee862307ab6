//! `legacy_files`: the legacy ERP's import folder. Each record becomes one CSV or fixed-width
//! file under a name made from its identity (or its input file passes through as it came, once
//! per file), published by rename once complete; a marker in the data folder,
//! written before the rename, keeps a record from being published twice (even after the legacy
//! system took the first file away and edigate crashed before recording it).

use super::Reply;
use crate::config::{Config, Target};
use crate::store::DeliveryRow;
use serde_json::Value;
use std::path::PathBuf;

/// How records are written into the import folder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A header row, then the rows.
    Csv,
    /// Each row's fields padded to the mapping's `widths` (numbers right-aligned where its
    /// `align` says `r`), one line each, no header.
    Fixed,
    /// The original input file, byte for byte, once per file whatever its number of records.
    Edi,
}

pub struct Legacy {
    dir: PathBuf,
    delimiter: char,
    format: Format,
    /// One publication at a time: the records of one input file share its name in `edi`
    /// format, and their deliveries run side by side.
    publishing: std::sync::Mutex<()>,
}

impl Legacy {
    pub fn new(t: &Target) -> Legacy {
        Legacy {
            dir: t.path.clone().unwrap_or_default(),
            delimiter: t
                .values
                .get("delimiter")
                .and_then(|d| d.chars().next())
                .unwrap_or(','),
            publishing: std::sync::Mutex::new(()),
            format: match t.format.as_deref() {
                Some("fixed") => Format::Fixed,
                Some("edi") => Format::Edi,
                _ => Format::Csv,
            },
        }
    }

    /// Whether input files pass through as they came (no payload mapping is run).
    pub fn passes_through(&self) -> bool {
        self.format == Format::Edi
    }

    pub fn send(&self, cfg: &Config, t: &Target, row: &DeliveryRow, body: &Value) -> Reply {
        let env: Value = serde_json::from_slice(&row.payload).unwrap_or_default();
        let id = env["id"].as_str().unwrap_or("");
        let document = env["schema"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        let partner = env["partner"].as_str().unwrap_or("");
        let (name, bytes) = match self.format {
            Format::Edi => {
                let sha = env["source"]["sha256"].as_str().unwrap_or("");
                let name = format!(
                    "{}-{}.edi",
                    crate::routing::component(partner),
                    &sha[..sha.len().min(24)]
                );
                match original(cfg, row.file_id) {
                    Ok(b) => (name, b),
                    Err(e) => {
                        return Reply::failed(format!("the original of file {}: {e}", row.file_id))
                    }
                }
            }
            f => {
                let ext = if f == Format::Fixed { "txt" } else { "csv" };
                let name = format!(
                    "{}-{}-{}.{ext}",
                    crate::routing::component(partner),
                    crate::routing::component(document),
                    crate::routing::component(id)
                );
                let text = if f == Format::Fixed {
                    fixed(body)
                } else {
                    self.csv(body)
                };
                match text {
                    Ok(t) => (name, t.into_bytes()),
                    Err(why) => return Reply::refused(why),
                }
            }
        };
        let marker = cfg
            .data_dir
            .join("legacy")
            .join(crate::routing::component(&t.name))
            .join(&name);
        let _one = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(channel), Some(dir)) = (&t.channel, &t.remote_dir) {
            let Some(sftp) = cfg
                .channels
                .iter()
                .find(|c| &c.name == channel)
                .and_then(|c| c.sftp())
            else {
                return Reply::refused(format!("channel {channel} is not an SFTP channel"));
            };
            return match publish_remote(sftp, &marker, dir, &name, &bytes) {
                Ok(how) => Reply::done(201, &format!("{how}: {dir}/{name} over SFTP"), Some(name)),
                Err(e) => Reply::failed(e),
            };
        }
        let path = self.dir.join(&name);
        let staged = self.dir.join(format!(".{name}.edigate-tmp"));
        match publish(&marker, &staged, &path, &bytes) {
            Ok(how) => Reply::done(201, &format!("{how}: {}", path.display()), Some(name)),
            Err(e) => Reply::failed(format!("{}: {e}", path.display())),
        }
    }

    /// `{columns, rows}` as CSV text: a header row, then each row; fields with the delimiter,
    /// quotes or line breaks are quoted.
    fn csv(&self, body: &Value) -> Result<String, String> {
        let d = self.delimiter;
        let field = |v: &Value| -> String {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if s.contains(d) || s.contains('"') || s.contains('\n') || s.contains('\r') {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        };
        let line = |cells: &[Value]| {
            cells
                .iter()
                .map(field)
                .collect::<Vec<_>>()
                .join(&d.to_string())
                + "\r\n"
        };
        let (Some(columns), Some(rows)) = (body["columns"].as_array(), body["rows"].as_array())
        else {
            return Err("the legacy_files mapping must give {columns, rows}".into());
        };
        let mut out = line(columns);
        for (i, r) in rows.iter().enumerate() {
            let cells = r
                .as_array()
                .ok_or_else(|| format!("row {} of the mapping's output is not a list", i + 1))?;
            if cells.len() != columns.len() {
                return Err(format!(
                    "row {} has {} fields for {} columns",
                    i + 1,
                    cells.len(),
                    columns.len()
                ));
            }
            out.push_str(&line(cells));
        }
        Ok(out)
    }
}

/// [`publish`] on an SFTP server: `NAME.part` written, the marker written and synced, then the
/// rename. A marker found with its `.part` still there finishes the rename; without it the file
/// was published.
fn publish_remote(
    sftp: &crate::config::SftpChannel,
    marker: &std::path::Path,
    dir: &str,
    name: &str,
    data: &[u8],
) -> Result<&'static str, String> {
    let e = |e: crate::sftp::SftpError| e.to_string();
    let remote = crate::sftp::connect(sftp).map_err(e)?;
    let part = crate::sftp::join(dir, &format!("{name}.part"));
    let path = crate::sftp::join(dir, name);
    if marker.exists() {
        if remote.stamp(&part).map_err(e)?.is_some() {
            remote.rename(&part, &path).map_err(e)?;
            return Ok("published after a restart");
        }
        return Ok("already published");
    }
    remote.write_part(dir, name, data).map_err(e)?;
    crate::fsutil::write_atomic(marker, path.as_bytes())
        .map_err(|err| format!("marker {}: {err}", marker.display()))?;
    remote.rename(&part, &path).map_err(e)?;
    Ok("written")
}

/// The bytes of input file `id` as received (from the spool, the archive or a packed day).
fn original(cfg: &Config, id: i64) -> Result<Vec<u8>, String> {
    let (store, _) =
        crate::store::Store::connect_read_only(&cfg.store_location().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let f = store.file(id).map_err(|e| e.to_string())?;
    crate::retention::read_blob(cfg, &f.blob).map_err(|e| e.to_string())
}

/// `{widths, align?, rows}` as fixed-width lines: each field padded with spaces to its width
/// (left-aligned, or right-aligned where `align` says `r`); a value longer than its width is
/// refused, never cut.
fn fixed(body: &Value) -> Result<String, String> {
    let (Some(widths), Some(rows)) = (body["widths"].as_array(), body["rows"].as_array()) else {
        return Err("format = \"fixed\" needs the mapping to give {widths, rows}".into());
    };
    let widths: Vec<usize> = widths
        .iter()
        .map(|w| {
            w.as_u64()
                .map(|w| w as usize)
                .ok_or("widths must be numbers")
        })
        .collect::<Result<_, _>>()?;
    let right = |i: usize| body["align"][i].as_str() == Some("r");
    let mut out = String::new();
    for (r, row) in rows.iter().enumerate() {
        let cells = row
            .as_array()
            .ok_or_else(|| format!("row {} of the mapping's output is not a list", r + 1))?;
        if cells.len() != widths.len() {
            return Err(format!(
                "row {} has {} fields for {} widths",
                r + 1,
                cells.len(),
                widths.len()
            ));
        }
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let v = match cell {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let n = v.chars().count();
            if n > *w {
                let column = body["columns"][i]
                    .as_str()
                    .map_or(format!("{}", i + 1), String::from);
                return Err(format!(
                    "row {}: {v:?} is longer than column {column}'s {w} characters",
                    r + 1
                ));
            }
            let pad = " ".repeat(w - n);
            if right(i) {
                out.push_str(&pad);
                out.push_str(&v);
            } else {
                out.push_str(&v);
                out.push_str(&pad);
            }
        }
        out.push_str("\r\n");
    }
    Ok(out)
}

/// Publishes `data` at `path` at most once: staged under a hidden name and synced, the marker
/// written and synced, then renamed into place. A marker found means the file was published
/// (or is staged and only needs its rename): it is never written a second time.
fn publish(
    marker: &std::path::Path,
    staged: &std::path::Path,
    path: &std::path::Path,
    data: &[u8],
) -> std::io::Result<&'static str> {
    use crate::fsutil;
    if marker.exists() {
        if staged.exists() {
            std::fs::rename(staged, path)?;
            fsutil::sync_dir(path.parent().unwrap_or(std::path::Path::new(".")))?;
            return Ok("published after a restart");
        }
        return Ok("already published");
    }
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(staged)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fsutil::write_atomic(marker, path.to_string_lossy().as_bytes())?;
    std::fs::rename(staged, path)?;
    fsutil::sync_dir(path.parent().unwrap_or(std::path::Path::new(".")))?;
    Ok("written")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_fields_are_padded_and_never_cut() {
        let body = serde_json::json!({
            "columns": ["a", "b"], "widths": [4, 6], "align": ["l", "r"],
            "rows": [["AB", "1.5"], ["ABCD", "10.25"]]
        });
        assert_eq!(fixed(&body).unwrap(), "AB     1.5\r\nABCD 10.25\r\n");
        let long = serde_json::json!({"columns": ["a"], "widths": [2], "rows": [["ABC"]]});
        assert!(fixed(&long)
            .unwrap_err()
            .contains("longer than column a's 2"));
    }

    #[test]
    fn a_record_is_published_once_even_after_the_legacy_side_took_it() {
        let dir = tempfile::tempdir().unwrap();
        let (marker, staged, path) = (
            dir.path().join("var/m.csv"),
            dir.path().join("in/.m.csv.edigate-tmp"),
            dir.path().join("in/m.csv"),
        );
        assert_eq!(
            publish(&marker, &staged, &path, b"a\r\n").unwrap(),
            "written"
        );
        std::fs::remove_file(&path).unwrap(); // the legacy importer took it
        assert_eq!(
            publish(&marker, &staged, &path, b"a\r\n").unwrap(),
            "already published"
        );
        assert!(!path.exists());
        // A crash between the marker and the rename: the staged file is put in place.
        std::fs::write(&staged, b"b\r\n").unwrap();
        assert_eq!(
            publish(&marker, &staged, &path, b"b\r\n").unwrap(),
            "published after a restart"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"b\r\n");
    }
}
