//! Command line: a closed set of commands, `anyhow` errors, explicit exit codes
//! (0 all processed, 1 something quarantined or rejected, 2 an error stopped the run).

use crate::config::{self, Config};
use crate::pipeline::PipelineError;
use crate::quarantine;
use crate::scheduler::{self, Appliance};
use crate::store::Store;
use crate::translate::{self, Input};
use crate::util::{sha256_hex, Utc};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "edigate",
    version,
    about = "EDI and file-based batch integration appliance"
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "EDIGATE_CONFIG",
        default_value = "edigate.toml"
    )]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: watch the channels and process files until stopped.
    Run,
    /// Process everything waiting, then exit.
    Once,
    /// Print the canonical records of one file as JSON Lines; touches no state. With `--to`,
    /// the file holds canonical records (JSON Lines) and the document for them is printed.
    Translate {
        file: PathBuf,
        /// Treat the file as coming through a channel bound to this partner; with `--to`, the
        /// partner the document is for (its separators, ids and mappings; default: each
        /// record's own partner).
        #[arg(long)]
        partner: Option<String>,
        /// Outbound: `x12:850`, `x12:860`, `x12:855`, `x12:856`, `x12:810`, `x12:820`,
        /// `edifact:ORDERS`, `edifact:ORDRSP`, `edifact:DESADV`, `edifact:INVOIC`,
        /// `cxml:OrderRequest`.
        #[arg(long)]
        to: Option<String>,
    },
    /// Validate one EDI file in full (streaming) and print a summary; exit 1 when anything
    /// was rejected.
    Validate {
        file: PathBuf,
        /// How many diagnostics to print at most.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Print the acknowledgements (TA1, 997, 999) that would be sent for one file.
    Ack {
        file: PathBuf,
        #[arg(long)]
        partner: Option<String>,
    },
    /// Run the HTTP target simulator (an ERP-like endpoint that fails on purpose) on loopback.
    SimHttp {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
        /// Share of requests that fail, 0.0 to 1.0.
        #[arg(long, default_value_t = 0.3)]
        fail_rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How long a deliberately slow answer takes, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        slow_ms: u64,
        /// How long every answer to a POST takes, in milliseconds (the system's own latency).
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Records containing this text are refused with 422.
        #[arg(long)]
        reject: Option<String>,
    },
    /// Simulators of SAP S/4HANA, Oracle Fusion, Dynamics 365 and Coupa cXML on one loopback
    /// port, for tests, demos and dry runs. Credentials: SAP and Oracle user
    /// `edigate`/`sandbox`, OAuth2 client (and Coupa shared secret) `edigate`/`sandbox`
    /// (or EDIGATE_SANDBOX_SAP_USER, EDIGATE_SANDBOX_SAP_PASSWORD, EDIGATE_SANDBOX_CLIENT_ID,
    /// EDIGATE_SANDBOX_CLIENT_SECRET). Faults: POST /_sandbox/faults
    /// {"rate":0.3,"kinds":[...]}; contents: GET /_sandbox/records.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Lifetime of the OAuth2 tokens handed out, in seconds.
        #[arg(long, default_value_t = 3599)]
        token_seconds: u64,
    },
    /// Where is a document? Every record with this business key or system id (an invoice or
    /// PO number, an ERP's document id), with all its keys, its file and each target's id.
    Find { value: String },
    /// Where does an order stand? From a PO, invoice or ASN number (or an ERP's id): every
    /// linked document (order, acknowledgement, ship notice, receipt, invoice, payment), in
    /// whatever order they arrived, each with its deliveries, and each system's status.
    Track {
        value: String,
        /// The track as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration and report every problem.
    Check,
    /// List the canonical record schemas, or print one as JSON Schema
    /// (`edigate schema purchase_order/v1`).
    Schema { name: Option<String> },
    /// Write a new installation into DIR: the default configuration, a copy of the shipped
    /// mappings to edit, and the inbox and outbox folders (never overwriting anything).
    Init { dir: PathBuf },
    /// Print the manual page (roff) for `man -l -`, or for /usr/share/man/man1/edigate.1.
    Man,
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions { shell: clap_complete::Shell },
    /// Show what is waiting, in flight, quarantined and done.
    Status {
        /// The same facts as JSON (what the admin API's /api/v1/status answers).
        #[arg(long)]
        json: bool,
    },
    /// Print the same facts as Prometheus metrics (text exposition format), for a scraper or
    /// a node-exporter textfile collector.
    Metrics,
    /// Run archived files again through today's mappings and routes (no acknowledgements are
    /// sent again; idempotency keys keep targets from seeing doubles). Then run `once`.
    Replay {
        /// File ids (from `status`, `quarantine show`, the archive names).
        #[arg(long = "id")]
        ids: Vec<i64>,
        #[arg(long)]
        partner: Option<String>,
        /// Record schema, such as `purchase_order`.
        #[arg(long)]
        document: Option<String>,
        /// Received on or after this date (YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Received on or before this date (YYYY-MM-DD).
        #[arg(long)]
        until: Option<String>,
    },
    /// Pack past days of the archive into one zip per day, delete archives and state older
    /// than the configured ages, and shrink the state database. The service does this daily.
    Retention {
        /// Act as if today were this date (YYYY-MM-DD), to see what a future run removes.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Copy the state from a SQLite file into an empty PostgreSQL database, with the service
    /// stopped; then set `[store] backend = "postgres"`.
    MigrateStore {
        /// The source: `sqlite:PATH`, e.g. `sqlite:var/edigate.db`.
        #[arg(long)]
        from: String,
        /// The destination: a `postgres://user@host:port/db` URL, or `env:NAME` to read it from
        /// an environment variable (kept out of the process list).
        #[arg(long)]
        to: String,
    },
    /// List the migration routes with their modes, targets, the history of mode changes and
    /// the latest reconciliation.
    Routes,
    /// Compare what the legacy and the modern side of each route hold: counts per route and
    /// document, totals per currency and day, then each document's differing fields. Exit 1
    /// when any document differs or was rejected on one side.
    Reconcile {
        #[arg(long)]
        route: Option<String>,
        #[arg(long)]
        partner: Option<String>,
        /// Record schema (`invoice/v1`) or its name (`invoice`).
        #[arg(long)]
        document: Option<String>,
        /// Routed at or after this time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// Inspect and act on quarantined files.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineCmd,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand)]
enum QuarantineCmd {
    /// List quarantined files (and deliveries held), optionally filtered.
    List {
        #[arg(long)]
        partner: Option<String>,
        /// Document type found in the file: `850`, `ORDERS`, ...
        #[arg(long)]
        document: Option<String>,
        /// syntax, configuration, security (files); business, transient (deliveries).
        #[arg(long)]
        class: Option<String>,
        /// Only entries received at least this long ago: `30m`, `12h`, `7d`.
        #[arg(long)]
        older_than: Option<String>,
    },
    /// Show why a file is quarantined, and its history.
    Show { id: i64 },
    /// Reprocess files (after fixing the configuration or replacing the file); with
    /// `--delivery`, send held deliveries again.
    Release {
        ids: Vec<i64>,
        /// The ids are deliveries (DELIV column), not files.
        #[arg(long)]
        delivery: bool,
    },
    /// Drop files from quarantine (their content is kept in the archive); with `--delivery`,
    /// drop held deliveries.
    Discard {
        ids: Vec<i64>,
        #[arg(long)]
        delivery: bool,
        /// The ids are rejected transactions (ITEM column), closed once dealt with.
        #[arg(long, conflicts_with = "delivery")]
        item: bool,
    },
}

const OK: u8 = 0;
const FLAGGED: u8 = 1;
const FAILED: u8 = 2;

pub fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the command quietly, as for any Unix tool.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("edigate: {e:#}");
            ExitCode::from(FAILED)
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("EDIGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().with_writer(std::io::stderr).init(),
        // One event is one write: its control characters are escaped there, so that no value
        // (a file name with a newline or a terminal escape) can forge or hide a line. Colours
        // are off, as their escapes would be too.
        LogFormat::Human => builder
            .with_ansi(false)
            .with_writer(|| EscapedStderr)
            .init(),
    }
}

/// Standard error, with each log line's control characters escaped.
struct EscapedStderr;

impl std::io::Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(&crate::util::escape_log_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn load(path: &Path) -> Result<Config> {
    config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

/// The configuration in force: the file, or while the file is refused, the copy the service
/// keeps of the one it runs (said on stderr, with the file's errors).
fn in_force(path: &Path) -> Result<Config> {
    let (cfg, refused) =
        config::in_force(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    if !refused.0.is_empty() {
        eprintln!(
            "the configuration file is refused; shown is the one the service keeps in force:\n{refused}"
        );
    }
    Ok(cfg)
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run => {
            let cfg = load(&cli.config)?;
            for note in cfg.mapping_notes() {
                tracing::warn!("{note}");
            }
            let admin_cfg = std::sync::Arc::new(cfg.clone());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let hold = match cfg.store.backend {
                config::Backend::Sqlite => scheduler::Hold::take(&cfg)?,
                // A standby serves the admin API while it waits for the active node's lease.
                config::Backend::Postgres => {
                    crate::admin::start(admin_cfg.clone(), rt.handle())
                        .context("the admin listener")?;
                    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let flag = stopping.clone();
                    rt.spawn(async move {
                        scheduler::shutdown_signal().await;
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    });
                    // It sends deliveries meanwhile, claiming them as the active node does.
                    let standby = match cfg.targets.is_empty() {
                        true => None,
                        false => Some(scheduler::Deliverer::start(cfg.clone())?),
                    };
                    // And it advances the files it can claim, as the active node does.
                    let files = scheduler::FileWorker::start(cfg.clone())?;
                    let lease = crate::nodes::Lease::wait(&cfg, &stopping);
                    files.stop();
                    if let Some(d) = standby {
                        d.stop();
                    }
                    match lease? {
                        Some(lease) => scheduler::Hold::Lease(Box::new(lease)),
                        None => return Ok(OK),
                    }
                }
            };
            let app = Appliance::open_holding(cfg, hold)?;
            if app.cfg.store.backend == config::Backend::Sqlite {
                crate::admin::start(admin_cfg, rt.handle()).context("the admin listener")?;
            }
            rt.block_on(scheduler::run(app, scheduler::shutdown_signal()))?;
            Ok(OK)
        }
        Command::Once => {
            let mut app = Appliance::open(load(&cli.config)?)?;
            let r = app.once()?;
            let p = r.pipeline;
            eprintln!(
                "received {} ({} duplicate), archived {}, quarantined {}, rejected transactions {}, errors {}",
                r.intake.ingested, r.intake.duplicates, p.archived, p.quarantined, p.rejected, p.errors
            );
            if r.paused {
                eprintln!("intake paused: storage is not writable (see edigate status)");
            }
            let failing = app.store.failing_files()?.len();
            if failing > 0 {
                eprintln!(
                    "{failing} file(s) wait to retry a step that failed (see edigate status)"
                );
            }
            Ok(
                if p.errors > 0 || r.channel_errors > 0 || r.paused || failing > 0 {
                    FAILED
                } else if p.quarantined > 0 || p.rejected > 0 {
                    FLAGGED
                } else {
                    OK
                },
            )
        }
        Command::Translate {
            file,
            partner,
            to: Some(to),
        } => outbound_cmd(&cli.config, &file, partner.as_deref(), &to),
        Command::Translate { file, partner, .. } => {
            translate_cmd(&cli.config, &file, partner.as_deref(), false)
        }
        Command::Ack { file, partner } => {
            translate_cmd(&cli.config, &file, partner.as_deref(), true)
        }
        Command::Validate { file, limit } => validate_cmd(&cli.config, &file, limit),
        Command::SimHttp {
            listen,
            fail_rate,
            seed,
            slow_ms,
            latency_ms,
            reject,
        } => {
            let listener = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("binding {listen}"))?;
            eprintln!(
                "simulator listening on http://{} (POST records, GET /stats)",
                listener.local_addr()?
            );
            let sim = crate::sim::Sim::new(crate::sim::SimConfig {
                fail_rate,
                seed,
                slow_ms,
                latency_ms,
                reject_marker: reject,
            });
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            crate::sim::serve(listener, sim, stop)?;
            Ok(OK)
        }
        Command::Sandbox {
            listen,
            seed,
            token_seconds,
        } => {
            let listener = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("binding {listen}"))?;
            let env = |k: &str, d: String| std::env::var(k).unwrap_or(d);
            let d = crate::sandbox::Accounts::default();
            let accounts = crate::sandbox::Accounts {
                sap_user: env("EDIGATE_SANDBOX_SAP_USER", d.sap_user),
                sap_password: env("EDIGATE_SANDBOX_SAP_PASSWORD", d.sap_password),
                client_id: env("EDIGATE_SANDBOX_CLIENT_ID", d.client_id),
                client_secret: env("EDIGATE_SANDBOX_CLIENT_SECRET", d.client_secret),
                token_seconds,
            };
            // The first line of standard output says where it listens (a test reads it).
            println!("sandbox listening on http://{}", listener.local_addr()?);
            use std::io::Write as _;
            std::io::stdout().flush()?;
            let sb = crate::sandbox::Sandbox::new(accounts, seed);
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            crate::sandbox::serve(listener, sb, stop)?;
            Ok(OK)
        }
        Command::Routes => routes_cmd(&load(&cli.config)?),
        Command::MigrateStore { from, to } => migrate_store(&load(&cli.config)?, &from, &to),
        Command::Reconcile {
            route,
            partner,
            document,
            since,
            format,
        } => {
            let cfg = load(&cli.config)?;
            let store = open_store(&cfg)?;
            let q = crate::migration::reconcile::Query {
                route,
                partner,
                document,
                since,
            };
            let r = crate::migration::reconcile::reconcile(&cfg, &store, &q)?;
            let mut store = store;
            for rc in &r.routes {
                let summary = serde_json::to_string(&rc.counts)?;
                if let Err(e) = store.keep_reconcile(&rc.route, &summary, Utc::now()) {
                    eprintln!("warning: the reconciliation could not be kept: {e}");
                    break;
                }
            }
            match format {
                ReportFormat::Table => print!("{}", crate::migration::reconcile::table(&r)),
                ReportFormat::Csv => print!("{}", crate::migration::reconcile::csv(&r)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
            }
            if !matches!(format, ReportFormat::Table) {
                // The table prints them; the other forms keep stdout to the data.
                for w in &r.warnings {
                    eprintln!("warning: {}", escape(w));
                }
            }
            let s = &r.summary;
            Ok(if s.different + s.rejected_legacy + s.rejected_modern > 0 {
                FLAGGED
            } else {
                OK
            })
        }
        Command::Track { value, json } => {
            let cfg = config::load(&cli.config)?;
            let store = read_store(&cfg)?;
            let Some(t) = crate::tracking::track(&store, &value)? else {
                println!("no record has a key {}", escape(&value));
                return Ok(2);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                print!("{}", crate::tracking::text(&t, escape));
            }
            Ok(OK)
        }
        Command::Find { value } => {
            let cfg = config::load(&cli.config)?;
            let store = read_store(&cfg)?;
            let found = store.where_is(&value)?;
            if found.is_empty() {
                println!("no record has a key {}", escape(&value));
                return Ok(2);
            }
            for (id, schema, partner, file, keys) in found {
                println!("{id} {schema} from {} (file {file})", escape(&partner));
                for (k, v) in keys {
                    println!("  {} = {}", escape(&k), escape(&v));
                }
            }
            Ok(OK)
        }
        Command::Init { dir } => {
            let written = crate::init::init(&dir)?;
            for p in &written {
                println!("{}", p.display());
            }
            println!(
                "a new installation in {}: edit {}, then `edigate --config {} check` and `run`",
                dir.display(),
                dir.join("edigate.toml").display(),
                dir.join("edigate.toml").display()
            );
            Ok(OK)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(OK)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "edigate", &mut std::io::stdout());
            Ok(OK)
        }
        Command::Check => match config::load(&cli.config) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} channel(s), {} partner(s), {} target(s), {} route(s))",
                    cfg.file.display(),
                    cfg.channels.len(),
                    cfg.partners.len(),
                    cfg.targets.len(),
                    cfg.routes.len()
                );
                for note in cfg.mapping_notes() {
                    println!("{note}");
                }
                if let Some(a) = &cfg.admin {
                    println!(
                        "admin listener on {} with {} token(s){}",
                        a.listen,
                        a.tokens.len(),
                        if a.allow_remote {
                            ": allow_remote is set; edigate speaks plain HTTP, so a reverse proxy in front must terminate TLS"
                        } else {
                            ""
                        }
                    );
                }
                let (compiled, interpreted) = cfg.maps.twins();
                if !compiled.is_empty() {
                    println!("compiled mappings: {}", compiled.join(", "));
                }
                for name in interpreted {
                    println!(
                        "{name}: edited, so it runs in the jq interpreter (correct, but about \
                         7 to 12 times slower than the compiled shipped mapping)"
                    );
                }
                // A PostgreSQL store must be reachable before the service starts (the unit runs
                // check first); SQLite's file is made by the service itself.
                if cfg.store.backend == config::Backend::Postgres {
                    match Store::for_config(&cfg) {
                        Ok(store) => println!(
                            "state: PostgreSQL reached; {} node(s) seen",
                            store.nodes().map_or(0, |n| n.len())
                        ),
                        Err(e) => {
                            eprintln!("state: {e}");
                            return Ok(FAILED);
                        }
                    }
                }
                Ok(OK)
            }
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s) found", errors.0.len());
                Ok(FAILED)
            }
        },
        Command::Schema { name } => schema_cmd(name.as_deref()),
        Command::Status { json } => status(&in_force(&cli.config)?, json),
        Command::Metrics => metrics(&in_force(&cli.config)?),
        Command::Retention { as_of } => {
            let cfg = load(&cli.config)?;
            let today = match as_of.as_deref() {
                Some(d) => Utc::parse_rfc3339(&format!("{d}T00:00:00Z"))
                    .with_context(|| format!("--as-of {d:?}: use YYYY-MM-DD"))?,
                None => Utc::now(),
            };
            let mut app = Appliance::open(cfg)?;
            let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let db = app.cfg.database();
            let before = size(&db);
            let r = crate::retention::run(&app.cfg, &mut app.store, today)?;
            let shrunk = match app.cfg.store.backend {
                config::Backend::Sqlite => {
                    format!("; state database {} -> {} bytes", before, size(&db))
                }
                // PostgreSQL's autovacuum gives the space back on its own schedule.
                config::Backend::Postgres => String::new(),
            };
            eprintln!(
                "packed {} day(s), deleted {} archive day(s), forgot {} file(s){shrunk}",
                r.days_packed, r.archives_deleted, r.files_forgotten,
            );
            Ok(OK)
        }
        Command::Replay {
            ids,
            partner,
            document,
            since,
            until,
        } => {
            let cfg = load(&cli.config)?;
            let mut store = open_store(&cfg)?;
            let files = store.replay_candidates(
                &ids,
                partner.as_deref(),
                document.as_deref(),
                since.as_deref(),
                until.as_deref(),
            )?;
            if files.is_empty() {
                eprintln!("nothing to replay");
                return Ok(FLAGGED);
            }
            let n = quarantine::replay(&cfg, &mut store, &files)?;
            eprintln!("{n} file(s) queued for replay; run `edigate once` (or let the service pick them up)");
            Ok(OK)
        }
        Command::Quarantine { action } => quarantine_cmd(&load(&cli.config)?, action),
    }
}

