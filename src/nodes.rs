//! One node among several sharing a PostgreSQL store: it waits as a standby (its admin API
//! answering) until it takes the lease, keeps the lease alive while it works, and stops at
//! once if it ever loses it; a takeover raises the fence, so a presumed-dead node's late
//! writes are refused.

use crate::config::Config;
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The exit code of a node that lost its lease (its supervisor starts it again, as a standby).
pub const FENCED_EXIT: i32 = 75;

/// This process's name among the nodes: `host/space:pid:random`, the same for all its work
/// (its lease, its heartbeat and its claims on deliveries).
pub fn node_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        format!(
            "{}:{}:{}",
            process_space(),
            std::process::id(),
            crate::util::random_hex(3)
        )
    })
    .clone()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Where this process's number means something: its host's name, then a digest of its
/// kernel's boot and its PID namespace. Two containers can share a host name (host
/// networking, or a default like `localhost`) while each numbers its processes from 1: a
/// process number is looked up only in the space it came from, never in another's.
fn process_space() -> String {
    static SPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SPACE
        .get_or_init(|| {
            let boot =
                std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
            let pids = std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let digest = crate::util::sha256_hex(format!("{}|{pids}", boot.trim()).as_bytes());
            format!("{}/{}", host_name(), &digest[..6])
        })
        .clone()
}

/// Whether `node` names a process of this host and PID namespace that is gone (killed, then
/// started again by its supervisor): what it held need not be waited out. A node of another
/// space (another host, another container) is never gone by this test: its lease and claims
/// run out instead.
pub fn gone(node: &str) -> bool {
    gone_from(
        node,
        &process_space(),
        std::process::id(),
        &node_name(),
        |pid| std::path::Path::new("/proc").join(pid.to_string()).exists(),
    )
}

/// [`gone`], seen from process `me` (named `my_name`) of `space`, with `alive` telling whether
/// a process number of that space is in use.
fn gone_from(node: &str, space: &str, me: u32, my_name: &str, alive: impl Fn(u32) -> bool) -> bool {
    let mut parts = node.rsplitn(3, ':');
    let (_salt, pid, host) = (parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    host == Some(space)
        && if pid == me {
            // An earlier process of this space with this process's number.
            node != my_name
        } else {
            !alive(pid)
        }
}

/// Where this process's admin listener answers, once it listens.
static CONSOLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Notes where this process's admin listener answers (`http://ADDRESS`), for its heartbeats.
pub fn listening_at(url: &str) {
    let _ = CONSOLE.set(url.to_string());
}

fn console() -> Option<&'static str> {
    CONSOLE.get().map(String::as_str)
}

/// The node holding the lease when it is [`gone`].
fn dead_holder(store: &Store) -> Result<Option<String>, StoreError> {
    Ok(store.active_node()?.filter(|holder| gone(holder)))
}

/// One try at the lease for `node`, after its heartbeat: its fence when taken.
fn attempt(cfg: &Config, store: &Store, node: &str) -> Result<Option<i64>, StoreError> {
    store.heartbeat(node, &host_name(), std::process::id(), console())?;
    let dead = dead_holder(store)?;
    store.take_lease(node, cfg.store.lease_seconds, dead.as_deref())
}

/// The lease this node holds, renewed by a thread of its own; given up when dropped.
pub struct Lease {
    node: String,
    fence: i64,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
    store: Store,
}

impl Lease {
    /// Takes the lease now, or says which node holds it.
    pub fn take(cfg: &Config) -> Result<Lease, StoreError> {
        let node = node_name();
        let store = Store::for_config(cfg)?;
        match attempt(cfg, &store, &node)? {
            Some(fence) => Ok(Lease::hold(cfg, node, fence, store)),
            None => Err(StoreError::Unconfigured(format!(
                "another edigate is already running on this store: node {} holds its lease",
                store.active_node()?.unwrap_or_else(|| "?".into())
            ))),
        }
    }

    /// Waits as a standby, heartbeating, until the lease is free or `stopping` is set.
    pub fn wait(cfg: &Config, stopping: &AtomicBool) -> Result<Option<Lease>, StoreError> {
        let node = node_name();
        let store = Store::for_config(cfg)?;
        let pause = Duration::from_millis(cfg.store.lease_seconds.max(1) * 1000 / 3);
        let mut told = false;
        loop {
            if stopping.load(Ordering::SeqCst) {
                let _ = store.release_lease(&node, 0);
                return Ok(None);
            }
            if let Some(fence) = attempt(cfg, &store, &node)? {
                return Ok(Some(Lease::hold(cfg, node, fence, store)));
            }
            if !told {
                tracing::info!(
                    node = %node,
                    active = %store.active_node()?.unwrap_or_default(),
                    "standing by: another node is active"
                );
                told = true;
            }
            pause_unless(pause, stopping);
        }
    }

