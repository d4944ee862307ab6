//! Acknowledgements built from parse results: X12 TA1, 997 and 999. Pure: the caller
//! passes the clock and allocates control numbers.

pub mod advice;

use crate::body::Body;
use crate::formats::x12::envelope::{Interchange, Issue, Problem};
use crate::formats::x12::writer::{IsaHeader, WriteError, Writer};
use crate::formats::x12::Transaction;
use crate::formats::Severity;
use crate::util::Utc;

/// How much of a long acknowledgement is written before it is moved to its [`Body`].
pub const PIECE: usize = 64 << 10;
use serde::Deserialize;

/// Which functional acknowledgement a partner wants for X12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Functional {
    #[default]
    #[serde(rename = "997")]
    Fa997,
    #[serde(rename = "999")]
    Fa999,
    #[serde(rename = "none")]
    None,
}

/// Every kind of acknowledgement made (an [`AckDoc`]'s `kind`).
pub const KINDS: [&str; 4] = ["TA1", "997", "999", "CONTRL"];

/// One acknowledgement interchange ready to send.
#[derive(Debug, PartialEq, Eq)]
pub struct AckDoc {
    /// `TA1`, `997` or `999`.
    pub kind: &'static str,
    /// The ISA13 of the acknowledgement interchange.
    pub control: u64,
    /// ISA13 of the interchange it answers.
    pub answers: String,
    pub bytes: crate::body::Body,
}

fn header(ic: &Interchange, now: Utc, control: u64) -> IsaHeader {
    let (y, mo, d, h, mi, _) = now.parts();
    let version = if ic.version.len() == 5 {
        ic.version.clone()
    } else {
        "00401".into()
    };
    IsaHeader {
        sender_qualifier: ic.receiver_qualifier.chars().take(2).collect(),
        sender_id: ic.receiver_id.chars().take(15).collect(),
        receiver_qualifier: ic.sender_qualifier.chars().take(2).collect(),
        receiver_id: ic.sender_id.chars().take(15).collect(),
        date: format!("{:02}{mo:02}{d:02}", y % 100),
        time: format!("{h:02}{mi:02}"),
        version,
        control,
        ack_requested: false,
        usage: if ic.usage == "T" { "T" } else { "P" }.into(),
    }
}

/// Whether an interchange asks for, or needs, a TA1.
pub fn wants_ta1(ic: &Interchange) -> bool {
    ic.ack_requested || !ic.problems.is_empty()
}

/// The TA1 interchange answering `ic`.
pub fn ta1(ic: &Interchange, now: Utc, control: u64) -> Result<AckDoc, WriteError> {
    let mut w = Writer::new(ic.separators);
    w.isa(&header(ic, now, control))?;
    let errors: Vec<&Problem> = ic
        .problems
        .iter()
        .filter(|p| !p.ack_code.is_empty())
        .collect();
    let (status, code) = match errors.first() {
        Some(p) if ic.rejected() => ("R", p.ack_code),
        Some(p) => ("E", p.ack_code),
        None => ("A", "000"),
    };
    let ctrl = w.clean(&ic.control);
    let date = w.clean(&ic.date);
    let time = w.clean(&ic.time);
    w.segment("TA1", &[&ctrl, &date, &time, status, code])?;
    w.iea()?;
    Ok(AckDoc {
        kind: "TA1",
        control,
        answers: ic.control.clone(),
        bytes: w.finish().into(),
    })
}

fn tx_status(tx: &Transaction) -> &'static str {
    if tx.rejected() {
        "R"
    } else if !tx.problems.is_empty() || !tx.issues.is_empty() {
        "E"
    } else {
        "A"
    }
}

fn codes<'p>(problems: impl Iterator<Item = &'p Problem>) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for p in problems {
        if !p.ack_code.is_empty() && !v.contains(&p.ack_code) {
            v.push(p.ack_code);
        }
    }
    v
}

