//! One file in, canonical records, acknowledgements and diagnostics out. Pure: the caller
//! supplies the bytes, the clock and a control-number allocator.

use crate::acks::AckDoc;
use crate::canonical::{Record, Source, Written};
use crate::config::Config;
use crate::formats::x12::envelope::{Issue, Problem};
use crate::formats::{self, x12, Diagnostic, Format, Position, Severity};
use crate::mapping;
use crate::util::Utc;

mod edifact_run;
mod pass;
mod spool;
mod x12_run;

use edifact_run::translate_edifact;
use x12_run::translate_x12;

pub use spool::{Records, Spool};

/// What the caller knows about the file.
pub struct Input<'a> {
    pub data: &'a [u8],
    /// Path shown in records and diagnostics (relative to the config folder when possible).
    pub file: &'a str,
    pub sha256: &'a str,
    /// The partner the channel belongs to, when the channel is bound to one.
    pub channel_partner: Option<&'a str>,
    /// Whether an interchange (partner, sender, control number) was already received within the
    /// duplicate window; `None` checks nothing (for `translate` and tests).
    pub seen: Option<Seen<'a>>,
    /// When set, an X12 or EDIFACT file is read from disk as it is parsed (and again for a
    /// second pass), and `data` holds only its start, enough to tell its format and encoding.
    pub whole: Option<Whole<'a>>,
}

/// Whether a file starting with `head` (its first 64 KiB or all of it) can be read from disk
/// as it is translated ([`Whole`]): X12, EDIFACT and CSV that a column map fits, in an
/// encoding we read.
pub fn streams(head: &[u8], cfg: &Config) -> bool {
    formats::refuse_encoding(head).is_none()
        && match formats::sniff(head) {
            Format::X12 | Format::Edifact => true,
            Format::Unknown => cfg.maps.csv_map(head).is_some(),
            _ => false,
        }
}

/// The start of a file read to tell its format: an X12, EDIFACT or CSV file is then read from
/// disk as it is translated (a CSV file whole only when it must be).
pub const HEAD_BYTES: u64 = 64 << 10;

/// A file's content for translation: all of it, or only its first [`HEAD_BYTES`] when it is
/// read from disk as it is translated ([`streams`]) or too large to read whole.
pub struct Loaded {
    pub data: Vec<u8>,
    pub len: u64,
    pub streamed: bool,
    path: std::path::PathBuf,
    /// A copy made for this translation (an archived document), removed when dropped.
    temporary: bool,
}

impl Loaded {
    /// Reads the start of the file at `path`, and the rest only when it does not stream and
    /// is within `max_whole_file_mb` (a larger one is refused by the translation, unread).
    pub fn read(path: &std::path::Path, cfg: &Config) -> std::io::Result<Loaded> {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mut data = Vec::new();
        (&mut file).take(HEAD_BYTES).read_to_end(&mut data)?;
        let streamed =
            (data.len() as u64) < len && (streams(&data, cfg) || len > cfg.max_whole_bytes);
        if !streamed {
            file.read_to_end(&mut data)?;
        }
        Ok(Loaded {
            data,
            len,
            streamed,
            path: path.to_path_buf(),
            temporary: false,
        })
    }

    /// As [`Loaded::read`], for a copy made for this translation only: removed when dropped.
    pub fn read_temporary(path: &std::path::Path, cfg: &Config) -> std::io::Result<Loaded> {
        let loaded = Loaded::read(path, cfg);
        if loaded.is_err() {
            let _ = std::fs::remove_file(path);
        }
        loaded.map(|mut l| {
            l.temporary = true;
            l
        })
    }

    /// Content already in memory (all of it).
    pub fn in_memory(data: Vec<u8>) -> Loaded {
        Loaded {
            len: data.len() as u64,
            data,
            streamed: false,
            path: Default::default(),
            temporary: false,
        }
    }

    /// What [`Input::whole`] is for this content.
    pub fn whole(&self) -> Option<Whole<'_>> {
        self.streamed.then_some(Whole {
            path: &self.path,
            len: self.len,
        })
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file read from disk while it is translated, so that its size costs no memory.
#[derive(Debug, Clone, Copy)]
pub struct Whole<'a> {
    pub path: &'a std::path::Path,
    pub len: u64,
}

impl Whole<'_> {
    fn open(&self) -> std::io::Result<std::fs::File> {
        std::fs::File::open(self.path)
    }
}

