//! The service loop: the only place that spawns tasks. It wakes on folder notifications, on a
//! periodic rescan, and after the settle time of files still being written.

use crate::config::{Channel, Config};
use crate::delivery;
use crate::intake::{Intake, IntakeError, IntakeReport};
use crate::pipeline::{self, Report};
use crate::sftp::{self, Listings};
use crate::store::Attempt;
use crate::store::{Store, StoreError};
use crate::util::Utc;
use notify::{RecursiveMode, Watcher};
use std::fs::{self, File, TryLockError};
use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

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
    #[error("starting the delivery thread: {0}")]
    Thread(std::io::Error),
    #[error("watching folders: {0}")]
    Watch(#[from] notify::Error),
    #[error("schedules: {0}")]
    Schedule(#[from] JobSchedulerError),
}

/// What one pass (intake then processing) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub intake: IntakeReport,
    pub pipeline: Report,
    /// Channels that could not be polled.
    pub channel_errors: usize,
    /// Intake was paused because storage could not be written.
    pub paused: bool,
    /// Deliveries were left due for the next pass (a full batch was sent).
    pub more_deliveries: bool,
}

/// The health row that tracks whether storage can be written.
pub const STORAGE: &str = "(storage)";

/// Writes, syncs and removes a small probe file in each folder.
fn writable(dirs: &[&std::path::Path]) -> std::io::Result<()> {
    for d in dirs {
        let probe = d.join(".edigate-probe");
        crate::fsutil::write_atomic(&probe, b"probe")?;
        crate::fsutil::remove_durable(&probe)?;
    }
    Ok(())
}

/// The running appliance: configuration, store, intake memory and the data-folder lock.
pub struct Appliance {
    pub cfg: Config,
    pub store: Store,
    intake: Intake,
    listings: Listings,
    /// The day retention last ran (days since 1970).
    retention_day: Option<i64>,
    /// Whether a pass also sends due deliveries (`once`); the service sends them from its own
    /// thread instead, beside the passes.
    inline_deliveries: bool,
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
            listings: Listings::default(),
            retention_day: None,
            inline_deliveries: true,
            _lock: lock,
        })
    }

    /// One pass: takes stable files from the watched folders and from the scheduled channels
    /// named in `due`, advances every unfinished file, then uploads what is due. A channel that
    /// fails is recorded in its health row and retried at its next schedule; others go on.
    pub fn pass(&mut self, due: &[String]) -> Result<PassReport, ServiceError> {
        // Nothing new is taken while the spool or the outbox cannot be written (disk full,
        // read-only mount): what is already in flight keeps its state, and intake resumes by
        // itself once a probe write succeeds again.
        if let Err(e) = writable(&[&self.cfg.spool(), &self.cfg.outbox]) {
            let was = self
                .store
                .health()?
                .into_iter()
                .any(|h| h.channel == STORAGE && h.last_error.is_some());
            self.store
                .record_poll(STORAGE, Some(&format!("intake paused: {e}")))?;
            if !was {
                tracing::error!(error = %e, "storage is not writable: intake paused until it is");
            }
            return Ok(PassReport {
                paused: true,
                ..PassReport::default()
            });
        }
        if self
            .store
            .health()?
            .iter()
            .any(|h| h.channel == STORAGE && h.last_error.is_some())
        {
            tracing::warn!("storage is writable again: intake resumes");
            self.store.record_poll(STORAGE, None)?;
        }
        let is_due = |c: &Channel| c.schedule.is_none() || due.contains(&c.name);
        let started = std::time::Instant::now();
        let mut intake = self.intake.pass(&self.cfg, &mut self.store, &is_due)?;
        let mut channel_errors = 0;
        for c in self
            .cfg
            .channels
            .iter()
            .filter(|c| c.sftp().is_some() && is_due(c))
        {
            match sftp::poll(&self.cfg, &mut self.store, c, &mut self.listings) {
                Ok(r) => {
                    intake.ingested += r.ingested;
                    intake.duplicates += r.duplicates;
                    intake.waiting += r.waiting;
                    self.store.record_poll(&c.name, None)?;
                }
                Err(e) => {
                    tracing::error!(channel = %c.name, error = %e, "channel poll failed; retrying at its next schedule");
                    self.store.record_poll(&c.name, Some(&e.to_string()))?;
                    channel_errors += 1;
                }
            }
        }
        let intake_at = started.elapsed();
        let pipeline = pipeline::advance_all(&self.cfg, &mut self.store, &parallel)?;
        let pipeline_at = started.elapsed();
        for c in self.cfg.channels.iter().filter(|c| c.sftp().is_some()) {
            if let Err(e) = sftp::deliver(&mut self.store, c) {
                tracing::warn!(channel = %c.name, error = %e, "upload failed; it will be retried");
            }
        }
        let more_deliveries = if self.inline_deliveries {
            deliver(&self.cfg, &mut self.store)?
        } else {
            false
        };
        tracing::debug!(
            ingested = intake.ingested,
            archived = pipeline.archived,
            intake_ms = intake_at.as_millis() as u64,
            pipeline_ms = (pipeline_at - intake_at).as_millis() as u64,
            deliver_ms = (started.elapsed() - pipeline_at).as_millis() as u64,
            "pass"
        );
        let today = Utc::now().epoch.div_euclid(86_400);
        if self.retention_day != Some(today) {
            self.retention_day = Some(today);
            match crate::retention::run(&self.cfg, &mut self.store, Utc::now()) {
                Ok(r) => tracing::info!(
                    packed = r.days_packed,
                    deleted = r.archives_deleted,
                    forgotten = r.files_forgotten,
                    "retention"
                ),
                Err(e) => tracing::error!(error = %e, "retention failed; it runs again tomorrow"),
            }
        }
        Ok(PassReport {
            intake,
            pipeline,
            channel_errors,
            paused: false,
            more_deliveries,
        })
    }

    /// Processes everything waiting on every channel, then returns (for `edigate once`).
    pub fn once(&mut self) -> Result<PassReport, ServiceError> {
        let all: Vec<String> = self.cfg.channels.iter().map(|c| c.name.clone()).collect();
        let mut total = PassReport::default();
        for _ in 0..1000 {
            let r = self.pass(&all)?;
            total.intake.ingested += r.intake.ingested;
            total.intake.duplicates += r.intake.duplicates;
            total.intake.waiting = r.intake.waiting;
            total.pipeline.add(r.pipeline);
            total.channel_errors = r.channel_errors;
            total.paused = r.paused;
            if r.more_deliveries || r.intake.deferred > 0 {
                continue;
            }
            if r.intake.waiting == 0 || r.channel_errors > 0 || r.paused {
                break;
            }
            std::thread::sleep(Duration::from_millis(self.cfg.settle_ms));
        }
        Ok(total)
    }
}

