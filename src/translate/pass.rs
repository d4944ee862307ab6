//! One streaming pass over an EDI file, shared by X12 and EDIFACT: partner and duplicate check
//! per interchange, verdicts, acknowledgement numbers, and the second pass when needed.
//!
//! Each message is validated and mapped as soon as the parser closes it and its segments are
//! freed; each interchange is assembled, acknowledged and dropped when it ends. An interchange
//! (or an X12 group) can turn out rejected after some of its messages were mapped (a stray
//! segment, an unreadable header further on): the pass then says `late`, and [`streamed`] reads
//! the file again knowing every verdict from the start and reusing the acknowledgement numbers
//! drawn, so the outcome is exactly that of mapping after a complete parse.

use super::spool::{Records, Runs};
use super::{refuse_nothing_accepted, resolve_partner, Ack, Emitted, Input, InterchangeInfo};
use super::{Outcome, Sink};
use crate::config::{Config, Partner};
use crate::formats::{Diagnostic, Position, Severity};
use crate::mapping::Mapping;
use crate::util::Utc;

/// Whether each interchange, and each of its groups (X12), was rejected in the end; only the
/// interchanges with a rejection are kept, so that a file of many clean interchanges costs
/// nothing per interchange.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Interchanges ended.
    count: usize,
    /// Index -> (interchange rejected, each group rejected), for those with a rejection.
    rejected: std::collections::BTreeMap<usize, (bool, Vec<bool>)>,
}

impl Verdicts {
    pub fn push(&mut self, interchange: bool, groups: Vec<bool>) {
        if interchange || groups.iter().any(|g| *g) {
            self.rejected.insert(self.count, (interchange, groups));
        }
        self.count += 1;
    }

    /// Whether interchange `i` (and its group `group`) was accepted; `None` when it had not
    /// ended.
    fn accepted(&self, i: usize, group: Option<usize>) -> Option<bool> {
        if i >= self.count {
            return None;
        }
        Some(match self.rejected.get(&i) {
            None => true,
            Some((ic, groups)) => {
                !ic && group.is_none_or(|g| !groups.get(g).copied().unwrap_or(true))
            }
        })
    }
}

/// The partner of the interchange being read, found at its first message.
pub struct Sender {
    pub partner: String,
    pub sender: String,
    pub duplicate: bool,
}

impl Sender {
    /// The error that rejects interchange `control` when it is a duplicate, at the header
    /// element (`segment_id`, `element`) that holds its control number.
    pub fn duplicate_error(
        &self,
        code: &'static str,
        control: &str,
        offset: usize,
        segment_id: &str,
        element: usize,
    ) -> Option<Diagnostic> {
        self.duplicate.then(|| Diagnostic {
            severity: Severity::Error,
            code,
            message: format!(
                "interchange {control} from {} was already received: a duplicate is not processed again",
                self.sender
            ),
            position: Position {
                offset,
                segment_id: segment_id.into(),
                element: Some(element),
                ..Position::default()
            },
        })
    }
}

/// The state of one pass.
pub struct Pass<'r, 'i> {
    pub input: &'r Input<'i>,
    pub cfg: &'r Config,
    pub now: Utc,
    allocate: &'r mut dyn FnMut(&str) -> u64,
    pub outcome: Outcome,
    /// Problems outside any interchange (they come first, as in a complete parse).
    strays: Vec<Diagnostic>,
    /// Interchanges ended so far (the index of the one being read).
    pub interchanges: usize,
    /// The current interchange's partner (`None` until its first message).
    pub sender: Option<Sender>,
    /// Records made so far in this pass, in order.
    pub records_made: usize,
    /// Verdicts learnt in this pass; `known`: in a second pass, those of the first.
    pub verdicts: Verdicts,
    known: Option<Verdicts>,
    /// A message was mapped in an interchange or group that was rejected afterwards.
    pub late: bool,
    /// Where results go as each interchange ends, when they are not kept in `outcome`.
    sink: Option<&'r mut dyn Sink>,
    /// Records, acknowledgements and interchanges handed to `sink` so far; `skip`: in a second
    /// pass, how many of each the first pass handed over already.
    sent: [usize; 3],
    skip: [usize; 3],
    /// Control numbers drawn for acknowledgements, in order; a second pass uses the same.
    numbers: Vec<u64>,
    replay: Option<std::vec::IntoIter<u64>>,
    pub refused: bool,
    /// The mapping looked up last: partner, format, document (most files hold one kind of
    /// document from one partner).
    last_mapping: Option<(String, &'static str, String, Option<&'r Mapping>)>,
}

