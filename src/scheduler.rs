//! The service loop: the only place that spawns tasks. It wakes on folder notifications, on a
//! periodic rescan, and after the settle time of files still being written.

use crate::config::Config;
use crate::intake::{Intake, IntakeError, IntakeReport};
use crate::pipeline::{self, Report};
use crate::store::{Store, StoreError};
use notify::{RecursiveMode, Watcher};
use std::fs::{self, File, TryLockError};
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("another edigate is already running on {0} (lock held)")]
    Locked(std::path::PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("watching folders: {0}")]
    Watch(#[from] notify::Error),
}

/// What one pass (intake then processing) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub intake: IntakeReport,
    pub pipeline: Report,
}

/// The running appliance: configuration, store, intake memory and the data-folder lock.
pub struct Appliance {
    pub cfg: Config,
    pub store: Store,
    intake: Intake,
    _lock: File,
}

impl Appliance {
    /// Creates the runtime folders, takes the lock and opens the store.
    pub fn open(cfg: Config) -> Result<Appliance, ServiceError> {
        for dir in [
            &cfg.data_dir,
            &cfg.spool(),
            &cfg.archive,
            &cfg.quarantine,
            &cfg.outbox,
        ] {
            fs::create_dir_all(dir).map_err(|source| ServiceError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let lock_path = cfg.data_dir.join("edigate.lock");
        let lock = File::create(&lock_path).map_err(|source| ServiceError::Io {
            path: lock_path.clone(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(ServiceError::Locked(cfg.data_dir.clone()))
            }
            Err(TryLockError::Error(source)) => {
                return Err(ServiceError::Io {
                    path: lock_path,
                    source,
                })
            }
        }
        let store = Store::open(&cfg.database())?;
        // Temporary files of writes cut short by a crash; their content is still committed
        // in the store or the inbox, so they are safe to remove.
        for dir in [&cfg.outbox, &cfg.spool(), &cfg.archive, &cfg.quarantine] {
            remove_temporaries(dir);
        }
        Ok(Appliance {
            cfg,
            store,
            intake: Intake::default(),
            _lock: lock,
        })
    }

    /// Takes stable files, then advances every unfinished file.
    pub fn pass(&mut self) -> Result<PassReport, ServiceError> {
        let intake = self.intake.pass(&self.cfg, &mut self.store)?;
        let pipeline = pipeline::advance_all(&self.cfg, &mut self.store)?;
        Ok(PassReport { intake, pipeline })
    }

    /// Processes everything waiting, then returns (for `edigate once`).
    pub fn once(&mut self) -> Result<PassReport, ServiceError> {
        let mut total = PassReport::default();
        for _ in 0..1000 {
            let r = self.pass()?;
            total.intake.ingested += r.intake.ingested;
            total.intake.duplicates += r.intake.duplicates;
            total.intake.waiting = r.intake.waiting;
            total.pipeline.add(r.pipeline);
            if r.intake.waiting == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(self.cfg.settle_ms));
        }
        Ok(total)
    }
}

fn remove_temporaries(dir: &std::path::Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_temporaries(&p);
        } else if p.to_string_lossy().ends_with(".edigate-tmp") {
            tracing::info!(path = %p.display(), "removing a temporary file left by a crash");
            let _ = crate::fsutil::remove_durable(&p);
        }
    }
}

/// Runs the service until `shutdown` completes. A pass in progress finishes first.
pub async fn run(
    mut app: Appliance,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.try_send(());
        }
    })?;
    for c in &app.cfg.channels {
        watcher.watch(&c.path, RecursiveMode::NonRecursive)?;
    }
    let rescan = Duration::from_secs(app.cfg.rescan_seconds);
    let settle = Duration::from_millis(app.cfg.settle_ms);
    tracing::info!(
        channels = app.cfg.channels.len(),
        outbox = %app.cfg.outbox.display(),
        "edigate is running"
    );
    tokio::pin!(shutdown);
    loop {
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = app.pass();
            (app, r)
        })
        .await
        .expect("the pass does not panic");
        app = back;
        let next = match result {
            Ok(r) if r.intake.waiting > 0 => settle,
            Ok(_) => rescan,
            Err(e) => {
                tracing::error!(error = %e, "pass failed; retrying at the next rescan");
                rescan
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = rx.recv() => {
                // Let a burst of notifications settle into one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(next) => {}
        }
    }
    tracing::info!("edigate stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
