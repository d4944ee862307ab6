//! X12 tokenizer: finds separators in each ISA and yields segments as borrowed byte slices.

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

/// One segment: its bytes without the terminator, and where it starts in the input.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub offset: usize,
    pub raw: &'a [u8],
    pub element_sep: u8,
}

impl<'a> Segment<'a> {
    /// The segment tag (`ISA`, `BEG`, ...).
    pub fn id(&self) -> &'a [u8] {
        match memchr(self.element_sep, self.raw) {
            Some(i) => &self.raw[..i],
            None => self.raw,
        }
    }

    /// Elements after the tag: `elements()[0]` is element 01.
    pub fn elements(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let raw = self.raw;
        let sep = self.element_sep;
        raw.split(move |b| *b == sep).skip(1)
    }

    /// Element `n` (1-based, as in `BEG03`), empty when absent.
    pub fn el(&self, n: usize) -> &'a [u8] {
        self.elements().nth(n.wrapping_sub(1)).unwrap_or(b"")
    }

    /// Element `n` as text (lossy for bytes that are not UTF-8), with trailing spaces trimmed.
    pub fn text(&self, n: usize) -> String {
        String::from_utf8_lossy(self.el(n)).trim_end().to_string()
    }

    /// Number of elements after the tag, trailing empty ones included.
    pub fn element_count(&self) -> usize {
        self.elements().count()
    }
}

/// Why the tokenizer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    /// Text that is not an X12 interchange where one was expected.
    NotX12 { offset: usize },
    /// The ISA segment is too short or its delimiters are unusable (TA1 code in `ta1`).
    BadIsa {
        offset: usize,
        reason: &'static str,
        ta1: &'static str,
    },
    /// The input ends inside a segment (no terminator).
    Unterminated { offset: usize },
}

/// Walks one buffer holding one or more interchanges.
pub struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    seps: Option<Separators>,
    failed: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let pos = if buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Lexer {
            buf,
            pos,
            seps: None,
            failed: false,
        }
    }

    /// Delimiters of the interchange being read.
    pub fn separators(&self) -> Option<Separators> {
        self.seps
    }

    fn fail(&mut self, e: LexError) -> Option<Result<Segment<'a>, LexError>> {
        self.failed = true;
        Some(Err(e))
    }
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0)
}

/// Reads the delimiters from an ISA starting at `start`. Tolerates a variable-width ISA.
pub fn detect(buf: &[u8], start: usize) -> Result<Separators, LexError> {
    let bad = |reason, ta1| LexError::BadIsa {
        offset: start,
        reason,
        ta1,
    };
    let isa = &buf[start..];
    if isa.len() < 4 || !isa.starts_with(b"ISA") {
        return Err(LexError::NotX12 { offset: start });
    }
    let element = isa[3];
    if element.is_ascii_alphanumeric() || is_blank(element) {
        return Err(bad(
            "the element separator after ISA is a letter, digit or blank",
            "026",
        ));
    }
    // Find the 16th element separator within a bounded window.
    let window = &isa[..isa.len().min(200)];
    let mut count = 0;
    let mut sixteenth = None;
    for (i, b) in window.iter().enumerate().skip(3) {
        if *b == element {
            count += 1;
            if count == 16 {
                sixteenth = Some(i);
                break;
            }
        }
    }
    let Some(k) = sixteenth else {
        return Err(bad("the ISA segment has fewer than 16 elements", "022"));
    };
    if k + 2 >= isa.len() {
        return Err(LexError::Unterminated { offset: start });
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
    let fields: Vec<&[u8]> = isa[..k].split(|b| *b == element).collect();
    let version = fields.get(12).copied().unwrap_or(b"");
    let repetition = match fields.get(11) {
        Some([r])
            if version >= b"00402".as_slice() && !r.is_ascii_alphanumeric() && !is_blank(*r) =>
        {
            Some(*r)
        }
        _ => None,
    };
    let line_break =
        matches!(isa.get(k + 3), Some(b'\r' | b'\n')) && !matches!(segment, b'\r' | b'\n');
    Ok(Separators {
        element,
        component,
        repetition,
        segment,
        line_break,
    })
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Segment<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let buf = self.buf;
        while self.pos < buf.len() && is_blank(buf[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= buf.len() {
            return None;
        }
        let start = self.pos;
        if buf[start..].starts_with(b"ISA") {
            match detect(buf, start) {
                Ok(s) => self.seps = Some(s),
                Err(e) => return self.fail(e),
            }
        }
        let Some(seps) = self.seps else {
            return self.fail(LexError::NotX12 { offset: start });
        };
        let Some(len) = memchr(seps.segment, &buf[start..]) else {
            return self.fail(LexError::Unterminated { offset: start });
        };
        let mut raw = &buf[start..start + len];
        while let [rest @ .., b'\r' | b'\n'] = raw {
            raw = rest;
        }
        self.pos = start + len + 1;
        Some(Ok(Segment {
            offset: start,
            raw,
            element_sep: seps.element,
        }))
    }
}

impl PartialEq for Segment<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset && self.raw == other.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260517*1015*^*00501*000000905*0*P*>~";

    #[test]
    fn detects_separators_and_repetition() {
        let s = detect(ISA.as_bytes(), 0).unwrap();
        assert_eq!((s.element, s.component, s.segment), (b'*', b'>', b'~'));
        assert_eq!(s.repetition, Some(b'^'));
        let old = ISA.replace("*^*00501*", "*U*00401*");
        assert_eq!(detect(old.as_bytes(), 0).unwrap().repetition, None);
    }

    #[test]
    fn skips_bom_blanks_and_line_breaks() {
        let text = format!("\u{feff}\r\n  {ISA}\r\nGS*PO~\n  ST*850*1~");
        let ids: Vec<_> = Lexer::new(text.as_bytes())
            .map(|s| String::from_utf8(s.unwrap().id().to_vec()).unwrap())
            .collect();
        assert_eq!(ids, ["ISA", "GS", "ST"]);
    }

    #[test]
    fn reports_unterminated_and_garbage() {
        let text = format!("{ISA}GS*PO");
        let last = Lexer::new(text.as_bytes()).last().unwrap();
        assert!(matches!(last, Err(LexError::Unterminated { .. })));
        let mut l = Lexer::new(b"hello world");
        assert_eq!(l.next(), Some(Err(LexError::NotX12 { offset: 0 })));
        assert_eq!(l.next(), None);
        assert!(matches!(
            detect(b"ISA*00*", 0),
            Err(LexError::BadIsa { .. })
        ));
    }

    #[test]
    fn elements_are_one_based() {
        let s = Segment {
            offset: 0,
            raw: b"BEG*00*SA*PO1**20260517",
            element_sep: b'*',
        };
        assert_eq!(s.el(3), b"PO1");
        assert_eq!(s.el(4), b"");
        assert_eq!(s.el(9), b"");
        assert_eq!(s.element_count(), 5);
    }
}
