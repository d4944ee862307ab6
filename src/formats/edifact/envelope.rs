//! EDIFACT envelopes: UNB/UNZ, optional UNG/UNE, UNH/UNT. A push parser fed one segment at a
//! time that records every envelope problem with its CONTRL syntax error code (0085) and hands
//! each message to a `Handler`. Never fails, never panics.

use super::lexer::{Delims, LexError, Segment};
use super::validate::Messages;
pub use crate::formats::packed::KeepMode;
use crate::formats::packed::{
    after, follows, get_text, get_varint, put_text, put_varint, Kept, Packed, Seen, Summary,
};
use crate::formats::stream::{drive_reader, drive_slice, SegBuf, Step, Tokenizer};
use crate::formats::{Diagnostic, Position, Severity};
use crate::util::valid_date;

/// An envelope problem with the CONTRL syntax error code that reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 0085 syntax error code.
    pub code: &'static str,
    pub diagnostic: Diagnostic,
}

#[derive(Debug, Default)]
pub struct Interchange {
    pub offset: usize,
    pub delims: Delims,
    /// Whether a UNB was present (bare messages have none).
    pub has_unb: bool,
    /// S001: `UNOA`, `UNOC`, ...
    pub syntax: String,
    /// S001 version, `1` to `4`.
    pub syntax_version: String,
    pub sender: String,
    pub sender_qualifier: String,
    pub recipient: String,
    pub recipient_qualifier: String,
    pub date: String,
    pub time: String,
    /// 0020 interchange control reference.
    pub control: String,
    /// 0031 = 1.
    pub ack_requested: bool,
    /// 0035 = 1.
    pub test: bool,
    pub groups: Vec<GroupInfo>,
    /// Messages kept by the handler (all of them when parsing a whole file). A handler that
    /// keeps summaries finds the clean ones packed instead: read them all, in order, with
    /// [`Interchange::kept`].
    pub messages: Vec<Message>,
    packed: Packed<Message>,
    pub message_count: usize,
    pub closed: bool,
    pub problems: Vec<Problem>,
    seen_refs: Seen,
}

/// A functional group (UNG..UNE), when used.
#[derive(Debug, Default, Clone)]
pub struct GroupInfo {
    pub offset: usize,
    pub reference: String,
    pub sender: String,
    pub recipient: String,
    pub message_count: usize,
    pub closed: bool,
    pub problems: Vec<Problem>,
}

/// One message (UNH..UNT) with its segments.
#[derive(Debug, Default, Clone)]
pub struct Message {
    pub offset: usize,
    /// 0062 message reference number.
    pub reference: String,
    /// 0065 message type (`ORDERS`).
    pub kind: String,
    /// 0052 / 0054: `D` and `96A` make directory `D96A`.
    pub version: String,
    pub release: String,
    pub agency: String,
    /// Index into the interchange's groups, when inside UNG..UNE.
    pub group: Option<usize>,
    pub delims: Delims,
    body: SegBuf,
    pub closed: bool,
    pub problems: Vec<Problem>,
    /// Its validation, made ahead on the parsing thread (see `pipe`) until
    /// [`super::validate::message`] takes it.
    ahead: Option<Box<Ahead>>,
}

/// A message's validation made before its handler asked for it: against which definitions,
/// from which problems, whether they cover the message, and the problems after it.
#[derive(Debug, Clone)]
struct Ahead {
    /// The address of the definitions (compared, never read through).
    defs: usize,
    before: Vec<Problem>,
    covered: bool,
    after: Vec<Problem>,
}

/// What [`Ahead::defs`] holds for `defs`.
fn address(defs: &Messages) -> usize {
    defs as *const Messages as usize
}

