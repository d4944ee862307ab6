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
use std::time::{Duration, Instant};
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

/// Writes and syncs a small probe in each folder (see [`crate::fsutil::probe_write`]).
fn writable(dirs: &[&std::path::Path]) -> std::io::Result<()> {
    for d in dirs {
        crate::fsutil::probe_write(d)?;
    }
    Ok(())
}

/// The running appliance: configuration, store, intake memory and the data-folder lock.
/// Takes the data folder's lock, held while the service (or `once`, or `migrate-store`)
/// works on it: a second one is refused.
pub fn lock_data(cfg: &Config) -> Result<File, ServiceError> {
    let lock_path = cfg.data_dir.join("edigate.lock");
    let lock = File::create(&lock_path).map_err(|source| ServiceError::Io {
        path: lock_path.clone(),
        source,
    })?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => Err(ServiceError::Locked(cfg.data_dir.clone())),
        Err(TryLockError::Error(source)) => Err(ServiceError::Io {
            path: lock_path,
            source,
        }),
    }
}

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
    _hold: Hold,
}

/// What makes this process the one that works on the state: the data folder's lock (SQLite),
/// or the lease among the nodes sharing PostgreSQL.
pub enum Hold {
    Lock(File),
    Lease(Box<crate::nodes::Lease>),
}

impl Hold {
    /// Takes it now, or says who holds it.
    pub fn take(cfg: &Config) -> Result<Hold, ServiceError> {
        match cfg.store.backend {
            crate::config::Backend::Sqlite => {
                fs::create_dir_all(&cfg.data_dir).map_err(|source| ServiceError::Io {
                    path: cfg.data_dir.clone(),
                    source,
                })?;
                Ok(Hold::Lock(lock_data(cfg)?))
            }
            crate::config::Backend::Postgres => {
                Ok(Hold::Lease(Box::new(crate::nodes::Lease::take(cfg)?)))
            }
        }
    }
}

impl Appliance {
    /// Creates the runtime folders, takes the lock (the lease, on PostgreSQL) and opens the
    /// store.
    pub fn open(cfg: Config) -> Result<Appliance, ServiceError> {
        let hold = Hold::take(&cfg)?;
        Appliance::open_holding(cfg, hold)
    }