/// Where a streamed translation hands its results, interchange by interchange, instead of
/// keeping them in the [`Outcome`]. Nothing reaches it from an interchange that is not yet
/// decided, and nothing twice when the file is read a second time.
pub trait Sink {
    fn record(&mut self, r: Emitted);
    fn ack(&mut self, a: Ack);
    /// Whether acknowledgements are wanted at all (none are built otherwise).
    fn wants_acks(&self) -> bool {
        true
    }
    fn interchange(&mut self, _i: InterchangeInfo) {}
}

/// A translation's results kept for their commit, in spools (in memory up to a bound, then
/// in temporary files), so that a big file's results cost no memory.
pub struct Collected {
    pub records: Spool<Emitted>,
    pub acks: Spool<Ack>,
    pub interchanges: Spool<InterchangeInfo>,
    /// The first error writing a spool: the results are incomplete.
    pub failed: Option<std::io::Error>,
}

impl Default for Collected {
    /// Spools of at most 4 MB in memory each: several files of a batch wait beside each other.
    fn default() -> Self {
        Collected {
            records: Spool::with_bound(4 << 20),
            acks: Spool::with_bound(4 << 20),
            interchanges: Spool::with_bound(4 << 20),
            failed: None,
        }
    }
}

impl Collected {
    fn keep(&mut self, done: std::io::Result<()>) {
        if let Err(e) = done {
            self.failed.get_or_insert(e);
        }
    }
}

impl Sink for Collected {
    fn record(&mut self, r: Emitted) {
        let done = self.records.push(r);
        self.keep(done);
    }

    fn ack(&mut self, a: Ack) {
        let done = self.acks.push(a);
        self.keep(done);
    }

    fn interchange(&mut self, i: InterchangeInfo) {
        let done = self.interchanges.push(i);
        self.keep(done);
    }
}

/// `(partner, sender, control number) -> already received?`
pub type Seen<'a> = &'a dyn Fn(&str, &str, &str) -> bool;

/// A record as translation hands it on: what routing and the store read, and the record's JSON
/// Lines text, serialised once when it is made. A file's records wait for their commit in this
/// form, a fraction of the typed tree's memory, and every consumer (outputs, deliveries,
/// `edigate translate`) writes the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub id: String,
    pub schema: String,
    pub partner: String,
    pub correlation: std::collections::BTreeMap<String, String>,
    pub interchange_control: String,
    pub transaction_control: String,
    /// The whole record, envelope included, as one line of JSON (no newline).
    pub json: String,
}

impl Emitted {
    /// The record as a JSON value (for tests and tools).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).expect("an emitted record is JSON")
    }
}

/// An acknowledgement with the partner it goes to.
#[derive(Debug, PartialEq, Eq)]
pub struct Ack {
    pub partner: String,
    pub doc: AckDoc,
}

/// One rejected transaction set or message, kept as an exception item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedItem {
    pub document: String,
    pub control: String,
    pub interchange: String,
    pub code: &'static str,
    pub reason: String,
    pub offset: usize,
}

impl RejectedItem {
    /// An item whose reason is its `first` error (`fallback` as the code when there is none).
    fn of(
        document: &str,
        control: &str,
        interchange: &str,
        first: Option<&Diagnostic>,
        fallback: &'static str,
        offset: usize,
    ) -> RejectedItem {
        RejectedItem {
            document: document.to_string(),
            control: control.to_string(),
            interchange: interchange.to_string(),
            code: first.map_or(fallback, |d| d.code),
            reason: first.map_or_else(
                || "rejected".to_string(),
                |d| format!("{}: {}", d.position, d.message),
            ),
            offset,
        }
    }
}

/// Why a whole file cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
    pub position: Position,
}

/// An interchange seen in the file (for duplicate detection and tracking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterchangeInfo {
    pub partner: String,
    pub sender: String,
    pub receiver: String,
    pub control: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub records: Vec<Emitted>,
    pub acks: Vec<Ack>,
    pub diagnostics: Vec<Diagnostic>,
    pub interchanges: Vec<InterchangeInfo>,
    pub accepted: usize,
    pub rejected: usize,
    /// Document types seen (`850`, `ORDERS`), in first-seen order.
    pub documents: Vec<String>,
    /// Transaction sets or messages rejected inside a file whose other content flows.
    pub rejected_items: Vec<RejectedItem>,
    /// Set when nothing in the file can flow: the file goes to quarantine.
    pub refusal: Option<Refusal>,
    /// Documents for partners made from canonical records (the ERP -> partner direction).
    pub outbound: Vec<OutboundDoc>,
    /// Diagnostics listed so far (errors, others) and how many more were only counted
    /// ([`Outcome::diagnose`]).
    listed: [usize; 2],
    unlisted: usize,
}

