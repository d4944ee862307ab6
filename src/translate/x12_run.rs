//! X12 translation in one streaming pass (see `pass`): each transaction set is validated and
//! mapped when the parser closes it, each interchange acknowledged when it ends.

use super::pass::{streamed, Pass};
use super::spool::{Runs, Spool};
use super::{
    record, x12_mapping_problem, Ack, Emitted, Input, InterchangeInfo, Outcome, RejectedItem, Sink,
};
use crate::acks;
use crate::canonical::Source;
use crate::config::Config;
use crate::formats::x12::envelope::{Handler, Problem};
use crate::formats::x12::{self, Group, Interchange, Transaction};
use crate::formats::{Diagnostic, Position, Severity};
use crate::util::Utc;

pub fn translate_x12<'r>(
    input: &'r Input<'_>,
    cfg: &'r Config,
    now: Utc,
    allocate: &'r mut dyn FnMut(&str) -> u64,
    sink: Option<&'r mut dyn Sink>,
    out: &mut Outcome,
) {
    let first = Pass::new(input, cfg, now, allocate, sink);
    streamed(
        first,
        |pass| {
            let mut run = X12Run {
                pass,
                pending: Runs::default(),
                spool: Spool::default(),
                source: None,
            };
            // A large input is read and parsed, and its transaction sets validated, on a
            // second thread while this one maps them.
            let len = input.whole.map_or(input.data.len() as u64, |w| w.len);
            let check = crate::formats::pipe::wanted(len).then_some(&*cfg.x12);
            let read = match (input.whole, check) {
                (Some(whole), None) => whole
                    .open()
                    .and_then(|f| x12::stream::parse_reader(f, &mut run)),
                (Some(whole), check) => whole
                    .open()
                    .and_then(|f| x12::pipe::parse_reader(f, &mut run, check)),
                (None, None) => {
                    x12::stream::parse_slice(input.data, &mut run);
                    Ok(0)
                }
                (None, check) => x12::pipe::parse_reader(input.data, &mut run, check).map(|_| 0),
            };
            if let Err(e) = read {
                run.pass.unreadable(e);
            }
            run.pass
        },
        out,
    );
}

struct X12Run<'r, 'i> {
    pass: Pass<'r, 'i>,
    /// Per transaction set of the current interchange, in order: how many records it gave and
    /// whether it was validated and mapped (as part of a group and interchange not rejected
    /// so far); the records wait in `spool`.
    pending: Runs<(usize, bool)>,
    spool: Spool,
    /// The source of the records of the group being read, by interchange offset and group
    /// index.
    source: Option<((usize, usize), Source)>,
}

impl X12Run<'_, '_> {
    fn sender_of(&mut self, ic: &Interchange) -> bool {
        self.pass.sender_of(
            || ic.sender(),
            |cfg, sender| cfg.partner_by_x12(sender),
            &ic.sender_id,
            &ic.control,
            || Position {
                offset: ic.offset,
                segment_id: "ISA".into(),
                element: Some(6),
                ..Position::default()
            },
        )
    }

    /// Validates and maps one transaction set; its problems go into `tx`.
    fn map(
        &mut self,
        ic: &Interchange,
        g: &Group,
        tx: &mut Transaction,
        ti: usize,
    ) -> Vec<Emitted> {
        let (cfg, input) = (self.pass.cfg, self.pass.input);
        if self.pass.sender.is_none() {
            return Vec::new();
        }
        x12::validate::transaction(tx, &cfg.x12, &g.version);
        if tx.rejected() {
            return Vec::new();
        }
        let Some(program) = self.pass.mapping("x12", &tx.id) else {
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
        let Some(from) = self.pass.sender.as_ref() else {
            return Vec::new();
        };
        match cfg.maps.inbound_x12(program, &from.partner, tx, &g.version) {
            Ok(objects) => {
                // One source per group; only the transaction set's own facts change.
                let group = (ic.offset, ic.groups.len());
                let (_, source) = match &mut self.source {
                    Some(s) if s.0 == group => s,
                    slot => slot.insert((
                        group,
                        Source {
                            format: "x12".into(),
                            standard: g.version.clone(),
                            interchange_control: ic.control.clone(),
                            group_control: g.control.clone(),
                            sender: from.sender.clone(),
                            receiver: ic.receiver(),
                            file: input.file.to_string(),
                            sha256: input.sha256.to_string(),
                            ..Source::default()
                        },
                    )),
                };
                source.document.clone_from(&tx.id);
                source.transaction_control.clone_from(&tx.control);
                let source = &*source;
                objects
                    .into_iter()
                    .enumerate()
                    .map(|(k, object)| {
                        let key = if k == 0 {
                            format!("{}:{}:{ti}", input.sha256, tx.offset)
                        } else {
                            format!("{}:{}:{ti}:{k}", input.sha256, tx.offset)
                        };
                        record(&key, &from.partner, source, object)
                    })
                    .collect()
            }
            Err(e) => {
                x12_mapping_problem(tx, e);
                Vec::new()
            }
        }
    }
}

impl Handler for X12Run<'_, '_> {
    fn transaction(&mut self, ic: &Interchange, g: &Group, tx: &mut Transaction) {
        if !self.sender_of(ic) {
            return;
        }
        let so_far = ic.rejected() || g.rejected();
        let ok = self.pass.ok_so_far(so_far, Some(ic.groups.len())) && !tx.rejected();
        let records = if ok {
            self.map(ic, g, tx, g.kept_len())
        } else {
            Vec::new()
        };
        self.pending.push((records.len(), ok));
        for r in records {
            if let Err(e) = self.spool.push(r) {
                self.pass.spool_failed(e);
            }
        }
    }

