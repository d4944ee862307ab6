//! A real PostgreSQL server for the tests: Debian's binaries, started once per test binary in
//! a folder under the target directory, on 127.0.0.1 only, gone when the binary exits; each
//! sandbox gets a database of its own.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct Pg {
    pub port: u16,
}

static SERVER: OnceLock<Pg> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// Whether `EDIGATE_TEST_STORE=postgres` asks every sandbox to keep its state in PostgreSQL
/// (`.ci/run` runs the suite once so, after the SQLite run).
pub fn suite_on_postgres() -> bool {
    std::env::var("EDIGATE_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The folder of PostgreSQL's server programs (`initdb`, `postgres`).
fn bindir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("postgres").exists())
        .max();
    found.expect("PostgreSQL's server is missing: apt-get install postgresql (see .ci/run)")
}

/// The uid and gid of the `postgres` user, when running as root (PostgreSQL refuses root).
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id");
        assert!(
            out.status.success(),
            "the postgres user is missing: apt-get install postgresql (see .ci/run)"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

fn as_server_user(cmd: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// The server, started at the first call.
pub fn server() -> &'static Pg {
    SERVER.get_or_init(start)
}

fn start() -> Pg {
    let bin = bindir();
    let user = server_user();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Folders of earlier runs whose process is gone.
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("pg-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = root.join(format!("pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    let data = dir.join("data");
    let out = as_server_user(Command::new(bin.join("initdb")).current_dir(&dir), user)
        .arg("-D")
        .arg(&data)
        .args(["--no-locale", "-E", "UTF8", "-A", "trust", "-U", "edigate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every role connects on trust but `secretive`, which must give its password (the test of
    // `password_file`).
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhost all secretive 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(dir.join("server.log"), Some(uid), Some(gid)).unwrap();
    }
    let mut cmd = Command::new(bin.join("postgres"));
    as_server_user(cmd.current_dir(&dir), user)
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
        .arg("-k")
        .arg(&dir)
        .args(["-c", "fsync=off", "-c", "max_connections=400"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: prctl is async-signal-safe; it makes the server stop (fast shutdown) when the
    // thread that started it ends, which is when the test binary exits.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|_| ()).map_err(|e| e.to_string()))
            .unwrap();
        if ok {
            // This thread lives as long as the binary: the server is tied to it.
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv().unwrap().expect("starting postgres");
    let pg = Pg { port };
    let ready = crate::support::wait_for(30, || {
        postgres::Client::connect(&pg.url("postgres"), postgres::NoTls).is_ok()
    });
    assert!(
        ready,
        "postgres did not come up: {}",
        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
    );
    pg
}

impl Pg {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://edigate@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database; its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("sb{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .unwrap();
        self.url(&name)
    }

    /// One query's first column of every row, as text (`SELECT x::text ...`).
    pub fn column(&self, url: &str, sql: &str) -> Vec<String> {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        c.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
            .collect()
    }
}