/// A document going to a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundDoc {
    pub partner: String,
    /// `x12:850`, `edifact:INVOIC`, `cxml:OrderRequest`.
    pub target: String,
    pub control: u64,
    pub bytes: Vec<u8>,
}

impl Outcome {
    /// Lists diagnostics of an interchange: the file's first [`MAX_ERRORS`] errors and as many
    /// other diagnostics; the rest are only counted, so a file of a million bad transaction sets
    /// holds (and logs) no more than that. [`Outcome::close_diagnostics`] says how many more.
    pub(crate) fn diagnose<'d>(&mut self, found: impl IntoIterator<Item = &'d Diagnostic>) {
        for d in found {
            let kind = usize::from(d.severity != Severity::Error);
            if self.listed[kind] < crate::formats::MAX_ERRORS {
                self.listed[kind] += 1;
                self.diagnostics.push(d.clone());
            } else {
                self.unlisted += 1;
            }
        }
    }

    /// The last diagnostic listed says how many were only counted.
    pub(crate) fn close_diagnostics(&mut self) {
        if self.unlisted > 0 {
            if let Some(last) = self.diagnostics.last_mut() {
                last.message.push_str(&format!(
                    "; {} more diagnostics in this file are not listed",
                    self.unlisted
                ));
            }
        }
    }

    /// The temporary spool of records could not be written or read back: the results are
    /// incomplete, so the file is refused.
    /// Refused because the file could not be read (to its end).
    fn unreadable(&mut self, e: std::io::Error) {
        self.refuse(
            "file.unreadable",
            format!("the file could not be read to its end: {e}"),
            Position::default(),
        );
    }

    fn spool_failed(&mut self, e: std::io::Error) {
        self.refuse(
            "internal",
            format!("the temporary spool of records failed: {e}"),
            Position::default(),
        );
    }

    fn refuse(&mut self, code: &'static str, reason: String, position: Position) {
        if self.refusal.is_none() {
            self.refusal = Some(Refusal {
                code,
                reason,
                position,
            });
        }
    }
}

/// Translates one file. `allocate(partner)` returns a fresh interchange control number.
pub fn translate(
    input: &Input<'_>,
    cfg: &Config,
    now: Utc,
    allocate: &mut dyn FnMut(&str) -> u64,
) -> Outcome {
    translate_into(input, cfg, now, allocate, None)
}

/// [`translate`], handing records, acknowledgements and interchanges to `sink` as each
/// interchange ends (the outcome keeps the counts, diagnostics and rejected items).
pub fn translate_to(
    input: &Input<'_>,
    cfg: &Config,
    now: Utc,
    allocate: &mut dyn FnMut(&str) -> u64,
    sink: &mut dyn Sink,
) -> Outcome {
    translate_into(input, cfg, now, allocate, Some(sink))
}

fn translate_into<'r>(
    input: &'r Input<'_>,
    cfg: &'r Config,
    now: Utc,
    allocate: &'r mut dyn FnMut(&str) -> u64,
    mut sink: Option<&'r mut dyn Sink>,
) -> Outcome {
    let len = input.whole.map_or(input.data.len() as u64, |w| w.len);
    if let Some(out) = oversized(len, cfg) {
        return out;
    }
    let mut out = Outcome::default();
    if let Some(why) = formats::refuse_encoding(input.data) {
        out.refuse("encoding", why.to_string(), Position::default());
        return out;
    }
    let format = formats::sniff(input.data);
    // Read whole (or only its head, when too large to be): bounded by max_whole_file_mb. A CSV
    // file's translation tells whether it has to be read whole.
    let from_disk = streams(input.data, cfg);
    if let Some(out) = too_large(len, cfg.max_whole_bytes, "max_whole_file_mb") {
        if input.whole.is_none() || !from_disk {
            return out;
        }
    }
    if input.whole.is_some() && !from_disk {
        out.refuse(
            "internal",
            "only X12, EDIFACT and CSV are read from disk as they are translated".into(),
            Position::default(),
        );
        return out;
    }
    match format {
        Format::X12 => translate_x12(input, cfg, now, allocate, sink.take(), &mut out),
        Format::Edifact => translate_edifact(input, cfg, now, allocate, sink.take(), &mut out),
        Format::Xml => translate_cxml(input, cfg, &mut out),
        Format::Records => translate_records(input, cfg, now, allocate, &mut out),
        Format::Unknown => match cfg.maps.csv_map(input.data) {
            Some((name, map)) => {
                translate_csv(input, cfg, (name, map), sink.as_deref_mut(), &mut out)
            }
            None => out.refuse(
                "format.unknown",
                "not a document we read: the file starts with neither ISA, UNA, UNB nor <, and \
                 no CSV column map in mappings/csv/ fits its first line"
                    .into(),
                Position::default(),
            ),
        },
    }
    // The other formats are one document each: handed over whole.
    if let Some(sink) = sink {
        out.interchanges.drain(..).for_each(|i| sink.interchange(i));
        out.records.drain(..).for_each(|r| sink.record(r));
        out.acks.drain(..).for_each(|a| sink.ack(a));
    }
    out
}

