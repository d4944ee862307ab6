//! EDIFACT message validation against the message structures in
//! `mappings/standards/edifact/`, and a streaming summary for `edigate validate`.

use super::envelope::{Handler, Interchange, Message, Problem};
use crate::formats::structure::{lines, parse_set, walk_message, Misfit, SetSpec};
use crate::formats::{quoted, Diagnostic, Errors, Position, Severity};
use std::collections::{HashMap, HashSet};

/// Message structures, the known segment tags, and the contents of the common segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    pub sets: HashMap<String, SetSpec>,
    pub tags: HashSet<String>,
    pub segments: crate::util::FastMap<String, SegDef>,
}

/// Character class of an EDIFACT data element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Alpha,
    Numeric,
    AlphaNumeric,
}

/// One simple element or component: `an..35`, `n3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub code: String,
    pub class: Class,
    pub min: usize,
    pub max: usize,
    pub mandatory: bool,
}

/// One data element position: simple, or composite with its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub code: String,
    pub mandatory: bool,
    /// Empty for a simple element (then `simple` holds its format).
    pub components: Vec<Field>,
    pub simple: Option<Field>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegDef {
    pub slots: Vec<Slot>,
    pub open: bool,
}

fn parse_field(s: &str) -> Option<Field> {
    let mut parts = s.split(':');
    let code = parts.next()?.to_string();
    let format = parts.next()?;
    let mandatory = match parts.next()? {
        "M" => true,
        "C" => false,
        _ => return None,
    };
    let (class, rest) = if let Some(r) = format.strip_prefix("an") {
        (Class::AlphaNumeric, r)
    } else if let Some(r) = format.strip_prefix('n') {
        (Class::Numeric, r)
    } else if let Some(r) = format.strip_prefix('a') {
        (Class::Alpha, r)
    } else {
        return None;
    };
    let (min, max) = match rest.strip_prefix("..") {
        Some(m) => (0, m.parse().ok()?),
        None => {
            let n = rest.parse().ok()?;
            (n, n)
        }
    };
    Some(Field {
        code,
        class,
        min,
        max,
        mandatory,
    })
}

