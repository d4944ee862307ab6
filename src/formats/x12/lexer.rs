//! X12 tokenizer: finds the separators in each ISA and the segments after it, one step at a
//! time over a buffer that may hold only part of the input (see `stream`).

use memchr::memchr;

/// The four delimiters of one interchange, read from its ISA segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub element: u8,
    pub component: u8,
    /// ISA11 when the version (ISA12) is 00402 or later and ISA11 is a delimiter.
    pub repetition: Option<u8>,
    pub segment: u8,
    /// Whether a line break followed the segment terminator of the ISA (kept when we answer).
    pub line_break: bool,
}

impl Default for Separators {
    fn default() -> Self {
        Separators {
            element: b'*',
            component: b'>',
            repetition: Some(b'^'),
            segment: b'~',
            line_break: true,
        }
    }
}

impl Separators {
    /// True when line breaks are not the terminator, so a break inside a segment is a wrap.
    pub fn wraps(&self) -> bool {
        !matches!(self.segment, b'\r' | b'\n')
    }
}

/// One segment: its bytes without the terminator, and where it starts in the input.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub offset: usize,
    pub raw: &'a [u8],
    pub seps: Separators,
}

impl PartialEq for Segment<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset && self.raw == other.raw
    }
}

impl<'a> Segment<'a> {
    /// The segment tag (`ISA`, `BEG`, ...).
    pub fn id(&self) -> &'a [u8] {
        // A tag is two or three bytes: a plain scan is quicker than memchr.
        match self.raw.iter().position(|b| *b == self.seps.element) {
            Some(i) => &self.raw[..i],
            None => self.raw,
        }
    }

    /// Elements after the tag: the first item is element 01.
    pub fn elements(&self) -> Elements<'a> {
        let id = self.id().len();
        Elements {
            rest: &self.raw[(id + 1).min(self.raw.len())..],
            sep: self.seps.element,
            // No separator at all: a tag without elements.
            done: id == self.raw.len(),
        }
    }

    /// Element `n` (1-based, as in `BEG03`), empty when absent.
    pub fn el(&self, n: usize) -> &'a [u8] {
        self.elements().nth(n.wrapping_sub(1)).unwrap_or(b"")
    }

    /// Element `n` as text (see [`text_of`]).
    pub fn text(&self, n: usize) -> String {
        text_of(self.el(n))
    }

    /// Element `n` as text to compare (see [`text_ref`]).
    pub fn text_ref(&self, n: usize) -> std::borrow::Cow<'a, str> {
        text_ref(self.el(n))
    }

    /// Number of elements after the tag, trailing empty ones included.
    pub fn element_count(&self) -> usize {
        self.elements().count()
    }
}

/// Element bytes as text: UTF-8 when they are valid UTF-8, otherwise Latin-1 (every byte is a
/// character), so accented names never turn into replacement characters. Trailing spaces are
/// trimmed. One allocation.
pub fn text_of(raw: &[u8]) -> String {
    text_ref(raw).into_owned()
}

/// [`text_of`] without an allocation when the element is UTF-8 (for comparing).
pub fn text_ref(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(t) => std::borrow::Cow::Borrowed(t.trim_end()),
        Err(_) => {
            let text: String = raw.iter().map(|b| char::from(*b)).collect();
            std::borrow::Cow::Owned(text.trim_end().to_string())
        }
    }
}

/// Iterator over the elements of a segment. Elements are a few bytes long, so a plain scan
/// beats `memchr` (whose set-up costs more than the search).
pub struct Elements<'a> {
    rest: &'a [u8],
    sep: u8,
    done: bool,
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        match self.rest.iter().position(|b| *b == self.sep) {
            Some(i) => {
                let v = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(v)
            }
            None => {
                self.done = true;
                Some(self.rest)
            }
        }
    }
}

/// Why the tokenizer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    /// Text that is not an X12 interchange where one was expected.
    NotX12 { offset: usize },
    /// The ISA segment is unusable (TA1 note code in `ta1`).
    BadIsa {
        offset: usize,
        reason: &'static str,
        ta1: &'static str,
    },
    /// The input ends inside a segment (no terminator).
    Unterminated { offset: usize },
}

pub use crate::formats::stream::Step as GenericStep;
/// One step of the X12 tokenizer.
pub type Step = GenericStep<LexError>;

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0)
}

