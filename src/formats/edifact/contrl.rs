//! EDIFACT writer and the CONTRL syntax and service report built from a parsed interchange.
//! Pure: the caller passes the clock and the control reference.

use super::envelope::{Interchange, Problem};
use super::lexer::Delims;
use crate::util::Utc;

/// Writes segments with any service characters, escaping data with the release character.
pub struct Writer {
    d: Delims,
    out: Vec<u8>,
    count: usize,
}

impl Writer {
    pub fn new(d: Delims) -> Self {
        let mut out = Vec::new();
        if d.una {
            out.extend_from_slice(b"UNA");
            out.extend_from_slice(&[
                d.component,
                d.element,
                d.decimal,
                d.release.unwrap_or(b' '),
                d.repetition.unwrap_or(b' '),
                d.segment,
            ]);
            out.push(b'\n');
        }
        Writer { d, out, count: 0 }
    }

    fn escaped(&mut self, v: &str) {
        let special = [self.d.component, self.d.element, self.d.segment];
        for b in v.bytes() {
            if special.contains(&b) || Some(b) == self.d.release || (Some(b) == self.d.repetition) {
                match self.d.release {
                    Some(r) => self.out.extend_from_slice(&[r, b]),
                    None => continue, // Cannot be represented without a release character.
                }
            } else {
                self.out.push(b);
            }
        }
    }

    /// One segment: elements of components. Trailing empty elements and components are dropped.
    pub fn segment(&mut self, tag: &str, elements: &[&[&str]]) {
        self.out.extend_from_slice(tag.as_bytes());
        let used = elements
            .iter()
            .rposition(|e| e.iter().any(|c| !c.is_empty()))
            .map_or(0, |i| i + 1);
        for e in &elements[..used] {
            self.out.push(self.d.element);
            let n = e.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
            for (i, c) in e[..n].iter().enumerate() {
                if i > 0 {
                    self.out.push(self.d.component);
                }
                self.escaped(c);
            }
        }
        self.out.push(self.d.segment);
        self.out.push(b'\n');
        self.count += 1;
    }

