//! The state in PostgreSQL (`[store] backend = "postgres"`): the same outcomes as SQLite for
//! the same files, the URL and password kept out of sight, and `migrate-store` carrying an
//! appliance's state over.

use crate::pg;
use crate::support::{data, Sandbox, CONFIG};
use std::fs;
use std::path::Path;

/// Every input of our fixture folders (good and bad, every syntax) and one repeated file.
fn drop_mixed_inputs(sb: &Sandbox) -> usize {
    let mut n = 0;
    for folder in [
        "x12/ok",
        "x12/err",
        "edifact/ok",
        "edifact/err",
        "cxml/ok",
        "csv/ok",
    ] {
        let mut names: Vec<_> = fs::read_dir(data(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                !["ack", "diag", "jsonl", "json"]
                    .iter()
                    .any(|x| p.extension().is_some_and(|e| e == *x))
            })
            .collect();
        names.sort();
        for p in names {
            let name = format!("{}-{}", folder.replace('/', "-"), file_name(&p));
            sb.drop_file(&name, &fs::read(&p).unwrap());
            n += 1;
        }
    }
    sb.drop_file(
        "zz-repeat.edi",
        &fs::read(data("x12/ok/850-4010-acme.edi")).unwrap(),
    );
    n + 1
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().to_string()
}

/// The outbox: records as (path, content); acknowledgements as their folder and kind, since
/// files mapped side by side take control numbers in the order they finish (on SQLite too).
/// Every acknowledgement's number is checked unique within its partner and kind.
fn outbox(sb: &Sandbox) -> (Vec<(String, String)>, Vec<String>) {
    let (mut records, mut acks) = (Vec::new(), Vec::new());
    for f in sb.files("outbox") {
        let text =
            String::from_utf8_lossy(&fs::read(sb.path("outbox").join(&f)).unwrap()).to_string();
        if f.contains("/acks/") {
            let (kind, number) = f.rsplit_once('-').unwrap();
            acks.push((kind.to_string(), number.to_string()));
        } else {
            records.push((f, text));
        }
    }
    let mut numbers: Vec<_> = acks.clone();
    numbers.sort();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        acks.len(),
        "an acknowledgement number repeats"
    );
    let mut kinds: Vec<String> = acks.into_iter().map(|(k, _)| k).collect();
    kinds.sort();
    records.sort();
    (records, kinds)
}

/// `text` with its RFC 3339 times (`2026-12-06T08:06:02Z`) blanked: the two runs may straddle
/// a second.
fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let fits = b.len() - i >= shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| match s {
                b'd' => c.is_ascii_digit(),
                other => other == c,
            });
        if fits {
            out.push_str("<time>");
            i += shape.len();
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// What `status --json` says of the files.
fn file_counts(sb: &Sandbox) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_str(&sb.stdout(&["status", "--json"])).unwrap();
    status["files"].clone()
}

#[test]
fn the_same_files_give_the_same_outputs_quarantine_and_status_on_postgres_as_on_sqlite() {
    let lite = Sandbox::on_sqlite(CONFIG);
    let post = Sandbox::on_postgres(CONFIG);
    let n = drop_mixed_inputs(&lite);
    assert_eq!(drop_mixed_inputs(&post), n);
    assert!(n > 20, "{n} inputs");
    let a = lite.run(&["once"]);
    let b = post.run(&["once"]);
    assert_eq!(a.status.code(), b.status.code());
    assert!(
        !String::from_utf8_lossy(&b.stderr).contains("state database"),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    let ((ra, ka), (rb, kb)) = (outbox(&lite), outbox(&post));
    assert!(
        ra.len() >= 8 && ka.len() > 20,
        "{} records, {} acks",
        ra.len(),
        ka.len()
    );
    assert_eq!(
        ra.iter().map(|o| &o.0).collect::<Vec<_>>(),
        rb.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x, y);
    }
    assert_eq!(ka, kb);
    let quarantined = lite.stdout(&["quarantine", "list"]);
    assert!(quarantined.contains("x12-err-"), "{quarantined}");
    assert_eq!(
        mask_times(&quarantined),
        mask_times(&post.stdout(&["quarantine", "list"]))
    );
    let counts = file_counts(&lite);
    assert_eq!(counts, file_counts(&post));
    assert!(counts["duplicates"].as_i64().unwrap() >= 1, "{counts}");
    assert!(counts["done"].as_i64().unwrap() >= 10, "{counts}");
    assert!(counts["quarantined"].as_i64().unwrap() >= 5, "{counts}");
    // Nothing was kept in a SQLite file beside the PostgreSQL database.
    assert!(!post.path("var/edigate.db").exists());
    // The rows are in PostgreSQL: every input once.
    let url = post.db_url.as_ref().unwrap();
    let files = pg::server().column(url, "SELECT COUNT(*)::text FROM files");
    assert_eq!(files, [n.to_string()]);
}

