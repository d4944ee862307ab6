//! An HTTP target simulator for demos and tests: takes records as JSON POSTs with an
//! `Idempotency-Key`, stores each key once, and fails a configurable share of requests in every
//! way a real ERP API does: 500 before storing, 500 after storing ("commit then fail"), 429 with
//! `Retry-After`, 503, a response slower than the client's timeout, and a dropped connection.
//! Records whose text contains the reject marker are refused with 422 (a business rejection).
//! `GET /stats` tells what was stored. Plain HTTP/1.1 over std sockets; loopback use only.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Share of requests that fail (0.0 to 1.0).
    pub fail_rate: f64,
    pub seed: u64,
    /// How long a "slow" response takes (longer than the client's timeout).
    pub slow_ms: u64,
    /// How long every answer to a POST takes (the system's own latency).
    pub latency_ms: u64,
    /// Records whose JSON contains this text are refused with 422.
    pub reject_marker: Option<String>,
}

/// The simulator's state, shared by its connections.
pub struct Sim {
    cfg: SimConfig,
    rng: Mutex<u64>,
    stored: Mutex<HashMap<String, String>>,
    posts: AtomicUsize,
    failures: AtomicUsize,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Arc<Sim> {
        Arc::new(Sim {
            rng: Mutex::new(cfg.seed.max(1)),
            cfg,
            stored: Mutex::new(HashMap::new()),
            posts: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        })
    }

    fn draw(&self) -> u64 {
        let mut x = self.rng.lock().expect("rng");
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Idempotency keys stored so far.
    pub fn stored_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stored
            .lock()
            .expect("stored")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    pub fn stats_json(&self) -> String {
        serde_json::json!({
            "posts": self.posts.load(Ordering::Relaxed),
            "failures_injected": self.failures.load(Ordering::Relaxed),
            "stored": self.stored_keys(),
        })
        .to_string()
    }
}

/// Serves until `stop` is set. Each connection gets its own thread.
pub fn serve(listener: TcpListener, sim: Arc<Sim>, stop: Arc<AtomicBool>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let sim = sim.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream, &sim);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn handle(stream: TcpStream, sim: &Sim) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut length, mut key) = (0usize, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "idempotency-key" => key = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(16 << 20)];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    if method == "GET" && path == "/stats" {
        return respond(&mut stream, "200 OK", "", &sim.stats_json());
    }
    if method != "POST" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "",
            "{\"error\":\"POST records\"}",
        );
    }
    sim.posts.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(sim.cfg.latency_ms));
    let Some(key) = key else {
        return respond(
            &mut stream,
            "400 Bad Request",
            "",
            "{\"error\":\"Idempotency-Key is required\"}",
        );
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    if sim
        .cfg
        .reject_marker
        .as_ref()
        .is_some_and(|m| text.contains(m.as_str()))
    {
        return respond(
            &mut stream,
            "422 Unprocessable Entity",
            "",
            "{\"error\":\"record refused: blocked item or order\"}",
        );
    }
    let store = |sim: &Sim| {
        sim.stored
            .lock()
            .expect("stored")
            .entry(key.clone())
            .or_insert(text.clone());
    };
    let fail = (sim.draw() % 10_000) as f64 / 10_000.0 < sim.cfg.fail_rate;
    if fail {
        sim.failures.fetch_add(1, Ordering::Relaxed);
        match sim.draw() % 6 {
            0 => {
                return respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "",
                    "{\"error\":\"database unavailable\"}",
                )
            }
            1 => {
                store(sim);
                return respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "",
                    "{\"error\":\"committed, then failed\"}",
                );
            }
            2 => {
                return respond(
                    &mut stream,
                    "429 Too Many Requests",
                    "Retry-After: 1\r\n",
                    "{\"error\":\"slow down\"}",
                )
            }
            3 => {
                return respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "",
                    "{\"error\":\"maintenance\"}",
                )
            }
            4 => {
                std::thread::sleep(Duration::from_millis(sim.cfg.slow_ms));
                store(sim);
                return respond(&mut stream, "201 Created", "", "{\"stored\":true}");
            }
            _ => return Ok(()), // Drop the connection without an answer.
        }
    }
    store(sim);
    respond(&mut stream, "201 Created", "", "{\"stored\":true}")
}
