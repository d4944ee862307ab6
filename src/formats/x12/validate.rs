//! Validation of one transaction set against its definition: segment order, loops and their
//! repeats, mandatory segments and elements, lengths, data types and code lists. Every problem
//! becomes an `Issue` with its AK3/AK4 codes; nothing stops at the first error.

use super::envelope::{Issue, Transaction};
use super::fields::Split;
use super::spec::{Element, Kind, Req, SetSpec, Standards};
use crate::formats::structure::{walk_message, Misfit};
pub use crate::formats::Summary;
use crate::formats::{Diagnostic, Errors, Position, Severity};

/// Validates `tx` (in a group of `version`) if a definition covers it; returns whether one did.
pub fn transaction(tx: &mut Transaction, st: &Standards, version: &str) -> bool {
    if let Some((covered, issues)) = tx.take_ahead(st, version) {
        tx.issues.extend(issues);
        return covered;
    }
    let Some(set) = st.sets.get(&tx.id).filter(|s| s.covers(version)) else {
        return false;
    };
    // Each kind in segment order, so that the first kept of both are the first of all.
    let mut found = Errors::default();
    structure(set, tx, st, &mut found);
    let mut issues = std::mem::take(&mut found.kept);
    let mut more = found.more;
    found.more = 0;
    let text = Text {
        repetition: tx.repetition(),
        printable: tx.printable(),
    };
    for (i, seg) in tx.split().enumerate() {
        elements(&seg, text, i, st, &mut found);
    }
    issues.append(&mut found.kept);
    more += found.more;
    issues.sort_by_key(|i: &Issue| (i.diagnostic.position.segment, i.diagnostic.position.element));
    crate::formats::keep_first_errors(&mut issues, more, |i| &mut i.diagnostic);
    tx.issues.extend(issues);
    true
}

fn issue(
    tx_seg: Option<(usize, usize)>,
    segment_id: &str,
    segment_code: &'static str,
    code: &'static str,
    message: String,
) -> Issue {
    let (offset, index) = tx_seg.unwrap_or((0, 0));
    Issue {
        segment_code,
        element_code: None,
        element_ref: None,
        bad_value: String::new(),
        diagnostic: Diagnostic {
            severity: Severity::Error,
            code,
            message,
            position: Position {
                offset,
                segment: Some(index + 1),
                segment_id: segment_id.to_string(),
                element: None,
                component: None,
            },
        },
    }
}

fn structure(set: &SetSpec, tx: &Transaction, st: &Standards, out: &mut Errors<Issue>) {
    let segments = tx.tags();
    for m in walk_message(set, segments, tx.closed, |id| st.segments.contains_key(id)) {
        out.push_with(|| {
            let (seg_code, code) = match m.kind {
                Misfit::Missing => ("3", "x12.segment_missing"),
                Misfit::Repeats => ("5", "x12.segment_repeats"),
                Misfit::LoopRepeats => ("4", "x12.loop_repeats"),
                Misfit::Unexpected => ("2", "x12.segment_unexpected"),
                Misfit::NotInSet => ("6", "x12.segment_not_in_set"),
                Misfit::Unknown => ("1", "x12.segment_unknown"),
            };
            let message = m.message("transaction set");
            issue(
                Some((m.offset, m.index)),
                &m.segment_id,
                seg_code,
                code,
                message,
            )
        });
    }
}

/// What holds for the text of a whole transaction set.
#[derive(Debug, Clone, Copy)]
struct Text {
    /// The repetition separator, when an element may hold it.
    repetition: Option<u8>,
    /// Whether every byte is printable ASCII.
    printable: bool,
}

