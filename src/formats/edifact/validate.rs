//! EDIFACT message validation against the message structures in
//! `mappings/standards/edifact/`, and a streaming summary for `edigate validate`.

use super::envelope::{Handler, Interchange, Message, Problem};
use crate::formats::structure::{lines, parse_set, walk_message, Misfit, SetSpec};
use crate::formats::{Diagnostic, Position, Severity};
use std::collections::{HashMap, HashSet};

/// Message structures and the known segment tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    pub sets: HashMap<String, SetSpec>,
    pub tags: HashSet<String>,
}

/// The definition files compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "segments.txt",
        include_str!("../../../mappings/standards/edifact/segments.txt"),
    ),
    (
        "ORDERS.txt",
        include_str!("../../../mappings/standards/edifact/ORDERS.txt"),
    ),
    (
        "ORDRSP.txt",
        include_str!("../../../mappings/standards/edifact/ORDRSP.txt"),
    ),
    (
        "DESADV.txt",
        include_str!("../../../mappings/standards/edifact/DESADV.txt"),
    ),
    (
        "INVOIC.txt",
        include_str!("../../../mappings/standards/edifact/INVOIC.txt"),
    ),
    (
        "REMADV.txt",
        include_str!("../../../mappings/standards/edifact/REMADV.txt"),
    ),
    (
        "CONTRL.txt",
        include_str!("../../../mappings/standards/edifact/CONTRL.txt"),
    ),
    (
        "APERAK.txt",
        include_str!("../../../mappings/standards/edifact/APERAK.txt"),
    ),
];

impl Messages {
    pub fn builtin() -> Messages {
        let mut m = Messages::default();
        let mut errors = Vec::new();
        for (name, text) in BUILTIN {
            m.add_file(name, text, &mut errors);
        }
        debug_assert!(errors.is_empty(), "{errors:?}");
        m
    }

    /// Adds `segments.txt` or one message file; problems as (file, line, message).
    pub fn add_file(&mut self, name: &str, text: &str, errors: &mut Vec<(String, usize, String)>) {
        if name == "segments.txt" {
            for (_, l) in lines(text) {
                self.tags.extend(l.split_whitespace().map(str::to_string));
            }
            return;
        }
        match parse_set(text) {
            Ok(set) => {
                self.sets.insert(set.id.clone(), set);
            }
            Err((line, message)) => errors.push((name.to_string(), line, message)),
        }
    }
}

/// Checks the structure of `m`; returns whether a definition covered it.
pub fn message(m: &mut Message, defs: &Messages) -> bool {
    let dir = m.directory();
    let Some(set) = defs.sets.get(&m.kind).filter(|s| s.covers(&dir)) else {
        return false;
    };
    let segments = m
        .segments()
        .map(|s| (std::str::from_utf8(s.id()).unwrap_or("?"), s.offset));
    for e in walk_message(set, segments, m.closed, |t| defs.tags.contains(t)) {
        let id = &e.segment_id;
        let (code, dcode) = match e.kind {
            Misfit::Missing => ("13", "edifact.segment_missing"),
            Misfit::Repeats => ("35", "edifact.segment_repeats"),
            Misfit::LoopRepeats => ("36", "edifact.group_repeats"),
            Misfit::Unexpected => ("15", "edifact.segment_unexpected"),
            Misfit::NotInSet => ("15", "edifact.segment_not_in_message"),
            Misfit::Unknown => ("15", "edifact.segment_unknown"),
        };
        let message = e.message("message");
        m.problems.push(Problem {
            code,
            diagnostic: Diagnostic {
                severity: Severity::Error,
                code: dcode,
                message,
                position: Position {
                    offset: e.offset,
                    segment: Some(e.index + 1),
                    segment_id: id.clone(),
                    ..Position::default()
                },
            },
        });
    }
    true
}

/// Validates everything `src` holds, one message at a time.
pub fn summary(
    src: impl std::io::Read,
    defs: &Messages,
    limit: usize,
) -> std::io::Result<crate::formats::Summary> {
    use crate::formats::Summary;
    struct V<'a> {
        defs: &'a Messages,
        s: Summary,
        limit: usize,
    }
    impl V<'_> {
        fn note(&mut self, d: &Diagnostic) {
            if self.s.diagnostics.len() < self.limit {
                self.s.diagnostics.push(d.clone());
            } else {
                self.s.more_diagnostics += 1;
            }
        }
    }
    impl Handler for V<'_> {
        fn message(&mut self, _ic: &Interchange, m: &mut Message) {
            self.s.transactions += 1;
            self.s.segments += m.len();
            if !message(m, self.defs) {
                self.s.unchecked_transactions += 1;
            }
            if m.rejected() {
                self.s.rejected_transactions += 1;
            }
            for p in &m.problems {
                self.note(&p.diagnostic);
            }
        }
        fn keep(&self) -> bool {
            false
        }
        fn interchange(&mut self, ic: Interchange) {
            self.s.interchanges += 1;
            self.s.groups += ic.groups.len();
            self.s.segments +=
                usize::from(ic.has_unb) + usize::from(ic.closed) + 2 * ic.groups.len();
            self.s.rejected_interchanges += usize::from(ic.rejected());
            for p in ic
                .problems
                .iter()
                .chain(ic.groups.iter().flat_map(|g| g.problems.iter()))
            {
                self.note(&p.diagnostic);
            }
            self.s.rejected_groups += ic.groups.iter().filter(|g| !g.problems.is_empty()).count();
        }
        fn stray(&mut self, d: Diagnostic) {
            self.note(&d);
        }
    }
    let mut v = V {
        defs,
        s: Summary::default(),
        limit,
    };
    v.s.bytes = super::envelope::parse_reader(src, &mut v)?;
    v.s.diagnostics.sort_by_key(|d| d.position.offset);
    Ok(v.s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::edifact::parse;

    #[test]
    fn builtin_messages_load_and_find_structure_errors() {
        let defs = Messages::builtin();
        for m in [
            "ORDERS", "ORDRSP", "DESADV", "INVOIC", "REMADV", "CONTRL", "APERAK",
        ] {
            assert!(defs.sets.contains_key(m), "{m}");
        }
        let text = "UNB+UNOC:3+S:14+R:14+200101:1200+1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'DTM+137:20200101:102'NAD+BY+1::9'LIN+1++X:SA'QTY+21:5'UNS+S'UNT+8+1'UNH+2+ORDERS:D:96A:UN'DTM+137:20200101:102'XYZ+1'UNS+S'UNS+S'UNT+6+2'UNZ+2+1'";
        let mut f = parse(text.as_bytes());
        let ic = &mut f.interchanges[0];
        assert!(message(&mut ic.messages[0], &defs));
        assert_eq!(ic.messages[0].problems, vec![]);
        message(&mut ic.messages[1], &defs);
        let got: Vec<_> = ic.messages[1]
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{}@{} {}",
                    p.diagnostic.position.segment_id,
                    p.diagnostic.position.segment.unwrap_or(0),
                    p.code
                )
            })
            .collect();
        assert_eq!(got, ["BGM@2 13", "XYZ@3 15", "UNS@5 35"]);
    }
}
