//! The state store: one SQLite file (WAL). All SQL of the appliance lives in this module;
//! every state change is one transaction and leaves an audit event.

use crate::util::Utc;
use db::{params, Db, Row, Tx};
use std::path::Path;
use std::time::SystemTime;
use thiserror::Error;

mod advices;
mod alerts;
mod claims;
mod copy;
pub(crate) mod db;
mod nodes;
mod routes;
mod steps;
mod tracking;
pub use advices::{AdviceDoc, AdviceRow};
pub use alerts::AlertRow;
pub use copy::Copied;
pub use db::{write_under, WRITER_LOCK};
pub use nodes::NodeRow;
pub use routes::{ModeChange, RoutedDelivery, RoutedRecord};
pub use steps::{HeldProcess, Next, Process, ProcessRow, StepDelivery, StepOutcome};
pub use tracking::{KeyedRecord, TrackedDelivery};

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or failed, in its own words: no backend's error type leaves the
    /// store.
    #[error("state database: {0}")]
    Database(String),
    #[error("file {0} is not known")]
    NotFound(i64),
    #[error("file {id} is {state}, not {expected}")]
    WrongState {
        id: i64,
        state: String,
        expected: &'static str,
    },
    #[error("state database is at version {found}, this binary expects {expected}: a newer database needs the edigate that wrote it, an older one is migrated by running edigate once")]
    Outdated { found: i64, expected: usize },
    /// This node's lease was taken by another node: it must not write any more.
    #[error("this node lost its lease (fence {fence}) to another node and writes nothing more")]
    Fenced { fence: i64 },
    /// Another node took the claim on a file this node was advancing (this node's claim ran
    /// out): the work is rolled back and left to that node.
    #[error(
        "another node took over a file this node was advancing; its work on it is rolled back"
    )]
    ClaimLost,
    /// `[store]` names a database that cannot be reached as configured.
    #[error("[store]: {0}")]
    Unconfigured(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a file is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Content committed to the spool; nothing else done.
    Received,
    /// Parsed; envelope facts recorded.
    Parsed,
    /// Records and acknowledgements committed as pending outputs.
    Translated,
    /// Every output written to the outbox.
    Delivered,
    /// Input moved to the archive. Final.
    Archived,
    /// Input moved to quarantine, waiting for an operator.
    Quarantined,
    /// Dropped by an operator from quarantine; the input is kept in the archive. Final.
    Discarded,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Received,
        State::Parsed,
        State::Translated,
        State::Delivered,
        State::Archived,
        State::Quarantined,
        State::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Parsed => "parsed",
            State::Translated => "translated",
            State::Delivered => "delivered",
            State::Archived => "archived",
            State::Quarantined => "quarantined",
            State::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One input file as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub id: i64,
    pub channel: String,
    pub partner: Option<String>,
    pub name: String,
    pub sha256: String,
    pub size: i64,
    pub state: State,
    pub attempt: i64,
    pub duplicate_of: Option<i64>,
    /// Where the content is now, relative to the data folder's parent or absolute.
    pub blob: String,
    /// JSON: why it is quarantined (or will be after its outputs are written).
    pub refusal: Option<String>,
    pub received_at: String,
    pub updated_at: String,
    /// Reprocessed from the archive by `edigate replay`: no acknowledgements are sent again.
    pub replay: bool,
    /// Document types found when parsing (`850,810`, `ORDERS`), comma separated.
    pub documents: String,
    /// Failed attempts at the current step (writing outputs, placing the content).
    pub failures: i64,
    /// When the current step may be tried again after a failure (RFC 3339).
    pub retry_at: Option<String>,
    /// The last failure of the current step.
    pub last_error: Option<String>,
}

/// A new file to record at intake.
pub struct NewFile<'a> {
    pub channel: &'a str,
    pub partner: Option<&'a str>,
    pub name: &'a str,
    pub source_key: &'a str,
    pub sha256: &'a str,
    pub size: i64,
    pub blob: &'a str,
}

/// An output waiting to be written (or written) to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRow {
    pub id: i64,
    pub file_id: i64,
    pub kind: String,
    pub path: String,
    pub content: Vec<u8>,
    pub written: bool,
    /// Where the content is kept instead (a spool file, relative to the configuration), for
    /// outputs too large for the database.
    pub stored: Option<String>,
}

/// An output to commit with a translation.
pub struct NewOutput<'r> {
    pub kind: String,
    pub path: String,
    pub content: Content<'r>,
    /// SFTP channels this output is also uploaded to (their `outbound_dir`).
    pub uploads: Vec<String>,
    /// An interchange sent to a partner whose functional acknowledgement is due.
    pub awaits_ack: Option<AwaitsAck>,
}

/// An interchange we send whose 997/999/CONTRL the partner owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitsAck {
    pub partner: String,
    /// `x12` or `edifact`.
    pub syntax: String,
    /// The number the acknowledgement echoes (X12 GS06, EDIFACT UNB 0020).
    pub control: String,
    /// `850`, `INVOIC`.
    pub document: String,
    pub due_minutes: u64,
}

/// A functional acknowledgement received, answering one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckAnswer {
    pub syntax: String,
    pub control: String,
    /// `accepted`, `accepted_with_errors`, `partially_accepted`, `rejected`.
    pub status: String,
    /// The status is the whole group's or interchange's, not one transaction's.
    pub whole: bool,
}

/// An interchange sent and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentInterchange {
    pub id: i64,
    pub partner: String,
    pub syntax: String,
    pub control: String,
    pub document: String,
    pub file_id: i64,
    pub path: String,
    pub sent_at: String,
    pub due_at: String,
    pub state: String,
    pub ack_at: Option<String>,
}

/// What an output holds.
pub enum Content<'r> {
    Bytes(Vec<u8>),
    /// JSON Lines: each line is written into the stored output followed by a newline, with
    /// no copy of the whole made first.
    Lines(Vec<&'r str>),
    /// Kept as a (synced) spool file at this path, relative to the configuration, of `len`
    /// bytes: too large for the database.
    Stored {
        path: String,
        len: usize,
    },
}

impl Content<'_> {
    pub fn len(&self) -> usize {
        match self {
            Content::Bytes(b) => b.len(),
            Content::Lines(lines) => lines.iter().map(|l| l.len() + 1).sum(),
            Content::Stored { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A delivery of one record to one target, committed with the record.
pub struct NewDelivery<'r> {
    pub record_id: String,
    pub target: String,
    /// The record's id and the target's name: the record's identity, so that no two records
    /// share a key and the same record (replayed, retranslated) always gets the same one.
    pub idem_key: String,
    pub payload: &'r [u8],
    /// The migration route covering the record, the side this target is on, and the route's
    /// mode now. The mode a record is first routed under is kept; a delivery its kept mode
    /// does not send to is not queued.
    pub route: Option<RouteTag>,
}

/// Where a routed delivery stands in its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTag {
    pub route: String,
    pub side: crate::migration::Side,
    pub mode: crate::migration::Mode,
    /// The route runs steps: the record's process starts at its first step.
    pub orchestrated: bool,
    /// This delivery is a step of that process: it waits (`waiting`) until its step comes.
    pub waits: bool,
}

/// A delivery due for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub target: String,
    pub idem_key: String,
    pub payload: Vec<u8>,
    pub attempts: i64,
    pub created_at: String,
    /// A request may have reached the target before (an attempt was settled, or one was
    /// started and its outcome never recorded: a crash): connectors without idempotency
    /// keys look the document up before creating it.
    pub maybe_sent: bool,
    /// The input file the record came from.
    pub file_id: i64,
    /// The number of the claim under which this node sends it (its outcome is recorded only
    /// while that claim is still the delivery's).
    pub claim_no: i64,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: u16,
        /// The system's own id for what it created (or found by business key).
        system_id: Option<String>,
        /// A bounded excerpt of its answer.
        response: String,
    },
    /// Try again at `next_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_at: Utc,
    },
    /// Transient failures exhausted: dead letter.
    Dead { status: Option<u16>, error: String },
    /// The target refused the record for a business reason: exception queue.
    Rejected { status: u16, error: String },
}

/// A circuit breaker's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    /// `closed`, `open` or `half_open`.
    pub state: String,
    pub failures: i64,
    pub opened_at: Option<String>,
}

/// An upload waiting for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: i64,
    pub remote_name: String,
    pub content: Vec<u8>,
    pub attempts: i64,
}

/// The last known state of a polled channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub channel: String,
    pub last_poll_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    pub failures: i64,
}

/// A file whose current step failed and waits for its retry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailingFile {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub failures: i64,
    /// RFC 3339, or empty.
    pub retry_at: String,
    pub error: String,
}

/// How many anomalies of one kind were kept, and the latest one's detail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnomalyCount {
    pub kind: String,
    pub count: i64,
    pub latest: String,
}

/// One audit event of a file: when, the state (or `delivery`, an operator action), what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventRow {
    pub at: String,
    pub state: String,
    pub detail: String,
}

/// What a channel brought lately.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelActivity {
    pub last_file_at: Option<String>,
    pub files_today: i64,
    pub quarantined: i64,
}

/// Business keys of one record, indexed for tracking.
pub struct RecordKeys {
    pub id: String,
    pub schema: String,
    pub partner: String,
    pub keys: Vec<(String, String)>,
    /// A functional acknowledgement's answer to an interchange we sent.
    pub answers: Option<AckAnswer>,
}

/// No interchange, for [`Store::mark_parsed`] of a file that has none.
pub fn no_interchanges() -> std::iter::Empty<Result<InterchangeRow>> {
    std::iter::empty()
}

/// An interchange received, for duplicate detection and tracking.
pub struct InterchangeRow {
    pub partner: String,
    pub sender: String,
    pub control: String,
}

/// The schema, one file per version (`migrations/sqlite/NNNN_*.sql`), applied in order.
/// The schema version written in the database (0 for a new one).
fn schema_version(conn: &Db) -> Result<i64> {
    match conn.lite() {
        Some(lite) => Ok(lite.pragma_query_value(None, "user_version", |r| r.get(0))?),
        None => {
            let known: bool = conn.query_row(
                "SELECT to_regclass('edigate_schema') IS NOT NULL",
                params![],
                |r| r.get(0),
            )?;
            if !known {
                return Ok(0);
            }
            Ok(conn
                .query_opt("SELECT version FROM edigate_schema", params![], |r| {
                    r.get(0)
                })?
                .unwrap_or(0))
        }
    }
}

/// The schema of each engine, one file per change, applied in order.
fn migrations(engine: db::Engine) -> &'static [&'static str] {
    match engine {
        db::Engine::Sqlite => SQLITE_MIGRATIONS,
        db::Engine::Postgres => POSTGRES_MIGRATIONS,
    }
}

