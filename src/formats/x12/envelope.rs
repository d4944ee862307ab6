//! X12 envelopes: ISA/IEA, GS/GE, ST/SE. A push parser fed one segment at a time (see
//! `stream`) that records every envelope problem as a diagnostic with its acknowledgement
//! code and hands each transaction set to a `Handler`. Never fails, never panics.

use super::fields::{Fields, Split};
use super::lexer::{text_ref, LexError, Segment, Separators};
use super::spec::Standards;
pub use crate::formats::packed::KeepMode;
use crate::formats::packed::{
    after, follows, get_text, get_varint, put_text, put_varint, Kept, Packed, Seen, Summary,
};
use crate::formats::stream::SegBuf;
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

/// A parsed file: interchanges plus problems outside any interchange.
#[derive(Debug, Default)]
pub struct X12File {
    pub interchanges: Vec<Interchange>,
    /// Problems that belong to no interchange (garbage, bad ISA, premature end outside one).
    pub problems: Vec<Diagnostic>,
}

#[derive(Debug, Default)]
pub struct Interchange {
    pub offset: usize,
    pub separators: Separators,
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
    pub groups: Vec<Group>,
    /// IEA seen.
    pub closed: bool,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Default)]
pub struct Group {
    pub offset: usize,
    /// GS01 (`PO`, `IN`, `FA`, ...).
    pub functional_id: String,
    pub sender: String,
    pub receiver: String,
    /// GS06.
    pub control: String,
    /// GS08 (`004010`, `005010X...`).
    pub version: String,
    /// Transactions kept by the handler (all of them when parsing a whole file). A handler
    /// that keeps summaries finds the clean ones packed instead: read them all, in order,
    /// with [`Group::kept`].
    pub transactions: Vec<Transaction>,
    packed: Packed<Transaction>,
    /// Transactions seen, kept or not.
    pub transaction_count: usize,
    /// GE01 as sent, when GE was seen.
    pub ge_count: Option<String>,
    pub problems: Vec<Problem>,
    seen_controls: Seen,
}

/// One transaction set: header facts, its segments (ST to SE) in an owned buffer, and its
/// problems.
#[derive(Debug, Default)]
pub struct Transaction {
    pub offset: usize,
    /// ST01 (`850`).
    pub id: String,
    /// ST02.
    pub control: String,
    /// ST03 (5010 implementation convention reference), may be empty.
    pub implementation: String,
    pub separators: Separators,
    body: SegBuf,
    /// `body` split into tags and elements, on first use.
    fields: std::cell::OnceCell<Fields>,
    pub closed: bool,
    pub problems: Vec<Problem>,
    pub issues: Vec<Issue>,
    /// Its validation, made ahead on the parsing thread (see `pipe`) until
    /// [`super::validate::transaction`] takes it.
    ahead: Option<Box<Ahead>>,
}

/// A transaction set's validation made before its handler asked for it: against which
/// standards and version, whether they cover the set, and the issues found.
#[derive(Debug)]
struct Ahead {
    /// The address of the standards (compared, never read through).
    standards: usize,
    version: String,
    covered: bool,
    issues: Vec<Issue>,
}

/// What [`Ahead::standards`] holds for `st`.
fn address(st: &Standards) -> usize {
    st as *const Standards as usize
}