fn elements(seg: &Split<'_>, text: Text, index: usize, st: &Standards, out: &mut Errors<Issue>) {
    let Some(spec) = st.segment(seg.id) else {
        return;
    };

    if spec.slots.is_empty() {
        return;
    }
    let mut push = |k: usize,
                    reference: &str,
                    code: &'static str,
                    dcode: &'static str,
                    value: &[u8],
                    message: String| {
        // Every defined tag is ASCII.
        let id = std::str::from_utf8(seg.id).unwrap_or("?");
        out.push(Issue {
            segment_code: "8",
            element_code: Some(code),
            element_ref: reference.parse().ok(),
            bad_value: String::from_utf8_lossy(value).into_owned(),
            diagnostic: Diagnostic {
                severity: Severity::Error,
                code: dcode,
                message: format!("{id}{:02}: {message}", k + 1),
                position: Position {
                    offset: seg.offset,
                    segment: Some(index + 1),
                    segment_id: id.to_string(),
                    element: Some(k + 1),
                    component: None,
                },
            },
        });
    };
    let mut values = seg.elements();
    for (k, slot) in spec.slots.iter().enumerate() {
        let value = values.next().unwrap_or(b"");
        if value.is_empty() {
            if slot.req == Req::Mandatory {
                push(
                    k,
                    &slot.reference,
                    "1",
                    "x12.element_missing",
                    value,
                    format!("mandatory element {} is missing", slot.reference),
                );
            }
            continue;
        }
        let Some(el) = &slot.element else {
            continue;
        };
        if let Some((code, dcode, why)) = check_in(el, value, text) {
            push(
                k,
                &slot.reference,
                code,
                dcode,
                value,
                format!("element {} {why}", slot.reference),
            );
        }
    }
    if !spec.open {
        if let Some(first) = values.next() {
            let count = spec.slots.len() + 1 + values.count();
            push(
                spec.slots.len(),
                "",
                "3",
                "x12.too_many_elements",
                first,
                format!("{count} elements where {} are defined", spec.slots.len()),
            );
        }
    }
}

/// The AK403 code, diagnostic code and reason when `value` does not fit `el`.
#[inline]
pub fn check(
    el: &Element,
    value: &[u8],
    repetition: Option<u8>,
) -> Option<(&'static str, &'static str, String)> {
    let text = Text {
        repetition,
        printable: false,
    };
    check_in(el, value, text)
}

/// [`check`] for a value of a transaction whose text is `text`.
#[inline]
fn check_in(
    el: &Element,
    value: &[u8],
    text: Text,
) -> Option<(&'static str, &'static str, String)> {
    fault(el, value, text).map(|(f, v)| describe(f, el, v))
}

/// How a value does not fit its element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    NotPrintable,
    NotWhole,
    NotDecimal,
    Short,
    Long,
    NotACode,
    NotADate,
    NotATime,
}

/// The first fault of `value` (or of one of its repeats) and the text it was found in:
/// the checks alone, kept quick for the values that pass.
#[inline]
fn fault<'v>(el: &Element, value: &'v [u8], text: Text) -> Option<(Fault, &'v [u8])> {
    if let Some(r) = text.repetition {
        if el.kind != Kind::Composite && value.contains(&r) {
            return value
                .split(|b| *b == r)
                .find_map(|v| fault_of(el, v, text.printable).map(|f| (f, v)));
        }
    }
    fault_of(el, value, text.printable).map(|f| (f, value))
}

/// The fault of one value (not a list of repeats); `printable` when every byte of it is
/// known to be printable ASCII.
#[inline(always)]
fn fault_of(el: &Element, value: &[u8], printable: bool) -> Option<Fault> {
    let length = |n: usize| {
        if n < el.min {
            Some(Fault::Short)
        } else if n > el.max {
            Some(Fault::Long)
        } else {
            None
        }
    };
    match el.kind {
        Kind::Composite | Kind::B => None,
        Kind::An | Kind::Id => {
            // Printable ASCII, the common case: known for the whole transaction, or found in
            // one test per byte.
            let n = if printable || value.iter().all(|b| (0x20..0x7F).contains(b)) {
                value.len()
            } else if value.iter().any(|&b| b < 0x20 || b == 0x7F) {
                return Some(Fault::NotPrintable);
            } else {
                String::from_utf8_lossy(value).chars().count()
            };
            length(n).or_else(|| {
                (el.kind == Kind::Id
                    && !el.codes.is_empty()
                    && !el.has_code(value.trim_ascii_end()))
                .then_some(Fault::NotACode)
            })
        }
        Kind::N(_) => {
            let digits = value.strip_prefix(b"-").unwrap_or(value);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                Some(Fault::NotWhole)
            } else {
                length(digits.len())
            }
        }
        Kind::R => {
            let body = value.strip_prefix(b"-").unwrap_or(value);
            let (mut points, mut digits, mut other) = (0usize, 0usize, false);
            for &b in body {
                digits += usize::from(b.is_ascii_digit());
                points += usize::from(b == b'.');
                other |= !b.is_ascii_digit() && b != b'.';
            }
            if other || points > 1 || digits == 0 {
                Some(Fault::NotDecimal)
            } else {
                length(digits)
            }
        }
        Kind::Dt => {
            let text = std::str::from_utf8(value).unwrap_or("");
            let ok = value.iter().all(u8::is_ascii_digit)
                && match value.len() {
                    8 => crate::formats::x12::envelope::ccyymmdd(text),
                    6 => crate::formats::x12::envelope::yymmdd(text),
                    _ => false,
                };
            (!ok || value.len() < el.min).then_some(Fault::NotADate)
        }
        Kind::Tm => {
            let ok = (4..=8).contains(&value.len())
                && value.iter().all(u8::is_ascii_digit)
                && crate::formats::x12::envelope::hhmm(std::str::from_utf8(value).unwrap_or(""));
            (!ok).then_some(Fault::NotATime)
        }
    }
}