const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_initial.sql"),
    include_str!("migrations/postgres/0002_nodes.sql"),
    include_str!("migrations/postgres/0003_delivery_claims.sql"),
    include_str!("migrations/postgres/0004_file_claims.sql"),
    include_str!("migrations/postgres/0005_node_consoles.sql"),
];

const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_initial.sql"),
    include_str!("migrations/sqlite/0002_channels_and_uploads.sql"),
    include_str!("migrations/sqlite/0003_deliveries_and_breakers.sql"),
    include_str!("migrations/sqlite/0004_replays_and_exceptions.sql"),
    include_str!("migrations/sqlite/0005_lookups_by_owner.sql"),
    include_str!("migrations/sqlite/0006_anomalies_and_retries.sql"),
    include_str!("migrations/sqlite/0007_target_responses.sql"),
    include_str!("migrations/sqlite/0008_migration_routes.sql"),
    include_str!("migrations/sqlite/0009_advices.sql"),
    include_str!("migrations/sqlite/0010_orchestrations.sql"),
    include_str!("migrations/sqlite/0011_sent_interchanges.sql"),
    include_str!("migrations/sqlite/0012_alerts.sql"),
    include_str!("migrations/sqlite/0013_channel_tiles.sql"),
    include_str!("migrations/sqlite/0014_stored_outputs.sql"),
    include_str!("migrations/sqlite/0015_delivery_claims.sql"),
    include_str!("migrations/sqlite/0016_file_claims.sql"),
];

/// Where the state database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    /// `postgres://user@host:port/db`; the password in the URL or given apart.
    Postgres {
        url: String,
        password: Option<String>,
        /// How long a transaction of this process may stand idle before the server ends its
        /// session (`idle_in_transaction_session_timeout`): a node frozen or cut off inside a
        /// transaction releases the writers' lock after this long instead of holding every
        /// other node up until it wakes.
        idle_seconds: u64,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Location::Postgres { .. } => write!(f, "postgres"),
        }
    }
}

/// A PostgreSQL client for the store: the password given apart wins over the URL's, and
/// string literals are standard (the store quotes its values for that).
fn connect_postgres(url: &str, password: Option<&str>, idle_seconds: u64) -> Result<Db> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
        StoreError::Database(
            "the PostgreSQL URL is not valid (postgres://user@host:port/db)".into(),
        )
    })?;
    if let Some(p) = password {
        config.password(p);
    }
    config.application_name("edigate");
    config.connect_timeout(std::time::Duration::from_secs(10));
    let pg = db::Pg::connect(&config)?;
    let db = Db::postgres(pg);
    db.execute_batch(&format!(
        "SET standard_conforming_strings = on; SET client_min_messages = warning;
         SET idle_in_transaction_session_timeout = '{}s'",
        idle_seconds.max(1)
    ))?;
    Ok(db)
}

/// The open state database.
pub struct Store {
    conn: Db,
    clock: Clock,
}

/// Where the store's time comes from: given when it is opened (the system clock in the
/// service, a fixed one in tests); the store never reads a clock of its own.
pub type Clock = fn() -> std::time::SystemTime;

/// One reading of the store's clock, written into rows as text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(std::time::SystemTime);

impl From<Utc> for Stamp {
    fn from(t: Utc) -> Stamp {
        let secs = u64::try_from(t.epoch).unwrap_or(0);
        Stamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }
}

impl Stamp {
    fn utc(self) -> Utc {
        Utc::of(self.0)
    }

    /// `2026-05-17T10:15:00Z`
    fn secs(self) -> String {
        self.utc().rfc3339()
    }

    /// `2026-05-17T10:15:00.123Z`: for what latencies are measured on.
    fn millis(self) -> String {
        Utc::rfc3339_ms(self.0)
    }
}

const FILE_COLUMNS: &str = "id, channel, partner, name, sha256, size, state, attempt, duplicate_of, blob, refusal, received_at, updated_at, replay, documents, failures, retry_at, last_error";

fn file_row(r: &Row<'_>) -> Result<FileRow> {
    let state: String = r.get(6)?;
    Ok(FileRow {
        id: r.get(0)?,
        channel: r.get(1)?,
        partner: r.get(2)?,
        name: r.get(3)?,
        sha256: r.get(4)?,
        size: r.get(5)?,
        state: State::parse(&state).unwrap_or(State::Received),
        attempt: r.get(7)?,
        duplicate_of: r.get(8)?,
        blob: r.get(9)?,
        refusal: r.get(10)?,
        received_at: r.get(11)?,
        updated_at: r.get(12)?,
        replay: r.get(13)?,
        documents: r.get(14)?,
        failures: r.get(15)?,
        retry_at: r.get(16)?,
        last_error: r.get(17)?,
    })
}

/// Runs one statement through the connection's statement cache (the hot paths run the same
/// few statements for every file).
/// A translation being committed ([`Store::begin_translation`]); dropped without
/// [`TranslationTx::finish`], it leaves nothing.
pub struct TranslationTx<'s> {
    tx: Tx<'s>,
    id: i64,
    stamp: Stamp,
    /// Deliveries refused because their key is held by another record.
    conflicts: Vec<String>,
}

