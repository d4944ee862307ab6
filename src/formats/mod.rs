//! Input formats: detection and parsing of bytes into documents plus diagnostics. No IO here.

pub mod csv;
pub mod edifact;
pub mod packed;
pub mod pipe;
pub mod stream;
pub mod structure;
pub mod x12;
pub mod xml;

use serde::Serialize;
use std::fmt;

/// Where a problem sits in the input: byte offset always; segment and element when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Position {
    /// Byte offset from the start of the file.
    pub offset: usize,
    /// 1-based position of the segment inside its transaction (ST = 1), when inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<usize>,
    /// Segment tag, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub segment_id: String,
    /// 1-based element position, when the problem is in one element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<usize>,
    /// 1-based component position inside a composite element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}", self.offset)?;
        if let Some(s) = self.segment {
            write!(f, ", segment {s}")?;
        }
        if !self.segment_id.is_empty() {
            write!(f, " ({})", self.segment_id)?;
        }
        if let Some(e) = self.element {
            write!(f, ", element {e}")?;
            if let Some(c) = self.component {
                write!(f, ".{c}")?;
            }
        }
        Ok(())
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The enclosing unit (transaction, group or interchange) is rejected.
    Error,
    /// Noted in the acknowledgement, the document still flows.
    Warning,
}

/// One problem found in an input, with its position and a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code, such as `x12.se01_count`.
    pub code: &'static str,
    pub message: String,
    pub position: Position,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {sev}: {} [{}]",
            self.position, self.message, self.code
        )
    }
}

/// Counts and diagnostics for a whole input, as `edigate validate` prints them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub bytes: u64,
    pub interchanges: usize,
    pub groups: usize,
    pub transactions: usize,
    pub segments: usize,
    pub rejected_interchanges: usize,
    pub rejected_groups: usize,
    pub rejected_transactions: usize,
    /// Transaction sets with no definition: only their envelope was checked.
    pub unchecked_transactions: usize,
    /// The first `limit` diagnostics, in input order.
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics beyond `limit`, counted only.
    pub more_diagnostics: usize,
}

impl Summary {
    /// Keeps a diagnostic, or only counts it once `limit` are kept.
    pub fn note(&mut self, d: &Diagnostic, limit: usize) {
        if self.diagnostics.len() < limit {
            self.diagnostics.push(d.clone());
        } else {
            self.more_diagnostics += 1;
        }
    }

    pub fn rejected(&self) -> bool {
        self.rejected_interchanges + self.rejected_groups + self.rejected_transactions > 0
            || self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
    }
}

/// The formats the appliance recognises by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    X12,
    Edifact,
    Xml,
    /// JSON Lines of canonical records (from an ERP, going out to partners).
    Records,
    Unknown,
}

/// How many errors one transaction set or message keeps (and its acknowledgement reports): a
/// hostile file of a million bad segments costs no more than this. The last one kept says how
/// many more there were.
pub const MAX_ERRORS: usize = 1000;

/// Errors as they are found: the first [`MAX_ERRORS`] kept, the rest only counted.
#[derive(Debug)]
pub struct Errors<T> {
    pub kept: Vec<T>,
    pub more: usize,
}

impl<T> Default for Errors<T> {
    fn default() -> Self {
        Errors {
            kept: Vec::new(),
            more: 0,
        }
    }
}

impl<T> Errors<T> {
    pub fn push(&mut self, item: T) {
        self.push_with(|| item);
    }

    /// [`Errors::push`] of an item made only when it is kept.
    pub fn push_with(&mut self, make: impl FnOnce() -> T) {
        if self.kept.len() < MAX_ERRORS {
            self.kept.push(make());
        } else {
            self.more += 1;
        }
    }
}

/// Keeps the first [`MAX_ERRORS`] of `items` (each with its diagnostic, through `diagnostic`),
/// noting on the last one kept how many were left out (`more` of them before these).
pub fn keep_first_errors<T>(
    items: &mut Vec<T>,
    more: usize,
    diagnostic: impl Fn(&mut T) -> &mut Diagnostic,
) {
    let more = more + items.len().saturating_sub(MAX_ERRORS);
    items.truncate(MAX_ERRORS);
    if more > 0 {
        if let Some(last) = items.last_mut() {
            diagnostic(last)
                .message
                .push_str(&format!("; {more} more errors here are not listed"));
        }
    }
}