/// The outcome for an input over `max_file_mb`, which is not read at all (the pipeline asks
/// before loading the file): quarantined with its size, for the operator to raise the limit
/// or have the file split, then release it.
pub fn oversized(len: u64, cfg: &Config) -> Option<Outcome> {
    too_large(len, cfg.max_file_bytes, "max_file_mb")
}

fn too_large(len: u64, limit: u64, key: &str) -> Option<Outcome> {
    let why = too_large_reason(len, limit, key)?;
    let mut out = Outcome::default();
    out.refuse("file.too_large", why, Position::default());
    Some(out)
}

/// Why a file of `len` bytes is refused under limit `key`, when it is over it.
fn too_large_reason(len: u64, limit: u64, key: &str) -> Option<String> {
    if len <= limit {
        return None;
    }
    let why = if key == "max_file_mb" {
        "X12, EDIFACT and CSV files stream, so memory does not grow with their size"
    } else {
        "XML and zip files are read whole, into memory, as are CSV files mapped in the \
         interpreter or whose documents' rows are apart"
    };
    Some(format!(
        "the file is {:.1} MB, over {key} = {} ([service] in edigate.toml; {why}): raise the \
         limit or have the partner split it, then release it",
        len as f64 / 1_048_576.0,
        limit >> 20
    ))
}

/// The outcome for a file whose translation panicked (a bug in edigate, never the sender's
/// fault): the file is quarantined with class `internal` and everything else goes on.
pub fn internal_failure(panic: &str) -> Outcome {
    let mut out = Outcome::default();
    out.refuse(
        "internal.panic",
        format!(
            "edigate failed while translating this file (an internal error, please report it):              {panic}; the file is held here and the service goes on"
        ),
        Position::default(),
    );
    out
}

/// The text of a caught panic.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// [`translate`] without a store: control numbers for acknowledgements count from 1 within the
/// file. For `edigate translate`, tests, benches and fuzzing, which must not touch state.
pub fn dry_run(input: &Input<'_>, cfg: &Config, now: Utc) -> Outcome {
    let mut next = 0;
    translate(input, cfg, now, &mut |_| {
        next += 1;
        next
    })
}

/// [`dry_run`] handing its results to `sink` as each interchange ends.
pub fn dry_run_to(input: &Input<'_>, cfg: &Config, now: Utc, sink: &mut dyn Sink) -> Outcome {
    let mut next = 0;
    let mut allocate = |_: &str| {
        next += 1;
        next
    };
    translate_to(input, cfg, now, &mut allocate, sink)
}

/// The partner a file speaks for. A channel bound to a partner accepts only that partner's
/// sender ids (when it has any configured); anything else is a spoofing attempt.
fn resolve_partner(
    cfg: &Config,
    channel_partner: Option<&str>,
    sender: &str,
    known: Option<&crate::config::Partner>,
    fallback: &str,
) -> Result<String, (&'static str, String)> {
    match (channel_partner, known) {
        (Some(cp), Some(p)) if p.id != cp => Err((
            "partner.spoofed",
            format!(
                "sender {sender} belongs to partner {}, not to this channel's partner {cp}",
                p.id
            ),
        )),
        (Some(cp), None)
            if cfg.partner(cp).is_some_and(|p| {
                !p.x12_ids.is_empty() || !p.edifact_ids.is_empty() || !p.cxml_ids.is_empty()
            }) =>
        {
            Err((
                "partner.spoofed",
                format!("sender {sender} is not one of partner {cp}'s ids"),
            ))
        }
        (Some(cp), _) => Ok(cp.to_string()),
        (None, Some(p)) => Ok(p.id.clone()),
        (None, None) => Ok(fallback.to_string()),
    }
}