/// Reads the delimiters from an ISA at `buf[start..]`. Tolerates a variable-width ISA and line
/// breaks inside it (wrapped files). `offset` is the absolute position, for errors.
/// `Ok(None)` means more input is needed.
pub fn detect(
    buf: &[u8],
    start: usize,
    offset: usize,
    eof: bool,
) -> Result<Option<Separators>, LexError> {
    let bad = |reason, ta1| LexError::BadIsa {
        offset,
        reason,
        ta1,
    };
    let isa = &buf[start..];
    if isa.len() < 4 {
        return if eof {
            Err(LexError::Unterminated { offset })
        } else {
            Ok(None)
        };
    }
    let element = isa[3];
    if element.is_ascii_alphanumeric() || is_blank(element) {
        return Err(bad(
            "the element separator after ISA is a letter, digit or blank",
            "026",
        ));
    }
    // Walk to the 16th element separator, keeping ISA11 and ISA12 (without wrap breaks): the
    // only fields the delimiters depend on.
    let window = &isa[..isa.len().min(256)];
    let (mut field, mut repetition, mut version) = (0, Vec::new(), Vec::new());
    let mut sixteenth = None;
    for (i, b) in window.iter().enumerate().skip(4) {
        if *b == element {
            field += 1;
            if field == 15 {
                sixteenth = Some(i);
                break;
            }
        } else if !matches!(b, b'\r' | b'\n') {
            match field {
                10 => repetition.push(*b),
                11 => version.push(*b),
                _ => {}
            }
        }
    }
    let Some(k) = sixteenth else {
        if window.len() < 256 && !eof {
            return Ok(None);
        }
        return Err(bad("the ISA segment has fewer than 16 elements", "022"));
    };
    if k + 3 >= isa.len() && !eof {
        return Ok(None);
    }
    if k + 2 >= isa.len() {
        return Err(LexError::Unterminated { offset });
    }
    let component = isa[k + 1];
    let segment = isa[k + 2];
    if component == element || component.is_ascii_alphanumeric() || is_blank(component) {
        return Err(bad(
            "the component separator (ISA16) is not a usable delimiter",
            "027",
        ));
    }
    if segment == element || segment == component || segment.is_ascii_alphanumeric() {
        return Err(bad(
            "the segment terminator after ISA16 is not a usable delimiter",
            "004",
        ));
    }
    let repetition = match repetition.as_slice() {
        [r] if version.as_slice() >= b"00402".as_slice()
            && !r.is_ascii_alphanumeric()
            && !is_blank(*r) =>
        {
            Some(*r)
        }
        _ => None,
    };
    let line_break =
        matches!(isa.get(k + 3), Some(b'\r' | b'\n')) && !matches!(segment, b'\r' | b'\n');
    Ok(Some(Separators {
        element,
        component,
        repetition,
        segment,
        line_break,
    }))
}

