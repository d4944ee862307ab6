//! The compiled twins against the interpreter: every record a twin gives is the one its jq
//! mapping gives, over generated documents (clean and broken), the project's fixtures and the
//! shared corpus.

use crate::support::{data, Rng};
use edigate::canonical::Written;
use edigate::formats::{edifact, x12};
use edigate::mapping::twin::Streamed;
use edigate::mapping::{doc, Mappings};
use std::collections::HashSet;

/// The shipped mappings plus crosswalk tables: units for every partner (one mapped to
/// nothing, one to text JSON must escape), items for ACME only.
fn mappings() -> (tempfile::TempDir, Mappings) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("codes")).unwrap();
    std::fs::write(
        dir.path().join("codes/uom.csv"),
        "partner,value,mapped\n*,EA,EA\n*,CS,CA\n*,PCE,PCE\n*,EMPTY,\n*,DZ,\"D\"\"Z\\\\\"\nACME,BX,BOX\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("codes/item.csv"),
        "partner,value,mapped\nACME,WIDGET-1,W-1\nACME,BLANK,\nACME,QUOTED,\"W\"\"1\"\n",
    )
    .unwrap();
    let maps = Mappings::load(Some(dir.path())).unwrap();
    (dir, maps)
}

/// Maps every transaction set or message `set` (850, ORDERS) of `data` (X12 or EDIFACT) both
/// ways; returns (documents, twin answers, interpreter errors). Panics, naming `what`, when the
/// twin gives a record the interpreter does not.
fn compare(
    maps: &Mappings,
    set: &str,
    data: &[u8],
    partner: &str,
    what: &str,
) -> (usize, usize, usize) {
    let syntax = if set.bytes().all(|b| b.is_ascii_digit()) {
        "x12"
    } else {
        "edifact"
    };
    let mapping = maps.find(partner, "inbound", syntax, set).unwrap();
    assert!(
        mapping.twin().is_some(),
        "the shipped {set} mapping has a twin"
    );
    let mut counts = (0, 0, 0);
    let mut check =
        |control: &str, interpreted: Result<Vec<Written>, _>, twin: Option<Vec<Written>>| {
            counts.0 += 1;
            counts.2 += usize::from(interpreted.is_err());
            if let Some(twin) = twin {
                counts.1 += 1;
                assert_eq!(
                    Ok(&twin),
                    interpreted.as_ref(),
                    "{what}: document {control} ({partner})"
                );
            }
        };
    let written = |bs: Vec<edigate::canonical::Business>| bs.iter().map(Written::from).collect();
    if syntax == "x12" {
        for ic in &x12::parse(data).interchanges {
            for g in &ic.groups {
                for tx in g.transactions.iter().filter(|t| t.id == set) {
                    evaluators_agree(
                        maps,
                        mapping,
                        partner,
                        doc::x12(tx, &g.version, partner),
                        what,
                    );
                    let interpreted = maps
                        .inbound(mapping, partner, doc::x12(tx, &g.version, partner))
                        .map(written);
                    check(
                        &tx.control,
                        interpreted,
                        maps.twin_x12(mapping, partner, tx),
                    );
                }
            }
        }
    } else {
        for ic in &edifact::parse(data).interchanges {
            for m in ic.messages.iter().filter(|m| m.kind == set) {
                evaluators_agree(maps, mapping, partner, doc::edifact(m, partner), what);
                let interpreted = maps
                    .inbound(mapping, partner, doc::edifact(m, partner))
                    .map(written);
                check(
                    &m.reference,
                    interpreted,
                    maps.twin_edifact(mapping, partner, m),
                );
            }
        }
    }
    counts
}

/// Holds the faster evaluator to jaq on one document: the same outputs or the same error,
/// unless it hands the document to jaq.
fn evaluators_agree(
    maps: &Mappings,
    mapping: &edigate::mapping::Mapping,
    partner: &str,
    input: jaq_json::Val,
    what: &str,
) {
    let (fast, jaq) = maps.both_evaluators(mapping, partner, input).unwrap();
    HANDED.with(|h| {
        let (answered, handed) = h.get();
        h.set(match fast.is_some() {
            true => (answered + 1, handed),
            false => (answered, handed + 1),
        })
    });
    if let Some(fast) = fast {
        assert_eq!(
            fast, jaq,
            "{what}: the evaluator and jaq differ ({partner})"
        );
    }
}