/// A record with its deterministic id (`key` names the input bytes and position).
fn record(key: &str, partner: &str, source: &Source, mut object: Written) -> Emitted {
    let id = crate::util::record_id(key);
    Emitted {
        json: object.record(&id, partner, source),
        id,
        schema: object.schema.to_string(),
        partner: partner.to_string(),
        correlation: object.correlation,
        interchange_control: source.interchange_control.clone(),
        transaction_control: source.transaction_control.clone(),
    }
}

/// Turns a mapping failure into the AK3/AK4 (or AK5) entry that rejects the transaction.
fn x12_mapping_problem(tx: &mut x12::Transaction, e: mapping::MapError) {
    let index = e.segment.as_ref().and_then(|want| {
        mapping::doc::find_segment(tx.segments().map(|g| mapping::doc::x12_segment(&g)), want)
    });
    let seg = index.and_then(|i| tx.segment(i));
    let id = seg.map_or_else(
        || "ST".to_string(),
        |s| String::from_utf8_lossy(s.id()).into_owned(),
    );
    let missing = e.code == "3";
    let element_code: Option<&'static str> = match (e.element, e.code.as_str()) {
        (Some(n), code) if n > 0 && !missing => Some(match code {
            "1" => "1",
            "2" => "2",
            "4" => "4",
            "5" => "5",
            "6" => "6",
            "8" => "8",
            _ => "7",
        }),
        _ => None,
    };
    let diag_code = match (missing, element_code) {
        (true, _) => "x12.segment_missing",
        (_, Some("1")) => "x12.element_missing",
        (_, Some("2")) => "x12.conditional_missing",
        (_, Some("6")) => "x12.invalid_character",
        (_, Some("8")) => "x12.invalid_date",
        (_, Some(_)) => "x12.invalid_code",
        _ if e.code == "crosswalk" => "x12.crosswalk",
        _ => "x12.mapping",
    };
    let element = element_code.and(e.element);
    let diagnostic = Diagnostic {
        severity: Severity::Error,
        code: diag_code,
        message: match element {
            Some(n) => format!("{id}{n:02}: {}", e.message),
            None => e.message.clone(),
        },
        position: Position {
            offset: seg.map_or(tx.offset, |s| s.offset),
            segment: Some(index.unwrap_or(if missing { 1 } else { 0 }) + 1),
            segment_id: if missing && seg.is_none() {
                "ST".into()
            } else {
                id
            },
            element,
            component: None,
        },
    };
    if seg.is_some() || missing {
        tx.issues.push(Issue {
            segment_code: if missing { "3" } else { "8" },
            element_code,
            element_ref: None,
            bad_value: match (seg, element) {
                (Some(s), Some(n)) => s.text(n),
                _ => String::new(),
            },
            diagnostic,
        });
    } else {
        // Nothing to point at inside the set (a crosswalk miss, a record that breaks its
        // schema): the whole transaction set is in error.
        tx.problems.push(Problem {
            ack_code: "5",
            diagnostic,
        });
    }
}