impl Interchange {
    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.diagnostic.severity == Severity::Error)
    }

    /// `id:qualifier` as sent.
    pub fn sender_key(&self) -> String {
        format!("{}:{}", self.sender, self.sender_qualifier)
    }

    /// Every message kept, in order (packed summaries unpacked one by one).
    pub fn kept(&self) -> Kept<'_, Message> {
        self.packed.kept(&self.messages)
    }

    /// How many messages [`Interchange::kept`] gives.
    pub fn kept_len(&self) -> usize {
        self.packed.len(&self.messages)
    }

    /// Keeps the summary of `m` (its segments freed): packed into a few bytes when it is
    /// clean, else whole.
    pub(super) fn keep_summary(&mut self, m: Message) {
        self.packed.keep(m, &mut self.messages);
    }

    /// Makes `into` this interchange without its messages: what a handler on another thread
    /// is shown of it while it is open (see `pipe`). `into`'s memory is reused.
    pub(super) fn header_into(&self, into: &mut Interchange) {
        into.offset = self.offset;
        into.delims = self.delims;
        into.has_unb = self.has_unb;
        into.syntax.clone_from(&self.syntax);
        into.syntax_version.clone_from(&self.syntax_version);
        into.sender.clone_from(&self.sender);
        into.sender_qualifier.clone_from(&self.sender_qualifier);
        into.recipient.clone_from(&self.recipient);
        into.recipient_qualifier
            .clone_from(&self.recipient_qualifier);
        into.date.clone_from(&self.date);
        into.time.clone_from(&self.time);
        into.control.clone_from(&self.control);
        into.ack_requested = self.ack_requested;
        into.test = self.test;
        into.groups.clone_from(&self.groups);
        into.messages.clear();
        into.packed = Packed::default();
        into.message_count = self.message_count;
        into.closed = self.closed;
        into.problems.clone_from(&self.problems);
        into.seen_refs = Seen::default();
    }

    /// Takes the messages `from` kept (the same interchange, seen by the handler's thread).
    pub(super) fn adopt_kept(&mut self, from: &mut Interchange) {
        self.messages = std::mem::take(&mut from.messages);
        self.packed = std::mem::take(&mut from.packed);
    }
}

const SAME_TYPE: u8 = 2;
const NEXT_REFERENCE: u8 = 4;
const SAME_GROUP: u8 = 8;

impl Summary for Message {
    /// The previous packed message's header.
    type Last = Message;

    fn pack(&self, last: &mut Message, b: &mut Vec<u8>) -> Option<u8> {
        if !self.problems.is_empty() || !self.closed || self.offset < last.offset {
            return None;
        }
        let same_type = self.kind == last.kind
            && self.version == last.version
            && self.release == last.release
            && self.agency == last.agency;
        let mut flags = 0;
        if same_type {
            flags |= SAME_TYPE;
        }
        if follows(&last.reference, &self.reference) {
            flags |= NEXT_REFERENCE;
        }
        if self.group == last.group {
            flags |= SAME_GROUP;
        }
        put_varint(b, (self.offset - last.offset) as u64);
        if !same_type {
            for (mine, kept) in [
                (&self.kind, &mut last.kind),
                (&self.version, &mut last.version),
                (&self.release, &mut last.release),
                (&self.agency, &mut last.agency),
            ] {
                put_text(b, mine);
                kept.clone_from(mine);
            }
        }
        if flags & NEXT_REFERENCE == 0 {
            put_text(b, &self.reference);
        }
        last.reference.clone_from(&self.reference);
        if flags & SAME_GROUP == 0 {
            // 0 for none, else the group's index plus one.
            put_varint(b, self.group.map_or(0, |g| g as u64 + 1));
            last.group = self.group;
        }
        last.offset = self.offset;
        last.delims = self.delims;
        Some(flags)
    }