thread_local! {
    /// Documents the faster evaluator answered and handed to jaq, on this test's thread.
    static HANDED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// Checks that the faster evaluator answered nearly every document this test compared (so
/// that its agreement with jaq is not vacuous), and starts counting again.
fn the_evaluator_answered(what: &str) {
    let (answered, handed) = HANDED.with(|h| h.replace((0, 0)));
    eprintln!("{what}: the evaluator answered {answered}, handed {handed} to jaq");
    assert!(
        answered > 0 && handed * 100 <= answered,
        "{what}: the evaluator answered {answered} documents and handed {handed} to jaq"
    );
}

/// One 850 transaction set; with `odd` > 0, each part has that percent chance of being odd
/// (empty, invalid, composite, Latin-1, unknown code, missing).
fn purchase_order(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*850*0001".to_vec()];
    if !r.chance(odd / 3) {
        let purpose = if r.chance(odd) {
            r.pick(&["", "99", "01", "03", "04", "05", "06", "07", " 00", "00 "])
        } else {
            "00"
        };
        let kind = if r.chance(odd) {
            r.pick(&["", "SA  "])
        } else {
            "SA"
        };
        let po = if r.chance(odd) {
            r.pick(&["", "  "]).to_string()
        } else {
            r.word(10)
        };
        let d = date(r, odd);
        segs.push(format!("BEG*{purpose}*{kind}*{po}**{d}").into_bytes());
    }
    if r.chance(50) {
        segs.push(format!("CUR*BY*{}", if r.chance(odd) { "" } else { "USD" }).into_bytes());
    }
    if r.chance(50) {
        let q = if r.chance(odd) {
            r.pick(&["DP", "RQ "])
        } else {
            "RQ"
        };
        let v = or_empty(r, odd, |r| r.word(8));
        segs.push(format!("REF*{q}*{v}").into_bytes());
    }
    if r.chance(50) {
        let days = r.pick(&["", "30"]);
        let text = r.pick(&["", "2% 10 NET 30", " "]);
        segs.push(format!("ITD*01*3*2**10**{days}*****{text}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["002", "010", "074", "999"]);
        let d = date(r, odd);
        segs.push(format!("DTM*{q}*{d}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let t = or_empty(r, odd, |r| r.text(4));
        segs.push(
            (if r.chance(50) {
                format!("NTE*GEN*{t}")
            } else {
                format!("MSG*{t}")
            })
            .into_bytes(),
        );
    }
    for _ in 0..r.below(5) {
        let role = if r.chance(odd * 2) {
            r.pick(&["ZZ", "OB", "SH", "RI", "PE", "PR", "SU", "RE", "SF", ""])
        } else {
            r.pick(&["BY", "ST", "BT", "SE", "VN"])
        };
        let name = or_empty(r, odd, |r| r.text(3));
        let (q, id) = if r.chance(30) {
            ("", String::new())
        } else {
            ("92", r.digits(5))
        };
        segs.push(if r.chance(odd) {
            format!("N1*{role}*Caf\u{e9}*{q}*{id}").into_bytes()
        } else if r.chance(odd) {
            [b"N1*".as_slice(), role.as_bytes(), b"*Caf\xe9 ", b"*92*1"].concat()
        } else {
            format!("N1*{role}*{name}*{q}*{id}").into_bytes()
        });
        if r.chance(20) {
            segs.push(format!("N2*{}", r.text(2)).into_bytes());
        }
        for _ in 0..r.below(3) {
            let second = or_empty(r, 50, |r| r.text(2));
            segs.push(format!("N3*{}*{second}", r.text(3)).into_bytes());
        }
        if r.chance(70) {
            let region = if r.chance(odd) { "" } else { "IL" };
            segs.push(format!("N4*{}*{region}*{}*US", r.word(9), r.digits(5)).into_bytes());
        }
        if r.chance(20) {
            segs.push(format!("PER*IC*{}", r.text(2)).into_bytes());
        }
    }
    let lines = if r.chance(odd) {
        r.below(2)
    } else {
        1 + r.below(5)
    };
    for l in 1..=lines {
        let n = or_empty(r, odd, |_| l.to_string());
        let qty = if r.chance(odd) {
            r.pick(&["", "x", " 5", "-1", ".5", "1,5", "  "])
                .to_string()
        } else {
            r.decimal(2)
        };
        let uom = if r.chance(odd) {
            r.pick(&["", "CS", "BX", "EMPTY", "ZZ", "EA "])
        } else {
            r.pick(&["EA", "CS", "DZ"])
        };
        let price = if r.chance(odd) {
            r.pick(&["", "abc", "10.", "+3", "1>2"]).to_string()
        } else {
            r.cents()
        };
        let mut po1 = format!("PO1*{n}*{qty}*{uom}*{price}*");
        for _ in 0..1 + r.below(4) {
            po1.push_str(&id_pair(
                r,
                odd,
                partner,
                &["ZZ", "", "IN", "SK", "VN", "VA", "EN", "UK", "UA", "EN13"],
                &["BP", "VP", "UP"],
                &["", " ", "WIDGET-1", "BLANK", "A>B"],
            ));
        }
        if r.chance(odd) {
            po1.push_str("*BP");
        }
        segs.push(po1.into_bytes());
        if r.chance(70) {
            let kind = if r.chance(odd * 2) { "X" } else { "F" };
            let desc = or_empty(r, odd, |r| r.text(4));
            segs.push(format!("PID*{kind}****{desc}").into_bytes());
        }
        if r.chance(30) {
            let d = date(r, odd);
            segs.push(format!("DTM*{}*{d}", r.pick(&["002", "010", "999"])).into_bytes());
        }
    }
    segs.push(format!("CTT*{lines}").into_bytes());
    if r.chance(60) {
        let amount = if r.chance(odd) {
            r.pick(&["", "x", "1.2.3"]).to_string()
        } else {
            r.cents()
        };
        segs.push(
            (format!("AMT*{}*{amount}", if r.chance(odd) { "1" } else { "TT" })).into_bytes(),
        );
    }
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// An X12 date, odd (blank, short, impossible, two-digit year, padded) with `odd` percent
/// chance.
fn date(r: &mut Rng, odd: u64) -> String {
    if r.chance(odd) {
        r.pick(&[
            "",
            "2026013",
            "20260230",
            "260517",
            " 20260517",
            "    ",
            "2026-05-17",
        ])
        .to_string()
    } else {
        r.date().replace('-', "")
    }
}

/// N1 loops with addresses (roles odd, names and ids blank or Latin-1 at `odd` percent).
fn party_loops(r: &mut Rng, odd: u64, segs: &mut Vec<Vec<u8>>) {
    for _ in 0..r.below(4) {
        let role = if r.chance(odd * 2) {
            r.pick(&["ZZ", "OB", "SH", "RI", "PE", "PR", "SU", "RE", "SF", ""])
        } else {
            r.pick(&["BY", "ST", "BT", "SE", "RI"])
        };
        let name = or_empty(r, odd, |r| r.text(3));
        let (q, id) = if r.chance(30) {
            ("", String::new())
        } else {
            ("92", r.digits(5))
        };
        segs.push(if r.chance(odd) {
            [b"N1*".as_slice(), role.as_bytes(), b"*Caf\xe9 ", b"*92*1"].concat()
        } else {
            format!("N1*{role}*{name}*{q}*{id}").into_bytes()
        });
        for _ in 0..r.below(3) {
            let second = or_empty(r, 50, |r| r.text(2));
            segs.push(format!("N3*{}*{second}", r.text(3)).into_bytes());
        }
        if r.chance(70) {
            let region = if r.chance(odd) { "" } else { "IL" };
            segs.push(format!("N4*{}*{region}*{}*US", r.word(9), r.digits(5)).into_bytes());
        }
    }
}

/// An amount as X12 N2 (implied two decimals), odd with `odd` percent chance.
fn n2(r: &mut Rng, odd: u64) -> String {
    if r.chance(odd) {
        r.pick(&["", "x", "1.5", " 12", "-", "12 "]).to_string()
    } else {
        r.below(1_000_000).to_string()
    }
}

/// One 810 transaction set; with `odd` > 0, each part has that percent chance of being odd.
fn invoice(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*810*0001".to_vec()];
    if !r.chance(odd / 3) {
        let d = date(r, odd);
        let number = or_empty(r, odd, |r| r.word(10));
        let po = or_empty(r, 30, |r| r.word(8));
        segs.push(format!("BIG*{d}*{number}**{po}").into_bytes());
    }
    if r.chance(50) {
        segs.push(format!("CUR*SE*{}", if r.chance(odd) { "" } else { "EUR" }).into_bytes());
    }
    if r.chance(30) {
        segs.push(format!("REF*IA*{}", r.word(6)).into_bytes());
    }
    party_loops(r, odd, &mut segs);
    for _ in 0..r.below(3) {
        let days = r.pick(&["", "30"]);
        let due = if r.chance(50) {
            date(r, odd)
        } else {
            String::new()
        };
        let text = r.pick(&["", "2% 10 NET 30"]);
        segs.push(format!("ITD*01*3*2**10*{due}*{days}*****{text}").into_bytes());
    }
    if r.chance(30) {
        segs.push(format!("DTM*011*{}", date(r, odd)).into_bytes());
    }
    if r.chance(30) {
        let ac = if r.chance(odd) {
            r.pick(&["", "N", "a"])
        } else {
            r.pick(&["A", "C"])
        };
        segs.push(format!("SAC*{ac}*D240***{}", n2(r, odd)).into_bytes());
    }
    let lines = if r.chance(odd) {
        r.below(2)
    } else {
        1 + r.below(5)
    };
    for l in 1..=lines {
        let n = or_empty(r, odd, |_| l.to_string());
        let qty = if r.chance(odd) {
            r.pick(&["", "x", " 5", "-1", ".5", "1,5"]).to_string()
        } else {
            r.decimal(2)
        };
        let uom = if r.chance(odd) {
            r.pick(&["", "CS", "BX", "EMPTY", "ZZ"])
        } else {
            r.pick(&["EA", "CS", "DZ"])
        };
        let price = if r.chance(odd) {
            r.pick(&["", "abc", "10.", "+3"]).to_string()
        } else {
            r.cents()
        };
        let mut it1 = format!("IT1*{n}*{qty}*{uom}*{price}*");
        for _ in 0..1 + r.below(3) {
            it1.push_str(&id_pair(
                r,
                odd,
                partner,
                &["ZZ", "", "IN", "VN", "EN"],
                &["BP", "VP", "UP"],
                &["", " ", "WIDGET-1", "BLANK"],
            ));
        }
        segs.push(it1.into_bytes());
        if r.chance(50) {
            let q = if r.chance(odd * 2) { "PO" } else { "LI" };
            let v = or_empty(r, odd, |r| r.digits(3));
            segs.push(format!("REF*{q}*{v}").into_bytes());
        }
        if r.chance(60) {
            let kind = if r.chance(odd * 2) { "X" } else { "F" };
            let desc = or_empty(r, odd, |r| r.text(4));
            segs.push(format!("PID*{kind}****{desc}").into_bytes());
        }
    }
    if !r.chance(odd / 3) {
        segs.push(format!("TDS*{}", n2(r, odd)).into_bytes());
    }
    for _ in 0..r.below(2) {
        let amount = if r.chance(odd) {
            r.pick(&["", "x", "1.2.3"]).to_string()
        } else {
            r.cents()
        };
        segs.push(format!("TXI*ST*{amount}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let ac = if r.chance(odd) {
            r.pick(&["", "N"])
        } else {
            r.pick(&["A", "C"])
        };
        let desc = if r.chance(50) {
            format!("**********{}", r.text(2))
        } else {
            String::new()
        };
        segs.push(format!("SAC*{ac}*G830***{}{desc}", n2(r, odd)).into_bytes());
    }
    segs.push(format!("CTT*{lines}").into_bytes());
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One 855 transaction set; with `odd` > 0, each part has that percent chance of being odd.
fn acknowledgement(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*855*0001".to_vec()];
    if !r.chance(odd / 3) {
        let kind = if r.chance(odd) {
            r.pick(&["", "ZZ", "ad", "AD "])
        } else {
            r.pick(&["AD", "AK", "AC", "AE", "RD", "RJ", "AT"])
        };
        let po = or_empty(r, odd, |r| r.word(10));
        let d = date(r, odd);
        let order = or_empty(r, 40, |r| r.word(8));
        segs.push(format!("BAK*00*{kind}*{po}*{d}****{order}").into_bytes());
    }
    party_loops(r, odd, &mut segs);
    let lines = if r.chance(odd) {
        r.below(2)
    } else {
        1 + r.below(5)
    };
    for l in 1..=lines {
        let n = or_empty(r, odd, |_| l.to_string());
        let qty = if r.chance(odd) {
            r.pick(&["", "x", " 5", ".5"]).to_string()
        } else {
            r.decimal(2)
        };
        let uom = if r.chance(odd) {
            r.pick(&["", "CS", "BX", "EMPTY", "ZZ"])
        } else {
            r.pick(&["EA", "CS", "DZ"])
        };
        let price = if r.chance(odd) {
            r.pick(&["", "abc", "10."]).to_string()
        } else {
            r.cents()
        };
        let mut po1 = format!("PO1*{n}*{qty}*{uom}*{price}*");
        for _ in 0..r.below(3) + usize::from(!r.chance(odd)) as u64 {
            po1.push_str(&id_pair(
                r,
                odd,
                partner,
                &["ZZ", "", "IN", "VN", "EN"],
                &["BP", "VP", "UP"],
                &["", " ", "WIDGET-1", "BLANK"],
            ));
        }
        segs.push(po1.into_bytes());
        if r.chance(50) {
            let desc = or_empty(r, odd, |r| r.text(4));
            segs.push(format!("PID*F****{desc}").into_bytes());
        }
        if r.chance(70) {
            let code = if r.chance(odd) {
                r.pick(&["", "ZZ", "IQ"])
            } else {
                r.pick(&["IA", "IR", "IB", "IC", "ID", "IW"])
            };
            let q = or_empty(r, 50, |r| r.decimal(1));
            let u = if r.chance(50) {
                ""
            } else {
                r.pick(&["EA", "CS"])
            };
            let d = if r.chance(50) {
                date(r, odd)
            } else {
                String::new()
            };
            segs.push(format!("ACK*{code}*{q}*{u}*068*{d}").into_bytes());
        }
        if r.chance(30) {
            segs.push(format!("SCH*1*EA****{}", date(r, odd)).into_bytes());
        }
        if r.chance(30) {
            let q = r.pick(&["067", "068", "002", "999"]);
            segs.push(format!("DTM*{q}*{}", date(r, odd)).into_bytes());
        }
    }
    segs.push(format!("CTT*{lines}").into_bytes());
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One 860 transaction set; with `odd` > 0, each part has that percent chance of being odd.
fn po_change(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*860*0001".to_vec()];
    if !r.chance(odd / 3) {
        let purpose = if r.chance(odd) {
            r.pick(&["", "00", "99", " 04"])
        } else {
            r.pick(&["01", "03", "04", "05"])
        };
        let po = or_empty(r, odd, |r| r.word(10));
        let d = date(r, odd);
        segs.push(format!("BCH*{purpose}*SA*{po}***{d}").into_bytes());
    }
    if r.chance(40) {
        segs.push(format!("CUR*BY*{}", if r.chance(odd) { "" } else { "USD" }).into_bytes());
    }
    for _ in 0..r.below(2) {
        let q = r.pick(&["002", "010", "999"]);
        segs.push(format!("DTM*{q}*{}", date(r, odd)).into_bytes());
    }
    for _ in 0..r.below(3) {
        let t = or_empty(r, odd, |r| r.text(4));
        segs.push(format!("NTE*GEN*{t}").into_bytes());
    }
    party_loops(r, odd, &mut segs);
    let lines = if r.chance(odd) {
        r.below(2)
    } else {
        1 + r.below(5)
    };
    for l in 1..=lines {
        let n = or_empty(r, odd, |_| l.to_string());
        let change = if r.chance(odd) {
            r.pick(&["", "ZZ"])
        } else {
            r.pick(&["QI", "QD", "DI", "PC"])
        };
        let qty = if r.chance(odd) {
            r.pick(&["", "x", " 5", ".5"]).to_string()
        } else {
            r.decimal(2)
        };
        let uom = if r.chance(odd) {
            r.pick(&["", "CS", "BX", "EMPTY", "ZZ"])
        } else {
            r.pick(&["EA", "CS", "DZ"])
        };
        let price = if r.chance(odd) {
            r.pick(&["", "abc", "10."]).to_string()
        } else {
            r.cents()
        };
        let mut poc = format!("POC*{n}*{change}*{qty}*2*{uom}*{price}*");
        for _ in 0..r.below(3) + usize::from(!r.chance(odd)) as u64 {
            poc.push_str(&id_pair(
                r,
                odd,
                partner,
                &["ZZ", "", "IN", "VN", "EN"],
                &["BP", "VP", "UP"],
                &["", " ", "WIDGET-1", "BLANK"],
            ));
        }
        segs.push(poc.into_bytes());
        if r.chance(50) {
            let desc = or_empty(r, odd, |r| r.text(4));
            segs.push(format!("PID*F****{desc}").into_bytes());
        }
        if r.chance(30) {
            let q = r.pick(&["002", "010", "999"]);
            segs.push(format!("DTM*{q}*{}", date(r, odd)).into_bytes());
        }
    }
    segs.push(format!("CTT*{lines}").into_bytes());
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One 820 transaction set; with `odd` > 0, each part has that percent chance of being odd.
fn remittance(r: &mut Rng, odd: u64, _partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*820*0001".to_vec()];
    if !r.chance(odd / 3) {
        let kind = if r.chance(odd) {
            r.pick(&["", "Z"])
        } else {
            r.pick(&["C", "D", "I", "X", "P"])
        };
        let amount = if r.chance(odd) {
            r.pick(&["", "x", "1.2.3"]).to_string()
        } else {
            r.cents()
        };
        let method = or_empty(r, 30, |r| r.pick(&["ACH", "CHK", "FWT"]).to_string());
        let d = date(r, odd);
        segs.push(
            format!("BPR*{kind}*{amount}*C*{method}*CTX*01*011000015*DA*123456789*1512345678**01*011000016*DA*987654321*{d}")
                .into_bytes(),
        );
    }
    if !r.chance(odd / 3) {
        let trace = or_empty(r, odd, |r| r.word(12));
        segs.push(format!("TRN*1*{trace}").into_bytes());
    }
    if r.chance(40) {
        segs.push(format!("CUR*PR*{}", if r.chance(odd) { "" } else { "EUR" }).into_bytes());
    }
    party_loops(r, odd, &mut segs);
    for e in 0..1 + r.below(2) {
        if e > 0 || r.chance(50) {
            segs.push(format!("ENT*{}", e + 1).into_bytes());
        }
        for _ in 0..r.below(4) {
            let number = or_empty(r, odd, |r| r.word(8));
            let paid = if r.chance(odd) {
                r.pick(&["x", "1..2"]).to_string()
            } else {
                or_empty(r, 20, |r| r.cents())
            };
            let discount = if r.chance(odd) {
                r.pick(&["?", "-"]).to_string()
            } else {
                or_empty(r, 60, |r| r.cents())
            };
            segs.push(format!("RMR*IV*{number}**{paid}**{discount}").into_bytes());
            if r.chance(30) {
                segs.push(format!("REF*PO*{}", r.word(6)).into_bytes());
            }
        }
    }
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One 856 transaction set (shipment, orders, packs, items as HL levels); with `odd` > 0,
/// each part has that percent chance of being odd (blank or repeated ids, dangling parents).
fn ship_notice(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = vec![b"ST*856*0001".to_vec()];
    if !r.chance(odd / 3) {
        let id = or_empty(r, odd, |r| r.word(10));
        let d = date(r, odd);
        segs.push(format!("BSN*00*{id}*{d}*1200").into_bytes());
    }
    let mut next = 0;
    let mut hl = |r: &mut Rng, parent: &str, level: &str, segs: &mut Vec<Vec<u8>>| -> String {
        next += 1;
        let id = if r.chance(odd / 2) {
            r.pick(&["", "1"]).to_string()
        } else {
            next.to_string()
        };
        let parent = if r.chance(odd / 2) {
            r.pick(&["", "99"]).to_string()
        } else {
            parent.to_string()
        };
        segs.push(format!("HL*{id}*{parent}*{level}").into_bytes());
        id
    };
    let ship = if r.chance(90) {
        hl(r, "", "S", &mut segs)
    } else {
        String::new()
    };
    if r.chance(70) {
        let q = if r.chance(odd) { "999" } else { "011" };
        segs.push(format!("DTM*{q}*{}", date(r, odd)).into_bytes());
    }
    if r.chance(40) {
        segs.push(format!("DTM*017*{}", date(r, odd)).into_bytes());
    }
    if r.chance(50) {
        let scac = or_empty(r, 40, |_| "UPSN".to_string());
        let name = or_empty(r, 40, |r| r.text(2));
        segs.push(format!("TD5*B*2*{scac}*M*{name}").into_bytes());
    }
    if r.chance(50) {
        let q = r.pick(&["CN", "2I", "BM"]);
        segs.push(format!("REF*{q}*{}", or_empty(r, odd, |r| r.word(12))).into_bytes());
    }
    party_loops(r, odd, &mut segs);
    for _ in 0..1 + r.below(2) {
        let order = hl(r, &ship, "O", &mut segs);
        if r.chance(90) {
            segs.push(format!("PRF*{}", or_empty(r, odd, |r| r.word(8))).into_bytes());
        }
        for _ in 0..1 + r.below(2) {
            let (parent, pack) = if r.chance(60) {
                let pack = hl(r, &order, "P", &mut segs);
                if r.chance(70) {
                    let q = if r.chance(odd * 2) { "CP" } else { "GM" };
                    segs.push(
                        format!("MAN*{q}*{}", or_empty(r, odd, |r| r.digits(18))).into_bytes(),
                    );
                }
                (pack.clone(), pack)
            } else {
                (order.clone(), String::new())
            };
            let _ = pack;
            for _ in 0..1 + r.below(3) {
                hl(r, &parent, "I", &mut segs);
                if !r.chance(odd / 2) {
                    let mut lin = format!("LIN*{}", or_empty(r, 30, |r| r.digits(2)));
                    for k in 0..1 + r.below(2) {
                        // The first pair names the item; later ones may be lots.
                        let quals: &[&str] = if k == 0 {
                            &["BP", "VP", "UP"]
                        } else {
                            &["BP", "VP", "UP", "LT"]
                        };
                        lin.push_str(&id_pair(
                            r,
                            odd,
                            partner,
                            &["ZZ", "", "IN", "LT"],
                            quals,
                            &["", " ", "WIDGET-1", "BLANK"],
                        ));
                    }
                    segs.push(lin.into_bytes());
                }
                if !r.chance(odd / 2) {
                    let qty = if r.chance(odd) {
                        r.pick(&["", "x", " 5"]).to_string()
                    } else {
                        r.decimal(1)
                    };
                    let uom = if r.chance(odd) {
                        r.pick(&["", "CS", "BX", "EMPTY"])
                    } else {
                        r.pick(&["EA", "CS", "DZ"])
                    };
                    segs.push(format!("SN1**{qty}*{uom}").into_bytes());
                }
                if r.chance(30) {
                    segs.push(format!("REF*LT*{}", or_empty(r, odd, |r| r.word(6))).into_bytes());
                }
                if r.chance(40) {
                    segs.push(format!("PID*F****{}", or_empty(r, odd, |r| r.text(3))).into_bytes());
                }
            }
        }
    }
    segs.push(format!("CTT*{next}").into_bytes());
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One `*QUALIFIER*ID` pair of an item: an odd qualifier at twice `odd` percent (else one of
/// `quals`), an odd id at `odd` percent, else an id ACME's item crosswalk knows for a buyer part
/// of ACME's, else a word.
fn id_pair(
    r: &mut Rng,
    odd: u64,
    partner: &str,
    odd_quals: &[&str],
    quals: &[&str],
    odd_ids: &[&str],
) -> String {
    let q = if r.chance(odd * 2) {
        r.pick(odd_quals)
    } else {
        r.pick(quals)
    };
    let id = if r.chance(odd) {
        r.pick(odd_ids).to_string()
    } else if partner == "ACME" && q == "BP" {
        r.pick(&["WIDGET-1", "QUOTED"]).to_string()
    } else {
        r.word(10)
    };
    format!("*{q}*{id}")
}

/// `""` with `odd` percent chance, else `f()`.
fn or_empty(r: &mut Rng, odd: u64, f: impl FnOnce(&mut Rng) -> String) -> String {
    if r.chance(odd) {
        String::new()
    } else {
        f(r)
    }
}

/// One ORDERS message (D96A), segments between UNH and UNT; with `odd` > 0, each part has that
/// percent chance of being odd (empty, invalid, escaped, Latin-1, unknown code, missing).
fn orders(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 3) {
        let kind = if r.chance(odd) {
            r.pick(&["", "105", "220 "])
        } else {
            "220"
        };
        let po = if r.chance(odd) {
            r.pick(&["", "  ", "PO?+1", "P\\O\"1"]).to_string()
        } else {
            r.word(10)
        };
        let purpose = if r.chance(odd) {
            r.pick(&["1", "3", "4", "5", "", "31"])
        } else {
            "9"
        };
        let po_el = if r.chance(odd) { format!(":{po}") } else { po };
        segs.push(format!("BGM+{kind}+{po_el}+{purpose}").into_bytes());
    }
    if !r.chance(odd) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+137:{d}:{f}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = if r.chance(odd * 2) {
            r.pick(&["4", "2", "64", "69", "999"])
        } else {
            r.pick(&["137", "2"])
        };
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{q}:{d}:{f}").into_bytes());
    }
    if r.chance(50) {
        let c = if r.chance(odd) { "" } else { "EUR" };
        segs.push(format!("CUX+2:{c}:9").into_bytes());
    }
    for _ in 0..r.below(3) {
        let parts = if r.chance(odd) {
            String::new()
        } else {
            format!("{}:{}", r.text(2), r.word(4))
        };
        segs.push(format!("FTX+AAI+++{parts}").into_bytes());
    }
    nads(r, odd, &mut segs);
    if r.chance(odd) {
        segs.push(b"CUX+2:USD:9".to_vec());
    }
    let lines = if r.chance(odd) { 0 } else { 1 + r.below(4) };
    for k in 0..lines {
        line_item(r, odd, partner, (k, ""), &mut segs);
        for i in 0..1 + r.below(2) {
            let q = if i > 0 || r.chance(odd * 2) {
                r.pick(&["1", "113", "12", "21 "])
            } else {
                "21"
            };
            segs.push(qty(r, odd, q));
        }
        for _ in 0..r.below(2) {
            segs.push(price(r, odd, "AAA"));
        }
        for _ in 0..r.below(2) {
            let (d, f) = edi_date(r, odd);
            segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["2", "64", "69", "137"])).into_bytes());
        }
    }
    if r.chance(70) {
        segs.push(b"UNS+S".to_vec());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["79", "86", "128", "9"]);
        let a = if r.chance(odd) {
            r.pick(&["", "x", "1,5"]).to_string()
        } else {
            r.decimal(2)
        };
        segs.push(format!("MOA+{q}:{a}").into_bytes());
    }
    if r.chance(odd) {
        segs.push([b"FTX+AAI+++Caf".as_slice(), b"\xe9"].concat());
    }
    segs
}

/// One INVOIC message (D96A), segments between UNH and UNT; `odd` as for [`orders`].
fn invoic(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 3) {
        segs.push(bgm(r, odd, "380", &["", "IN?+1", "I\\N\"1"]));
    }
    if !r.chance(odd) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["137", "3"])).into_bytes());
    }
    for _ in 0..r.below(3) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["13", "137", "35"])).into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["ON", "VN", "ON "]);
        segs.push(format!("RFF+{q}:{}", or_empty(r, odd, |r| r.word(8))).into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = if r.chance(odd * 2) {
            r.pick(&["1", "11", ""])
        } else {
            r.pick(&["2", "4"])
        };
        let c = if r.chance(odd) { "" } else { "EUR" };
        segs.push(format!("CUX+{q}:{c}:4").into_bytes());
    }
    if !r.chance(odd) {
        segs.push(b"CUX+2:EUR:4".to_vec());
    }
    for _ in 0..r.below(2) {
        let t = if r.chance(odd) {
            String::new()
        } else {
            format!("{}:{}", r.word(4), or_empty(r, 50, |r| r.text(2)))
        };
        segs.push(format!("PAT+1+{t}").into_bytes());
    }
    nads(r, odd, &mut segs);
    for _ in 0..r.below(3) {
        let kind = if r.chance(odd * 2) {
            r.pick(&["X", "", "N"])
        } else {
            r.pick(&["A", "C"])
        };
        let desc = r.pick(&["", ":::FREIGHT", "FC::::", ":::: Pallets"]);
        segs.push(format!("ALC+{kind}++++{desc}").into_bytes());
        for _ in 0..r.below(3) {
            let q = r.pick(&["8", "204", "23", "25", "131"]);
            let a = amount(r, odd);
            segs.push(format!("MOA+{q}:{a}").into_bytes());
        }
    }
    let lines = if r.chance(odd) { 0 } else { 1 + r.below(4) };
    for k in 0..lines {
        line_item(r, odd, partner, (k, ""), &mut segs);
        for _ in 0..r.below(2) {
            let q = r.pick(&["ON", "LI", "VN"]);
            let n = or_empty(r, odd, |r| r.digits(2));
            segs.push(format!("RFF+{q}:{}:{n}", r.word(6)).into_bytes());
        }
        if r.chance(80) {
            let q = if r.chance(odd * 2) {
                r.pick(&["1", "113", "12", "46 "])
            } else {
                "47"
            };
            segs.push(qty(r, odd, q));
        }
        for _ in 0..r.below(2) {
            let q = r.pick(&["AAA", "AAB", "INV", "CAL", "GRP"]);
            segs.push(price(r, odd, q));
        }
        for _ in 0..r.below(2) {
            let q = r.pick(&["203", "66", "38", "146"]);
            let a = amount(r, odd);
            segs.push(format!("MOA+{q}:{a}").into_bytes());
        }
    }
    if !r.chance(odd) {
        segs.push(b"UNS+S".to_vec());
        let q = if r.chance(odd * 2) {
            r.pick(&["86", "39", "9", "1"])
        } else {
            "77"
        };
        let a = amount(r, odd);
        let c = if r.chance(odd) {
            r.pick(&[":USD", ":usd", ":EURO"])
        } else {
            ""
        };
        segs.push(format!("MOA+{q}:{a}{c}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["176", "124", "150", "86", "9"]);
        let a = amount(r, odd);
        segs.push(format!("MOA+{q}:{a}").into_bytes());
    }
    if r.chance(odd) {
        segs.push(b"UNS+S".to_vec());
        segs.push(b"MOA+77:5".to_vec());
    }
    segs
}

/// One ORDRSP message (D96A); `odd` as for [`orders`].
fn ordrsp(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 3) {
        let status = if r.chance(odd * 3) {
            r.pick(&["27", "4", "30", "", "99"])
        } else {
            "29"
        };
        let n = or_empty(r, odd, |r| r.word(8));
        segs.push(format!("BGM+231+{n}+{status}").into_bytes());
    }
    for _ in 0..r.below(3) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["137", "2"])).into_bytes());
    }
    if !r.chance(odd) {
        let po = if r.chance(odd) {
            r.pick(&["", "P\\O\"1"]).to_string()
        } else {
            r.word(10)
        };
        segs.push(format!("RFF+{}:{po}", if r.chance(odd) { "VN" } else { "ON" }).into_bytes());
    }
    nads(r, odd, &mut segs);
    let lines = r.below(4);
    for k in 0..lines {
        let action = r.pick(&["5", "7", "3", "1", "", "9"]);
        line_item(r, odd, partner, (k, action), &mut segs);
        if r.chance(80) {
            let q = if r.chance(odd * 2) {
                r.pick(&["1", "113", "12", "46"])
            } else {
                "21"
            };
            segs.push(qty(r, odd, q));
        }
        for _ in 0..r.below(2) {
            segs.push(price(r, odd, "AAA"));
        }
        for _ in 0..r.below(2) {
            let (d, f) = edi_date(r, odd);
            segs.push(
                format!("DTM+{}:{d}:{f}", r.pick(&["2", "69", "67", "17", "137"])).into_bytes(),
            );
        }
    }
    if r.chance(50) {
        segs.push(b"UNS+S".to_vec());
    }
    segs
}

