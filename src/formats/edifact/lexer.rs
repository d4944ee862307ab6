//! EDIFACT tokenizer: the UNA service string advice (or the syntax defaults), the release
//! character, and segments as borrowed byte slices.

use crate::formats::stream::Step;
use memchr::memchr;
use std::borrow::Cow;

/// The service characters of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delims {
    pub component: u8,
    pub element: u8,
    pub decimal: u8,
    pub release: Option<u8>,
    /// Repetition separator (syntax version 4), when the UNA gives one.
    pub repetition: Option<u8>,
    pub segment: u8,
    /// Whether the UNA was present (it is repeated when we answer).
    pub una: bool,
}

impl Default for Delims {
    fn default() -> Self {
        Delims {
            component: b':',
            element: b'+',
            decimal: b'.',
            release: Some(b'?'),
            repetition: None,
            segment: b'\'',
            una: false,
        }
    }
}

impl Delims {
    /// Reads a UNA at the start of `s` (nine bytes).
    pub fn from_una(s: &[u8]) -> Option<Delims> {
        let u = s.get(3..9)?;
        let distinct = |a: u8, b: u8| a != b;
        if !distinct(u[0], u[1])
            || !distinct(u[1], u[5])
            || !distinct(u[0], u[5])
            || u.iter().any(u8::is_ascii_alphanumeric)
        {
            return None;
        }
        Some(Delims {
            component: u[0],
            element: u[1],
            decimal: u[2],
            release: (u[3] != b' ').then_some(u[3]),
            repetition: (u[4] != b' ').then_some(u[4]),
            segment: u[5],
            una: true,
        })
    }
}

/// Why the tokenizer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    NotEdifact { offset: usize },
    BadUna { offset: usize },
    Unterminated { offset: usize },
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0)
}

/// Up to this length a separator is looked for byte by byte.
const SHORT: usize = 24;

/// Position of the first `sep` in `raw` not escaped by `release`.
pub fn find_unescaped(raw: &[u8], sep: u8, release: Option<u8>) -> Option<usize> {
    // Elements and components are mostly a few bytes long: a plain loop finds their end
    // sooner than a vectorised search is set up.
    if raw.len() <= SHORT {
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == sep {
                return Some(i);
            }
            i += if Some(b) == release { 2 } else { 1 };
        }
        return None;
    }
    let Some(r) = release else {
        return memchr(sep, raw);
    };
    // One forward pass: a release character escapes the byte after it.
    let mut from = 0;
    while let Some(i) = memchr::memchr2(sep, r, &raw[from..]).map(|i| i + from) {
        if raw[i] == sep {
            return Some(i);
        }
        from = i + 2;
        if from >= raw.len() {
            return None;
        }
    }
    None
}

/// Splits `raw` at every `sep` not escaped by `release`.
pub fn split(raw: &[u8], sep: u8, release: Option<u8>) -> Vec<&[u8]> {
    split_iter(raw, sep, release).collect()
}

/// Like [`split`], without allocating.
pub fn split_iter(raw: &[u8], sep: u8, release: Option<u8>) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_unescaped(r, sep, release) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Removes release characters (`?+` becomes `+`). Bytes are read as Latin-1 when not UTF-8.
pub fn unescape(raw: &[u8], release: Option<u8>) -> Cow<'_, str> {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => Cow::Owned(raw.iter().map(|b| char::from(*b)).collect()),
    };
    match release {
        Some(r) if raw.contains(&r) => {
            let r = char::from(r);
            let mut out = String::with_capacity(text.len());
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == r {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            Cow::Owned(out)
        }
        _ => text,
    }
}

/// One segment, still escaped.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub offset: usize,
    pub raw: &'a [u8],
    pub delims: Delims,
}

impl<'a> Segment<'a> {
    pub fn id(&self) -> &'a [u8] {
        match memchr(self.delims.element, self.raw) {
            Some(i) => &self.raw[..i],
            None => self.raw,
        }
    }

    /// Raw elements after the tag (element 1 first).
    pub fn elements(&self) -> Vec<&'a [u8]> {
        let mut v = split(self.raw, self.delims.element, self.delims.release);
        v.remove(0);
        v
    }

    /// Component `c` (1-based) of element `n` (1-based), unescaped; empty when absent.
    pub fn get(&self, n: usize, c: usize) -> String {
        self.value(n, c).into_owned()
    }

    /// As [`Segment::get`], borrowed from the segment unless it had to be unescaped.
    pub fn value(&self, n: usize, c: usize) -> Cow<'a, str> {
        // Walked to the one value, splitting nothing else (the envelope reads many).
        let (Some(n), Some(c)) = (n.checked_sub(1), c.checked_sub(1)) else {
            return Cow::Borrowed("");
        };
        split_iter(self.raw, self.delims.element, self.delims.release)
            .nth(n + 1)
            .map_or(Cow::Borrowed(""), |el| component(el, c, self.delims))
    }

    /// The elements split once, for reading many values of one segment.
    pub fn values(&self) -> Values<'a> {
        Values {
            elements: self.elements(),
            delims: self.delims,
        }
    }
}