    fn unpack(flags: u8, b: &[u8], at: &mut usize, p: &mut Message) -> Message {
        p.offset += get_varint(b, at) as usize;
        if flags & SAME_TYPE == 0 {
            p.kind = get_text(b, at);
            p.version = get_text(b, at);
            p.release = get_text(b, at);
            p.agency = get_text(b, at);
        }
        p.reference = if flags & NEXT_REFERENCE == 0 {
            get_text(b, at)
        } else {
            after(&p.reference)
        };
        if flags & SAME_GROUP == 0 {
            p.group = (get_varint(b, at) as usize).checked_sub(1);
        }
        p.closed = true;
        p.clone()
    }
}

impl Message {
    /// An empty message holding `body`'s memory, for the parser to reuse (see `pipe`).
    pub(super) fn with_body(mut body: SegBuf) -> Message {
        body.reset();
        Message {
            body,
            ..Message::default()
        }
    }

    /// Takes the segments' memory.
    pub(super) fn take_body(&mut self) -> SegBuf {
        std::mem::take(&mut self.body)
    }

    /// Validates the message now against `defs`, for [`super::validate::message`] to give
    /// when the handler asks (on another thread).
    pub(super) fn validate_ahead(&mut self, defs: &Messages) {
        let before = self.problems.clone();
        let covered = super::validate::message(self, defs);
        let after = std::mem::replace(&mut self.problems, before.clone());
        self.ahead = Some(Box::new(Ahead {
            defs: address(defs),
            before,
            covered,
            after,
        }));
    }

    /// The validation made ahead against these same definitions, from the problems the
    /// message has now, if any (once): whether they covered it, and the problems after it.
    pub(super) fn take_ahead(&mut self, defs: &Messages) -> Option<(bool, Vec<Problem>)> {
        let a = self.ahead.take()?;
        (a.defs == address(defs) && a.before == self.problems).then_some((a.covered, a.after))
    }

    /// Forgets a validation made ahead that nobody asked for.
    pub(super) fn drop_ahead(&mut self) {
        self.ahead = None;
    }

    pub fn rejected(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.diagnostic.severity == Severity::Error)
    }

    /// `ORDERS:D:96A:UN` as in S009.
    pub fn identifier(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.kind, self.version, self.release, self.agency
        )
    }

    /// The directory, such as `D96A`.
    pub fn directory(&self) -> String {
        format!("{}{}", self.version, self.release)
    }

    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    pub fn segment(&self, i: usize) -> Option<Segment<'_>> {
        let delims = self.delims;
        self.body.get(i).map(|(raw, offset)| Segment {
            offset,
            raw,
            delims,
        })
    }

    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'_>> + '_ {
        let delims = self.delims;
        self.body.iter().map(move |(raw, offset)| Segment {
            offset,
            raw,
            delims,
        })
    }

    /// The message's segments, still escaped, in one buffer (for the mapping twins).
    pub fn body(&self) -> &crate::formats::stream::SegBuf {
        &self.body
    }
}

/// Receives what the parser finds.
pub trait Handler {
    /// A message ended (at UNT, or cut short).
    fn message(&mut self, _ic: &Interchange, _m: &mut Message) {}
    /// What the interchange keeps of each message after `message`.
    fn keep(&self) -> KeepMode {
        KeepMode::Whole
    }
    fn interchange(&mut self, ic: Interchange);
    fn stray(&mut self, d: Diagnostic);
}

/// A whole file.
#[derive(Debug, Default)]
pub struct EdifactFile {
    pub interchanges: Vec<Interchange>,
    pub problems: Vec<Diagnostic>,
}

#[derive(Default)]
pub struct Collect(pub EdifactFile);

impl Handler for Collect {
    fn interchange(&mut self, ic: Interchange) {
        self.0.interchanges.push(ic);
    }
    fn stray(&mut self, d: Diagnostic) {
        self.0.problems.push(d);
    }
}

fn diag(
    severity: Severity,
    code: &'static str,
    message: String,
    offset: usize,
    seg: &str,
) -> Diagnostic {
    Diagnostic {
        severity,
        code,
        message,
        position: Position {
            offset,
            segment_id: seg.to_string(),
            ..Position::default()
        },
    }
}

