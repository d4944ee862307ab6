//! The dashboard in a real headless Chromium (Debian's chromium and chromium-driver), driven
//! through WebDriver over loopback: log in with a token, find a quarantined file, see its
//! faulty segment and element highlighted, save a corrected copy, release it and see it
//! delivered, then search its PO and follow the timeline. Each page's screenshot is written to
//! `docs/screenshots/`.

use crate::console::{address, agent, config, po, ENV, OPS};
use crate::support::{terminate, wait_for, Sandbox, Target};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

/// The W3C element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver with one headless Chromium session; both end when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver (Debian's chromium-driver) must be installed: .ci/run installs it",
            );
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        assert!(
            wait_for(30, || agent
                .get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_body().read_to_string().ok())
                .is_some_and(|b| b.contains("\"ready\":true"))),
            "chromedriver did not become ready"
        );
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = b.post("/session", caps);
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v:#}"))
            .to_string();
        b
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let text = r.into_body().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["value"]["error"].is_null(), "WebDriver {path}: {v:#}");
        v
    }

    fn get(&self, path: &str) -> Value {
        let r = self
            .agent
            .get(&format!("{}/session/{}{path}", self.base, self.session))
            .call()
            .unwrap();
        serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap()
    }

    fn cmd(&self, path: &str, body: Value) -> Value {
        self.post(&format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.cmd("/url", json!({ "url": url }));
    }

    fn find(&self, css: &str) -> String {
        assert!(
            self.appears(css),
            "no {css} on the page:\n{}",
            self.source()
        );
        let v = self.cmd("/element", json!({"using": "css selector", "value": css}));
        v["value"][ELEMENT].as_str().unwrap().to_string()
    }

    fn exists(&self, css: &str) -> bool {
        let r = self
            .agent
            .post(&format!("{}/session/{}/elements", self.base, self.session))
            .header("Content-Type", "application/json")
            .send(
                json!({"using": "css selector", "value": css})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        let v: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
        v["value"].as_array().is_some_and(|a| !a.is_empty())
    }

    /// Whether an element matching `css` is on the page within 10 s (after a navigation the
    /// new page may not be there yet).
    fn appears(&self, css: &str) -> bool {
        wait_for(10, || self.exists(css))
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd(&format!("/element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(&format!("/element/{e}/clear"), json!({}));
        self.cmd(&format!("/element/{e}/value"), json!({ "text": text }));
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.get(&format!("/element/{e}/text"))["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn source(&self) -> String {
        self.get("/source")["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Saves the page as `docs/screenshots/NAME.png`.
    fn screenshot(&self, name: &str) {
        let b64 = self.get("/screenshot")["value"]
            .as_str()
            .unwrap()
            .to_string();
        let png = base64(&b64);
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn an_operator_fixes_and_releases_a_quarantined_file_and_follows_its_order_in_the_browser() {
    let sim = Target::start(edigate::sim::SimConfig {
        fail_rate: 0.0,
        seed: 1,
        slow_ms: 500,
        latency_ms: 0,
        reject_marker: None,
    });
    let sb = Sandbox::with_config(&config(&sim.config("documents = [\"purchase_order/v1\"]")));
    let mut child = sb.spawn_with(&["run"], &ENV);
    let site = address(&sb);
    // A file whose BEG05 is no date: quarantined with the segment and element known.
    let bad = String::from_utf8(po(7)).unwrap().replace(
        "BEG*00*SA*PO00000007**20260517~",
        "BEG*00*SA*PO00000007**20261341~",
    );
    assert!(bad.contains("20261341"));
    sb.drop_file("order7.edi", bad.as_bytes());
    sb.drop_file("order8.edi", &po(8));
    assert!(
        wait_for(30, || sb
            .stdout(&["quarantine", "list"])
            .contains("order7.edi")),
        "{}",
        sb.log()
    );

    let b = Browser::start();
    // Without a session every page is the login form.
    b.go(&format!("{site}/quarantine"));
    assert!(b.appears("#token"), "{}", b.source());
    b.screenshot("login");
    b.type_into("#token", OPS);
    b.click("#login");
    assert!(b.appears("#files"), "{}", b.source());
    b.screenshot("quarantine");
    let listed = b.text("#files");
    assert!(listed.contains("order7.edi"), "{listed}");
    b.click("#files a");
    // The faulty segment and element, highlighted where the diagnostic points.
    assert_eq!(b.text("#content mark.el"), "20261341", "{}", b.source());
    assert!(b
        .text("#content mark.seg")
        .starts_with("BEG*00*SA*PO00000007"));
    assert!(
        b.text("#diagnostics").contains("BEG05"),
        "{}",
        b.text("#diagnostics")
    );
    b.screenshot("quarantined-file");
    // A corrected copy, then release.
    let fixed = String::from_utf8(po(7)).unwrap();
    b.type_into("#correction", &fixed);
    b.click("#save");
    assert!(
        wait_for(10, || b.source().contains("corrected copy uploaded by ops")),
        "{}\n{}",
        b.source(),
        sb.log()
    );
    b.click("#confirm-release");
    b.click("#release");
    assert!(b.text("#done").contains("goes through the pipeline again"));
    // Delivered: the order's page shows it at the target.
    assert!(
        wait_for(30, || sim.stats()["stored"].as_array().map_or(0, Vec::len)
            == 2),
        "{}\n{}",
        sim.stats(),
        sb.log()
    );
    b.go(&format!("{site}/documents"));
    b.type_into("#key", "PO00000007");
    b.click("#search");
    assert_eq!(b.text("#milestone"), "Order status: ordered");
    let systems = b.text("#systems");
    assert!(
        systems.contains("erp") && systems.contains("ordered"),
        "{systems}"
    );
    let page = b.source();
    assert!(
        page.contains("released by ops (admin)") && page.contains("delivered"),
        "{page}"
    );
    b.screenshot("document-timeline");
    // The deep link opens the same page; the overview shows the channel and the target.
    b.go(&format!("{site}/documents?key=PO00000007"));
    assert!(b.appears("#systems"));
    b.go(&format!("{site}/"));
    assert!(b.text("#channel-inbox").contains("ok"), "{}", b.source());
    b.screenshot("overview");
    drop(b);
    terminate(&mut child);
}
