//! Streamed translation against the one that keeps everything: a file read from disk as it is
//! parsed, its results handed to a sink interchange by interchange (and a big interchange's
//! records held in a temporary file), gives exactly the records, acknowledgements and
//! interchanges of `dry_run`, second passes included; and so does an X12 file parsed on a
//! second thread while the first maps it.

use crate::golden::{cfg, FIXED_NOW};
use crate::support::data;
use edigate::translate::{dry_run, dry_run_to, Ack, Emitted, Input, InterchangeInfo, Sink, Whole};
use edigate::util::sha256_hex;
use std::path::Path;

#[derive(Default)]
struct Collect {
    records: Vec<Emitted>,
    acks: Vec<Ack>,
    interchanges: Vec<InterchangeInfo>,
}

impl Sink for Collect {
    fn record(&mut self, r: Emitted) {
        self.records.push(r);
    }
    fn ack(&mut self, a: Ack) {
        self.acks.push(a);
    }
    fn interchange(&mut self, i: InterchangeInfo) {
        self.interchanges.push(i);
    }
}

/// Translates `path` kept whole and streamed (from memory, and from disk when `from_disk` and
/// the file is one `edigate translate` streams), and requires the same results; returns the
/// number of records.
fn same_both_ways(path: &Path, from_disk: bool) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let sha = sha256_hex(&bytes);
    let shown = path.display().to_string();
    fn input<'a>(
        bytes: &'a [u8],
        shown: &'a str,
        sha: &'a str,
        whole: Option<Whole<'a>>,
    ) -> Input<'a> {
        Input {
            data: if whole.is_some() {
                &bytes[..bytes.len().min(64 << 10)]
            } else {
                bytes
            },
            file: shown,
            sha256: sha,
            // A CSV file speaks for the partner of its channel.
            channel_partner: shown.ends_with(".csv").then_some("ACME"),
            seen: None,
            whole,
        }
    }
    let pipe = edigate::formats::pipe::force_on_this_thread;
    pipe(Some(false));
    let kept = dry_run(&input(&bytes, &shown, &sha, None), cfg(), FIXED_NOW);
    let mut ways = vec![(None, false), (None, true)];
    if from_disk && edigate::translate::streams(&bytes[..bytes.len().min(64 << 10)], cfg()) {
        let whole = Whole {
            path,
            len: bytes.len() as u64,
        };
        ways.extend([(Some(whole), false), (Some(whole), true)]);
    }
    for (whole, piped) in ways {
        pipe(Some(piped));
        let mut sink = Collect::default();
        let streamed = dry_run_to(
            &input(&bytes, &shown, &sha, whole),
            cfg(),
            FIXED_NOW,
            &mut sink,
        );
        pipe(None);
        let what = format!(
            "{shown} (from disk: {}, second thread: {piped})",
            whole.is_some()
        );
        assert_eq!(sink.records, kept.records, "{what}");
        assert_eq!(sink.acks, kept.acks, "{what}");
        assert_eq!(sink.interchanges, kept.interchanges, "{what}");
        assert_eq!(streamed.diagnostics, kept.diagnostics, "{what}");
        assert_eq!(streamed.refusal, kept.refusal, "{what}");
        assert_eq!(
            (streamed.accepted, streamed.rejected),
            (kept.accepted, kept.rejected),
            "{what}"
        );
        assert!(
            streamed.records.is_empty() && streamed.acks.is_empty(),
            "{what}"
        );
    }
    kept.records.len()
}