/// Canonical records (JSON Lines, typically from the ERP) -> one document per partner and
/// target, as each partner's `[partners.outbound] documents` says. All or nothing: one record
/// that cannot go out holds the file.
fn translate_records(
    input: &Input<'_>,
    cfg: &Config,
    now: Utc,
    allocate: &mut dyn FnMut(&str) -> u64,
    out: &mut Outcome,
) {
    let text = String::from_utf8_lossy(input.data);
    let mut groups: Vec<((String, String), Vec<serde_json::Value>)> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |code: &'static str, reason: String, out: &mut Outcome| {
            out.refuse(
                code,
                format!("line {}: {reason}", n + 1),
                Position::default(),
            )
        };
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return at("records.json", format!("not JSON: {e}"), out),
        };
        let rec: Record = match serde_json::from_value(value.clone()) {
            Ok(r) => r,
            Err(e) => {
                return at(
                    "records.contract",
                    format!("not a canonical record: {e}"),
                    out,
                )
            }
        };
        if let Some(cp) = input.channel_partner.filter(|cp| *cp != rec.partner) {
            return at(
                "partner.spoofed",
                format!(
                    "record for partner {} in a channel of partner {cp}",
                    rec.partner
                ),
                out,
            );
        }
        let Some(target) = cfg
            .partner(&rec.partner)
            .and_then(|p| p.outbound.documents.get(&rec.schema))
        else {
            return at(
                "records.no_target",
                format!(
                    "partner {} takes no {} documents (add it to [partners.outbound] documents)",
                    rec.partner, rec.schema
                ),
                out,
            );
        };
        let key = (rec.partner.clone(), target.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(value),
            None => groups.push((key, vec![value])),
        }
        out.accepted += 1;
    }
    if groups.is_empty() {
        return out.refuse(
            "empty",
            "the file holds no record".into(),
            Position::default(),
        );
    }
    let mut docs = Vec::new();
    for ((partner, target), records) in groups {
        let parsed: crate::outbound::Target = match target.parse() {
            Ok(t) => t,
            Err(e) => return out.refuse("records.outbound", e.to_string(), Position::default()),
        };
        let control = allocate(&partner);
        match crate::outbound::render(cfg, &partner, &parsed, &records, control, now) {
            Ok(bytes) => docs.push(OutboundDoc {
                partner: partner.clone(),
                target: target.clone(),
                control,
                bytes,
            }),
            Err(e) => {
                return out.refuse(
                    "records.outbound",
                    format!("{target} for {partner}: {e}"),
                    Position::default(),
                )
            }
        }
        if !out.documents.contains(&target) {
            out.documents.push(target.clone());
        }
        out.interchanges.push(InterchangeInfo {
            partner,
            sender: "records".into(),
            receiver: target,
            control: control.to_string(),
        });
    }
    out.outbound = docs;
}