/// The AK403 code, diagnostic code and reason of a fault found in `value`.
#[cold]
fn describe(fault: Fault, el: &Element, value: &[u8]) -> (&'static str, &'static str, String) {
    let shown = crate::formats::quoted(&String::from_utf8_lossy(value));
    match fault {
        Fault::NotPrintable => (
            "6",
            "x12.invalid_character",
            format!("{shown} is not printable text"),
        ),
        Fault::NotWhole => (
            "6",
            "x12.invalid_character",
            format!("{shown} is not a whole number"),
        ),
        Fault::NotDecimal => (
            "6",
            "x12.invalid_character",
            format!("{shown} is not a decimal number"),
        ),
        Fault::Short => (
            "4",
            "x12.too_short",
            format!("{shown} is shorter than {} characters", el.min),
        ),
        Fault::Long => (
            "5",
            "x12.too_long",
            format!("{shown} is longer than {} characters", el.max),
        ),
        Fault::NotACode => (
            "7",
            "x12.invalid_code",
            format!("{shown} is not one of {}", el.codes.join(", ")),
        ),
        Fault::NotADate => (
            "8",
            "x12.invalid_date",
            format!("{shown} is not a valid date"),
        ),
        Fault::NotATime => (
            "9",
            "x12.invalid_time",
            format!("{shown} is not a valid time"),
        ),
    }
}