/// One REMADV message (D96A); `odd` as for [`orders`].
fn remadv(r: &mut Rng, odd: u64, _partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 3) {
        segs.push(bgm(r, odd, "481", &["", "R?+1", "R\\\"1"]));
    }
    if !r.chance(odd) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["209", "202", "137"])).into_bytes());
    }
    for _ in 0..r.below(2) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["209", "171"])).into_bytes());
    }
    if !r.chance(odd) {
        let q = if r.chance(odd * 2) {
            r.pick(&["1", "4"])
        } else {
            r.pick(&["2", "11"])
        };
        let c = if r.chance(odd) { "" } else { "EUR" };
        segs.push(format!("CUX+{q}:{c}:4").into_bytes());
    }
    for _ in 0..r.below(2) {
        segs.push(format!("PAI+::{}", or_empty(r, 40, |r| r.digits(2))).into_bytes());
    }
    nads(r, odd, &mut segs);
    let head_amount = r.chance(40);
    if head_amount {
        let a = amount(r, odd);
        let q = if r.chance(odd) {
            "52"
        } else {
            r.pick(&["12", "9", "128"])
        };
        segs.push(format!("MOA+{q}:{a}").into_bytes());
    }
    for _ in 0..r.below(4) {
        let n = if r.chance(odd) {
            String::new()
        } else {
            r.word(8)
        };
        segs.push(format!("DOC+380+{n}").into_bytes());
        for _ in 0..r.below(3) {
            let a = amount(r, odd);
            segs.push(format!("MOA+{}:{a}", r.pick(&["12", "9", "77", "52", "39"])).into_bytes());
        }
    }
    if !head_amount || r.chance(50) {
        segs.push(b"UNS+S".to_vec());
        let a = amount(r, odd);
        let q = if r.chance(odd * 2) {
            r.pick(&["9", "128", "1"])
        } else {
            "12"
        };
        segs.push(format!("MOA+{q}:{a}").into_bytes());
    }
    segs
}