/// The 997 or 999 interchange answering every functional group of `ic` (acknowledgement
/// groups themselves are not answered). `None` when there is nothing to answer.
pub fn functional(
    ic: &Interchange,
    kind: Functional,
    now: Utc,
    control: u64,
) -> Result<Option<AckDoc>, WriteError> {
    let groups: Vec<_> = ic
        .groups
        .iter()
        .filter(|g| g.functional_id != "FA")
        .collect();
    if kind == Functional::None || groups.is_empty() || ic.rejected() {
        return Ok(None);
    }
    let (tag, seg3, seg4, seg5) = match kind {
        Functional::Fa999 => ("999", "IK3", "IK4", "IK5"),
        _ => ("997", "AK3", "AK4", "AK5"),
    };
    let h = header(ic, now, control);
    let (y, mo, d, hh, mi, _) = now.parts();
    let mut w = Writer::new(ic.separators);
    // An answer to a million transaction sets leaves the writer in pieces.
    let mut body = Body::default();
    w.isa(&h)?;
    let base_version: String = groups[0].version.chars().take(6).collect();
    let gs_version = match kind {
        Functional::Fa999 => "005010X231A1".to_string(),
        _ => base_version,
    };
    let ctrl = control.to_string();
    w.gs(
        "FA",
        &w.clean(&groups[0].receiver),
        &w.clean(&groups[0].sender),
        &format!("{y:04}{mo:02}{d:02}"),
        &format!("{hh:02}{mi:02}"),
        &ctrl,
        &gs_version,
    )?;
    for (n, g) in groups.iter().enumerate() {
        let five = g.version.as_str() >= "005010";
        w.st(
            tag,
            &format!("{:04}", n + 1),
            if tag == "999" { "005010X231A1" } else { "" },
        )?;
        let gv: String = if five {
            g.version.clone()
        } else {
            String::new()
        };
        w.segment(
            "AK1",
            &[
                &w.clean(&g.functional_id),
                &w.clean(&g.control),
                &w.clean(&gv),
            ],
        )?;
        let mut accepted = 0;
        let mut warned = false;
        for tx in g.kept() {
            let status = tx_status(&tx);
            if status != "R" {
                accepted += 1;
            }
            warned |= status == "E";
            let imp = if five {
                w.clean(&tx.implementation)
            } else {
                String::new()
            };
            w.segment("AK2", &[&w.clean(&tx.id), &w.clean(&tx.control), &imp])?;
            for issue in &tx.issues {
                write_issue(&mut w, seg3, seg4, issue)?;
            }
            let mut c = codes(tx.problems.iter());
            if tx
                .issues
                .iter()
                .any(|i| i.diagnostic.severity == Severity::Error)
                && !c.contains(&"5")
            {
                c.push("5");
            }
            c.truncate(5);
            let mut el = vec![status];
            el.extend(c);
            w.segment(seg5, &el)?;
            if w.buffered() >= PIECE {
                body.append(&w.take());
            }
        }
        let received = g.kept_len();
        let included = g
            .ge_count
            .as_deref()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .unwrap_or(received);
        if g.rejected() {
            accepted = 0;
        }
        warned |= !g.problems.is_empty();
        let status = if g.rejected() || (accepted == 0 && received > 0) {
            "R"
        } else if accepted < received {
            "P"
        } else if warned {
            "E"
        } else {
            "A"
        };
        let mut gc = codes(g.problems.iter());
        gc.truncate(5);
        let (inc, rec, acc) = (
            included.to_string(),
            received.to_string(),
            accepted.to_string(),
        );
        let mut el = vec![status, &inc, &rec, &acc];
        el.extend(gc);
        w.segment("AK9", &el)?;
        w.se()?;
    }
    w.ge()?;
    w.iea()?;
    Ok(Some(AckDoc {
        kind: tag,
        control,
        answers: ic.control.clone(),
        bytes: {
            body.append(&w.finish());
            body
        },
    }))
}

fn write_issue(w: &mut Writer, seg3: &str, seg4: &str, issue: &Issue) -> Result<(), WriteError> {
    let p = &issue.diagnostic.position;
    let pos = p.segment.map(|s| s.to_string()).unwrap_or_default();
    let code3 = if issue.element_code.is_some() {
        "8"
    } else {
        issue.segment_code
    };
    let id = w.clean(&p.segment_id);
    w.segment(seg3, &[&id, &pos, "", code3])?;
    if let (Some(code), Some(e)) = (issue.element_code, p.element) {
        let epos = match p.component {
            Some(c) => w.composite(&[&e.to_string(), &c.to_string()]),
            None => e.to_string(),
        };
        let reference = issue.element_ref.map(|r| r.to_string()).unwrap_or_default();
        let bad = w.clean(&issue.bad_value);
        let bad: String = bad.chars().take(99).collect();
        w.segment(seg4, &[&epos, &reference, code, &bad])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x12::{parse, spec::Standards, validate};

    #[test]
    fn a_999_reports_segment_and_element_errors_with_ik_segments() {
        let text = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *260517*1015*^*00501*000000001*0*P*:~GS*PO*A*B*20260517*1015*7*X*005010~ST*850*0001~BEG*00*SA*PO1**20261399~PO1*1*2*EA*1**BP*X~SE*4*0001~GE*1*7~IEA*1*000000001~";
        let mut f = parse(text.as_bytes());
        let ic = &mut f.interchanges[0];
        let g = &mut ic.groups[0];
        validate::transaction(&mut g.transactions[0], &Standards::builtin(), "005010");
        let doc = functional(
            ic,
            Functional::Fa999,
            Utc {
                epoch: 1_779_012_900,
            },
            3,
        )
        .unwrap()
        .unwrap();
        let out = String::from_utf8(doc.bytes.into_vec().unwrap()).unwrap();
        assert!(out.contains("ST*999*0001*005010X231A1~"), "{out}");
        assert!(out.contains("AK1*PO*7*005010~"), "{out}");
        assert!(
            out.contains("IK3*BEG*2**8~IK4*5*373*8*20261399~IK5*R*5~"),
            "{out}"
        );
        assert!(out.contains("AK9*R*1*1*0~"), "{out}");
        let reparsed = parse(out.as_bytes());
        let mut tx = reparsed
            .interchanges
            .into_iter()
            .next()
            .unwrap()
            .groups
            .remove(0)
            .transactions
            .remove(0);
        assert!(validate::transaction(
            &mut tx,
            &Standards::builtin(),
            "005010X231A1"
        ));
        assert!(!tx.rejected(), "{:?}", tx.issues);
    }
}
