//! Read models for operators: what `edigate status` and `edigate metrics` show, computed once
//! from the store and the configuration as serialisable values, which the CLI prints and the
//! admin API returns as JSON (or, for metrics, as Prometheus text).

use crate::config::Config;
use crate::store::{State, Store, StoreError};
use serde::Serialize;
use std::fmt::Write as _;

/// A channel and what waits in its folder.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStatus {
    pub name: String,
    /// Its folder (relative to the configuration) or its remote address.
    pub origin: String,
    pub partner: Option<String>,
    /// Files waiting in its folder; `None` for remote channels.
    pub waiting: Option<usize>,
    /// Entries that are not plain files (links, folders, FIFOs), never taken.
    pub not_files: usize,
    /// When its partner expects files every so often and none came for longer: since when
    /// (the last file's time, or `never`).
    pub quiet_since: Option<String>,
}

/// Files by where they stand.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCounts {
    pub in_flight: i64,
    pub quarantined: i64,
    pub done: i64,
    pub duplicates: i64,
    pub discarded: i64,
}

/// The last poll of a scheduled channel (or the storage probe, or the configuration).
#[derive(Debug, Clone, Serialize)]
pub struct HealthStatus {
    pub channel: String,
    pub ok: bool,
    pub last_poll_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    pub failures: i64,
}

/// A target's deliveries and its breaker.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub name: String,
    pub kind: String,
    pub waiting: i64,
    pub pending: i64,
    pub delivered: i64,
    pub rejected: i64,
    pub dead: i64,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
    pub opened_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadStatus {
    pub channel: String,
    pub pending: i64,
    pub done: i64,
}

pub use crate::store::{AnomalyCount, FailingFile, HeldProcess};

/// Everything `edigate status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub channels: Vec<ChannelStatus>,
    pub files: FileCounts,
    pub health: Vec<HealthStatus>,
    pub targets: Vec<TargetStatus>,
    pub uploads: Vec<UploadStatus>,
    /// Rejection advice per state (`sent`, `not_asked`, ...).
    pub advices: Vec<(String, i64)>,
    /// Route processes per state, in the order a process goes through.
    pub processes: Vec<(String, i64)>,
    pub held_processes: Vec<HeldProcess>,
    pub failing: Vec<FailingFile>,
    pub anomalies: Vec<AnomalyCount>,
    /// Interchanges sent, by the state of the acknowledgement they are owed.
    pub sent_interchanges: Vec<(String, i64)>,
    /// Those whose acknowledgement is overdue now.
    pub acks_overdue: i64,
    /// Alerts to webhooks per state (`pending`, `sent`, `dead`).
    pub alerts: Vec<(String, i64)>,
    /// The nodes sharing a PostgreSQL store, the active one (holding the lease) first; empty
    /// on SQLite.
    pub nodes: Vec<crate::store::NodeRow>,
    /// A node without a heartbeat for longer than this many seconds (one lease) is silent:
    /// stopped without a goodbye (killed, its host gone) or cut off from the database.
    pub nodes_silent_after: u64,
}

