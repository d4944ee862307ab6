//! EDIFACT translation in one streaming pass (see `pass`): each message is validated and
//! mapped when the parser closes it, each interchange acknowledged (CONTRL) when it ends.

use super::pass::{streamed, Pass};
use super::spool::{Runs, Spool};
use super::{record, Ack, Emitted, Input, InterchangeInfo, Outcome, RejectedItem, Sink};
use crate::acks::{self, AckDoc};
use crate::canonical::Source;
use crate::config::Config;
use crate::formats::edifact::envelope::{Handler, KeepMode, Problem};
use crate::formats::edifact::{self, contrl, validate, Interchange, Message};
use crate::formats::{Diagnostic, Position, Severity};
use crate::mapping;
use crate::util::Utc;

pub fn translate_edifact<'r>(
    input: &'r Input<'_>,
    cfg: &'r Config,
    now: Utc,
    allocate: &'r mut dyn FnMut(&str) -> u64,
    sink: Option<&'r mut dyn Sink>,
    out: &mut Outcome,
) {
    streamed(
        Pass::new(input, cfg, now, allocate, sink),
        |pass| {
            let mut run = EdifactRun {
                pass,
                pending: Runs::default(),
                failures: Vec::new(),
                spool: Spool::default(),
            };
            // A large input is read and parsed, and its messages validated, on a second
            // thread while this one maps them.
            let len = input.whole.map_or(input.data.len() as u64, |w| w.len);
            let check = crate::formats::pipe::wanted(len).then_some(&*cfg.edifact);
            let read = match (input.whole, check) {
                (Some(whole), None) => whole
                    .open()
                    .and_then(|f| edifact::envelope::parse_reader(f, &mut run)),
                (Some(whole), check) => whole
                    .open()
                    .and_then(|f| edifact::pipe::parse_reader(f, &mut run, check)),
                (None, None) => {
                    edifact::envelope::parse_slice(input.data, &mut run);
                    Ok(0)
                }
                (None, check) => {
                    edifact::pipe::parse_reader(input.data, &mut run, check).map(|_| 0)
                }
            };
            if let Err(e) = read {
                run.pass.unreadable(e);
            }
            run.pass
        },
        out,
    );
}

/// What became of one message when it was read.
enum Mapped {
    /// Not mapped: rejected, or in an interchange rejected so far.
    Skipped,
    Records(Vec<Emitted>),
    /// Validated, but no mapping takes it.
    NoMapping(Diagnostic),
    /// The mapping refused it.
    Failed(Diagnostic, RejectedItem),
}

/// What became of one message, as it waits for its interchange to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kept {
    #[default]
    Skipped,
    /// This many records, waiting in the spool.
    Records(usize),
    /// No mapping, or the mapping refused it: the next of `failures`.
    Failure,
}

struct EdifactRun<'r, 'i> {
    pass: Pass<'r, 'i>,
    /// The current interchange's messages, in order, and whether each was validated; their
    /// records wait in `spool`, their failures in `failures`.
    pending: Runs<(Kept, bool)>,
    failures: Vec<Mapped>,
    spool: Spool,
}

impl EdifactRun<'_, '_> {
    fn sender_of(&mut self, ic: &Interchange) -> bool {
        self.pass.sender_of(
            || ic.sender_key(),
            |cfg, sender| cfg.partner_by_edifact(sender),
            &ic.sender,
            &ic.control,
            || Position {
                offset: ic.offset,
                segment_id: "UNB".into(),
                element: Some(2),
                ..Position::default()
            },
        )
    }

