//! Configuration: `edigate.toml` parsed with unknown keys refused, paths resolved against the
//! file's folder, and every problem reported at once with file and line.

use crate::acks::Functional;
use crate::formats::edifact::validate::Messages;
use crate::formats::x12::spec::Standards;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    service: RawService,
    #[serde(default)]
    channels: Vec<RawChannel>,
    #[serde(default)]
    partners: Vec<Partner>,
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    routes: Vec<crate::migration::Route>,
    #[serde(default)]
    admin: Option<Admin>,
    #[serde(default)]
    alerts: Vec<Alert>,
    #[serde(default)]
    store: StoreConfig,
}

/// Where the state lives (`[store]`): one SQLite file in the data folder (the default), or
/// a PostgreSQL database that several nodes share.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default)]
    pub backend: Backend,
    /// The environment variable that holds the PostgreSQL URL
    /// (`postgres://user@host:port/db`): the secret stays out of the configuration.
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// A file holding the password, when the URL carries none.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// How long the active node's lease lasts without renewal (PostgreSQL): a standby takes
    /// over this long after the active node stops answering.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

impl StoreConfig {
    /// How long a PostgreSQL transaction may stand idle before the server ends its session:
    /// four leases, and at least two minutes (a batch's translation runs inside its
    /// transaction, between two statements).
    pub fn idle_seconds(&self) -> u64 {
        self.lease_seconds.saturating_mul(4).max(120)
    }

    /// The password in `password_file`, if one is named (its trailing line break dropped).
    pub fn password(&self) -> Result<Option<String>, crate::store::StoreError> {
        let Some(f) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(f).map_err(|e| {
            crate::store::StoreError::Unconfigured(format!("password_file {}: {e}", f.display()))
        })?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }
}

fn default_lease_seconds() -> u64 {
    30
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Backend::Sqlite,
            url_env: default_url_env(),
            password_file: None,
            lease_seconds: default_lease_seconds(),
        }
    }
}

fn default_url_env() -> String {
    "EDIGATE_DATABASE_URL".into()
}

/// The engine of the state store.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres,
}

/// A webhook told of what needs an operator (`[[alerts]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub name: String,
    /// Where the JSON body is POSTed.
    pub url: String,
    /// What it is told of (default: everything): `quarantine`, `dead_letter`, `rejection`,
    /// `overdue_ack`, `channel_failing`, `breaker_open`, `storage_paused`.
    #[serde(default)]
    pub on: Vec<String>,
    /// The HMAC-SHA256 key of the `Edigate-Signature` header (`t=UNIX,v1=HEX` over
    /// `UNIX.BODY`), from the environment or a file.
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// At most this many are sent a minute; the rest wait their turn (none is dropped).
    #[serde(default = "default_alerts_per_minute")]
    pub max_per_minute: u32,
}

fn default_alerts_per_minute() -> u32 {
    30
}

/// The kinds of alert.
pub const ALERT_KINDS: [&str; 7] = [
    "quarantine",
    "dead_letter",
    "rejection",
    "overdue_ack",
    "channel_failing",
    "breaker_open",
    "storage_paused",
];

/// The admin listener (`[admin]`): API, dashboard and metrics, inside `edigate run`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `127.0.0.1:PORT` (port 0: any free port, said in the log).
    pub listen: String,
    /// A non-loopback address is refused unless this is set; TLS must then be terminated by
    /// a reverse proxy in front (edigate speaks plain HTTP).
    #[serde(default)]
    pub allow_remote: bool,
    /// Uploaded corrections of quarantined files are at most this many bytes.
    #[serde(default = "default_upload_bytes")]
    pub max_upload_bytes: usize,
    #[serde(default)]
    pub tokens: Vec<AdminToken>,
}

fn default_ack_due() -> u64 {
    1440
}

fn default_upload_bytes() -> usize {
    10 * 1024 * 1024
}

/// One bearer token of the admin listener, with the name the audit trail records and its
/// role. The secret comes from the environment or a file, never from this file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// What a token may do: `viewer` reads; `operator` also releases, discards and corrects.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_outbox")]
    outbox: PathBuf,
    quarantine: Option<PathBuf>,
    archive: Option<PathBuf>,
    #[serde(default = "default_rescan")]
    rescan_seconds: u64,
    #[serde(default = "default_settle")]
    settle_ms: u64,
    /// `None`: the default `mappings` folder, which may be absent (the built-in set is used
    /// then, and said); a folder named here must exist.
    mappings: Option<PathBuf>,
    #[serde(default = "default_duplicate_days")]
    duplicate_window_days: u64,
    #[serde(default = "default_archive_days")]
    archive_days: u64,
    #[serde(default = "default_state_days")]
    state_days: u64,
    #[serde(default = "default_max_file_mb")]
    max_file_mb: u64,
    /// Inputs that do not stream (XML, CSV, a document inside an archived day's zip) larger
    /// than this are quarantined untranslated: they are read whole.
    #[serde(default = "default_max_whole_file_mb")]
    max_whole_file_mb: u64,
    /// Outputs larger than this (in KB) are kept as files in the spool until written, not in
    /// the state database (which holds no value over about 1 GB).
    #[serde(default = "default_inline_output_kb")]
    inline_output_kb: u64,
}