fn config_or_defaults(config_path: &Path) -> Result<Config> {
    if config_path.exists() {
        load(config_path)
    } else {
        Ok(Config::defaults(&std::env::current_dir()?))
    }
}

fn validate_cmd(config_path: &Path, file: &Path, limit: usize) -> Result<u8> {
    let cfg = config_or_defaults(config_path)?;
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let f_len = f.metadata()?.len();
    let head = {
        use std::io::Read;
        let mut h = Vec::new();
        std::fs::File::open(file)?.take(4096).read_to_end(&mut h)?;
        h
    };
    let shown = file.display().to_string();
    if let Some(why) = crate::formats::refuse_encoding(&head) {
        eprintln!("{shown}: byte 0: refused: {why}");
        return Ok(FLAGGED);
    }
    let started = std::time::Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, f);
    // A large EDIFACT file is read and its envelopes parsed on a second thread. X12 is not:
    // its envelopes cost more than its validation, so the second thread waited on the first
    // (20 MB, best of 5: 997s 166 -> 199 ms, 850s 116 -> 120 ms; INVOIC 170 -> 94 ms).
    let pipe = crate::formats::pipe::wanted(f_len);
    let s = match crate::formats::sniff(&head) {
        crate::formats::Format::X12 => {
            crate::formats::x12::validate::summary(reader, &cfg.x12, limit, false)?
        }
        crate::formats::Format::Edifact => {
            crate::formats::edifact::validate::summary(reader, &cfg.edifact, limit, pipe)?
        }
        _ => {
            eprintln!("{shown}: byte 0: refused: neither X12 (ISA) nor EDIFACT (UNA/UNB)");
            return Ok(FLAGGED);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    for d in &s.diagnostics {
        println!("{shown}: {d}");
    }
    if s.more_diagnostics > 0 {
        println!("{shown}: ... and {} more diagnostic(s)", s.more_diagnostics);
    }
    println!(
        "{shown}: {} bytes, {} interchange(s), {} group(s), {} transaction set(s), {} segment(s); rejected: {} interchange(s), {} group(s), {} transaction set(s); {} without a definition (envelope only)",
        s.bytes, s.interchanges, s.groups, s.transactions, s.segments,
        s.rejected_interchanges, s.rejected_groups, s.rejected_transactions, s.unchecked_transactions
    );
    eprintln!(
        "{shown}: validated in {secs:.3} s ({:.1} MB/s)",
        s.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(if s.rejected() { FLAGGED } else { OK })
}

/// Records (or acknowledgements) printed as each interchange ends, so that a file of any size
/// is translated in bounded memory.
struct Printer<W: Write> {
    out: W,
    acks: bool,
    records: usize,
    failed: Option<std::io::Error>,
}

impl<W: Write> Printer<W> {
    fn write(&mut self, parts: &[&[u8]]) {
        if self.failed.is_none() {
            if let Err(e) = parts.iter().try_for_each(|p| self.out.write_all(p)) {
                self.failed = Some(e);
            }
        }
    }
}

impl<W: Write> translate::Sink for Printer<W> {
    fn record(&mut self, r: translate::Emitted) {
        self.records += 1;
        if !self.acks {
            self.write(&[r.json.as_bytes(), b"\n"]);
        }
    }

    fn wants_acks(&self) -> bool {
        self.acks
    }

    fn ack(&mut self, a: translate::Ack) {
        if self.acks && self.failed.is_none() {
            if let Err(e) = a.doc.bytes.copy_to(&mut self.out) {
                self.failed = Some(e);
            }
        }
    }
}

fn translate_cmd(config_path: &Path, file: &Path, partner: Option<&str>, acks: bool) -> Result<u8> {
    let cfg = config_or_defaults(config_path)?;
    let reading = || format!("reading {}", file.display());
    let loaded = translate::Loaded::read(file, &cfg).with_context(reading)?;
    let sha = if loaded.streamed {
        crate::fsutil::hash_file(file).with_context(reading)?.0
    } else {
        sha256_hex(&loaded.data)
    };
    let shown = file.display().to_string();
    let input = Input {
        data: &loaded.data,
        file: &shown,
        sha256: &sha,
        channel_partner: partner,
        seen: None,
        whole: loaded.whole(),
    };
    let mut printer = Printer {
        out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        acks,
        records: 0,
        failed: None,
    };
    let outcome = translate::dry_run_to(&input, &cfg, Utc::now(), &mut printer);
    if let Some(e) = printer.failed.take() {
        return Err(e).context("writing to standard output");
    }
    printer.out.flush()?;
    for d in &outcome.diagnostics {
        eprintln!("{shown}: {d}");
    }
    if let Some(r) = &outcome.refusal {
        eprintln!(
            "{shown}: {}: refused: {} [{}]",
            r.position, r.reason, r.code
        );
        return Ok(FLAGGED);
    }
    eprintln!(
        "{shown}: {} record(s), {} transaction(s) accepted, {} rejected",
        printer.records, outcome.accepted, outcome.rejected
    );
    Ok(if outcome.rejected > 0 { FLAGGED } else { OK })
}

/// `translate --to`: canonical records in, one document per partner out (stdout).
fn outbound_cmd(config_path: &Path, file: &Path, partner: Option<&str>, to: &str) -> Result<u8> {
    let cfg = config_or_defaults(config_path)?;
    let target: crate::outbound::Target = to.parse()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut by_partner: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", file.display(), n + 1))?;
        let p = partner
            .map(str::to_string)
            .or_else(|| v["partner"].as_str().map(str::to_string))
            .unwrap_or_default();
        match by_partner.iter_mut().find(|(q, _)| *q == p) {
            Some((_, list)) => list.push(v),
            None => by_partner.push((p, vec![v])),
        }
    }
    let mut out = std::io::stdout().lock();
    for (i, (p, records)) in by_partner.iter().enumerate() {
        match crate::outbound::render(&cfg, p, &target, records, i as u64 + 1, Utc::now()) {
            Ok(bytes) => out.write_all(&bytes)?,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return Ok(FLAGGED);
            }
        }
    }
    out.flush()?;
    Ok(OK)
}