impl TranslationTx<'_> {
    /// A transaction set or message rejected inside a file whose other content flows.
    pub fn exception(&mut self, e: &crate::translate::RejectedItem) -> Result<()> {
        exec(&self.tx,
            "INSERT INTO exceptions (file_id, document, control, interchange, code, reason, \"offset\", state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8) ON CONFLICT DO NOTHING",
            params![self.id, e.document, e.control, e.interchange, e.code, e.reason, e.offset as i64, self.stamp.secs()],
        )?;
        Ok(())
    }

    /// A record's delivery to a target (the same record already queued for it is not added
    /// again; another record holding its key is a conflict, kept as an anomaly).
    pub fn delivery(&mut self, d: &NewDelivery<'_>) -> Result<()> {
        let (tx, id, created) = (&self.tx, self.id, self.stamp.secs());
        let waits = d.route.as_ref().is_some_and(|t| t.waits);
        let (route, side, shadow) = match &d.route {
            None => (None, None, false),
            Some(tag) => {
                // The first routing decides the record's mode for good: a replay or a
                // retranslation after a mode change sends nothing the first did not.
                exec(tx,
                    "INSERT INTO record_routes (record_id, file_id, route, mode, routed_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![d.record_id, id, tag.route, tag.mode.as_str(), created],
                )?;
                if tag.orchestrated {
                    exec(tx,
                        "INSERT INTO orchestrations (record_id, file_id, route, state, step, next_at, updated_at) VALUES (?1, ?2, ?3, 'running', 0, ?4, ?4) ON CONFLICT DO NOTHING",
                        params![d.record_id, id, tag.route, created],
                    )?;
                }
                let kept: String = tx.query_row(
                    "SELECT mode FROM record_routes WHERE record_id = ?1",
                    params![&d.record_id],
                    |r| r.get(0),
                )?;
                let mode = crate::migration::Mode::parse(&kept).unwrap_or(tag.mode);
                if !mode.sends(tag.side) {
                    return Ok(());
                }
                (
                    Some(tag.route.as_str()),
                    Some(tag.side.as_str()),
                    !mode.live(tag.side),
                )
            }
        };
        let added = count(tx,
            "INSERT INTO deliveries (record_id, file_id, target, idem_key, payload, state, next_at, created_at, route, side, shadow)
             VALUES (?1, ?2, ?3, ?4, ?5, ?10, ?6, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            params![d.record_id, id, d.target, d.idem_key, d.payload, created, route, side, shadow, if waits { "waiting" } else { "pending" }],
        )?;
        if added == 1 {
            return Ok(());
        }
        // Already known: the same record for the same target (a replay, a repeated step)
        // is expected and is not sent again; anything else is a key that collides with
        // another record's, which must never pass silently.
        let holder: Option<(String, i64)> = tx
            .query_opt("SELECT record_id, file_id FROM deliveries WHERE target = ?1 AND (idem_key = ?2 OR record_id = ?3) LIMIT 1", params![d.target, d.idem_key, d.record_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        match holder {
            Some((record, _)) if record == d.record_id => {}
            other => {
                let detail = format!(
                    "record {} for target {}: key {:?} is already held by record {} (file {}); not queued",
                    d.record_id,
                    d.target,
                    d.idem_key,
                    other.as_ref().map_or("?", |o| o.0.as_str()),
                    other.as_ref().map_or(0, |o| o.1),
                );
                anomaly_in(tx, self.stamp, "delivery.key_conflict", Some(id), &detail)?;
                self.conflicts.push(detail);
            }
        }
        Ok(())
    }

    /// An output to write (and upload, and await an answer to).
    pub fn output(&mut self, o: &NewOutput<'_>) -> Result<()> {
        let (tx, id) = (&self.tx, self.id);
        // SQLite writes a records output's lines into the value in place, by its id.
        let in_place = matches!(o.content, Content::Lines(_)) && tx.lite().is_some();
        if o.uploads.is_empty() && o.awaits_ack.is_none() && !in_place {
            // Nothing refers to its id: on PostgreSQL no answer is waited for.
            let joined;
            let (content, stored): (&[u8], Option<&str>) = match &o.content {
                Content::Bytes(b) => (b, None),
                Content::Stored { path, .. } => (b"", Some(path)),
                Content::Lines(lines) => {
                    joined = join_lines(lines, o.content.len());
                    (&joined, None)
                }
            };
            return exec(
                tx,
                "INSERT INTO outputs (file_id, kind, path, content, stored) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, o.kind, o.path, content, stored],
            );
        }
        let output_id = match &o.content {
            Content::Bytes(b) => tx.query_row(
                "INSERT INTO outputs (file_id, kind, path, content) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                params![id, o.kind, o.path, b],
                |r| r.get(0),
            )?,
            Content::Stored { path, .. } => tx.query_row(
                "INSERT INTO outputs (file_id, kind, path, content, stored) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![id, o.kind, o.path, b"".as_slice(), path],
                |r| r.get(0),
            )?,
            Content::Lines(lines) => match tx.lite() {
                // SQLite writes the lines into the value in place, never joined in memory.
                Some(lite) => {
                    let output_id: i64 = tx.query_row(
                        "INSERT INTO outputs (file_id, kind, path, content) VALUES (?1, ?2, ?3, zeroblob(?4)) RETURNING id",
                        params![id, o.kind, o.path, o.content.len() as i64],
                        |r| r.get(0),
                    )?;
                    let mut blob = lite.blob_open(
                        rusqlite::MAIN_DB,
                        "outputs",
                        "content",
                        output_id,
                        false,
                    )?;
                    let mut at = 0;
                    for line in lines {
                        blob.write_at(line.as_bytes(), at)?;
                        blob.write_at(b"\n", at + line.len())?;
                        at += line.len() + 1;
                    }
                    output_id
                }
                None => {
                    let joined = join_lines(lines, o.content.len());
                    tx.query_row(
                        "INSERT INTO outputs (file_id, kind, path, content) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                        params![id, o.kind, o.path, joined],
                        |r| r.get(0),
                    )?
                }
            },
        };
        let remote = o.path.rsplit('/').next().unwrap_or(&o.path);
        let now = self.stamp.secs();
        for channel in &o.uploads {
            exec(tx,
                "INSERT INTO uploads (output_id, channel, remote_name, state, next_at) VALUES (?1, ?2, ?3, 'pending', ?4)",
                params![output_id, channel, remote, now],
            )?;
        }
        if let Some(a) = &o.awaits_ack {
            let due = Utc {
                epoch: self.stamp.utc().epoch + a.due_minutes as i64 * 60,
            };
            exec(tx,
                "INSERT INTO sent_interchanges (partner, syntax, control, document, file_id, output_id, sent_at, due_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'awaiting') ON CONFLICT DO NOTHING",
                params![a.partner, a.syntax, a.control, a.document, id, output_id, now, due.rfc3339()],
            )?;
        }
        Ok(())
    }

    /// A record made: its business keys, and the answer it gives when it is a functional
    /// acknowledgement of an interchange we sent.
    pub fn record(&mut self, r: &RecordKeys) -> Result<()> {
        let (tx, id, now) = (&self.tx, self.id, self.stamp.secs());
        if let Some(a) = &r.answers {
            // A late answer settles an overdue one too; the first answer counts.
            exec(tx,
                "UPDATE sent_interchanges SET state = ?4, ack_at = ?5, ack_file_id = ?6
                 WHERE partner = ?1 AND syntax = ?2 AND ltrim(control, '0') = ltrim(?3, '0') AND state = 'awaiting'",
                params![r.partner, a.syntax, a.control, a.status, now, id],
            )?;
            // The whole's status is the answer; transactions of the same answer that
            // differ make it partly accepted.
            let settle = if a.whole {
                "UPDATE sent_interchanges SET state = ?4 WHERE partner = ?1 AND syntax = ?2 AND ltrim(control, '0') = ltrim(?3, '0') AND ack_file_id = ?5"
            } else {
                "UPDATE sent_interchanges SET state = 'partially_accepted' WHERE partner = ?1 AND syntax = ?2 AND ltrim(control, '0') = ltrim(?3, '0') AND ack_file_id = ?5 AND state != ?4"
            };
            exec(
                tx,
                settle,
                params![r.partner, a.syntax, a.control, a.status, id],
            )?;
        }
        exec(
            tx,
            "INSERT INTO records (id, file_id, schema, partner) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET file_id = excluded.file_id, schema = excluded.schema, partner = excluded.partner",
            params![r.id, id, r.schema, r.partner],
        )?;
        exec(
            tx,
            "DELETE FROM record_keys WHERE record_id = ?1",
            params![&r.id],
        )?;
        for (k, v) in &r.keys {
            exec(
                tx,
                "INSERT INTO record_keys (record_id, key, value) VALUES (?1, ?2, ?3)",
                params![r.id, k, v],
            )?;
        }
        Ok(())
    }

    /// Commits: the file is translated, refused when `refusal` is set. Returns the deliveries
    /// refused because their key is held by another record, for the caller to log.
    pub fn finish(self, refusal: Option<&str>, detail: &str) -> Result<Vec<String>> {
        exec(
            &self.tx,
            "UPDATE files SET refusal = ?2 WHERE id = ?1",
            params![self.id, refusal],
        )?;
        event(&self.tx, self.stamp, self.id, State::Translated, detail)?;
        self.tx.commit()?;
        Ok(self.conflicts)
    }
}

/// A statement whose count nobody reads ([`Db::write`]: on PostgreSQL it goes with the next
/// round trip of the transaction).
/// Lines, each followed by a newline, as one value of `len` bytes.
fn join_lines(lines: &[&str], len: usize) -> Vec<u8> {
    let mut joined = Vec::with_capacity(len);
    for line in lines {
        joined.extend_from_slice(line.as_bytes());
        joined.push(b'\n');
    }
    joined
}

fn exec(conn: &Db, sql: &str, params: &[db::Value<'_>]) -> Result<()> {
    conn.write(sql, params)
}

/// A statement whose count is read: the rows it changed.
fn count(conn: &Db, sql: &str, params: &[db::Value<'_>]) -> Result<usize> {
    conn.execute(sql, params)
}

fn event(tx: &Db, stamp: Stamp, file_id: i64, state: State, detail: &str) -> Result<()> {
    exec(
        tx,
        "INSERT INTO events (file_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
        params![file_id, stamp.secs(), state.as_str(), detail],
    )?;
    Ok(())
}

fn anomaly_in(
    conn: &Db,
    stamp: Stamp,
    kind: &str,
    file_id: Option<i64>,
    detail: &str,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO anomalies (at, kind, file_id, detail) VALUES (?1, ?2, ?3, ?4)",
        params![stamp.secs(), kind, file_id, detail],
    )?;
    Ok(())
}

/// Takes `n` consecutive control numbers on `conn` (inside the caller's transaction);
/// returns the first.
fn draw_controls(conn: &Db, partner: &str, kind: &str, n: u64) -> Result<u64> {
    let v: i64 = conn.query_row(
        "INSERT INTO counters (partner, kind, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (partner, kind) DO UPDATE SET value = counters.value + excluded.value
         RETURNING value",
        params![partner, kind, n as i64],
        |r| r.get(0),
    )?;
    Ok(v as u64 + 1 - n)
}

/// An audit event of a delivery, under the file its record came from.
fn delivery_event(conn: &Db, stamp: Stamp, delivery: i64, what: &str) -> Result<()> {
    exec(
        conn,
        "INSERT INTO events (file_id, at, state, detail)
         SELECT file_id, ?2, 'delivery', ?3 || ' (delivery ' || id || ', target ' || target || ', record ' || record_id || ')' FROM deliveries WHERE id = ?1",
        params![delivery, stamp.secs(), what],
    )?;
    Ok(())
}

/// Records the outcome of one attempt on `conn` (inside the caller's transaction).
/// Records one attempt's outcome, if the claim `(node, claim_no)` is still the delivery's;
/// false (nothing written) when another node has claimed it since.
fn settle_in(
    conn: &Db,
    stamp: Stamp,
    (id, node, claim_no): (i64, &str, i64),
    attempt: &Attempt,
) -> Result<bool> {
    let now = stamp.millis();
    let (state, status, error, next_at): (&str, Option<u16>, Option<&str>, Option<String>) =
        match attempt {
            Attempt::Delivered { status, .. } => ("delivered", Some(*status), None, None),
            Attempt::Retry {
                status,
                error,
                next_at,
            } => ("pending", *status, Some(error), Some(next_at.rfc3339())),
            Attempt::Dead { status, error } => ("dead", *status, Some(error), None),
            Attempt::Rejected { status, error } => ("rejected", Some(*status), Some(error), None),
        };
    let changed = count(conn,
        "UPDATE deliveries SET state = ?2, attempts = attempts + 1, last_status = ?3, last_error = ?4,
             next_at = COALESCE(?5, next_at), delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 ELSE delivered_at END,
             claim_until = NULL
         WHERE id = ?1 AND state = 'pending' AND claimed_by = ?7 AND claim_no = ?8",
        params![id, state, status, error, next_at, now, node, claim_no],
    )?;
    if let (
        1,
        Attempt::Delivered {
            system_id,
            response,
            ..
        },
    ) = (changed, attempt)
    {
        exec(
            conn,
            "UPDATE deliveries SET system_id = ?2, response = ?3 WHERE id = ?1",
            params![id, system_id, response],
        )?;
        // The system's id is a correlation key of the record: "where is invoice INV-1?" can
        // answer with it (key: the target's name).
        if let Some(sid) = system_id {
            exec(
                conn,
                "INSERT INTO record_keys (record_id, key, value) SELECT record_id, target, ?2 FROM deliveries WHERE id = ?1",
                params![id, sid],
            )?;
        }
    }
    if let (1, Attempt::Rejected { error, .. }) = (changed, attempt) {
        // A live side's rejection may travel back to the partner (see `advices`); a shadow
        // side's never does. The first rejection of a record is the one told.
        exec(
            conn,
            "INSERT INTO advices (record_id, delivery_id, file_id, target, error, created_at, state)
             SELECT record_id, id, file_id, target, ?2, ?3, 'due' FROM deliveries WHERE id = ?1 AND shadow = 0 ON CONFLICT DO NOTHING",
            params![id, error, now],
        )?;
    }
    if changed == 1 {
        let what = match (attempt, status) {
            (Attempt::Retry { .. }, _) => "delivery attempt failed; retry due".to_string(),
            (
                Attempt::Delivered {
                    system_id: Some(sid),
                    ..
                },
                Some(s),
            ) => format!("{state}, HTTP {s}, system id {sid}"),
            (_, Some(s)) => format!("{state}, HTTP {s}"),
            (_, None) => state.to_string(),
        };
        delivery_event(conn, stamp, id, &what)?;
    }
    Ok(changed == 1)
}

/// The first live file with this content (not discarded, not itself a duplicate).
fn original(conn: &Db, sha256: &str) -> Result<Option<i64>> {
    conn
        .query_opt("SELECT id FROM files WHERE sha256 = ?1 AND state != 'discarded' AND duplicate_of IS NULL ORDER BY id LIMIT 1", params![sha256],
            |r| r.get(0),)
}

/// Inserts one new input (received, or a delivered duplicate of earlier content) with its
/// audit event; `origin` prefixes the event's detail.
fn insert_in(tx: &Db, stamp: Stamp, f: &NewFile<'_>, origin: &str) -> Result<(i64, Option<i64>)> {
    let now = stamp.secs();
    let duplicate_of = original(tx, f.sha256)?;
    let state = if duplicate_of.is_some() {
        State::Delivered
    } else {
        State::Received
    };
    let id: i64 = tx.query_row(
        "INSERT INTO files (channel, partner, name, source_key, sha256, size, state, duplicate_of, blob, received_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING id",
        params![f.channel, f.partner, f.name, f.source_key, f.sha256, f.size, state.as_str(), duplicate_of, f.blob, now],
        |r| r.get(0),
    )?;
    let detail = match duplicate_of {
        Some(o) => format!(
            "{origin}duplicate of file {o} ({} bytes, sha256 {})",
            f.size, f.sha256
        ),
        None => format!("{origin}{} bytes, sha256 {}", f.size, f.sha256),
    };
    event(tx, stamp, id, state, &detail)?;
    Ok((id, duplicate_of))
}

fn set_state(tx: &Db, stamp: Stamp, id: i64, from: &[State], to: State) -> Result<()> {
    let from_list = from
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // One statement when the file is where it should be; the reason read only when not.
    let moved = count(
        tx,
        &format!(
            "UPDATE files SET state = ?2, updated_at = ?3, failures = 0, retry_at = NULL, last_error = NULL
             WHERE id = ?1 AND state IN ({from_list})"
        ),
        params![id, to.as_str(), stamp.secs()],
    )?;
    if moved == 1 {
        return Ok(());
    }
    let current: Option<String> =
        tx.query_opt("SELECT state FROM files WHERE id = ?1", params![id], |r| {
            r.get(0)
        })?;
    let current = current.ok_or(StoreError::NotFound(id))?;
    Err(StoreError::WrongState {
        id,
        state: current,
        expected: from.first().map_or("", |s| s.as_str()),
    })
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date; its time is
    /// the system clock's.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with_clock(path, std::time::SystemTime::now)
    }

    /// The store `[store]` of the configuration names.
    pub fn for_config(cfg: &crate::config::Config) -> Result<Store> {
        Store::connect(&cfg.store_location()?)
    }

    /// The store at `at`, SQLite or PostgreSQL, opened as [`Store::open`] does.
    pub fn connect(at: &Location) -> Result<Store> {
        match at {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres {
                url,
                password,
                idle_seconds,
            } => {
                let mut store = Store {
                    conn: connect_postgres(url, password.as_deref(), *idle_seconds)?,
                    clock: std::time::SystemTime::now,
                };
                store.migrate()?;
                Ok(store)
            }
        }
    }

    /// The store at `at` for reading only, as [`Store::open_read_only`] opens SQLite; a
    /// PostgreSQL store is opened as the service opens it.
    pub fn connect_read_only(at: &Location) -> Result<(Store, bool)> {
        match at {
            Location::Sqlite(path) => Store::open_read_only(path),
            Location::Postgres { .. } => Ok((Store::connect(at)?, false)),
        }
    }

    /// [`Store::open`] with the time taken from `clock`.
    pub fn open_with_clock(path: &Path, clock: Clock) -> Result<Store> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        // Plans do not depend on bound values, so cached statements are never prepared again
        // when their parameters change.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // Lets retention give space back to the file system (only effective on a new file).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        // Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
        // through the busy handler: retry while another process holds it.
        let mut tries = 0;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 200 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => break other?,
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoint journals (one per file inside a batch) and sorts stay in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // 16 MB of pages (the default is 2 MB): a file of millions of records inserts their
        // keys into indexes that outgrow a small cache, which then rereads them page by page.
        conn.pragma_update(None, "cache_size", -16384)?;
        let mut store = Store {
            conn: Db::sqlite(conn),
            clock,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the file for reading only (`status`, `metrics`): nothing is migrated or written.
    /// When SQLite cannot even make its shared-memory index (a full or read-only disk), the
    /// file is read as immutable, without locks, and the caller is told it may be behind the
    /// write-ahead log.
    pub fn open_read_only(path: &Path) -> Result<(Store, bool)> {
        let clock: Clock = std::time::SystemTime::now;
        use rusqlite::{Connection, OpenFlags};
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // The connection and its schema version; SQLite opens lazily, so a file it cannot
        // read fails here, at the first query.
        let open = |p: &Path| -> rusqlite::Result<(Connection, i64)> {
            let conn = Connection::open_with_flags(p, flags)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            Ok((conn, version))
        };
        let ((conn, version), behind) = match open(path) {
            Ok(opened) => (opened, false),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::ReadOnly
                ) && path.exists() =>
            {
                // URI reserved characters in the path are percent-encoded.
                let mut uri = String::from("file:");
                for b in path.to_string_lossy().bytes() {
                    match b {
                        b'?' | b'#' | b'%' => uri.push_str(&format!("%{b:02X}")),
                        _ => uri.push(b as char),
                    }
                }
                uri.push_str("?immutable=1");
                (open(Path::new(&uri))?, true)
            }
            Err(e) => return Err(e.into()),
        };
        let expected = migrations(db::Engine::Sqlite).len();
        if version != expected as i64 {
            return Err(StoreError::Outdated {
                found: version,
                expected,
            });
        }
        Ok((
            Store {
                conn: Db::sqlite(conn),
                clock,
            },
            behind,
        ))
    }

    /// Which engine holds the state.
    pub fn engine(&self) -> db::Engine {
        self.conn.engine()
    }

    /// The time now, by the store's clock.
    fn stamp(&self) -> Stamp {
        Stamp((self.clock)())
    }

    /// The schema version written in the database (0 for a new one).
    fn schema_version(&self) -> Result<i64> {
        schema_version(&self.conn)
    }

    fn migrate(&mut self) -> Result<()> {
        let all = migrations(self.conn.engine());
        // A database already up to date is only read: `edigate status` must work on a full
        // disk, when no write can succeed.
        let version = self.schema_version()?;
        if version == all.len() as i64 {
            return Ok(());
        }
        if version > all.len() as i64 {
            // Written by a newer edigate: running on it would mark it older than it is.
            return Err(StoreError::Outdated {
                found: version,
                expected: all.len(),
            });
        }
        // Another process (the service and a CLI command, another node) may open the same
        // database at the same moment: the version is read and the migrations applied under
        // one write lock.
        // On PostgreSQL even the version table is made under that lock: two nodes starting
        // together would otherwise both create it, and one would fail on the catalog's key.
        let tx = self.conn.transaction_immediate()?;
        if tx.lite().is_none() {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS edigate_schema (version BIGINT NOT NULL)",
            )?;
        }
        let version = schema_version(&tx)?;
        for m in all.iter().skip(version as usize) {
            tx.execute_batch(m)?;
        }
        match tx.lite() {
            Some(lite) => lite.pragma_update(None, "user_version", all.len() as i64)?,
            None => tx.execute_batch(&format!(
                "DELETE FROM edigate_schema; INSERT INTO edigate_schema VALUES ({})",
                all.len()
            ))?,
        }
        tx.commit()?;
        Ok(())
    }

    /// Every row of a query, mapped.
    fn all<T>(
        &self,
        sql: &str,
        params: &[db::Value<'_>],
        map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.conn.query_map(sql, params, map)
    }

    /// Opens a batch: every change until [`Store::end_batch`] commits (or rolls back) as one
    /// transaction. Each change still is its own savepoint inside it.
    pub fn begin_batch(&mut self) -> Result<()> {
        self.conn.begin(true)
    }

    pub fn end_batch(&mut self, commit: bool) -> Result<()> {
        self.conn.end(commit)
    }

    /// The file recorded for this exact drop (channel, name, size, mtime, inode), if any.
    pub fn file_by_source(&self, source_key: &str) -> Result<Option<FileRow>> {
        self.conn.query_opt(
            &format!("SELECT {FILE_COLUMNS} FROM files WHERE source_key = ?1 ORDER BY id LIMIT 1"),
            params![source_key],
            file_row,
        )
    }

    /// The first live file with this content (not discarded, not itself a duplicate).
    pub fn original_of(&self, sha256: &str) -> Result<Option<i64>> {
        original(&self.conn, sha256)
    }

    /// Records a new input in state `received`, or as an already-delivered duplicate.
    /// Records new inputs in one transaction: each in state `received`, or, when its content
    /// was received before (by SHA-256, including earlier files of the same batch), as an
    /// already-delivered duplicate. Returns (id, duplicate of) per input.
    pub fn insert_files(&mut self, files: &[NewFile<'_>]) -> Result<Vec<(i64, Option<i64>)>> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let out = files
            .iter()
            .map(|f| insert_in(&tx, stamp, f, ""))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(out)
    }

    pub fn file(&self, id: i64) -> Result<FileRow> {
        self.conn
            .query_opt(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
                params![id],
                file_row,
            )?
            .ok_or(StoreError::NotFound(id))
    }

    /// The files among `ids` now in one of `states`, in the order of `ids` (a few queries for
    /// a whole batch, not one per file).
    pub fn files_among(&self, ids: &[i64], states: &[State]) -> Result<Vec<FileRow>> {
        let states = states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = db::id_list(chunk);
            for f in self.all(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM files WHERE id IN ({list}) AND state IN ({states})"
                ),
                params![],
                file_row,
            )? {
                found.insert(f.id, f);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Files not yet in a final or waiting state, oldest first.
    pub fn unfinished(&self) -> Result<Vec<FileRow>> {
        self.all(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE state IN ('received','parsed','translated','delivered') ORDER BY id"
        ), params![], file_row)
    }

    pub fn files_in(&self, state: State) -> Result<Vec<FileRow>> {
        self.all(
            &format!("SELECT {FILE_COLUMNS} FROM files WHERE state = ?1 ORDER BY id"),
            params![state.as_str()],
            file_row,
        )
    }

    /// Next interchange control number for acknowledgements and documents sent to `partner`.
    pub fn allocate_control(&mut self, partner: &str, kind: &str) -> Result<u64> {
        self.reserve_controls(partner, kind, 1)
    }

    /// Gives back the last `n` numbers of a block ending at `last`, if none was taken since
    /// (then the counter still stands at `last`); otherwise they stay unused.
    pub fn return_controls(&mut self, partner: &str, kind: &str, last: u64, n: u64) -> Result<()> {
        exec(
            &self.conn,
            "UPDATE counters SET value = value - ?4 WHERE partner = ?1 AND kind = ?2 AND value = ?3",
            params![partner, kind, last as i64, n as i64],
        )?;
        Ok(())
    }

    /// Takes `n` consecutive control numbers at once; returns the first.
    pub fn reserve_controls(&mut self, partner: &str, kind: &str, n: u64) -> Result<u64> {
        let tx = self.conn.savepoint()?;
        let first = draw_controls(&tx, partner, kind, n)?;
        tx.commit()?;
        Ok(first)
    }

    /// received -> parsed, with the interchanges found.
    pub fn mark_parsed<E: From<StoreError>>(
        &mut self,
        id: i64,
        partner: Option<&str>,
        documents: &str,
        interchanges: impl IntoIterator<Item = std::result::Result<InterchangeRow, E>>,
    ) -> std::result::Result<(), E> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Received], State::Parsed)?;
        exec(
            &tx,
            "DELETE FROM interchanges WHERE file_id = ?1",
            params![id],
        )?;
        let mut n = 0;
        for ic in interchanges {
            let ic = ic?;
            exec(&tx,
                "INSERT INTO interchanges (file_id, partner, sender, control) VALUES (?1, ?2, ?3, ?4)",
                params![id, ic.partner, ic.sender, ic.control],
            )?;
            n += 1;
        }
        if let Some(p) = partner {
            exec(
                &tx,
                "UPDATE files SET partner = ?2 WHERE id = ?1",
                params![id, p],
            )?;
        }
        exec(
            &tx,
            "UPDATE files SET documents = ?2 WHERE id = ?1",
            params![id, documents],
        )?;
        event(
            &tx,
            stamp,
            id,
            State::Parsed,
            &format!("{n} interchange(s)"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// parsed -> translated: outputs, record keys and the verdict in one transaction.
    pub fn commit_translation(
        &mut self,
        id: i64,
        outputs: &[NewOutput<'_>],
        records: &[RecordKeys],
        refusal: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.begin_translation(id)?;
        for o in outputs {
            tx.output(o)?;
        }
        for r in records {
            tx.record(r)?;
        }
        tx.finish(refusal, detail).map(|_| ())
    }

    /// Opens the parsed -> translated transaction of file `id`: its exceptions, deliveries,
    /// outputs and records are then added one by one (so that a file's results never need to
    /// be in memory at once), and are seen by no one until [`TranslationTx::finish`].
    pub fn begin_translation(&mut self, id: i64) -> Result<TranslationTx<'_>> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Parsed], State::Translated)?;
        Ok(TranslationTx {
            tx,
            id,
            stamp,
            conflicts: Vec::new(),
        })
    }

    pub fn outputs(&self, file_id: i64) -> Result<Vec<OutputRow>> {
        self.outputs_after(file_id, 0, i64::MAX)
    }

    /// At most `limit` of file `file_id`'s outputs with ids above `after`, in order (a file
    /// may have a great many: one per acknowledgement).
    pub fn outputs_after(&self, file_id: i64, after: i64, limit: i64) -> Result<Vec<OutputRow>> {
        self.all("SELECT id, file_id, kind, path, content, written_at IS NOT NULL, stored FROM outputs WHERE file_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3", params![file_id, after, limit], |r| {
                Ok(OutputRow {
                    id: r.get(0)?,
                    file_id: r.get(1)?,
                    kind: r.get(2)?,
                    path: r.get(3)?,
                    content: r.get(4)?,
                    written: r.get(5)?,
                    stored: r.get(6)?,
                })
            })
    }

    pub fn mark_written(&mut self, output_id: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let now = stamp.secs();
        // The event first, while the output is still unwritten: no answer is waited for.
        exec(
            &tx,
            "INSERT INTO events (file_id, at, state, detail)
             SELECT file_id, ?2, 'output', 'written ' || path FROM outputs WHERE id = ?1 AND written_at IS NULL",
            params![output_id, now],
        )?;
        exec(
            &tx,
            "UPDATE outputs SET written_at = ?2 WHERE id = ?1 AND written_at IS NULL",
            params![output_id, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// translated -> delivered for every file in `ids`, in one transaction: their outputs are
    /// written (and the folders synced) by the caller.
    pub fn mark_delivered(&mut self, ids: &[i64]) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let now = stamp.secs();
        for &id in ids {
            set_state(&tx, stamp, id, &[State::Translated], State::Delivered)?;
            exec(
                &tx,
                "UPDATE outputs SET written_at = ?2 WHERE file_id = ?1 AND written_at IS NULL",
                params![id, now],
            )?;
            event(&tx, stamp, id, State::Delivered, "all outputs written")?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A bundle (zip) becomes its documents: the children are recorded as received and the
    /// bundle itself moves to `delivered` (it has no outputs), all in one transaction.
    pub fn split_bundle(&mut self, id: i64, children: &[NewFile<'_>]) -> Result<Vec<i64>> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(
            &tx,
            stamp,
            id,
            &[State::Received, State::Parsed],
            State::Delivered,
        )?;
        let origin = format!("from bundle {id}, ");
        let ids = children
            .iter()
            .map(|c| insert_in(&tx, stamp, c, &origin).map(|(child, _)| child))
            .collect::<Result<Vec<_>>>()?;
        event(
            &tx,
            stamp,
            id,
            State::Delivered,
            &format!("bundle of {} document(s): {ids:?}", children.len()),
        )?;
        tx.commit()?;
        Ok(ids)
    }

    /// delivered -> archived (or quarantined when `quarantined`), the content now at `blob`,
    /// for a batch of files in one transaction.
    pub fn mark_placed(&mut self, placed: &[(i64, String, bool)]) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        for (id, blob, quarantined) in placed {
            let to = if *quarantined {
                State::Quarantined
            } else {
                State::Archived
            };
            set_state(&tx, stamp, *id, &[State::Delivered], to)?;
            exec(
                &tx,
                "UPDATE files SET blob = ?2 WHERE id = ?1",
                params![id, blob],
            )?;
            event(&tx, stamp, *id, to, blob)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// quarantined -> received for another attempt, with the (possibly replaced) content.
    pub fn release(&mut self, id: i64, blob: &str, sha256: &str, size: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Quarantined], State::Received)?;
        exec(&tx,
            "UPDATE files SET blob = ?2, sha256 = ?3, size = ?4, refusal = NULL, attempt = attempt + 1 WHERE id = ?1",
            params![id, blob, sha256, size],
        )?;
        event(
            &tx,
            stamp,
            id,
            State::Received,
            &format!("released by operator, sha256 {sha256}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// archived -> received for a replay through today's mappings and routes.
    pub fn replay(&mut self, id: i64, blob: &str) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Archived], State::Received)?;
        exec(&tx,
            "UPDATE files SET blob = ?2, refusal = NULL, attempt = attempt + 1, replay = 1 WHERE id = ?1",
            params![id, blob],
        )?;
        event(&tx, stamp, id, State::Received, "replayed by operator")?;
        tx.commit()?;
        Ok(())
    }

    /// Archived, non-duplicate files matching the filters (all optional): ids, partner, record
    /// schema prefix (`purchase_order`), received from/until (`YYYY-MM-DD`, inclusive).
    pub fn replay_candidates(
        &self,
        ids: &[i64],
        partner: Option<&str>,
        document: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<FileRow>> {
        let rows = self.all(
            &format!(
                "SELECT {FILE_COLUMNS} FROM files f WHERE state = 'archived' AND duplicate_of IS NULL
               AND (?1 IS NULL OR partner = ?1)
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM records r WHERE r.file_id = f.id AND r.schema LIKE ?2 || '%'))
               AND (?3 IS NULL OR substr(received_at, 1, 10) >= ?3)
               AND (?4 IS NULL OR substr(received_at, 1, 10) <= ?4)
             ORDER BY id"
            ),
            params![partner, document, since, until],
            file_row,
        )?;
        Ok(rows
            .into_iter()
            .filter(|f| ids.is_empty() || ids.contains(&f.id))
            .collect())
    }

    /// quarantined -> discarded, the content kept at `blob`.
    pub fn discard(&mut self, id: i64, blob: &str) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Quarantined], State::Discarded)?;
        exec(
            &tx,
            "UPDATE files SET blob = ?2 WHERE id = ?1",
            params![id, blob],
        )?;
        event(&tx, stamp, id, State::Discarded, "discarded by operator")?;
        tx.commit()?;
        Ok(())
    }

    /// Number of files in each state, and how many were duplicates.
    pub fn counts(&self) -> Result<(Vec<(State, i64)>, i64)> {
        let mut v: Vec<(State, i64)> = self
            .all(
                "SELECT state, COUNT(*) FROM files GROUP BY state",
                params![],
                |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
            )?
            .into_iter()
            .filter_map(|(s, n)| State::parse(&s).map(|s| (s, n)))
            .collect();
        v.sort_by_key(|(s, _)| State::ALL.iter().position(|x| x == s));
        let dups = self.conn.query_row(
            "SELECT COUNT(*) FROM files WHERE duplicate_of IS NOT NULL",
            params![],
            |r| r.get(0),
        )?;
        Ok((v, dups))
    }

    /// A mark that changes whenever an interchange is recorded: duplicate checks answered
    /// while it stays the same are still right.
    pub fn interchanges_mark(&self) -> Result<i64> {
        self.conn.query_row(
            "SELECT coalesce(max(rowid), 0) FROM interchanges",
            params![],
            |r| r.get(0),
        )
    }

    /// Whether another file, received since `since` and not quarantined or discarded, held the
    /// interchange `control` from `sender` for `partner`.
    pub fn interchange_seen(
        &self,
        partner: &str,
        sender: &str,
        control: &str,
        since: Utc,
        except_file: i64,
    ) -> Result<bool> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM interchanges i JOIN files f ON f.id = i.file_id
                 WHERE i.sender = ?2 AND i.control = ?3 AND i.partner = ?1 AND i.file_id != ?4
                   AND f.received_at >= ?5 AND f.state NOT IN ('quarantined', 'discarded') LIMIT 1",
                params![partner, sender, control, except_file, since.rfc3339()],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Claims for `node`, until `until`, up to `limit` deliveries for `target` that are due
    /// now and that no other node holds a live claim on, oldest first. On PostgreSQL the rows
    /// are taken `FOR UPDATE SKIP LOCKED`.
    pub fn claim_deliveries(
        &mut self,
        target: &str,
        node: &str,
        now: SystemTime,
        until: SystemTime,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        let skip_locked = match self.conn.engine() {
            db::Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            db::Engine::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deliveries SET claimed_by = ?4, claim_until = ?5, claim_no = claim_no + 1
             WHERE id IN (SELECT id FROM deliveries
                 WHERE state = 'pending' AND target = ?1 AND next_at <= ?2
                   AND (claim_until IS NULL OR claim_until <= ?6)
                 ORDER BY next_at, id LIMIT ?3{skip_locked})
             RETURNING id, target, idem_key, payload, attempts, created_at, attempts > 0 OR tried = 1,
                 file_id, claim_no, next_at"
        );
        let tx = self.conn.savepoint()?;
        let mut rows = tx.query_map(
            &sql,
            params![
                target,
                Utc::of(now).rfc3339(),
                limit as i64,
                node,
                Utc::rfc3339_ms(until),
                Utc::rfc3339_ms(now)
            ],
            |r| {
                Ok((
                    r.get::<String>(9)?,
                    DeliveryRow {
                        id: r.get(0)?,
                        target: r.get(1)?,
                        idem_key: r.get(2)?,
                        payload: r.get(3)?,
                        attempts: r.get(4)?,
                        created_at: r.get(5)?,
                        maybe_sent: r.get(6)?,
                        file_id: r.get(7)?,
                        claim_no: r.get(8)?,
                    },
                ))
            },
        )?;
        tx.commit()?;
        rows.sort_by(|a, b| (&a.0, a.1.id).cmp(&(&b.0, b.1.id)));
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    }

    /// Extends, to `until`, the claims `node` still holds on `target`'s pending deliveries.
    pub fn renew_claims(&mut self, target: &str, node: &str, until: SystemTime) -> Result<()> {
        let tx = self.conn.savepoint()?;
        exec(
            &tx,
            "UPDATE deliveries SET claim_until = ?3
             WHERE target = ?1 AND claimed_by = ?2 AND state = 'pending' AND claim_until IS NOT NULL",
            params![target, node, Utc::rfc3339_ms(until)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Gives up the claims `node` holds on `target`'s pending deliveries (its round stopped
    /// on a panic or an error: nothing of it is still out).
    pub fn drop_claims(&mut self, target: &str, node: &str) -> Result<usize> {
        let tx = self.conn.savepoint()?;
        let n = count(
            &tx,
            "UPDATE deliveries SET claim_until = NULL
             WHERE target = ?1 AND claimed_by = ?2 AND state = 'pending' AND claim_until IS NOT NULL",
            params![target, node],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Frees at once the claims of nodes known to be gone (processes of this host that no
    /// longer run), so that their deliveries need not wait out the claim.
    pub fn free_claims_of(&mut self, gone: &dyn Fn(&str) -> bool) -> Result<usize> {
        self.free_claims_in("deliveries", "state = 'pending'", gone)
    }

    /// Notes, before their requests go out, that these deliveries may reach their target, so
    /// that a crash before their outcome is recorded still leads to a lookup, never a second
    /// document.
    pub fn mark_tried(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self.conn.savepoint()?;
        for id in ids {
            exec(
                &tx,
                "UPDATE deliveries SET tried = 1 WHERE id = ?1 AND tried = 0",
                params![id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the outcomes of a batch of attempts `(id, claim number, outcome)` that `node`
    /// made, and the target's breaker, in one transaction. Returns the deliveries whose
    /// outcome was not recorded because another node had claimed them since (this node's
    /// claim ran out while it waited on the target).
    pub fn settle_deliveries(
        &mut self,
        node: &str,
        settled: &[(i64, i64, Attempt)],
        target: &str,
        breaker: &Breaker,
    ) -> Result<Vec<i64>> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let mut lost = Vec::new();
        for (id, claim_no, attempt) in settled {
            if !settle_in(&tx, stamp, (*id, node, *claim_no), attempt)? {
                lost.push(*id);
            }
        }
        exec(
            &tx,
            "INSERT INTO breakers (target, state, failures, opened_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (target) DO UPDATE SET state = ?2, failures = ?3, opened_at = ?4",
            params![target, breaker.state, breaker.failures, breaker.opened_at],
        )?;
        tx.commit()?;
        Ok(lost)
    }

    /// Open exception items: (id, file id, file name, document, control, interchange, code, reason).
    #[allow(clippy::type_complexity)]
    pub fn open_exceptions(
        &self,
    ) -> Result<Vec<(i64, i64, String, String, String, String, String, String)>> {
        self.all("SELECT e.id, e.file_id, f.name, e.document, e.control, e.interchange, e.code, e.reason
             FROM exceptions e JOIN files f ON f.id = e.file_id WHERE e.state = 'open' ORDER BY e.id", params![], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
    }

    /// Closes an exception item (the operator dealt with it, for example by a replay).
    pub fn discard_exception(&mut self, id: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        if count(
            &tx,
            "UPDATE exceptions SET state = 'discarded' WHERE id = ?1 AND state = 'open'",
            params![id],
        )? == 0
        {
            return Err(StoreError::NotFound(id));
        }
        exec(
            &tx,
            "INSERT INTO events (file_id, at, state, detail)
             SELECT file_id, ?2, 'exception', 'exception ' || id || ' (' || document || ' ' || control || ') discarded by operator' FROM exceptions WHERE id = ?1",
            params![id, stamp.secs()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A held (rejected or dead) delivery goes back to pending, with its attempts reset.
    pub fn release_delivery(&mut self, id: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let n = count(
            &tx,
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?2, created_at = ?2
             WHERE id = ?1 AND state IN ('rejected', 'dead')",
            params![id, stamp.secs()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(id));
        }
        delivery_event(&tx, stamp, id, "released by operator")?;
        // A process held on this delivery's step goes on with it.
        exec(
            &tx,
            "UPDATE orchestrations SET state = 'running', reason = NULL, next_at = ?2, updated_at = ?2 WHERE delivery_id = ?1 AND state = 'held'",
            params![id, stamp.secs()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A held delivery is dropped (kept as `discarded`, never sent).
    pub fn discard_delivery(&mut self, id: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let n = count(&tx,
            "UPDATE deliveries SET state = 'discarded' WHERE id = ?1 AND state IN ('rejected', 'dead')",
            params![id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(id));
        }
        delivery_event(&tx, stamp, id, "discarded by operator")?;
        tx.commit()?;
        Ok(())
    }

    /// (target, state, count) over all deliveries.
    pub fn delivery_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.all("SELECT target, state, COUNT(*) FROM deliveries GROUP BY target, state ORDER BY target, state", params![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }

    /// Deliveries that ended in the exception queue (`rejected`) or as dead letters (`dead`):
    /// (id, target, record id, state, attempts, last status, last error).
    #[allow(clippy::type_complexity)]
    pub fn failed_deliveries(
        &self,
    ) -> Result<
        Vec<(
            i64,
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
        )>,
    > {
        self.all(
            "SELECT id, target, record_id, state, attempts, last_status, last_error FROM deliveries
             WHERE state IN ('rejected', 'dead') ORDER BY id",
            params![],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
    }

    pub fn breaker(&self, target: &str) -> Result<Breaker> {
        Ok(self
            .conn
            .query_opt(
                "SELECT state, failures, opened_at FROM breakers WHERE target = ?1",
                params![target],
                |r| {
                    Ok(Breaker {
                        state: r.get(0)?,
                        failures: r.get(1)?,
                        opened_at: r.get(2)?,
                    })
                },
            )?
            .unwrap_or(Breaker {
                state: "closed".into(),
                failures: 0,
                opened_at: None,
            }))
    }

    /// Uploads for `channel` that are due now.
    pub fn due_uploads(&self, channel: &str, now: Utc) -> Result<Vec<UploadRow>> {
        self.all("SELECT u.id, u.remote_name, o.content, u.attempts FROM uploads u JOIN outputs o ON o.id = u.output_id
             WHERE u.state = 'pending' AND u.channel = ?1 AND u.next_at <= ?2 ORDER BY u.id", params![channel, now.rfc3339()], |r| {
                Ok(UploadRow {
                    id: r.get(0)?,
                    remote_name: r.get(1)?,
                    content: r.get(2)?,
                    attempts: r.get(3)?,
                })
            })
    }

    pub fn upload_done(&mut self, id: i64) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        let now = stamp.secs();
        if count(
            &tx,
            "UPDATE uploads SET state = 'done', done_at = ?2, last_error = NULL WHERE id = ?1 AND state != 'done'",
            params![id, now],
        )? == 1
        {
            exec(
                &tx,
                "INSERT INTO events (file_id, at, state, detail)
                 SELECT o.file_id, ?2, 'upload', 'uploaded ' || u.remote_name || ' to channel ' || u.channel
                 FROM uploads u JOIN outputs o ON o.id = u.output_id WHERE u.id = ?1",
                params![id, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a failed attempt; the upload is tried again at `next_at`.
    pub fn upload_failed(&mut self, id: i64, error: &str, next_at: Utc) -> Result<()> {
        exec(&self.conn,
            "UPDATE uploads SET attempts = attempts + 1, last_error = ?2, next_at = ?3 WHERE id = ?1",
            params![id, error, next_at.rfc3339()],
        )?;
        Ok(())
    }

    /// (pending, done) uploads per channel.
    pub fn upload_counts(&self) -> Result<Vec<(String, i64, i64)>> {
        self.all("SELECT channel, COUNT(CASE WHEN state = 'pending' THEN 1 END), COUNT(CASE WHEN state = 'done' THEN 1 END) FROM uploads GROUP BY channel ORDER BY channel", params![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }

    /// Records the outcome of a poll of `channel`.
    pub fn record_poll(&mut self, channel: &str, error: Option<&str>) -> Result<()> {
        let stamp = self.stamp();
        // Milliseconds: two polls within one second are still told apart.
        let now = stamp.millis();
        match error {
            None => exec(&self.conn,
                "INSERT INTO channel_health (channel, last_poll_at, last_ok_at, last_error, failures) VALUES (?1, ?2, ?2, NULL, 0)
                 ON CONFLICT (channel) DO UPDATE SET last_poll_at = ?2, last_ok_at = ?2, last_error = NULL, failures = 0",
                params![channel, now],
            )?,
            Some(e) => exec(&self.conn,
                "INSERT INTO channel_health (channel, last_poll_at, last_error, failures) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (channel) DO UPDATE SET last_poll_at = ?2, last_error = ?3, failures = channel_health.failures + 1",
                params![channel, now, e],
            )?,
        };
        Ok(())
    }

    pub fn health(&self) -> Result<Vec<Health>> {
        self.all("SELECT channel, last_poll_at, last_ok_at, last_error, failures FROM channel_health ORDER BY channel", params![], |r| {
                Ok(Health {
                    channel: r.get(0)?,
                    last_poll_at: r.get(1)?,
                    last_ok_at: r.get(2)?,
                    last_error: r.get(3)?,
                    failures: r.get(4)?,
                })
            })
    }

    /// Files whose content sits in an archive folder `prefix` (for packing).
    pub fn blobs_under(&self, prefix: &str) -> Result<Vec<(i64, String)>> {
        self.all(
            "SELECT id, blob FROM files WHERE substr(blob, 1, length(?1)) = ?1",
            params![prefix],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Points files at their new content locations, in one transaction.
    pub fn move_blobs(&mut self, moves: &[(i64, String)]) -> Result<()> {
        let tx = self.conn.savepoint()?;
        for (id, blob) in moves {
            exec(
                &tx,
                "UPDATE files SET blob = ?2 WHERE id = ?1",
                params![id, blob],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes finished files received before `before` (RFC 3339) with everything that hangs
    /// off them, then gives the freed pages back. Returns the number of files removed.
    pub fn purge(&mut self, before: &str) -> Result<usize> {
        let tx = self.conn.savepoint()?;
        let ids = "SELECT id FROM files WHERE state IN ('archived', 'discarded') AND received_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.file_id = files.id AND d.state = 'pending')";
        tx.execute(&format!("DELETE FROM record_keys WHERE record_id IN (SELECT id FROM records WHERE file_id IN ({ids}))"), params![before])?;
        tx.execute(
            &format!("DELETE FROM records WHERE file_id IN ({ids})"),
            params![before],
        )?;
        tx.execute(
            &format!("DELETE FROM record_routes WHERE file_id IN ({ids})"),
            params![before],
        )?;
        for table in ["orchestrations", "steps", "sent_interchanges"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE file_id IN ({ids})"),
                params![before],
            )?;
        }
        tx.execute(&format!("DELETE FROM uploads WHERE output_id IN (SELECT id FROM outputs WHERE file_id IN ({ids}))"), params![before])?;
        tx.execute(
            &format!("DELETE FROM outputs WHERE file_id IN ({ids})"),
            params![before],
        )?;
        tx.execute(
            &format!("DELETE FROM deliveries WHERE file_id IN ({ids})"),
            params![before],
        )?;
        tx.execute(
            &format!("DELETE FROM interchanges WHERE file_id IN ({ids})"),
            params![before],
        )?;
        tx.execute(
            &format!("DELETE FROM exceptions WHERE file_id IN ({ids})"),
            params![before],
        )?;
        tx.execute(
            &format!("DELETE FROM events WHERE file_id IN ({ids})"),
            params![before],
        )?;
        exec(&tx, "UPDATE files SET duplicate_of = NULL WHERE duplicate_of IN (SELECT id FROM files WHERE state IN ('archived', 'discarded') AND received_at < ?1)", params![before])?;
        let n = tx.execute(
            &format!("DELETE FROM files WHERE id IN ({ids})"),
            params![before],
        )?;
        tx.commit()?;
        // SQLite gives the pages back itself (each step of the pragma frees pages; run it to
        // the end, then fold the WAL back in); PostgreSQL's autovacuum does.
        if let Some(lite) = self.conn.lite() {
            let mut st = lite.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = st.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(st);
            lite.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(n)
    }

    /// Keeps something that must not pass silently, for `edigate status` and the log.
    pub fn anomaly(&mut self, kind: &str, file_id: Option<i64>, detail: &str) -> Result<()> {
        let stamp = self.stamp();
        anomaly_in(&self.conn, stamp, kind, file_id, detail)
    }

    /// (kind, count, latest detail) of every anomaly kept.
    pub fn anomaly_counts(&self) -> Result<Vec<AnomalyCount>> {
        self.all(
            "SELECT kind, COUNT(*), (SELECT detail FROM anomalies b WHERE b.kind = a.kind ORDER BY id DESC LIMIT 1)
             FROM anomalies a GROUP BY kind ORDER BY kind",
            params![],
            |r| {
                Ok(AnomalyCount {
                    kind: r.get(0)?,
                    count: r.get(1)?,
                    latest: r.get(2)?,
                })
            },
        )
    }

    /// Records a failed attempt at a file's current step (it stays in its state) and when it
    /// may be tried again, with its audit event.
    pub fn step_failed(&mut self, id: i64, error: &str, retry_at: Utc) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        exec(
            &tx,
            "UPDATE files SET failures = failures + 1, retry_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, retry_at.rfc3339(), error],
        )?;
        exec(
            &tx,
            "INSERT INTO events (file_id, at, state, detail)
             SELECT id, ?2, state, 'attempt ' || failures || ' failed: ' || ?3 || '; next at ' || ?4 FROM files WHERE id = ?1",
            params![id, stamp.secs(), error, retry_at.rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Gives up on a file's outputs after repeated failures: it goes on to the quarantine with
    /// `refusal` (its content is placed there with the reason); nothing unwritten is written.
    pub fn give_up_writing(&mut self, id: i64, refusal: &str, detail: &str) -> Result<()> {
        let stamp = self.stamp();
        let tx = self.conn.savepoint()?;
        set_state(&tx, stamp, id, &[State::Translated], State::Delivered)?;
        exec(
            &tx,
            "UPDATE files SET refusal = ?2, failures = 0, retry_at = NULL WHERE id = ?1",
            params![id, refusal],
        )?;
        exec(&tx, "DELETE FROM uploads WHERE state = 'pending' AND output_id IN (SELECT id FROM outputs WHERE file_id = ?1 AND written_at IS NULL)", params![id])?;
        exec(
            &tx,
            "DELETE FROM outputs WHERE file_id = ?1 AND written_at IS NULL",
            params![id],
        )?;
        event(&tx, stamp, id, State::Delivered, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// Files waiting to retry a step that failed: (id, name, state, failures, retry at, error).
    #[allow(clippy::type_complexity)]
    pub fn failing_files(&self) -> Result<Vec<FailingFile>> {
        self.all(
            "SELECT id, name, state, failures, COALESCE(retry_at, ''), COALESCE(last_error, '') FROM files
             WHERE failures > 0 AND state IN ('received','parsed','translated','delivered') ORDER BY id",
            params![],
            |r| {
                Ok(FailingFile {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    state: r.get(2)?,
                    failures: r.get(3)?,
                    retry_at: r.get(4)?,
                    error: r.get(5)?,
                })
            },
        )
    }

    /// The audit trail of one file.
    /// Interchanges sent whose functional acknowledgement was due by `at` and has not come.
    pub fn overdue_acks(&self, at: Utc, limit: usize) -> Result<Vec<SentInterchange>> {
        self.all(
            "SELECT s.id, s.partner, s.syntax, s.control, s.document, s.file_id, o.path, s.sent_at, s.due_at, s.state, s.ack_at
             FROM sent_interchanges s JOIN outputs o ON o.id = s.output_id
             WHERE s.state = 'awaiting' AND s.due_at <= ?1 ORDER BY s.due_at LIMIT ?2",
            params![at.rfc3339(), limit as i64],
            |r| {
                Ok(SentInterchange {
                    id: r.get(0)?,
                    partner: r.get(1)?,
                    syntax: r.get(2)?,
                    control: r.get(3)?,
                    document: r.get(4)?,
                    file_id: r.get(5)?,
                    path: r.get(6)?,
                    sent_at: r.get(7)?,
                    due_at: r.get(8)?,
                    state: r.get(9)?,
                    ack_at: r.get(10)?,
                })
            },
        )
    }

    /// How many interchanges sent had their functional acknowledgement due by `at` without
    /// it coming (counted from the index, no row read).
    pub fn overdue_ack_count(&self, at: Utc) -> Result<i64> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM sent_interchanges WHERE state = 'awaiting' AND due_at <= ?1",
            params![at.rfc3339()],
            |r| r.get(0),
        )
    }

    /// Interchanges sent by acknowledgement state (`awaiting`, `accepted`, `rejected`, ...).
    pub fn sent_interchange_counts(&self) -> Result<Vec<(String, i64)>> {
        self.all(
            "SELECT state, COUNT(*) FROM sent_interchanges GROUP BY state ORDER BY state",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// What a channel brought lately: its last file, files today (UTC) and how many of its
    /// files wait in the quarantine.
    pub fn channel_activity(&self, channel: &str) -> Result<ChannelActivity> {
        let stamp = self.stamp();
        let today = format!("{}T00:00:00Z", stamp.utc().date());
        let conn = &self.conn;
        // Each answered from an index (channel and time; state).
        let last_file_at: Option<String> = conn.query_row(
            "SELECT MAX(received_at) FROM files WHERE channel = ?1",
            params![channel],
            |r| r.get(0),
        )?;
        let files_today: i64 = conn.query_row(
            "SELECT COUNT(*) FROM files WHERE channel = ?1 AND received_at >= ?2",
            params![channel, today],
            |r| r.get(0),
        )?;
        let quarantined: i64 = conn.query_row(
            "SELECT COUNT(*) FROM files WHERE state = 'quarantined' AND channel = ?1",
            params![channel],
            |r| r.get(0),
        )?;
        Ok(ChannelActivity {
            last_file_at,
            files_today,
            quarantined,
        })
    }

    /// Notes an operator's action on a file in its audit trail (`kind`: `operator`).
    pub fn note_event(&mut self, file_id: i64, kind: &str, detail: &str) -> Result<()> {
        let stamp = self.stamp();
        exec(
            &self.conn,
            "INSERT INTO events (file_id, at, state, detail) VALUES (?1, ?2, ?3, ?4)",
            params![file_id, stamp.secs(), kind, detail],
        )?;
        Ok(())
    }

    /// The latest error a target answered, if any.
    pub fn last_error(&self, target: &str) -> Result<Option<(String, String)>> {
        self
            .conn
            .query_opt("SELECT COALESCE(delivered_at, next_at), last_error FROM deliveries WHERE target = ?1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1", params![target], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    pub fn events(&self, file_id: i64) -> Result<Vec<EventRow>> {
        self.all(
            "SELECT at, state, COALESCE(detail, '') FROM events WHERE file_id = ?1 ORDER BY id",
            params![file_id],
            |r| {
                Ok(EventRow {
                    at: r.get(0)?,
                    state: r.get(1)?,
                    detail: r.get(2)?,
                })
            },
        )
    }

    /// Record ids whose business key `key` equals `value` (for example a PO number).
    /// Every record one of whose keys (business or system id) is `value`, with all its keys
    /// and where it came from: (record id, schema, partner, file id, params![(key, value)]).
    #[allow(clippy::type_complexity)]
    pub fn where_is(
        &self,
        value: &str,
    ) -> Result<Vec<(String, String, String, i64, Vec<(String, String)>)>> {
        let found: Vec<(String, String, String, i64)> = self.all(
            "SELECT DISTINCT r.id, r.schema, r.partner, r.file_id FROM record_keys k JOIN records r ON r.id = k.record_id
             WHERE k.value = ?1 ORDER BY r.id",
            params![value],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        found
            .into_iter()
            .map(|(id, schema, partner, file)| {
                let keys = self.all(
                    "SELECT key, value FROM record_keys WHERE record_id = ?1 ORDER BY rowid",
                    params![&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok((id, schema, partner, file, keys))
            })
            .collect()
    }

    pub fn find_records(&self, key: &str, value: &str) -> Result<Vec<String>> {
        self.all(
            "SELECT record_id FROM record_keys WHERE key = ?1 AND value = ?2 ORDER BY record_id",
            params![key, value],
            |r| r.get(0),
        )
    }
}

#[cfg(test)]
impl Store {
    /// Runs raw SQL, for tests that break the database on purpose.
    pub(crate) fn execute_for_test(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_file<'a>(key: &'a str, sha: &'a str) -> NewFile<'a> {
        NewFile {
            channel: "inbox",
            partner: None,
            name: "a.edi",
            source_key: key,
            sha256: sha,
            size: 3,
            blob: "spool/x",
        }
    }

    #[test]
    fn the_store_writes_the_time_of_the_clock_it_was_opened_with() {
        fn fixed() -> std::time::SystemTime {
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_780_000_000_123)
        }
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_with_clock(&dir.path().join("s.db"), fixed).unwrap();
        let (id, _) = s.insert_files(&[new_file("k", "sha")]).unwrap()[0];
        let second = Utc::of(fixed()).rfc3339();
        assert_eq!(second, "2026-05-28T20:26:40Z");
        assert_eq!(s.file(id).unwrap().received_at, second);
        assert!(s.events(id).unwrap().iter().all(|e| e.at == second));
        s.anomaly("test.kind", Some(id), "detail").unwrap();
        s.record_poll("sftp", None).unwrap();
        let h = &s.health().unwrap()[0];
        assert_eq!(h.last_poll_at.as_deref(), Some("2026-05-28T20:26:40.123Z"));
    }

    #[test]
    fn lookups_by_owner_use_an_index() {
        // Run for every file (a step run again deletes its earlier rows) and by retention: a
        // scan would make each file cost more as the database grows.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).unwrap();
        for sql in [
            "DELETE FROM interchanges WHERE file_id = ?1",
            "DELETE FROM record_keys WHERE record_id = ?1",
            "DELETE FROM records WHERE file_id = ?1",
            "DELETE FROM deliveries WHERE file_id = ?1",
            "DELETE FROM uploads WHERE output_id = ?1",
            "DELETE FROM outputs WHERE file_id = ?1",
            "DELETE FROM events WHERE file_id = ?1",
            "UPDATE files SET duplicate_of = NULL WHERE duplicate_of = ?1",
        ] {
            let plan: Vec<String> = s
                .all(&format!("EXPLAIN QUERY PLAN {sql}"), params![1], |r| {
                    r.get(3)
                })
                .unwrap();
            assert!(plan.iter().all(|p| !p.contains("SCAN")), "{sql}: {plan:?}");
        }
    }

    #[test]
    fn walks_the_state_machine_and_refuses_wrong_transitions() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let id = s.insert_files(&[new_file("k1", "abc")]).unwrap()[0].0;
        assert!(matches!(
            s.mark_delivered(&[id]),
            Err(StoreError::WrongState { .. })
        ));
        s.mark_parsed(
            id,
            Some("ACME"),
            "850",
            [Ok::<_, StoreError>(InterchangeRow {
                partner: "ACME".into(),
                sender: "ZZ:A".into(),
                control: "1".into(),
            })],
        )
        .unwrap();
        s.commit_translation(
            id,
            &[NewOutput {
                kind: "records".into(),
                path: "p/a.jsonl".into(),
                content: Content::Lines(vec!["{}", "[1]"]),
                uploads: vec![],
                awaits_ack: None,
            }],
            &[RecordKeys {
                id: "rec_1".into(),
                schema: "purchase_order/v1".into(),
                partner: "ACME".into(),
                keys: vec![("po_number".into(), "PO1".into())],
                answers: None,
            }],
            None,
            "1 record",
        )
        .unwrap();
        let outs = s.outputs(id).unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(
            outs[0].content, b"{}\n[1]\n",
            "JSON Lines written line by line"
        );
        s.mark_written(outs[0].id).unwrap();
        assert!(s.outputs(id).unwrap()[0].written);
        s.mark_delivered(&[id]).unwrap();
        s.mark_placed(&[(id, "archive/a".into(), false)]).unwrap();
        assert_eq!(s.file(id).unwrap().state, State::Archived);
        assert_eq!(s.find_records("po_number", "PO1").unwrap(), ["rec_1"]);
        let events = s.events(id).unwrap();
        assert_eq!(events.len(), 6, "{events:?}");
        assert!(
            events
                .iter()
                .any(|e| e.state == "output" && e.detail.contains("written")),
            "writing an output is an audit event: {events:?}"
        );
        assert_eq!(s.original_of("abc").unwrap(), Some(id));
        let (dup, of) = s.insert_files(&[new_file("k2", "abc")]).unwrap()[0];
        assert_eq!(of, Some(id));
        assert_eq!(s.file(dup).unwrap().state, State::Delivered);
        assert_eq!(s.counts().unwrap().1, 1);
    }

    /// A store in `dir` holding one parsed file (an 810 from ACME), and the file's id.
    fn parsed_810(dir: &std::path::Path) -> (Store, i64) {
        let mut s = Store::open(&dir.join("s.db")).unwrap();
        let id = s.insert_files(&[new_file("k1", "abc")]).unwrap()[0].0;
        s.mark_parsed(id, Some("ACME"), "810", no_interchanges())
            .unwrap();
        (s, id)
    }

    /// Invoice record `rec_{n}` and its delivery to target `erp` with `payload`.
    fn record_for_erp(tx: &mut TranslationTx<'_>, n: usize, payload: &[u8]) {
        tx.record(&RecordKeys {
            id: format!("rec_{n}"),
            schema: "invoice/v1".into(),
            partner: "ACME".into(),
            keys: vec![],
            answers: None,
        })
        .unwrap();
        tx.delivery(&NewDelivery {
            record_id: format!("rec_{n}"),
            target: "erp".into(),
            idem_key: format!("rec_{n}@erp"),
            payload,
            route: None,
        })
        .unwrap();
    }

    #[test]
    fn a_delivery_is_claimed_by_one_node_at_a_time_and_a_lapsed_claims_outcome_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, id) = parsed_810(dir.path());
        let mut tx = s.begin_translation(id).unwrap();
        for n in 1..=3 {
            record_for_erp(&mut tx, n, b"{}");
        }
        tx.finish(None, "3 records").unwrap();
        let start = SystemTime::now();
        let at = |secs: u64| start + std::time::Duration::from_secs(secs);
        let ids = |rows: &[DeliveryRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        // Node a takes two, node b the third; nothing is left for either while the claims live.
        let a = s.claim_deliveries("erp", "a", at(0), at(30), 2).unwrap();
        let b = s.claim_deliveries("erp", "b", at(0), at(30), 10).unwrap();
        assert_eq!(a.len() + b.len(), 3);
        assert!(ids(&a).iter().all(|i| !ids(&b).contains(i)));
        assert!(s
            .claim_deliveries("erp", "b", at(29), at(60), 10)
            .unwrap()
            .is_empty());
        let closed = Breaker {
            state: "closed".into(),
            failures: 0,
            opened_at: None,
        };
        let done = |status| Attempt::Delivered {
            status,
            system_id: None,
            response: String::new(),
        };
        // b is known to be gone: its claim is freed at once and a takes its delivery over.
        assert_eq!(s.free_claims_of(&|n| n == "b").unwrap(), 1);
        let taken = s.claim_deliveries("erp", "a", at(1), at(31), 10).unwrap();
        assert_eq!(ids(&taken), ids(&b));
        // b's late outcome is refused (its claim number is stale).
        let late = vec![(b[0].id, b[0].claim_no, done(201))];
        assert_eq!(
            s.settle_deliveries("b", &late, "erp", &closed).unwrap(),
            [b[0].id]
        );
        // a renews its claims and keeps them past their first end; once they lapse, c takes
        // all three, and a's outcomes are refused while c's are recorded.
        s.renew_claims("erp", "a", at(90)).unwrap();
        assert!(s
            .claim_deliveries("erp", "c", at(60), at(90), 10)
            .unwrap()
            .is_empty());
        let c = s.claim_deliveries("erp", "c", at(91), at(121), 10).unwrap();
        assert_eq!(c.len(), 3);
        let mut ours: Vec<_> = a.iter().map(|r| (r.id, r.claim_no, done(201))).collect();
        ours.push((taken[0].id, taken[0].claim_no, done(201)));
        assert_eq!(
            s.settle_deliveries("a", &ours, "erp", &closed)
                .unwrap()
                .len(),
            3
        );
        let theirs: Vec<_> = c.iter().map(|r| (r.id, r.claim_no, done(200))).collect();
        assert!(s
            .settle_deliveries("c", &theirs, "erp", &closed)
            .unwrap()
            .is_empty());
        let delivered: Vec<(String, i64)> = s
            .all(
                "SELECT claimed_by, last_status FROM deliveries WHERE state = 'delivered' AND claim_until IS NULL",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(delivered, vec![("c".to_string(), 200); 3]);
    }

    #[test]
    fn operator_actions_uploads_and_delivery_outcomes_are_audit_events() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, id) = parsed_810(dir.path());
        let payload = br#"{"id":"rec_1"}"#;
        let mut tx = s.begin_translation(id).unwrap();
        tx.output(&NewOutput {
            kind: "ack:997".into(),
            path: "ACME/acks/997-1.x12".into(),
            content: Content::Bytes(b"ISA".to_vec()),
            uploads: vec!["sftp".into()],
            awaits_ack: None,
        })
        .unwrap();
        record_for_erp(&mut tx, 1, payload);
        tx.exception(&crate::translate::RejectedItem {
            document: "810".into(),
            control: "0002".into(),
            interchange: "1".into(),
            code: "x12.test",
            reason: "refused".into(),
            offset: 0,
        })
        .unwrap();
        assert!(tx.finish(None, "1 record").unwrap().is_empty());
        let closed = Breaker {
            state: "closed".into(),
            failures: 0,
            opened_at: None,
        };
        let now = SystemTime::now();
        let until = now + std::time::Duration::from_secs(30);
        let row = s.claim_deliveries("erp", "n", now, until, 10).unwrap()[0].clone();
        let delivery = row.id;
        let reject = Attempt::Rejected {
            status: 422,
            error: "no".into(),
        };
        s.settle_deliveries(
            "n",
            &[(delivery, row.claim_no, reject.clone())],
            "erp",
            &closed,
        )
        .unwrap();
        s.release_delivery(delivery).unwrap();
        let row = s.claim_deliveries("erp", "n", now, until, 10).unwrap()[0].clone();
        s.settle_deliveries("n", &[(delivery, row.claim_no, reject)], "erp", &closed)
            .unwrap();
        s.discard_delivery(delivery).unwrap();
        let upload = s.due_uploads("sftp", Utc::now()).unwrap()[0].id;
        s.upload_done(upload).unwrap();
        let item = s.open_exceptions().unwrap()[0].0;
        s.discard_exception(item).unwrap();
        let events: Vec<String> = s
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect();
        for said in [
            "rejected, HTTP 422",
            "released by operator",
            "discarded by operator (delivery",
            "discarded by operator",
        ] {
            assert!(
                events.iter().any(|e| e.contains(said)),
                "{said}: {events:?}"
            );
        }
        assert_eq!(
            events
                .iter()
                .filter(|e| e.starts_with("rejected, HTTP 422"))
                .count(),
            2,
            "{events:?}"
        );
        assert!(events.iter().any(|e| e.contains("upload")), "{events:?}");
        assert!(
            events
                .iter()
                .any(|e| e.contains("exception") && e.contains("discarded")),
            "{events:?}"
        );
    }

    #[test]
    fn processes_opening_a_new_database_at_once_migrate_it_once() {
        // Regression: the service and `edigate status` started together both created tables.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let p = path.clone();
                    std::thread::spawn(move || Store::open(&p).map(|_| ()))
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn control_numbers_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.allocate_control("A", "x12").unwrap(), 1);
        assert_eq!(s.allocate_control("A", "x12").unwrap(), 2);
        assert_eq!(s.allocate_control("B", "x12").unwrap(), 1);
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.allocate_control("A", "x12").unwrap(), 3);
        // A block: 4, 5, 6 are taken at once; the next single number follows them.
        assert_eq!(s.reserve_controls("A", "x12", 3).unwrap(), 4);
        assert_eq!(s.allocate_control("A", "x12").unwrap(), 7);
        assert_eq!(s.reserve_controls("C", "x12", 2).unwrap(), 1);
        assert_eq!(s.allocate_control("C", "x12").unwrap(), 3);
        // Unused numbers go back only while nothing was taken after them.
        assert_eq!(s.reserve_controls("C", "x12", 4).unwrap(), 4);
        s.return_controls("C", "x12", 7, 2).unwrap();
        assert_eq!(s.allocate_control("C", "x12").unwrap(), 6);
        s.return_controls("C", "x12", 7, 1).unwrap();
        assert_eq!(s.allocate_control("C", "x12").unwrap(), 7);
    }
}