/// A CSV file read through column map `name`: rows, then the map's mapping. A shipped mapping
/// reads the rows one document at a time, from disk when the file is there; the file is read
/// whole (within `max_whole_file_mb`) when the mapping runs interpreted or a document's rows
/// are apart.
fn translate_csv<'s>(
    input: &Input<'_>,
    cfg: &Config,
    (name, map): (&str, &crate::formats::csv::ColumnMap),
    mut sink: Option<&mut (dyn Sink + 's)>,
    out: &mut Outcome,
) {
    use crate::mapping::twin::Streamed;
    let document = name.to_string();
    out.documents.push(format!("csv:{name}"));
    let Some(partner) = input
        .channel_partner
        .map(str::to_string)
        .or_else(|| map.partner.clone())
    else {
        return out.refuse(
            "csv.no_partner",
            format!("a CSV file names no partner: bind its channel to a partner or set `partner` in mappings/csv/{name}.toml"),
            Position::default(),
        );
    };
    let source = Source {
        format: "csv".into(),
        document,
        file: input.file.to_string(),
        sha256: input.sha256.to_string(),
        ..Source::default()
    };
    let program = cfg.maps.find(&partner, "inbound", "csv", &map.document);
    // Why the file is read whole, when it is on disk.
    let mut whole_why = match program {
        Some(_) => "its mapping runs interpreted".to_string(),
        None => format!("no mapping inbound/csv/{}.jq reads its rows", map.document),
    };
    if let Some(program) = program {
        // The twin's records wait in a spool (a temporary file past 4 MB) until every document
        // of the file is mapped: a file's records are not held in memory, and none flows when
        // the twin declines halfway (the file is then read whole).
        let mut spool: Spool<Emitted> = Spool::with_bound(4 << 20);
        let (mut k, mut failed) = (0, None);
        let mut emit = |w| {
            let key = format!("{}:csv:{k}", input.sha256);
            k += 1;
            if let Err(e) = spool.push(record(&key, &partner, &source, w)) {
                failed.get_or_insert(e);
            }
        };
        // A bit per byte of the file, within 8 KiB and 16 MiB: at 20 bits or more per document
        // number, a second read is seldom needed, and then only for a few numbers.
        let len = input.whole.map_or(input.data.len() as u64, |w| w.len);
        let bloom_bits = len.clamp(1 << 16, 1 << 27);
        // The file from its start, from disk or memory; `None` (refused) when it cannot be
        // opened.
        let open = |out: &mut Outcome| -> Option<Box<dyn std::io::Read + '_>> {
            match input.whole.map(|w| w.open()) {
                None => Some(Box::new(input.data)),
                Some(Ok(file)) => Some(Box::new(std::io::BufReader::new(file))),
                Some(Err(e)) => {
                    out.unreadable(e);
                    None
                }
            }
        };
        let Some(from) = open(out) else {
            return;
        };
        match stream_csv(from, map, cfg, program, &partner, bloom_bits, &mut emit) {
            None | Some(Ok(Streamed::Declined)) => {}
            Some(Err(e)) => return refuse_csv(e, out),
            Some(Ok(Streamed::Unchecked)) => {
                whole_why = "it names too many documents to check, in bounded memory, that the \
                             rows of each are together"
                    .into();
            }
            Some(Ok(Streamed::Mapped { field, recheck })) => {
                let apart = match recheck.is_empty() {
                    true => Ok(None),
                    false => {
                        let Some(from) = open(out) else {
                            return;
                        };
                        crate::formats::csv::RowReader::new(from, map)
                            .and_then(|r| crate::formats::csv::apart(r, field, &recheck))
                    }
                };
                match apart {
                    Err(e) => return refuse_csv(e, out),
                    Ok(Some((line, key))) => {
                        whole_why = format!(
                            "line {line} names {field} {key:?} again after the rows of another \
                             one (a file whose documents' rows are apart is grouped whole)"
                        );
                    }
                    Ok(None) => {
                        out.accepted += 1;
                        let handed = failed
                            .map_or_else(|| spool.take(), Err)
                            .and_then(|records| {
                                for r in records {
                                    let r = r?;
                                    match sink.as_deref_mut() {
                                        Some(s) => s.record(r),
                                        None => out.records.push(r),
                                    }
                                }
                                Ok(())
                            });
                        if let Err(e) = handed {
                            out.spool_failed(e);
                        }
                        return;
                    }
                }
            }
        }
    }
    let read;
    let data = match input.whole {
        None => input.data,
        Some(whole) => {
            if let Some(why) = too_large_reason(whole.len, cfg.max_whole_bytes, "max_whole_file_mb")
            {
                return out.refuse(
                    "file.too_large",
                    format!("{why}; this CSV file is read whole because {whole_why}"),
                    Position::default(),
                );
            }
            read = std::fs::read(whole.path);
            match &read {
                Ok(d) => d.as_slice(),
                Err(e) => return out.unreadable(std::io::Error::new(e.kind(), e.to_string())),
            }
        }
    };
    let rows = match crate::formats::csv::rows(data, map) {
        Ok(r) => r,
        Err(e) => return refuse_csv(e, out),
    };
    let Some(program) = program else {
        return out.refuse(
            "csv.unsupported",
            format!(
                "no mapping inbound/csv/{}.jq for column map {name}",
                map.document
            ),
            Position::default(),
        );
    };
    let mut twin_records = Vec::new();
    if cfg
        .maps
        .twin_csv_each(program, &partner, &rows, &mut |w| twin_records.push(w))
        .is_some()
    {
        return whole_document(
            input,
            &partner,
            Ok(twin_records),
            source,
            "csv.mapping",
            out,
        );
    }
    drop(twin_records);
    let mapped = cfg.maps.inbound_whole(program, &partner, None, || {
        serde_json::json!({
            "format": "csv", "document": map.document, "partner": partner, "rows": rows.to_json(),
        })
    });
    whole_document(input, &partner, mapped, source, "csv.mapping", out);
}

/// The rows of a CSV file read one document at a time by `program`'s twin, each record handed
/// to `emit`; `None` when the mapping has no twin.
fn stream_csv(
    from: impl std::io::Read,
    map: &crate::formats::csv::ColumnMap,
    cfg: &Config,
    program: &mapping::Mapping,
    partner: &str,
    bloom_bits: u64,
    emit: &mut dyn FnMut(Written),
) -> Option<Result<mapping::twin::Streamed, crate::formats::csv::CsvError>> {
    program.twin()?;
    let mut reader = match crate::formats::csv::RowReader::new(from, map) {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    let group = reader.empty();
    cfg.maps.twin_csv_streamed(
        program,
        partner,
        &mut |rows| reader.next_row(rows),
        group,
        bloom_bits,
        emit,
    )
}

/// The refusal of a CSV file with a value that does not read.
fn refuse_csv(e: crate::formats::csv::CsvError, out: &mut Outcome) {
    let message = match &e.column {
        Some(c) => format!("line {}, column {c:?}: {}", e.line, e.message),
        None if e.line > 0 => format!("line {}: {}", e.line, e.message),
        None => e.message,
    };
    out.diagnostics.push(Diagnostic {
        severity: Severity::Error,
        code: "csv.value",
        message: message.clone(),
        position: Position::default(),
    });
    out.refuse("csv.value", message, Position::default());
}

/// A document mapped as a whole (cXML, CSV): `program` run on `fields`, giving its records or
/// its refusal.
fn whole_document(
    input: &Input<'_>,
    partner: &str,
    mapped: Result<Vec<Written>, mapping::MapError>,
    source: Source,
    code: &'static str,
    out: &mut Outcome,
) {
    match mapped {
        Ok(written) => {
            out.accepted += 1;
            for (k, w) in written.into_iter().enumerate() {
                let key = format!("{}:{}:{k}", input.sha256, source.format);
                out.records.push(record(&key, partner, &source, w));
            }
        }
        Err(e) => {
            out.rejected += 1;
            out.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code,
                message: e.message.clone(),
                position: Position::default(),
            });
            out.refuse(code, e.message, Position::default());
        }
    }
}