#[test]
fn every_edi_and_csv_fixture_streams_to_the_same_results_second_passes_included() {
    let mut records = 0;
    let mut files = 0;
    for dir in [
        "x12/ok",
        "x12/err",
        "edifact/ok",
        "edifact/err",
        "csv/ok",
        "csv/err",
    ] {
        for e in std::fs::read_dir(data(dir)).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "edi" || x == "csv") {
                records += same_both_ways(&p, true);
                files += 1;
            }
        }
    }
    assert!(
        files >= 34 && records >= 20,
        "{files} files, {records} records"
    );
    // The shared corpus: senders this configuration does not know, broken envelopes.
    let corpus = crate::corpus::corpus();
    let mut stack = vec![
        corpus.join("x12"),
        corpus.join("edifact"),
        corpus.join("csv"),
    ];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                same_both_ways(&e.path(), true);
                seen += 1;
            }
        }
    }
    assert!(seen > 100, "{seen} corpus files");
}

/// A clean interchange, then one whose first group turns out rejected after its transaction
/// set was mapped (a stray segment before GE): the file is read twice, and what the first
/// reading handed over already is not handed over again.
#[test]
fn a_second_reading_hands_over_nothing_twice() {
    let clean = std::fs::read_to_string(data("x12/ok/850-4010-acme.edi")).unwrap();
    let late = std::fs::read_to_string(data("x12/err/850-stray-segment-rejects-its-group.edi"))
        .unwrap()
        .replace("000000905", "000000906");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean-then-late.edi");
    std::fs::write(&path, format!("{clean}{late}")).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let sha = sha256_hex(&bytes);
    let kept = dry_run(
        &Input {
            data: &bytes,
            file: "x",
            sha256: &sha,
            channel_partner: None,
            seen: None,
            whole: None,
        },
        cfg(),
        FIXED_NOW,
    );
    // Both interchanges flow in part: the clean one's order and the late one's second group.
    assert_eq!((kept.records.len(), kept.interchanges.len()), (2, 2));
    assert_eq!(same_both_ways(&path, true), 2);
}