    /// [`Appliance::open`] with the right to work already held.
    pub fn open_holding(cfg: Config, hold: Hold) -> Result<Appliance, ServiceError> {
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
        let store = Store::for_config(&cfg)?;
        // Temporary files of writes cut short by a crash; their content is still committed
        // in the store or the inbox, so they are safe to remove. Nodes sharing PostgreSQL
        // write into the same folders: there only those too old to be a live node's are.
        let before = match cfg.store.backend {
            crate::config::Backend::Sqlite => None,
            crate::config::Backend::Postgres => std::time::SystemTime::now()
                .checked_sub(Duration::from_secs(cfg.store.idle_seconds())),
        };
        for dir in [&cfg.outbox, &cfg.spool(), &cfg.archive, &cfg.quarantine] {
            remove_temporaries(dir, before);
        }
        let mut store = store;
        apply_modes(&cfg, &mut store, &crate::util::actor_at_start())?;
        keep_in_force(&cfg);
        Ok(Appliance {
            cfg,
            store,
            intake: Intake::default(),
            listings: Listings::default(),
            retention_day: None,
            inline_deliveries: true,
            _hold: hold,
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
        let mut more_deliveries = if self.inline_deliveries {
            deliver(&self.cfg, &mut self.store)?
        } else {
            false
        };
        // Routes with steps: each record's process moves as its deliveries settle (a step
        // started here is delivered next round, or by the service's workers).
        match crate::orchestrate::advance(&self.cfg, &mut self.store, Utc::now()) {
            Ok(m) => {
                if m.steps > 0 {
                    tracing::info!(
                        steps = m.steps,
                        done = m.done,
                        held = m.held,
                        compensated = m.compensated,
                        "route processes"
                    );
                }
                more_deliveries |= m.steps > 0;
            }
            Err(e) => tracing::error!(error = %e, "route processes failed; retried next pass"),
        }
        // Rejections settled by now (here, or by the service's delivery workers since the
        // last pass) travel back to the partners that ask.
        match crate::advise::publish(&self.cfg, &mut self.store, Utc::now()) {
            Ok(p) if p.written + p.failed > 0 => {
                tracing::info!(written = p.written, failed = p.failed, "rejection advice")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "rejection advice failed; retried next pass"),
        }
        // What needs an operator, told to the webhooks that ask.
        if !self.cfg.alerts.is_empty() {
            match crate::alerts::run(&self.cfg, &mut self.store, Utc::now()) {
                Ok(t) if t.raised + t.sent + t.failed > 0 => {
                    tracing::info!(
                        raised = t.raised,
                        sent = t.sent,
                        failed = t.failed,
                        "alerts"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "alerts failed; retried next pass"),
            }
        }
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

/// Sends what is due to every target, each target on its own thread with its own database
/// connection, so that a slow or silent target never holds up another (for `edigate once`;
/// the service runs one long-lived worker per target instead, see [`Deliverer`]). True when
/// a target may have more due now.
fn deliver(cfg: &Config, store: &mut Store) -> Result<bool, ServiceError> {
    free_stale_claims(cfg, store)?;
    let results: Vec<Result<bool, StoreError>> = std::thread::scope(|s| {
        let workers: Vec<_> = cfg
            .targets
            .iter()
            .map(|t| {
                s.spawn(move || {
                    let mut store = Store::for_config(cfg)?;
                    // Round after round while full ones come back, so that a fast target is
                    // not held to the pace of the slowest.
                    while deliver_target(cfg, t, &mut store)? {}
                    Ok(false)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|p| {
                    tracing::error!(panic = %crate::translate::panic_text(&*p), "a delivery worker panicked; its deliveries stay pending");
                    Ok(false)
                })
            })
            .collect()
    });
    let mut more = false;
    for r in results {
        more |= r?;
    }
    Ok(more)
}

/// The most deliveries one round takes for a target.
const ROUND: usize = 500;

/// One round for one target: takes what is due (as many as the breaker lets through), sends
/// it at most `concurrency` requests at once, and records each outcome with the breaker as
/// its response comes, so that a breaker that opens stops the rest of the round. True when a
/// full round was taken, so that more may be due now.
fn deliver_target(
    cfg: &Config,
    t: &crate::config::Target,
    store: &mut Store,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let mut b = store.breaker(&t.name)?;
    let Some(limit) = delivery::allowed(t, &b, now) else {
        return Ok(false);
    };
    // A round claims what its workers send in a few turns, so that nodes sharing the store
    // split a target's deliveries and a claim left by a node that dies covers little.
    let limit = limit
        .min(ROUND)
        .min(t.concurrency.saturating_mul(16).max(16));
    let node = crate::nodes::node_name();
    let claim = Duration::from_secs(cfg.store.lease_seconds.max(1));
    // Trust runs from before the claim is asked for: the statement may wait for the writers'
    // lock, and the claim's end was fixed when it was sent.
    let asked = Instant::now();
    let due = store.claim_deliveries(
        &t.name,
        &node,
        std::time::SystemTime::now(),
        claim_end(claim),
        limit,
    )?;
    if due.is_empty() {
        return Ok(false);
    }
    if crate::util::fault("panic:deliver", &t.name)
        && !INJECTED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        panic!(
            "injected fault (EDIGATE_FAULT) in the worker of target {}",
            t.name
        );
    }
    let full = due.len() == limit;
    let connector = crate::targets::connector(t);
    if t.kind.needs_lookup() {
        let fresh: Vec<i64> = due.iter().filter(|r| !r.maybe_sent).map(|r| r.id).collect();
        if !fresh.is_empty() {
            store.mark_tried(&fresh)?;
        }
    }
    let agent = delivery::agent(t);
    let queue = std::sync::Mutex::new(due.iter().enumerate());
    let stop = std::sync::atomic::AtomicBool::new(false);
    // Nothing is sent once the claim may have run out: renewed every third of its length,
    // it is trusted for two thirds after each renewal.
    let trusted = std::sync::Mutex::new(asked + claim * 2 / 3);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, crate::targets::Reply)>();
    let mut outcome: Result<(), StoreError> = Ok(());
    std::thread::scope(|s| {
        for _ in 0..t.concurrency.min(due.len()) {
            let tx = tx.clone();
            let (queue, stop, agent, connector, trusted) =
                (&queue, &stop, &agent, &connector, &trusted);
            s.spawn(move || loop {
                if stop.load(std::sync::atomic::Ordering::Relaxed)
                    || Instant::now() >= *trusted.lock().unwrap_or_else(|p| p.into_inner())
                {
                    break;
                }
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some((i, row)) = next else { break };
                let started = std::time::Instant::now();
                let reply = connector.send(cfg, t, agent, row);
                crate::latency::observe(
                    "edigate_target_request_seconds",
                    &format!("target=\"{}\"", crate::report::label(&t.name)),
                    started.elapsed().as_secs_f64(),
                );
                if tx.send((i, reply)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Each response is settled as it comes; responses that arrive while one commit syncs
        // are settled together in the next (group commit), so the database's sync does not
        // bound the delivery rate.
        let mut renewed = asked;
        loop {
            let first = match rx.recv_timeout(claim / 3) {
                Ok(first) => Some(first),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if renewed.elapsed() >= claim / 3 && outcome.is_ok() {
                let at = Instant::now();
                outcome = store.renew_claims(&t.name, &node, claim_end(claim));
                if outcome.is_ok() {
                    renewed = at;
                    *trusted.lock().unwrap_or_else(|p| p.into_inner()) = at + claim * 2 / 3;
                } else {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let Some(first) = first else { continue };
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            let mut settled = Vec::with_capacity(batch.len());
            for (i, reply) in batch {
                let row = &due[i];
                let now = Utc::now();
                let resp = reply.response;
                let attempt = delivery::classify(t, row, &resp, reply.system_id, now);
                if matches!(attempt, Attempt::Delivered { .. }) {
                    if let Some(s) = crate::latency::since(&row.created_at) {
                        crate::latency::observe(
                            "edigate_stage_seconds",
                            &format!(
                                "stage=\"delivered\",target=\"{}\"",
                                crate::report::label(&t.name)
                            ),
                            s,
                        );
                    }
                }
                log_attempt(t, row, &attempt);
                let next = delivery::after(t, &b, &[&resp], now);
                if next.state != b.state {
                    tracing::warn!(target = %t.name, from = %b.state, to = %next.state, "circuit breaker");
                }
                if next.state == "open" {
                    // Nothing more is sent to a target whose breaker opened; what is in flight
                    // still settles.
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                b = next;
                settled.push((row.id, row.claim_no, attempt));
            }
            if outcome.is_ok() {
                outcome = store
                    .settle_deliveries(&node, &settled, &t.name, &b)
                    .and_then(|lost| claims_lost(store, t, &lost));
            }
            if outcome.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    outcome?;
    Ok(full && b.state != "open")
}

/// Frees the delivery claims of processes known to be gone: on SQLite every process but this
/// one (one process at a time holds the data folder), on PostgreSQL those of this host that
/// no longer run. Claims of nodes elsewhere run out by themselves.
pub(crate) fn free_stale_claims(cfg: &Config, store: &mut Store) -> Result<(), StoreError> {
    let me = crate::nodes::node_name();
    let sqlite = cfg.store.backend == crate::config::Backend::Sqlite;
    let freed = store.free_claims_of(&|node| (sqlite && node != me) || crate::nodes::gone(node))?;
    if freed > 0 {
        tracing::info!(
            deliveries = freed,
            "freed the delivery claims of stopped processes"
        );
    }
    Ok(())
}

/// The end of a claim of length `claim` taken now.
fn claim_end(claim: Duration) -> std::time::SystemTime {
    std::time::SystemTime::now() + claim
}

/// Outcomes not recorded because another node claimed their deliveries meanwhile: each is
/// logged and counted (anomaly `delivery.claim_lost`); the other node's attempt stands, and
/// a connector without idempotency keys looks the document up before creating it again.
fn claims_lost(
    store: &mut Store,
    t: &crate::config::Target,
    lost: &[i64],
) -> Result<(), StoreError> {
    for id in lost {
        tracing::warn!(target = %t.name, delivery = id, "claim lost: another node took this delivery while its request was out; this node's outcome is not recorded");
        store.anomaly(
            "delivery.claim_lost",
            None,
            &format!(
                "delivery {id} to target {}: its claim ran out while the request was out, and another node took it",
                t.name
            ),
        )?;
    }
    Ok(())
}

/// Set once the injected delivery fault has fired (it fires once per process).
static INJECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn log_attempt(t: &crate::config::Target, row: &crate::store::DeliveryRow, attempt: &Attempt) {
    match attempt {
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

/// The service's delivery workers: one thread per target, each with its own database
/// connection, woken by each pass and every quarter second for retries that come due. Each
/// is supervised: a panic in a round is caught, logged, counted (`edigate status` shows it
/// under anomalies) and the worker goes on with a fresh connection after a pause.
pub(crate) struct Deliverer {
    kicks: Vec<std::sync::mpsc::SyncSender<()>>,
    threads: Vec<(String, std::thread::JoinHandle<()>)>,
}

impl Deliverer {
    pub(crate) fn start(cfg: Config) -> Result<Deliverer, ServiceError> {
        free_stale_claims(&cfg, &mut Store::for_config(&cfg)?)?;
        let mut kicks = Vec::new();
        let mut threads = Vec::new();
        for index in 0..cfg.targets.len() {
            let name = cfg.targets[index].name.clone();
            let mut store = Store::for_config(&cfg)?;
            let (kick, woken) = std::sync::mpsc::sync_channel::<()>(1);
            let cfg = cfg.clone();
            let thread = std::thread::Builder::new()
                .name(format!("deliver:{name}"))
                .spawn(move || worker(&cfg, index, &mut store, &woken))
                .map_err(ServiceError::Thread)?;
            kicks.push(kick);
            threads.push((name, thread));
        }
        Ok(Deliverer { kicks, threads })
    }

    /// New deliveries may be due.
    fn kick(&self) {
        for k in &self.kicks {
            let _ = k.try_send(());
        }
    }

    /// Lets the rounds in progress finish, then stops. A worker still waiting on a target after
    /// `STOP_WAIT` is left behind: the process ends, and what it was sending stays pending, to
    /// be sent again (under the same idempotency key) after the restart.
    pub(crate) fn stop(self) {
        const STOP_WAIT: Duration = Duration::from_secs(5);
        drop(self.kicks);
        let end = std::time::Instant::now() + STOP_WAIT;
        for (name, t) in self.threads {
            while !t.is_finished() && std::time::Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !t.is_finished() {
                tracing::warn!(target = %name, "still waiting on the target: its deliveries in flight stay pending and are sent again after the restart");
                continue;
            }
            if t.join().is_err() {
                tracing::error!(target = %name, "the delivery worker had stopped on a panic");
            }
        }
    }
}

/// A standby's file worker: one thread that advances the files this node can claim (the
/// active node's passes do the same beside it), so that nodes sharing a store translate side
/// by side. Intake, SFTP polls, uploads and retention stay with the active node.
pub(crate) struct FileWorker {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl FileWorker {
    pub(crate) fn start(cfg: Config) -> Result<FileWorker, ServiceError> {
        let mut store = Store::for_config(&cfg)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("files".into())
            .spawn(move || file_worker(&cfg, &mut store, &flag))
            .map_err(ServiceError::Thread)?;
        Ok(FileWorker { stop, thread })
    }

    /// Lets the chunk in progress finish, then stops: what it claimed is given up, so the
    /// active node (this one, when it took the lease) goes on with it.
    pub(crate) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.thread().unpark();
        if self.thread.join().is_err() {
            tracing::error!("the file worker had stopped on a panic");
        }
    }
}

/// The loop of a [`FileWorker`]: a round whenever files may wait, a quarter second apart when
/// none did, with backoff while the database fails.
fn file_worker(cfg: &Config, store: &mut Store, stop: &std::sync::atomic::AtomicBool) {
    let mut failures = 0u32;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::advance_until(cfg, store, &parallel, stop)
        }));
        let wait = match round {
            Ok(Ok(r)) => {
                failures = 0;
                // Files moved: more may wait. A file that failed is not a reason to go again at
                // once (a translation that fails records no retry time, and would spin).
                if r.archived + r.quarantined > 0 {
                    continue;
                }
                Duration::from_millis(250)
            }
            Ok(Err(e)) => {
                if failures == 0 {
                    tracing::error!(error = %e, "advancing files failed; retrying with backoff");
                }
                failures += 1;
                Duration::from_millis(250 << failures.min(7))
            }
            Err(p) => {
                let text = crate::translate::panic_text(&*p);
                tracing::error!(panic = %text, "the file worker panicked; it is restarted");
                failures += 1;
                restarted(
                    cfg,
                    store,
                    &format!("file worker restarted after a panic: {text}"),
                );
                if let Err(e) = store.drop_file_claims(&crate::nodes::node_name()) {
                    tracing::error!(error = %e, "giving up the round's claims on files; they run out by themselves");
                }
                Duration::from_millis(250 << failures.min(7))
            }
        };
        std::thread::park_timeout(wait);
    }
}

/// After a worker's round panicked: a fresh connection (the old one may have been left inside
/// a transaction), and the restart counted (`worker.restart`, shown under anomalies).
fn restarted(cfg: &Config, store: &mut Store, detail: &str) {
    match Store::for_config(cfg) {
        Ok(fresh) => *store = fresh,
        Err(e) => tracing::error!(error = %e, "reopening the state database"),
    }
    if let Err(e) = store.anomaly("worker.restart", None, detail) {
        tracing::error!(error = %e, "recording the restart");
    }
}

/// One target's delivery loop (see [`Deliverer`]).
fn worker(cfg: &Config, index: usize, store: &mut Store, woken: &std::sync::mpsc::Receiver<()>) {
    let t = &cfg.targets[index];
    // Consecutive failures of the database (full disk, say) or panics: the wait doubles up to
    // half a minute, and the log says so once, then once more when it works again.
    let mut failures = 0u32;
    loop {
        let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            deliver_target(cfg, t, store)
        }));
        let wait = match round {
            Ok(Ok(more)) => {
                if failures > 0 {
                    tracing::warn!(target = %t.name, failures, "deliveries work again");
                    failures = 0;
                }
                if more {
                    continue;
                }
                Duration::from_millis(250)
            }
            Ok(Err(e)) => {
                if failures == 0 {
                    tracing::error!(target = %t.name, error = %e, "deliveries failed; retrying with backoff");
                }
                // What the round claimed goes back (if the database lets it), so that its
                // retry need not wait for the claims to run out.
                let _ = store.drop_claims(&t.name, &crate::nodes::node_name());
                failures += 1;
                Duration::from_millis(250 << failures.min(7))
            }
            Err(p) => {
                let text = crate::translate::panic_text(&*p);
                tracing::error!(target = %t.name, panic = %text, "the delivery worker panicked; it is restarted");
                failures += 1;
                let detail = format!(
                    "delivery worker of target {} restarted after a panic: {text}",
                    t.name
                );
                restarted(cfg, store, &detail);
                if let Err(e) = store.drop_claims(&t.name, &crate::nodes::node_name()) {
                    tracing::error!(target = %t.name, error = %e, "giving up the round's claims; they run out by themselves");
                }
                Duration::from_millis(250 << failures.min(7))
            }
        };
        match woken.recv_timeout(wait) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Brings the stored route modes to those of `cfg`, each change kept in the audit trail
/// with `actor`, and logs each.
fn apply_modes(cfg: &Config, store: &mut Store, actor: &str) -> Result<(), StoreError> {
    let modes: Vec<(String, crate::migration::Mode)> = cfg
        .routes
        .iter()
        .map(|r| (r.name.clone(), r.mode))
        .collect();
    for c in store.apply_route_modes(&modes, &cfg.hash, actor, Utc::now())? {
        tracing::warn!(
            route = %c.route,
            from = c.old_mode.as_deref().unwrap_or("(new)"),
            to = %c.new_mode,
            by = %c.actor,
            config = &c.config_hash[..12.min(c.config_hash.len())],
            "route mode"
        );
    }
    Ok(())
}

/// Keeps the text of the configuration now in force in the data folder, so that `status`
/// can show what runs while the file on disk is refused. A failure is only logged.
fn keep_in_force(cfg: &Config) {
    let path = cfg.data_dir.join(crate::config::IN_FORCE);
    if let Err(e) = crate::fsutil::write_replace(&path, cfg.text.as_bytes()) {
        tracing::warn!(path = %path.display(), error = %e, "the configuration in force could not be kept");
    }
}

/// The health row that says whether the configuration on disk was accepted.
pub const CONFIGURATION: &str = "(configuration)";

/// Reads the configuration file again after it changed (or on SIGHUP). Returns the new
/// configuration when it differs from `current` and passes every check `edigate check`
/// makes; a refused one is logged and shown in `edigate status` (health row
/// [`CONFIGURATION`]) while `current` stays in force.
fn reread(current: &Config, store: &mut Store, refused: &mut Option<String>) -> Option<Config> {
    let text = fs::read(&current.file).ok()?;
    let hash = crate::util::sha256_hex(&text);
    if hash == current.hash {
        if refused.take().is_some() {
            tracing::warn!("the configuration on disk is the one in force again");
            let _ = store.record_poll(CONFIGURATION, None);
        }
        return None;
    }
    if refused.as_deref() == Some(hash.as_str()) {
        return None;
    }
    let problem = match crate::config::load(&current.file) {
        Ok(new) if new.data_dir != current.data_dir => Err(format!(
            "data_dir changed from {} to {}: a running service keeps its data folder (restart it to move)",
            current.data_dir.display(),
            new.data_dir.display()
        )),
        Ok(new) => Ok(new),
        Err(errors) => Err(errors.to_string().replace('\n', "; ")),
    };
    match problem {
        Ok(new) => {
            *refused = None;
            Some(new)
        }
        Err(reason) => {
            tracing::error!(reason = %reason, "the changed configuration is refused; the one in force stays");
            let _ = store.record_poll(
                CONFIGURATION,
                Some(&format!(
                    "changed configuration refused (the previous one stays in force): {reason}"
                )),
            );
            *refused = Some(hash);
            None
        }
    }
}

/// Removes the temporary files under `dir`, those last written `before` when it is given.
fn remove_temporaries(dir: &std::path::Path, before: Option<std::time::SystemTime>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let old =
            || before.is_none_or(|b| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < b));
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_temporaries(&p, before);
        } else if p.to_string_lossy().ends_with(".edigate-tmp") && old() {
            tracing::info!(path = %p.display(), "removing a temporary file left by a crash");
            let _ = crate::fsutil::remove_durable(&p);
        }
    }
}

/// What one configuration starts: folder watches, cron schedules and delivery workers.
/// A reload stops it and starts the new configuration's.
struct Wiring {
    _watcher: notify::RecommendedWatcher,
    cron: JobScheduler,
    deliverer: Option<Deliverer>,
}

impl Wiring {
    async fn start(
        app: &mut Appliance,
        wake: &tokio::sync::mpsc::Sender<()>,
        due_tx: &tokio::sync::mpsc::Sender<String>,
    ) -> Result<Wiring, ServiceError> {
        let tx = wake.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
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
        let cron = JobScheduler::new().await?;
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
        let deliverer = if app.cfg.targets.is_empty() {
            app.inline_deliveries = true;
            None
        } else {
            app.inline_deliveries = false;
            Some(Deliverer::start(app.cfg.clone())?)
        };
        Ok(Wiring {
            _watcher: watcher,
            cron,
            deliverer,
        })
    }

    async fn stop(mut self) {
        if let Some(d) = self.deliverer.take() {
            let _ = tokio::task::spawn_blocking(move || d.stop()).await;
        }
        let _ = self.cron.shutdown().await;
    }
}

/// Watches the configuration file (its folder, since editors often replace the file by a
/// rename) and sends on `tx` when it may have changed.
fn watch_config(
    file: &std::path::Path,
    tx: tokio::sync::mpsc::Sender<()>,
) -> Result<notify::RecommendedWatcher, ServiceError> {
    let name = file.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
            {
                let _ = tx.try_send(());
            }
        }
    })?;
    if let Some(dir) = file.parent() {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// Runs the service until `shutdown` completes. A pass in progress finishes first. A change
/// of the configuration file (or SIGHUP) is checked and, when accepted, applied between
/// passes without a restart.
pub async fn run(
    mut app: Appliance,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let (due_tx, mut due_rx) = tokio::sync::mpsc::channel::<String>(64);
    let (config_tx, mut config_rx) = tokio::sync::mpsc::channel::<()>(1);
    let _config_watch = watch_config(&app.cfg.file, config_tx)?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut refused: Option<String> = None;
    tokio::pin!(shutdown);
    // Polled once now, so that its signal handlers are in place before the first pass: a
    // SIGTERM during that pass stops the service cleanly after it instead of killing it.
    tokio::select! {
        biased;
        _ = &mut shutdown => return Ok(()),
        _ = std::future::ready(()) => {}
    }
    let mut wiring = Wiring::start(&mut app, &tx, &due_tx).await?;
    tracing::info!(channels = app.cfg.channels.len(), outbox = %app.cfg.outbox.display(), "edigate is running");
    let mut due: Vec<String> = Vec::new();
    loop {
        let names = std::mem::take(&mut due);
        let (back, result) = tokio::task::spawn_blocking(move || {
            // A panic anywhere in a pass (a file's translation has its own guard) ends that
            // pass only: it is logged and counted, the store is opened afresh (a transaction
            // may have been left open), and the next pass goes on.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.pass(&names)));
            let r = match r {
                Ok(r) => r.map(Some),
                Err(p) => {
                    let text = crate::translate::panic_text(&*p);
                    tracing::error!(panic = %text, "a pass panicked; the service goes on");
                    let reopened = Store::for_config(&app.cfg).map(|s| app.store = s);
                    reopened
                        .and_then(|()| app.store.anomaly("pass.panic", None, &text))
                        .map(|()| None)
                        .map_err(ServiceError::from)
                }
            };
            (app, r)
        })
        .await
        .map_err(|e| ServiceError::Thread(std::io::Error::other(e.to_string())))?;
        app = back;
        if let Some(d) = &wiring.deliverer {
            d.kick();
        }
        let rescan = Duration::from_secs(app.cfg.rescan_seconds);
        let next = match result {
            Ok(Some(r)) if r.more_deliveries || r.intake.deferred > 0 => Duration::ZERO,
            Ok(Some(r)) if r.intake.waiting > 0 => Duration::from_millis(app.cfg.settle_ms),
            Ok(_) => rescan,
            Err(e) => {
                tracing::error!(error = %e, "pass failed; retrying at the next rescan");
                rescan
            }
        };
        let mut reload = None;
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
            _ = config_rx.recv() => {
                // An editor's burst of writes and renames settles into one reading.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while config_rx.try_recv().is_ok() {}
                reload = Some("file change");
            }
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                reload = Some("SIGHUP");
            }
            _ = tokio::time::sleep(next) => {}
        }
        let Some(how) = reload else { continue };
        let Some(new) = reread(&app.cfg, &mut app.store, &mut refused) else {
            continue;
        };
        // Workers and schedules of the old configuration stop (rounds in flight finish),
        // then the new one's start; modes and their audit rows are one transaction.
        wiring.stop().await;
        let actor = crate::util::actor_of_file(&new.file, how);
        let applied = apply_modes(&new, &mut app.store, &actor);
        keep_in_force(&new);
        let _ = app.store.record_poll(CONFIGURATION, None);
        app.cfg = new;
        tracing::info!(by = %actor, config = &app.cfg.hash[..12], "configuration reloaded");
        applied?;
        wiring = Wiring::start(&mut app, &tx, &due_tx).await?;
    }
    wiring.stop().await;
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