impl Interchange {
    /// Makes `into` this interchange without its groups: what a handler on another thread
    /// is shown of it while it is open (see `pipe`). `into`'s memory is reused.
    pub(super) fn header_into(&self, into: &mut Interchange) {
        into.offset = self.offset;
        into.separators = self.separators;
        into.sender_qualifier.clone_from(&self.sender_qualifier);
        into.sender_id.clone_from(&self.sender_id);
        into.receiver_qualifier.clone_from(&self.receiver_qualifier);
        into.receiver_id.clone_from(&self.receiver_id);
        into.date.clone_from(&self.date);
        into.time.clone_from(&self.time);
        into.version.clone_from(&self.version);
        into.control.clone_from(&self.control);
        into.ack_requested = self.ack_requested;
        into.usage.clone_from(&self.usage);
        into.groups.clear();
        into.closed = self.closed;
        into.problems.clone_from(&self.problems);
    }

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

impl Group {
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.diagnostic.severity == Severity::Error)
    }

    /// Every transaction kept, in order (packed summaries unpacked one by one).
    pub fn kept(&self) -> Kept<'_, Transaction> {
        self.packed.kept(&self.transactions)
    }

    /// How many transactions [`Group::kept`] gives.
    pub fn kept_len(&self) -> usize {
        self.packed.len(&self.transactions)
    }

    /// Keeps the summary of `tx` (its segments freed): packed into a few bytes when it is
    /// clean, else whole.
    pub(super) fn keep_summary(&mut self, tx: Transaction) {
        self.packed.keep(tx, &mut self.transactions);
    }

    /// Makes `into` this group without its transactions (see [`Interchange::header_into`]).
    pub(super) fn header_into(&self, into: &mut Group) {
        into.offset = self.offset;
        into.functional_id.clone_from(&self.functional_id);
        into.sender.clone_from(&self.sender);
        into.receiver.clone_from(&self.receiver);
        into.control.clone_from(&self.control);
        into.version.clone_from(&self.version);
        into.transactions.clear();
        into.packed = Packed::default();
        into.transaction_count = self.transaction_count;
        into.ge_count.clone_from(&self.ge_count);
        into.problems.clone_from(&self.problems);
        into.seen_controls = Seen::default();
    }

    /// Takes the transactions `from` kept (the same group, seen by the handler's thread).
    pub(super) fn adopt_kept(&mut self, from: &mut Group) {
        self.transactions = std::mem::take(&mut from.transactions);
        self.packed = std::mem::take(&mut from.packed);
    }
}

/// What a packed summary carries to the next.
#[derive(Debug, Default, Clone)]
pub struct Header {
    offset: usize,
    id: String,
    control: String,
    implementation: String,
    separators: Separators,
}

const SAME_ID: u8 = 2;
const NEXT_CONTROL: u8 = 4;
const SAME_IMPLEMENTATION: u8 = 8;

impl Summary for Transaction {
    type Last = Header;

    /// Packs a clean transaction set's header: its offset and what differs from the last.
    fn pack(&self, last: &mut Header, out: &mut Vec<u8>) -> Option<u8> {
        let clean =
            self.problems.is_empty() && self.issues.is_empty() && self.offset >= last.offset;
        if !clean {
            return None;
        }
        let mut flags = 0;
        if self.id == last.id {
            flags |= SAME_ID;
        }
        if follows(&last.control, &self.control) {
            flags |= NEXT_CONTROL;
        }
        if self.implementation == last.implementation {
            flags |= SAME_IMPLEMENTATION;
        }
        last.separators = self.separators;
        put_varint(out, (self.offset - last.offset) as u64);
        if flags & SAME_ID == 0 {
            put_text(out, &self.id);
            last.id.clone_from(&self.id);
        }
        if flags & NEXT_CONTROL == 0 {
            put_text(out, &self.control);
        }
        last.control.clone_from(&self.control);
        if flags & SAME_IMPLEMENTATION == 0 {
            put_text(out, &self.implementation);
            last.implementation.clone_from(&self.implementation);
        }
        last.offset = self.offset;
        Some(flags)
    }

    fn unpack(flags: u8, b: &[u8], at: &mut usize, p: &mut Header) -> Transaction {
        p.offset += get_varint(b, at) as usize;
        if flags & SAME_ID == 0 {
            p.id = get_text(b, at);
        }
        p.control = if flags & NEXT_CONTROL == 0 {
            get_text(b, at)
        } else {
            after(&p.control)
        };
        if flags & SAME_IMPLEMENTATION == 0 {
            p.implementation = get_text(b, at);
        }
        Transaction {
            offset: p.offset,
            id: p.id.clone(),
            control: p.control.clone(),
            implementation: p.implementation.clone(),
            separators: p.separators,
            closed: true,
            ..Transaction::default()
        }
    }
}

