//! Several `edigate run` nodes on one PostgreSQL database and one data folder: one is active
//! (it holds the lease), the others stand by; the active one killed with SIGKILL, or frozen
//! until another takes over and then woken (it must find itself fenced and exit), again and
//! again: every file still ends once in the outbox, with one 997 each.
//!
//! Files and deliveries are split: every node, active or standing by, claims unfinished files
//! and due deliveries for a while and works them, so both nodes translate and a slow target is
//! worked by all nodes, each file flowing once and each request sent once.
//!
//! `EDIGATE_NODES_FILES` and `EDIGATE_NODES_KILLS` scale the run (`benches/nodes.sh` runs
//! 1,000 files and 50 kills).

use crate::support::{
    data, terminate, terminate_within, wait_for, Sandbox, Target, CONFIG, POSTGRES_STORE,
};
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::process::Child;
use std::time::Instant;

fn po(n: usize) -> Vec<u8> {
    String::from_utf8(fs::read(data("x12/ok/850-4010-acme.edi")).unwrap())
        .unwrap()
        .replace("4500001234", &format!("PN{n:08}"))
        .replace("000000905", &format!("{:09}", 20_000 + n))
        .into_bytes()
}

fn signal(child: &Child, which: &str) {
    let ok = std::process::Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {which}");
}

