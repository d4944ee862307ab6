//! Test helpers: a sandbox folder with a configuration, and the real `edigate` binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_edigate");

/// The binary under test: this build's, or `EDIGATE_TEST_BIN` (to show that a regression test
/// fails on an older build).
pub fn bin() -> String {
    std::env::var("EDIGATE_TEST_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Our own fixtures folder.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub const CONFIG: &str = r#"
[service]
rescan_seconds = 1
settle_ms = 100

[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]
"#;

/// A temporary appliance home: `edigate.toml`, `inbox/`, `outbox/`, `var/`; its state in
/// `var/edigate.db`, or in a PostgreSQL database of its own when the suite runs on
/// PostgreSQL (`EDIGATE_TEST_STORE=postgres`).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database holding the state, given to every command as
    /// `EDIGATE_DATABASE_URL`.
    pub db_url: Option<String>,
}

/// The `[store]` section that points a configuration at PostgreSQL (the issue's contract).
pub const POSTGRES_STORE: &str =
    "\n[store]\nbackend = \"postgres\"\nurl_env = \"EDIGATE_DATABASE_URL\"\n";

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::with_config(CONFIG)
    }

    /// A sandbox whose state is where the suite keeps it (SQLite, or PostgreSQL).
    pub fn with_config(config: &str) -> Sandbox {
        if crate::pg::suite_on_postgres() {
            Sandbox::on_postgres(config)
        } else {
            Sandbox::on_sqlite(config)
        }
    }

    /// A sandbox whose state is the SQLite file, whatever the suite runs on (for tests about
    /// that file).
    pub fn on_sqlite(config: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("inbox")).unwrap();
        fs::write(dir.path().join("edigate.toml"), config).unwrap();
        Sandbox { dir, db_url: None }
    }

    /// A sandbox whose state is a new PostgreSQL database.
    pub fn on_postgres(config: &str) -> Sandbox {
        let mut sb = Sandbox::on_sqlite(config);
        sb.db_url = Some(crate::pg::server().fresh_database());
        sb.write_config(config);
        sb
    }

    /// Replaces the configuration, keeping the sandbox's `[store]`.
    pub fn write_config(&self, config: &str) {
        let text = match self.db_url {
            Some(_) => format!("{config}{POSTGRES_STORE}"),
            None => config.to_string(),
        };
        fs::write(self.path("edigate.toml"), text).unwrap();
    }

    /// Where the sandbox's state is, as the appliance is told.
    pub fn location(&self) -> edigate::store::Location {
        match &self.db_url {
            Some(url) => edigate::store::Location::Postgres {
                url: url.clone(),
                password: None,
                idle_seconds: 60,
            },
            None => edigate::store::Location::Sqlite(self.path("var/edigate.db")),
        }
    }

    /// Whether the service is up: its state database made (SQLite), or a node holding the
    /// lease (PostgreSQL).
    pub fn state_ready(&self) -> bool {
        match &self.db_url {
            Some(url) => {
                let pg = crate::pg::server();
                let made = pg
                    .column(url, "SELECT to_regclass('leader')::text")
                    .iter()
                    .any(|t| !t.is_empty());
                made && !pg
                    .column(url, "SELECT node FROM leader WHERE expires_at >= now()")
                    .is_empty()
            }
            None => self.path("var/edigate.db").exists(),
        }
    }

    /// Everything the state database holds, as bytes to search (the SQLite file and its
    /// log; every PostgreSQL row as text).
    pub fn state_bytes(&self) -> Vec<u8> {
        match &self.db_url {
            Some(url) => {
                let pg = crate::pg::server();
                let tables = pg.column(
                    url,
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                );
                let mut all = Vec::new();
                for t in tables {
                    for row in pg.column(url, &format!("SELECT t::text FROM \"{t}\" t")) {
                        all.extend_from_slice(row.as_bytes());
                        all.push(b'\n');
                    }
                }
                all
            }
            None => {
                let mut all = fs::read(self.path("var/edigate.db")).unwrap();
                all.extend(fs::read(self.path("var/edigate.db-wal")).unwrap_or_default());
                all
            }
        }
    }

    /// The rows of one query on the state, whichever engine holds it: the first column of
    /// each, as text.
    pub fn state_column(&self, sql: &str) -> Vec<String> {
        match &self.db_url {
            Some(url) => crate::pg::server().column(url, sql),
            None => {
                let db = rusqlite::Connection::open(self.path("var/edigate.db")).unwrap();
                let mut st = db.prepare(sql).unwrap();
                let rows = st
                    .query_map([], |r| r.get::<_, Option<String>>(0))
                    .unwrap()
                    .map(|r| r.unwrap().unwrap_or_default())
                    .collect();
                rows
            }
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .env("EDIGATE_LOG", "warn")
            .env_remove("EDIGATE_CONFIG")
            .env_remove("EDIGATE_DATABASE_URL")
            .args(args);
        if let Some(url) = &self.db_url {
            c.env("EDIGATE_DATABASE_URL", url);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `edigate once`, checks its exit code (0 all flowed, 1 something quarantined) and
    /// returns its output.
    pub fn once(&self, code: i32) -> Output {
        let out = self.run(&["once"]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `edigate ARGS` and returns what it printed on stdout.
    pub fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.run(args).stdout).unwrap()
    }

    /// Starts the service in the background; its log goes to `service.log` in the sandbox.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("service.log"))
            .unwrap();
        self.cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Like [`Sandbox::spawn`], with extra environment (a log level, an injected fault).
    pub fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("service.log"))
            .unwrap();
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("service.log")).unwrap_or_default()
    }

    /// Drops a file the way a careful writer does: temporary name, then rename.
    pub fn drop_file(&self, name: &str, content: &[u8]) {
        let tmp = self.path(&format!("inbox/.{name}.part"));
        fs::write(&tmp, content).unwrap();
        fs::rename(&tmp, self.path(&format!("inbox/{name}"))).unwrap();
    }

    /// Every file below `rel`, as paths relative to it, sorted.
    /// Every canonical record written to the outbox.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let mut v = Vec::new();
        for f in self.files("outbox") {
            if f.ends_with(".jsonl") {
                for line in fs::read_to_string(self.path("outbox").join(&f))
                    .unwrap()
                    .lines()
                {
                    v.push(serde_json::from_str(line).unwrap());
                }
            }
        }
        v
    }

    /// The files under `rel` whose writing has finished (not under a temporary name, which a
    /// running service renames at any moment): what a reader of that folder may open.
    pub fn written(&self, rel: &str) -> Vec<String> {
        let mut out = self.files(rel);
        out.retain(|f| !f.ends_with(".edigate-tmp"));
        out
    }

    pub fn files(&self, rel: &str) -> Vec<String> {
        let root = self.path(rel);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// Polls `cond` until it holds or `secs` pass.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Sends SIGTERM and waits for the exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    terminate_within(child, 10).expect("edigate did not stop on SIGTERM within 10 s")
}