/// Validates everything `src` holds in bounded memory: one transaction set at a time. With
/// `pipe`, the reading and the envelopes on a second thread (see `pipe`), the validation on
/// this one.
pub fn summary(
    src: impl std::io::Read + Send,
    st: &Standards,
    limit: usize,
    pipe: bool,
) -> std::io::Result<Summary> {
    use super::envelope::{Group, Handler, Interchange, KeepMode};
    struct V<'a> {
        st: &'a Standards,
        s: Summary,
        limit: usize,
    }
    impl V<'_> {
        fn note(&mut self, d: &Diagnostic) {
            self.s.note(d, self.limit);
        }
    }
    impl Handler for V<'_> {
        fn transaction(&mut self, _ic: &Interchange, g: &Group, tx: &mut Transaction) {
            self.s.transactions += 1;
            self.s.segments += tx.len();
            if !transaction(tx, self.st, &g.version) {
                self.s.unchecked_transactions += 1;
            }
            if tx.rejected() {
                self.s.rejected_transactions += 1;
            }
            for d in tx
                .problems
                .iter()
                .map(|p| &p.diagnostic)
                .chain(tx.issues.iter().map(|i| &i.diagnostic))
            {
                self.note(d);
            }
        }
        fn keep(&self) -> KeepMode {
            KeepMode::Nothing
        }
        fn interchange(&mut self, ic: Interchange) {
            self.s.interchanges += 1;
            self.s.segments += 1 + usize::from(ic.closed);
            self.s.rejected_interchanges += usize::from(ic.rejected());
            for p in &ic.problems {
                self.note(&p.diagnostic);
            }
            for g in &ic.groups {
                self.s.groups += 1;
                self.s.segments += 1 + usize::from(g.ge_count.is_some());
                self.s.rejected_groups += usize::from(g.rejected());
                for p in &g.problems {
                    self.note(&p.diagnostic);
                }
            }
        }
        fn stray(&mut self, d: Diagnostic) {
            self.note(&d);
        }
    }
    let mut v = V {
        st,
        s: Summary::default(),
        limit,
    };
    let bytes = match pipe {
        true => super::pipe::parse_reader(src, &mut v, None)?,
        false => super::stream::parse_reader(src, &mut v)?,
    };
    v.s.bytes = bytes;
    v.s.diagnostics.sort_by_key(|d| d.position.offset);
    Ok(v.s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x12::parse;

    fn issues(body: &str) -> Vec<String> {
        let text = format!(
            "ISA*00*          *00*          *ZZ*A              *ZZ*B              *260517*1015*U*00401*000000001*0*P*>~GS*PO*A*B*20260517*1015*1*X*004010~{body}GE*1*1~IEA*1*000000001~"
        );
        let mut f = parse(text.as_bytes());
        let tx = &mut f.interchanges[0].groups[0].transactions[0];
        transaction(tx, &Standards::builtin(), "004010");
        tx.issues
            .iter()
            .map(|i| {
                let p = &i.diagnostic.position;
                format!(
                    "{}@{}{} {}{}",
                    p.segment_id,
                    p.segment.unwrap_or(0),
                    p.element.map(|e| format!(".{e}")).unwrap_or_default(),
                    i.segment_code,
                    i.element_code.map(|c| format!("/{c}")).unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn a_good_850_has_no_issues() {
        let body = "ST*850*0001~BEG*00*SA*PO1**20260517~REF*DP*1~N1*ST*X*92*0001~N3*A~N4*CHICAGO*IL*60601*US~PO1*1*2*EA*1.5**BP*X~PID*F****D~PO1*2*2*EA*1.5**BP*Y~CTT*2~SE*11*0001~";
        assert_eq!(issues(body), Vec::<String>::new());
    }

    #[test]
    fn finds_order_repeat_missing_and_element_errors_all_at_once() {
        // BEG repeated, N1 loop after PO1 loop is fine inside PO1, CTT before PO1 is out of
        // order, ZZZ is unknown, BEG05 is not a date, PO102 not a number, PO1 loop present.
        let body = "ST*850*0001~BEG*00*SA*PO1**20261399~BEG*00*SA*PO1**20260517~ZZZ*1~PO1*1*X*EA*1**BP*X~CTT*1~REF*DP*1~SE*8*0001~";
        assert_eq!(
            issues(body),
            [
                "BEG@2.5 8/8",
                "BEG@3 5",
                "ZZZ@4 1",
                "PO1@5.2 8/6",
                "REF@7 2"
            ]
        );
        // No BEG, no PO1 loop.
        let body = "ST*850*0001~REF*DP*1~SE*3*0001~";
        assert_eq!(issues(body), ["BEG@2 3", "PO1@3 3"]);
        // Mandatory element missing and too long, too many elements.
        let body = "ST*850*0001~BEG*00*SA***20260517~PO1*1*1*EA*1**BP*X~N9*DP*12345678901234567890123456789012345678901234567890X~SE*5*0001~";
        assert_eq!(issues(body), ["BEG@2.3 8/1", "N9@4.2 8/5"]);
    }

    #[test]
    fn text_that_is_not_printable_is_found_in_a_whole_transaction() {
        // N102 (AN 1-60) with a control character; N301 (AN 1-55) with 55 characters, one of
        // them two bytes long (counted as one); N401 (AN 2-30) with a DEL.
        let wide = format!("{}é", "A".repeat(54));
        let body = format!(
            "ST*850*0001~BEG*00*SA*PO1**20260517~N1*ST*X\u{7}Y*92*0001~N3*{wide}~N4*\u{7f}B~PO1*1*2*EA*1.5**BP*X~SE*7*0001~"
        );
        assert_eq!(issues(&body), ["N1@3.2 8/6", "N4@5.1 8/6"]);
        let clean = body.replace('\u{7}', " ").replace('\u{7f}', "A");
        assert_eq!(issues(&clean), Vec::<String>::new());
    }

    #[test]
    fn element_types() {
        let el = |k, min, max| Element::new(k, min, max, vec![]);
        assert!(check(&el(Kind::R, 1, 5), b"-1.25", None).is_none());
        assert_eq!(check(&el(Kind::R, 1, 5), b"1.2.3", None).unwrap().0, "6");
        assert_eq!(check(&el(Kind::R, 1, 3), b"1234", None).unwrap().0, "5");
        assert_eq!(check(&el(Kind::N(2), 1, 5), b"12a", None).unwrap().0, "6");
        assert_eq!(check(&el(Kind::An, 2, 5), b"a", None).unwrap().0, "4");
        assert_eq!(check(&el(Kind::Tm, 4, 8), b"2460", None).unwrap().0, "9");
        assert!(check(&el(Kind::Tm, 4, 8), b"235959", None).is_none());
        let id = Element::new(Kind::Id, 1, 1, vec!["A".into(), "R".into()]);
        assert_eq!(check(&id, b"Q", None).unwrap().0, "7");
        assert!(check(&id, b"A^R", Some(b'^')).is_none());
    }
}