impl Default for RawService {
    fn default() -> Self {
        RawService {
            data_dir: default_data_dir(),
            outbox: default_outbox(),
            quarantine: None,
            archive: None,
            rescan_seconds: default_rescan(),
            settle_ms: default_settle(),
            mappings: None,
            duplicate_window_days: default_duplicate_days(),
            archive_days: default_archive_days(),
            state_days: default_state_days(),
            max_file_mb: default_max_file_mb(),
            max_whole_file_mb: default_max_whole_file_mb(),
            inline_output_kb: default_inline_output_kb(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    "var".into()
}
fn default_outbox() -> PathBuf {
    "outbox".into()
}
fn default_mappings() -> PathBuf {
    "mappings".into()
}
fn default_archive_days() -> u64 {
    365
}
fn default_state_days() -> u64 {
    400
}
fn default_inline_output_kb() -> u64 {
    1024
}

fn default_max_file_mb() -> u64 {
    4096
}
fn default_max_whole_file_mb() -> u64 {
    256
}
fn default_duplicate_days() -> u64 {
    90
}
fn default_rescan() -> u64 {
    5
}
fn default_settle() -> u64 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // Read once at start; boxing would only obscure the serde shape.
enum RawChannel {
    Dir {
        name: String,
        path: PathBuf,
        #[serde(default)]
        partner: Option<String>,
        #[serde(default)]
        schedule: Option<String>,
    },
    Sftp {
        name: String,
        partner: String,
        host: String,
        #[serde(default = "default_ssh_port")]
        port: u16,
        username: String,
        #[serde(default)]
        private_key: Option<PathBuf>,
        #[serde(default)]
        password_env: Option<String>,
        known_hosts: PathBuf,
        remote_dir: String,
        schedule: String,
        #[serde(default = "default_after")]
        after: String,
        #[serde(default)]
        outbound_dir: Option<String>,
        #[serde(default = "default_stable")]
        stable: String,
        #[serde(default = "default_timeout")]
        timeout_seconds: u64,
    },
}

fn default_ssh_port() -> u16 {
    22
}
fn default_after() -> String {
    "delete".into()
}
fn default_stable() -> String {
    "listing".into()
}
fn default_timeout() -> u64 {
    30
}

/// A trading partner: who it is in envelopes and what acknowledgements it wants.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub id: String,
    /// X12 sender ids as `ISA05:ISA06`, e.g. `ZZ:ACMESUPPLY`.
    #[serde(default)]
    pub x12_ids: Vec<String>,
    /// EDIFACT sender ids as `ID:QUALIFIER` (UNB S002), e.g. `5412345000013:14`.
    #[serde(default)]
    pub edifact_ids: Vec<String>,
    /// cXML sender credentials as `domain:identity` (Header/From), e.g. `NetworkID:AN01000000001`.
    #[serde(default)]
    pub cxml_ids: Vec<String>,
    /// `997` (default), `999` or `none` (`none` also turns CONTRL off).
    #[serde(default)]
    pub ack: Functional,
    /// How documents we send to this partner are enveloped.
    #[serde(default)]
    pub outbound: Outbound,
    /// The partner's account in each ERP, by target name (`[partners.erp_ids]`, `s4 =
    /// "17300001"`): the supplier or vendor number the payload mappings send.
    #[serde(default)]
    pub erp_ids: BTreeMap<String, String>,
    /// Whether an ERP's rejection of this partner's document (on a live side of its route,
    /// never a shadow) travels back to the partner: an X12 824 application advice, or an
    /// EDIFACT APERAK, in the syntax the document came in.
    #[serde(default)]
    pub advise_rejections: bool,
    /// Minutes within which the partner's 997/999/CONTRL must answer an interchange we
    /// send (default 1440); `0`: none is expected.
    #[serde(default = "default_ack_due")]
    pub ack_due_minutes: u64,
    /// The partner sends at least one file this often: a channel of the partner quiet for
    /// longer shows as quiet on the dashboard (and in `edigate status --json`).
    #[serde(default)]
    pub expected_interval_minutes: Option<u64>,
    /// How a rejected purchase order is told: `application_advice` (824, APERAK; default) or
    /// `order_response` (an X12 855 or EDIFACT ORDRSP rejecting the order and every line).
    #[serde(default)]
    pub order_rejections: OrderRejections,
}

/// How a rejected purchase order is told to the partner.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderRejections {
    #[default]
    ApplicationAdvice,
    OrderResponse,
}

/// Envelope settings for documents sent to one partner (`[partners.outbound]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    /// Our ISA05:ISA06 (and GS02).
    pub x12_sender: String,
    /// Their ISA07:ISA08 (and GS03); default: the partner's first `x12_ids`.
    pub x12_receiver: Option<String>,
    /// Element, component, repetition and segment separators, in that order.
    pub x12_separators: String,
    /// GS08 version: `004010` or `005010` (ISA12 follows).
    pub x12_version: String,
    /// `P` production or `T` test (ISA15).
    pub usage: String,
    /// Our UNB sender `ID:QUALIFIER`.
    pub edifact_sender: String,
    /// Their UNB recipient; default: the partner's first `edifact_ids`.
    pub edifact_receiver: Option<String>,
    /// The UNA service string advice: component, element, decimal mark, release, repetition,
    /// segment terminator.
    pub edifact_una: String,
    /// Message directory (`D96A`, `D01B`).
    pub edifact_directory: String,
    /// cXML `From` and `To` credentials (`domain:identity`) and the shared secret's env name.
    pub cxml_from: String,
    pub cxml_to: Option<String>,
    pub cxml_secret_env: Option<String>,
    /// Canonical records dropped for this partner (JSON Lines from the ERP) go out as these
    /// documents: schema -> target, e.g. `"purchase_order/v1" = "x12:850"`.
    pub documents: BTreeMap<String, String>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            x12_sender: "ZZ:EDIGATE".into(),
            x12_receiver: None,
            x12_separators: "*>^~".into(),
            x12_version: "004010".into(),
            usage: "P".into(),
            edifact_sender: "EDIGATE:ZZZ".into(),
            edifact_receiver: None,
            edifact_una: ":+.? '".into(),
            edifact_directory: "D96A".into(),
            cxml_from: "NetworkID:EDIGATE".into(),
            cxml_to: None,
            cxml_secret_env: None,
            documents: BTreeMap::new(),
        }
    }
}