    fn hold(cfg: &Config, node: String, fence: i64, store: Store) -> Lease {
        crate::store::write_under(&node, fence);
        tracing::info!(node = %node, fence, "this node is active");
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (cfg, node, stop) = (cfg.clone(), node.clone(), stop.clone());
            std::thread::Builder::new()
                .name("lease".into())
                .spawn(move || renew(&cfg, &node, fence, &stop))
                .ok()
        };
        Lease {
            node,
            fence,
            stop,
            renewer,
            store,
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }
}

/// Waits `pause`, or less when `stopping` is raised meanwhile (seen within a tenth of a second),
/// so that a node standing by stops at once when asked to.
fn pause_unless(pause: Duration, stopping: &AtomicBool) {
    let until = Instant::now() + pause;
    while !stopping.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Renews the lease a third of its length before it ends; a node that cannot renew it
/// before it ends exits, since another node may have taken over.
fn renew(cfg: &Config, node: &str, fence: i64, stop: &AtomicBool) {
    let length = Duration::from_secs(cfg.store.lease_seconds.max(1));
    let mut renewed = Instant::now();
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(length / 3);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if store.is_none() {
            store = Store::for_config(cfg).ok();
        }
        let outcome = match &store {
            Some(s) => s
                .heartbeat(node, &host_name(), std::process::id(), console())
                .and_then(|()| s.renew_lease(node, fence, cfg.store.lease_seconds)),
            None => Err(StoreError::Database("no connection".into())),
        };
        match outcome {
            Ok(true) => {
                renewed = Instant::now();
                forget_silent(store.as_ref());
            }
            Ok(false) => lost(node, fence, "another node took the lease"),
            Err(e) => {
                tracing::warn!(error = %e, "renewing the lease");
                store = None;
                if renewed.elapsed() >= length {
                    lost(node, fence, "the lease ran out before it could be renewed");
                }
            }
        }
    }
}

/// How long a node that stopped without a goodbye stays in `status` (as silent) before the
/// active node forgets it.
pub const FORGET_SILENT_AFTER: u64 = 24 * 3600;

/// Forgets the nodes silent for [`FORGET_SILENT_AFTER`], logging each time it does.
fn forget_silent(store: Option<&Store>) {
    match store.map(|s| s.forget_silent_nodes(FORGET_SILENT_AFTER)) {
        Some(Ok(n)) if n > 0 => tracing::info!(
            nodes = n,
            hours = FORGET_SILENT_AFTER / 3600,
            "forgot nodes silent for a day"
        ),
        Some(Err(e)) => tracing::warn!(error = %e, "forgetting silent nodes"),
        _ => {}
    }
}

fn lost(node: &str, fence: i64, why: &str) -> ! {
    tracing::error!(node = %node, fence, "{why}: this node stops now, writing nothing more");
    std::process::exit(FENCED_EXIT)
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.renewer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let _ = self.store.release_lease(&self.node, self.fence);
    }
}

/// Frees the file claims of processes known to be gone: on SQLite every process but this one
/// (one process at a time holds the data folder), on PostgreSQL those of this host that no
/// longer run. Claims of nodes elsewhere run out by themselves.
pub fn free_file_claims(cfg: &Config, store: &mut Store) -> Result<(), StoreError> {
    let me = node_name();
    let sqlite = cfg.store.backend == crate::config::Backend::Sqlite;
    let freed = store.free_file_claims_of(&|node| (sqlite && node != me) || gone(node))?;
    if freed > 0 {
        tracing::info!(files = freed, "freed the file claims of stopped processes");
    }
    Ok(())
}