impl<'r> Pass<'r, '_> {
    /// The inbound mapping of `format`/`document` for the current sender's partner.
    pub fn mapping(&mut self, format: &'static str, document: &str) -> Option<&'r Mapping> {
        let cfg: &'r Config = self.cfg;
        let partner = &self.sender.as_ref()?.partner;
        match &self.last_mapping {
            Some((p, f, d, m)) if p == partner && *f == format && d == document => *m,
            _ => {
                let m = cfg.maps.find(partner, "inbound", format, document);
                self.last_mapping = Some((partner.clone(), format, document.to_string(), m));
                m
            }
        }
    }
}

/// Reads a file with `read` (which runs one pass of a format's handler and gives the pass
/// back), a second time when the first was late, and completes `out`.
pub fn streamed<'r, 'i>(
    first: Pass<'r, 'i>,
    read: impl Fn(Pass<'r, 'i>) -> Pass<'r, 'i>,
    out: &mut Outcome,
) {
    let mut pass = read(first);
    if pass.late {
        let again = Pass {
            known: Some(std::mem::take(&mut pass.verdicts)),
            replay: Some(std::mem::take(&mut pass.numbers).into_iter()),
            skip: pass.sent,
            ..Pass::new(pass.input, pass.cfg, pass.now, pass.allocate, pass.sink)
        };
        pass = read(again);
    }
    let Pass {
        outcome,
        strays,
        interchanges,
        refused,
        ..
    } = pass;
    *out = outcome;
    let ordered = std::mem::take(&mut out.diagnostics);
    out.diagnostics = strays;
    out.diagnostics.extend(ordered);
    if refused {
        out.close_diagnostics();
        return;
    }
    out.diagnostics.sort_by_key(|d| d.position.offset);
    out.close_diagnostics();
    if out.accepted == 0 {
        refuse_nothing_accepted(out, interchanges == 0);
    }
}

impl<'r, 'i> Pass<'r, 'i> {
    pub fn new(
        input: &'r Input<'i>,
        cfg: &'r Config,
        now: Utc,
        allocate: &'r mut dyn FnMut(&str) -> u64,
        sink: Option<&'r mut dyn Sink>,
    ) -> Self {
        Pass {
            input,
            cfg,
            now,
            allocate,
            outcome: Outcome::default(),
            strays: Vec::new(),
            interchanges: 0,
            sender: None,
            records_made: 0,
            verdicts: Verdicts::default(),
            known: None,
            late: false,
            sink,
            sent: [0; 3],
            skip: [0; 3],
            numbers: Vec::new(),
            replay: None,
            refused: false,
            last_mapping: None,
        }
    }

    /// A control number for an acknowledgement to `partner`: drawn, or in a second pass the
    /// one the first pass drew at the same place (both passes acknowledge the same
    /// interchanges in the same order), so a second reading leaves no gap.
    pub fn number(&mut self, partner: &str) -> u64 {
        if let Some(n) = self.replay.as_mut().and_then(Iterator::next) {
            return n;
        }
        let n = (self.allocate)(partner);
        self.numbers.push(n);
        n
    }