#[test]
fn postgres_without_its_url_is_refused_naming_the_variable_and_nothing_is_made_elsewhere() {
    let sb = Sandbox::on_sqlite(&format!("{CONFIG}{}", crate::support::POSTGRES_STORE));
    sb.drop_file(
        "po.edi",
        &fs::read(data("x12/ok/850-4010-acme.edi")).unwrap(),
    );
    let out = sb.run(&["once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("EDIGATE_DATABASE_URL"), "{err}");
    assert!(!sb.path("var/edigate.db").exists());
    assert!(sb.path("inbox/po.edi").exists(), "the input is left alone");
    // `check` (the unit's ExecStartPre) says so before the service would start.
    let out = sb.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("EDIGATE_DATABASE_URL"), "{err}");
    // An unreachable server is an error too, and the URL's password is not repeated.
    let mut cmd = sb.cmd(&["once"]);
    cmd.env(
        "EDIGATE_DATABASE_URL",
        "postgres://edigate:hunter2-secret@127.0.0.1:1/none",
    );
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(sb.path("inbox/po.edi").exists());
}

#[test]
fn the_password_comes_from_password_file_and_a_wrong_one_is_refused_without_being_shown() {
    let server = pg::server();
    let url = server.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    // A role that must give its password (the test server asks it of `secretive` only).
    let mut admin = postgres::Client::connect(&server.url("postgres"), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'secretive') THEN CREATE ROLE secretive LOGIN PASSWORD 'open-sesame-42'; END IF; END $$;
             ALTER DATABASE {db} OWNER TO secretive"
        ))
        .unwrap();
    let sb = Sandbox::on_sqlite(&format!(
        "{CONFIG}\n[store]\nbackend = \"postgres\"\nurl_env = \"EDIGATE_DATABASE_URL\"\npassword_file = \"db.password\"\n"
    ));
    let role_url = format!("postgres://secretive@127.0.0.1:{}/{db}", server.port);
    fs::write(sb.path("db.password"), "wrong-guess-99\n").unwrap();
    sb.drop_file(
        "po.edi",
        &fs::read(data("x12/ok/850-4010-acme.edi")).unwrap(),
    );
    let mut cmd = sb.cmd(&["once"]);
    cmd.env("EDIGATE_DATABASE_URL", &role_url);
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("wrong-guess-99"), "{err}");
    assert!(sb.path("inbox/po.edi").exists());
    fs::write(sb.path("db.password"), "open-sesame-42\n").unwrap();
    let mut cmd = sb.cmd(&["once"]);
    cmd.env("EDIGATE_DATABASE_URL", &role_url);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sb.records().len(), 1);
    let mut check = sb.cmd(&["check"]);
    check.env("EDIGATE_DATABASE_URL", &role_url);
    let out = check.output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("state: PostgreSQL reached"));
    let owner_url = format!("postgres://edigate@127.0.0.1:{}/{db}", server.port);
    assert_eq!(
        server.column(&owner_url, "SELECT state FROM files"),
        ["archived"]
    );
}

#[test]
fn migrate_store_carries_an_appliance_into_postgres_where_numbering_goes_on() {
    let sb = Sandbox::on_sqlite(CONFIG);
    drop_mixed_inputs(&sb);
    sb.run(&["once"]);
    let before_status = file_counts(&sb);
    let last_id: i64 = sb.state_column("SELECT CAST(MAX(id) AS TEXT) FROM files")[0]
        .parse()
        .unwrap();
    let before_quarantine = sb.stdout(&["quarantine", "list"]);
    let last_ack = sb
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("/acks/997-"))
        .max()
        .unwrap();
    let url = pg::server().fresh_database();
    let out = sb.run(&[
        "migrate-store",
        "--from",
        "sqlite:var/edigate.db",
        "--to",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listing.contains("files"), "{listing}");
    // A second copy into the same database is refused: it is no longer empty.
    let again = sb.run(&[
        "migrate-store",
        "--from",
        "sqlite:var/edigate.db",
        "--to",
        &url,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));
    // The appliance now runs on PostgreSQL and sees what it saw on SQLite.
    let post = Sandbox {
        dir: sb.dir,
        db_url: Some(url),
    };
    post.write_config(CONFIG);
    fs::rename(
        post.path("var/edigate.db"),
        post.path("var/edigate.db.migrated"),
    )
    .unwrap();
    assert_eq!(file_counts(&post), before_status);
    assert_eq!(post.stdout(&["quarantine", "list"]), before_quarantine);
    // The next file takes the next id and its 997 the next control number: nothing repeats.
    let next = fs::read_to_string(data("x12/ok/850-4010-acme.edi"))
        .unwrap()
        .replace("4500001234", "PO-AFTER-MOVE")
        .replace("000000905", "000007777");
    post.drop_file("after-move.edi", next.as_bytes());
    post.once(0);
    let acks: Vec<_> = post
        .files("outbox")
        .into_iter()
        .filter(|f| f.contains("/acks/997-"))
        .collect();
    let newest = acks.iter().max().unwrap();
    assert!(newest > &last_ack, "{newest} after {last_ack}");
    let ids = pg::server().column(
        post.db_url.as_ref().unwrap(),
        "SELECT id::text FROM files WHERE name = 'after-move.edi'",
    );
    assert_eq!(ids, [(last_id + 1).to_string()]);
}

