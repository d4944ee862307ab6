//! X12 message definitions read from data files (`mappings/standards/x12/`): the element
//! dictionary, the segment dictionary and one structure file per transaction set. Parsing
//! them is pure; the caller reads the files.

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Mandatory,
    Optional,
    /// Conditional: required by a syntax note (not checked yet), otherwise optional.
    Conditional,
}

/// One element position in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Data element reference number (`353`) or composite id (`C040`).
    pub reference: String,
    pub req: Req,
}

/// The elements of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegSpec {
    pub slots: Vec<Slot>,
    /// More elements than `slots` may follow (they are not checked).
    pub open: bool,
}

/// A node of a transaction set structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Segment {
        id: String,
        req: Req,
        max: usize,
    },
    Loop {
        id: String,
        req: Req,
        max: usize,
        children: Vec<Node>,
    },
}

impl Node {
    /// The segment that starts this node.
    pub fn trigger(&self) -> &str {
        match self {
            Node::Segment { id, .. } => id,
            Node::Loop { children, .. } => children.first().map_or("", |c| c.trigger()),
        }
    }

    pub fn req(&self) -> Req {
        match self {
            Node::Segment { req, .. } | Node::Loop { req, .. } => *req,
        }
    }

    pub fn max(&self) -> usize {
        match self {
            Node::Segment { max, .. } | Node::Loop { max, .. } => *max,
        }
    }

    fn contains(&self, seg: &str) -> bool {
        match self {
            Node::Segment { id, .. } => id == seg,
            Node::Loop { children, .. } => children.iter().any(|c| c.contains(seg)),
        }
    }
}

/// The structure of one transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec {
    pub id: String,
    /// Expected GS01 functional identifier.
    pub functional_id: String,
    pub title: String,
    /// Versions (GS08, first six characters) this definition applies to.
    pub versions: Vec<String>,
    /// The body: everything between ST and SE.
    pub body: Vec<Node>,
}

impl SetSpec {
    /// Whether this definition covers a group version such as `004010` or `005010X222A1`.
    pub fn covers(&self, version: &str) -> bool {
        self.versions
            .iter()
            .any(|v| version.starts_with(v.as_str()))
    }

    pub fn uses(&self, seg: &str) -> bool {
        self.body.iter().any(|n| n.contains(seg))
    }
}

/// Every definition loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standards {
    pub elements: HashMap<String, Element>,
    pub segments: HashMap<String, SegSpec>,
    pub sets: HashMap<String, SetSpec>,
}

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

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim_end()))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn req(s: &str) -> Option<Req> {
    match s {
        "M" => Some(Req::Mandatory),
        "O" => Some(Req::Optional),
        "X" => Some(Req::Conditional),
        _ => None,
    }
}

fn repeat(s: &str) -> Option<usize> {
    if s == ">1" {
        Some(usize::MAX)
    } else {
        s.parse().ok().filter(|n| *n > 0)
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
        s
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
                    self.elements.insert(
                        f[0].to_string(),
                        Element {
                            kind,
                            min,
                            max,
                            codes,
                        },
                    );
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

/// Parses a set file: a header `set ID FUNCTIONAL "Title"`, then one node per line, loops
/// opened by `loop ID REQ MAX` and closed by indentation.
fn parse_set(text: &str) -> Result<SetSpec, (usize, String)> {
    let mut it = lines(text).peekable();
    let (n, head) = it.next().ok_or((1, "empty set file".to_string()))?;
    let f: Vec<&str> = head.split_whitespace().collect();
    if f.len() < 4 || f[0] != "set" {
        return Err((
            n,
            "the first line must be: set ID FUNCTIONAL_ID VERSION... Title".into(),
        ));
    }
    let versions: Vec<String> = f[3..]
        .iter()
        .take_while(|v| v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| v.to_string())
        .collect();
    if versions.is_empty() {
        return Err((
            n,
            "the set line names no version (six digits, such as 004010)".into(),
        ));
    }
    let body_lines: Vec<(usize, usize, &str)> = it
        .map(|(n, l)| (n, l.len() - l.trim_start().len(), l.trim()))
        .collect();
    let (body, rest) = parse_nodes(&body_lines, 0)?;
    if let Some((n, _, _)) = rest.first() {
        return Err((*n, "unexpected indentation".into()));
    }
    Ok(SetSpec {
        id: f[1].to_string(),
        functional_id: f[2].to_string(),
        title: f[3 + versions.len()..].join(" "),
        versions,
        body,
    })
}

type Lines<'a> = [(usize, usize, &'a str)];

fn parse_nodes<'a, 'l>(
    mut ls: &'l Lines<'a>,
    indent: usize,
) -> Result<(Vec<Node>, &'l Lines<'a>), (usize, String)> {
    let mut nodes = Vec::new();
    while let Some(&(n, ind, l)) = ls.first() {
        if ind < indent {
            break;
        }
        if ind > indent {
            return Err((n, "unexpected indentation".into()));
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        ls = &ls[1..];
        let bad = || {
            (
                n,
                format!("expected `SEG REQ MAX` or `loop ID REQ MAX`, got {l:?}"),
            )
        };
        if f[0] == "loop" {
            if f.len() != 4 {
                return Err(bad());
            }
            let (req, max) = (req(f[2]).ok_or_else(bad)?, repeat(f[3]).ok_or_else(bad)?);
            let child_indent = ls.first().map_or(0, |x| x.1);
            if child_indent <= indent {
                return Err((n, format!("loop {} has no segments", f[1])));
            }
            let (children, rest) = parse_nodes(ls, child_indent)?;
            ls = rest;
            nodes.push(Node::Loop {
                id: f[1].to_string(),
                req,
                max,
                children,
            });
        } else {
            if f.len() != 3 {
                return Err(bad());
            }
            nodes.push(Node::Segment {
                id: f[0].to_string(),
                req: req(f[1]).ok_or_else(bad)?,
                max: repeat(f[2]).ok_or_else(bad)?,
            });
        }
    }
    Ok((nodes, ls))
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