impl Transaction {
    /// True when the transaction must not produce records (AK5 = R).
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .map(|p| &p.diagnostic)
            .chain(self.issues.iter().map(|i| &i.diagnostic))
            .any(|d| d.severity == Severity::Error)
    }

    /// Number of segments from ST to SE inclusive (as SE01 counts them).
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Segment `i` (0 = ST).
    pub fn segment(&self, i: usize) -> Option<Segment<'_>> {
        let seps = self.separators;
        self.body
            .get(i)
            .map(|(raw, offset)| Segment { offset, raw, seps })
    }

    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'_>> + '_ {
        let seps = self.separators;
        self.body
            .iter()
            .map(move |(raw, offset)| Segment { offset, raw, seps })
    }

    fn push(&mut self, seg: &Segment<'_>) {
        self.body.push(seg.raw, seg.offset);
        self.fields.take();
    }

    /// The split of the segments, made on first use.
    fn fields(&self) -> &Fields {
        self.fields.get_or_init(|| {
            let ranges = self.body.ranges().iter().map(|&(a, b, _)| (a, b));
            Fields::of(self.body.data(), ranges, self.separators)
        })
    }

    /// The segments split into tags and elements (split once, on first use), in order.
    pub fn split(&self) -> impl ExactSizeIterator<Item = Split<'_>> + '_ {
        let (data, fields) = (self.body.data(), self.fields());
        self.body
            .ranges()
            .iter()
            .enumerate()
            .map(move |(i, &r)| Split::new(data, r, fields.seg(i)))
    }

    /// Each segment's tag and offset in the input, in order (quicker than [`Self::split`]
    /// when only tags are read).
    pub fn tags(&self) -> impl ExactSizeIterator<Item = (&[u8], usize)> + '_ {
        let data = self.body.data();
        let ranges = self.body.ranges().iter();
        ranges
            .zip(self.fields().tag_ends())
            .map(move |(&(start, _, offset), end)| (&data[start as usize..end as usize], offset))
    }

    /// Whether an element of some segment holds the component separator.
    pub fn has_composites(&self) -> bool {
        self.fields().composite()
    }

    /// Whether every byte of the segments is printable ASCII (so every element is).
    pub fn printable(&self) -> bool {
        self.fields().printable()
    }

    /// The repetition separator, when an element of some segment may hold it.
    pub fn repetition(&self) -> Option<u8> {
        self.separators
            .repetition
            .filter(|_| self.fields().repeats())
    }

    /// All segments' bytes, one after the other without terminators (what
    /// [`Split::ranges`] points into).
    pub fn data(&self) -> &[u8] {
        self.body.data()
    }

    /// Frees the segments, keeping header facts and problems (enough for acknowledgements).
    pub fn drop_body(&mut self) {
        self.body.clear();
        self.fields.take();
    }

    /// An empty transaction holding `body`'s memory, for the parser to reuse (see `pipe`).
    pub(super) fn with_body(mut body: SegBuf) -> Transaction {
        body.reset();
        Transaction {
            body,
            ..Transaction::default()
        }
    }

    /// Takes the segments' memory (as [`Transaction::drop_body`] frees it).
    pub(super) fn take_body(&mut self) -> SegBuf {
        self.fields.take();
        std::mem::take(&mut self.body)
    }

    /// Validates the set now, against `st` for `version`, for
    /// [`super::validate::transaction`] to give when the handler asks (on another thread).
    pub(super) fn validate_ahead(&mut self, st: &Standards, version: &str) {
        let before = self.issues.len();
        let covered = super::validate::transaction(self, st, version);
        let issues = self.issues.split_off(before);
        self.ahead = Some(Box::new(Ahead {
            standards: address(st),
            version: version.to_string(),
            covered,
            issues,
        }));
    }

    /// The validation made ahead against these same standards and version, if any (once).
    pub(super) fn take_ahead(
        &mut self,
        st: &Standards,
        version: &str,
    ) -> Option<(bool, Vec<Issue>)> {
        let a = self.ahead.take()?;
        (a.standards == address(st) && a.version == version).then_some((a.covered, a.issues))
    }

    /// Forgets a validation made ahead that nobody asked for.
    pub(super) fn drop_ahead(&mut self) {
        self.ahead = None;
    }

    /// Builds a transaction from segments, for tests and tools that make documents.
    pub fn from_segments<'s>(segments: impl IntoIterator<Item = Segment<'s>>) -> Transaction {
        let mut tx = Transaction::default();
        for s in segments {
            if tx.body.is_empty() {
                tx.offset = s.offset;
                tx.separators = s.seps;
                tx.id = s.text(1);
                tx.control = s.text(2);
            }
            tx.push(&s);
        }
        tx
    }
}

