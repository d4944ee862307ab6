//! X12 message definitions read from data files (`mappings/standards/x12/`): the element
//! dictionary, the segment dictionary and one structure file per transaction set. Parsing
//! them is pure; the caller reads the files.

pub use crate::formats::structure::{lines, parse_set, Node, Req, SetSpec};
use crate::formats::structure::{req, tag};
use crate::util::FastMap;
use std::collections::HashMap;
use std::fmt;

/// Element data types of the X12 dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Nn`: integer with n implied decimals.
    N(u8),
    R,
    Id,
    An,
    Dt,
    Tm,
    B,
    /// A composite element; its components are not checked one by one.
    Composite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub kind: Kind,
    pub min: usize,
    pub max: usize,
    /// Allowed codes for ID elements, when the list is small enough to matter.
    pub codes: Vec<String>,
    /// `codes` packed by [`tag`] when every one is at most seven bytes (compared as numbers).
    packed: Option<Vec<u64>>,
}

impl Element {
    pub fn new(kind: Kind, min: usize, max: usize, codes: Vec<String>) -> Element {
        let packed = codes
            .iter()
            .all(|c| c.len() <= 7)
            .then(|| codes.iter().map(|c| tag(c.as_bytes())).collect());
        Element {
            kind,
            min,
            max,
            codes,
            packed,
        }
    }

    /// Whether `value` is one of `codes`.
    pub fn has_code(&self, value: &[u8]) -> bool {
        match &self.packed {
            // Packing keeps every byte and the length of values this short.
            Some(p) if value.len() <= 7 => p.contains(&tag(value)),
            Some(_) => false,
            None => self.codes.iter().any(|c| c.as_bytes() == value),
        }
    }
}

/// One element position in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Data element reference number (`353`) or composite id (`C040`).
    pub reference: String,
    pub req: Req,
    /// The element definition, filled in by [`Standards::resolve`].
    pub element: Option<Element>,
}

/// The elements of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegSpec {
    pub slots: Vec<Slot>,
    /// More elements than `slots` may follow (they are not checked).
    pub open: bool,
}

/// Every definition loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standards {
    pub elements: HashMap<String, Element>,
    pub segments: FastMap<String, SegSpec>,
    pub sets: HashMap<String, SetSpec>,
    /// `segments` in one list, made by [`Standards::resolve`].
    specs: Vec<SegSpec>,
    /// For each tag of two or three characters `A-Z0-9` (see [`dense`]), one more than the
    /// index of its definition in `specs`, or 0: a lookup is one read.
    by_tag: Vec<u16>,
}

/// The dense index of a tag of two or three characters `A-Z0-9`.
fn dense(id: &[u8]) -> Option<usize> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(usize::from(b - b'0')),
        b'A'..=b'Z' => Some(usize::from(b - b'A') + 10),
        _ => None,
    };
    match *id {
        [a, b] => Some((digit(a)? * 36 + digit(b)?) * 37),
        [a, b, c] => Some((digit(a)? * 36 + digit(b)?) * 37 + digit(c)? + 1),
        _ => None,
    }
}

/// Size of the [`dense`] index.
const DENSE: usize = 36 * 36 * 37;