/// A system records are delivered to (an ERP API or any HTTP endpoint taking JSON).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TargetKind,
    /// `http` and `rest`: records are POSTed here as JSON, one per request, with an
    /// `Idempotency-Key` header.
    #[serde(default)]
    pub url: String,
    /// ERP kinds: the system's root; its standard service paths are appended.
    #[serde(default)]
    pub base_url: String,
    /// OAuth2 client-credentials token endpoint (`dynamics365`; `sap_s4hana` instead of basic
    /// authentication).
    #[serde(default)]
    pub token_url: Option<String>,
    /// OAuth2 scope asked for (default for `dynamics365`: `BASE_URL/.default`).
    #[serde(default)]
    pub scope: Option<String>,
    /// Secrets: each from an environment variable (`*_env`) or a file (`*_file`), never from
    /// this file itself.
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub client_id_env: Option<String>,
    #[serde(default)]
    pub client_id_file: Option<PathBuf>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `coupa_cxml`: the `SharedSecret` of the cXML `Sender`.
    #[serde(default)]
    pub shared_secret_env: Option<String>,
    #[serde(default)]
    pub shared_secret_file: Option<PathBuf>,
    /// `http`/`rest`: the secret that signs each request (`Edigate-Signature`).
    #[serde(default)]
    pub signing_secret_env: Option<String>,
    #[serde(default)]
    pub signing_secret_file: Option<PathBuf>,
    /// `legacy_files`: the legacy ERP's import folder.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `legacy_files` over SFTP: the SFTP channel whose connection is used, and the remote
    /// import folder (instead of `path`).
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub remote_dir: Option<String>,
    /// `legacy_files`: how records are written there (`csv`).
    #[serde(default)]
    pub format: Option<String>,
    /// Constants the payload mappings read as `.target.values` (`company_code`, `data_area`).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Schemas delivered (`purchase_order/v1`); empty means every record.
    #[serde(default)]
    pub documents: Vec<String>,
    /// Partners whose records go here; empty means every partner.
    #[serde(default)]
    pub partners: Vec<String>,
    /// Name of an environment variable holding a bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default = "default_target_timeout")]
    pub timeout_seconds: u64,
    /// At most this many requests in flight to this target.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Transient failures are retried this many times, then dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// ... or once the first attempt is this old.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: i64,
    /// First retry delay; each retry doubles the ceiling, with full jitter.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "default_backoff_cap")]
    pub backoff_cap_seconds: u64,
    /// Consecutive transient failures that open the circuit breaker.
    #[serde(default = "default_breaker")]
    pub breaker_threshold: i64,
    #[serde(default = "default_cooldown")]
    pub breaker_cooldown_seconds: i64,
}

/// The systems a target can be: a closed set, one connector module each (`src/targets/`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Canonical records as JSON to any endpoint.
    Http,
    /// The same, named as the generic REST connector.
    Rest,
    SapS4hana,
    OracleFusion,
    Dynamics365,
    CoupaCxml,
    LegacyFiles,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Http => "http",
            TargetKind::Rest => "rest",
            TargetKind::SapS4hana => "sap_s4hana",
            TargetKind::OracleFusion => "oracle_fusion",
            TargetKind::Dynamics365 => "dynamics365",
            TargetKind::CoupaCxml => "coupa_cxml",
            TargetKind::LegacyFiles => "legacy_files",
        }
    }

    /// Whether a delivery that may have been sent needs to be known as such before it is sent
    /// again: the systems that honour no idempotency key (looked up by business key first) and
    /// Coupa (whose duplicate-invoice answer then means "ours").
    pub fn needs_lookup(self) -> bool {
        matches!(
            self,
            TargetKind::SapS4hana
                | TargetKind::Dynamics365
                | TargetKind::OracleFusion
                | TargetKind::CoupaCxml
        )
    }
}

/// A secret from an environment variable or a file (its content, trimmed). The error names
/// where it was looked for, never a value.
pub fn secret(env: &Option<String>, file: &Option<PathBuf>) -> Result<Option<String>, String> {
    if let Some(v) = env {
        return match std::env::var(v) {
            Ok(s) if !s.is_empty() => Ok(Some(s)),
            _ => Err(format!("environment variable {v} is not set")),
        };
    }
    if let Some(f) = file {
        return std::fs::read_to_string(f)
            .map(|s| Some(s.trim().to_string()))
            .map_err(|e| format!("secret file {}: {e}", f.display()));
    }
    Ok(None)
}

fn default_target_timeout() -> u64 {
    30
}
fn default_concurrency() -> usize {
    4
}
fn default_max_attempts() -> i64 {
    10
}
fn default_max_age() -> i64 {
    86_400
}
fn default_backoff_ms() -> u64 {
    1000
}
fn default_backoff_cap() -> u64 {
    300
}
fn default_breaker() -> i64 {
    5
}
fn default_cooldown() -> i64 {
    30
}

impl Target {
    /// Whether this target takes a record of `schema` from `partner`.
    pub fn takes(&self, schema: &str, partner: &str) -> bool {
        (self.documents.is_empty() || self.documents.iter().any(|d| d == schema))
            && (self.partners.is_empty() || self.partners.iter().any(|p| p == partner))
    }
}

/// An input: a watched folder or a partner's SFTP drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    /// When set, every file in this channel must come from this partner.
    pub partner: Option<String>,
    /// Cron expression with seconds (`*/30 * * * * *`); a folder without one is watched.
    pub schedule: Option<String>,
    pub kind: ChannelKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    Dir { path: PathBuf },
    Sftp(Box<SftpChannel>),
}

/// What to do with a remote file once its content is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Delete,
    /// Rename into this remote folder.
    Move(String),
}

/// When a remote file counts as completely uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stable {
    /// Its size and modification time did not change between two listings.
    Listing,
    /// The partner uploads under a temporary name (`.tmp`, `.part`) and renames when done.
    Rename,
}

/// How to reach a partner's SFTP drop. Secrets are never stored here: a key file path, or the
/// name of an environment variable holding the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpChannel {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub private_key: Option<PathBuf>,
    pub password_env: Option<String>,
    pub known_hosts: PathBuf,
    pub remote_dir: String,
    pub after: After,
    pub outbound_dir: Option<String>,
    pub stable: Stable,
    pub timeout_seconds: u64,
}

