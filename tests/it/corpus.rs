//! Robustness over the shared third-party corpus (`../shared/corpus`): every file is either
//! translated or refused with a positioned reason, and nothing panics.

use edigate::translate::{translate, Input};
use edigate::util::Utc;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.is_dir().then_some(p)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.file_name().is_some_and(|n| n != "SOURCES.md") {
            out.push(p);
        }
    }
}

#[test]
fn every_corpus_file_is_translated_or_refused_without_panic() {
    let Some(root) = corpus() else {
        eprintln!("../shared/corpus is not present; corpus test skipped");
        return;
    };
    let cfg = edigate::config::Config::defaults(&root);
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    assert!(all.len() > 400, "corpus has only {} files", all.len());
    let (mut records, mut refused, mut x12_read) = (0, 0, 0);
    for p in &all {
        let data = std::fs::read(p).unwrap();
        let shown = p.strip_prefix(&root).unwrap().display().to_string();
        let out = std::panic::catch_unwind(|| {
            let mut n = 0;
            translate(
                &Input {
                    data: &data,
                    file: &shown,
                    sha256: "0",
                    channel_partner: None,
                    seen: None,
                },
                &cfg,
                Utc { epoch: 0 },
                &mut |_| {
                    n += 1;
                    n
                },
            )
        })
        .unwrap_or_else(|_| panic!("{shown}: translate panicked"));
        records += out.records.len();
        if !out.interchanges.is_empty() {
            x12_read += 1;
        }
        match &out.refusal {
            Some(r) => {
                refused += 1;
                assert!(!r.reason.is_empty(), "{shown}: refusal without a reason");
            }
            None => assert!(out.accepted > 0, "{shown}: neither accepted nor refused"),
        }
        for d in &out.diagnostics {
            assert!(
                d.position.offset <= data.len(),
                "{shown}: {d} points past the end"
            );
        }
    }
    eprintln!(
        "corpus: {} files, {x12_read} with X12 interchanges, {records} records, {refused} refused",
        all.len()
    );
    assert!(records > 20, "only {records} records from the corpus");
}