/// A cXML document: one request, one or more records.
fn translate_cxml(input: &Input<'_>, cfg: &Config, out: &mut Outcome) {
    use crate::formats::xml;
    let doc = match xml::parse(input.data) {
        Ok(d) => d,
        Err(e) => {
            let position = Position {
                offset: e.offset,
                ..Position::default()
            };
            out.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: "xml.syntax",
                message: e.message.clone(),
                position: position.clone(),
            });
            return out.refuse("xml.syntax", e.message, position);
        }
    };
    let root = doc.root();
    if root.name() != "cXML" {
        return out.refuse(
            "format.unsupported",
            format!("XML root <{}> is not cXML", root.name()),
            Position::default(),
        );
    }
    let credential = |who: &str| {
        root.child("Header")
            .and_then(|h| h.child(who))
            .and_then(|f| f.child("Credential"))
            .map(|c| {
                let identity = c.child("Identity").map(|i| i.text()).unwrap_or_default();
                format!("{}:{}", c.attr("domain").unwrap_or(""), identity.trim())
            })
            .unwrap_or_default()
    };
    let sender = credential("From");
    let partner = match resolve_partner(
        cfg,
        input.channel_partner,
        &sender,
        cfg.partner_by_cxml(&sender),
        sender.rsplit(':').next().unwrap_or(""),
    ) {
        Ok(p) => p,
        Err((code, reason)) => return out.refuse(code, reason, Position::default()),
    };
    let Some(request) = root.child("Request").and_then(|r| r.first_element()) else {
        return out.refuse(
            "cxml.no_request",
            "the cXML document holds no Request (a Response or Message is not taken)".into(),
            Position::default(),
        );
    };
    let document = request.name().to_string();
    out.documents.push(document.clone());
    let payload = root.attr("payloadID").unwrap_or("").to_string();
    let version = doc
        .doctype
        .as_deref()
        .and_then(|d| d.split("/cXML/").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or("")
        .to_string();
    let Some(program) = cfg.maps.find(&partner, "inbound", "cxml", &document) else {
        out.rejected += 1;
        return out.refuse(
            "cxml.unsupported_request",
            format!("cXML {document} has no mapping to a canonical record"),
            Position::default(),
        );
    };
    let source = Source {
        format: "cxml".into(),
        standard: version,
        document,
        interchange_control: payload,
        sender,
        receiver: credential("To"),
        file: input.file.to_string(),
        sha256: input.sha256.to_string(),
        ..Source::default()
    };
    let twin = cfg.maps.twin_cxml(program, &partner, &doc);
    let mapped = cfg.maps.inbound_whole(program, &partner, twin, || {
        serde_json::json!({
            "format": "cxml",
            "standard": source.standard,
            "document": source.document,
            "control": source.interchange_control,
            "partner": partner,
            "xml": doc.to_json(),
        })
    });
    whole_document(input, &partner, mapped, source, "cxml.mapping", out);
}

fn refuse_nothing_accepted(out: &mut Outcome, empty: bool) {
    let (code, reason, position) = match first_error(&out.diagnostics) {
        Some(d) => (d.code, d.message.clone(), d.position.clone()),
        None if empty => (
            "empty",
            "the file holds no interchange".to_string(),
            Position::default(),
        ),
        None => (
            "no_transactions",
            "the file holds no transaction set or message".to_string(),
            Position::default(),
        ),
    };
    out.refuse(code, reason, position);
}

fn first_error(ds: &[Diagnostic]) -> Option<&Diagnostic> {
    ds.iter().find(|d| d.severity == Severity::Error)
}