/// Sends what is due to every target (at most `concurrency` requests at once per target) and
/// records each outcome and the target's circuit breaker in one transaction; true when a full
/// batch was sent, so that more may be due now.
fn deliver(cfg: &Config, store: &mut Store) -> Result<bool, ServiceError> {
    let mut more = false;
    for t in &cfg.targets {
        let now = Utc::now();
        let b = store.breaker(&t.name)?;
        let Some(limit) = delivery::allowed(t, &b, now) else {
            continue;
        };
        let limit = limit.min(500);
        let due = store.due_deliveries(&t.name, now, limit)?;
        if due.is_empty() {
            continue;
        }
        more |= due.len() == limit;
        let requests: Vec<delivery::Request> =
            due.iter().map(|r| delivery::request(t, r)).collect();
        let agent = delivery::agent(t);
        let queue = std::sync::Mutex::new(requests.iter().enumerate());
        let results = std::sync::Mutex::new(vec![None; requests.len()]);
        std::thread::scope(|s| {
            for _ in 0..t.concurrency.min(requests.len()) {
                s.spawn(|| loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((i, req)) = next else { break };
                    let resp = delivery::send(&agent, req);
                    results.lock().expect("results")[i] = Some(resp);
                });
            }
        });
        let results: Vec<delivery::Response> = results
            .into_inner()
            .expect("results")
            .into_iter()
            .map(|r| r.unwrap_or_else(|| delivery::Response::Failed("not sent".into())))
            .collect();
        let now = Utc::now();
        let mut settled = Vec::with_capacity(due.len());
        for (row, resp) in due.iter().zip(&results) {
            let attempt = delivery::classify(t, row, resp, now);
            match &attempt {
                Attempt::Delivered { .. } => {
                    tracing::debug!(target = %t.name, key = %row.idem_key, "delivered")
                }
                Attempt::Retry { error, .. } => {
                    tracing::warn!(target = %t.name, key = %row.idem_key, error = %error, "delivery failed; will retry")
                }
                Attempt::Dead { error, .. } => {
                    tracing::error!(target = %t.name, key = %row.idem_key, error = %error, "delivery dead-lettered")
                }
                Attempt::Rejected { error, .. } => {
                    tracing::error!(target = %t.name, key = %row.idem_key, error = %error, "delivery rejected by the target")
                }
            }
            settled.push((row.id, attempt));
        }
        let refs: Vec<&delivery::Response> = results.iter().collect();
        let next = delivery::after(t, &b, &refs, now);
        if next.state != b.state {
            tracing::warn!(target = %t.name, from = %b.state, to = %next.state, "circuit breaker");
        }
        // Every outcome of the batch and the breaker in one transaction.
        store.settle_deliveries(&settled, &t.name, &next)?;
    }
    Ok(more)
}