/// Computes the status.
pub fn status(cfg: &Config, store: &Store) -> Result<Status, StoreError> {
    let channels = cfg
        .channels
        .iter()
        .map(|c| {
            let count = crate::intake::folder_count(c);
            ChannelStatus {
                name: c.name.clone(),
                origin: match c.dir() {
                    Some(d) => cfg.rel(d),
                    None => c.origin(cfg, ""),
                },
                partner: c.partner.clone(),
                waiting: count.as_ref().map(|n| n.waiting),
                not_files: count.map_or(0, |n| n.not_files),
                quiet_since: None,
            }
        })
        .collect::<Vec<_>>();
    let mut channels = channels;
    let now = crate::util::Utc::now();
    for c in &mut channels {
        let every = c
            .partner
            .as_deref()
            .and_then(|p| cfg.partner(p))
            .and_then(|p| p.expected_interval_minutes);
        if let Some(every) = every {
            let last = store.channel_activity(&c.name)?.last_file_at;
            let quiet = last
                .as_deref()
                .and_then(crate::util::Utc::parse_rfc3339)
                .is_none_or(|t| now.epoch - t.epoch > every as i64 * 60);
            if quiet {
                c.quiet_since = Some(last.unwrap_or_else(|| "never".into()));
            }
        }
    }
    let (counts, duplicates) = store.counts()?;
    let n = |s: State| counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let files = FileCounts {
        in_flight: n(State::Received)
            + n(State::Parsed)
            + n(State::Translated)
            + n(State::Delivered),
        quarantined: n(State::Quarantined),
        done: n(State::Archived),
        duplicates,
        discarded: n(State::Discarded),
    };
    let health = store
        .health()?
        .into_iter()
        .map(|h| HealthStatus {
            ok: h.last_error.is_none(),
            channel: h.channel,
            last_poll_at: h.last_poll_at,
            last_ok_at: h.last_ok_at,
            last_error: h.last_error,
            failures: h.failures,
        })
        .collect();
    let deliveries = store.delivery_counts()?;
    let mut targets = Vec::new();
    for t in &cfg.targets {
        let n = |state: &str| {
            deliveries
                .iter()
                .find(|(tg, s, _)| tg == &t.name && s == state)
                .map_or(0, |x| x.2)
        };
        let b = store.breaker(&t.name)?;
        targets.push(TargetStatus {
            name: t.name.clone(),
            kind: t.kind.as_str().to_string(),
            waiting: n("waiting"),
            pending: n("pending"),
            delivered: n("delivered"),
            rejected: n("rejected"),
            dead: n("dead"),
            breaker: b.state,
            opened_at: b.opened_at,
        });
    }
    let uploads = store
        .upload_counts()?
        .into_iter()
        .map(|(channel, pending, done)| UploadStatus {
            channel,
            pending,
            done,
        })
        .collect();
    let mut processes: Vec<(String, i64)> = Vec::new();
    for (_, state, n) in store.process_counts()? {
        match processes.iter_mut().find(|(s, _)| *s == state) {
            Some(e) => e.1 += n,
            None => processes.push((state, n)),
        }
    }
    let rank = |s: &str| {
        ["running", "done", "compensated", "held"]
            .iter()
            .position(|x| *x == s)
    };
    processes.sort_by_key(|(s, _)| rank(s));
    let held_processes = store.held_processes()?;
    let failing = store.failing_files()?;
    let anomalies = store.anomaly_counts()?;
    let acks_overdue = store.overdue_ack_count(crate::util::Utc::now())?;
    Ok(Status {
        sent_interchanges: store.sent_interchange_counts()?,
        alerts: store.alert_counts()?,
        nodes: store.nodes()?,
        nodes_silent_after: cfg.store.lease_seconds,
        acks_overdue,
        channels,
        files,
        health,
        targets,
        uploads,
        advices: store.advice_counts()?,
        processes,
        held_processes,
        failing,
        anomalies,
    })
}