/// A problem in a definition file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl Standards {
    /// The definitions shipped inside the binary (a copy of `mappings/standards/x12/`).
    pub fn builtin() -> Standards {
        let mut s = Standards::default();
        let mut errors = Vec::new();
        for (name, text) in BUILTIN {
            s.add_file(name, text, &mut errors);
        }
        debug_assert!(errors.is_empty(), "{errors:?}");
        s.resolve();
        s
    }

    /// Links every segment slot to its element definition (after all files are added).
    pub fn resolve(&mut self) {
        for spec in self.segments.values_mut() {
            for slot in &mut spec.slots {
                slot.element = self.elements.get(&slot.reference).cloned();
            }
        }
        self.specs.clear();
        self.by_tag = vec![0; DENSE];
        for (id, spec) in &self.segments {
            if let Some(k) = dense(id.as_bytes()) {
                self.specs.push(spec.clone());
                self.by_tag[k] = u16::try_from(self.specs.len()).unwrap_or(0);
            }
        }
    }

    /// The definition of segment `id` (after [`Standards::resolve`]).
    pub fn segment(&self, id: &[u8]) -> Option<&SegSpec> {
        match dense(id) {
            Some(k) => match self.by_tag.get(k).copied().unwrap_or(0) {
                0 => None,
                n => self.specs.get(usize::from(n) - 1),
            },
            // A tag of another shape, defined by an operator's file.
            None => std::str::from_utf8(id)
                .ok()
                .and_then(|t| self.segments.get(t)),
        }
    }

    /// Adds one definition file, by its name: `elements.txt`, `segments.txt`, or a set.
    pub fn add_file(&mut self, name: &str, text: &str, errors: &mut Vec<SpecError>) {
        let mut err = |line, message: String| {
            errors.push(SpecError {
                file: name.to_string(),
                line,
                message,
            })
        };
        match name {
            "elements.txt" => {
                for (n, l) in lines(text) {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() < 4 {
                        err(n, "expected: REF TYPE MIN MAX [CODES...]".into());
                        continue;
                    }
                    let kind = match f[1] {
                        "R" => Kind::R,
                        "ID" => Kind::Id,
                        "AN" => Kind::An,
                        "DT" => Kind::Dt,
                        "TM" => Kind::Tm,
                        "B" => Kind::B,
                        "C" => Kind::Composite,
                        t if t.starts_with('N')
                            && t.len() == 2
                            && t.as_bytes()[1].is_ascii_digit() =>
                        {
                            Kind::N(t.as_bytes()[1] - b'0')
                        }
                        t => {
                            err(n, format!("unknown element type {t:?}"));
                            continue;
                        }
                    };
                    let (Ok(min), Ok(max)) = (f[2].parse::<usize>(), f[3].parse::<usize>()) else {
                        err(n, "MIN and MAX must be numbers".into());
                        continue;
                    };
                    if min > max {
                        err(n, format!("MIN {min} is greater than MAX {max}"));
                    }
                    let codes = f[4..].iter().map(|c| c.to_string()).collect();
                    self.elements
                        .insert(f[0].to_string(), Element::new(kind, min, max, codes));
                }
            }
            "segments.txt" => {
                for (n, l) in lines(text) {
                    let mut f = l.split_whitespace();
                    let Some(id) = f.next() else { continue };
                    let mut spec = SegSpec::default();
                    for s in f {
                        if s == "..." {
                            spec.open = true;
                            continue;
                        }
                        match s.split_once(':').and_then(|(r, q)| Some((r, req(q)?))) {
                            Some((r, q)) => spec.slots.push(Slot {
                                reference: r.to_string(),
                                req: q,
                                element: None,
                            }),
                            None => err(
                                n,
                                format!("segment {id}: {s:?} is not REF:M, REF:O or REF:X"),
                            ),
                        }
                    }
                    self.segments.insert(id.to_string(), spec);
                }
            }
            _ => match parse_set(text) {
                Ok(set) => {
                    self.sets.insert(set.id.clone(), set);
                }
                Err((line, message)) => err(line, message),
            },
        }
    }

    /// Cross-checks: every element a segment names and every segment a set uses is defined.
    pub fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, spec) in &self.segments {
            for s in &spec.slots {
                if !s.reference.starts_with('C') && !self.elements.contains_key(&s.reference) {
                    out.push(format!("segments.txt: segment {id} uses element {} which elements.txt does not define", s.reference));
                }
            }
        }
        fn walk(nodes: &[Node], set: &str, st: &Standards, out: &mut Vec<String>) {
            for n in nodes {
                match n {
                    Node::Segment { id, .. } if !st.segments.contains_key(id) => {
                        out.push(format!("{set}.txt: segment {id} is not in segments.txt"))
                    }
                    Node::Loop { children, .. } => walk(children, set, st, out),
                    _ => {}
                }
            }
        }
        for (id, set) in &self.sets {
            walk(&set.body, id, self, &mut out);
        }
        out.sort();
        out
    }
}