fn scale(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status(sb: &Sandbox) -> Value {
    serde_json::from_str(&sb.stdout(&["status", "--json"])).unwrap_or(Value::Null)
}

fn done(s: &Value) -> u64 {
    s["files"]["done"].as_u64().unwrap_or(0)
}

/// The pid of the node holding the lease, as `status` shows it.
fn active_pid(s: &Value) -> Option<u32> {
    s["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["active"] == Value::Bool(true))
        .and_then(|n| n["pid"].as_u64())
        .map(|p| p as u32)
}

/// Every one of `files` orders once in the outbox, and one 997 per file, each with its own
/// interchange control number whichever node wrote it.
fn each_once_in_the_outbox(sb: &Sandbox, files: usize) {
    let mut orders = HashSet::new();
    let mut lines = 0;
    for f in sb.files("outbox/ACME/purchase_order") {
        let text = fs::read_to_string(sb.path("outbox/ACME/purchase_order").join(&f)).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            orders.insert(
                v["correlation"]["po_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            lines += 1;
        }
    }
    assert_eq!((orders.len(), lines), (files, files));
    let acks = sb.files("outbox/ACME/acks");
    assert_eq!(acks.len(), files, "{acks:?}");
    let mut numbers = HashSet::new();
    for a in &acks {
        let text = fs::read_to_string(sb.path("outbox/ACME/acks").join(a)).unwrap();
        let isa13 = text.split('*').nth(13).unwrap_or_default().to_string();
        assert!(numbers.insert(isa13.clone()), "ISA13 {isa13} twice");
    }
}

#[test]
fn two_nodes_take_over_from_each_other_through_kills_and_every_file_flows_once() {
    let files = scale("EDIGATE_NODES_FILES", 120);
    let kills = scale("EDIGATE_NODES_KILLS", 6);
    // Every record is also delivered to an ERP (the simulator keeps each idempotency key once).
    let target = Target::start(edigate::sim::SimConfig {
        fail_rate: 0.0,
        seed: 11,
        slow_ms: 0,
        latency_ms: 5,
        reject_marker: None,
    });
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!(
            "{CONFIG}{}{POSTGRES_STORE}lease_seconds = 2\n",
            target.config("")
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut nodes: Vec<Child> = vec![sb.spawn(&["run"]), sb.spawn(&["run"])];
    for n in 0..files {
        sb.drop_file(&format!("po{n:05}.edi"), &po(n));
    }
    let (mut killed, mut fenced) = (0, 0);
    let mut last_done = 0;
    while killed < kills {
        // A live node took over (the killed one's lease may still show until it ends), and
        // work went on under it before it is killed in turn.
        let mut pid = None;
        let live: Vec<u32> = nodes.iter().map(|c| c.id()).collect();
        let progressed = wait_for(60, || {
            let s = status(&sb);
            pid = active_pid(&s).filter(|p| live.contains(p));
            pid.is_some() && (done(&s) > last_done || done(&s) as usize == files)
        });
        assert!(progressed, "no node made progress:\n{}", sb.log());
        last_done = done(&status(&sb));
        let pid = pid.unwrap();
        let Some(at) = nodes.iter().position(|c| c.id() == pid) else {
            panic!("the active node {pid} is not one of ours:\n{}", sb.log());
        };
        let mut victim = nodes.remove(at);
        if killed % 2 == 0 {
            // Killed: its pid is gone, so a node of the same host takes over at once.
            victim.kill().unwrap();
            victim.wait().unwrap();
        } else {
            // Frozen (a node presumed dead): another takes over once its lease has run out;
            // woken up, it finds its fence raised, writes nothing and exits.
            signal(&victim, "-STOP");
            let other = wait_for(60, || {
                active_pid(&status(&sb)).is_some_and(|p| p != victim.id())
            });
            signal(&victim, "-CONT");
            assert!(other, "no node took over from a frozen one:\n{}", sb.log());
            let mut code = None;
            assert!(wait_for(30, || {
                code = victim.try_wait().unwrap();
                code.is_some()
            }));
            assert_eq!(
                code.and_then(|c| c.code()),
                Some(edigate::nodes::FENCED_EXIT),
                "{}",
                sb.log()
            );
            fenced += 1;
        }
        killed += 1;
        // Its replacement stands by while another works.
        nodes.push(sb.spawn(&["run"]));
    }
    let delivered = || -> usize {
        sb.state_column("SELECT COUNT(*)::text FROM deliveries WHERE state = 'delivered'")[0]
            .parse()
            .unwrap()
    };
    let all = wait_for(300, || {
        done(&status(&sb)) as usize == files && delivered() == files
    });
    let s = status(&sb);
    let elapsed = started.elapsed();
    for mut n in nodes {
        // Generous: a node may be finishing a batch on a loaded machine.
        let Some(code) = terminate_within(&mut n, 30) else {
            panic!(
                "node {} did not stop on SIGTERM within 30 s:\n{}",
                n.id(),
                sb.log()
            );
        };
        assert!(code.success(), "a node stopped with {code}:\n{}", sb.log());
    }
    assert!(all, "{s}\n{}", sb.log());
    assert_eq!(s["files"]["quarantined"], 0, "{s}");
    assert_eq!(s["files"]["in_flight"], 0, "{s}");
    each_once_in_the_outbox(&sb, files);
    // Every record delivered once: one delivery each, settled, and created once in the ERP
    // (a request a killed node had out may have gone again, under the same key).
    assert_eq!(
        sb.state_column(
            "SELECT COUNT(*)::text || ' ' || COUNT(DISTINCT record_id)::text FROM deliveries WHERE state = 'delivered'"
        ),
        [format!("{files} {files}")]
    );
    let stats = target.stats();
    let stored: HashSet<String> = stats["stored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        (stats["stored"].as_array().unwrap().len(), stored.len()),
        (files, files),
        "{stats}"
    );
    assert!(fenced >= 1 || kills < 2);
    eprintln!(
        "{files} files, the active node stopped {killed} times ({fenced} frozen and fenced, the rest SIGKILLed): {:.1} s, {:.1} files/s",
        elapsed.as_secs_f64(),
        files as f64 / elapsed.as_secs_f64()
    );
}

#[test]
fn nodes_split_a_slow_targets_deliveries_and_a_killed_nodes_claims_pass_to_the_other() {
    let target = Target::start(edigate::sim::SimConfig {
        fail_rate: 0.0,
        seed: 7,
        slow_ms: 0,
        latency_ms: 40,
        reject_marker: None,
    });
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!(
            "{CONFIG}{}{POSTGRES_STORE}lease_seconds = 4\n",
            target.config("concurrency = 2\n")
        ),
    )
    .unwrap();
    let mut nodes: Vec<Child> = vec![sb.spawn(&["run"]), sb.spawn(&["run"])];
    assert!(wait_for(60, || sb.state_ready()), "{}", sb.log());
    let delivered = || -> usize {
        sb.state_column("SELECT COUNT(*)::text FROM deliveries WHERE state = 'delivered'")[0]
            .parse()
            .unwrap()
    };
    // Both nodes send, and no request goes out twice.
    let first = 100;
    for n in 0..first {
        sb.drop_file(&format!("po{n:05}.edi"), &po(n));
    }
    assert!(wait_for(120, || delivered() == first), "{}", sb.log());
    let senders = sb.state_column("SELECT DISTINCT claimed_by FROM deliveries");
    assert_eq!(senders.len(), 2, "{senders:?}");
    let stats = target.stats();
    assert_eq!(stats["posts"], first as u64, "{stats}\n{}", sb.log());
    assert_eq!(stats["stored"].as_array().unwrap().len(), first);
    // The standby is killed while it holds claims: the active node sends them once they
    // run out (its own host's supervisor has not started the killed node again).
    let second = 80;
    for n in first..first + second {
        sb.drop_file(&format!("po{n:05}.edi"), &po(n));
    }
    let active = {
        let mut pid = None;
        assert!(wait_for(60, || {
            pid = active_pid(&status(&sb));
            pid.is_some()
        }));
        pid.unwrap()
    };
    let standby = nodes.iter().position(|c| c.id() != active).unwrap();
    let standby_pid = nodes[standby].id();
    // `status` shows what each node is sending.
    let holds = wait_for(60, || {
        status(&sb)["nodes"].as_array().is_some_and(|nodes| {
            nodes.iter().any(|n| {
                n["pid"].as_u64() == Some(u64::from(standby_pid))
                    && n["claims"].as_i64().unwrap_or(0) > 0
            })
        })
    });
    assert!(holds, "the standby never claimed:\n{}", sb.log());
    let mut victim = nodes.remove(standby);
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(
        wait_for(120, || delivered() == first + second),
        "{}\n{}",
        sb.stdout(&["status"]),
        sb.log()
    );
    for mut n in nodes {
        let code = terminate(&mut n);
        assert!(code.success(), "a node stopped with {code}:\n{}", sb.log());
    }
    // Each record stored once by the target (a request of the killed node may have been
    // repeated, under the same idempotency key), and each delivery settled once.
    let stats = target.stats();
    assert_eq!(
        stats["stored"].as_array().unwrap().len(),
        first + second,
        "{stats}"
    );
    assert_eq!(
        sb.state_column("SELECT COUNT(*)::text FROM deliveries"),
        [(first + second).to_string()]
    );
    assert_eq!(
        sb.state_column(
            "SELECT COUNT(*)::text FROM deliveries WHERE state != 'delivered' OR attempts != 1"
        ),
        ["0"]
    );
}

#[test]
fn two_nodes_split_the_files_between_them_and_each_file_flows_once() {
    // Files are claimed a chunk at a time: the standby advances those the active node has
    // not claimed, so both translate, and every order still ends once in the outbox.
    let files = scale("EDIGATE_NODES_SPLIT_FILES", 600);
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!("{CONFIG}{POSTGRES_STORE}lease_seconds = 4\n"),
    )
    .unwrap();
    let nodes: Vec<Child> = vec![sb.spawn(&["run"]), sb.spawn(&["run"])];
    let both = wait_for(60, || {
        let s = status(&sb);
        active_pid(&s).is_some() && s["nodes"].as_array().is_some_and(|n| n.len() == 2)
    });
    assert!(both, "{}", sb.log());
    for n in 0..files {
        sb.drop_file(&format!("po{n:05}.edi"), &po(n));
    }
    // While the backlog lasts, status shows what each node is advancing.
    let mut advancing = HashSet::new();
    let finished = wait_for(180, || {
        let s = status(&sb);
        for n in s["nodes"].as_array().into_iter().flatten() {
            if n["files"].as_i64().unwrap_or(0) > 0 {
                advancing.insert(n["node"].as_str().unwrap_or_default().to_string());
            }
        }
        done(&s) as usize == files
    });
    assert!(finished, "{}\n{}", sb.stdout(&["status"]), sb.log());
    for mut n in nodes {
        let code = terminate(&mut n);
        assert!(code.success(), "a node stopped with {code}:\n{}", sb.log());
    }
    // Each node advanced some of the files (the last to claim a file is kept on its row).
    let workers = sb.state_column("SELECT DISTINCT claimed_by FROM files ORDER BY 1");
    assert_eq!(workers.len(), 2, "{workers:?}\n{}", sb.log());
    assert!(
        !advancing.is_empty(),
        "status never showed a node advancing files"
    );
    let s = status(&sb);
    assert_eq!(s["files"]["quarantined"], 0, "{s}");
    assert_eq!(s["files"]["in_flight"], 0, "{s}");
    each_once_in_the_outbox(&sb, files);
}

#[test]
fn a_standby_killed_while_it_advances_files_leaves_them_to_the_active_node_and_each_flows_once() {
    // The standby holds claims on files it is translating, writing or placing when it is
    // SIGKILLed: its process is gone, so the active node frees its claims at its next round and
    // finishes those files; none is lost, none is written twice.
    let files = scale("EDIGATE_NODES_SPLIT_FILES", 600);
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!("{CONFIG}{POSTGRES_STORE}lease_seconds = 300\n"),
    )
    .unwrap();
    let mut nodes: Vec<Child> = vec![sb.spawn(&["run"]), sb.spawn(&["run"])];
    let mut active = None;
    let both = wait_for(60, || {
        let s = status(&sb);
        active = active_pid(&s);
        active.is_some() && s["nodes"].as_array().is_some_and(|n| n.len() == 2)
    });
    assert!(both, "{}", sb.log());
    let standby = nodes.iter().position(|c| Some(c.id()) != active).unwrap();
    let standby_pid = u64::from(nodes[standby].id());
    for n in 0..files {
        sb.drop_file(&format!("po{n:05}.edi"), &po(n));
    }
    let holds = wait_for(120, || {
        status(&sb)["nodes"].as_array().is_some_and(|nodes| {
            nodes.iter().any(|n| {
                n["pid"].as_u64() == Some(standby_pid) && n["files"].as_i64().unwrap_or(0) > 0
            })
        })
    });
    assert!(holds, "the standby never claimed files:\n{}", sb.log());
    let mut victim = nodes.remove(standby);
    victim.kill().unwrap();
    victim.wait().unwrap();
    // Its claims last 300 s: only the gone process's claims being freed at once lets this
    // finish within the wait.
    let finished = wait_for(120, || done(&status(&sb)) as usize == files);
    assert!(finished, "{}\n{}", sb.stdout(&["status"]), sb.log());
    for mut n in nodes {
        let code = terminate(&mut n);
        assert!(code.success(), "a node stopped with {code}:\n{}", sb.log());
    }
    let s = status(&sb);
    assert_eq!(s["files"]["quarantined"], 0, "{s}");
    assert_eq!(s["files"]["in_flight"], 0, "{s}");
    each_once_in_the_outbox(&sb, files);
}

#[test]
fn a_standby_serves_the_admin_api_and_shows_both_nodes_and_the_work_of_the_active_one() {
    use crate::console::{address, agent, json, ENV, VIEWER};
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!("{}{POSTGRES_STORE}", crate::console::config("")),
    )
    .unwrap();
    let mut nodes = vec![sb.spawn_with(&["run"], &ENV)];
    let first = address(&sb);
    let active = nodes[0].id();
    assert!(
        wait_for(60, || active_pid(&status(&sb)) == Some(active)),
        "{}",
        sb.log()
    );
    nodes.push(sb.spawn_with(&["run"], &ENV));
    let standby = nodes[1].id();
    // Each node's listener takes a free port and writes where it listens; the second one's
    // address replaces the first's.
    let file = sb.path("var/admin-address");
    let mut second = String::new();
    assert!(
        wait_for(60, || {
            second = fs::read_to_string(&file)
                .unwrap_or_default()
                .trim()
                .to_string();
            !second.is_empty() && second != first
        }),
        "the second node never listened:\n{}",
        sb.log()
    );
    let a = agent();
    let nodes_seen = |base: &str| -> Vec<(u64, bool)> {
        let s = json(&a, &format!("{base}/api/v1/status"), VIEWER);
        let mut seen: Vec<(u64, bool)> = s["nodes"]
            .as_array()
            .map(|n| {
                n.iter()
                    .map(|n| (n["pid"].as_u64().unwrap_or(0), n["active"] == true))
                    .collect()
            })
            .unwrap_or_default();
        seen.sort();
        seen
    };
    let mut both = vec![(u64::from(active), true), (u64::from(standby), false)];
    both.sort();
    // Both listeners answer, and each shows both nodes, the first one active.
    for base in [&first, &second] {
        assert!(
            wait_for(60, || nodes_seen(base) == both),
            "{base}: {:?}\n{}",
            nodes_seen(base),
            sb.log()
        );
    }
    // `status` names where each node's console answers (the file names only the last).
    let mut consoles: Vec<String> = status(&sb)["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["admin"].as_str().unwrap_or_default().to_string())
        .collect();
    consoles.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(consoles, expected);
    // What the active node does is seen through the standby's listener.
    sb.drop_file("po1.edi", &po(1));
    assert!(
        wait_for(60, || {
            let s = json(&a, &format!("{second}/api/v1/status"), VIEWER);
            s["files"]["done"] == 1
        }),
        "{}",
        sb.log()
    );
    for mut n in nodes {
        let code = terminate(&mut n);
        assert!(code.success(), "a node stopped with {code}:\n{}", sb.log());
    }
}

/// A sandbox on PostgreSQL with leases of `lease_seconds`, and its first node, once status
/// shows it active.
fn one_active_node(lease_seconds: u64) -> (Sandbox, Child) {
    let sb = Sandbox::on_postgres(CONFIG);
    fs::write(
        sb.path("edigate.toml"),
        format!("{CONFIG}{POSTGRES_STORE}lease_seconds = {lease_seconds}\n"),
    )
    .unwrap();
    let active = sb.spawn(&["run"]);
    let id = active.id();
    assert!(
        wait_for(60, || active_pid(&status(&sb)) == Some(id)),
        "{}",
        sb.log()
    );
    (sb, active)
}

#[test]
fn a_standby_asked_to_stop_stops_at_once_not_at_its_next_look_at_the_lease() {
    // A long lease: a standby looks at it every 20 s.
    let (sb, mut active) = one_active_node(60);
    let mut standby = sb.spawn(&["run"]);
    let waiting = u64::from(standby.id());
    // Status shows it once it has looked at the lease for the first time.
    let seen = |s: &Value| {
        s["nodes"].as_array().is_some_and(|n| {
            n.iter()
                .any(|n| n["pid"].as_u64() == Some(waiting) && n["active"] == false)
        })
    };
    assert!(wait_for(60, || seen(&status(&sb))), "{}", sb.log());
    // Told to stop just after it began to wait for its next look.
    let code = terminate_within(&mut standby, 5);
    assert!(
        code.is_some_and(|c| c.success()),
        "the standby did not stop within 5 s of SIGTERM ({code:?}):\n{}",
        sb.log()
    );
    let code = terminate(&mut active);
    assert!(code.success(), "{code}:\n{}", sb.log());
}

#[test]
fn a_killed_standby_shows_as_silent_once_a_lease_passes_without_its_heartbeat() {
    let (sb, mut active) = one_active_node(2);
    let id = active.id();
    let mut standby = sb.spawn(&["run"]);
    let line = |sb: &Sandbox, pid: u32| -> String {
        let node = status(sb)["nodes"]
            .as_array()
            .and_then(|n| {
                n.iter()
                    .find(|n| n["pid"].as_u64() == Some(u64::from(pid)))
                    .and_then(|n| n["node"].as_str().map(String::from))
            })
            .unwrap_or_default();
        let text = sb.stdout(&["status"]);
        text.lines()
            .find(|l| !node.is_empty() && l.contains(&node))
            .unwrap_or("")
            .to_string()
    };
    let waiting = standby.id();
    assert!(
        wait_for(60, || line(&sb, waiting).contains("standby")),
        "{}",
        sb.stdout(&["status"])
    );
    standby.kill().unwrap();
    standby.wait().unwrap();
    assert!(
        wait_for(30, || line(&sb, waiting).contains("silent")),
        "{}",
        sb.stdout(&["status"])
    );
    // The active node, heartbeating, is never silent.
    assert!(
        line(&sb, id).contains("active"),
        "{}",
        sb.stdout(&["status"])
    );
    let code = terminate(&mut active);
    assert!(code.success(), "{code}:\n{}", sb.log());
}

#[test]
fn a_node_numbering_its_processes_apart_under_the_same_host_name_waits_out_the_lease() {
    // Two containers on one host with host networking: one host name, and each edigate is
    // process 1 of its own PID namespace. The second must not take the first's number for a
    // process of its own that is gone, and take the lease of a node that is alive.
    let (sb, mut active) = one_active_node(2);
    let id = active.id();
    let run = sb.cmd(&["run"]);
    let mut apart = std::process::Command::new("unshare");
    apart
        .args(["--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM"])
        .arg(run.get_program())
        .args(run.get_args())
        .current_dir(sb.path(""))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(sb.path("service.log"))
                .unwrap(),
        );
    for (k, v) in run.get_envs() {
        match v {
            Some(v) => apart.env(k, v),
            None => apart.env_remove(k),
        };
    }
    let mut other = apart
        .spawn()
        .expect("unshare (util-linux) runs the second node in its own PID namespace, as root");
    // It is process 1 where it runs; it has looked at the lease several times once its
    // heartbeat has moved on twice.
    let mut beats = HashSet::new();
    let looked = wait_for(60, || {
        let s = status(&sb);
        if let Some(n) = s["nodes"].as_array().and_then(|n| {
            n.iter()
                .find(|n| n["pid"].as_u64() == Some(1) && n["node"] != Value::Null)
        }) {
            beats.insert(n["seen_at"].as_str().unwrap_or_default().to_string());
        }
        beats.len() >= 3 || other.try_wait().unwrap().is_some()
    });
    assert!(
        looked,
        "the second node never showed in status:\n{}",
        sb.log()
    );
    let s = status(&sb);
    assert_eq!(active_pid(&s), Some(id), "{s}\n{}", sb.log());
    assert!(
        active.try_wait().unwrap().is_none(),
        "the first node was fenced by a node that took its lease while it lived:\n{}",
        sb.log()
    );
    // unshare ignores SIGTERM while it waits: the node (its child) is told to stop, and
    // leaves as a clean stop does (its row removed, unshare exiting with its status).
    let child = fs::read_to_string(format!("/proc/{0}/task/{0}/children", other.id())).unwrap();
    let node = std::process::Command::new("kill")
        .args(["-TERM", child.trim()])
        .status()
        .unwrap();
    assert!(
        node.success(),
        "the node of the other namespace ({child:?}) is gone"
    );
    let mut code = None;
    assert!(
        wait_for(30, || {
            code = other.try_wait().unwrap();
            code.is_some()
        }),
        "{}",
        sb.log()
    );
    assert!(code.unwrap().success(), "{code:?}:\n{}", sb.log());
    assert!(
        wait_for(30, || status(&sb)["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|n| n["pid"].as_u64() != Some(1)))),
        "{}",
        sb.log()
    );
    let code = terminate(&mut active);
    assert!(code.success(), "{code}:\n{}", sb.log());
}