fn schema_cmd(name: Option<&str>) -> Result<u8> {
    match name {
        None => {
            for s in crate::canonical::SCHEMAS {
                println!("{s}");
            }
            Ok(OK)
        }
        Some(n) => match crate::canonical::schema(n) {
            Some(s) => {
                println!("{}", serde_json::to_string_pretty(&s)?);
                Ok(OK)
            }
            None => {
                eprintln!(
                    "edigate: no schema {n:?}; known: {}",
                    crate::canonical::SCHEMAS.join(", ")
                );
                Ok(FLAGGED)
            }
        },
    }
}

fn open_store(cfg: &Config) -> Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    Ok(Store::for_config(cfg)?)
}

/// The store for a command that only reads, told on stderr when it had to be read unlocked.
fn read_store(cfg: &Config) -> Result<Store> {
    let db = cfg.database();
    let at = cfg.store_location()?;
    if matches!(at, crate::store::Location::Postgres { .. }) || !db.exists() {
        return open_store(cfg);
    }
    let (store, unlocked) = Store::open_read_only(&db)?;
    if unlocked {
        eprintln!(
            "warning: {} read without locks (its folder cannot be written): figures may lag the service",
            String::from_utf8_lossy(&crate::util::escape_log_line(
                db.to_string_lossy().as_bytes()
            ))
        );
    }
    Ok(store)
}