/// The definition files compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "elements.txt",
        include_str!("../../../mappings/standards/x12/elements.txt"),
    ),
    (
        "segments.txt",
        include_str!("../../../mappings/standards/x12/segments.txt"),
    ),
    (
        "810.txt",
        include_str!("../../../mappings/standards/x12/810.txt"),
    ),
    (
        "820.txt",
        include_str!("../../../mappings/standards/x12/820.txt"),
    ),
    (
        "850.txt",
        include_str!("../../../mappings/standards/x12/850.txt"),
    ),
    (
        "855.txt",
        include_str!("../../../mappings/standards/x12/855.txt"),
    ),
    (
        "856.txt",
        include_str!("../../../mappings/standards/x12/856.txt"),
    ),
    (
        "860.txt",
        include_str!("../../../mappings/standards/x12/860.txt"),
    ),
    (
        "997.txt",
        include_str!("../../../mappings/standards/x12/997.txt"),
    ),
    (
        "999.txt",
        include_str!("../../../mappings/standards/x12/999.txt"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_matched_exactly_whatever_their_length() {
        let codes = ["A", "ABCDEFG", "ABCDEFGH"].map(String::from).to_vec();
        let el = Element::new(Kind::Id, 1, 10, codes);
        for (value, known) in [
            ("A", true),
            ("ABCDEFG", true),
            ("ABCDEFGH", true),
            ("ABCDEFGx", false),
            ("ABCDEFGHx", false),
            ("A\0", false),
            ("", false),
        ] {
            assert_eq!(el.has_code(value.as_bytes()), known, "{value:?}");
        }
        let short = Element::new(Kind::Id, 1, 10, vec!["ABCDEFG".into()]);
        assert!(short.has_code(b"ABCDEFG"));
        assert!(!short.has_code(b"ABCDEFGx"));
    }

    #[test]
    fn every_segment_definition_is_found_by_its_tag_and_no_other_is() {
        let st = Standards::builtin();
        assert!(st.segments.len() > 50);
        for (id, spec) in &st.segments {
            assert_eq!(st.segment(id.as_bytes()), Some(spec), "{id}");
        }
        for id in ["", "B", "ZZZ", "BEGX", "beg", "BE ", "\u{e9}G", "99"] {
            assert_eq!(st.segment(id.as_bytes()), None, "{id:?}");
        }
        let mut own = Standards::default();
        own.add_file("segments.txt", "ZZ_LONG 353:M\n", &mut Vec::new());
        own.resolve();
        assert!(own.segment(b"ZZ_LONG").is_some());
    }

    #[test]
    fn builtin_definitions_are_complete_and_consistent() {
        let mut s = Standards::default();
        let mut errors = Vec::new();
        for (name, text) in BUILTIN {
            s.add_file(name, text, &mut errors);
        }
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.check(), Vec::<String>::new());
        for set in ["810", "820", "850", "855", "856", "860", "997", "999"] {
            assert!(s.sets.contains_key(set), "{set}");
        }
    }

    #[test]
    fn reports_bad_lines_with_numbers() {
        let mut s = Standards::default();
        let mut e = Vec::new();
        s.add_file(
            "elements.txt",
            "353 ID 2 2\n354 QQ 1 2\n355 AN 5 1\n",
            &mut e,
        );
        s.add_file("x.txt", "set 1 PO 004010 T\nBEG M 1\n  REF O 1\n", &mut e);
        let lines: Vec<_> = e.iter().map(|e| (e.file.as_str(), e.line)).collect();
        assert_eq!(
            lines,
            [("elements.txt", 2), ("elements.txt", 3), ("x.txt", 3)]
        );
    }
}
