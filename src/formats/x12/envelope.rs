//! X12 envelopes: ISA/IEA, GS/GE, ST/SE into a tree of borrowed segments, with every
//! envelope problem recorded as a diagnostic and an acknowledgement code. Never fails.

use super::lexer::{LexError, Lexer, Segment, Separators};
use crate::formats::{Diagnostic, Position, Severity};
use crate::util::valid_date;

/// A problem at one envelope level, with the acknowledgement code that reports it
/// (TA105 for interchanges, AK905 for groups, AK502 for transactions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub ack_code: &'static str,
    pub diagnostic: Diagnostic,
}

/// A segment or element error inside a transaction (AK3/AK4, IK3/IK4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// AK304 syntax error code.
    pub segment_code: &'static str,
    /// AK403 element error code, when the problem is in one element.
    pub element_code: Option<&'static str>,
    /// Data element reference number (AK402), when known.
    pub element_ref: Option<u32>,
    /// Copy of the bad data (AK404).
    pub bad_value: String,
    pub diagnostic: Diagnostic,
}

/// A parsed file: zero or more interchanges plus problems outside any interchange.
#[derive(Debug, Default)]
pub struct X12File<'a> {
    pub interchanges: Vec<Interchange<'a>>,
    /// Problems that belong to no interchange (garbage, bad ISA, premature end outside one).
    pub problems: Vec<Diagnostic>,
}

#[derive(Debug)]
pub struct Interchange<'a> {
    pub offset: usize,
    pub separators: Separators,
    pub isa: Segment<'a>,
    pub sender_qualifier: String,
    pub sender_id: String,
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// ISA09 YYMMDD as sent.
    pub date: String,
    /// ISA10 HHMM as sent.
    pub time: String,
    /// ISA12.
    pub version: String,
    /// ISA13 as sent (nine digits when valid).
    pub control: String,
    /// ISA14 = 1.
    pub ack_requested: bool,
    /// ISA15 (`P`, `T`).
    pub usage: String,
    pub groups: Vec<Group<'a>>,
    pub iea: Option<Segment<'a>>,
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct Group<'a> {
    pub offset: usize,
    pub gs: Segment<'a>,
    /// GS01 (`PO`, `IN`, `FA`, ...).
    pub functional_id: String,
    pub sender: String,
    pub receiver: String,
    /// GS06.
    pub control: String,
    /// GS08 (`004010`, `005010X...`).
    pub version: String,
    pub transactions: Vec<Transaction<'a>>,
    pub ge: Option<Segment<'a>>,
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct Transaction<'a> {
    pub offset: usize,
    /// ST01 (`850`).
    pub id: String,
    /// ST02.
    pub control: String,
    /// ST03 (5010 implementation convention reference), may be empty.
    pub implementation: String,
    /// All segments from ST to SE inclusive.
    pub segments: Vec<Segment<'a>>,
    pub closed: bool,
    pub problems: Vec<Problem>,
    pub issues: Vec<Issue>,
}

impl Interchange<'_> {
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.diagnostic.severity == Severity::Error)
    }

    /// `qualifier:id` of the sender, trimmed.
    pub fn sender(&self) -> String {
        format!("{}:{}", self.sender_qualifier, self.sender_id)
    }

    pub fn receiver(&self) -> String {
        format!("{}:{}", self.receiver_qualifier, self.receiver_id)
    }
}

impl Group<'_> {
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.diagnostic.severity == Severity::Error)
    }
}

impl Transaction<'_> {
    /// True when the transaction must not produce records (AK5 = R).
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .map(|p| &p.diagnostic)
            .chain(self.issues.iter().map(|i| &i.diagnostic))
            .any(|d| d.severity == Severity::Error)
    }
}

fn diag(severity: Severity, code: &'static str, message: String, seg: &Segment<'_>) -> Diagnostic {
    Diagnostic {
        severity,
        code,
        message,
        position: Position {
            offset: seg.offset,
            segment_id: String::from_utf8_lossy(seg.id()).into_owned(),
            ..Position::default()
        },
    }
}