/// A trailer problem (count, reference or missing trailer): reported, content still accepted.
fn trailer(mut p: Problem) -> Problem {
    p.diagnostic.severity = Severity::Warning;
    p
}

fn problem(code: &'static str, dcode: &'static str, message: String, seg: &Segment<'_>) -> Problem {
    Problem {
        code,
        diagnostic: diag(
            Severity::Error,
            dcode,
            message,
            seg.offset,
            &String::from_utf8_lossy(seg.id()),
        ),
    }
}

struct Parser<'h> {
    handler: &'h mut dyn Handler,
    delims: Option<Delims>,
    ic: Option<Interchange>,
    msg: Option<Message>,
    group: Option<usize>,
    /// The body of the last message not kept, emptied, for the next one's segments.
    spare: SegBuf,
}

const SYNTAXES: &[&str] = &[
    "UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOG", "UNOH", "UNOI", "UNOJ", "UNOK", "UNOW",
    "UNOX", "UNOY",
];

fn count_is(text: &str, n: usize) -> bool {
    text.trim().parse::<usize>().ok() == Some(n)
}

impl Parser<'_> {
    fn segment(&mut self, seg: Segment<'_>) {
        if seg.raw.starts_with(b"UNA") && seg.raw.len() == 9 {
            return;
        }
        match seg.id() {
            b"UNB" => self.unb(seg),
            b"UNZ" => self.unz(seg),
            b"UNG" => self.ung(seg),
            b"UNE" => self.une(seg),
            b"UNH" => self.unh(seg),
            b"UNT" => self.unt(seg),
            _ => match self.msg.as_mut() {
                Some(m) => m.body.push(seg.raw, seg.offset),
                None => {
                    let id = String::from_utf8_lossy(seg.id()).into_owned();
                    let p = problem(
                        "33",
                        "edifact.segment_outside",
                        format!("segment {id} is outside a message"),
                        &seg,
                    );
                    match self.ic.as_mut() {
                        Some(ic) => ic.problems.push(p),
                        None => self.handler.stray(p.diagnostic),
                    }
                }
            },
        }
    }

    fn implicit_interchange(&mut self, offset: usize) -> &mut Interchange {
        let delims = self.delims.unwrap_or_default();
        self.ic.get_or_insert_with(|| Interchange {
            offset,
            delims,
            problems: vec![Problem {
                code: "",
                diagnostic: diag(
                    Severity::Warning,
                    "edifact.no_unb",
                    "no UNB interchange header: the messages are read without an envelope".into(),
                    offset,
                    "UNH",
                ),
            }],
            ..Interchange::default()
        })
    }

    fn close_message(&mut self, offset: usize) {
        let Some(mut m) = self.msg.take() else { return };
        if !m.closed {
            m.problems.push(Problem {
                code: "13",
                diagnostic: diag(
                    Severity::Error,
                    "edifact.unt_missing",
                    format!("message {} has no UNT trailer", m.reference),
                    offset,
                    "UNT",
                ),
            });
        }
        let ic = self.implicit_interchange(m.offset);
        ic.message_count += 1;
        if !ic.seen_refs.insert(&m.reference) {
            m.problems.push(Problem {
                code: "26",
                diagnostic: diag(
                    Severity::Error,
                    "edifact.unh_duplicate",
                    format!(
                        "message reference {} is used twice in this interchange",
                        m.reference
                    ),
                    m.offset,
                    "UNH",
                ),
            });
        }
        if let Some(g) = m.group.and_then(|g| ic.groups.get_mut(g)) {
            g.message_count += 1;
        }
        let ic = self.ic.as_ref().expect("interchange");
        self.handler.message(ic, &mut m);
        let ic = self.ic.as_mut().expect("interchange");
        let keep = self.handler.keep();
        if keep != KeepMode::Whole {
            // The next message reuses the buffer.
            self.spare = std::mem::take(&mut m.body);
            self.spare.reset();
        }
        match keep {
            KeepMode::Whole => ic.messages.push(m),
            KeepMode::Summary => ic.keep_summary(m),
            KeepMode::Nothing => {}
        }
    }

    fn close_group(&mut self, offset: usize) {
        self.close_message(offset);
        if let (Some(g), Some(ic)) = (self.group.take(), self.ic.as_mut()) {
            if let Some(g) = ic.groups.get_mut(g).filter(|g| !g.closed) {
                g.problems.push(trailer(Problem {
                    code: "13",
                    diagnostic: diag(
                        Severity::Error,
                        "edifact.une_missing",
                        format!("group {} has no UNE trailer", g.reference),
                        offset,
                        "UNE",
                    ),
                }));
            }
        }
    }

    fn close_interchange(&mut self, offset: usize) {
        self.close_group(offset);
        if let Some(mut ic) = self.ic.take() {
            if ic.has_unb && !ic.closed {
                ic.problems.push(trailer(Problem {
                    code: "13",
                    diagnostic: diag(
                        Severity::Error,
                        "edifact.unz_missing",
                        format!(
                            "interchange {} has no UNZ trailer (premature end of file)",
                            ic.control
                        ),
                        offset,
                        "UNZ",
                    ),
                }));
            }
            ic.seen_refs = Seen::default();
            self.handler.interchange(ic);
        }
    }

    fn unb(&mut self, seg: Segment<'_>) {
        self.close_interchange(seg.offset);
        let v = seg.values();
        let mut ic = Interchange {
            offset: seg.offset,
            delims: seg.delims,
            has_unb: true,
            syntax: v.get(1, 1),
            syntax_version: v.get(1, 2),
            sender: v.get(2, 1),
            sender_qualifier: v.get(2, 2),
            recipient: v.get(3, 1),
            recipient_qualifier: v.get(3, 2),
            date: v.get(4, 1),
            time: v.get(4, 2),
            control: v.get(5, 1),
            ack_requested: v.get(9, 1) == "1",
            test: v.get(11, 1) == "1",
            ..Interchange::default()
        };
        let mut bad = |code, dcode, msg: String| ic.problems.push(problem(code, dcode, msg, &seg));
        if !SYNTAXES.contains(&ic.syntax.as_str()) {
            bad(
                "2",
                "edifact.syntax_id",
                format!("syntax identifier {:?} is not supported", ic.syntax),
            );
        }
        if !matches!(ic.syntax_version.as_str(), "1" | "2" | "3" | "4") {
            bad(
                "2",
                "edifact.syntax_version",
                format!("syntax version {:?} is not 1 to 4", ic.syntax_version),
            );
        }
        if ic.sender.is_empty() {
            bad(
                "13",
                "edifact.sender",
                "the interchange sender (S002) is missing".into(),
            );
        }
        if ic.recipient.is_empty() {
            bad(
                "13",
                "edifact.recipient",
                "the interchange recipient (S003) is missing".into(),
            );
        }
        if !date_ok(&ic.date) {
            bad(
                "12",
                "edifact.date",
                format!(
                    "interchange date {:?} is not a valid YYMMDD or CCYYMMDD",
                    ic.date
                ),
            );
        }
        if !(ic.time.len() == 4
            && ic.time.bytes().all(|b| b.is_ascii_digit())
            && ic.time[..2] < *"24"
            && ic.time[2..] < *"60")
        {
            bad(
                "12",
                "edifact.time",
                format!("interchange time {:?} is not a valid HHMM", ic.time),
            );
        }
        if ic.control.is_empty() {
            bad(
                "13",
                "edifact.control",
                "the interchange control reference (0020) is missing".into(),
            );
        } else if ic.control.len() > 14 {
            bad(
                "39",
                "edifact.control",
                format!(
                    "interchange control reference {:?} is longer than 14",
                    ic.control
                ),
            );
        }
        self.ic = Some(ic);
    }

    fn unz(&mut self, seg: Segment<'_>) {
        self.close_group(seg.offset);
        let Some(ic) = self.ic.as_mut() else {
            self.handler.stray(diag(
                Severity::Error,
                "edifact.unz_outside",
                "UNZ without a matching UNB".into(),
                seg.offset,
                "UNZ",
            ));
            return;
        };
        let n = if ic.groups.is_empty() {
            ic.message_count
        } else {
            ic.groups.len()
        };
        if !count_is(&seg.value(1, 1), n) {
            ic.problems.push(trailer(problem(
                "29",
                "edifact.unz_count",
                format!(
                    "UNZ says {} messages or groups, the interchange holds {n}",
                    seg.get(1, 1)
                ),
                &seg,
            )));
        }
        if seg.value(2, 1) != ic.control {
            ic.problems.push(trailer(problem(
                "28",
                "edifact.unz_control",
                format!(
                    "UNZ control reference {} does not match UNB {}",
                    seg.get(2, 1),
                    ic.control
                ),
                &seg,
            )));
        }
        ic.closed = true;
        self.close_interchange(seg.offset + seg.raw.len() + 1);
    }

    fn ung(&mut self, seg: Segment<'_>) {
        self.close_group(seg.offset);
        let ic = self.implicit_interchange(seg.offset);
        ic.groups.push(GroupInfo {
            offset: seg.offset,
            reference: seg.get(5, 1),
            sender: seg.get(2, 1),
            recipient: seg.get(3, 1),
            ..GroupInfo::default()
        });
        self.group = Some(ic.groups.len() - 1);
    }

    fn une(&mut self, seg: Segment<'_>) {
        self.close_message(seg.offset);
        let Some(g) = self
            .group
            .take()
            .and_then(|g| self.ic.as_mut()?.groups.get_mut(g))
        else {
            self.handler.stray(diag(
                Severity::Error,
                "edifact.une_outside",
                "UNE without a matching UNG".into(),
                seg.offset,
                "UNE",
            ));
            return;
        };
        if !count_is(&seg.get(1, 1), g.message_count) {
            g.problems.push(trailer(problem(
                "29",
                "edifact.une_count",
                format!(
                    "UNE says {} messages, the group holds {}",
                    seg.get(1, 1),
                    g.message_count
                ),
                &seg,
            )));
        }
        if seg.get(2, 1) != g.reference {
            g.problems.push(trailer(problem(
                "28",
                "edifact.une_control",
                format!(
                    "UNE reference {} does not match UNG {}",
                    seg.get(2, 1),
                    g.reference
                ),
                &seg,
            )));
        }
        g.closed = true;
    }

    fn unh(&mut self, seg: Segment<'_>) {
        self.close_message(seg.offset);
        let v = seg.values();
        let mut m = Message {
            offset: seg.offset,
            reference: v.get(1, 1),
            kind: v.get(2, 1),
            version: v.get(2, 2),
            release: v.get(2, 3),
            agency: v.get(2, 4),
            group: self.group,
            delims: seg.delims,
            body: std::mem::take(&mut self.spare),
            ..Message::default()
        };
        m.body.push(seg.raw, seg.offset);
        if m.reference.is_empty() {
            m.problems.push(problem(
                "13",
                "edifact.unh_reference",
                "the message reference (0062) is missing".into(),
                &seg,
            ));
        }
        if m.kind.is_empty() || m.version.is_empty() || m.release.is_empty() {
            m.problems.push(problem(
                "13",
                "edifact.unh_type",
                "the message identifier (S009) is incomplete".into(),
                &seg,
            ));
        }
        self.msg = Some(m);
    }

    fn unt(&mut self, seg: Segment<'_>) {
        let Some(m) = self.msg.as_mut() else {
            self.handler.stray(diag(
                Severity::Error,
                "edifact.unt_outside",
                "UNT without a matching UNH".into(),
                seg.offset,
                "UNT",
            ));
            return;
        };
        m.body.push(seg.raw, seg.offset);
        m.closed = true;
        let n = m.body.len();
        if !count_is(&seg.value(1, 1), n) {
            let mut p = problem(
                "29",
                "edifact.unt_count",
                format!("UNT says {} segments, the message has {n}", seg.get(1, 1)),
                &seg,
            );
            p.diagnostic.position.segment = Some(n);
            m.problems.push(p);
        }
        if seg.value(2, 1) != m.reference {
            let mut p = problem(
                "28",
                "edifact.unt_reference",
                format!(
                    "UNT reference {} does not match UNH {}",
                    seg.get(2, 1),
                    m.reference
                ),
                &seg,
            );
            p.diagnostic.position.segment = Some(n);
            m.problems.push(p);
        }
        self.close_message(seg.offset);
    }

    fn lex_error(&mut self, e: LexError) {
        let (offset, code, dcode, message) = match e {
            LexError::NotEdifact { offset } => (
                offset,
                "",
                "edifact.not_edifact",
                "expected UNA, UNB or UNH: this is not EDIFACT".to_string(),
            ),
            LexError::BadUna { offset } => (
                offset,
                "20",
                "edifact.bad_una",
                "the UNA service string advice is unusable".to_string(),
            ),
            LexError::Unterminated { offset } => (
                offset,
                "13",
                "edifact.premature_end",
                "the file ends inside a segment (no segment terminator)".to_string(),
            ),
        };
        let d = diag(Severity::Error, dcode, message, offset, "");
        match self.ic.as_mut() {
            Some(ic) if !code.is_empty() => ic.problems.push(Problem {
                code,
                diagnostic: d,
            }),
            _ => self.handler.stray(d),
        }
    }
}