/// The status as text for a terminal; `escape` makes values from inputs safe to print.
pub fn status_text(s: &Status, escape: impl Fn(&str) -> String) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "channels:");
    for c in &s.channels {
        let _ = writeln!(
            o,
            "  {:<16} {:<40} waiting {}{}",
            c.name,
            c.origin,
            c.waiting.map_or("-".to_string(), |n| n.to_string()),
            if c.not_files > 0 {
                format!(
                    ", not taken {} (links, folders or FIFOs: only plain files are)",
                    c.not_files
                )
            } else {
                String::new()
            }
        );
    }
    let f = &s.files;
    let _ = writeln!(o, "files:");
    let _ = writeln!(o, "  in flight    {}", f.in_flight);
    let _ = writeln!(o, "  quarantined  {}", f.quarantined);
    let _ = writeln!(
        o,
        "  done         {} (of which {} duplicate)",
        f.done, f.duplicates
    );
    let _ = writeln!(o, "  discarded    {}", f.discarded);
    if !s.health.is_empty() {
        let _ = writeln!(o, "channel health:");
        for h in &s.health {
            match &h.last_error {
                None => {
                    let _ = writeln!(
                        o,
                        "  {:<16} ok, last poll {}",
                        h.channel,
                        h.last_poll_at.as_deref().unwrap_or("-")
                    );
                }
                Some(e) => {
                    let _ = writeln!(
                        o,
                        "  {:<16} FAILING ({} in a row, last success {}): {e}",
                        h.channel,
                        h.failures,
                        h.last_ok_at.as_deref().unwrap_or("never")
                    );
                }
            }
        }
    }
    if !s.targets.is_empty() {
        let _ = writeln!(o, "deliveries:");
        for t in &s.targets {
            let waiting = if t.waiting > 0 {
                format!(", waiting for their step {}", t.waiting)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "  {:<16} pending {}, delivered {}, rejected {}, dead {}; circuit {}{waiting}",
                t.name, t.pending, t.delivered, t.rejected, t.dead, t.breaker
            );
        }
    }
    if !s.uploads.is_empty() {
        let _ = writeln!(o, "uploads:");
        for u in &s.uploads {
            let _ = writeln!(
                o,
                "  {:<16} pending {}, done {}",
                u.channel, u.pending, u.done
            );
        }
    }
    if !s.advices.is_empty() {
        let parts: Vec<String> = s
            .advices
            .iter()
            .map(|(st, n)| format!("{st} {n}"))
            .collect();
        let _ = writeln!(o, "rejection advice to partners: {}", parts.join(", "));
    }
    if !s.processes.is_empty() {
        let parts: Vec<String> = s
            .processes
            .iter()
            .map(|(st, n)| format!("{n} {st}"))
            .collect();
        let _ = writeln!(o, "route processes: {}", parts.join(", "));
        for h in &s.held_processes {
            let _ = writeln!(
                o,
                "  held: route {} record {} at step {}: {}",
                escape(&h.route),
                h.record_id,
                h.step,
                escape(&h.reason)
            );
        }
    }
    if !s.sent_interchanges.is_empty() {
        let parts: Vec<String> = s
            .sent_interchanges
            .iter()
            .map(|(st, n)| format!("{st} {n}"))
            .collect();
        let _ = writeln!(
            o,
            "acknowledgements owed by partners: {}; overdue {}",
            parts.join(", "),
            s.acks_overdue
        );
    }
    if !s.alerts.is_empty() {
        let parts: Vec<String> = s.alerts.iter().map(|(st, n)| format!("{st} {n}")).collect();
        let _ = writeln!(o, "alerts to webhooks: {}", parts.join(", "));
    }
    if !s.nodes.is_empty() {
        let _ = writeln!(o, "nodes:");
        for n in &s.nodes {
            let role = match (&n.fence, &n.lease_until) {
                (Some(fence), Some(until)) => {
                    format!("active, lease until {until} (fence {fence})")
                }
                _ if n.silent_seconds > s.nodes_silent_after as i64 => {
                    "silent: stopped without a goodbye, or cut off from the database".to_string()
                }
                _ => "standby".to_string(),
            };
            let _ = writeln!(
                o,
                "  {:<32} {role}; seen {} s ago; advancing {} claimed files; sending {} claimed deliveries{}",
                escape(&n.node),
                n.silent_seconds,
                n.files,
                n.claims,
                n.admin
                    .as_deref()
                    .map(|a| format!("; console {}", escape(a)))
                    .unwrap_or_default()
            );
        }
    }
    if !s.failing.is_empty() {
        let _ = writeln!(
            o,
            "steps failing (retried with backoff; after {} failed writes a file goes to the quarantine):",
            crate::pipeline::MAX_WRITE_ATTEMPTS
        );
        for f in &s.failing {
            let _ = writeln!(
                o,
                "  file {} {} ({}): {} failure(s), next try {}: {}",
                f.id,
                escape(&f.name),
                f.state,
                f.failures,
                f.retry_at,
                escape(&f.error)
            );
        }
    }
    if !s.anomalies.is_empty() {
        let _ = writeln!(
            o,
            "anomalies (kept in the state database; each was logged):"
        );
        for a in &s.anomalies {
            let _ = writeln!(
                o,
                "  {:<24} {}, latest: {}",
                a.kind,
                a.count,
                escape(&a.latest)
            );
        }
    }
    o
}