fn problem(
    ack_code: &'static str,
    code: &'static str,
    message: String,
    seg: &Segment<'_>,
) -> Problem {
    Problem {
        ack_code,
        diagnostic: diag(Severity::Error, code, message, seg),
    }
}

fn at(offset: usize, code: &'static str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        code,
        message,
        position: Position {
            offset,
            ..Position::default()
        },
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn count_matches(text: &str, n: usize) -> bool {
    text.trim().parse::<usize>().ok() == Some(n)
}

struct Parser<'a> {
    file: X12File<'a>,
    ic: Option<Interchange<'a>>,
    group: Option<Group<'a>>,
    tx: Option<Transaction<'a>>,
}

/// Parses every interchange in `buf`. Problems are recorded, never raised.
pub fn parse(buf: &[u8]) -> X12File<'_> {
    let mut p = Parser {
        file: X12File::default(),
        ic: None,
        group: None,
        tx: None,
    };
    let mut lexer = Lexer::new(buf);
    let mut end = buf.len();
    while let Some(item) = lexer.next() {
        match item {
            Ok(seg) => p.segment(seg, lexer.separators().unwrap_or_default()),
            Err(e) => {
                let (offset, code, message) = match e {
                    LexError::NotX12 { offset } => (
                        offset,
                        "x12.not_x12",
                        "expected an ISA segment: this is not an X12 interchange".to_string(),
                    ),
                    LexError::BadIsa { offset, reason, .. } => (
                        offset,
                        "x12.bad_isa",
                        format!("unreadable ISA segment: {reason}"),
                    ),
                    LexError::Unterminated { offset } => (
                        offset,
                        "x12.premature_end",
                        "the file ends inside a segment (no segment terminator)".to_string(),
                    ),
                };
                end = offset;
                if let (LexError::Unterminated { .. }, Some(ic)) = (&e, p.ic.as_mut()) {
                    ic.problems.push(Problem {
                        ack_code: "023",
                        diagnostic: at(offset, code, message),
                    });
                } else {
                    p.file.problems.push(at(offset, code, message));
                }
                break;
            }
        }
    }
    p.finish(end);
    p.file
}

impl<'a> Parser<'a> {
    fn segment(&mut self, seg: Segment<'a>, seps: Separators) {
        match seg.id() {
            b"ISA" => self.isa(seg, seps),
            b"IEA" => self.iea(seg),
            b"GS" => self.gs(seg),
            b"GE" => self.ge(seg),
            b"ST" => self.st(seg),
            b"SE" => self.se(seg),
            _ => self.other(seg),
        }
    }

    fn close_tx(&mut self, offset: usize) {
        if let Some(mut tx) = self.tx.take() {
            if !tx.closed {
                tx.problems.push(Problem {
                    ack_code: "2",
                    diagnostic: at(
                        offset,
                        "x12.se_missing",
                        format!("transaction {} {} has no SE trailer", tx.id, tx.control),
                    ),
                });
            }
            match self.group.as_mut() {
                Some(g) => g.transactions.push(tx),
                None => {
                    // ST outside a group: reported on the interchange, dropped.
                    if let Some(ic) = self.ic.as_mut() {
                        ic.problems.push(Problem {
                            ack_code: "024",
                            diagnostic: at(
                                tx.offset,
                                "x12.st_outside_group",
                                "a transaction set outside a functional group (GS)".into(),
                            ),
                        });
                    }
                }
            }
        }
    }

    fn close_group(&mut self, offset: usize) {
        self.close_tx(offset);
        if let Some(mut g) = self.group.take() {
            if g.ge.is_none() {
                g.problems.push(Problem {
                    ack_code: "3",
                    diagnostic: at(
                        offset,
                        "x12.ge_missing",
                        format!("functional group {} has no GE trailer", g.control),
                    ),
                });
            }
            if let Some(ic) = self.ic.as_mut() {
                ic.groups.push(g);
            }
        }
    }