fn date_ok(s: &str) -> bool {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    match s.len() {
        6 => valid_date(2000 + i64::from(n(0..2)), n(2..4), n(4..6)),
        8 => valid_date(i64::from(n(0..4)), n(4..6), n(6..8)),
        _ => false,
    }
}

struct Edifact<'h> {
    parser: Parser<'h>,
}

impl Tokenizer for Edifact<'_> {
    type Error = LexError;

    fn step(&mut self, buf: &[u8], pos: usize, base: usize, eof: bool) -> Step<LexError> {
        super::lexer::step(buf, pos, &mut self.parser.delims, base, eof)
    }

    fn segment(&mut self, raw: &[u8], offset: usize, _dirty: bool) {
        let delims = self.parser.delims.unwrap_or_default();
        self.parser.segment(Segment {
            offset,
            raw,
            delims,
        });
    }

    fn error(&mut self, e: LexError) {
        self.parser.lex_error(e);
    }
}

fn tokenizer(handler: &mut dyn Handler) -> Edifact<'_> {
    Edifact {
        parser: Parser {
            handler,
            delims: None,
            ic: None,
            msg: None,
            group: None,
            spare: SegBuf::default(),
        },
    }
}

/// Parses a whole buffer, keeping everything.
pub fn parse(buf: &[u8]) -> EdifactFile {
    let mut c = Collect::default();
    parse_slice(buf, &mut c);
    c.0
}

