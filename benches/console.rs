//! `cargo bench --bench console`: the operators' console against a big store. Fills a state
//! database with EDIGATE_BENCH_RECORDS records (default 1,000,000: 10 per file, each with a PO
//! number, a delivery and the file's history), then measures:
//! 1. `GET /api/v1/documents?key=PO` as the library answers it (`tracking::timeline`): the
//!    median and the slowest of 200 lookups of random PO numbers (goal: under 50 ms);
//! 2. with EDIGATE_BENCH_USERS (default 50) concurrent clients, each fetching the overview,
//!    the quarantine, a document page and the status API over real HTTP from an admin listener
//!    on loopback (`edigate run` against the same database): page latency p50 and p99;
//! 3. the pipeline's files/s for a burst of EDIGATE_BENCH_FILES X12 850s (default 5,000)
//!    dropped into the same service's inbox, alone and then with the users of (2) at once.

use rusqlite::params;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fill(db: &std::path::Path, records: usize) {
    edigate::store::Store::open(db).expect("a new store");
    let mut c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        .unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut file = tx.prepare("INSERT INTO files (id, channel, partner, name, source_key, sha256, size, state, blob, received_at, updated_at) VALUES (?1, 'inbox', 'ACME', ?2, ?2, ?3, 1000, ?4, 'var/archive/x', '2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z')").unwrap();
        let mut event = tx.prepare("INSERT INTO events (file_id, at, state, detail) VALUES (?1, '2026-12-01T10:00:00Z', ?2, 'bench')").unwrap();
        let mut record = tx.prepare("INSERT INTO records (id, file_id, schema, partner) VALUES (?1, ?2, 'purchase_order/v1', 'ACME')").unwrap();
        let mut key = tx
            .prepare("INSERT INTO record_keys (record_id, key, value) VALUES (?1, 'po_number', ?2)")
            .unwrap();
        let mut delivery = tx.prepare("INSERT INTO deliveries (record_id, file_id, target, idem_key, payload, state, next_at, created_at) VALUES (?1, ?2, 'erp', ?3, X'7B7D', 'delivered', '2026-12-01T10:00:00Z', '2026-12-01T10:00:00Z')").unwrap();
        let files = records.div_ceil(10);
        for f in 1..=files {
            let state = if f % 1000 == 0 {
                "quarantined"
            } else {
                "archived"
            };
            file.execute(params![
                f as i64,
                format!("f{f}.edi"),
                format!("{f:064}"),
                state
            ])
            .unwrap();
            for s in ["received", "parsed", "translated", "archived"] {
                event.execute(params![f as i64, s]).unwrap();
            }
            for r in 0..10 {
                let n = (f - 1) * 10 + r;
                if n >= records {
                    break;
                }
                let id = format!("rec_{n:024}");
                record.execute(params![id, f as i64]).unwrap();
                key.execute(params![id, format!("PO{n:09}")]).unwrap();
                delivery
                    .execute(params![id, f as i64, format!("{id}@erp")])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    c.execute_batch("ANALYZE;").unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn get(addr: &str, path: &str, token: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let status = std::str::from_utf8(&buf[9..12])
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    (status, started.elapsed())
}

fn main() {
    let records = env("EDIGATE_BENCH_RECORDS", 1_000_000);
    let users = env("EDIGATE_BENCH_USERS", 50);
    let dir = tempfile::tempdir().unwrap();
    let var = dir.path().join("var");
    std::fs::create_dir_all(&var).unwrap();
    let db = var.join("edigate.db");
    let t = Instant::now();
    fill(&db, records);
    println!(
        "store: {records} records filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 1. The documents query, as the library answers it.
    let store = edigate::store::Store::open(&db).unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::new();
    for _ in 0..200 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = format!("PO{:09}", rng % records as u64);
        let t = Instant::now();
        let v = edigate::tracking::timeline(&store, &key).unwrap();
        times.push(t.elapsed());
        assert!(v.is_some(), "{key} not found");
    }
    times.sort();
    println!(
        "documents?key= over {records} records: median {:.2} ms, slowest {:.2} ms (200 lookups)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
    drop(store);

    // 2. Concurrent dashboard users over HTTP.
    let token = "bench-token-0123456789abcdef";
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(
        dir.path().join("edigate.toml"),
        "[service]\nrescan_seconds = 1\nsettle_ms = 20\n\n[[channels]]\nname = \"inbox\"\ntype = \"dir\"\npath = \"inbox\"\n\n[[partners]]\nid = \"ACME\"\nx12_ids = [\"ZZ:ACMESUPPLY\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n[[admin.tokens]]\nname = \"bench\"\nrole = \"viewer\"\ntoken_env = \"BENCH_TOKEN\"\n",
    )
    .unwrap();
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/edigate");
    let bin = if bin.exists() {
        bin
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/edigate")
    };
    let mut child = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .env("BENCH_TOKEN", token)
        .env("EDIGATE_LOG", "warn")
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("build the binary first: cargo build --release");
    let file = var.join("admin-address");
    let started = Instant::now();
    while !file.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let addr = std::fs::read_to_string(&file)
        .expect("the admin listener started")
        .trim()
        .trim_start_matches("http://")
        .to_string();
    let (lat, wall) = users_round(&addr, token, users, records, None);
    report(users, &lat, wall, "");

    // 3. A burst of files, alone and with the users at once.
    let files = env("EDIGATE_BENCH_FILES", 5000);
    let alone = burst(dir.path(), &db, files, 0);
    println!(
        "{files} files alone: {:.0} files/s",
        files as f64 / alone.as_secs_f64()
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let (flow, (lat, wall)) = std::thread::scope(|s| {
        let flow = s.spawn(|| {
            let d = burst(dir.path(), &db, files, 1);
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            d
        });
        // The users keep going for as long as the burst flows.
        let l = users_round(&addr, token, users, records, Some(&done));
        (flow.join().unwrap(), l)
    });
    println!(
        "{files} files with {users} users at once: {:.0} files/s",
        files as f64 / flow.as_secs_f64()
    );
    report(users, &lat, wall, " while the files flowed");
    let _ = child.kill();
    let _ = child.wait();
}

/// Drops `n` X12 850s into the inbox at once (renamed in from a staging folder) and waits
/// until the service archived them all; returns how long that took.
fn burst(home: &std::path::Path, db: &std::path::Path, n: usize, round: usize) -> Duration {
    let stage = home.join(format!("stage{round}"));
    std::fs::create_dir_all(&stage).unwrap();
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/x12/ok/850-4010-acme.edi"),
    )
    .unwrap();
    for i in 0..n {
        let k = round * 1_000_000 + i + 1;
        let text = fixture
            .replace("4500001234", &format!("BP{k:08}"))
            .replace("000000905", &format!("{k:09}"));
        std::fs::write(stage.join(format!("b{k}.edi")), text).unwrap();
    }
    let c = rusqlite::Connection::open(db).unwrap();
    let archived = || -> i64 {
        c.query_row(
            "SELECT COUNT(*) FROM files WHERE state = 'archived' AND name LIKE 'b%'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let before = archived();
    let t = Instant::now();
    for e in std::fs::read_dir(&stage).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), home.join("inbox").join(e.file_name())).unwrap();
    }
    while archived() - before < n as i64 {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the burst did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.elapsed()
}

fn report(users: usize, lat: &[Duration], wall: Duration, during: &str) {
    let mut lat = lat.to_vec();
    lat.sort();
    println!(
        "{users} concurrent users{during}, {} pages (overview, quarantine, status API, a document) in {:.1} s: p50 {:.1} ms, p99 {:.1} ms, {:.0} pages/s",
        lat.len(),
        wall.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.len() as f64 / wall.as_secs_f64()
    );
}

/// `users` clients at once, each fetching the pages 20 times (and on until `until` is set):
/// every latency, and the time.
fn users_round(
    addr: &str,
    token: &str,
    users: usize,
    records: usize,
    until: Option<&std::sync::atomic::AtomicBool>,
) -> (Vec<Duration>, Duration) {
    let pages = [
        "/".to_string(),
        "/quarantine".to_string(),
        "/api/v1/status".to_string(),
    ];
    let rounds = 20;
    let t = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..users)
            .map(|u| {
                let pages = &pages;
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut r = 0;
                    while r < rounds
                        || until.is_some_and(|u| !u.load(std::sync::atomic::Ordering::Relaxed))
                    {
                        r += 1;
                        for p in pages.iter().cloned().chain([format!(
                            "/documents?key=PO{:09}",
                            (u * 7919 + r * 104_729) % records
                        )]) {
                            let (status, d) = get(addr, &p, token);
                            assert_eq!(status, 200, "{p}");
                            out.push(d);
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    (lat, t.elapsed())
}
