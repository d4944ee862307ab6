//! The operators' console over real HTTP: the admin listener inside `edigate run` on a free
//! loopback port, its tokens and roles, every API endpoint with good and bad ids, a corrected
//! copy kept beside the original, bulk jobs with limits, metrics, and the OpenAPI document.

use crate::support::{data, terminate, wait_for, Sandbox, CONFIG};
use serde_json::Value;
use std::fs;

pub const OPS: &str = "ops-token-0123456789abcdef";
pub const VIEWER: &str = "viewer-token-0123456789abcdef";
pub const ENV: [(&str, &str); 2] = [("EDIGATE_OPS", OPS), ("EDIGATE_VIEWER", VIEWER)];

/// The support configuration with the admin listener and two tokens.
pub fn config(extra: &str) -> String {
    format!(
        r#"{CONFIG}
[admin]
listen = "127.0.0.1:0"
max_upload_bytes = 4096
[[admin.tokens]]
name = "ops"
role = "operator"
token_env = "EDIGATE_OPS"
[[admin.tokens]]
name = "watcher"
role = "viewer"
token_env = "EDIGATE_VIEWER"
{extra}"#
    )
}

pub fn po(n: usize) -> Vec<u8> {
    let text = fs::read_to_string(data("x12/ok/850-4010-acme.edi")).unwrap();
    text.replace("4500001234", &format!("PO{n:08}"))
        .replace("000000905", &format!("{:09}", 1000 + n))
        .into_bytes()
}

/// The address the admin listener took (the service writes it to `var/admin-address`).
pub fn address(sb: &Sandbox) -> String {
    let file = sb.path("var/admin-address");
    assert!(
        wait_for(30, || file.exists()),
        "no admin listener: {}",
        sb.log()
    );
    fs::read_to_string(file).unwrap().trim().to_string()
}

/// A client that keeps non-2xx answers as answers.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// (status, body) of a call with an optional bearer token.
fn call(
    a: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    // A server that refuses an oversized body answers before reading it and closes the
    // connection: the client may see the reset instead of the answer, so it asks again.
    let mut tries = 0;
    let resp = loop {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let sent = match body {
            Some(b) => a.run(req.body(b.to_vec()).unwrap()),
            None => a.run(req.body(()).unwrap()),
        };
        tries += 1;
        match sent {
            Ok(r) => break r,
            Err(e) if tries < 5 => eprintln!("{method} {url}: {e}; asking again"),
            Err(e) => panic!("{method} {url}: {e}"),
        }
    };
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (status, text)
}