    /// Resolves the current interchange's partner from its `sender` (`known`: the partner
    /// configured for it; `fallback`: the partner name when none is) and asks whether
    /// interchange `control` was already received; once per interchange. `false` when the
    /// file is refused (at `here`).
    pub fn sender_of(
        &mut self,
        sender: impl FnOnce() -> String,
        known: impl FnOnce(&'r Config, &str) -> Option<&'r Partner>,
        fallback: &str,
        control: &str,
        here: impl FnOnce() -> Position,
    ) -> bool {
        if self.refused {
            return false;
        }
        if self.sender.is_some() {
            return true;
        }
        let sender = sender();
        let (cfg, input) = (self.cfg, self.input);
        match resolve_partner(
            cfg,
            input.channel_partner,
            &sender,
            known(cfg, &sender),
            fallback,
        ) {
            Ok(partner) => {
                // Only an interchange reference can be compared: messages without an envelope
                // (no UNB) have none, and are never duplicates of each other.
                let duplicate = !control.trim().is_empty()
                    && input
                        .seen
                        .is_some_and(|seen| seen(&partner, &sender, control));
                self.sender = Some(Sender {
                    partner,
                    sender,
                    duplicate,
                });
                true
            }
            Err((code, reason)) => {
                self.refused = true;
                self.outcome.refuse(code, reason, here());
                false
            }
        }
    }

    /// Whether the interchange being read (and its X12 group `group`) can still be accepted:
    /// the first pass's verdicts in a second pass, otherwise what its problems say so far.
    pub fn ok_so_far(&self, rejected_so_far: bool, group: Option<usize>) -> bool {
        match self
            .known
            .as_ref()
            .and_then(|k| k.accepted(self.interchanges, group))
        {
            Some(accepted) => accepted,
            None => !rejected_so_far && !self.sender.as_ref().is_some_and(|s| s.duplicate),
        }
    }

    /// The interchange being read has ended (`ok`: its partner was resolved): its sender, to
    /// assemble it, unless the file is refused.
    pub fn close(&mut self, ok: bool) -> Option<Sender> {
        self.interchanges += 1;
        self.sender.take().filter(|_| ok)
    }

    pub fn stray(&mut self, d: Diagnostic) {
        // Bounded as an interchange's diagnostics are (a file of stray segments is no exception).
        if self.strays.len() < crate::formats::MAX_ERRORS {
            self.strays.push(d);
        } else {
            self.outcome.unlisted += 1;
        }
    }

    /// The temporary file that holds a big interchange's records failed: the file is refused
    /// with that reason, never passed on with records missing.
    pub fn spool_failed(&mut self, e: std::io::Error) {
        self.refused = true;
        self.outcome.spool_failed(e);
    }

    /// The file could not be read to its end (it was being streamed from disk): refused.
    pub fn unreadable(&mut self, e: std::io::Error) {
        self.refused = true;
        self.outcome.unreadable(e);
    }

    /// Whether a result of kind `k` (0 record, 1 acknowledgement, 2 interchange) goes to the
    /// sink: not once the pass is late (the second pass gives them), nor when the first pass
    /// handed it over already.
    fn send(&mut self, k: usize) -> bool {
        if self.late {
            return false;
        }
        if self.skip[k] > 0 {
            self.skip[k] -= 1;
            return false;
        }
        self.sent[k] += 1;
        true
    }

    /// The records of an interchange that ended, read back from its spool: for each
    /// transaction set or message in `ready` (records made, accepted), its records go on when
    /// it was accepted.
    pub fn hand_over(&mut self, spooled: std::io::Result<Records>, ready: &Runs<(usize, bool)>) {
        match spooled {
            Ok(mut spooled) => {
                for (n, accepted) in ready.iter() {
                    for r in spooled.by_ref().take(n) {
                        match r {
                            Ok(r) if accepted => self.record(r),
                            Ok(_) => {}
                            Err(e) => self.spool_failed(e),
                        }
                    }
                }
            }
            Err(e) => self.spool_failed(e),
        }
    }

    /// A record of an interchange that ended, once its verdict (and `late`) is known.
    pub fn record(&mut self, r: Emitted) {
        if self.sink.is_none() {
            self.outcome.records.push(r);
        } else if self.send(0) {
            if let Some(sink) = self.sink.as_mut() {
                sink.record(r);
            }
        }
    }

    /// Whether the sink wants acknowledgements (built only then; the same on every pass).
    pub fn wants_acks(&self) -> bool {
        self.sink.as_ref().is_none_or(|s| s.wants_acks())
    }

    pub fn ack(&mut self, a: Ack) {
        if self.sink.is_none() {
            self.outcome.acks.push(a);
        } else if self.send(1) {
            if let Some(sink) = self.sink.as_mut() {
                sink.ack(a);
            }
        }
    }

    pub fn interchange(&mut self, i: InterchangeInfo) {
        if self.sink.is_none() {
            self.outcome.interchanges.push(i);
        } else if self.send(2) {
            if let Some(sink) = self.sink.as_mut() {
                sink.interchange(i);
            }
        }
    }
}