#[test]
fn nodes_starting_together_on_a_new_database_make_its_schema_once_and_all_start() {
    // One node is making the schema of a new database (its transaction open, as the store's
    // always are, under the writers' lock) when eight more arrive: each must wait for it and
    // then find the schema made, never clash with it in the catalog.
    use edigate::store::{Location, Store, WRITER_LOCK};
    let server = pg::server();
    let url = server.fresh_database();
    let mut first = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    first
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK});
             CREATE TABLE IF NOT EXISTS edigate_schema (version BIGINT NOT NULL)"
        ))
        .unwrap();
    let nodes: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                Store::connect(&Location::Postgres {
                    url,
                    password: None,
                    idle_seconds: 60,
                })
                .map(drop)
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    // Every one of them is waiting on a lock the first node holds.
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut watch = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    loop {
        let waiting: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&db],
            )
            .unwrap()
            .get(0);
        if waiting == 8 {
            break;
        }
        std::thread::yield_now();
    }
    first.batch_execute("COMMIT").unwrap();
    for node in nodes {
        node.join().unwrap().unwrap();
    }
    // The version is the number of PostgreSQL migration files.
    let migrations =
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations/postgres"))
            .unwrap()
            .count();
    assert!(migrations >= 3);
    assert_eq!(
        server.column(&url, "SELECT version::text FROM edigate_schema"),
        [migrations.to_string()]
    );
}

/// The test server's database `url` as a store location.
fn on(url: &str, idle_seconds: u64) -> edigate::store::Location {
    edigate::store::Location::Postgres {
        url: url.to_string(),
        password: None,
        idle_seconds,
    }
}

/// One new file in `store`, from the inbox, for ACME: its id.
fn one_file(store: &mut edigate::store::Store) -> i64 {
    store
        .insert_files(&[edigate::store::NewFile {
            channel: "inbox",
            partner: Some("ACME"),
            name: "a.edi",
            source_key: "k1",
            sha256: "abc",
            size: 3,
            blob: "spool/a",
        }])
        .unwrap()[0]
        .0
}

#[test]
fn a_node_stalled_inside_a_transaction_loses_its_session_and_the_writers_lock_after_idle_seconds() {
    // A node that stops between two statements of a transaction (frozen, or cut off from the
    // database) would hold the writers' lock, and so every other node, until it woke. The
    // server ends such a session after `idle_seconds`: the others go on, and the stalled
    // transaction leaves nothing.
    use edigate::store::{no_interchanges, State, Store};
    let server = pg::server();
    let url = server.fresh_database();
    let at = |idle_seconds| on(&url, idle_seconds);
    let mut stalled = Store::connect(&at(1)).unwrap();
    let id = one_file(&mut stalled);
    stalled
        .mark_parsed(id, Some("ACME"), "850", no_interchanges())
        .unwrap();
    // The writers' lock taken, the file moved on inside the transaction, then nothing.
    let tx = stalled.begin_translation(id).unwrap();
    let (done, waited) = std::sync::mpsc::channel();
    let other = at(60);
    std::thread::spawn(move || {
        let mut store = Store::connect(&other).unwrap();
        let first = store.reserve_controls("ACME", "997", 1);
        let state = store.file(id).map(|f| f.state);
        let _ = done.send((first.map_err(|e| e.to_string()), state));
    });
    let (first, state) = waited
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("another node still waits for the writers' lock a minute later");
    assert_eq!(first, Ok(1));
    assert_eq!(state.unwrap(), State::Parsed);
    // The stalled node learns it when it wakes: its commit fails and it saw nothing through.
    assert!(tx.finish(None, "translated").is_err());
    drop(stalled);
    assert_eq!(
        server.column(&url, &format!("SELECT state FROM files WHERE id = {id}")),
        ["parsed"]
    );
}