/// One 997 (`implementation`: 999) answering a group: AK1, AK2 loops with AK3/AK4 (IK3/IK4)
/// errors and AK5 (IK5), AK9; `odd` as for [`purchase_order`].
fn received_ack(r: &mut Rng, odd: u64, implementation: bool) -> Vec<Vec<u8>> {
    let (set, k3, k4, k5) = if implementation {
        ("999", "IK3", "IK4", "IK5")
    } else {
        ("997", "AK3", "AK4", "AK5")
    };
    let mut segs: Vec<Vec<u8>> = vec![format!("ST*{set}*0001").into_bytes()];
    if !r.chance(odd / 2) {
        segs.push(format!("AK1*PO*{}", or_empty(r, odd, |r| r.digits(4))).into_bytes());
    }
    let codes = ["A", "E", "P", "R", "X", ""];
    for _ in 0..r.below(4) {
        let ctl = or_empty(r, odd, |r| r.digits(4));
        segs.push(format!("AK2*{}*{ctl}", r.pick(&["850", "810", ""])).into_bytes());
        for _ in 0..r.below(3) {
            let code = or_empty(r, 50, |r| r.digits(1));
            let seg = or_empty(r, odd, |r| r.pick(&["PO1", "BEG", "N1"]).to_string());
            segs.push(format!("{k3}*{seg}*{}**{code}", r.digits(2)).into_bytes());
            for _ in 0..r.below(3) {
                let el = if r.chance(odd) {
                    "2>1".to_string()
                } else {
                    r.digits(1)
                };
                let text = if r.chance(odd) {
                    "Caf\u{e9} \"x\"".to_string()
                } else {
                    or_empty(r, 50, |r| r.text(2))
                };
                segs.push(format!("{k4}*{el}**{}*{text}", r.digits(1)).into_bytes());
            }
        }
        if !r.chance(20) {
            segs.push(format!("{k5}*{}", r.pick(&codes)).into_bytes());
        }
    }
    if !r.chance(odd / 2) {
        segs.push(format!("AK9*{}*1*1*1", r.pick(&codes)).into_bytes());
    }
    let count = segs.len() + 1;
    segs.push(format!("SE*{count}*0001").into_bytes());
    segs
}

/// One CONTRL message: the UCI, UCM per message answered, UCS and UCD errors.
fn contrl(r: &mut Rng, odd: u64, _partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    let action = |r: &mut Rng| r.pick(&["7", "4", "8", "", "3"]).to_string();
    if !r.chance(odd / 2) {
        let ic = or_empty(r, odd, |r| r.digits(6));
        let a = action(r);
        let err = if r.chance(40) {
            r.digits(2)
        } else {
            String::new()
        };
        segs.push(
            format!(
                "UCI+{ic}+SENDER:14+RECEIVER:14+{a}+{err}+{}+{}",
                r.pick(&["UNB", ""]),
                r.digits(1)
            )
            .into_bytes(),
        );
    }
    for _ in 0..r.below(4) {
        let a = action(r);
        let err = if r.chance(30) {
            r.digits(2)
        } else {
            String::new()
        };
        let reference = or_empty(r, odd, |r| r.digits(3));
        segs.push(
            format!(
                "UCM+{reference}+{}:D:96A:UN+{a}+{err}",
                r.pick(&["ORDERS", "INVOIC", ""])
            )
            .into_bytes(),
        );
        for _ in 0..r.below(3) {
            segs.push(
                format!("UCS+{}+{}", r.digits(2), or_empty(r, 50, |r| r.digits(2))).into_bytes(),
            );
            for _ in 0..r.below(3) {
                let el = if r.chance(odd) {
                    "P?+1".to_string()
                } else {
                    format!("{}:{}", r.digits(1), r.digits(1))
                };
                segs.push(format!("UCD+{}+{el}", or_empty(r, 20, |r| r.digits(2))).into_bytes());
            }
        }
    }
    segs
}