/// How many chunks of claimed files this process is advancing now.
static CLAIMING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many files the chunk at hand claimed (0 until known).
static CLAIMED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts the chunks claimed, so that a renewal that overlapped a new claim is not judged by it.
static CHUNKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// When this process last knew all its claims on files to hold (milliseconds since 1970; 0
/// once it knows one was taken).
static HELD_AT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether this process may still act on its claims on files outside the database (write an
/// output into the outbox, move a content): on PostgreSQL, only while they were known to hold
/// less than two thirds of `lease_seconds` ago, as delivery workers send nothing past that.
/// A node frozen past that point, or whose renewals fail, stops before its next such act;
/// what the database records is refused anyway by the commit's check.
pub fn claims_fresh(cfg: &Config) -> bool {
    cfg.store.backend == crate::config::Backend::Sqlite
        || fresh(
            HELD_AT.load(Ordering::SeqCst),
            millis(std::time::SystemTime::now()),
            cfg.store.lease_seconds.max(1) * 1000,
        )
}

/// Whether claims known to hold at `held` (ms) still may be acted on at `now`, for claims of
/// `length` ms.
fn fresh(held: u64, now: u64, length: u64) -> bool {
    held > 0 && now.saturating_sub(held) < length * 2 / 3
}

/// While alive, this process's claims on files are renewed every third of `lease_seconds` by
/// a thread of its own (on PostgreSQL; on SQLite no other process can claim them), so that a
/// chunk that takes long (a big file) is not taken over while it runs.
pub struct ClaimsKept {
    now: std::time::SystemTime,
    length: Duration,
}

impl ClaimsKept {
    pub fn start(cfg: &Config) -> ClaimsKept {
        let length = Duration::from_secs(cfg.store.lease_seconds.max(1));
        CLAIMING.fetch_add(1, Ordering::SeqCst);
        CLAIMED.store(0, Ordering::SeqCst);
        if cfg.store.backend == crate::config::Backend::Postgres {
            static RENEWER: std::sync::OnceLock<()> = std::sync::OnceLock::new();
            RENEWER.get_or_init(|| {
                let cfg = cfg.clone();
                let _ = std::thread::Builder::new()
                    .name("file-claims".into())
                    .spawn(move || renew_file_claims(&cfg, length));
            });
        }
        ClaimsKept {
            now: std::time::SystemTime::now(),
            length,
        }
    }

    /// When the claims are taken.
    pub fn now(&self) -> std::time::SystemTime {
        self.now
    }

    /// The claims taken at [`ClaimsKept::now`] are on `n` files.
    pub fn holding(&self, n: usize) {
        HELD_AT.store(millis(self.now), Ordering::SeqCst);
        CLAIMED.store(n, Ordering::SeqCst);
        CHUNKS.fetch_add(1, Ordering::SeqCst);
    }

    /// Until when they hold, unless renewed.
    pub fn until(&self) -> std::time::SystemTime {
        self.now + self.length
    }
}

impl Drop for ClaimsKept {
    fn drop(&mut self) {
        CLAIMING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The renewing thread of [`ClaimsKept`]: it lives as long as the process.
fn renew_file_claims(cfg: &Config, length: Duration) {
    let node = node_name();
    let mut store: Option<Store> = None;
    loop {
        std::thread::sleep(length / 3);
        if CLAIMING.load(Ordering::SeqCst) == 0 {
            continue;
        }
        if store.is_none() {
            store = Store::for_config(cfg).ok();
        }
        // What the chunk at hand claimed, read before the renewal: a chunk claimed during it
        // changes the count, and the renewal then says nothing about it.
        let (chunk, claimed) = (
            CHUNKS.load(Ordering::SeqCst),
            CLAIMED.load(Ordering::SeqCst),
        );
        let at = std::time::SystemTime::now();
        let renewed = match store.as_mut() {
            Some(s) => s.renew_file_claims(&node, at + length),
            None => Err(StoreError::Database("no connection".into())),
        };
        let judged = claimed > 0 && CHUNKS.load(Ordering::SeqCst) == chunk;
        match renewed {
            Ok(_) if !judged => {}
            Ok(n) if n >= claimed => HELD_AT.store(millis(at), Ordering::SeqCst),
            Ok(_) => {
                // Another node took some: nothing more is written for them outside the
                // database, and the chunk's next commit is refused.
                HELD_AT.store(0, Ordering::SeqCst);
                tracing::warn!(node = %node, "another node took files this node had claimed");
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing this node's claims on files; its commits are refused if another node takes them");
                store = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn claims_are_acted_on_only_within_two_thirds_of_their_length_since_last_known_held() {
        use super::fresh;
        assert!(fresh(1_000, 1_000, 30_000));
        assert!(fresh(1_000, 20_999, 30_000));
        assert!(!fresh(1_000, 21_000, 30_000));
        // Known lost.
        assert!(!fresh(0, 1, 30_000));
    }

    #[test]
    fn a_process_number_is_looked_up_only_in_the_space_it_came_from() {
        use super::gone_from;
        let here = "vm/aaaaaa";
        let me = "vm/aaaaaa:1:000001";
        let alive = |pid: u32| pid == 1 || pid == 7;
        // Two containers sharing the host name, each edigate being process 1 of its own
        // namespace: the other is not taken for an earlier self, nor its 7 for this one's 7.
        assert!(!gone_from("vm/bbbbbb:1:000002", here, 1, me, alive));
        assert!(!gone_from("vm/bbbbbb:9:000002", here, 1, me, alive));
        // In this space: an earlier process with this number, or a number not in use, is gone.
        assert!(gone_from("vm/aaaaaa:1:000002", here, 1, me, alive));
        assert!(gone_from("vm/aaaaaa:9:000002", here, 1, me, alive));
        assert!(!gone_from("vm/aaaaaa:7:000002", here, 1, me, alive));
        assert!(!gone_from(me, here, 1, me, alive));
        // A name from before spaces were named, or one that does not parse, is never gone.
        assert!(!gone_from("vm:9:000002", here, 1, me, alive));
        assert!(!gone_from("garbage", here, 1, me, alive));
        // This process's own space is named after its host.
        assert!(super::node_name().starts_with(&format!("{}/", super::host_name())));
    }
}