/// Parses a whole buffer into `handler`.
pub fn parse_slice(buf: &[u8], handler: &mut dyn Handler) {
    let mut t = tokenizer(handler);
    let end = drive_slice(buf, &mut t);
    t.parser.close_interchange(end);
}

/// Parses everything `src` yields in bounded memory. Returns the bytes read.
pub fn parse_reader(src: impl std::io::Read, handler: &mut dyn Handler) -> std::io::Result<u64> {
    let mut t = tokenizer(handler);
    let end = drive_reader(src, &mut t)?;
    t.parser.close_interchange(end as usize);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "UNA:+.? 'UNB+UNOC:3+SENDER:14+RECEIVER:14+200101:1200+REF1++++1'UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'UNT+3+1'UNH+2+ORDERS:D:96A:UN'BGM+220+PO2+9'UNT+3+2'UNZ+2+REF1'";

    #[test]
    fn reads_a_good_interchange() {
        let f = parse(GOOD.as_bytes());
        assert!(f.problems.is_empty());
        let ic = &f.interchanges[0];
        assert!(!ic.rejected(), "{:?}", ic.problems);
        assert!(ic.ack_requested);
        assert_eq!(ic.sender_key(), "SENDER:14");
        assert_eq!(ic.messages.len(), 2);
        assert_eq!(ic.messages[1].identifier(), "ORDERS:D:96A:UN");
        assert_eq!(ic.messages[1].segment(1).unwrap().get(2, 1), "PO2");
    }

    #[test]
    fn finds_count_and_reference_errors() {
        let bad = GOOD
            .replace("UNT+3+2'", "UNT+4+9'")
            .replace("UNZ+2+REF1", "UNZ+3+REF2");
        let f = parse(bad.as_bytes());
        let ic = &f.interchanges[0];
        let codes: Vec<_> = ic.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["29", "28"]);
        let m = &ic.messages[1];
        assert_eq!(
            m.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
            ["29", "28"]
        );
        let cut = &GOOD[..GOOD.len() - 30];
        let f = parse(cut.as_bytes());
        assert!(f.interchanges[0].rejected());
    }

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

    type Facts = (usize, String, String, Option<usize>, bool, Vec<Problem>);

    fn facts(m: &Message) -> Facts {
        (
            m.offset,
            m.reference.clone(),
            m.identifier(),
            m.group,
            m.closed,
            m.problems.clone(),
        )
    }

    #[test]
    fn packed_summaries_give_back_every_message_header_and_problem_in_order() {
        let mut text = String::from("UNA:+.? 'UNB+UNOC:3+SENDER:14+RECEIVER:14+200101:1200+REF1'");
        // Sequential references, a jump, a repeated one (a problem: kept whole), a change of
        // type, a group, a long reference, a message without its UNT (kept whole).
        let refs = (1..=300)
            .map(|n| format!("{n:04}"))
            .chain(["0500", "0501", "0501", "0502", "A12345678901"].map(String::from));
        let mut count = 0;
        for (k, r) in refs.enumerate() {
            if k == 200 {
                text.push_str("UNG+ORDERS+SENDER:14+RECEIVER:14+200101:1200+G1+UN+D:96A'");
            }
            let kind = if k % 97 == 5 { "INVOIC" } else { "ORDERS" };
            text.push_str(&format!(
                "UNH+{r}+{kind}:D:96A:UN'BGM+220+PO{k}+9'UNT+3+{r}'"
            ));
            if k == 250 {
                text.push_str("UNE+51+G1'");
            }
            count += 1;
        }
        text.push_str("UNH+9999+ORDERS:D:96A:UN'BGM+220+X+9'");
        count += 1;
        text.push_str(&format!("UNZ+{count}+REF1'"));
        let whole = parse(text.as_bytes());
        let mut summaries = Summaries::default();
        parse_slice(text.as_bytes(), &mut summaries);
        let (w, s) = (&whole.interchanges[0], &summaries.0[0]);
        assert_eq!(w.messages.len(), count);
        assert!(
            s.messages.len() >= 2 && s.messages.len() < 10,
            "{}",
            s.messages.len()
        );
        assert_eq!(s.kept_len(), count);
        let want: Vec<Facts> = w.kept().map(|m| facts(&m)).collect();
        let got: Vec<Facts> = s.kept().map(|m| facts(&m)).collect();
        assert_eq!(got, want);
        assert!(want.iter().any(|f| f.3 == Some(0)) && want.iter().any(|f| f.3.is_none()));
        assert!(
            s.packed.bytes() < 4 * count,
            "{} bytes for {count} summaries",
            s.packed.bytes()
        );
    }
}