/// One APERAK message: BGM, references, ERC groups with their FTX.
fn aperak(r: &mut Rng, odd: u64, _partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 2) {
        segs.push(format!("BGM+313+{}+{}", r.word(6), r.pick(&["27", "29", "", "4"])).into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["ACW", "AGO", "ON", "DM", "CW", "ZZ"]);
        segs.push(format!("RFF+{q}:{}", or_empty(r, 30, |r| r.word(8))).into_bytes());
    }
    if r.chance(60) {
        segs.push(
            format!(
                "DOC+{}",
                or_empty(r, 30, |r| r.pick(&["220", "380"]).to_string())
            )
            .into_bytes(),
        );
    }
    for _ in 0..r.below(3) {
        segs.push(format!("ERC+{}", or_empty(r, 20, |r| r.digits(2))).into_bytes());
        for _ in 0..r.below(3) {
            let text = if r.chance(odd) {
                r.pick(&["", "Caf\u{e9}", "a \"b\"", "x?'y"]).to_string()
            } else {
                format!("{}:{}", r.text(3), or_empty(r, 50, |r| r.word(5)))
            };
            segs.push(format!("FTX+AAO+++{text}").into_bytes());
        }
    }
    segs
}

/// One DESADV message: heading, then CPS levels (some with an SSCC) holding LIN loops, a
/// LIN repeated word for word now and then; `odd` as for [`orders`].
fn desadv(r: &mut Rng, odd: u64, partner: &str) -> Vec<Vec<u8>> {
    let mut segs: Vec<Vec<u8>> = Vec::new();
    if !r.chance(odd / 3) {
        segs.push(bgm(r, odd, "351", &["", "D?+1", "D\\\"1"]));
    }
    if !r.chance(odd) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["11", "137"])).into_bytes());
    }
    for _ in 0..r.below(3) {
        let (d, f) = edi_date(r, odd);
        segs.push(format!("DTM+{}:{d}:{f}", r.pick(&["132", "17", "2", "11", "137"])).into_bytes());
    }
    for _ in 0..r.below(3) {
        let q = r.pick(&["ON", "CN", "BM", "AAS", "ZZ"]);
        segs.push(format!("RFF+{q}:{}", or_empty(r, odd, |r| r.word(8))).into_bytes());
    }
    for _ in 0..r.below(2) {
        let c = format!(
            "{}:::{}",
            or_empty(r, 40, |r| r.word(4)),
            or_empty(r, 40, |r| r.text(2))
        );
        segs.push(format!("TDT+20++30++{c}").into_bytes());
    }
    nads(r, odd, &mut segs);
    let mut lins: Vec<Vec<u8>> = Vec::new();
    for level in 0..r.below(4) {
        segs.push(format!("CPS+{}++{}", level + 1, r.pick(&["1", "3"])).into_bytes());
        if r.chance(60) {
            segs.push(format!("PAC+1++{}", r.pick(&["201", "PK"])).into_bytes());
            let sscc = or_empty(r, odd, |r| r.digits(18));
            segs.push(format!("GIN+{}+{sscc}", r.pick(&["BJ", "BJ", "ML"])).into_bytes());
        }
        for k in 0..r.below(3) {
            if !lins.is_empty() && r.chance(10) {
                // the same LIN again: jq finds a package's lines by value
                segs.push(lins[r.below(lins.len() as u64) as usize].clone());
            } else {
                line_item(r, odd, partner, (k, ""), &mut segs);
                if let Some(l) = segs.iter().rev().find(|s| s.starts_with(b"LIN+")) {
                    lins.push(l.clone());
                }
            }
            if !r.chance(odd) {
                let q = if r.chance(odd * 2) {
                    r.pick(&["21", "1", "46"])
                } else {
                    "12"
                };
                segs.push(qty(r, odd, q));
            }
            for _ in 0..r.below(3) {
                let q = r.pick(&["ON", "LI", "BT", "ZZ"]);
                let v = or_empty(r, odd, |r| r.word(6));
                segs.push(format!("RFF+{q}:{v}:{}", or_empty(r, 50, |r| r.digits(2))).into_bytes());
            }
            if r.chance(30) {
                segs.push(
                    format!(
                        "GIN+{}+{}",
                        r.pick(&["BX", "BJ"]),
                        or_empty(r, 30, |r| r.word(6))
                    )
                    .into_bytes(),
                );
            }
        }
    }
    if r.chance(60) {
        segs.push(b"UNS+S".to_vec());
    }
    segs
}

/// A QTY with qualifier `q`: at `odd` percent an odd quantity (empty, the other decimal
/// mark, not a number) and an odd unit (none, one the crosswalk maps to nothing or lacks).
fn qty(r: &mut Rng, odd: u64, q: &str) -> Vec<u8> {
    let n = if r.chance(odd) {
        r.pick(&["", "1,5", "x", " 3", "-2", "1.2.3"]).to_string()
    } else {
        r.decimal(3)
    };
    let u = if r.chance(odd) {
        r.pick(&["", "EMPTY", "DZ", "BX", "PCE"])
    } else {
        r.pick(&["EA", "CS"])
    };
    format!("QTY+{q}:{n}:{u}").into_bytes()
}

/// A PRI with qualifier `q` and, at `odd` percent, an odd price.
fn price(r: &mut Rng, odd: u64, q: &str) -> Vec<u8> {
    let p = if r.chance(odd) {
        r.pick(&["", "abc", "2,50"]).to_string()
    } else {
        r.decimal(2)
    };
    format!("PRI+{q}:{p}").into_bytes()
}

/// An amount: at `odd` percent one that is empty, not a number or in the other decimal mark.
fn amount(r: &mut Rng, odd: u64) -> String {
    if r.chance(odd) {
        r.pick(&["", "x", "1,5", " 2"]).to_string()
    } else {
        r.decimal(2)
    }
}

/// A BGM of document `code` whose number is, at `odd` percent, one of `odd_numbers`.
fn bgm(r: &mut Rng, odd: u64, code: &str, odd_numbers: &[&str]) -> Vec<u8> {
    let n = if r.chance(odd) {
        r.pick(odd_numbers).to_string()
    } else {
        r.word(10)
    };
    format!("BGM+{code}+{n}+9").into_bytes()
}

/// Up to four NAD segments, some with roles outside the contract.
fn nads(r: &mut Rng, odd: u64, segs: &mut Vec<Vec<u8>>) {
    for _ in 0..r.below(5) {
        let role = if r.chance(odd * 2) {
            r.pick(&["ZZ", "SE", "DP", "IV", "SF", "PE", "PR", "RE", ""])
        } else {
            r.pick(&["BY", "SU", "ST", "BT"])
        };
        let q = r.pick(&["9", "16", "92", ""]);
        let id = or_empty(r, odd, |r| r.digits(13));
        let name = if r.chance(odd) {
            "Caf\u{e9}:".to_string()
        } else {
            format!(
                "{}:{}",
                or_empty(r, 30, |r| r.text(2)),
                or_empty(r, 50, |r| r.word(5))
            )
        };
        let street = if r.chance(50) {
            format!("{}:{}", r.text(2), or_empty(r, 50, |r| r.word(4)))
        } else {
            String::new()
        };
        let city = or_empty(r, 30, |r| r.word(8));
        segs.push(
            format!(
                "NAD+{role}+{id}::{q}+{}+{name}+{street}+{city}++{}+DE",
                or_empty(r, 70, |r| r.word(6)),
                r.digits(5)
            )
            .into_bytes(),
        );
    }
}

/// A LIN (the `k`th, with action code `action`), maybe a PIA and IMDs: the item of one line.
fn line_item(
    r: &mut Rng,
    odd: u64,
    partner: &str,
    (k, action): (u64, &str),
    segs: &mut Vec<Vec<u8>>,
) {
    let number = if r.chance(odd) {
        String::new()
    } else {
        (k + 1).to_string()
    };
    let kinds = ["EN", "SA", "IN", "BP", "VN", "UP", "SRV", "BY", "ZZ", ""];
    // ACME's buyer parts go through its item crosswalk, which knows these two
    let item_id = |r: &mut Rng| {
        if r.chance(odd) {
            r.pick(&["", "BLANK", "NEW"]).to_string()
        } else if partner == "ACME" {
            r.pick(&["WIDGET-1", "QUOTED"]).to_string()
        } else {
            r.word(10)
        }
    };
    let id = item_id(r);
    segs.push(format!("LIN+{number}+{action}+{id}:{}", r.pick(&kinds)).into_bytes());
    if r.chance(50) {
        let mut pia = "PIA+1".to_string();
        for _ in 0..1 + r.below(5) {
            let pid = item_id(r);
            pia.push_str(&format!("+{pid}:{}", r.pick(&kinds)));
        }
        segs.push(pia.into_bytes());
    }
    for _ in 0..r.below(3) {
        let d = if r.chance(odd) {
            String::new()
        } else {
            r.text(3)
        };
        segs.push(format!("IMD+F++:::{d}:{}", or_empty(r, 50, |r| r.word(6))).into_bytes());
    }
}

/// An EDIFACT date and its format (2379): mostly a valid 102, else 203, 101, an impossible
/// date, an unknown format or empty.
fn edi_date(r: &mut Rng, odd: u64) -> (String, &'static str) {
    let d = r.date().replace('-', "");
    if !r.chance(odd) {
        return (d, "102");
    }
    match r.below(5) {
        0 => (format!("{d}1015"), "203"),
        1 => (d[2..].to_string(), "101"),
        2 => ("20260230".into(), "102"),
        3 => (d, "999"),
        _ => (String::new(), ""),
    }
}

/// One interchange of one message of type `kind` holding `segs`.
fn edifact_interchange(kind: &str, segs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!(
        "UNA:+.? '\nUNB+UNOC:3+SENDER:14+RECEIVER:14+260517:1015+1'\nUNH+1+{kind}:D:96A:UN'\n"
    )
    .into_bytes();
    for s in segs {
        out.extend_from_slice(s);
        out.extend_from_slice(b"'\n");
    }
    out.extend_from_slice(format!("UNT+{}+1'\nUNZ+1+1'\n", segs.len() + 2).as_bytes());
    out
}

/// One interchange of one functional group (`group`: GS01, `PO`, `IN`) holding `segs`.
fn interchange(group: &str, segs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260517*1015*U*00401*000000001*0*P*>~\nGS*{group}*SENDER*RECEIVER*20260517*1015*1*X*004010~\n").into_bytes();
    for s in segs {
        out.extend_from_slice(s);
        out.extend_from_slice(b"~\n");
    }
    out.extend_from_slice(b"GE*1*1~\nIEA*1*000000001~\n");
    out
}

/// The document around one generated transaction set (`group`: its functional group) or
/// EDIFACT message (`group`: its type, `ORDERS`).
fn wrap(group: &str, segs: &[Vec<u8>]) -> Vec<u8> {
    if group.len() > 2 {
        edifact_interchange(group, segs)
    } else {
        interchange(group, segs)
    }
}

/// A generator of one transaction set: (rng, percent of odd parts, partner) -> segments.
type Generator = fn(&mut Rng, u64, &str) -> Vec<Vec<u8>>;