    fn close_interchange(&mut self, offset: usize) {
        self.close_group(offset);
        if let Some(mut ic) = self.ic.take() {
            if ic.iea.is_none() {
                ic.problems.push(Problem {
                    ack_code: "023",
                    diagnostic: at(
                        offset,
                        "x12.iea_missing",
                        format!(
                            "interchange {} has no IEA trailer (premature end of file)",
                            ic.control
                        ),
                    ),
                });
            }
            self.file.interchanges.push(ic);
        }
    }

    fn finish(&mut self, end: usize) {
        self.close_interchange(end);
    }

    fn isa(&mut self, seg: Segment<'a>, seps: Separators) {
        self.close_interchange(seg.offset);
        let f: Vec<String> = (1..=16).map(|n| seg.text(n)).collect();
        let raw = |n: usize| String::from_utf8_lossy(seg.el(n)).into_owned();
        let mut ic = Interchange {
            offset: seg.offset,
            separators: seps,
            isa: seg,
            sender_qualifier: f[4].trim().to_string(),
            sender_id: f[5].trim().to_string(),
            receiver_qualifier: f[6].trim().to_string(),
            receiver_id: f[7].trim().to_string(),
            date: f[8].clone(),
            time: f[9].clone(),
            version: f[11].clone(),
            control: f[12].trim().to_string(),
            ack_requested: f[13] == "1",
            usage: f[14].clone(),
            groups: Vec::new(),
            iea: None,
            problems: Vec::new(),
        };
        let mut bad = |code: &'static str, dcode: &'static str, msg: String| {
            ic.problems.push(problem(code, dcode, msg, &seg))
        };
        if !matches!(
            f[0].as_str(),
            "00" | "01" | "02" | "03" | "04" | "05" | "06"
        ) {
            bad(
                "010",
                "x12.isa01",
                format!("ISA01 authorization qualifier {:?} is not valid", f[0]),
            );
        }
        if !matches!(f[2].as_str(), "00" | "01") {
            bad(
                "012",
                "x12.isa03",
                format!("ISA03 security qualifier {:?} is not valid", f[2]),
            );
        }
        if ic.sender_qualifier.is_empty() || ic.sender_qualifier.len() > 2 {
            bad(
                "005",
                "x12.isa05",
                "ISA05 sender qualifier is missing or too long".into(),
            );
        }
        if ic.sender_id.is_empty() {
            bad("006", "x12.isa06", "ISA06 sender id is empty".into());
        }
        if ic.receiver_qualifier.is_empty() || ic.receiver_qualifier.len() > 2 {
            bad(
                "007",
                "x12.isa07",
                "ISA07 receiver qualifier is missing or too long".into(),
            );
        }
        if ic.receiver_id.is_empty() {
            bad("008", "x12.isa08", "ISA08 receiver id is empty".into());
        }
        if !yymmdd(&f[8]) {
            bad(
                "014",
                "x12.isa09",
                format!("ISA09 interchange date {:?} is not a valid YYMMDD", f[8]),
            );
        }
        if !hhmm(&f[9]) {
            bad(
                "015",
                "x12.isa10",
                format!("ISA10 interchange time {:?} is not a valid HHMM", f[9]),
            );
        }
        let v = &ic.version;
        if !(digits(v) && v.len() == 5 && ("00300"..="00899").contains(&v.as_str())) {
            bad(
                "017",
                "x12.isa12",
                format!("ISA12 version {v:?} is not supported (00300 to 00899)"),
            );
        }
        if !(digits(&ic.control) && ic.control.len() == 9) {
            bad(
                "018",
                "x12.isa13",
                format!("ISA13 control number {:?} is not nine digits", raw(13)),
            );
        }
        if !matches!(f[13].as_str(), "0" | "1") {
            bad(
                "019",
                "x12.isa14",
                format!("ISA14 acknowledgment requested {:?} is not 0 or 1", f[13]),
            );
        }
        if !matches!(f[14].as_str(), "P" | "T" | "I") {
            bad(
                "020",
                "x12.isa15",
                format!("ISA15 usage indicator {:?} is not P or T", f[14]),
            );
        }
        if seg.element_count() != 16 {
            bad(
                "022",
                "x12.isa_count",
                format!("ISA has {} elements, expected 16", seg.element_count()),
            );
        }
        self.ic = Some(ic);
    }