impl Channel {
    /// The local folder of a folder channel.
    pub fn dir(&self) -> Option<&Path> {
        match &self.kind {
            ChannelKind::Dir { path } => Some(path),
            ChannelKind::Sftp(_) => None,
        }
    }

    pub fn sftp(&self) -> Option<&SftpChannel> {
        match &self.kind {
            ChannelKind::Sftp(s) => Some(s),
            ChannelKind::Dir { .. } => None,
        }
    }

    /// Where a file of this channel came from, for records and logs.
    pub fn origin(&self, cfg: &Config, name: &str) -> String {
        match &self.kind {
            ChannelKind::Dir { path } => cfg.rel(&path.join(name)),
            ChannelKind::Sftp(s) => format!(
                "sftp://{}@{}:{}/{}/{name}",
                s.username,
                s.host,
                s.port,
                s.remote_dir.trim_matches('/')
            ),
        }
    }
}

/// The validated configuration with absolute paths.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    /// The folder holding the configuration file; relative paths start here.
    pub base: PathBuf,
    pub data_dir: PathBuf,
    pub outbox: PathBuf,
    pub quarantine: PathBuf,
    pub archive: PathBuf,
    pub mappings: PathBuf,
    pub rescan_seconds: u64,
    pub settle_ms: u64,
    /// How long an interchange control number from a sender counts as seen.
    pub duplicate_window_days: u64,
    /// Archived inputs are deleted after this many days (packed into one zip per day first).
    pub archive_days: u64,
    /// State rows of finished files (and their audit trail) are deleted after this many days.
    pub state_days: u64,
    /// Inputs larger than this are quarantined untranslated, before anything is read.
    pub max_file_bytes: u64,
    /// Inputs read whole (XML, zip, archived documents, and CSV mapped interpreted or with a
    /// document's rows apart) larger than
    /// this are quarantined untranslated: what is in memory must not grow with a file.
    pub max_whole_bytes: u64,
    /// Outputs larger than this many bytes are kept as spool files until written.
    pub inline_output_bytes: usize,
    pub channels: Vec<Channel>,
    pub partners: Vec<Partner>,
    pub targets: Vec<Target>,
    /// Migration routes (`[[routes]]`), tried in the order of the file.
    pub routes: Vec<crate::migration::Route>,
    /// The admin listener, when configured.
    pub admin: Option<Admin>,
    /// Where the state lives.
    pub store: StoreConfig,
    /// Webhooks told of what needs an operator.
    pub alerts: Vec<Alert>,
    /// SHA-256 of the configuration text, for the audit trail of mode changes.
    pub hash: String,
    /// The configuration text itself (kept by the service as the one in force).
    pub text: Arc<str>,
    /// X12 message definitions: `mappings/standards/x12/` when present, else the built-in copy.
    pub x12: Arc<Standards>,
    /// EDIFACT message structures: `mappings/standards/edifact/` when present, else built in.
    pub edifact: Arc<Messages>,
    /// Mapping programs and code crosswalks: `mappings/**.jq` and `mappings/codes/*.csv`
    /// over the built-in copies.
    pub maps: Arc<crate::mapping::Mappings>,
}

impl Config {
    /// Where the mappings come from, when that is not simply the configured folder: said by
    /// `edigate check` and logged at start, so that an operator's mappings are never skipped
    /// without a word.
    pub fn mapping_notes(&self) -> Vec<String> {
        if !self.mappings.is_dir() {
            return vec![format!(
                "mappings: no folder at {}, so the built-in set runs (copy the shipped mappings/ \
                 there to change them)",
                self.mappings.display()
            )];
        }
        self.maps
            .builtin_in_use()
            .into_iter()
            .map(|name| {
                format!(
                    "{name}.jq is not in {}, so its built-in copy runs",
                    self.mappings.display()
                )
            })
            .collect()
    }

    pub fn spool(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// The SQLite file of the state (when `[store]` says SQLite).
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("edigate.db")
    }

    /// Where the state is: the SQLite file, or the PostgreSQL database whose URL is in the
    /// environment variable `[store] url_env` (read now, never kept in the configuration).
    pub fn store_location(&self) -> Result<crate::store::Location, crate::store::StoreError> {
        use crate::store::{Location, StoreError};
        match self.store.backend {
            Backend::Sqlite => Ok(Location::Sqlite(self.database())),
            Backend::Postgres => {
                let url = std::env::var(&self.store.url_env).map_err(|_| {
                    StoreError::Unconfigured(format!(
                        "backend = \"postgres\" but the environment variable {} (url_env) is not set",
                        self.store.url_env
                    ))
                })?;
                let password = self.store.password()?;
                Ok(Location::Postgres {
                    url,
                    password,
                    idle_seconds: self.store.idle_seconds(),
                })
            }
        }
    }

    /// `path` relative to the configuration folder when inside it (for state rows and records).
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// Inverse of [`Config::rel`].
    pub fn resolve(&self, stored: &str) -> PathBuf {
        self.base.join(stored)
    }

    /// The partner whose X12 ids include `qualifier:id`.
    pub fn partner_by_x12(&self, sender: &str) -> Option<&Partner> {
        self.partners
            .iter()
            .find(|p| p.x12_ids.iter().any(|s| s.trim() == sender))
    }

    /// The partner whose EDIFACT ids include `id:qualifier`.
    pub fn partner_by_edifact(&self, sender: &str) -> Option<&Partner> {
        self.partners
            .iter()
            .find(|p| p.edifact_ids.iter().any(|s| s.trim() == sender))
    }

    /// The partner whose cXML credentials include `domain:identity` (domains compare without case).
    pub fn partner_by_cxml(&self, sender: &str) -> Option<&Partner> {
        let key = |s: &str| match s.trim().split_once(':') {
            Some((d, i)) => format!("{}:{i}", d.to_ascii_lowercase()),
            None => s.trim().to_string(),
        };
        let want = key(sender);
        self.partners
            .iter()
            .find(|p| p.cxml_ids.iter().any(|s| key(s) == want))
    }

    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// A configuration with defaults only, rooted at `dir` (used by `translate` without a file).
    pub fn defaults(dir: &Path) -> Config {
        build(
            dir.join("edigate.toml"),
            RawConfig {
                targets: Vec::new(),
                service: RawService::default(),
                channels: Vec::new(),
                partners: Vec::new(),
                routes: Vec::new(),
                admin: None,
                store: StoreConfig::default(),
                alerts: Vec::new(),
            },
        )
    }

