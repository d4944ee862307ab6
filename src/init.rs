//! `edigate init DIR`: a new installation's starting point: the default configuration, a
//! copy of the shipped mappings to edit, and the channel and output folders. It never
//! overwrites a file that is already there.

use std::path::{Path, PathBuf};

/// The default configuration, as shipped.
pub const CONFIG: &str = include_str!("../edigate.toml");
const MAPPINGS_README: &str = include_str!("../mappings/README.md");

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} exists already: init writes a new installation only (nothing was changed)")]
    Exists(PathBuf),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the installation under `dir`; returns what it wrote.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let config = dir.join("edigate.toml");
    if config.exists() {
        return Err(InitError::Exists(config));
    }
    let mut files: Vec<(PathBuf, &str)> = vec![
        (config, CONFIG),
        (dir.join("mappings/README.md"), MAPPINGS_README),
    ];
    for (name, text) in crate::mapping::BUILTIN {
        files.push((dir.join("mappings").join(name), text));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        if path.exists() {
            continue;
        }
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| InitError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    for folder in ["inbox", "outbox"] {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path).map_err(|source| InitError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
