//! One file in, canonical records, acknowledgements and diagnostics out. Pure: the caller
//! supplies the bytes, the clock and a control-number allocator.

use crate::acks::{self, AckDoc};
use crate::canonical::{Record, Source};
use crate::config::Config;
use crate::formats::x12::envelope::{Issue, Problem};
use crate::formats::{self, x12, Diagnostic, Format, Position, Severity};
use crate::mapping;
use crate::util::{sha256_hex, Utc};

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
    /// Serialises `r` (into a reused buffer, so the kept text has its exact size).
    pub fn of(r: Record) -> Emitted {
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let json = BUF.with_borrow_mut(|buf| {
            buf.clear();
            // Serialising our own types cannot fail, and serde_json writes UTF-8.
            serde_json::to_writer(&mut *buf, &r).expect("records serialise");
            String::from_utf8(buf.clone()).expect("JSON is UTF-8")
        });
        Emitted {
            id: r.id,
            schema: r.schema,
            partner: r.partner,
            correlation: r.correlation,
            interchange_control: r.source.interchange_control,
            transaction_control: r.source.transaction_control,
            json,
        }
    }

    /// The record as a JSON value (for tests and tools).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).expect("an emitted record is JSON")
    }
}

/// An acknowledgement with the partner it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    if let Some(out) = oversized(input.data.len() as u64, cfg) {
        return out;
    }
    let mut out = Outcome::default();
    if let Some(why) = formats::refuse_encoding(input.data) {
        out.refuse("encoding", why.to_string(), Position::default());
        return out;
    }
    match formats::sniff(input.data) {
        Format::X12 => translate_x12(input, cfg, now, allocate, &mut out),
        Format::Edifact => translate_edifact(input, cfg, now, allocate, &mut out),
        Format::Xml => translate_cxml(input, cfg, &mut out),
        Format::Records => translate_records(input, cfg, now, allocate, &mut out),
        Format::Unknown => match cfg.maps.csv_map(input.data) {
            Some((name, map)) => translate_csv(input, cfg, name, map, &mut out),
            None => out.refuse(
                "format.unknown",
                "not a document we read: the file starts with neither ISA, UNA, UNB nor <, and \
                 no CSV column map in mappings/csv/ fits its first line"
                    .into(),
                Position::default(),
            ),
        },
    }
    out
}

