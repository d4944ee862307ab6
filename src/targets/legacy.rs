//! `legacy_files`: the legacy ERP's import folder. Each record becomes one CSV file under a
//! name made from its identity, published by rename once complete; a marker in the data folder,
//! written before the rename, keeps a record from being published twice (even after the legacy
//! system took the first file away and edigate crashed before recording it).

use super::Reply;
use crate::config::{Config, Target};
use crate::store::DeliveryRow;
use serde_json::Value;
use std::path::PathBuf;

pub struct Legacy {
    dir: PathBuf,
    delimiter: char,
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
        }
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
        let name = format!(
            "{}-{}-{}.csv",
            crate::routing::component(partner),
            crate::routing::component(document),
            crate::routing::component(id)
        );
        let text = match self.csv(body) {
            Ok(t) => t,
            Err(why) => return Reply::refused(why),
        };
        let marker = cfg
            .data_dir
            .join("legacy")
            .join(crate::routing::component(&t.name))
            .join(&name);
        let path = self.dir.join(&name);
        let staged = self.dir.join(format!(".{name}.edigate-tmp"));
        match publish(&marker, &staged, &path, text.as_bytes()) {
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