/// How many characters of a message are kept (one a mapping wrote may quote any value).
pub const MESSAGE_CHARS: usize = 1024;

/// `message` cut after [`MESSAGE_CHARS`] characters, saying how long it was.
pub fn bounded(message: String) -> String {
    match message.char_indices().nth(MESSAGE_CHARS) {
        None => message,
        Some((cut, _)) => format!("{}... ({} bytes)", &message[..cut], message.len()),
    }
}

/// How many characters of a value a message quotes.
pub const QUOTED_CHARS: usize = 64;

/// `value` quoted for a message (as `{:?}` writes it), cut after [`QUOTED_CHARS`] characters
/// with how long it was: a hostile file's megabyte of one element never reaches a log line, a
/// refusal or an acknowledgement note whole.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &value[..cut], value.len()),
    }
}

/// Guesses the format from the first bytes, skipping a BOM and blanks.
pub fn sniff(data: &[u8]) -> Format {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    let head = &data[start..];
    if head.starts_with(b"ISA") {
        Format::X12
    } else if head.starts_with(b"UNA") || head.starts_with(b"UNB") {
        Format::Edifact
    } else if head.starts_with(b"<") {
        Format::Xml
    } else if head.starts_with(b"{") {
        Format::Records
    } else {
        Format::Unknown
    }
}

/// Why bytes are not text we can read, when they are clearly another encoding.
pub fn refuse_encoding(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\xFF\xFE") || data.starts_with(b"\xFE\xFF") {
        return Some(
            "the file is UTF-16 (byte-order mark); only ASCII, UTF-8 and Latin-1 are accepted",
        );
    }
    let head = &data[..data.len().min(64)];
    if head.len() >= 8 && head.iter().skip(1).step_by(2).take(4).all(|b| *b == 0) {
        return Some("the file looks like UTF-16 (every other byte is NUL); only ASCII, UTF-8 and Latin-1 are accepted");
    }
    // EBCDIC "ISA" is C9 E2 C1, "UNB" is E4 D5 C2, "UNA" is E4 D5 C1.
    let t = data
        .iter()
        .position(|b| !matches!(b, 0x40 | 0x25 | 0x15 | 0x0D))
        .unwrap_or(0);
    let head = &data[t..];
    if head.starts_with(&[0xC9, 0xE2, 0xC1])
        || head.starts_with(&[0xE4, 0xD5, 0xC2])
        || head.starts_with(&[0xE4, 0xD5, 0xC1])
    {
        return Some("the file is EBCDIC; only ASCII, UTF-8 and Latin-1 are accepted");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn a_quoted_value_is_cut_after_64_characters_and_says_how_long_it_was() {
        assert_eq!(quoted("PO-1"), "\"PO-1\"");
        let long = "é".repeat(100);
        let q = quoted(&long);
        assert!(q.starts_with(&format!("\"{}\"", "é".repeat(64))), "{q}");
        assert!(q.ends_with("... (200 bytes)"), "{q}");
        assert_eq!(quoted(&"A".repeat(64)), format!("{:?}", "A".repeat(64)));
        assert_eq!(super::bounded("short".into()), "short");
        let b = super::bounded("x".repeat(5000));
        assert!(b.len() < 1100 && b.ends_with("... (5000 bytes)"), "{b}");
    }

    use super::*;

    #[test]
    fn sniffs_formats_and_refuses_other_encodings() {
        assert_eq!(sniff(b"\xEF\xBB\xBF\r\nISA*00"), Format::X12);
        assert_eq!(sniff(b"UNA:+.? 'UNB"), Format::Edifact);
        assert_eq!(sniff(b"  <?xml"), Format::Xml);
        assert_eq!(sniff(b"hello"), Format::Unknown);
        assert!(refuse_encoding(&[0xC9, 0xE2, 0xC1, 0x4D])
            .unwrap()
            .contains("EBCDIC"));
        assert!(refuse_encoding(b"I\0S\0A\0*\0").unwrap().contains("UTF-16"));
        assert_eq!(refuse_encoding(b"ISA*00*"), None);
    }
}