    /// Whether `target` is on the modern side of some route and on no legacy side: such a
    /// target takes only the records routes send it, while every other target also takes the
    /// records no route covers (by its documents and partners), so that adding a route for
    /// one partner never stops another partner's records reaching the legacy system.
    pub fn routed_only(&self, target: &str) -> bool {
        let on = |side| {
            self.routes
                .iter()
                .any(|r| r.side(side).iter().any(|t| t == target))
        };
        on(crate::migration::Side::Modern) && !on(crate::migration::Side::Legacy)
    }
}

/// One configuration problem, with the line it is on when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn build(file: PathBuf, raw: RawConfig) -> Config {
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let data_dir = abs(&raw.service.data_dir);
    Config {
        outbox: abs(&raw.service.outbox),
        quarantine: raw
            .service
            .quarantine
            .as_deref()
            .map_or_else(|| data_dir.join("quarantine"), abs),
        archive: raw
            .service
            .archive
            .as_deref()
            .map_or_else(|| data_dir.join("archive"), abs),
        mappings: abs(raw
            .service
            .mappings
            .as_deref()
            .unwrap_or(&default_mappings())),
        rescan_seconds: raw.service.rescan_seconds,
        settle_ms: raw.service.settle_ms,
        duplicate_window_days: raw.service.duplicate_window_days,
        archive_days: raw.service.archive_days,
        state_days: raw.service.state_days,
        max_file_bytes: raw.service.max_file_mb.saturating_mul(1 << 20),
        max_whole_bytes: raw.service.max_whole_file_mb.saturating_mul(1 << 20),
        inline_output_bytes: raw.service.inline_output_kb.saturating_mul(1 << 10) as usize,
        channels: raw
            .channels
            .iter()
            .map(|c| match c {
                RawChannel::Dir {
                    name,
                    path,
                    partner,
                    schedule,
                } => Channel {
                    name: name.clone(),
                    partner: partner.clone(),
                    schedule: schedule.clone(),
                    kind: ChannelKind::Dir { path: abs(path) },
                },
                RawChannel::Sftp {
                    name,
                    partner,
                    host,
                    port,
                    username,
                    private_key,
                    password_env,
                    known_hosts,
                    remote_dir,
                    schedule,
                    after,
                    outbound_dir,
                    stable,
                    timeout_seconds,
                } => Channel {
                    name: name.clone(),
                    partner: Some(partner.clone()),
                    schedule: Some(schedule.clone()),
                    kind: ChannelKind::Sftp(Box::new(SftpChannel {
                        host: host.clone(),
                        port: *port,
                        username: username.clone(),
                        private_key: private_key.as_deref().map(abs),
                        password_env: password_env.clone(),
                        known_hosts: abs(known_hosts),
                        remote_dir: remote_dir.clone(),
                        after: match after.strip_prefix("move:") {
                            Some(d) => After::Move(d.to_string()),
                            None => After::Delete,
                        },
                        outbound_dir: outbound_dir.clone(),
                        stable: if stable == "rename" {
                            Stable::Rename
                        } else {
                            Stable::Listing
                        },
                        timeout_seconds: *timeout_seconds,
                    })),
                },
            })
            .collect(),
        partners: raw.partners,
        targets: raw
            .targets
            .into_iter()
            .map(|mut t| {
                // Secret files and the legacy import folder, like every path, are relative to
                // this file.
                for p in [
                    &mut t.path,
                    &mut t.username_file,
                    &mut t.password_file,
                    &mut t.client_id_file,
                    &mut t.client_secret_file,
                    &mut t.token_file,
                    &mut t.signing_secret_file,
                    &mut t.shared_secret_file,
                ] {
                    if let Some(v) = p.as_mut() {
                        *v = abs(v);
                    }
                }
                t
            })
            .collect(),
        routes: raw.routes,
        store: StoreConfig {
            password_file: raw.store.password_file.as_deref().map(abs),
            ..raw.store
        },
        admin: raw.admin.map(|mut a| {
            for t in &mut a.tokens {
                if let Some(f) = t.token_file.as_mut() {
                    *f = abs(f);
                }
            }
            a
        }),
        alerts: raw
            .alerts
            .into_iter()
            .map(|mut a| {
                if let Some(f) = a.secret_file.as_mut() {
                    *f = abs(f);
                }
                a
            })
            .collect(),
        hash: String::new(),
        text: Arc::from(""),
        data_dir,
        file,
        base,
        x12: Arc::new(Standards::builtin()),
        edifact: Arc::new(Messages::builtin()),
        maps: Arc::new(crate::mapping::Mappings::builtin()),
    }
}

/// Line (1-based) of the `n`-th occurrence of a table header such as `[[channels]]`.
/// The line of the first `key = ...` in the text.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

fn header_line(text: &str, header: &str, n: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(header))
        .nth(n)
        .map(|(i, _)| i + 1)
}

fn txt_files(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "txt"));
    names.sort();
    names
}