    fn keep(&self) -> x12::envelope::KeepMode {
        x12::envelope::KeepMode::Summary
    }

    fn interchange(&mut self, mut ic: Interchange) {
        let pending = std::mem::take(&mut self.pending);
        let mut pending = pending.iter();
        let spooled = self.spool.take();
        let ok = self.sender_of(&ic);
        let Some(from) = self.pass.close(ok) else {
            return;
        };
        if let Some(diagnostic) = from.duplicate_error(
            "x12.duplicate_interchange",
            &ic.control,
            ic.offset,
            "ISA",
            13,
        ) {
            ic.problems.push(Problem {
                ack_code: "025",
                diagnostic,
            });
        }
        let partner = from.partner;
        let ack_kind = self
            .pass
            .cfg
            .partner(&partner)
            .map(|p| p.ack)
            .unwrap_or_default();
        let ic_ok = !ic.rejected();
        self.pass
            .verdicts
            .push(!ic_ok, ic.groups.iter().map(Group::rejected).collect());
        let mut late = false;
        // (records, accepted) per transaction set, in order
        let mut ready = Runs::default();
        let out = &mut self.pass.outcome;
        out.diagnose(ic.problems.iter().map(|p| &p.diagnostic));
        for g in &ic.groups {
            let g_ok = ic_ok && !g.rejected();
            out.diagnose(g.problems.iter().map(|p| &p.diagnostic));
            for tx in g.kept() {
                let (records, mapped) = pending.next().unwrap_or_default();
                let accepted = g_ok && !tx.rejected();
                ready.push((records, accepted));
                // Mapped in a group or interchange rejected afterwards (or, which cannot
                // happen, left out of one accepted): the second pass knows the verdicts.
                late |= mapped != (g_ok && (mapped || !tx.rejected()));
                if !out.documents.contains(&tx.id) {
                    out.documents.push(tx.id.clone());
                }
                if accepted {
                    out.accepted += 1;
                } else {
                    out.rejected += 1;
                    let first = tx
                        .problems
                        .iter()
                        .map(|p| &p.diagnostic)
                        .chain(tx.issues.iter().map(|i| &i.diagnostic))
                        .find(|d| d.severity == Severity::Error)
                        .or_else(|| g.problems.first().map(|p| &p.diagnostic));
                    out.rejected_items.push(RejectedItem::of(
                        &tx.id,
                        &tx.control,
                        &ic.control,
                        first,
                        "x12.rejected",
                        tx.offset,
                    ));
                }
                out.diagnose(tx.problems.iter().map(|p| &p.diagnostic));
                out.diagnose(tx.issues.iter().map(|i| &i.diagnostic));
            }
        }
        self.pass.late |= late;
        self.pass.interchange(InterchangeInfo {
            partner: partner.clone(),
            sender: from.sender.clone(),
            receiver: ic.receiver(),
            control: ic.control.clone(),
        });
        self.pass.hand_over(spooled, &ready);
        if !self.pass.wants_acks() {
            return;
        }
        if acks::wants_ta1(&ic) {
            let n = self.pass.number(&partner);
            if let Ok(doc) = acks::ta1(&ic, self.pass.now, n) {
                self.pass.ack(Ack {
                    partner: partner.clone(),
                    doc,
                });
            }
        }
        if ic_ok
            && ack_kind != acks::Functional::None
            && ic.groups.iter().any(|g| g.functional_id != "FA")
        {
            let n = self.pass.number(&partner);
            if let Ok(Some(doc)) = acks::functional(&ic, ack_kind, self.pass.now, n) {
                self.pass.ack(Ack { partner, doc });
            }
        }
    }

    fn stray(&mut self, d: Diagnostic) {
        self.pass.stray(d);
    }
}