/// Receives what the parser finds.
pub trait Handler {
    /// A transaction set ended (at SE, or cut short). Validation and mapping happen here.
    fn transaction(&mut self, _ic: &Interchange, _g: &Group, _tx: &mut Transaction) {}
    /// Whether to keep each transaction in its group after `transaction` (with its body).
    fn keep(&self) -> KeepMode {
        KeepMode::Whole
    }
    /// An interchange ended, with its groups.
    fn interchange(&mut self, ic: Interchange);
    /// A problem outside any interchange.
    fn stray(&mut self, d: Diagnostic);
}

/// Collects a whole file (used for ordinary files and by `parse`).
#[derive(Default)]
pub struct Collect(pub X12File);

impl Handler for Collect {
    fn interchange(&mut self, ic: Interchange) {
        self.0.interchanges.push(ic);
    }
    fn stray(&mut self, d: Diagnostic) {
        self.0.problems.push(d);
    }
}

/// Parses every interchange in `buf`, keeping everything.
pub fn parse(buf: &[u8]) -> X12File {
    let mut c = Collect::default();
    super::stream::parse_slice(buf, &mut c);
    c.0
}

/// The fixed widths of ISA01 to ISA16.
const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];

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

/// A trailer problem (count, control number or missing trailer): reported with its code, but the
/// complete content it encloses is still accepted ("accepted with errors").
fn trailer(mut p: Problem) -> Problem {
    p.diagnostic.severity = Severity::Warning;
    p
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

/// The envelope state machine. Feed it segments with `segment`, then call `finish`.
pub struct Parser<'h> {
    handler: &'h mut dyn Handler,
    ic: Option<Interchange>,
    group: Option<Group>,
    tx: Option<Transaction>,
    /// The buffer of the last transaction the handler did not keep, reused for the next.
    spare: SegBuf,
}

impl<'h> Parser<'h> {
    pub fn new(handler: &'h mut dyn Handler) -> Self {
        Parser {
            handler,
            ic: None,
            group: None,
            tx: None,
            spare: SegBuf::default(),
        }
    }

    pub fn segment(&mut self, seg: Segment<'_>) {
        match seg.id() {
            b"ISA" => self.isa(seg),
            b"IEA" => self.iea(seg),
            b"GS" => self.gs(seg),
            b"GE" => self.ge(seg),
            b"ST" => self.st(seg),
            b"SE" => self.se(seg),
            _ => self.other(seg),
        }
    }

    /// The tokenizer stopped with `e`.
    pub fn lex_error(&mut self, e: LexError) {
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
        match (&e, self.ic.as_mut()) {
            (LexError::Unterminated { .. }, Some(ic)) => ic.problems.push(trailer(Problem {
                ack_code: "023",
                diagnostic: at(offset, code, message),
            })),
            (LexError::BadIsa { ta1, .. }, Some(ic)) => ic.problems.push(Problem {
                ack_code: ta1,
                diagnostic: at(offset, code, message),
            }),
            _ => self.handler.stray(at(offset, code, message)),
        }
    }

    /// The input ended at absolute offset `end`: closes what is open.
    pub fn finish(mut self, end: usize) {
        self.close_interchange(end);
    }

    fn close_tx(&mut self, offset: usize) {
        let Some(mut tx) = self.tx.take() else { return };
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
        let (Some(ic), Some(g)) = (self.ic.as_ref(), self.group.as_mut()) else {
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
            return;
        };
        if !g.seen_controls.insert(&tx.control) {
            tx.problems.push(with_segment(
                Problem {
                    ack_code: "23",
                    diagnostic: at(
                        tx.offset,
                        "x12.st02_duplicate",
                        format!(
                            "ST02 control number {} is used twice in this group",
                            tx.control
                        ),
                    ),
                },
                1,
            ));
        }
        g.transaction_count += 1;
        self.handler.transaction(ic, g, &mut tx);
        let keep = self.handler.keep();
        if keep != KeepMode::Whole {
            // The next transaction reuses the buffer.
            self.spare = std::mem::take(&mut tx.body);
            self.spare.reset();
            tx.drop_body();
        }
        match keep {
            KeepMode::Whole => g.transactions.push(tx),
            KeepMode::Summary => g.keep_summary(tx),
            KeepMode::Nothing => {}
        }
    }