/// The differential run of the twin of `set` (functional group `group`): 400 clean documents
/// are all the twin's and map without error; of 3,000 broken ones (3, 10 and 30% odd parts)
/// the twin answers only where it agrees, and at least `min` (answered, declined, interpreter
/// errors) of each outcome occur.
fn differential(
    set: &str,
    group: &str,
    seed: u64,
    generate: Generator,
    min: (usize, usize, usize),
) {
    let (_dir, maps) = mappings();
    let mut r = Rng(seed);
    for i in 0..400 {
        let partner = ["ACME", "OTHER"][i % 2];
        let doc = wrap(group, &generate(&mut r, 0, partner));
        let (txs, answered, errors) = compare(&maps, set, &doc, partner, &format!("clean #{i}"));
        assert_eq!((txs, answered, errors), (1, 1, 0), "clean #{i}");
    }
    let (mut answered, mut refused, mut errors) = (0, 0, 0);
    for i in 0..3000 {
        let partner = ["ACME", "OTHER"][i % 2];
        let odd = [3, 10, 30][i % 3];
        let doc = wrap(group, &generate(&mut r, odd, partner));
        let (txs, a, e) = compare(&maps, set, &doc, partner, &format!("odd {odd} #{i}"));
        answered += a;
        refused += txs - a;
        errors += e;
    }
    assert!(
        answered > min.0 && refused > min.1 && errors > min.2,
        "{answered} {refused} {errors}"
    );
    the_evaluator_answered(set);
}

#[test]
fn the_850_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    differential("850", "PO", 850, purchase_order, (800, 800, 500));
}

#[test]
fn the_810_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    differential("810", "IN", 810, invoice, (800, 500, 500));
}

#[test]
fn the_855_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    differential("855", "PR", 855, acknowledgement, (800, 300, 300));
}

#[test]
fn the_860_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    differential("860", "PC", 860, po_change, (800, 300, 300));
}

#[test]
fn the_820_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    differential("820", "RA", 820, remittance, (800, 300, 300));
}

#[test]
fn the_856_twin_gives_exactly_the_interpreters_records_or_leaves_the_document_to_it() {
    // A clean notice without a shipment HL is still the twin's: all clean ones are.
    differential("856", "SH", 856, ship_notice, (600, 300, 300));
}

#[test]
fn the_orders_twin_gives_exactly_the_interpreters_records_or_leaves_the_message_to_it() {
    differential("ORDERS", "ORDERS", 96, orders, (800, 500, 500));
}

#[test]
fn the_ordrsp_twin_gives_exactly_the_interpreters_records_or_leaves_the_message_to_it() {
    differential("ORDRSP", "ORDRSP", 231, ordrsp, (800, 300, 300));
}

#[test]
fn the_remadv_twin_gives_exactly_the_interpreters_records_or_leaves_the_message_to_it() {
    differential("REMADV", "REMADV", 481, remadv, (800, 300, 300));
}

#[test]
fn the_997_and_999_twins_give_exactly_the_interpreters_records_or_leave_the_document_to_them() {
    differential(
        "997",
        "FA",
        997,
        |r, odd, _| received_ack(r, odd, false),
        (800, 100, 100),
    );
    differential(
        "999",
        "FA",
        999,
        |r, odd, _| received_ack(r, odd, true),
        (800, 100, 100),
    );
}

#[test]
fn the_contrl_and_aperak_twins_give_exactly_the_interpreters_records_or_leave_the_message_to_them()
{
    differential("CONTRL", "CONTRL", 9735, contrl, (800, 100, 100));
    differential("APERAK", "APERAK", 313, aperak, (800, 100, 0));
}

#[test]
fn the_desadv_twin_gives_exactly_the_interpreters_records_or_leaves_the_message_to_it() {
    differential("DESADV", "DESADV", 351, desadv, (800, 300, 300));
}

#[test]
fn the_invoic_twin_gives_exactly_the_interpreters_records_or_leaves_the_message_to_it() {
    differential("INVOIC", "INVOIC", 380, invoic, (800, 500, 500));
}

/// Found by the `twins` fuzz target: two bytes that are one UTF-8 character once the
/// segment terminator between them is taken out. The twin must leave such a message alone.
#[test]
fn a_character_split_by_a_segment_terminator_is_left_to_the_interpreter() {
    let (_dir, maps) = mappings();
    let doc = [
        b"UNA:+.? 'UNB+UNOC:3+SENDER:14+RECEIVER:14+260517:1015+1'UNH+1+APERAK:D:96A:UN".as_slice(),
        b",\xc8'\x80UNT+2+1'UNZ+1+1'",
    ]
    .concat();
    let (messages, answered, _) = compare(&maps, "APERAK", &doc, "ACME", "split character");
    assert_eq!((messages, answered), (1, 0));
}

#[test]
fn the_twins_agree_with_the_interpreter_on_every_fixture_and_corpus_file() {
    let (_dir, maps) = mappings();
    let mut files = Vec::new();
    for dir in ["x12/ok", "x12/err", "edifact/ok", "edifact/err"] {
        for e in std::fs::read_dir(data(dir)).unwrap().flatten() {
            files.push(e.path());
        }
    }
    let corpus = crate::corpus::corpus();
    let mut stack = vec![corpus.join("x12"), corpus.join("edifact")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    for set in [
        "850", "810", "855", "856", "860", "820", "997", "999", "ORDERS", "INVOIC", "ORDRSP",
        "REMADV", "DESADV", "CONTRL", "APERAK",
    ] {
        let mut total = (0, 0);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            for partner in ["ACME", "OTHER"] {
                let (txs, answered, _) =
                    compare(&maps, set, &bytes, partner, &f.display().to_string());
                total = (total.0 + txs, total.1 + answered);
            }
        }
        // The project's own fixtures alone hold documents each twin maps.
        assert!(total.1 >= 2, "{set}: {total:?}");
        the_evaluator_answered(set);
    }
}

/// The canonical fields the shipped CSV mapping for `document` reads.
fn csv_fields(document: &str) -> &'static [&'static str] {
    match document {
        "purchase_order" => &[
            "po_number",
            "order_date",
            "po_type",
            "currency",
            "requested_delivery_date",
            "buyer_id",
            "buyer_name",
            "buyer_street",
            "buyer_city",
            "buyer_region",
            "buyer_postal_code",
            "buyer_country",
            "ship_to_id",
            "ship_to_name",
            "ship_to_street",
            "ship_to_city",
            "ship_to_region",
            "ship_to_postal_code",
            "ship_to_country",
            "line_number",
            "buyer_part",
            "supplier_part",
            "gtin",
            "description",
            "quantity",
            "uom",
            "unit_price",
            "line_delivery_date",
        ],
        _ => &[
            "invoice_number",
            "invoice_date",
            "due_date",
            "po_number",
            "currency",
            "total_amount",
            "tax_total",
            "line_number",
            "buyer_part",
            "supplier_part",
            "gtin",
            "description",
            "quantity",
            "uom",
            "unit_price",
            "amount",
        ],
    }
}

/// A column map for `document` naming every field it reads (header = field name), with its
/// numbers and dates read by the map (`typed`) or handed to the mapping as written.
fn csv_map(document: &str, typed: bool) -> edigate::formats::csv::ColumnMap {
    let fields = csv_fields(document);
    let (decimals, dates): (Vec<&str>, Vec<&str>) = if typed {
        (
            fields
                .iter()
                .copied()
                .filter(|f| csv_kind(f) == 'n')
                .collect(),
            fields
                .iter()
                .copied()
                .filter(|f| csv_kind(f) == 'd')
                .collect(),
        )
    } else {
        (vec![], vec![])
    };
    let columns: Vec<String> = fields.iter().map(|f| format!("{f} = \"{f}\"")).collect();
    toml::from_str(&format!(
        "document = \"{document}\"\ndate_format = \"YYYYMMDD\"\ndecimals = {decimals:?}\ndates = {dates:?}\n[columns]\n{}\n",
        columns.join("\n")
    ))
    .unwrap()
}

/// `n` for a number, `d` for a date, `t` for text.
fn csv_kind(field: &str) -> char {
    if [
        "quantity",
        "unit_price",
        "amount",
        "total_amount",
        "tax_total",
    ]
    .contains(&field)
    {
        'n'
    } else if field.ends_with("date") {
        'd'
    } else {
        't'
    }
}

/// One value of `field` in a generated file; with `odd` > 0, that percent chance of an odd
/// one (blank, not a number or date, unknown to a crosswalk, mapped to nothing).
fn csv_value(r: &mut Rng, field: &str, odd: u64, typed: bool) -> String {
    if r.chance(odd) {
        return r
            .pick(&[
                "",
                "x",
                "1,5",
                "1.50",
                "007",
                "2026-02-30",
                "20260230",
                "ZZ",
                "BLANK",
                "\"q\"\"\"",
            ])
            .to_string();
    }
    match (csv_kind(field), field) {
        ('n', _) => r.decimal(2),
        ('d', _) if typed => r.date().replace('-', ""),
        ('d', _) => r.date(),
        (_, "uom") => r.pick(&["EA", "CS", "PCE", "DZ"]).to_string(),
        (_, "buyer_part") => r.pick(&["WIDGET-1", "QUOTED", ""]).to_string(),
        (_, "po_number" | "invoice_number") => format!("N{}", r.below(6)),
        (_, "currency" | "gtin") => r.word(4),
        _ if r.chance(30) => String::new(),
        _ => r.text(2),
    }
}

/// A CSV file of 1 to 12 rows (document numbers repeat, not always next to each other).
fn csv_file(r: &mut Rng, document: &str, odd: u64, typed: bool) -> Vec<u8> {
    let fields = csv_fields(document);
    let mut out = fields.join(",");
    for _ in 0..1 + r.below(12) {
        out.push('\n');
        let row: Vec<String> = fields
            .iter()
            .map(|f| {
                let v = csv_value(r, f, odd, typed);
                if v.contains([',', '"']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v
                }
            })
            .collect();
        out.push_str(&row.join(","));
    }
    out.push('\n');
    out.into_bytes()
}

#[test]
fn a_csv_file_without_rows_is_left_to_the_interpreter_which_refuses_it() {
    use edigate::formats::csv;
    let (_dir, maps) = mappings();
    for document in ["purchase_order", "invoice"] {
        let mapping = maps.find("ACME", "inbound", "csv", document).unwrap();
        let map = csv_map(document, true);
        let (header, fields) = (csv_fields(document).join(","), csv_fields(document).len());
        for data in [
            header.clone(),
            format!("{header}\n\n{}\n", ",".repeat(fields - 1)),
        ] {
            let rows = csv::rows(data.as_bytes(), &map).unwrap();
            assert_eq!(maps.twin_csv(mapping, "ACME", &rows), None, "{data:?}");
            let fields = serde_json::json!({"format": "csv", "document": document, "partner": "ACME", "rows": rows.to_json()});
            let e = maps
                .inbound(mapping, "ACME", edigate::mapping::jq::from_json(&fields))
                .unwrap_err();
            assert!(e.message.contains("no record"), "{e:?}");
        }
    }
}