#[test]
fn a_commit_advancing_a_file_whose_claim_another_node_took_is_refused_and_leaves_nothing() {
    // A node whose claim on a file ran out (it froze, or its renewals failed) while it worked
    // on it: another node claims the file. The first node's commit must leave nothing, or the
    // file would be translated twice.
    use edigate::store::{no_interchanges, State, Store, StoreError};
    use std::time::{Duration, SystemTime};
    let server = pg::server();
    let url = server.fresh_database();
    let at = on(&url, 60);
    let mut late = Store::connect(&at).unwrap();
    let mut other = Store::connect(&at).unwrap();
    let id = one_file(&mut late);
    let start = SystemTime::now();
    let secs = |n| start + Duration::from_secs(n);
    assert_eq!(
        late.claim_files(&[id], "late", secs(0), secs(30)).unwrap(),
        [id]
    );
    late.guard_claims(Some(("late", &[id])));
    // While the claim holds, the claiming node's commits go through.
    late.mark_parsed(id, Some("ACME"), "850", no_interchanges())
        .unwrap();
    // It runs out; the other node takes the file.
    assert_eq!(
        other
            .claim_files(&[id], "other", secs(31), secs(61))
            .unwrap(),
        [id]
    );
    let tx = late.begin_translation(id).unwrap();
    let refused = tx.finish(None, "translated");
    assert!(matches!(refused, Err(StoreError::ClaimLost)), "{refused:?}");
    assert_eq!(late.file(id).unwrap().state, State::Parsed);
    // The node that holds the claim goes on.
    other.guard_claims(Some(("other", &[id])));
    other
        .begin_translation(id)
        .unwrap()
        .finish(None, "translated")
        .unwrap();
    assert_eq!(
        server.column(
            &url,
            &format!("SELECT state || ' ' || claimed_by FROM files WHERE id = {id}")
        ),
        ["translated other"]
    );
}

#[test]
fn nodes_silent_for_a_day_are_forgotten_and_the_others_are_kept() {
    use edigate::store::Store;
    let server = pg::server();
    let url = server.fresh_database();
    let store = Store::connect(&on(&url, 60)).unwrap();
    for node in ["fresh", "quiet", "gone"] {
        store.heartbeat(node, "h", 1, None).unwrap();
    }
    // "quiet" was last heard of an hour ago, "gone" a day and a second ago.
    server.column(
        &url,
        "UPDATE nodes SET seen_at = CASE node WHEN 'quiet' THEN now() - interval '1 hour'
                                          ELSE now() - interval '1 day 1 second' END
         WHERE node IN ('quiet', 'gone') RETURNING node",
    );
    let forgotten = store
        .forget_silent_nodes(edigate::nodes::FORGET_SILENT_AFTER)
        .unwrap();
    assert_eq!(forgotten, 1);
    assert_eq!(
        server.column(&url, "SELECT node FROM nodes ORDER BY node"),
        ["fresh", "quiet"]
    );
}

#[test]
fn renewing_claims_waits_for_the_nodes_own_transaction_instead_of_deadlocking_with_it() {
    // The renewal updates every file row the node claims; the node's own transaction updates
    // the same rows one by one. Were the renewal outside the writers' lock, it could hold one
    // row while waiting for another that the transaction holds, while the transaction waits
    // for the first: PostgreSQL would end one of them (a two-node run logged it).
    use edigate::store::{no_interchanges, NewFile, Store};
    use std::time::{Duration, SystemTime};
    let server = pg::server();
    let url = server.fresh_database();
    let at = on(&url, 60);
    let mut node = Store::connect(&at).unwrap();
    let new = |key: &'static str| NewFile {
        channel: "inbox",
        partner: Some("ACME"),
        name: "a.edi",
        source_key: key,
        sha256: key,
        size: 3,
        blob: "spool/a",
    };
    let ids: Vec<i64> = node
        .insert_files(&[new("k1"), new("k2")])
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let now = SystemTime::now();
    let until = now + Duration::from_secs(30);
    assert_eq!(node.claim_files(&ids, "n", now, until).unwrap(), ids);
    // The node's transaction holds the second file's row...
    node.begin_batch().unwrap();
    node.mark_parsed(ids[1], Some("ACME"), "850", no_interchanges())
        .unwrap();
    // ...when its renewal starts, and waits.
    let (done, renewed) = std::sync::mpsc::channel();
    let other = at.clone();
    std::thread::spawn(move || {
        let mut renewer = Store::connect(&other).unwrap();
        let n = renewer.renew_file_claims("n", until + Duration::from_secs(30));
        let _ = done.send(n.map_err(|e| e.to_string()));
    });
    let waiting = || {
        server.column(
            &url,
            "SELECT count(*)::text FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ) == ["1"]
    };
    assert!(
        crate::support::wait_for(30, waiting),
        "the renewal never waited"
    );
    // The transaction then changes the first file's row, and commits.
    node.mark_parsed(ids[0], Some("ACME"), "850", no_interchanges())
        .unwrap();
    node.end_batch(true).unwrap();
    let renewal = renewed.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(renewal, Ok(2));
}