fn status(cfg: &Config, json: bool) -> Result<u8> {
    let store = read_store(cfg)?;
    let s = crate::report::status(cfg, &store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", crate::report::status_text(&s, escape));
    }
    Ok(OK)
}

fn migrate_store(cfg: &Config, from: &str, to: &str) -> Result<u8> {
    use crate::store::Location;
    let source = from
        .strip_prefix("sqlite:")
        .map(Path::new)
        .context("--from: give sqlite:PATH (the SQLite file of the state)")?;
    anyhow::ensure!(
        source.is_file(),
        "--from: {} is not a file",
        source.display()
    );
    let url = match to.strip_prefix("env:") {
        Some(var) => std::env::var(var)
            .with_context(|| format!("--to: the environment variable {var} is not set"))?,
        None => to.to_string(),
    };
    anyhow::ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "--to: give a postgres:// URL or env:NAME"
    );
    // The service must not change the source meanwhile.
    let _lock = scheduler::lock_data(cfg)?;
    let from_store = Store::open(source)?;
    let mut to_store = Store::connect(&Location::Postgres {
        url,
        password: cfg.store.password()?,
        idle_seconds: cfg.store.idle_seconds(),
    })?;
    let copied = from_store.copy_into(&mut to_store)?;
    for (table, n) in &copied.tables {
        println!("{table:<20} {n}");
    }
    eprintln!(
        "copied into PostgreSQL; set [store] backend = \"postgres\" and url_env, then start the service"
    );
    Ok(OK)
}