/// Sends SIGTERM and waits up to `secs` seconds for the exit status.
pub fn terminate_within(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut status = None;
    wait_for(secs, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status
}

/// Blanks the fields of an X12 acknowledgement that depend on the clock and the counter
/// (ISA09, ISA10, ISA13, GS04, GS05, GS06, IEA02), so outputs compare with goldens.
pub fn mask_x12(text: &str) -> String {
    let mut out = String::new();
    for seg in text.split_inclusive('~') {
        let trimmed = seg.trim_start();
        let mut el: Vec<String> = trimmed
            .trim_end_matches(['~', '\n'])
            .split('*')
            .map(String::from)
            .collect();
        let blank = |v: &mut Vec<String>, i: usize| {
            if let Some(x) = v.get_mut(i) {
                *x = "#".repeat(x.len());
            }
        };
        match el[0].as_str() {
            "ISA" => [9, 10, 13].iter().for_each(|i| blank(&mut el, *i)),
            "GS" => [4, 5, 6].iter().for_each(|i| blank(&mut el, *i)),
            "GE" | "IEA" => blank(&mut el, 2),
            _ => {}
        }
        out.push_str(&el.join("*"));
        out.push_str("~\n");
    }
    out
}

/// The HTTP target simulator on a loopback port, served from a thread until dropped.
pub struct Target {
    pub sim: std::sync::Arc<edigate::sim::Sim>,
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    server: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Target {
    pub fn start(cfg: edigate::sim::SimConfig) -> Target {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sim = edigate::sim::Sim::new(cfg);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = {
            let (sim, stop) = (sim.clone(), stop.clone());
            std::thread::spawn(move || edigate::sim::serve(listener, sim, stop))
        };
        Target {
            sim,
            port,
            stop,
            server: Some(server),
        }
    }

    /// A `[[targets]]` entry named `erp` for this simulator, with `extra` settings.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "\n[[targets]]\nname = \"erp\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/records\"\n{extra}",
            self.port
        )
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.sim.stats_json()).unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
    }
}

/// A small deterministic generator (64-bit LCG), so that a failure names its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn word(&mut self, max: u64) -> String {
        let n = 2 + self.below(max.max(2) - 1);
        (0..n)
            .map(|i| {
                let c = self.below(36) as u8;
                let c = if i == 0 || c < 26 {
                    b'A' + c % 26
                } else {
                    b'0' + (c - 26)
                };
                char::from(c)
            })
            .collect()
    }
    pub fn text(&mut self, words: u64) -> String {
        (0..1 + self.below(words))
            .map(|_| self.word(8))
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    pub fn decimal(&mut self, scale: u64) -> String {
        let int = 1 + self.below(9999);
        match self.below(scale + 1) {
            0 => int.to_string(),
            k => format!("{int}.{}", self.digits(k as usize)),
        }
    }
    /// Money as X12 N2 carries it: always two decimals.
    pub fn cents(&mut self) -> String {
        format!("{}.{}", 1 + self.below(9999), self.digits(2))
    }
    pub fn date(&mut self) -> String {
        format!(
            "{}-{:02}-{:02}",
            2020 + self.below(10),
            1 + self.below(12),
            1 + self.below(28)
        )
    }
}