#[test]
fn the_csv_twins_give_exactly_the_interpreters_records_or_leave_the_file_to_it() {
    use edigate::formats::csv;
    let (_dir, maps) = mappings();
    let mut r = Rng(1840);
    for document in ["purchase_order", "invoice"] {
        let mapping = maps.find("ACME", "inbound", "csv", document).unwrap();
        assert!(
            mapping.twin().is_some(),
            "the shipped {document} has a twin"
        );
        let (mut answered, mut declined, mut errors) = (0, 0, 0);
        let (mut streamed_ok, mut scattered) = (0, 0);
        for i in 0..3000 {
            let partner = ["ACME", "OTHER"][i % 2];
            let typed = (i / 4) % 4 != 0;
            let odd = [0, 2, 5, 20][i % 4];
            let map = csv_map(document, typed);
            let data = csv_file(&mut r, document, odd, typed);
            let Ok(rows) = csv::rows(&data, &map) else {
                continue;
            };
            let fields = serde_json::json!({
                "format": "csv", "document": document, "partner": partner, "rows": rows.to_json(),
            });
            let input = edigate::mapping::jq::from_json(&fields);
            evaluators_agree(&maps, mapping, partner, input.clone(), document);
            let interpreted = maps
                .inbound(mapping, partner, input)
                .map(|bs| bs.iter().map(Written::from).collect::<Vec<_>>());
            errors += usize::from(interpreted.is_err());
            let text = String::from_utf8_lossy(&data);
            match maps.twin_csv(mapping, partner, &rows) {
                Some(twin) => {
                    answered += 1;
                    assert_eq!(Ok(&twin), interpreted.as_ref(), "{document} #{i}:\n{text}");
                }
                None => declined += 1,
            }
            // Read one row at a time, with a filter of 64 bits (unsure of many numbers) and
            // one of 64 Kibit: the same records whenever the rows of each number are together,
            // and a second read that finds exactly the files where they are not.
            let key = ["invoice_number", "po_number"][usize::from(document == "purchase_order")];
            for bits in [64, 1 << 16] {
                let mut reader = csv::RowReader::new(&data[..], &map).unwrap();
                let group = reader.empty();
                let mut records = Vec::new();
                let read = &mut |rows: &mut csv::Rows| reader.next_row(rows);
                let streamed = maps
                    .twin_csv_streamed(mapping, partner, read, group, bits, &mut |w| {
                        records.push(w)
                    })
                    .unwrap()
                    .unwrap();
                let Streamed::Mapped { field, recheck } = streamed else {
                    assert_eq!(streamed, Streamed::Declined);
                    continue;
                };
                assert_eq!(field, key);
                let reader = csv::RowReader::new(&data[..], &map).unwrap();
                let again = csv::apart(reader, field, &recheck).unwrap();
                assert_eq!(
                    again.is_some(),
                    apart(&rows, key),
                    "{document} #{i}:\n{text}"
                );
                if again.is_none() {
                    streamed_ok += 1;
                    assert_eq!(
                        Ok(&records),
                        interpreted.as_ref(),
                        "{document} #{i}:\n{text}"
                    );
                } else {
                    scattered += 1;
                }
            }
            if odd == 0 && typed {
                assert!(interpreted.is_ok(), "{document} #{i}: {interpreted:?}");
            }
        }
        assert!(
            answered > 800 && declined > 300 && errors > 300,
            "{document}: {answered} {declined} {errors}"
        );
        assert!(
            streamed_ok > 400 && scattered > 400,
            "{document}: {streamed_ok} streamed, {scattered} apart"
        );
        the_evaluator_answered(document);
    }
}

/// Whether some value of `field` names rows apart (other rows between them).
fn apart(rows: &edigate::formats::csv::Rows, field: &str) -> bool {
    let Some(c) = rows.column(field) else {
        return false;
    };
    let mut runs = HashSet::new();
    (0..rows.len()).any(|r| {
        let k = rows.value(r, c);
        (r == 0 || rows.value(r - 1, c) != k) && !runs.insert(k)
    })
}

/// An XML element as text: `name`, its attributes (left out when `None`), its children.
fn xml_el(name: &str, attrs: &[(&str, Option<String>)], children: &[String]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    };
    let mut out = format!("<{name}");
    for (k, v) in attrs {
        if let Some(v) = v {
            out.push_str(&format!(" {k}=\"{}\"", esc(v)));
        }
    }
    out.push('>');
    for c in children {
        out.push_str(c);
    }
    out.push_str(&format!("</{name}>"));
    out
}

/// An element holding only text (escaped).
fn xml_text(name: &str, text: &str) -> String {
    xml_el(
        name,
        &[],
        &[text.replace('&', "&amp;").replace('<', "&lt;")],
    )
}

/// A cXML value: `good`, or with `odd` percent chance an odd one.
fn cx(r: &mut Rng, odd: u64, good: String) -> String {
    if r.chance(odd) {
        r.pick(&[
            "",
            "x",
            "1,5",
            " 2 ",
            "2026-02-30",
            "2026-05-1\u{e9}T10",
            "ZZ",
            "EMPTY",
            "BLANK",
            "QUOTED",
            "DZ",
            "a&b",
            "update",
            "delete",
            "reject",
            "accept",
            "backordered",
        ])
        .to_string()
    } else {
        good
    }
}

/// An attribute: present unless odd (then sometimes absent, sometimes odd).
fn cx_attr(r: &mut Rng, odd: u64, good: impl FnOnce(&mut Rng) -> String) -> Option<String> {
    if r.chance(odd / 2) {
        None
    } else {
        let good = good(r);
        Some(cx(r, odd, good))
    }
}

fn cx_money(r: &mut Rng, odd: u64) -> String {
    let amount = r.cents();
    let amount = cx(r, odd, amount);
    let currency = cx_attr(r, odd, |_| "USD".into());
    xml_el(
        "Money",
        &[("currency", currency)],
        &[amount.replace('&', "&amp;")],
    )
}

fn cx_date(r: &mut Rng, odd: u64) -> Option<String> {
    cx_attr(r, odd, |r| format!("{}T09:00:00-05:00", r.date()))
}

/// `n` children made by `f`, some left out when odd.
fn cx_some(r: &mut Rng, odd: u64, n: u64, mut f: impl FnMut(&mut Rng) -> String) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        if !r.chance(odd) {
            out.push(f(&mut *r));
        }
    }
    out
}

fn cx_item_id(r: &mut Rng, odd: u64) -> String {
    let mut kids = cx_some(r, odd, 1, |r| xml_text("SupplierPartID", &r.word(8)));
    if r.chance(50) {
        let b = r.pick(&["WIDGET-1", "QUOTED"]).to_string();
        let b = cx(r, odd, b);
        kids.push(xml_text("BuyerPartID", &b));
    }
    xml_el("ItemID", &[], &kids)
}

/// A UnitOfMeasure, absent at `odd` percent plus `absent`.
fn cx_uom(r: &mut Rng, odd: u64, absent: u64) -> Vec<String> {
    cx_some(r, odd + absent, 1, |r| {
        let u = r.pick(&["EA", "CS", "PCE", "DZ"]).to_string();
        xml_text("UnitOfMeasure", &cx(r, odd, u))
    })
}

fn cx_party(r: &mut Rng, odd: u64, tag: &str) -> String {
    let mut address = cx_some(r, odd, 1, |r| xml_text("Name", &r.text(2)));
    if r.chance(60) {
        let mut postal = cx_some(r, odd, 2, |r| {
            let s = if r.chance(odd) {
                String::new()
            } else {
                r.text(3)
            };
            xml_text("Street", &s)
        });
        postal.extend(cx_some(r, odd, 1, |r| xml_text("City", &r.word(8))));
        postal.extend(cx_some(r, odd, 1, |r| xml_text("State", &r.word(2))));
        postal.extend(cx_some(r, odd, 1, |r| xml_text("PostalCode", &r.digits(5))));
        postal.extend(cx_some(r, odd, 1, |r| {
            let c = cx_attr(r, odd, |_| "US".into());
            xml_el(
                "Country",
                &[("isoCountryCode", c)],
                &["United States".into()],
            )
        }));
        address.push(xml_el("PostalAddress", &[], &postal));
    }
    let id = cx_attr(r, odd, |r| r.word(5));
    let kids = if r.chance(odd) {
        vec![]
    } else {
        vec![xml_el("Address", &[("addressID", id)], &address)]
    };
    xml_el(tag, &[], &kids)
}

fn cx_terms(r: &mut Rng, odd: u64) -> Vec<String> {
    cx_some(r, 20 + odd, 1, |r| {
        let d = cx_attr(r, odd, |_| "30".into());
        xml_el("PaymentTerm", &[("payInNumberOfDays", d)], &[])
    })
}