fn routes_cmd(cfg: &Config) -> Result<u8> {
    let store = read_store(cfg)?;
    if cfg.routes.is_empty() {
        println!("no [[routes]] are configured");
    }
    for r in &cfg.routes {
        println!(
            "{} mode {}: partners {}, documents {}; legacy {}; modern {}",
            r.name,
            r.mode.as_str(),
            r.partners.join(" "),
            r.documents.join(" "),
            if r.legacy.is_empty() {
                "-".into()
            } else {
                r.legacy.join(" ")
            },
            if r.modern.is_empty() {
                "-".into()
            } else {
                r.modern.join(" ")
            },
        );
        if !r.steps.is_empty() {
            let steps: Vec<String> = r
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let what = match s.kind() {
                        Ok(crate::migration::StepKind::Deliver(t)) => format!("deliver to {t}"),
                        Ok(crate::migration::StepKind::LookupSupplier(t)) => {
                            format!("look the supplier up in {t}")
                        }
                        Ok(crate::migration::StepKind::Respond(d)) => format!("answer with {d}"),
                        Err(e) => e,
                    };
                    let undo = s
                        .compensate
                        .as_deref()
                        .map_or(String::new(), |c| format!(" (compensated by {c})"));
                    format!("{}. {} {what}{undo}", i + 1, s.name)
                })
                .collect();
            println!("  steps: {}", steps.join("; "));
            let counts: Vec<String> = store
                .process_counts()?
                .into_iter()
                .filter(|(route, ..)| *route == r.name)
                .map(|(_, state, n)| format!("{n} {state}"))
                .collect();
            if !counts.is_empty() {
                println!("  processes: {}", counts.join(", "));
            }
        }
        for c in store.mode_changes(Some(&r.name))? {
            println!(
                "  {} {} -> {} by {} (configuration {})",
                c.at,
                c.old_mode.as_deref().unwrap_or("(new)"),
                c.new_mode,
                escape(&c.actor),
                &c.config_hash[..12.min(c.config_hash.len())]
            );
        }
        if let Some((at, summary)) = store.latest_reconcile(&r.name)? {
            println!("  last reconcile {at}: {summary}");
        }
    }
    Ok(OK)
}