/// Parses one line of `elements.txt`.
fn parse_segdef(line: &str) -> Result<(String, SegDef), String> {
    let (tag, rest) = line
        .trim()
        .split_once(char::is_whitespace)
        .unwrap_or((line.trim(), ""));
    let mut def = SegDef::default();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        if rest == "..." {
            def.open = true;
            break;
        }
        let token_end = match (rest.find('('), rest.find(char::is_whitespace)) {
            (Some(p), Some(w)) if p < w => rest.find(')').map(|c| c + 1).ok_or("unclosed (")?,
            (Some(p), None) => rest
                .find(')')
                .map(|c| c + 1)
                .filter(|c| *c > p)
                .ok_or("unclosed (")?,
            (_, Some(w)) => w,
            (_, None) => rest.len(),
        };
        let token = &rest[..token_end];
        rest = rest[token_end..].trim_start();
        let slot = match token.split_once('(') {
            Some((head, body)) => {
                let (code, req) = head
                    .split_once(':')
                    .ok_or(format!("{token:?}: expected CODE:REQ(...)"))?;
                let components = body
                    .trim_end_matches(')')
                    .split_whitespace()
                    .map(|c| {
                        parse_field(c).ok_or(format!("component {c:?} is not CODE:FORMAT:REQ"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Slot {
                    code: code.to_string(),
                    mandatory: req == "M",
                    components,
                    simple: None,
                }
            }
            None => {
                let f = parse_field(token).ok_or(format!("{token:?} is not CODE:FORMAT:REQ"))?;
                Slot {
                    code: f.code.clone(),
                    mandatory: f.mandatory,
                    components: Vec::new(),
                    simple: Some(f),
                }
            }
        };
        def.slots.push(slot);
    }
    Ok((tag.to_string(), def))
}

/// The definition files compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "segments.txt",
        include_str!("../../../mappings/standards/edifact/segments.txt"),
    ),
    (
        "elements.txt",
        include_str!("../../../mappings/standards/edifact/elements.txt"),
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
        if name == "elements.txt" {
            for (n, l) in lines(text) {
                match parse_segdef(l) {
                    Ok((tag, def)) => {
                        self.tags.insert(tag.clone());
                        self.segments.insert(tag, def);
                    }
                    Err(e) => errors.push((name.to_string(), n, e)),
                }
            }
            return;
        }
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
    if let Some((covered, problems)) = m.take_ahead(defs) {
        m.problems = problems;
        return covered;
    }
    let dir = m.directory();
    let Some(set) = defs.sets.get(&m.kind).filter(|s| s.covers(&dir)) else {
        return false;
    };
    // Element errors, then the structure's, each in segment order and counted past the bound.
    let mut more = elements(m, defs);
    let segments = m.segments().map(|s| (s.id(), s.offset));
    let mut walked = Errors::default();
    for e in walk_message(set, segments, m.closed, |t| defs.tags.contains(t)) {
        walked.push_with(|| {
            let (code, dcode) = match e.kind {
                Misfit::Missing => ("13", "edifact.segment_missing"),
                Misfit::Repeats => ("35", "edifact.segment_repeats"),
                Misfit::LoopRepeats => ("36", "edifact.group_repeats"),
                Misfit::Unexpected => ("15", "edifact.segment_unexpected"),
                Misfit::NotInSet => ("15", "edifact.segment_not_in_message"),
                Misfit::Unknown => ("15", "edifact.segment_unknown"),
            };
            Problem {
                code,
                diagnostic: Diagnostic {
                    severity: Severity::Error,
                    code: dcode,
                    message: e.message("message"),
                    position: Position {
                        offset: e.offset,
                        segment: Some(e.index + 1),
                        segment_id: e.segment_id.clone(),
                        ..Position::default()
                    },
                },
            }
        });
    }
    m.problems.append(&mut walked.kept);
    more += walked.more;
    crate::formats::keep_first_errors(&mut m.problems, more, |p| &mut p.diagnostic);
    true
}

/// Checks the data elements of every segment of `m` that `elements.txt` defines.
fn elements(m: &mut Message, defs: &Messages) -> usize {
    let mut found = Errors::default();
    let decimal = m.delims.decimal;
    // Facts about the whole message found in one pass: when it is ASCII without a release
    // character, no value needs unescaping and none is tested for either again.
    let data = m.body().data();
    let plain = data.is_ascii()
        && m.delims
            .release
            .is_none_or(|r| memchr::memchr(r, data).is_none());
    let release = if plain { None } else { m.delims.release };
    for (i, seg) in m.segments().enumerate() {
        let Ok(tag) = std::str::from_utf8(seg.id()) else {
            continue;
        };
        let Some(def) = defs.segments.get(tag) else {
            continue;
        };
        let mut elements = super::lexer::split_iter(seg.raw, m.delims.element, release);
        elements.next(); // the tag
        let mut problem = |code: &'static str,
                           dcode: &'static str,
                           e: usize,
                           c: Option<usize>,
                           message: String| {
            found.push(Problem {
                code,
                diagnostic: Diagnostic {
                    severity: Severity::Error,
                    code: dcode,
                    message: format!(
                        "{tag} element {e}{}: {message}",
                        c.map(|c| format!(".{c}")).unwrap_or_default()
                    ),
                    position: Position {
                        offset: seg.offset,
                        segment: Some(i + 1),
                        segment_id: tag.to_string(),
                        element: Some(e),
                        component: c,
                    },
                },
            })
        };
        for (k, slot) in def.slots.iter().enumerate() {
            let raw = elements.next().unwrap_or(b"");
            if raw.is_empty() {
                if slot.mandatory {
                    problem(
                        "13",
                        "edifact.element_missing",
                        k + 1,
                        None,
                        format!("mandatory element {} is missing", slot.code),
                    );
                }
                continue;
            }
            if let Some(f) = &slot.simple {
                if let Some((code, dcode, why)) = check(f, raw, plain, release, decimal) {
                    problem(code, dcode, k + 1, None, why);
                }
                continue;
            }
            let mut comps = super::lexer::split_iter(raw, m.delims.component, release);
            for (c, f) in slot.components.iter().enumerate() {
                let v = comps.next().unwrap_or(b"");
                if v.is_empty() {
                    if f.mandatory {
                        problem(
                            "13",
                            "edifact.component_missing",
                            k + 1,
                            Some(c + 1),
                            format!("mandatory component {} of {} is missing", f.code, slot.code),
                        );
                    }
                    continue;
                }
                if let Some((code, dcode, why)) = check(f, v, plain, release, decimal) {
                    problem(code, dcode, k + 1, Some(c + 1), why);
                }
            }
            let extra = comps.count();
            if extra > 0 {
                let n = slot.components.len();
                problem(
                    "16",
                    "edifact.too_many_components",
                    k + 1,
                    None,
                    format!(
                        "{} components where {n} are defined in {}",
                        n + extra,
                        slot.code
                    ),
                );
            }
        }
        let extra = elements.count();
        if !def.open && extra > 0 {
            let n = def.slots.len();
            problem(
                "16",
                "edifact.too_many_elements",
                n + 1,
                None,
                format!("{} elements where {n} are defined", n + extra),
            );
        }
    }
    m.problems.extend(found.kept);
    found.more
}

/// The 0085 code, diagnostic code and reason when `raw` (still escaped) does not fit `f`;
/// `plain` when the whole message is known to be ASCII without release characters.
fn check(
    f: &Field,
    raw: &[u8],
    plain: bool,
    release: Option<u8>,
    decimal: u8,
) -> Option<(&'static str, &'static str, String)> {
    // The common case, plain ASCII without release characters, is checked on the bytes.
    if plain || (raw.is_ascii() && !release.is_some_and(|r| raw.contains(&r))) {
        let ok = match f.class {
            Class::Numeric => {
                let body = raw.strip_prefix(b"-").unwrap_or(raw);
                let digits = body.iter().filter(|b| b.is_ascii_digit()).count();
                let marks = body.len() - digits;
                marks <= 1
                    && digits > 0
                    && body
                        .iter()
                        .all(|b| b.is_ascii_digit() || *b == decimal || *b == b'.' || *b == b',')
                    && digits >= f.min
                    && digits <= f.max
            }
            Class::Alpha => {
                !raw.iter().any(u8::is_ascii_digit) && raw.len() >= f.min && raw.len() <= f.max
            }
            Class::AlphaNumeric => raw.len() >= f.min && raw.len() <= f.max,
        };
        if ok {
            return None;
        }
    }
    let value = super::lexer::unescape(raw, release);
    let n = match f.class {
        Class::Numeric => {
            let body = value.strip_prefix('-').unwrap_or(&value);
            let mut marks = 0;
            let mut digits = 0;
            for ch in body.chars() {
                if ch.is_ascii_digit() {
                    digits += 1;
                } else if ch == char::from(decimal) || ch == '.' || ch == ',' {
                    marks += 1;
                } else {
                    return Some((
                        "37",
                        "edifact.not_numeric",
                        format!("{} {} is not numeric", f.code, quoted(&value)),
                    ));
                }
            }
            if marks > 1 || digits == 0 {
                return Some((
                    "37",
                    "edifact.not_numeric",
                    format!("{} {} is not numeric", f.code, quoted(&value)),
                ));
            }
            digits
        }
        Class::Alpha if value.chars().any(|c| c.is_ascii_digit()) => {
            return Some((
                "37",
                "edifact.not_alphabetic",
                format!("{} {} holds digits", f.code, quoted(&value)),
            ));
        }
        _ => value.chars().count(),
    };
    if n > f.max {
        Some((
            "39",
            "edifact.too_long",
            format!("{} {} is longer than {}", f.code, quoted(&value), f.max),
        ))
    } else if n < f.min {
        Some((
            "40",
            "edifact.too_short",
            format!("{} {} is shorter than {}", f.code, quoted(&value), f.min),
        ))
    } else {
        None
    }
}

/// Validates everything `src` holds, one message at a time. With `pipe`, the reading and the
/// envelopes on a second thread (see `pipe`), the validation on this one.
pub fn summary(
    src: impl std::io::Read + Send,
    defs: &Messages,
    limit: usize,
    pipe: bool,
) -> std::io::Result<crate::formats::Summary> {
    use crate::formats::packed::KeepMode;
    use crate::formats::Summary;
    struct V<'a> {
        defs: &'a Messages,
        s: Summary,
        limit: usize,
    }
    impl V<'_> {
        fn note(&mut self, d: &Diagnostic) {
            self.s.note(d, self.limit);
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
        fn keep(&self) -> KeepMode {
            KeepMode::Nothing
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
    v.s.bytes = match pipe {
        true => super::pipe::parse_reader(src, &mut v, None)?,
        false => super::envelope::parse_reader(src, &mut v)?,
    };
    v.s.diagnostics.sort_by_key(|d| d.position.offset);
    Ok(v.s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::edifact::parse;

    #[test]
    fn element_formats_lengths_and_components() {
        let defs = Messages::builtin();
        let text = "UNB+UNOC:3+S:14+R:14+200101:1200+1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9+++X'DTM+137:20200101:102:XX'DTM+:20200101'NAD+BY+1::9'LIN+1++X:SA'PRI+AAA:1.2.3'PRI+AAA:1234567890123456'QTY+21:5'UNS+S'UNT+11+1'UNZ+1+1'";
        let mut f = parse(text.as_bytes());
        let m = &mut f.interchanges[0].messages[0];
        message(m, &defs);
        let got: Vec<_> = m
            .problems
            .iter()
            .filter(|p| p.diagnostic.position.element.is_some())
            .map(|p| {
                let pos = &p.diagnostic.position;
                format!(
                    "{}@{}.{}{} {}",
                    pos.segment_id,
                    pos.segment.unwrap_or(0),
                    pos.element.unwrap_or(0),
                    pos.component.map(|c| format!(".{c}")).unwrap_or_default(),
                    p.code
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "BGM@2.5 16",
                "DTM@3.1 16",
                "DTM@4.1.1 13",
                "PRI@7.1.2 37",
                "PRI@8.1.2 39"
            ]
        );
    }

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