/// The outcome for an input over `max_file_mb`, which is not read at all (the pipeline asks
/// before loading the file): quarantined with its size, for the operator to raise the limit
/// or have the file split, then release it.
pub fn oversized(len: u64, cfg: &Config) -> Option<Outcome> {
    if len <= cfg.max_file_bytes {
        return None;
    }
    let mut out = Outcome::default();
    out.refuse(
        "file.too_large",
        format!(
            "the file is {:.1} MB, over max_file_mb = {} ([service] in edigate.toml): raise \
             the limit (translation needs about 12 times the file's size in memory) or have \
             the partner split it, then release it",
            len as f64 / 1_048_576.0,
            cfg.max_file_bytes >> 20
        ),
        Position::default(),
    );
    Some(out)
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

fn translate_edifact(
    input: &Input<'_>,
    cfg: &Config,
    now: Utc,
    allocate: &mut dyn FnMut(&str) -> u64,
    out: &mut Outcome,
) {
    use crate::formats::edifact::{self, contrl, validate};
    let mut file = edifact::parse(input.data);
    out.diagnostics.extend(file.problems.iter().cloned());
    for ic in &mut file.interchanges {
        let sender = ic.sender_key();
        let here = Position {
            offset: ic.offset,
            segment_id: "UNB".into(),
            element: Some(2),
            ..Position::default()
        };
        let partner = match resolve_partner(
            cfg,
            input.channel_partner,
            &sender,
            cfg.partner_by_edifact(&sender),
            &ic.sender,
        ) {
            Ok(p) => p,
            Err((code, reason)) => return out.refuse(code, reason, here),
        };
        if input
            .seen
            .is_some_and(|seen| seen(&partner, &sender, &ic.control))
        {
            ic.problems.push(edifact::envelope::Problem {
                code: "26",
                diagnostic: Diagnostic {
                    severity: Severity::Error,
                    code: "edifact.duplicate_interchange",
                    message: format!(
                        "interchange {} from {sender} was already received: a duplicate is not processed again",
                        ic.control
                    ),
                    position: Position { offset: ic.offset, segment_id: "UNB".into(), element: Some(5), ..Position::default() },
                },
            });
        }
        out.interchanges.push(InterchangeInfo {
            partner: partner.clone(),
            sender: sender.clone(),
            receiver: format!("{}:{}", ic.recipient, ic.recipient_qualifier),
            control: ic.control.clone(),
        });
        out.diagnostics
            .extend(ic.problems.iter().map(|p| p.diagnostic.clone()));
        out.diagnostics.extend(
            ic.groups
                .iter()
                .flat_map(|g| g.problems.iter().map(|p| p.diagnostic.clone())),
        );
        let ic_ok = !ic.rejected();
        for m in &mut ic.messages {
            if !out.documents.contains(&m.kind) {
                out.documents.push(m.kind.clone());
            }
            if ic_ok && !m.rejected() {
                validate::message(m, &cfg.edifact);
            }
            out.diagnostics
                .extend(m.problems.iter().map(|p| p.diagnostic.clone()));
            if !ic_ok || m.rejected() {
                out.rejected += 1;
                let first = m
                    .problems
                    .iter()
                    .map(|p| &p.diagnostic)
                    .find(|d| d.severity == Severity::Error);
                out.rejected_items.push(RejectedItem {
                    document: m.kind.clone(),
                    control: m.reference.clone(),
                    interchange: ic.control.clone(),
                    code: first.map_or("edifact.rejected", |d| d.code),
                    reason: first.map_or_else(
                        || "rejected".to_string(),
                        |d| format!("{}: {}", d.position, d.message),
                    ),
                    offset: m.offset,
                });
                continue;
            }
            let sender_key = sender.clone();
            let make_source = |m: &edifact::Message| Source {
                format: "edifact".into(),
                standard: m.directory(),
                document: m.kind.clone(),
                interchange_control: ic.control.clone(),
                group_control: m
                    .group
                    .and_then(|g| ic.groups.get(g))
                    .map(|g| g.reference.clone())
                    .unwrap_or_default(),
                transaction_control: m.reference.clone(),
                sender: sender_key.clone(),
                receiver: format!("{}:{}", ic.recipient, ic.recipient_qualifier),
                file: input.file.to_string(),
                sha256: input.sha256.to_string(),
            };
            let Some(program) = cfg.maps.find(&partner, "inbound", "edifact", &m.kind) else {
                // Validated and acknowledged, but nothing can take it: held as an exception.
                out.rejected += 1;
                out.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: "edifact.unsupported_message",
                    message: format!(
                        "message {} {} has no mapping to a canonical record",
                        m.identifier(),
                        m.reference
                    ),
                    position: Position {
                        offset: m.offset,
                        segment: Some(1),
                        segment_id: "UNH".into(),
                        element: Some(2),
                        component: None,
                    },
                });
                continue;
            };
            match cfg
                .maps
                .inbound(program, &partner, mapping::doc::edifact(m, &partner))
            {
                Ok(businesses) => {
                    for (k, business) in businesses.into_iter().enumerate() {
                        let index = out.records.len();
                        let key = if k == 0 {
                            format!("{}:{}:{index}", input.sha256, m.offset)
                        } else {
                            format!("{}:{}:{index}:{k}", input.sha256, m.offset)
                        };
                        out.records
                            .push(record(&key, &partner, make_source(m), business));
                    }
                    out.accepted += 1;
                }
                Err(e) => {
                    out.rejected += 1;
                    let index = e.segment.as_ref().and_then(|want| {
                        mapping::doc::find_segment(
                            m.segments().map(|g| mapping::doc::edifact_segment(&g)),
                            want,
                        )
                    });
                    let seg = index.and_then(|i| m.segment(i));
                    let code = if e.code == "crosswalk" {
                        "edifact.crosswalk"
                    } else {
                        "edifact.mapping"
                    };
                    out.diagnostics.push(Diagnostic {
                        severity: Severity::Error,
                        code,
                        message: e.message.clone(),
                        position: Position {
                            offset: seg.map_or(m.offset, |s| s.offset),
                            segment: Some(index.unwrap_or(0) + 1),
                            segment_id: seg
                                .map(|s| String::from_utf8_lossy(s.id()).into_owned())
                                .unwrap_or_else(|| "UNH".into()),
                            element: e.element.filter(|n| *n > 0),
                            component: None,
                        },
                    });
                    out.rejected_items.push(RejectedItem {
                        document: m.kind.clone(),
                        control: m.reference.clone(),
                        interchange: ic.control.clone(),
                        code,
                        reason: e.message,
                        offset: m.offset,
                    });
                }
            }
        }
        let wants = cfg
            .partner(&partner)
            .is_none_or(|p| p.ack != acks::Functional::None);
        if wants && contrl::wanted(ic) {
            let control = allocate(&partner);
            out.acks.push(Ack {
                partner: partner.clone(),
                doc: AckDoc {
                    kind: "CONTRL",
                    control,
                    answers: ic.control.clone(),
                    bytes: contrl::contrl(ic, now, control),
                },
            });
        }
    }
    out.diagnostics.sort_by_key(|d| d.position.offset);
    if out.accepted == 0 {
        refuse_nothing_accepted(out, file.interchanges.is_empty());
    }
}