/// A value from an input, printed on one line with its control characters escaped.
fn escape(v: &str) -> String {
    String::from_utf8_lossy(&crate::util::escape_log_line(v.as_bytes())).into_owned()
}

fn metrics(cfg: &Config) -> Result<u8> {
    let store = read_store(cfg)?;
    print!("{}", crate::report::metrics_text(cfg, &store)?);
    Ok(OK)
}

fn quarantine_cmd(cfg: &Config, action: QuarantineCmd) -> Result<u8> {
    let mut store = open_store(cfg)?;
    match action {
        QuarantineCmd::List {
            partner,
            document,
            class,
            older_than,
        } => {
            let age = match older_than.as_deref() {
                Some(a) => Some(
                    quarantine::parse_age(a)
                        .with_context(|| format!("--older-than {a:?}: use 30m, 12h or 7d"))?,
                ),
                None => None,
            };
            let files = quarantine::list(
                &store,
                partner.as_deref(),
                document.as_deref(),
                class.as_deref(),
                age,
            )?;
            println!(
                "{:<6} {:<20} {:<10} {:<10} {:<8} {:<13} {:<28} REASON",
                "ID", "RECEIVED", "CHANNEL", "PARTNER", "DOCS", "CLASS", "FILE"
            );
            for (f, c, reason) in &files {
                println!(
                    "{:<6} {:<20} {:<10} {:<10} {:<8} {:<13} {:<28} {}",
                    f.id,
                    f.received_at,
                    f.channel,
                    f.partner.as_deref().unwrap_or("-"),
                    if f.documents.is_empty() {
                        "-"
                    } else {
                        &f.documents
                    },
                    c,
                    f.name,
                    reason
                );
            }
            eprintln!("{} file(s) in quarantine", files.len());
            let failed: Vec<_> = store
                .failed_deliveries()?
                .into_iter()
                .filter(|d| {
                    class
                        .as_deref()
                        .is_none_or(|k| k == quarantine::class(&d.3))
                })
                .collect();
            let items = store.open_exceptions()?;
            if !items.is_empty() && class.as_deref().is_none_or(|c| c == "syntax") {
                println!(
                    "\n{:<6} {:<28} {:<8} {:<10} {:<10} REASON",
                    "ITEM", "FILE", "DOC", "CONTROL", "INTERCHG"
                );
                for (id, file_id, name, doc, control, ic, _code, reason) in &items {
                    let name = format!("{file_id}:{name}");
                    println!("{id:<6} {name:<28} {doc:<8} {control:<10} {ic:<10} {reason}");
                }
                eprintln!(
                    "{} rejected transaction(s) inside files that flowed",
                    items.len()
                );
            }
            if !failed.is_empty() && partner.is_none() && document.is_none() {
                println!(
                    "\n{:<6} {:<12} {:<30} {:<9} {:<8} REASON",
                    "DELIV", "TARGET", "RECORD", "STATE", "ATTEMPTS"
                );
                for (id, target, record, state, attempts, _status, error) in &failed {
                    println!(
                        "{id:<6} {target:<12} {record:<30} {state:<9} {attempts:<8} {}",
                        error.as_deref().unwrap_or("")
                    );
                }
                eprintln!(
                    "{} delivery(ies) held (rejected by the target or dead-lettered)",
                    failed.len()
                );
            }
            Ok(OK)
        }
        QuarantineCmd::Show { id } => {
            let f = store.file(id)?;
            println!("id:        {}", f.id);
            println!("file:      {}", f.name);
            println!("state:     {}", f.state.as_str());
            println!("channel:   {}", f.channel);
            println!("partner:   {}", f.partner.as_deref().unwrap_or("-"));
            println!("sha256:    {}", f.sha256);
            println!("content:   {}", cfg.resolve(&f.blob).display());
            if let Some(r) = &f.refusal {
                let v: serde_json::Value = serde_json::from_str(r).unwrap_or_default();
                println!(
                    "reason:    {} [{}]",
                    v["reason"].as_str().unwrap_or(""),
                    v["code"].as_str().unwrap_or("")
                );
                if let Some(ds) = v["diagnostics"].as_array() {
                    println!("diagnostics:");
                    for d in ds {
                        let p = &d["position"];
                        println!(
                            "  byte {} segment {} {} element {}: {} [{}]",
                            p["offset"],
                            p.get("segment").map_or("-".to_string(), |s| s.to_string()),
                            p["segment_id"].as_str().unwrap_or(""),
                            p.get("element").map_or("-".to_string(), |s| s.to_string()),
                            d["message"].as_str().unwrap_or(""),
                            d["code"].as_str().unwrap_or("")
                        );
                    }
                }
            }
            println!("history:");
            for e in store.events(id)? {
                println!("  {} {:<12} {}", e.at, e.state, e.detail);
            }
            Ok(OK)
        }
        QuarantineCmd::Release { ids, .. } | QuarantineCmd::Discard { ids, .. }
            if ids.is_empty() =>
        {
            anyhow::bail!("name at least one id")
        }
        QuarantineCmd::Release {
            ids,
            delivery: true,
        } => bulk(
            ids,
            |id| store.release_delivery(id).map_err(PipelineError::from),
            "released",
        ),
        QuarantineCmd::Discard {
            ids, item: true, ..
        } => bulk(
            ids,
            |id| store.discard_exception(id).map_err(PipelineError::from),
            "closed",
        ),
        QuarantineCmd::Discard {
            ids,
            delivery: true,
            ..
        } => bulk(
            ids,
            |id| store.discard_delivery(id).map_err(PipelineError::from),
            "discarded",
        ),
        QuarantineCmd::Release { ids, .. } => bulk(
            ids,
            |id| quarantine::release(cfg, &mut store, id),
            "released",
        ),
        QuarantineCmd::Discard { ids, .. } => bulk(
            ids,
            |id| quarantine::discard(cfg, &mut store, id),
            "discarded",
        ),
    }
}

fn bulk(
    ids: Vec<i64>,
    mut act: impl FnMut(i64) -> Result<(), PipelineError>,
    verb: &str,
) -> Result<u8> {
    let mut failed = 0;
    for id in ids {
        match act(id) {
            Ok(()) => println!("{id}: {verb}"),
            Err(e) => {
                eprintln!("{id}: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 { FAILED } else { OK })
}