/// Reads every EDIFACT message structure in `dir`.
pub fn load_messages(dir: &Path) -> Result<Messages, Vec<ConfigError>> {
    let mut m = Messages::default();
    let mut errors = Vec::new();
    let mut found = Vec::new();
    for path in txt_files(dir) {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match std::fs::read_to_string(&path) {
            Ok(text) => m.add_file(&name, &text, &mut found),
            Err(e) => errors.push(ConfigError {
                file: path.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    errors.extend(found.into_iter().map(|(file, line, message)| ConfigError {
        file: dir.join(file),
        line: Some(line),
        message,
    }));
    if errors.is_empty() {
        Ok(m)
    } else {
        Err(errors)
    }
}

/// Reads every definition file in `dir` (`*.txt`), reporting every problem with its line.
pub fn load_standards(dir: &Path) -> Result<Standards, Vec<ConfigError>> {
    let mut st = Standards::default();
    let mut errors = Vec::new();
    let mut spec_errors = Vec::new();
    for path in &txt_files(dir) {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match std::fs::read_to_string(path) {
            Ok(text) => st.add_file(&name, &text, &mut spec_errors),
            Err(e) => errors.push(ConfigError {
                file: path.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    errors.extend(spec_errors.into_iter().map(|e| ConfigError {
        file: dir.join(&e.file),
        line: Some(e.line),
        message: e.message,
    }));
    errors.extend(st.check().into_iter().map(|m| ConfigError {
        file: dir.to_path_buf(),
        line: None,
        message: m,
    }));
    st.resolve();
    if errors.is_empty() {
        Ok(st)
    } else {
        Err(errors)
    }
}

fn is_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

/// Problems with the `[admin]` settings.
fn admin_problems(a: &Admin) -> Vec<String> {
    let mut out = Vec::new();
    match a.listen.parse::<std::net::SocketAddr>() {
        Err(_) => out.push(format!(
            "[admin] listen {:?} is not an address such as \"127.0.0.1:8089\"",
            a.listen
        )),
        Ok(addr) if !addr.ip().is_loopback() && !a.allow_remote => out.push(format!(
            "[admin] listen {} is not a loopback address: set allow_remote = true to serve it \
             (edigate speaks plain HTTP: a reverse proxy in front must terminate TLS)",
            a.listen
        )),
        Ok(_) => {}
    }
    if a.tokens.is_empty() {
        out.push(
            "[admin] needs at least one [[admin.tokens]] (name, role, token_env or token_file)"
                .into(),
        );
    }
    for (i, t) in a.tokens.iter().enumerate() {
        if t.name.trim().is_empty() || a.tokens[..i].iter().any(|o| o.name == t.name) {
            out.push(format!(
                "[[admin.tokens]] {:?}: each token needs a name of its own",
                t.name
            ));
        }
        if t.token_env.is_some() == t.token_file.is_some() {
            out.push(format!(
                "[[admin.tokens]] {:?}: set exactly one of token_env and token_file",
                t.name
            ));
        }
    }
    out
}

/// Where a running service keeps the configuration text it accepted last, in its data folder.
pub const IN_FORCE: &str = "config-in-force.toml";

/// The configuration the service runs while the file at `file` is refused: the copy it kept
/// in its data folder (found through the file's `data_dir` when the file is at least TOML,
/// else the default), checked as if it were at `file`. With the refused file's errors.
pub fn in_force(file: &Path) -> Result<(Config, ConfigErrors), ConfigErrors> {
    let errors = match load(file) {
        Ok(cfg) => return Ok((cfg, ConfigErrors(Vec::new()))),
        Err(e) => e,
    };
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let data_dir = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| {
            t.get("service")?
                .get("data_dir")?
                .as_str()
                .map(PathBuf::from)
        })
        .unwrap_or_else(default_data_dir);
    let kept = base.join(data_dir).join(IN_FORCE);
    match std::fs::read_to_string(&kept) {
        Ok(text) => parse(&file, &text).map(|cfg| (cfg, errors)),
        Err(_) => Err(errors),
    }
}

/// Reads and validates a configuration file.
pub fn load(file: &Path) -> Result<Config, ConfigErrors> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let err = |line, message| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line,
            message,
        }])
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| err(None, format!("cannot read the configuration: {e}")))?;
    parse(&file, &text)
}

/// Parses and validates configuration text that lives at `file`.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            line,
            message: e.message().trim().to_string(),
        }])
    })?;
    let mut errors = Vec::new();
    let mut add = |line, message: String| {
        errors.push(ConfigError {
            file: file.to_path_buf(),
            line,
            message,
        })
    };
    let cfg = build(file.to_path_buf(), raw.clone());
    if cfg.channels.is_empty() {
        add(
            None,
            "no [[channels]] are configured: nothing would be read".into(),
        );
    }
    if cfg.settle_ms == 0 || cfg.rescan_seconds == 0 {
        add(
            header_line(text, "[service]", 0),
            "settle_ms and rescan_seconds must be at least 1".into(),
        );
    }
    if cfg.max_file_bytes == 0 || cfg.max_whole_bytes == 0 {
        add(
            header_line(text, "[service]", 0),
            "max_file_mb and max_whole_file_mb must be at least 1".into(),
        );
    }
    for (i, c) in cfg.channels.iter().enumerate() {
        let line = header_line(text, "[[channels]]", i);
        if c.name.trim().is_empty() || c.name.contains(['/', ':', '\\']) {
            add(
                line,
                format!(
                    "channel name {:?} must be non-empty, without '/', '\\' or ':'",
                    c.name
                ),
            );
        }
        if cfg.channels[..i].iter().any(|o| o.name == c.name) {
            add(line, format!("channel name {:?} is used twice", c.name));
        }
        if let Some(path) = c.dir().filter(|p| !p.is_dir()) {
            add(
                line,
                format!(
                    "channel {:?}: folder {} does not exist",
                    c.name,
                    path.display()
                ),
            );
        }
        if let Some(s) = &c.schedule {
            if tokio_cron_scheduler::Job::new(s.as_str(), |_, _| {}).is_err() {
                add(line, format!("channel {:?}: schedule {s:?} is not a cron expression with seconds (such as \"*/30 * * * * *\")", c.name));
            }
        }
        if let (Some(s), RawChannel::Sftp { after, stable, .. }) = (c.sftp(), &raw.channels[i]) {
            match (&s.private_key, &s.password_env) {
                (Some(_), Some(_)) | (None, None) => add(
                    line,
                    format!(
                        "channel {:?}: give exactly one of private_key and password_env",
                        c.name
                    ),
                ),
                (Some(k), None) if !k.is_file() => add(
                    line,
                    format!(
                        "channel {:?}: private key {} does not exist",
                        c.name,
                        k.display()
                    ),
                ),
                _ => {}
            }
            if !s.known_hosts.is_file() {
                add(line, format!("channel {:?}: known_hosts {} does not exist (host keys are always checked)", c.name, s.known_hosts.display()));
            }
            if after != "delete" && !after.starts_with("move:") {
                add(line, format!("channel {:?}: after = {after:?} must be \"delete\" or \"move:<remote dir>\"", c.name));
            }
            if stable != "listing" && stable != "rename" {
                add(
                    line,
                    format!(
                        "channel {:?}: stable = {stable:?} must be \"listing\" or \"rename\"",
                        c.name
                    ),
                );
            }
            if s.host.is_empty() || s.username.is_empty() {
                add(
                    line,
                    format!("channel {:?}: host and username must not be empty", c.name),
                );
            }
        }
        if let Some(p) = &c.partner {
            if cfg.partner(p).is_none() {
                add(
                    line,
                    format!(
                        "channel {:?}: partner {p:?} is not declared in [[partners]]",
                        c.name
                    ),
                );
            }
        }
    }
    for (i, p) in cfg.partners.iter().enumerate() {
        let line = header_line(text, "[[partners]]", i);
        if p.id.trim().is_empty() {
            add(line, "partner id must not be empty".into());
        }
        if cfg.partners[..i].iter().any(|o| o.id == p.id) {
            add(line, format!("partner id {:?} is declared twice", p.id));
        }
        for s in &p.x12_ids {
            match s.split_once(':') {
                Some((q, id)) if (1..=2).contains(&q.len()) && !id.is_empty() && id.len() <= 15 => {
                }
                _ => add(
                    line,
                    format!(
                        "partner {:?}: x12 id {s:?} must be QUALIFIER:ID (ISA05:ISA06)",
                        p.id
                    ),
                ),
            }
            if let Some(o) = cfg.partners[..i].iter().find(|o| o.x12_ids.contains(s)) {
                add(
                    line,
                    format!(
                        "partner {:?}: x12 id {s:?} already belongs to partner {:?}",
                        p.id, o.id
                    ),
                );
            }
        }
        for s in &p.edifact_ids {
            if !matches!(s.split_once(':'), Some((id, q)) if !id.is_empty() && id.len() <= 35 && q.len() <= 4)
            {
                add(
                    line,
                    format!(
                        "partner {:?}: edifact id {s:?} must be ID:QUALIFIER (UNB S002)",
                        p.id
                    ),
                );
            }
            if let Some(o) = cfg.partners[..i].iter().find(|o| o.edifact_ids.contains(s)) {
                add(
                    line,
                    format!(
                        "partner {:?}: edifact id {s:?} already belongs to partner {:?}",
                        p.id, o.id
                    ),
                );
            }
        }
    }
    for (i, t) in cfg.targets.iter().enumerate() {
        let line = header_line(text, "[[targets]]", i);
        match t.kind {
            TargetKind::Http | TargetKind::Rest if !is_url(&t.url) => add(
                line,
                format!(
                    "target {:?}: url {:?} must start with http:// or https://",
                    t.name, t.url
                ),
            ),
            TargetKind::SapS4hana
            | TargetKind::Dynamics365
            | TargetKind::OracleFusion
            | TargetKind::CoupaCxml
                if !is_url(&t.base_url) =>
            {
                add(
                    line,
                    format!(
                        "target {:?}: base_url {:?} must start with http:// or https://",
                        t.name, t.base_url
                    ),
                )
            }
            TargetKind::LegacyFiles if t.path.is_some() == t.channel.is_some() => add(
                line,
                format!(
                    "target {:?}: legacy_files needs path (a local import folder) or channel and remote_dir (an SFTP one), one of them",
                    t.name
                ),
            ),
            TargetKind::LegacyFiles
                if t.channel.as_ref().is_some_and(|c| {
                    t.remote_dir.is_none()
                        || !cfg.channels.iter().any(|ch| &ch.name == c && ch.sftp().is_some())
                }) =>
            {
                add(
                    line,
                    format!(
                        "target {:?}: channel {:?} must name an SFTP channel, and remote_dir the folder on it",
                        t.name,
                        t.channel.as_deref().unwrap_or("")
                    ),
                )
            }
            TargetKind::LegacyFiles
                if !matches!(
                    t.format.as_deref().unwrap_or("csv"),
                    "csv" | "fixed" | "edi"
                ) =>
            {
                add(
                    line,
                    format!(
                        "target {:?}: format {:?} is not one of csv, fixed, edi",
                        t.name,
                        t.format.as_deref().unwrap_or("")
                    ),
                )
            }
            TargetKind::Dynamics365 if t.token_url.as_deref().is_none_or(|u| !is_url(u)) => add(
                line,
                format!(
                    "target {:?}: dynamics365 needs token_url (the Entra token endpoint)",
                    t.name
                ),
            ),
            _ => {}
        }
        let pairs = [
            ("username", &t.username_env, &t.username_file),
            ("password", &t.password_env, &t.password_file),
            ("client_id", &t.client_id_env, &t.client_id_file),
            ("client_secret", &t.client_secret_env, &t.client_secret_file),
        ];
        for (what, env, file) in pairs {
            if env.is_some() && file.is_some() {
                add(
                    line,
                    format!(
                        "target {:?}: {what}_env and {what}_file are both set; keep one",
                        t.name
                    ),
                );
            }
        }
        if cfg.targets[..i].iter().any(|o| o.name == t.name) {
            add(line, format!("target name {:?} is used twice", t.name));
        }
        if t.concurrency == 0 || t.max_attempts < 1 || t.breaker_threshold < 1 {
            add(line, format!("target {:?}: concurrency, max_attempts and breaker_threshold must be at least 1", t.name));
        }
    }
    for (i, message) in crate::migration::route::problems(&cfg.routes, &cfg.targets) {
        add(header_line(text, "[[routes]]", i), message);
    }
    for (i, a) in cfg.alerts.iter().enumerate() {
        let line = header_line(text, "[[alerts]]", i);
        if cfg.alerts[..i].iter().any(|o| o.name == a.name) || a.name.trim().is_empty() {
            add(
                line,
                format!("alert {:?}: each alert needs a name of its own", a.name),
            );
        }
        if !is_url(&a.url) {
            add(
                line,
                format!("alert {:?}: url {:?} is not an http(s) URL", a.name, a.url),
            );
        }
        for k in a.on.iter().filter(|k| !ALERT_KINDS.contains(&k.as_str())) {
            add(
                line,
                format!(
                    "alert {:?}: {k:?} is not a kind of alert (known: {})",
                    a.name,
                    ALERT_KINDS.join(", ")
                ),
            );
        }
        if a.secret_env.is_some() && a.secret_file.is_some() {
            add(
                line,
                format!(
                    "alert {:?}: secret_env and secret_file are both set; keep one",
                    a.name
                ),
            );
        }
        if a.max_per_minute == 0 {
            add(
                line,
                format!("alert {:?}: max_per_minute must be at least 1", a.name),
            );
        }
    }
    if let Some(a) = &cfg.admin {
        let line = header_line(text, "[admin]", 0);
        for m in admin_problems(a) {
            add(line, m);
        }
    }
    let mut cfg = cfg;
    cfg.hash = crate::util::sha256_hex(text.as_bytes());
    cfg.text = Arc::from(text);
    if raw.service.mappings.is_some() && !cfg.mappings.is_dir() {
        add(
            key_line(text, "mappings"),
            format!(
                "mappings folder {} does not exist ([service] mappings): create it (a copy of \
                 the shipped mappings/ is a good start) or remove the key to use the built-in set",
                cfg.mappings.display()
            ),
        );
    }
    let dir = cfg.mappings.join("standards/x12");
    if dir.is_dir() {
        match load_standards(&dir) {
            Ok(st) => cfg.x12 = Arc::new(st),
            Err(es) => errors.extend(es),
        }
    }
    let dir = cfg.mappings.join("standards/edifact");
    if dir.is_dir() {
        match load_messages(&dir) {
            Ok(m) => cfg.edifact = Arc::new(m),
            Err(es) => errors.extend(es),
        }
    }
    match crate::mapping::Mappings::load(Some(&cfg.mappings)) {
        Ok(m) => cfg.maps = Arc::new(m),
        Err(es) => errors.extend(es.into_iter().map(|e| ConfigError {
            file: e.file,
            line: e.line,
            message: e.message,
        })),
    }
    // Every document a system target takes needs its payload mapping (the shipped one, or a
    // partner's own); without one the deliveries would all be held.
    for (i, t) in cfg.targets.iter().enumerate() {
        if matches!(t.kind, TargetKind::Http | TargetKind::Rest)
            || (t.kind == TargetKind::LegacyFiles && t.format.as_deref() == Some("edi"))
        {
            continue;
        }
        let kind = t.kind.as_str();
        if t.documents.is_empty() {
            errors.push(ConfigError {
                file: cfg.file.clone(),
                line: header_line(text, "[[targets]]", i),
                message: format!(
                    "target {:?}: list the documents it takes (documents = [\"invoice/v1\", ...]); {kind} needs a payload mapping for each",
                    t.name
                ),
            });
        }
        for schema in &t.documents {
            let document = schema.split('/').next().unwrap_or("");
            let shipped = cfg.maps.find("", "targets", kind, document).is_some();
            let own = cfg.partners.iter().any(|p| {
                cfg.maps
                    .names()
                    .any(|n| n == format!("partners/{}/targets/{kind}/{document}", p.id))
            });
            if !shipped && !own {
                errors.push(ConfigError {
                    file: cfg.file.clone(),
                    line: header_line(text, "[[targets]]", i),
                    message: format!(
                        "target {:?}: no payload mapping targets/{kind}/{document}.jq for {schema} (shipped: {})",
                        t.name,
                        cfg.maps
                            .names()
                            .filter_map(|n| n.strip_prefix(&format!("targets/{kind}/")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        let text = r#"
[service]
settle_ms = 100

[[channels]]
name = "a"
type = "dir"
path = "in"
partner = "NOPE"

[[channels]]
name = "a"
type = "dir"
path = "missing"

[[partners]]
id = "P"
x12_ids = ["ZZACME"]
"#;
        let e = parse(&dir.path().join("edigate.toml"), text).unwrap_err();
        let lines: Vec<_> = e.0.iter().map(|e| (e.line, e.message.clone())).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0].0, Some(5));
        assert!(lines[0].1.contains("NOPE"));
        assert_eq!(lines[1].0, Some(11));
        assert!(lines[2].1.contains("does not exist"));
        assert_eq!(lines[3].0, Some(16));
    }

    #[test]
    fn refuses_unknown_keys_with_line() {
        let text = "[service]\noutbox = \"o\"\ncolour = 1\n";
        let e = parse(Path::new("/x/edigate.toml"), text).unwrap_err();
        assert_eq!(e.0[0].line, Some(3));
        assert!(e.0[0].message.contains("colour"), "{}", e.0[0].message);
        let text = "[[channels]]\nname = \"a\"\ntype = \"dir\"\npath = \"/\"\npartnr = \"X\"\n";
        let e = parse(Path::new("/x/edigate.toml"), text).unwrap_err();
        assert!(e.to_string().contains("partnr"), "{e}");
    }

    #[test]
    fn resolves_paths_against_the_file() {
        let text = "[[channels]]\nname = \"a\"\ntype = \"dir\"\npath = \"/\"\n";
        let c = parse(Path::new("/srv/edi/edigate.toml"), text).unwrap();
        assert_eq!(c.outbox, PathBuf::from("/srv/edi/outbox"));
        assert_eq!(c.quarantine, PathBuf::from("/srv/edi/var/quarantine"));
        assert_eq!(c.channels[0].dir(), Some(Path::new("/")));
    }
}