    fn iea(&mut self, seg: Segment<'a>) {
        self.close_group(seg.offset);
        let Some(ic) = self.ic.as_mut() else {
            self.file.problems.push(diag(
                Severity::Error,
                "x12.iea_outside",
                "IEA without a matching ISA".into(),
                &seg,
            ));
            return;
        };
        if !count_matches(&seg.text(1), ic.groups.len()) {
            ic.problems.push(problem(
                "021",
                "x12.iea01_count",
                format!(
                    "IEA01 says {} functional groups, the interchange holds {}",
                    seg.text(1),
                    ic.groups.len()
                ),
                &seg,
            ));
        }
        if seg.text(2).trim() != ic.control {
            ic.problems.push(problem(
                "001",
                "x12.iea02_control",
                format!(
                    "IEA02 control number {} does not match ISA13 {}",
                    seg.text(2),
                    ic.control
                ),
                &seg,
            ));
        }
        ic.iea = Some(seg);
        self.close_interchange(seg.offset + seg.raw.len() + 1);
    }

    fn gs(&mut self, seg: Segment<'a>) {
        self.close_group(seg.offset);
        let Some(ic) = self.ic.as_mut() else {
            return self.outside(seg);
        };
        let mut g = Group {
            offset: seg.offset,
            gs: seg,
            functional_id: seg.text(1),
            sender: seg.text(2),
            receiver: seg.text(3),
            control: seg.text(6),
            version: seg.text(8),
            transactions: Vec::new(),
            ge: None,
            problems: Vec::new(),
        };
        if !(digits(&g.control) && g.control.len() <= 9) {
            g.problems.push(problem(
                "6",
                "x12.gs06",
                format!(
                    "GS06 group control number {:?} is not 1 to 9 digits",
                    g.control
                ),
                &seg,
            ));
        }
        if ic.groups.iter().any(|o| o.control == g.control) {
            g.problems.push(problem(
                "19",
                "x12.gs06_duplicate",
                format!(
                    "GS06 group control number {} is used twice in this interchange",
                    g.control
                ),
                &seg,
            ));
        }
        let date = seg.text(4);
        if !(date.len() == 8 && ccyymmdd(&date)) {
            g.problems.push(Problem {
                ack_code: "",
                diagnostic: diag(
                    Severity::Warning,
                    "x12.gs04",
                    format!("GS04 date {date:?} is not a valid CCYYMMDD"),
                    &seg,
                ),
            });
        }
        if g.version.len() < 6 || !digits(&g.version[..6]) {
            g.problems.push(problem(
                "2",
                "x12.gs08",
                format!("GS08 version {:?} is not supported", g.version),
                &seg,
            ));
        }
        self.group = Some(g);
    }

    fn ge(&mut self, seg: Segment<'a>) {
        self.close_tx(seg.offset);
        let Some(g) = self.group.as_mut() else {
            return self.outside(seg);
        };
        if !count_matches(&seg.text(1), g.transactions.len()) {
            g.problems.push(problem(
                "5",
                "x12.ge01_count",
                format!(
                    "GE01 says {} transaction sets, the group holds {}",
                    seg.text(1),
                    g.transactions.len()
                ),
                &seg,
            ));
        }
        if seg.text(2) != g.control {
            g.problems.push(problem(
                "4",
                "x12.ge02_control",
                format!(
                    "GE02 control number {} does not match GS06 {}",
                    seg.text(2),
                    g.control
                ),
                &seg,
            ));
        }
        g.ge = Some(seg);
        self.close_group(seg.offset);
    }