#[test]
fn one_interchange_too_big_for_memory_spools_its_records_and_gives_them_back_in_order() {
    // One ISA/GS holding 12,000 purchase orders (about 8 MB of text, 20 MB of records: more
    // than the spool keeps in memory), the 7,000th rejected by a bad date.
    let text = std::fs::read_to_string(data("x12/ok/850-4010-acme.edi")).unwrap();
    let segs: Vec<&str> = text
        .split('~')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let st = segs.iter().position(|s| s.starts_with("ST*")).unwrap();
    let se = segs.iter().position(|s| s.starts_with("SE*")).unwrap();
    let body = &segs[st + 1..se];
    let mut doc = format!("{}~\n{}~\n", segs[0], segs[1]);
    let n = 12_000;
    for i in 1..=n {
        doc.push_str(&format!("ST*850*{i:09}~\n"));
        for s in body {
            if i == 7_000 && s.starts_with("BEG*") {
                doc.push_str("BEG*00*SA*4500001234**20261340~\n");
            } else {
                doc.push_str(s);
                doc.push_str("~\n");
            }
        }
        doc.push_str(&format!("SE*{}*{i:09}~\n", body.len() + 2));
    }
    let gs_ctl = segs[1].split('*').nth(6).unwrap();
    let isa_ctl = segs[0].split('*').nth(13).unwrap();
    doc.push_str(&format!("GE*{n}*{gs_ctl}~\nIEA*1*{isa_ctl}~\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-850.edi");
    std::fs::write(&path, doc).unwrap();
    assert_eq!(same_both_ways(&path, true), n - 1);
}

/// A CSV file of 20,000 order lines (about 16 MB of records: past what the spool keeps in
/// memory) gives the sink exactly what the kept translation gives; the same file with a bad
/// last row, which the twin only meets after it has spooled every other order, gives the sink
/// nothing and is refused as the interpreter refuses it.
#[test]
fn a_big_csv_file_spools_its_records_and_hands_over_none_when_its_last_row_fails() {
    let text = std::fs::read_to_string(data("csv/ok/order-lines.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let mut doc = format!("{header}\n");
    for i in 0..20_000 {
        doc.push_str(&row.replacen("4500001240", &format!("45{i:08}"), 1));
        doc.push('\n');
    }
    // The last row names no item (no UPC): the mapping refuses the file.
    let bad = doc.clone()
        + &row
            .replacen("4500001240", "4599999999", 1)
            .replace("4000862141404", "");
    let dir = tempfile::tempdir().unwrap();
    for (text, orders) in [(doc, 20_000), (bad, 0)] {
        let bytes = text.into_bytes();
        let sha = sha256_hex(&bytes);
        let input = Input {
            data: &bytes,
            file: "orders.csv",
            sha256: &sha,
            channel_partner: Some("ACME"),
            seen: None,
            whole: None,
        };
        let kept = dry_run(&input, cfg(), FIXED_NOW);
        assert_eq!(kept.records.len(), orders);
        assert_eq!(kept.refusal.is_some(), orders == 0, "{:?}", kept.refusal);
        // Handed to a sink, from memory and from disk (where the failing file, declined by the
        // row reader at its last row, is then read whole for the interpreter's refusal).
        let path = dir.path().join("orders.csv");
        std::fs::write(&path, &bytes).unwrap();
        let head = &bytes[..64 << 10];
        assert!(edigate::translate::streams(head, cfg()));
        let from_disk = Input {
            data: head,
            whole: Some(Whole {
                path: &path,
                len: bytes.len() as u64,
            }),
            ..input
        };
        for input in [&input, &from_disk] {
            let mut sink = Collect::default();
            let streamed = dry_run_to(input, cfg(), FIXED_NOW, &mut sink);
            assert_eq!(sink.records, kept.records);
            assert!(streamed.records.is_empty());
            assert_eq!(streamed.refusal, kept.refusal);
            assert_eq!(streamed.diagnostics, kept.diagnostics);
        }
    }
}

#[test]
fn thousands_of_bad_transaction_sets_list_a_bounded_number_of_diagnostics_and_are_each_acknowledged(
) {
    // One interchange of 2,500 orders whose SE01 is wrong: every set is rejected and says so in
    // the 997, but the file lists (and the service logs) at most MAX_ERRORS errors.
    let text = std::fs::read_to_string(data("x12/ok/850-4010-acme.edi")).unwrap();
    let (head, rest) = text.split_at(text.find("ST*850").unwrap());
    let (set, tail) = rest.split_at(rest.find("GE*").unwrap());
    let sets = 2_500;
    let mut doc = head.to_string();
    for n in 1..=sets {
        doc.push_str(
            &set.replace("ST*850*0001", &format!("ST*850*{n:04}"))
                .replace("SE*20*0001", &format!("SE*99*{n:04}")),
        );
    }
    doc.push_str(&tail.replace("GE*1*905", &format!("GE*{sets}*905")));
    let bytes = doc.into_bytes();
    let sha = sha256_hex(&bytes);
    let input = Input {
        data: &bytes,
        file: "bad.edi",
        sha256: &sha,
        channel_partner: None,
        seen: None,
        whole: None,
    };
    let out = dry_run(&input, cfg(), FIXED_NOW);
    assert_eq!((out.accepted, out.rejected), (0, sets));
    let errors = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == edigate::formats::Severity::Error)
        .count();
    assert_eq!(errors, edigate::formats::MAX_ERRORS);
    let last = out.diagnostics.last().unwrap();
    assert!(
        last.message
            .ends_with("; 1500 more diagnostics in this file are not listed"),
        "{last:?}"
    );
    // The first error is still the refusal's reason, and every set is in the acknowledgement.
    let refusal = out.refusal.as_ref().expect("nothing accepted");
    assert_eq!(refusal.code, "x12.se01_count");
    assert_eq!(out.acks.len(), 1);
    let ack = String::from_utf8(out.acks[0].doc.bytes.to_vec().unwrap()).unwrap();
    assert_eq!(ack.matches("AK2*850*").count(), sets, "{ack}");
}