/// Finds the next segment in `buf[pos..]`. `base` is the absolute offset of `buf[0]`;
/// `seps` is updated at every ISA. At `eof`, an unterminated tail is an error.
pub fn step(
    buf: &[u8],
    mut pos: usize,
    seps: &mut Option<Separators>,
    base: usize,
    eof: bool,
) -> Step {
    if base == 0 && pos == 0 && buf.starts_with(b"\xEF\xBB\xBF") {
        pos = 3;
    }
    while pos < buf.len() && is_blank(buf[pos]) {
        pos += 1;
    }
    if pos >= buf.len() {
        return if eof { Step::End } else { Step::NeedMore };
    }
    let rest = &buf[pos..];
    if rest.len() < 3 && !eof && b"ISA".starts_with(rest) {
        return Step::NeedMore;
    }
    if rest.starts_with(b"ISA") {
        match detect(buf, pos, base + pos, eof) {
            Ok(Some(s)) => *seps = Some(s),
            Ok(None) => return Step::NeedMore,
            Err(e) => return Step::Error(e),
        }
    }
    let Some(s) = *seps else {
        return Step::Error(LexError::NotX12 { offset: base + pos });
    };
    let Some(len) = memchr(s.segment, rest) else {
        return if eof {
            Step::Error(LexError::Unterminated { offset: base + pos })
        } else {
            Step::NeedMore
        };
    };
    let mut end = pos + len;
    while end > pos && matches!(buf[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    let wrapped = s.wraps() && memchr::memchr2(b'\n', b'\r', &buf[pos..end]).is_some();
    Step::Segment {
        start: pos,
        end,
        next: pos + len + 1,
        dirty: wrapped,
    }
}

/// Removes wrap line breaks from a segment's bytes.
pub fn unwrap_into(raw: &[u8], out: &mut Vec<u8>) {
    out.extend(raw.iter().copied().filter(|b| !matches!(b, b'\r' | b'\n')));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260517*1015*^*00501*000000905*0*P*>~";

    fn segments(buf: &[u8]) -> Vec<Result<String, LexError>> {
        let mut out = Vec::new();
        let mut seps = None;
        let mut pos = 0;
        loop {
            match step(buf, pos, &mut seps, 0, true) {
                Step::Segment {
                    start,
                    end,
                    next,
                    dirty: wrapped,
                } => {
                    let mut v = Vec::new();
                    if wrapped {
                        unwrap_into(&buf[start..end], &mut v);
                    } else {
                        v.extend_from_slice(&buf[start..end]);
                    }
                    out.push(Ok(String::from_utf8(v).unwrap()));
                    pos = next;
                }
                Step::End => return out,
                Step::NeedMore => unreachable!("eof given"),
                Step::Error(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    #[test]
    fn detects_separators_and_repetition() {
        let s = detect(ISA.as_bytes(), 0, 0, true).unwrap().unwrap();
        assert_eq!((s.element, s.component, s.segment), (b'*', b'>', b'~'));
        assert_eq!(s.repetition, Some(b'^'));
        let old = ISA.replace("*^*00501*", "*U*00401*");
        assert_eq!(
            detect(old.as_bytes(), 0, 0, true)
                .unwrap()
                .unwrap()
                .repetition,
            None
        );
        assert_eq!(detect(&ISA.as_bytes()[..50], 0, 0, false), Ok(None));
    }

    #[test]
    fn skips_bom_blanks_and_line_breaks() {
        let text = format!("\u{feff}\r\n  {ISA}\r\nGS*PO~\n  ST*850*1~");
        let ids: Vec<_> = segments(text.as_bytes())
            .into_iter()
            .map(|s| s.unwrap()[..2].to_string())
            .collect();
        assert_eq!(ids, ["IS", "GS", "ST"]);
    }

    #[test]
    fn joins_wrapped_lines() {
        let text = format!("{}\r\n{}GS*PO*A\r\nB~ST*850*1~", &ISA[..80], &ISA[80..]);
        let segs = segments(text.as_bytes());
        assert_eq!(segs[0].as_ref().unwrap(), &ISA[..ISA.len() - 1]);
        assert_eq!(segs[1].as_ref().unwrap(), "GS*PO*AB");
    }

    #[test]
    fn newline_terminated_files_are_not_wrapped() {
        let isa = ISA.replace('~', "\n");
        let text = format!("{isa}GS*PO\nST*850*1\n");
        let segs = segments(text.as_bytes());
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[1].as_ref().unwrap(), "GS*PO");
    }

    #[test]
    fn reports_unterminated_and_garbage() {
        let text = format!("{ISA}GS*PO");
        let last = segments(text.as_bytes()).pop().unwrap();
        assert!(matches!(last, Err(LexError::Unterminated { offset: 106 })));
        assert_eq!(
            segments(b"hello world"),
            [Err(LexError::NotX12 { offset: 0 })]
        );
        assert!(matches!(
            segments(b"ISA*00*")[0],
            Err(LexError::Unterminated { .. } | LexError::BadIsa { .. })
        ));
        let mut seps = None;
        assert_eq!(step(b"ISA*00*", 0, &mut seps, 0, false), Step::NeedMore);
        assert_eq!(step(b"IS", 0, &mut seps, 0, false), Step::NeedMore);
    }

    #[test]
    fn latin1_text_is_not_garbled() {
        let s = Segment {
            offset: 0,
            raw: b"N1*BY*M\xfcller GmbH*92*1",
            seps: Separators::default(),
        };
        assert_eq!(s.text(2), "Müller GmbH");
        let u = Segment {
            offset: 0,
            raw: "N1*BY*Müller".as_bytes(),
            seps: Separators::default(),
        };
        assert_eq!(u.text(2), "Müller");
    }

    #[test]
    fn elements_are_one_based() {
        let s = Segment {
            offset: 0,
            raw: b"BEG*00*SA*PO1**20260517",
            seps: Separators::default(),
        };
        assert_eq!(s.el(3), b"PO1");
        assert_eq!(s.el(4), b"");
        assert_eq!(s.el(9), b"");
        assert_eq!(s.element_count(), 5);
    }
}