    /// Maps one validated message.
    fn map(&mut self, ic: &Interchange, m: &Message) -> Mapped {
        let (cfg, input) = (self.pass.cfg, self.pass.input);
        if self.pass.sender.is_none() {
            return Mapped::Skipped;
        }
        let Some(program) = self.pass.mapping("edifact", &m.kind) else {
            // Validated and acknowledged, but nothing can take it: held as an exception.
            return Mapped::NoMapping(Diagnostic {
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
        };
        let Some(from) = self.pass.sender.as_ref() else {
            return Mapped::Skipped;
        };
        let partner = &from.partner;
        match cfg.maps.inbound_edifact(program, partner, m) {
            Ok(businesses) => {
                let source = || Source {
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
                    sender: from.sender.clone(),
                    receiver: format!("{}:{}", ic.recipient, ic.recipient_qualifier),
                    file: input.file.to_string(),
                    sha256: input.sha256.to_string(),
                };
                let source = source();
                let mut records = Vec::new();
                for (k, business) in businesses.into_iter().enumerate() {
                    // The record's index in the file (the pass is not late when it counts).
                    let index = self.pass.records_made;
                    self.pass.records_made += 1;
                    let key = if k == 0 {
                        format!("{}:{}:{index}", input.sha256, m.offset)
                    } else {
                        format!("{}:{}:{index}:{k}", input.sha256, m.offset)
                    };
                    records.push(record(&key, partner, &source, business));
                }
                Mapped::Records(records)
            }
            Err(e) => {
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
                let diagnostic = Diagnostic {
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
                };
                Mapped::Failed(
                    diagnostic,
                    RejectedItem {
                        document: m.kind.clone(),
                        control: m.reference.clone(),
                        interchange: ic.control.clone(),
                        code,
                        reason: e.message,
                        offset: m.offset,
                    },
                )
            }
        }
    }
}

impl Handler for EdifactRun<'_, '_> {
    fn keep(&self) -> KeepMode {
        KeepMode::Summary
    }

    fn message(&mut self, ic: &Interchange, m: &mut Message) {
        if !self.sender_of(ic) {
            return;
        }
        let validated = self.pass.ok_so_far(ic.rejected(), None) && !m.rejected();
        let mut mapped = Mapped::Skipped;
        if validated {
            validate::message(m, &self.pass.cfg.edifact);
            if !m.rejected() {
                mapped = self.map(ic, m);
            }
        }
        // The interchange keeps the message's header and problems (for CONTRL), not its body
        // (`KeepMode::Summary`: the parser empties the body and reuses it for the next).
        let kept = match mapped {
            Mapped::Skipped => Kept::Skipped,
            Mapped::Records(records) => {
                let n = records.len();
                for r in records {
                    if let Err(e) = self.spool.push(r) {
                        self.pass.spool_failed(e);
                    }
                }
                Kept::Records(n)
            }
            failure => {
                self.failures.push(failure);
                Kept::Failure
            }
        };
        self.pending.push((kept, validated));
    }

    fn interchange(&mut self, mut ic: Interchange) {
        let pending = std::mem::take(&mut self.pending);
        let mut pending = pending.iter();
        let mut failures = std::mem::take(&mut self.failures).into_iter();
        let spooled = self.spool.take();
        let ok = self.sender_of(&ic);
        let Some(from) = self.pass.close(ok) else {
            return;
        };
        if let Some(diagnostic) = from.duplicate_error(
            "edifact.duplicate_interchange",
            &ic.control,
            ic.offset,
            "UNB",
            5,
        ) {
            ic.problems.push(Problem {
                code: "26",
                diagnostic,
            });
        }
        let sender = from.sender;
        let partner = from.partner;
        let ic_ok = !ic.rejected();
        self.pass.verdicts.push(!ic_ok, Vec::new());
        let mut late = false;
        // (records, accepted) per message, in order
        let mut ready = Runs::default();
        let out = &mut self.pass.outcome;
        out.diagnose(ic.problems.iter().map(|p| &p.diagnostic));
        out.diagnose(
            ic.groups
                .iter()
                .flat_map(|g| g.problems.iter().map(|p| &p.diagnostic)),
        );
        for m in ic.kept() {
            let (kept, validated) = pending.next().unwrap_or_default();
            let records = match kept {
                Kept::Records(n) => n,
                _ => 0,
            };
            let mapped = match kept {
                Kept::Skipped => Mapped::Skipped,
                Kept::Records(_) => Mapped::Records(Vec::new()),
                Kept::Failure => failures.next().unwrap_or(Mapped::Skipped),
            };
            let accepted = ic_ok && !m.rejected() && matches!(kept, Kept::Records(_));
            ready.push((records, accepted));
            // Validated in an interchange rejected afterwards (or, which cannot happen, left
            // out of one accepted): the second pass knows the verdicts.
            late |= validated != (ic_ok && (validated || !m.rejected()));
            if !out.documents.contains(&m.kind) {
                out.documents.push(m.kind.clone());
            }
            out.diagnose(m.problems.iter().map(|p| &p.diagnostic));
            if !ic_ok || m.rejected() {
                out.rejected += 1;
                let first = m
                    .problems
                    .iter()
                    .map(|p| &p.diagnostic)
                    .find(|d| d.severity == Severity::Error);
                out.rejected_items.push(RejectedItem::of(
                    &m.kind,
                    &m.reference,
                    &ic.control,
                    first,
                    "edifact.rejected",
                    m.offset,
                ));
                continue;
            }
            match mapped {
                Mapped::Records(_) => out.accepted += 1,
                Mapped::NoMapping(d) => {
                    out.rejected += 1;
                    out.diagnose([&d]);
                }
                Mapped::Failed(d, item) => {
                    out.rejected += 1;
                    out.diagnose([&d]);
                    out.rejected_items.push(item);
                }
                Mapped::Skipped => late = true,
            }
        }
        self.pass.late |= late;
        self.pass.interchange(InterchangeInfo {
            partner: partner.clone(),
            sender: sender.clone(),
            receiver: format!("{}:{}", ic.recipient, ic.recipient_qualifier),
            control: ic.control.clone(),
        });
        self.pass.hand_over(spooled, &ready);
        let wants = self
            .pass
            .cfg
            .partner(&partner)
            .is_none_or(|p| p.ack != acks::Functional::None);
        if wants && self.pass.wants_acks() && contrl::wanted(&ic) {
            let control = self.pass.number(&partner);
            self.pass.ack(Ack {
                partner,
                doc: AckDoc {
                    kind: "CONTRL",
                    control,
                    answers: ic.control.clone(),
                    bytes: contrl::contrl(&ic, self.pass.now, control),
                },
            });
        }
    }

    fn stray(&mut self, d: Diagnostic) {
        self.pass.stray(d);
    }
}