    fn st(&mut self, seg: Segment<'a>) {
        self.close_tx(seg.offset);
        let mut tx = Transaction {
            offset: seg.offset,
            id: seg.text(1),
            control: seg.text(2),
            implementation: seg.text(3),
            segments: vec![seg],
            closed: false,
            problems: Vec::new(),
            issues: Vec::new(),
        };
        if !(tx.id.len() == 3 && digits(&tx.id)) {
            tx.problems.push(problem(
                "6",
                "x12.st01",
                format!(
                    "ST01 transaction set identifier {:?} is missing or invalid",
                    tx.id
                ),
                &seg,
            ));
        }
        if tx.control.len() < 4 || tx.control.len() > 9 {
            tx.problems.push(problem(
                "7",
                "x12.st02",
                format!(
                    "ST02 control number {:?} must be 4 to 9 characters",
                    tx.control
                ),
                &seg,
            ));
        }
        if let Some(g) = &self.group {
            if g.transactions.iter().any(|t| t.control == tx.control) {
                tx.problems.push(problem(
                    "23",
                    "x12.st02_duplicate",
                    format!(
                        "ST02 control number {} is used twice in this group",
                        tx.control
                    ),
                    &seg,
                ));
            }
        }
        self.tx = Some(tx);
    }

    fn se(&mut self, seg: Segment<'a>) {
        let Some(tx) = self.tx.as_mut() else {
            return self.outside(seg);
        };
        tx.segments.push(seg);
        tx.closed = true;
        if !count_matches(&seg.text(1), tx.segments.len()) {
            let p = problem(
                "4",
                "x12.se01_count",
                format!(
                    "SE01 says {} segments, the transaction set has {}",
                    seg.text(1),
                    tx.segments.len()
                ),
                &seg,
            );
            tx.problems.push(with_segment(p, tx.segments.len()));
        }
        if seg.text(2) != tx.control {
            let p = problem(
                "3",
                "x12.se02_control",
                format!(
                    "SE02 control number {} does not match ST02 {}",
                    seg.text(2),
                    tx.control
                ),
                &seg,
            );
            tx.problems.push(with_segment(p, tx.segments.len()));
        }
        self.close_tx(seg.offset);
    }

    fn other(&mut self, seg: Segment<'a>) {
        if let Some(tx) = self.tx.as_mut() {
            tx.segments.push(seg);
        } else if self.group.is_none()
            && self.ic.is_some()
            && matches!(seg.id(), b"TA1" | b"ISB" | b"ISE")
        {
            // Interchange-level service segments are allowed between ISA and GS.
        } else {
            self.outside(seg);
        }
    }

    fn outside(&mut self, seg: Segment<'a>) {
        let name = String::from_utf8_lossy(seg.id()).into_owned();
        let d = diag(
            Severity::Error,
            "x12.segment_outside",
            format!("segment {name} is outside the envelope level where it belongs"),
            &seg,
        );
        match (self.group.as_mut(), self.ic.as_mut()) {
            (Some(g), _) => g.problems.push(Problem {
                ack_code: "",
                diagnostic: d,
            }),
            (None, Some(ic)) => ic.problems.push(Problem {
                ack_code: "024",
                diagnostic: d,
            }),
            (None, None) => self.file.problems.push(d),
        }
    }
}

fn with_segment(mut p: Problem, n: usize) -> Problem {
    p.diagnostic.position.segment = Some(n);
    p
}

/// `YYMMDD` with a real calendar date.
pub fn yymmdd(s: &str) -> bool {
    s.len() == 6 && digits(s) && {
        let y: i64 = s[0..2].parse().unwrap_or(0);
        valid_date(
            2000 + y,
            s[2..4].parse().unwrap_or(0),
            s[4..6].parse().unwrap_or(0),
        )
    }
}

/// `CCYYMMDD` with a real calendar date.
pub fn ccyymmdd(s: &str) -> bool {
    s.len() == 8
        && digits(s)
        && valid_date(
            s[0..4].parse().unwrap_or(0),
            s[4..6].parse().unwrap_or(0),
            s[6..8].parse().unwrap_or(0),
        )
}

/// `HHMM`, optionally followed by seconds and decimal seconds.
pub fn hhmm(s: &str) -> bool {
    s.len() >= 4
        && digits(s)
        && s[0..2].parse::<u32>().unwrap_or(99) < 24
        && s[2..4].parse::<u32>().unwrap_or(99) < 60
        && (s.len() < 6 || s[4..6].parse::<u32>().unwrap_or(99) < 60)
}