/// A segment's elements, split ([`Segment::values`]).
pub struct Values<'a> {
    elements: Vec<&'a [u8]>,
    delims: Delims,
}

impl Values<'_> {
    /// As [`Segment::get`].
    pub fn get(&self, n: usize, c: usize) -> String {
        let (Some(n), Some(c)) = (n.checked_sub(1), c.checked_sub(1)) else {
            return String::new();
        };
        self.elements
            .get(n)
            .map(|el| component(el, c, self.delims).into_owned())
            .unwrap_or_default()
    }
}

/// Component `c` (0-based) of element `el`, unescaped; empty when absent.
fn component(el: &[u8], c: usize, delims: Delims) -> Cow<'_, str> {
    split_iter(el, delims.component, delims.release)
        .nth(c)
        .map_or(Cow::Borrowed(""), |v| unescape(v, delims.release))
}

/// Finds the next segment in `buf[pos..]`, reading a UNA when one starts there.
pub fn step(
    buf: &[u8],
    mut pos: usize,
    delims: &mut Option<Delims>,
    base: usize,
    eof: bool,
) -> Step<LexError> {
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
    if rest.len() < 9 && !eof && b"UNA".starts_with(&rest[..rest.len().min(3)]) {
        return Step::NeedMore;
    }
    if rest.starts_with(b"UNA") {
        return match Delims::from_una(rest) {
            Some(d) => {
                *delims = Some(d);
                Step::Segment {
                    start: pos,
                    end: pos + 9,
                    next: pos + 9,
                    dirty: false,
                }
            }
            None => Step::Error(LexError::BadUna { offset: base + pos }),
        };
    }
    let d = match *delims {
        Some(d) => d,
        None if rest.len() < 3 && !eof => return Step::NeedMore,
        None if rest.starts_with(b"UN") => *delims.insert(Delims::default()),
        None => return Step::Error(LexError::NotEdifact { offset: base + pos }),
    };
    match find_unescaped(rest, d.segment, d.release) {
        Some(len) => {
            let mut end = pos + len;
            while end > pos && matches!(buf[end - 1], b'\r' | b'\n') {
                end -= 1;
            }
            Step::Segment {
                start: pos,
                end,
                next: pos + len + 1,
                dirty: false,
            }
        }
        None if eof => Step::Error(LexError::Unterminated { offset: base + pos }),
        None => Step::NeedMore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn una_and_release_character() {
        let d = Delims::from_una(b"UNA:+.? '").unwrap();
        assert_eq!(
            (d.component, d.element, d.release, d.segment),
            (b':', b'+', Some(b'?'), b'\'')
        );
        let s = Segment {
            offset: 0,
            raw: b"FTX+AAA+++Price ?+ tax?: 5?'+X:Y",
            delims: d,
        };
        assert_eq!(s.id(), b"FTX");
        assert_eq!(s.get(4, 1), "Price + tax: 5'");
        assert_eq!(s.get(5, 2), "Y");
        assert_eq!(s.get(9, 1), "");
        assert_eq!(find_unescaped(b"A??'B'", b'\'', Some(b'?')), Some(3));
        assert_eq!(find_unescaped(b"A?'B'", b'\'', Some(b'?')), Some(4));
    }

    #[test]
    fn an_unescaped_separator_is_found_at_any_length_with_or_without_release() {
        // Strings of up to 60 bytes from a small alphabet (releases, doubled releases and
        // separators anywhere), against a byte-by-byte reading.
        let naive = |raw: &[u8], release: Option<u8>| {
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\'' {
                    return Some(i);
                }
                i += if Some(raw[i]) == release { 2 } else { 1 };
            }
            None
        };
        let mut seed = 7u64;
        for n in 0..20_000 {
            let len = n % 61;
            let raw: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    match (seed >> 33) % 29 {
                        0 => b'\'',
                        1 | 2 => b'?',
                        _ => b'A',
                    }
                })
                .collect();
            for release in [None, Some(b'?')] {
                assert_eq!(
                    find_unescaped(&raw, b'\'', release),
                    naive(&raw, release),
                    "{:?} {release:?}",
                    String::from_utf8_lossy(&raw)
                );
            }
        }
    }

    #[test]
    fn steps_over_segments_and_refuses_garbage() {
        let buf = b"UNA:+.? 'UNB+UNOC:3+A+B+200101:1200+1'\r\nUNH+1+ORDERS:D:96A:UN'";
        let mut d = None;
        let mut pos = 0;
        let mut ids = Vec::new();
        while let Step::Segment {
            start, end, next, ..
        } = step(buf, pos, &mut d, 0, true)
        {
            ids.push(String::from_utf8_lossy(&buf[start..end.min(start + 3)]).into_owned());
            pos = next;
        }
        assert_eq!(ids, ["UNA", "UNB", "UNH"]);
        assert_eq!(
            step(b"hello'", 0, &mut None, 0, true),
            Step::Error(LexError::NotEdifact { offset: 0 })
        );
        assert_eq!(
            step(b"UNB+X", 0, &mut None, 0, true),
            Step::Error(LexError::Unterminated { offset: 0 })
        );
        assert_eq!(step(b"UNA:+", 0, &mut None, 0, false), Step::NeedMore);
    }
}