/// A record with its deterministic id (`key` names the input bytes and position).
fn record(
    key: &str,
    partner: &str,
    source: Source,
    business: crate::canonical::Business,
) -> Emitted {
    Emitted::of(Record {
        schema: business.schema().to_string(),
        id: format!("rec_{}", &sha256_hex(key.as_bytes())[..24]),
        partner: partner.to_string(),
        correlation: business.correlation(),
        source,
        record: business,
    })
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

/// A CSV file read through column map `name`: rows, then the map's mapping.
fn translate_csv(
    input: &Input<'_>,
    cfg: &Config,
    name: &str,
    map: &crate::formats::csv::ColumnMap,
    out: &mut Outcome,
) {
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
    let rows = match crate::formats::csv::rows(input.data, map) {
        Ok(r) => r,
        Err(e) => {
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
            return out.refuse("csv.value", message, Position::default());
        }
    };
    let Some(program) = cfg.maps.find(&partner, "inbound", "csv", &map.document) else {
        return out.refuse(
            "csv.unsupported",
            format!(
                "no mapping inbound/csv/{}.jq for column map {name}",
                map.document
            ),
            Position::default(),
        );
    };
    let fields = serde_json::json!({
        "format": "csv", "document": map.document, "partner": partner, "rows": rows,
    });
    let source = Source {
        format: "csv".into(),
        document,
        file: input.file.to_string(),
        sha256: input.sha256.to_string(),
        ..Source::default()
    };
    let program = (program, &fields);
    whole_document(input, cfg, &partner, program, source, "csv.mapping", out);
}

/// A document mapped as a whole (cXML, CSV): `program` run on `fields`, giving its records or
/// its refusal.
fn whole_document(
    input: &Input<'_>,
    cfg: &Config,
    partner: &str,
    (program, fields): (&mapping::Mapping, &serde_json::Value),
    source: Source,
    code: &'static str,
    out: &mut Outcome,
) {
    match cfg
        .maps
        .inbound(program, partner, mapping::jq::from_json(fields))
    {
        Ok(businesses) => {
            out.accepted += 1;
            for (k, business) in businesses.into_iter().enumerate() {
                let key = format!("{}:{}:{k}", input.sha256, source.format);
                out.records
                    .push(record(&key, partner, source.clone(), business));
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
    let root = &doc.root;
    if xml::name(root) != "cXML" {
        return out.refuse(
            "format.unsupported",
            format!("XML root <{}> is not cXML", xml::name(root)),
            Position::default(),
        );
    }
    let credential = |who: &str| {
        xml::child(root, "Header")
            .and_then(|h| xml::child(h, who))
            .and_then(|f| xml::child(f, "Credential"))
            .map(|c| {
                format!(
                    "{}:{}",
                    xml::attr(c, "domain").unwrap_or(""),
                    xml::text(xml::child(c, "Identity").unwrap_or(&serde_json::Value::Null)).trim()
                )
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
    let Some(request) = xml::child(root, "Request")
        .and_then(|r| r.as_array())
        .and_then(|a| a.iter().skip(2).find(|c| c.is_array()))
    else {
        return out.refuse(
            "cxml.no_request",
            "the cXML document holds no Request (a Response or Message is not taken)".into(),
            Position::default(),
        );
    };
    let document = xml::name(request).to_string();
    out.documents.push(document.clone());
    let payload = xml::attr(root, "payloadID").unwrap_or("").to_string();
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
    let fields = serde_json::json!({
        "format": "cxml",
        "standard": version,
        "document": document,
        "control": payload,
        "partner": partner,
        "xml": root,
    });
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
    let program = (program, &fields);
    whole_document(input, cfg, &partner, program, source, "cxml.mapping", out);
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

/// X12 in one streaming pass: each transaction set is validated and mapped as soon as the
/// parser closes it, then its segments are freed (`KeepMode::Summary`), and each interchange is
/// acknowledged and dropped when it ends, so a file's parsed body is never held whole. A group
/// or interchange can still turn out rejected after its sets were mapped (a stray segment, an
/// unreadable ISA further on): then the file is read a second time, knowing those verdicts from
/// the start and reusing the control numbers drawn, and gives exactly what one pass over a
/// complete parse would.
fn translate_x12(
    input: &Input<'_>,
    cfg: &Config,
    now: Utc,
    allocate: &mut dyn FnMut(&str) -> u64,
    out: &mut Outcome,
) {
    let mut run = X12Run::new(input, cfg, now, allocate, None);
    x12::stream::parse_slice(input.data, &mut run);
    if run.late {
        let verdicts = std::mem::take(&mut run.verdicts);
        let numbers = std::mem::take(&mut run.numbers);
        run = X12Run::new(input, cfg, now, allocate, Some(verdicts));
        run.replay = Some(numbers.into_iter());
        x12::stream::parse_slice(input.data, &mut run);
    }
    let X12Run {
        outcome,
        strays,
        interchanges,
        refused,
        ..
    } = run;
    *out = outcome;
    let ordered = std::mem::take(&mut out.diagnostics);
    out.diagnostics = strays;
    out.diagnostics.extend(ordered);
    if refused {
        return;
    }
    out.diagnostics.sort_by_key(|d| d.position.offset);
    if out.accepted == 0 {
        refuse_nothing_accepted(out, interchanges == 0);
    }
}

/// Whether each interchange, and each of its groups, was rejected in the end.
type Verdicts = Vec<(bool, Vec<bool>)>;

/// The partner of the interchange being read, found at its first transaction set.
struct Sender {
    partner: String,
    sender: String,
    duplicate: bool,
}

/// The state of one streaming pass of [`translate_x12`].
struct X12Run<'r, 'i> {
    input: &'r Input<'i>,
    cfg: &'r Config,
    now: Utc,
    allocate: &'r mut dyn FnMut(&str) -> u64,
    outcome: Outcome,
    /// Problems outside any interchange (they come first, as in the file's own order).
    strays: Vec<Diagnostic>,
    interchanges: usize,
    /// The current interchange's partner (`None` until its first transaction set).
    sender: Option<Sender>,
    /// Records of the current interchange's transaction sets, in order, and whether each was
    /// mapped (validated) as part of a group and interchange not rejected so far.
    pending: Vec<(Vec<Emitted>, bool)>,
    /// Verdicts learnt in this pass; in a second pass, the verdicts of the first.
    verdicts: Verdicts,
    known: Option<Verdicts>,
    /// A set was mapped in a group or interchange that was rejected afterwards.
    late: bool,
    /// Control numbers drawn for acknowledgements, in order; a second pass uses the same.
    numbers: Vec<u64>,
    replay: Option<std::vec::IntoIter<u64>>,
    refused: bool,
}

impl<'r, 'i> X12Run<'r, 'i> {
    fn new(
        input: &'r Input<'i>,
        cfg: &'r Config,
        now: Utc,
        allocate: &'r mut dyn FnMut(&str) -> u64,
        known: Option<Verdicts>,
    ) -> Self {
        X12Run {
            input,
            cfg,
            now,
            allocate,
            outcome: Outcome::default(),
            strays: Vec::new(),
            interchanges: 0,
            sender: None,
            pending: Vec::new(),
            verdicts: Vec::new(),
            known,
            late: false,
            numbers: Vec::new(),
            replay: None,
            refused: false,
        }
    }

    /// A control number for an acknowledgement to `partner`: drawn, or in a second pass the
    /// one the first pass drew at the same place (both passes acknowledge the same
    /// interchanges in the same order), so a second reading leaves no gap.
    fn number(&mut self, partner: &str) -> u64 {
        if let Some(n) = self.replay.as_mut().and_then(Iterator::next) {
            return n;
        }
        let n = (self.allocate)(partner);
        self.numbers.push(n);
        n
    }

    /// Resolves the interchange's partner and checks for a duplicate (once per interchange);
    /// `false` when the file is refused.
    fn sender_of(&mut self, ic: &x12::Interchange) -> bool {
        if self.refused {
            return false;
        }
        if self.sender.is_some() {
            return true;
        }
        let sender = ic.sender();
        match resolve_partner(
            self.cfg,
            self.input.channel_partner,
            &sender,
            self.cfg.partner_by_x12(&sender),
            &ic.sender_id,
        ) {
            Ok(partner) => {
                let duplicate = self
                    .input
                    .seen
                    .is_some_and(|seen| seen(&partner, &sender, &ic.control));
                self.sender = Some(Sender {
                    partner,
                    sender,
                    duplicate,
                });
                true
            }
            Err((code, reason)) => {
                self.refused = true;
                let here = Position {
                    offset: ic.offset,
                    segment_id: "ISA".into(),
                    element: Some(6),
                    ..Position::default()
                };
                self.outcome.refuse(code, reason, here);
                false
            }
        }
    }

    /// Maps one transaction set of a group and interchange not rejected (so far): validation,
    /// then the mapping; its problems go into `tx`.
    fn map(
        &mut self,
        ic: &x12::Interchange,
        g: &x12::Group,
        tx: &mut x12::Transaction,
        ti: usize,
    ) -> Vec<Emitted> {
        let (cfg, input) = (self.cfg, self.input);
        let Some(from) = self.sender.as_ref() else {
            return Vec::new();
        };
        x12::validate::transaction(tx, &cfg.x12, &g.version);
        if tx.rejected() {
            return Vec::new();
        }
        let Some(program) = cfg.maps.find(&from.partner, "inbound", "x12", &tx.id) else {
            tx.problems.push(Problem {
                ack_code: "1",
                diagnostic: Diagnostic {
                    severity: Severity::Error,
                    code: "x12.unsupported_transaction",
                    message: format!("transaction set {} is not supported (no mapping)", tx.id),
                    position: Position {
                        offset: tx.offset,
                        segment: Some(1),
                        segment_id: "ST".into(),
                        element: Some(1),
                        component: None,
                    },
                },
            });
            return Vec::new();
        };
        match cfg.maps.inbound_x12(program, &from.partner, tx, &g.version) {
            Ok(businesses) => {
                let source = || Source {
                    format: "x12".into(),
                    standard: g.version.clone(),
                    document: tx.id.clone(),
                    interchange_control: ic.control.clone(),
                    group_control: g.control.clone(),
                    transaction_control: tx.control.clone(),
                    sender: from.sender.clone(),
                    receiver: ic.receiver(),
                    file: input.file.to_string(),
                    sha256: input.sha256.to_string(),
                };
                businesses
                    .into_iter()
                    .enumerate()
                    .map(|(k, business)| {
                        let key = if k == 0 {
                            format!("{}:{}:{ti}", input.sha256, tx.offset)
                        } else {
                            format!("{}:{}:{ti}:{k}", input.sha256, tx.offset)
                        };
                        record(&key, &from.partner, source(), business)
                    })
                    .collect()
            }
            Err(e) => {
                x12_mapping_problem(tx, e);
                Vec::new()
            }
        }
    }

    /// The verdicts known before this interchange ended: from the first pass, or what its
    /// problems say so far.
    fn ok_so_far(&self, ic: &x12::Interchange, g: &x12::Group) -> bool {
        let groups = ic.groups.len();
        match self.known.as_ref().and_then(|k| k.get(self.interchanges)) {
            Some((ic_rejected, gs)) => !ic_rejected && !gs.get(groups).copied().unwrap_or(true),
            None => {
                !ic.rejected()
                    && !g.rejected()
                    && !self.sender.as_ref().is_some_and(|s| s.duplicate)
            }
        }
    }
}

impl x12::envelope::Handler for X12Run<'_, '_> {
    fn transaction(&mut self, ic: &x12::Interchange, g: &x12::Group, tx: &mut x12::Transaction) {
        if !self.sender_of(ic) {
            return;
        }
        let ok = self.ok_so_far(ic, g) && !tx.rejected();
        let records = if ok {
            self.map(ic, g, tx, g.transactions.len())
        } else {
            Vec::new()
        };
        self.pending.push((records, ok));
    }

    fn keep(&self) -> x12::envelope::KeepMode {
        x12::envelope::KeepMode::Summary
    }

    fn interchange(&mut self, mut ic: x12::Interchange) {
        self.interchanges += 1;
        let mut pending = std::mem::take(&mut self.pending).into_iter();
        if !self.sender_of(&ic) {
            return;
        }
        let Some(from) = self.sender.take() else {
            return;
        };
        let out = &mut self.outcome;
        if from.duplicate {
            ic.problems.push(Problem {
                ack_code: "025",
                diagnostic: Diagnostic {
                    severity: Severity::Error,
                    code: "x12.duplicate_interchange",
                    message: format!(
                        "interchange {} from {} was already received: a duplicate is not processed again",
                        ic.control, from.sender
                    ),
                    position: Position { offset: ic.offset, segment_id: "ISA".into(), element: Some(13), ..Position::default() },
                },
            });
        }
        let partner = from.partner;
        let ack_kind = self
            .cfg
            .partner(&partner)
            .map(|p| p.ack)
            .unwrap_or_default();
        out.interchanges.push(InterchangeInfo {
            partner: partner.clone(),
            sender: from.sender.clone(),
            receiver: ic.receiver(),
            control: ic.control.clone(),
        });
        let ic_ok = !ic.rejected();
        self.verdicts
            .push((!ic_ok, ic.groups.iter().map(x12::Group::rejected).collect()));
        out.diagnostics
            .extend(ic.problems.iter().map(|p| p.diagnostic.clone()));
        for g in &ic.groups {
            let g_ok = ic_ok && !g.rejected();
            out.diagnostics
                .extend(g.problems.iter().map(|p| p.diagnostic.clone()));
            for tx in &g.transactions {
                let (records, mapped) = pending.next().unwrap_or_default();
                // Mapped, but its group or interchange was rejected afterwards: the first pass
                // is wrong; the second knows the verdicts.
                self.late |= mapped && !g_ok;
                if !out.documents.contains(&tx.id) {
                    out.documents.push(tx.id.clone());
                }
                if g_ok && !tx.rejected() {
                    out.accepted += 1;
                    out.records.extend(records);
                } else {
                    out.rejected += 1;
                    let first = tx
                        .problems
                        .iter()
                        .map(|p| &p.diagnostic)
                        .chain(tx.issues.iter().map(|i| &i.diagnostic))
                        .find(|d| d.severity == Severity::Error)
                        .or_else(|| g.problems.first().map(|p| &p.diagnostic));
                    out.rejected_items.push(RejectedItem {
                        document: tx.id.clone(),
                        control: tx.control.clone(),
                        interchange: ic.control.clone(),
                        code: first.map_or("x12.rejected", |d| d.code),
                        reason: first.map_or_else(
                            || "rejected".to_string(),
                            |d| format!("{}: {}", d.position, d.message),
                        ),
                        offset: tx.offset,
                    });
                }
                out.diagnostics
                    .extend(tx.problems.iter().map(|p| p.diagnostic.clone()));
                out.diagnostics
                    .extend(tx.issues.iter().map(|i| i.diagnostic.clone()));
            }
        }
        if acks::wants_ta1(&ic) {
            let n = self.number(&partner);
            if let Ok(doc) = acks::ta1(&ic, self.now, n) {
                self.outcome.acks.push(Ack {
                    partner: partner.clone(),
                    doc,
                });
            }
        }
        if ic_ok
            && ack_kind != acks::Functional::None
            && ic.groups.iter().any(|g| g.functional_id != "FA")
        {
            let n = self.number(&partner);
            if let Ok(Some(doc)) = acks::functional(&ic, ack_kind, self.now, n) {
                self.outcome.acks.push(Ack { partner, doc });
            }
        }
    }

    fn stray(&mut self, d: Diagnostic) {
        self.strays.push(d);
    }
}