/// Runs `job(i)` for every `i` in `0..n` on one scoped thread per core (the pipeline's
/// translation of a batch), each taking the next job as it finishes one.
fn parallel(n: usize, job: &(dyn Fn(usize) + Sync)) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .min(n);
    if threads <= 1 {
        return pipeline::serial(n, job);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                job(i);
            });
        }
    });
}

/// The service's delivery thread: sends due deliveries beside the passes (its own database
/// connection), woken by each pass and every quarter second for retries that come due.
struct Deliverer {
    kick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Deliverer {
    fn start(cfg: Config) -> Result<Deliverer, ServiceError> {
        let mut store = Store::open(&cfg.database())?;
        let (kick, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("deliveries".into())
            .spawn(move || {
                // Consecutive failures of the database (full disk, say): the wait doubles up to
                // half a minute, and the log says so once, then once more when it works again.
                let mut failures = 0u32;
                loop {
                    let wait = match deliver(&cfg, &mut store) {
                        Ok(more) => {
                            if failures > 0 {
                                tracing::warn!(failures, "deliveries work again");
                                failures = 0;
                            }
                            if more {
                                continue;
                            }
                            Duration::from_millis(250)
                        }
                        Err(e) => {
                            if failures == 0 {
                                tracing::error!(error = %e, "deliveries failed; retrying with backoff");
                            }
                            failures += 1;
                            Duration::from_millis(250 << failures.min(7))
                        }
                    };
                    match woken.recv_timeout(wait) {
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(ServiceError::Thread)?;
        Ok(Deliverer { kick, thread })
    }

    /// New deliveries may be due.
    fn kick(&self) {
        let _ = self.kick.try_send(());
    }

    /// Lets the batch in progress finish, then stops.
    fn stop(self) {
        drop(self.kick);
        let _ = self.thread.join();
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
    for c in app.cfg.channels.iter().filter(|c| c.schedule.is_none()) {
        if let Some(dir) = c.dir() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    // Scheduled channels: each cron tick sends the channel's name.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::channel::<String>(64);
    let mut cron = JobScheduler::new().await?;
    for c in &app.cfg.channels {
        let Some(schedule) = &c.schedule else {
            continue;
        };
        let (name, due_tx) = (c.name.clone(), due_tx.clone());
        let job = Job::new_async(schedule.as_str(), move |_, _| {
            let (name, due_tx) = (name.clone(), due_tx.clone());
            Box::pin(async move {
                let _ = due_tx.try_send(name);
            })
        })?;
        cron.add(job).await?;
    }
    cron.start().await?;
    let rescan = Duration::from_secs(app.cfg.rescan_seconds);
    let settle = Duration::from_millis(app.cfg.settle_ms);
    tracing::info!(channels = app.cfg.channels.len(), outbox = %app.cfg.outbox.display(), "edigate is running");
    tokio::pin!(shutdown);
    let deliverer = if app.cfg.targets.is_empty() {
        None
    } else {
        app.inline_deliveries = false;
        Some(Deliverer::start(app.cfg.clone())?)
    };
    let mut due: Vec<String> = Vec::new();
    loop {
        let names = std::mem::take(&mut due);
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = app.pass(&names);
            (app, r)
        })
        .await
        .expect("the pass does not panic");
        app = back;
        if let Some(d) = &deliverer {
            d.kick();
        }
        let next = match result {
            Ok(r) if r.more_deliveries || r.intake.deferred > 0 => Duration::ZERO,
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
            Some(name) = due_rx.recv() => {
                due.push(name);
                while let Ok(n) = due_rx.try_recv() {
                    due.push(n);
                }
            }
            _ = tokio::time::sleep(next) => {}
        }
    }
    if let Some(d) = deliverer {
        let _ = tokio::task::spawn_blocking(move || d.stop()).await;
    }
    let _ = cron.shutdown().await;
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