/// One cXML request of `kind` (OrderRequest, ...), odd parts at `odd` percent.
fn cxml_request(r: &mut Rng, kind: &str, odd: u64) -> Vec<u8> {
    let body = match kind {
        "OrderRequest" => {
            let mut head = cx_some(r, odd, 1, |r| xml_el("Total", &[], &[cx_money(r, odd)]));
            head.extend(cx_some(r, 30, 1, |r| cx_party(r, odd, "ShipTo")));
            head.extend(cx_some(r, 50, 1, |r| cx_party(r, odd, "BillTo")));
            head.extend(cx_terms(r, odd));
            head.extend(cx_some(r, 50, 2, |r| {
                let c = if r.chance(odd) {
                    String::new()
                } else {
                    r.text(4)
                };
                xml_text("Comments", &c)
            }));
            let kind_attr = cx_attr(r, odd, |_| "new".into());
            let header = xml_el(
                "OrderRequestHeader",
                &[
                    ("orderID", cx_attr(r, odd, |r| r.word(10))),
                    ("orderDate", cx_date(r, odd)),
                    ("type", kind_attr),
                    ("orderType", cx_attr(r, 50 + odd, |_| "SA".into())),
                    ("requisitionID", cx_attr(r, 50, |r| r.word(6))),
                ],
                &head,
            );
            let mut kids = cx_some(r, odd, 1, |_| header.clone());
            for k in 0..1 + r.below(4) {
                let mut detail =
                    cx_some(r, odd, 1, |r| xml_el("UnitPrice", &[], &[cx_money(r, odd)]));
                detail.extend(cx_some(r, 30, 1, |r| xml_text("Description", &r.text(3))));
                detail.extend(cx_uom(r, odd, 0));
                let mut item = vec![cx_item_id(r, odd)];
                item.extend(cx_some(r, odd, 1, |_| xml_el("ItemDetail", &[], &detail)));
                kids.push(xml_el(
                    "ItemOut",
                    &[
                        ("quantity", cx_attr(r, odd, |r| r.decimal(2))),
                        ("lineNumber", cx_attr(r, odd, |_| (k + 1).to_string())),
                        (
                            "requestedDeliveryDate",
                            if r.chance(50) { cx_date(r, odd) } else { None },
                        ),
                    ],
                    &item,
                ));
            }
            xml_el("OrderRequest", &[], &kids)
        }
        "InvoiceDetailRequest" => {
            let mut head = vec![xml_el("InvoiceDetailHeaderIndicator", &[], &[])];
            head.extend(cx_terms(r, odd));
            let header = xml_el(
                "InvoiceDetailRequestHeader",
                &[
                    ("invoiceID", cx_attr(r, odd, |r| r.word(10))),
                    ("invoiceDate", cx_date(r, odd)),
                ],
                &head,
            );
            let mut kids = cx_some(r, odd, 1, |_| header.clone());
            for _ in 0..1 + r.below(2) {
                let po = cx_attr(r, odd, |r| r.word(8));
                let mut order = cx_some(r, odd, 1, |_| {
                    xml_el(
                        "InvoiceDetailOrderInfo",
                        &[],
                        &[xml_el("OrderReference", &[("orderID", po.clone())], &[])],
                    )
                });
                for k in 0..1 + r.below(3) {
                    let mut item = cx_uom(r, odd, 0);
                    item.extend(cx_some(r, odd, 1, |r| {
                        xml_el("UnitPrice", &[], &[cx_money(r, odd)])
                    }));
                    item.extend(cx_some(r, odd, 1, |r| {
                        let mut rf = vec![cx_item_id(r, odd)];
                        rf.extend(cx_some(r, 30, 1, |r| xml_text("Description", &r.text(3))));
                        xml_el(
                            "InvoiceDetailItemReference",
                            &[("lineNumber", cx_attr(r, odd, |_| (k + 1).to_string()))],
                            &rf,
                        )
                    }));
                    item.extend(cx_some(r, odd, 1, |r| {
                        xml_el("SubtotalAmount", &[], &[cx_money(r, odd)])
                    }));
                    order.push(xml_el(
                        "InvoiceDetailItem",
                        &[
                            (
                                "invoiceLineNumber",
                                cx_attr(r, odd, |_| (k + 1).to_string()),
                            ),
                            ("quantity", cx_attr(r, odd, |r| r.decimal(2))),
                        ],
                        &item,
                    ));
                }
                kids.push(xml_el("InvoiceDetailOrder", &[], &order));
            }
            let mut sum = Vec::new();
            for tag in [
                "SubtotalAmount",
                "Tax",
                "ShippingAmount",
                "SpecialHandlingAmount",
                "GrossAmount",
                "NetAmount",
                "DueAmount",
            ] {
                if r.chance(50) || (odd == 0 && tag == "NetAmount") {
                    let m = if r.chance(odd) {
                        xml_el("Money", &[("currency", Some("USD".into()))], &[])
                    } else {
                        cx_money(r, odd)
                    };
                    sum.push(xml_el(tag, &[], &[m]));
                }
            }
            kids.extend(cx_some(r, odd, 1, |_| {
                xml_el("InvoiceDetailSummary", &[], &sum)
            }));
            xml_el("InvoiceDetailRequest", &[], &kids)
        }
        "ConfirmationRequest" => {
            let header = xml_el(
                "ConfirmationHeader",
                &[
                    (
                        "type",
                        cx_attr(r, odd, |r| {
                            r.pick(&["accept", "reject", "detail", "except"]).into()
                        }),
                    ),
                    ("noticeDate", cx_date(r, odd)),
                    ("confirmID", cx_attr(r, 30, |r| r.word(6))),
                ],
                &[],
            );
            let mut kids = cx_some(r, odd, 1, |_| header.clone());
            kids.extend(cx_some(r, odd, 1, |r| {
                xml_el(
                    "OrderReference",
                    &[("orderID", cx_attr(r, odd, |r| r.word(8)))],
                    &[],
                )
            }));
            for k in 0..r.below(4) {
                let mut st = cx_uom(r, odd, 40);
                st.extend(cx_some(r, 50, 1, |r| {
                    let detail = xml_el(
                        "ItemDetail",
                        &[],
                        &[xml_el("UnitPrice", &[], &[cx_money(r, odd)])],
                    );
                    xml_el("ItemIn", &[], &[detail])
                }));
                let status = xml_el(
                    "ConfirmationStatus",
                    &[
                        (
                            "type",
                            cx_attr(r, odd, |r| {
                                r.pick(&["accept", "reject", "backordered", "detail"])
                                    .into()
                            }),
                        ),
                        (
                            "quantity",
                            if r.chance(50) {
                                cx_attr(r, odd, |r| r.decimal(1))
                            } else {
                                None
                            },
                        ),
                        (
                            "deliveryDate",
                            if r.chance(50) { cx_date(r, odd) } else { None },
                        ),
                    ],
                    &st,
                );
                let mut item = cx_uom(r, odd, 0);
                item.extend(cx_some(r, odd, 1, |_| status.clone()));
                kids.push(xml_el(
                    "ConfirmationItem",
                    &[
                        ("lineNumber", cx_attr(r, odd, |_| (k + 1).to_string())),
                        ("quantity", cx_attr(r, odd, |r| r.decimal(1))),
                    ],
                    &item,
                ));
            }
            xml_el("ConfirmationRequest", &[], &kids)
        }
        _ => {
            let header = xml_el(
                "ShipNoticeHeader",
                &[
                    ("shipmentID", cx_attr(r, odd, |r| r.word(8))),
                    (
                        "shipmentDate",
                        if r.chance(70) { cx_date(r, odd) } else { None },
                    ),
                    ("noticeDate", cx_date(r, odd)),
                    (
                        "deliveryDate",
                        if r.chance(50) { cx_date(r, odd) } else { None },
                    ),
                ],
                &[],
            );
            let mut kids = cx_some(r, odd, 1, |_| header.clone());
            kids.extend(cx_some(r, 30, 1, |r| {
                let mut ctl = cx_some(r, odd, 2, |r| {
                    let c = if r.chance(odd) {
                        String::new()
                    } else {
                        r.word(5)
                    };
                    xml_text("CarrierIdentifier", &c)
                });
                ctl.extend(cx_some(r, odd, 1, |r| {
                    xml_text("ShipmentIdentifier", &r.digits(12))
                }));
                xml_el("ShipControl", &[], &ctl)
            }));
            for _ in 0..1 + r.below(2) {
                let mut portion = cx_some(r, odd, 1, |r| {
                    xml_el(
                        "OrderReference",
                        &[("orderID", cx_attr(r, odd, |r| r.word(8)))],
                        &[],
                    )
                });
                for k in 0..1 + r.below(3) {
                    let mut item = vec![cx_item_id(r, odd)];
                    item.extend(cx_some(r, 30, 1, |r| {
                        xml_el(
                            "ShipNoticeItemDetail",
                            &[],
                            &[xml_text("Description", &r.text(2))],
                        )
                    }));
                    item.extend(cx_uom(r, odd, 0));
                    portion.push(xml_el(
                        "ShipNoticeItem",
                        &[
                            ("lineNumber", cx_attr(r, odd, |_| (k + 1).to_string())),
                            ("quantity", cx_attr(r, odd, |r| r.decimal(1))),
                        ],
                        &item,
                    ));
                }
                kids.push(xml_el("ShipNoticePortion", &[], &portion));
            }
            xml_el("ShipNoticeRequest", &[], &kids)
        }
    };
    format!(
        "<?xml version=\"1.0\"?><cXML payloadID=\"1@x\"><Header><From><Credential domain=\"NetworkID\"><Identity>AN01000000147</Identity></Credential></From></Header><Request>{body}</Request></cXML>"
    )
    .into_bytes()
}

/// Maps the cXML request in `data` both ways: (the twin answered, the interpreter failed).
/// Panics, naming `what`, when the twin gives a record the interpreter does not.
fn compare_cxml(maps: &Mappings, data: &[u8], partner: &str, what: &str) -> Option<(bool, bool)> {
    let doc = edigate::formats::xml::parse(data).ok()?;
    // The request: the first element inside `Request`.
    let request = doc.root().child("Request")?.first_element()?;
    let kind = request.name();
    let mapping = maps.find(partner, "inbound", "cxml", kind)?;
    assert!(
        mapping.twin().is_some(),
        "the shipped {kind} mapping has a twin"
    );
    let fields = serde_json::json!({
        "format": "cxml", "standard": "", "document": kind, "control": "", "partner": partner, "xml": doc.to_json(),
    });
    let input = edigate::mapping::jq::from_json(&fields);
    evaluators_agree(maps, mapping, partner, input.clone(), what);
    let interpreted = maps
        .inbound(mapping, partner, input)
        .map(|bs| bs.iter().map(Written::from).collect::<Vec<_>>());
    let twin = maps.twin_cxml(mapping, partner, &doc);
    if let Some(twin) = &twin {
        let text = String::from_utf8_lossy(data);
        assert_eq!(Ok(twin), interpreted.as_ref(), "{what}:\n{text}");
    }
    Some((twin.is_some(), interpreted.is_err()))
}

#[test]
fn the_cxml_twins_give_exactly_the_interpreters_records_or_leave_the_document_to_it() {
    let (_dir, maps) = mappings();
    let mut r = Rng(1204);
    for kind in [
        "OrderRequest",
        "InvoiceDetailRequest",
        "ConfirmationRequest",
        "ShipNoticeRequest",
    ] {
        let (mut answered, mut declined, mut errors) = (0, 0, 0);
        for i in 0..1000 {
            let partner = ["ACME", "OTHER"][i % 2];
            let odd = [0, 2, 5, 15][i % 4];
            let data = cxml_request(&mut r, kind, odd);
            let (twin, failed) = compare_cxml(&maps, &data, partner, &format!("{kind} #{i}"))
                .unwrap_or_else(|| panic!("{kind} #{i} reads"));
            answered += usize::from(twin);
            declined += usize::from(!twin);
            errors += usize::from(failed);
            if odd == 0 {
                assert!(twin, "{kind} #{i}: {}", String::from_utf8_lossy(&data));
            }
        }
        assert!(
            answered > 400 && declined > 100 && errors > 100,
            "{kind}: {answered} {declined} {errors}"
        );
        the_evaluator_answered(kind);
    }
    // And every cXML fixture and corpus file.
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    let mut stack = vec![data("cxml"), crate::corpus::corpus()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "xml") {
                files.push(e.path());
            }
        }
    }
    let mut answered = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for partner in ["ACME", "OTHER"] {
            let said = compare_cxml(&maps, &bytes, partner, &f.display().to_string());
            answered += usize::from(said.is_some_and(|(twin, _)| twin));
        }
    }
    assert!(answered >= 8, "{answered} of {} files", files.len());
}