    /// Segments written since the last call (for UNT counts).
    pub fn take_count(&mut self) -> usize {
        std::mem::take(&mut self.count)
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Moves what is written so far to `body` once it is a long piece (the count goes on).
    fn pass_to(&mut self, body: &mut crate::body::Body) {
        if self.out.len() >= crate::acks::PIECE {
            body.append(&std::mem::take(&mut self.out));
        }
    }
}

fn first(problems: &[Problem]) -> Option<&Problem> {
    problems
        .iter()
        .find(|p| !p.code.is_empty() && p.diagnostic.severity == crate::formats::Severity::Error)
}

/// Whether `ic` calls for a CONTRL: requested in UNB 0031, or something was rejected.
pub fn wanted(ic: &Interchange) -> bool {
    ic.has_unb && (ic.ack_requested || ic.rejected() || ic.kept().any(|m| m.rejected()))
}

/// The CONTRL interchange answering `ic`.
pub fn contrl(ic: &Interchange, now: Utc, control: u64) -> crate::body::Body {
    let mut w = Writer::new(ic.delims);
    // An answer to a million messages leaves the writer in pieces.
    let mut body = crate::body::Body::default();
    let (y, mo, d, h, mi, _) = now.parts();
    let v4 = ic.syntax_version == "4";
    let date = if v4 {
        format!("{y:04}{mo:02}{d:02}")
    } else {
        format!("{:02}{mo:02}{d:02}", y % 100)
    };
    let time = format!("{h:02}{mi:02}");
    let ctrl = control.to_string();
    let syntax = if ic.syntax.is_empty() {
        "UNOC"
    } else {
        &ic.syntax
    };
    let version = if ic.syntax_version.is_empty() {
        "3"
    } else {
        &ic.syntax_version
    };
    w.segment(
        "UNB",
        &[
            &[syntax, version],
            &[&ic.recipient, &ic.recipient_qualifier],
            &[&ic.sender, &ic.sender_qualifier],
            &[&date, &time],
            &[&ctrl],
        ],
    );
    w.take_count();
    let msg_id: [&str; 4] = match version {
        "4" => ["CONTRL", "4", "1", "UN"],
        "3" => ["CONTRL", "D", "3", "UN"],
        _ => ["CONTRL", "2", "2", "UN"],
    };
    w.segment("UNH", &[&["1"], &msg_id]);
    let rejected = ic.rejected();
    let action = if rejected { "4" } else { "7" };
    let noted = ic.problems.iter().find(|p| !p.code.is_empty());
    match first(&ic.problems).or(noted) {
        Some(p) => w.segment(
            "UCI",
            &[
                &[&ic.control],
                &[&ic.sender, &ic.sender_qualifier],
                &[&ic.recipient, &ic.recipient_qualifier],
                &[action],
                &[p.code],
                &[&p.diagnostic.position.segment_id],
            ],
        ),
        _ => w.segment(
            "UCI",
            &[
                &[&ic.control],
                &[&ic.sender, &ic.sender_qualifier],
                &[&ic.recipient, &ic.recipient_qualifier],
                &[action],
            ],
        ),
    }
    if !rejected {
        for (gi, g) in ic.groups.iter().enumerate() {
            let ga = if first(&g.problems).is_some() {
                "4"
            } else {
                "7"
            };
            let code = first(&g.problems).map_or("", |p| p.code);
            w.segment(
                "UCF",
                &[
                    &[&g.reference],
                    &[&g.sender],
                    &[&g.recipient],
                    &[ga],
                    &[code],
                ],
            );
            for m in ic.kept().filter(|m| m.group == Some(gi)) {
                ucm(&mut w, &m);
                w.pass_to(&mut body);
            }
        }
        for m in ic.kept().filter(|m| m.group.is_none()) {
            ucm(&mut w, &m);
            w.pass_to(&mut body);
        }
    }
    let n = (w.take_count() + 1).to_string();
    w.segment("UNT", &[&[&n], &["1"]]);
    w.segment("UNZ", &[&["1"], &[&ctrl]]);
    body.append(&w.finish());
    body
}

fn ucm(w: &mut Writer, m: &super::Message) {
    let id = [
        m.kind.as_str(),
        m.version.as_str(),
        m.release.as_str(),
        m.agency.as_str(),
    ];
    if !m.rejected() {
        w.segment("UCM", &[&[&m.reference], &id, &["7"]]);
        return;
    }
    // Envelope-level problems (UNH/UNT) go on the UCM; positioned ones become UCS lines.
    let envelope = m
        .problems
        .iter()
        .find(|p| p.diagnostic.position.segment.is_none() || p.code == "29" || p.code == "28");
    let code = envelope
        .or_else(|| first(&m.problems))
        .map_or("", |p| p.code);
    w.segment("UCM", &[&[&m.reference], &id, &["4"], &[code]]);
    // UCS lines in message order, whatever order the checks found them in.
    let mut positioned: Vec<_> = m
        .problems
        .iter()
        .filter(|p| p.diagnostic.position.segment.is_some() && !matches!(p.code, "28" | "29"))
        .collect();
    positioned.sort_by_key(|p| p.diagnostic.position.segment);
    for p in positioned {
        let at = &p.diagnostic.position;
        let pos = at.segment.unwrap_or(0).to_string();
        match at.element {
            // An element error: the segment is named, the element and component carry the code.
            Some(e) => {
                w.segment("UCS", &[&[&pos]]);
                let (e, c) = (
                    e.to_string(),
                    at.component.map(|c| c.to_string()).unwrap_or_default(),
                );
                w.segment("UCD", &[&[p.code], &[&e, &c]]);
            }
            None => w.segment("UCS", &[&[&pos], &[p.code]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::edifact::{parse, validate};

    /// The CONTRL answering `ic`, as text, at a fixed time.
    fn answer(ic: &Interchange, control: u64) -> String {
        let at = Utc {
            epoch: 1_779_012_900,
        };
        String::from_utf8(contrl(ic, at, control).into_vec().unwrap()).unwrap()
    }

    #[test]
    fn answers_accepted_and_rejected_messages() {
        let text = "UNA:+.? 'UNB+UNOC:3+SUPPLIER:14+BUYER:14+200101:1200+000123++++1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1?'X+9'DTM+137:20200101:102'UNS+S'UNT+5+1'UNH+2+ORDERS:D:96A:UN'DTM+137:20200101:102'UNS+S'UNT+4+2'UNZ+2+000123'";
        let mut f = parse(text.as_bytes());
        let ic = &mut f.interchanges[0];
        for m in &mut ic.messages {
            validate::message(m, &validate::Messages::builtin());
        }
        assert!(wanted(ic));
        let out = answer(ic, 7);
        assert_eq!(
            out,
            "UNA:+.? '\nUNB+UNOC:3+BUYER:14+SUPPLIER:14+260517:1015+7'\nUNH+1+CONTRL:D:3:UN'\nUCI+000123+SUPPLIER:14+BUYER:14+7'\nUCM+1+ORDERS:D:96A:UN+7'\nUCM+2+ORDERS:D:96A:UN+4+13'\nUCS+2+13'\nUNT+6+1'\nUNZ+1+7'\n"
        );
        let reparsed = parse(out.as_bytes());
        assert!(!reparsed.interchanges[0].rejected());
        let mut c = reparsed;
        assert!(validate::message(
            &mut c.interchanges[0].messages[0],
            &validate::Messages::builtin()
        ));
        assert_eq!(c.interchanges[0].messages[0].problems, vec![]);
    }

    #[test]
    fn element_errors_are_reported_with_ucs_and_ucd() {
        let text = "UNB+UNOC:3+S:14+R:14+200101:1200+9++++1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20200101:102'PRI+AAA:1.2.3'UNS+S'UNT+6+1'UNZ+1+9'";
        let mut f = parse(text.as_bytes());
        let ic = &mut f.interchanges[0];
        validate::message(&mut ic.messages[0], &validate::Messages::builtin());
        let out = answer(ic, 1);
        assert!(
            out.contains("UCM+1+ORDERS:D:96A:UN+4+37'\nUCS+4'\nUCD+37+1:2'\n"),
            "{out}"
        );
    }

    #[test]
    fn escapes_service_characters() {
        let mut w = Writer::new(Delims::default());
        w.segment("FTX", &[&["AAI"], &[], &[], &["a+b:c'd?e"]]);
        assert_eq!(
            String::from_utf8(w.finish()).unwrap(),
            "FTX+AAI+++a?+b?:c?'d??e'\n"
        );
    }
}