/// A label value escaped for the Prometheus text format.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of the store's facts (what `edigate metrics` prints and
/// `GET /metrics` serves).
pub fn metrics_text(cfg: &Config, store: &Store) -> Result<String, StoreError> {
    let mut out = String::new();
    let (counts, dups) = store.counts()?;
    out.push_str("# HELP edigate_files Input files by state.\n# TYPE edigate_files gauge\n");
    for s in State::ALL {
        let n = counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "edigate_files{{state=\"{}\"}} {n}", s.as_str());
    }
    let _ = writeln!(out, "# HELP edigate_duplicate_files Files received again with known content.\n# TYPE edigate_duplicate_files gauge\nedigate_duplicate_files {dups}");
    out.push_str("# HELP edigate_quarantined_files Files waiting in the quarantine.\n# TYPE edigate_quarantined_files gauge\n");
    let quarantined = counts
        .iter()
        .find(|(x, _)| *x == State::Quarantined)
        .map_or(0, |(_, n)| *n);
    let _ = writeln!(out, "edigate_quarantined_files {quarantined}");
    out.push_str("# HELP edigate_channel_up Whether the last poll of a scheduled channel (or the storage probe) succeeded.\n# TYPE edigate_channel_up gauge\n");
    for h in store.health()? {
        let up = u8::from(h.last_error.is_none());
        let _ = writeln!(
            out,
            "edigate_channel_up{{channel=\"{}\"}} {up}",
            label(&h.channel)
        );
        let _ = writeln!(
            out,
            "edigate_channel_failures{{channel=\"{}\"}} {}",
            label(&h.channel),
            h.failures
        );
        if let Some(e) = &h.last_error {
            let _ = writeln!(
                out,
                "edigate_channel_error_info{{channel=\"{}\",error=\"{}\"}} 1",
                label(&h.channel),
                label(e)
            );
        }
    }
    out.push_str("# HELP edigate_deliveries Deliveries to targets by state.\n# TYPE edigate_deliveries gauge\n");
    for (target, state, n) in store.delivery_counts()? {
        let _ = writeln!(
            out,
            "edigate_deliveries{{target=\"{}\",state=\"{state}\"}} {n}",
            label(&target)
        );
    }
    out.push_str("# HELP edigate_breaker_open Whether a target's circuit breaker is open.\n# TYPE edigate_breaker_open gauge\n");
    for t in &cfg.targets {
        let open = u8::from(store.breaker(&t.name)?.state == "open");
        let _ = writeln!(
            out,
            "edigate_breaker_open{{target=\"{}\"}} {open}",
            label(&t.name)
        );
    }
    out.push_str("# HELP edigate_uploads Uploads to partners' SFTP folders by state.\n# TYPE edigate_uploads gauge\n");
    for (channel, pending, done) in store.upload_counts()? {
        let _ = writeln!(
            out,
            "edigate_uploads{{channel=\"{}\",state=\"pending\"}} {pending}",
            label(&channel)
        );
        let _ = writeln!(
            out,
            "edigate_uploads{{channel=\"{}\",state=\"done\"}} {done}",
            label(&channel)
        );
    }
    out.push_str("# HELP edigate_acks_overdue Interchanges sent whose functional acknowledgement is overdue.\n# TYPE edigate_acks_overdue gauge\n");
    let _ = writeln!(
        out,
        "edigate_acks_overdue {}",
        store.overdue_ack_count(crate::util::Utc::now())?
    );
    out.push_str("# HELP edigate_files_failing Files whose current step failed and waits for its retry.\n# TYPE edigate_files_failing gauge\n");
    let _ = writeln!(
        out,
        "edigate_files_failing {}",
        store.failing_files()?.len()
    );
    out.push_str("# HELP edigate_anomalies_total Things that must not pass silently (key conflicts, worker restarts, panics), by kind.\n# TYPE edigate_anomalies_total counter\n");
    for a in store.anomaly_counts()? {
        let _ = writeln!(
            out,
            "edigate_anomalies_total{{kind=\"{}\"}} {}",
            label(&a.kind),
            a.count
        );
    }
    Ok(out)
}