    fn close_group(&mut self, offset: usize) {
        self.close_tx(offset);
        if let Some(mut g) = self.group.take() {
            if g.ge_count.is_none() {
                g.problems.push(trailer(Problem {
                    ack_code: "3",
                    diagnostic: at(
                        offset,
                        "x12.ge_missing",
                        format!("functional group {} has no GE trailer", g.control),
                    ),
                }));
            }
            g.seen_controls = Seen::default();
            if let Some(ic) = self.ic.as_mut() {
                ic.groups.push(g);
            }
        }
    }

    fn close_interchange(&mut self, offset: usize) {
        self.close_group(offset);
        if let Some(mut ic) = self.ic.take() {
            if !ic.closed {
                ic.problems.push(trailer(Problem {
                    ack_code: "023",
                    diagnostic: at(
                        offset,
                        "x12.iea_missing",
                        format!(
                            "interchange {} has no IEA trailer (premature end of file)",
                            ic.control
                        ),
                    ),
                }));
            }
            self.handler.interchange(ic);
        }
    }

    fn isa(&mut self, seg: Segment<'_>) {
        self.close_interchange(seg.offset);
        // The segment is split once: reading element n afresh scans the n before it.
        let els: Vec<&[u8]> = seg.elements().collect();
        let el = |n: usize| els.get(n - 1).copied().unwrap_or(b"");
        // Read in place: only what the interchange keeps is copied.
        let f: Vec<std::borrow::Cow<'_, str>> = (1..=16).map(|n| text_ref(el(n))).collect();
        let mut ic = Interchange {
            offset: seg.offset,
            separators: seg.seps,
            sender_qualifier: f[4].trim().to_string(),
            sender_id: f[5].trim().to_string(),
            receiver_qualifier: f[6].trim().to_string(),
            receiver_id: f[7].trim().to_string(),
            date: f[8].to_string(),
            time: f[9].to_string(),
            version: f[11].to_string(),
            control: f[12].trim().to_string(),
            ack_requested: f[13] == "1",
            usage: f[14].to_string(),
            ..Interchange::default()
        };
        let mut bad = |code: &'static str, dcode: &'static str, msg: String| {
            ic.problems.push(problem(code, dcode, msg, &seg))
        };
        if !matches!(&*f[0], "00" | "01" | "02" | "03" | "04" | "05" | "06") {
            bad(
                "010",
                "x12.isa01",
                format!("ISA01 authorization qualifier {:?} is not valid", f[0]),
            );
        }
        if !matches!(&*f[2], "00" | "01") {
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
        if !hhmm(&f[9]) || f[9].len() != 4 {
            bad(
                "015",
                "x12.isa10",
                format!("ISA10 interchange time {:?} is not a valid HHMM", f[9]),
            );
        }
        let v = &ic.version;
        if !(digits(v) && v.len() == 5 && ("00200"..="00899").contains(&v.as_str())) {
            bad(
                "017",
                "x12.isa12",
                format!("ISA12 version {v:?} is not supported (00200 to 00899)"),
            );
        }
        if !(digits(&ic.control) && ic.control.len() == 9) {
            bad(
                "018",
                "x12.isa13",
                format!(
                    "ISA13 control number {:?} is not nine digits",
                    String::from_utf8_lossy(el(13))
                ),
            );
        }
        if !matches!(&*f[13], "0" | "1") {
            bad(
                "019",
                "x12.isa14",
                format!("ISA14 acknowledgment requested {:?} is not 0 or 1", f[13]),
            );
        }
        if !matches!(&*f[14], "P" | "T" | "I") {
            bad(
                "020",
                "x12.isa15",
                format!("ISA15 usage indicator {:?} is not P or T", f[14]),
            );
        }
        if els.len() != 16 {
            bad(
                "022",
                "x12.isa_count",
                format!("ISA has {} elements, expected 16", els.len()),
            );
        }
        // Every ISA field has a fixed width (the segment is 106 bytes): a field padded wrong is
        // read (its value is clear) but said, since many partners' translators refuse it.
        for (n, (width, raw)) in ISA_WIDTHS.iter().zip(&els).enumerate() {
            let len = raw.len();
            if len != *width {
                let mut d = diag(
                    Severity::Warning,
                    "x12.isa_width",
                    format!(
                        "ISA{:02} is {len} character(s) wide; ISA fields are fixed width and this one takes {width}",
                        n + 1
                    ),
                    &seg,
                );
                d.position.element = Some(n + 1);
                ic.problems.push(Problem {
                    ack_code: "",
                    diagnostic: d,
                });
            }
        }
        self.ic = Some(ic);
    }

    fn iea(&mut self, seg: Segment<'_>) {
        self.close_group(seg.offset);
        let Some(ic) = self.ic.as_mut() else {
            self.handler.stray(diag(
                Severity::Error,
                "x12.iea_outside",
                "IEA without a matching ISA".into(),
                &seg,
            ));
            return;
        };
        if !count_matches(&seg.text_ref(1), ic.groups.len()) {
            ic.problems.push(trailer(problem(
                "021",
                "x12.iea01_count",
                format!(
                    "IEA01 says {} functional groups, the interchange holds {}",
                    seg.text(1),
                    ic.groups.len()
                ),
                &seg,
            )));
        }
        if seg.text_ref(2).trim() != ic.control {
            ic.problems.push(trailer(problem(
                "001",
                "x12.iea02_control",
                format!(
                    "IEA02 control number {} does not match ISA13 {}",
                    seg.text(2),
                    ic.control
                ),
                &seg,
            )));
        }
        ic.closed = true;
        self.close_interchange(seg.offset + seg.raw.len() + 1);
    }

    fn gs(&mut self, seg: Segment<'_>) {
        self.close_group(seg.offset);
        let Some(ic) = self.ic.as_mut() else {
            return self.outside(seg);
        };
        let mut g = Group {
            offset: seg.offset,
            functional_id: seg.text(1),
            sender: seg.text(2),
            receiver: seg.text(3),
            control: seg.text(6),
            version: seg.text(8),
            ..Group::default()
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
        if !(ccyymmdd(&date) || yymmdd(&date)) {
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
        if !g
            .version
            .as_bytes()
            .get(..6)
            .is_some_and(|v| v.iter().all(u8::is_ascii_digit))
        {
            g.problems.push(problem(
                "2",
                "x12.gs08",
                format!("GS08 version {:?} is not supported", g.version),
                &seg,
            ));
        }
        self.group = Some(g);
    }

    fn ge(&mut self, seg: Segment<'_>) {
        self.close_tx(seg.offset);
        let Some(g) = self.group.as_mut() else {
            return self.outside(seg);
        };
        if !count_matches(&seg.text_ref(1), g.transaction_count) {
            g.problems.push(trailer(problem(
                "5",
                "x12.ge01_count",
                format!(
                    "GE01 says {} transaction sets, the group holds {}",
                    seg.text(1),
                    g.transaction_count
                ),
                &seg,
            )));
        }
        if seg.text_ref(2) != g.control.as_str() {
            g.problems.push(trailer(problem(
                "4",
                "x12.ge02_control",
                format!(
                    "GE02 control number {} does not match GS06 {}",
                    seg.text(2),
                    g.control
                ),
                &seg,
            )));
        }
        g.ge_count = Some(seg.text(1));
        self.close_group(seg.offset);
    }

    fn st(&mut self, seg: Segment<'_>) {
        self.close_tx(seg.offset);
        let mut tx = Transaction {
            offset: seg.offset,
            id: seg.text(1),
            control: seg.text(2),
            implementation: seg.text(3),
            separators: seg.seps,
            body: std::mem::take(&mut self.spare),
            ..Transaction::default()
        };
        tx.push(&seg);
        if !(tx.id.len() == 3 && digits(&tx.id)) {
            tx.problems.push(with_segment(
                problem(
                    "6",
                    "x12.st01",
                    format!(
                        "ST01 transaction set identifier {:?} is missing or invalid",
                        tx.id
                    ),
                    &seg,
                ),
                1,
            ));
        }
        if tx.control.len() < 4 || tx.control.len() > 9 {
            tx.problems.push(with_segment(
                problem(
                    "7",
                    "x12.st02",
                    format!(
                        "ST02 control number {:?} must be 4 to 9 characters",
                        tx.control
                    ),
                    &seg,
                ),
                1,
            ));
        }
        self.tx = Some(tx);
    }

    fn se(&mut self, seg: Segment<'_>) {
        let Some(tx) = self.tx.as_mut() else {
            return self.outside(seg);
        };
        tx.push(&seg);
        tx.closed = true;
        let n = tx.len();
        if !count_matches(&seg.text_ref(1), n) {
            let p = problem(
                "4",
                "x12.se01_count",
                format!(
                    "SE01 says {} segments, the transaction set has {n}",
                    seg.text(1)
                ),
                &seg,
            );
            tx.problems.push(with_segment(p, n));
        }
        if seg.text_ref(2) != tx.control.as_str() {
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
            tx.problems.push(with_segment(p, n));
        }
        self.close_tx(seg.offset);
    }

    fn other(&mut self, seg: Segment<'_>) {
        if let Some(tx) = self.tx.as_mut() {
            tx.push(&seg);
        } else if self.group.is_none()
            && self.ic.is_some()
            && matches!(seg.id(), b"TA1" | b"ISB" | b"ISE")
        {
            // Interchange-level service segments are allowed between ISA and GS.
        } else {
            self.outside(seg);
        }
    }

    fn outside(&mut self, seg: Segment<'_>) {
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
            (None, None) => self.handler.stray(d),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps interchanges as the translation does: transaction summaries only.
    #[derive(Default)]
    struct Summaries(Vec<Interchange>);

    impl Handler for Summaries {
        fn keep(&self) -> KeepMode {
            KeepMode::Summary
        }
        fn interchange(&mut self, ic: Interchange) {
            self.0.push(ic);
        }
        fn stray(&mut self, _d: Diagnostic) {}
    }

    type Facts = (usize, String, String, String, Vec<Problem>, usize);

    fn facts(tx: &Transaction) -> Facts {
        (
            tx.offset,
            tx.id.clone(),
            tx.control.clone(),
            tx.implementation.clone(),
            tx.problems.clone(),
            tx.issues.len(),
        )
    }

    #[test]
    fn packed_summaries_give_back_every_transaction_header_and_problem_in_order() {
        let isa = "ISA*00*          *00*          *ZZ*ACME           *ZZ*BUYER          *260517*1015*U*00401*000000905*0*P*>~";
        let mut text = format!("{isa}\nGS*PO*ACME*BUYER*20260517*1015*905*X*004010~\n");
        // Sequential controls, a jump, a repeated control (a problem: kept whole), a change
        // of document type and of ST03, a long control, a set without its SE (kept whole).
        let controls = (1..=300)
            .map(|n| format!("{n:04}"))
            .chain(["0500", "0501", "0501", "0502", "123456789"].map(String::from));
        let mut count = 0;
        for (k, control) in controls.enumerate() {
            let id = if k % 97 == 5 { "810" } else { "850" };
            let st03 = if k % 50 == 7 { "*005010X220" } else { "" };
            text.push_str(&format!(
                "ST*{id}*{control}{st03}~\nBEG*00*SA*P{k}**20260517~\n"
            ));
            text.push_str(&format!("SE*3*{control}~\n"));
            count += 1;
        }
        text.push_str("ST*850*9999~\nBEG*00*SA*X**20260517~\n");
        count += 1;
        text.push_str(&format!("GE*{count}*905~\nIEA*1*000000905~\n"));
        let whole = parse(text.as_bytes());
        let mut summaries = Summaries::default();
        super::super::stream::parse_slice(text.as_bytes(), &mut summaries);
        let (w, s) = (&whole.interchanges[0].groups[0], &summaries.0[0].groups[0]);
        assert_eq!(w.transactions.len(), count);
        assert!(
            s.transactions.len() >= 2 && s.transactions.len() < 10,
            "{}",
            s.transactions.len()
        );
        assert_eq!(s.kept_len(), count);
        let want: Vec<Facts> = w.kept().map(|t| facts(&t)).collect();
        let got: Vec<Facts> = s.kept().map(|t| facts(&t)).collect();
        assert_eq!(got, want);
        assert!(
            s.packed.bytes() < 4 * count,
            "{} bytes for {count} summaries",
            s.packed.bytes()
        );
    }
}