pub fn json(a: &ureq::Agent, url: &str, token: &str) -> Value {
    let (status, body) = call(a, "GET", url, Some(token), None);
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[test]
fn the_admin_api_answers_every_endpoint_with_tokens_roles_and_bounds() {
    let sb = Sandbox::with_config(&config(""));
    let mut child = sb.spawn_with(&["run"], &ENV);
    let base = address(&sb);
    let a = agent();
    let url = |p: &str| format!("{base}{p}");

    // No token: only /healthz answers; a wrong token is a bare 401.
    assert_eq!(call(&a, "GET", &url("/healthz"), None, None).0, 200);
    for (token, path) in [
        (None, "/api/v1/status"),
        (Some("wrong-token-0123456789"), "/api/v1/status"),
        (None, "/metrics"),
        (None, "/api/v1/openapi.json"),
    ] {
        let (status, body) = call(&a, "GET", &url(path), token, None);
        assert_eq!(status, 401, "{path}");
        assert_eq!(body, r#"{"error":"unauthorized"}"#);
    }

    // One quarantined file (its SE count is wrong), one that flows.
    let bad = fs::read(data("x12/err/850-se-count-wrong.edi")).unwrap();
    sb.drop_file("bad.edi", &bad);
    sb.drop_file("good.edi", &po(1));
    let mut listing = Value::Null;
    assert!(
        wait_for(30, || {
            listing = json(&a, &url("/api/v1/quarantine"), VIEWER);
            listing["total"] == 1
        }),
        "{listing:#}\n{}",
        sb.log()
    );
    let id = listing["items"][0]["id"].as_i64().unwrap();
    assert_eq!(listing["items"][0]["class"], "syntax");
    let status = json(&a, &url("/api/v1/status"), VIEWER);
    assert_eq!(status["files"]["quarantined"], 1, "{status:#}");
    // The CLI prints the same read model.
    let cli: Value = serde_json::from_str(&sb.stdout(&["status", "--json"])).unwrap();
    assert_eq!(cli["files"], status["files"]);

    // Filters, pages and bounds.
    assert_eq!(
        json(&a, &url("/api/v1/quarantine?partner=NOBODY"), VIEWER)["total"],
        0
    );
    assert_eq!(
        json(
            &a,
            &url("/api/v1/quarantine?class=syntax&per_page=1000"),
            VIEWER
        )["per_page"],
        200
    );
    assert_eq!(
        call(
            &a,
            "GET",
            &url("/api/v1/quarantine?older_than=soon"),
            Some(VIEWER),
            None
        )
        .0,
        400
    );

    // One file: reason, diagnostics with positions, history; bad and unknown ids.
    let d = json(&a, &url(&format!("/api/v1/quarantine/{id}")), VIEWER);
    assert_eq!(d["code"], "x12.se01_count", "{d:#}");
    assert_eq!(d["position"]["segment"], 4, "{d:#}");
    assert!(d["history"].as_array().unwrap().len() >= 2, "{d:#}");
    for (path, want) in [
        ("/api/v1/quarantine/abc", 400),
        ("/api/v1/quarantine/-3", 400),
        ("/api/v1/quarantine/999999", 404),
        ("/api/v1/nothing", 404),
    ] {
        let (status, body) = call(&a, "GET", &url(path), Some(VIEWER), None);
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body.contains("/tmp") && !body.contains("src/"), "{body}");
    }
    let (status, content) = call(
        &a,
        "GET",
        &url(&format!("/api/v1/quarantine/{id}/content")),
        Some(VIEWER),
        None,
    );
    assert_eq!((status, content.as_bytes()), (200, bad.as_slice()));

    // A viewer reads only; an operator corrects (bounded), then releases.
    let put = url(&format!("/api/v1/quarantine/{id}/content"));
    assert_eq!(call(&a, "PUT", &put, Some(VIEWER), Some(&po(2))).0, 403);
    assert_eq!(
        call(
            &a,
            "POST",
            &url(&format!("/api/v1/quarantine/{id}/release")),
            Some(VIEWER),
            None
        )
        .0,
        403
    );
    assert_eq!(
        call(&a, "PUT", &put, Some(OPS), Some(&vec![b'x'; 5000])).0,
        413
    );
    let (status, body) = call(&a, "PUT", &put, Some(OPS), Some(&po(2)));
    assert_eq!(status, 200, "{body}");
    let originals: Vec<String> = sb
        .files("var/archive")
        .into_iter()
        .filter(|f| f.ends_with(".original"))
        .collect();
    assert_eq!(originals.len(), 1, "{originals:?}");
    assert_eq!(
        fs::read(sb.path("var/archive").join(&originals[0])).unwrap(),
        bad,
        "the content as received is kept untouched"
    );
    let (status, body) = call(
        &a,
        "POST",
        &url(&format!("/api/v1/quarantine/{id}/release")),
        Some(OPS),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        call(
            &a,
            "POST",
            &url(&format!("/api/v1/quarantine/{id}/release")),
            Some(OPS),
            None
        )
        .0,
        409,
        "released already"
    );
    assert_eq!(
        call(
            &a,
            "POST",
            &url("/api/v1/quarantine/999999/discard"),
            Some(OPS),
            None
        )
        .0,
        404
    );
    assert!(
        wait_for(30, || sb
            .files("outbox")
            .iter()
            .any(|f| f.contains("purchase_order/") && f.contains("-a2-bad"))),
        "{:?}\n{}",
        sb.files("outbox"),
        sb.log()
    );
    let history = sb.stdout(&["quarantine", "show", &id.to_string()]);
    assert!(
        history.contains("corrected copy uploaded by ops")
            && history.contains("released by ops (admin)"),
        "{history}"
    );

    // Documents by business key, with their timeline.
    let doc = json(&a, &url("/api/v1/documents?key=PO00000002"), VIEWER);
    assert_eq!(doc["track"]["status"], "ordered", "{doc:#}");
    let events = doc["timelines"][0]["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["state"] == "operator"), "{doc:#}");
    assert_eq!(
        call(
            &a,
            "GET",
            &url("/api/v1/documents?key=NOPE"),
            Some(VIEWER),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(&a, "GET", &url("/api/v1/documents"), Some(VIEWER), None).0,
        400
    );

    // Bulk: never unbounded; a job with progress and a result.
    for n in 0..3 {
        sb.drop_file(
            &format!("junk{n}.txt"),
            format!("not EDI at all {n}").as_bytes(),
        );
    }
    assert!(wait_for(30, || json(
        &a,
        &url("/api/v1/quarantine"),
        VIEWER
    )["total"]
        == 3));
    let bulk = url("/api/v1/quarantine/bulk");
    let post = |body: &str, token| {
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(&bulk)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap();
        let r = a.run(req).unwrap();
        (
            r.status().as_u16(),
            r.into_body().read_to_string().unwrap_or_default(),
        )
    };
    assert_eq!(post(r#"{"action":"discard","limit":0}"#, OPS).0, 400);
    assert_eq!(post(r#"{"action":"discard","limit":5000}"#, OPS).0, 400);
    assert_eq!(post(r#"{"action":"shred","limit":2}"#, OPS).0, 400);
    assert_eq!(post(r#"{"action":"discard","limit":2}"#, VIEWER).0, 403);
    let (status, body) = post(r#"{"action":"discard","limit":2}"#, OPS);
    assert_eq!(status, 202, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    let progress = url(job["progress"].as_str().unwrap());
    let mut j = Value::Null;
    assert!(
        wait_for(30, || {
            j = json(&a, &progress, VIEWER);
            j["state"] == "done"
        }),
        "{j:#}"
    );
    assert_eq!(
        (j["selected"].as_u64(), j["done"].as_u64()),
        (Some(2), Some(2)),
        "{j:#}"
    );
    assert_eq!(json(&a, &url("/api/v1/quarantine"), VIEWER)["total"], 1);

    // Routes, targets, channels, metrics and the OpenAPI document.
    assert!(json(&a, &url("/api/v1/routes"), VIEWER)["routes"].is_array());
    assert!(json(&a, &url("/api/v1/targets"), VIEWER)["targets"].is_array());
    assert_eq!(
        json(&a, &url("/api/v1/channels"), VIEWER)["channels"][0]["name"],
        "inbox"
    );
    let (status, metrics) = call(&a, "GET", &url("/metrics"), Some(VIEWER), None);
    assert_eq!(status, 200);
    assert!(metrics.contains("edigate_quarantined_files 1"), "{metrics}");
    // The service's own latency histograms: every file translated so far was observed.
    let translated = metrics
        .lines()
        .find_map(|l| l.strip_prefix("edigate_stage_seconds_count{stage=\"translated\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(translated.is_some_and(|n| n >= 5), "{metrics}");
    let spec = json(&a, &url("/api/v1/openapi.json"), VIEWER);
    for p in [
        "/api/v1/status",
        "/api/v1/quarantine/{id}/content",
        "/api/v1/documents",
        "/metrics",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} is not in the OpenAPI document"
        );
    }
    // No token value reaches the log.
    terminate(&mut child);
    assert!(!sb.log().contains(OPS) && !sb.log().contains(VIEWER));
}

#[test]
fn check_refuses_a_remote_admin_address_unless_allowed_and_a_missing_token() {
    let remote = config("").replace("127.0.0.1:0", "0.0.0.0:8089");
    let sb = Sandbox::with_config(&remote);
    let out = sb.run(&["check"]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("not a loopback address") && text.contains("reverse proxy"),
        "{text}"
    );
    let allowed = remote.replace("[admin]\n", "[admin]\nallow_remote = true\n");
    sb.write_config(&allowed);
    let out = sb.run(&["check"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("a reverse proxy in front must terminate TLS"),
        "{said}"
    );
    // Started without its token's secret, the service refuses to start and says which.
    let out = sb.cmd(&["run"]).env_remove("EDIGATE_OPS").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("[[admin.tokens]] ops") && err.contains("EDIGATE_OPS"),
        "{err}"
    );
}

#[test]
fn an_interchange_sent_is_overdue_until_its_997_comes_even_late() {
    let cfg = config("").replace(
        "x12_ids = [\"ZZ:ACMESUPPLY\"]",
        "x12_ids = [\"ZZ:ACMESUPPLY\"]\nack_due_minutes = 60\n[partners.outbound]\nx12_sender = \"ZZ:BUYERCO\"\ndocuments = { \"purchase_order/v1\" = \"x12:850\" }",
    );
    let sb = Sandbox::with_config(&cfg);
    let mut child = sb.spawn_with(&["run"], &ENV);
    let base = address(&sb);
    let a = agent();
    sb.drop_file(
        "from-erp.jsonl",
        &fs::read(data("outbound/x12-850/po.jsonl")).unwrap(),
    );
    let sent = sb.path("outbox/ACME/outbound/850-000000001.x12");
    assert!(wait_for(30, || sent.exists()), "{}", sb.log());
    let text = fs::read_to_string(&sent).unwrap();
    let gs06 = text
        .split('~')
        .find(|s| s.trim_start().starts_with("GS*"))
        .and_then(|gs| gs.split('*').nth(6))
        .unwrap()
        .to_string();
    let later = edigate::util::Utc {
        epoch: edigate::util::Utc::now().epoch + 2 * 3600,
    }
    .rfc3339();
    let overdue = |at: &str| -> Vec<Value> {
        json(&a, &format!("{base}/api/v1/acks/overdue?at={at}"), VIEWER)["overdue"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(
        overdue(&edigate::util::Utc::now().rfc3339()).is_empty(),
        "due in an hour"
    );
    let late = overdue(&later);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["document"], "850");
    assert_eq!(late[0]["control"], gs06);
    assert_eq!(
        call(
            &a,
            "GET",
            &format!("{base}/api/v1/acks/overdue?at=tomorrow"),
            Some(VIEWER),
            None
        )
        .0,
        400
    );
    // The partner's 997, however late, settles it.
    let ack = format!(
        "ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*BUYERCO        *260517*1015*U*00401*000000911*0*P*>~\n\
         GS*FA*ACMESUPPLY*BUYERCO*20260517*1015*338*X*004010~\nST*997*0001~\nAK1*PO*{gs06}~\nAK2*850*0001~\nAK5*A~\nAK9*A*1*1*1~\nSE*6*0001~\nGE*1*338~\nIEA*1*000000911~\n"
    );
    sb.drop_file("997.edi", ack.as_bytes());
    assert!(wait_for(30, || overdue(&later).is_empty()), "{}", sb.log());
    terminate(&mut child);
    let status = sb.stdout(&["status"]);
    assert!(
        status.contains("acknowledgements owed by partners: accepted 1; overdue 0"),
        "{status}"
    );
}

/// A webhook receiver on loopback that keeps every request (headers and body) and answers
/// 500 to the first one, 200 to the rest.
struct Hook {
    port: u16,
    /// (answered 500, headers, body) of each request.
    got: std::sync::Arc<std::sync::Mutex<Vec<(bool, String, String)>>>,
}

impl Hook {
    fn start() -> Hook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let status = if n == 0 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                keep.lock().unwrap().push((
                    n == 0,
                    head,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
            }
        });
        Hook { port, got }
    }
}

#[test]
fn alerts_are_told_once_signed_retried_and_rate_limited() {
    let hook = Hook::start();
    let cfg = config(&format!(
        "[[alerts]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{}/hook\"\non = [\"quarantine\"]\nsecret_env = \"EDIGATE_ALERT_SECRET\"\nmax_per_minute = 4\n",
        hook.port
    ));
    let sb = Sandbox::with_config(&cfg);
    let mut env = ENV.to_vec();
    env.push(("EDIGATE_ALERT_SECRET", "alert-secret"));
    let mut child = sb.spawn_with(&["run"], &env);
    for n in 0..4 {
        sb.drop_file(&format!("junk{n}.txt"), format!("not EDI {n}").as_bytes());
    }
    // The first answer is a 500: that alert is retried.
    let mut status = String::new();
    assert!(
        wait_for(60, || {
            status = sb.stdout(&["status"]);
            status.contains("alerts to webhooks: sent 4")
        }),
        "{status}\n{}",
        sb.log()
    );
    // Four a minute: a fifth waits its turn.
    sb.drop_file("junk5.txt", b"not EDI 5");
    assert!(
        wait_for(60, || {
            status = sb.stdout(&["status"]);
            status.contains("alerts to webhooks: pending 1, sent 4")
        }),
        "{status}\n{}",
        sb.log()
    );
    terminate(&mut child);
    let all = hook.got.lock().unwrap().clone();
    let failed: Value = serde_json::from_str(&all[0].2).unwrap();
    let got: Vec<(String, String)> = all[1..]
        .iter()
        .map(|(_, h, b)| (h.clone(), b.clone()))
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let mut files = Vec::new();
    for (head, body) in &got {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["alert"].as_str(), v["kind"].as_str()),
            (Some("ops"), Some("quarantine")),
            "{v:#}"
        );
        assert_eq!(v["detail"]["code"], "format.unknown", "{v:#}");
        files.push(v["detail"]["file_id"].as_i64().unwrap());
        // The signature covers the time and the body.
        let sig = head
            .lines()
            .find_map(|l| l.strip_prefix("edigate-signature:"))
            .unwrap()
            .trim()
            .to_string();
        let t: i64 = sig
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("t=")
            .parse()
            .unwrap();
        assert_eq!(
            sig,
            edigate::targets::signature(b"alert-secret", t, body.as_bytes())
        );
    }
    assert!(
        files.contains(&failed["detail"]["file_id"].as_i64().unwrap()),
        "the alert answered 500 came again: {failed:#} {files:?}"
    );
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 4, "each fact is told once: {got:?}");
}

#[test]
fn a_partners_channel_quiet_beyond_its_expected_interval_shows_as_quiet() {
    let cfg = config(
        "[[channels]]\nname = \"acme-drop\"\ntype = \"dir\"\npath = \"acme\"\npartner = \"ACME\"\n",
    )
    .replace(
        "x12_ids = [\"ZZ:ACMESUPPLY\"]",
        "x12_ids = [\"ZZ:ACMESUPPLY\"]\nexpected_interval_minutes = 60",
    );
    let sb = Sandbox::with_config(&cfg);
    fs::create_dir_all(sb.path("acme")).unwrap();
    let mut child = sb.spawn_with(&["run"], &ENV);
    let base = address(&sb);
    let a = agent();
    let channels = json(&a, &format!("{base}/api/v1/channels"), VIEWER);
    let drop = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acme-drop")
        .cloned()
        .unwrap();
    assert_eq!(drop["quiet_since"], "never", "{channels:#}");
    let inbox = &channels["channels"][0];
    assert!(
        inbox["quiet_since"].is_null(),
        "no partner expects the inbox: {channels:#}"
    );
    // A file from the partner: not quiet any more.
    fs::write(sb.path("acme/po.edi"), po(3)).unwrap();
    assert!(
        wait_for(30, || {
            let s: Value = serde_json::from_str(&sb.stdout(&["status", "--json"])).unwrap();
            s["channels"][1]["quiet_since"].is_null()
        }),
        "{}",
        sb.log()
    );
    terminate(&mut child);
}
