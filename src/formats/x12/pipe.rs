//! X12 parsing on a second thread (see `formats::pipe`): the tokenizer, the envelope parser
//! and (when asked) each transaction set's validation run ahead, while the caller's handler
//! works on what they found, in the same order and with the same interchange and group in
//! view as without it.
//!
//! The parsing thread hands over each transaction set with what changed in its open
//! interchange and group since the one before; the handler's thread keeps a copy of both
//! (with the transactions its handler kept) and shows it to the handler, then completes each
//! interchange with them.

use super::envelope::{Group, Handler, Interchange, KeepMode, Transaction};
use super::spec::Standards;
use crate::formats::pipe::Out;
use crate::formats::stream::SegBuf;
use crate::formats::Diagnostic;
use std::io::{self, Read};
use std::sync::mpsc::Sender;

enum Event {
    Transaction {
        changed: Option<Box<Changed>>,
        /// The group's count of transactions when the parser handed this one over.
        count: usize,
        tx: Transaction,
    },
    Interchange(Interchange),
    Stray(Diagnostic),
}

/// What changed in the open interchange and group since the last transaction set handed
/// over: each is sent again whole (without groups or transactions) when it did.
#[derive(Default)]
struct Changed {
    interchange: Option<Interchange>,
    /// Groups closed since, as they ended.
    closed: Vec<Group>,
    group: Option<Group>,
}

/// Memory given back to the parsing thread.
enum Spare {
    Body(SegBuf),
    Interchange(Interchange),
    Group(Group),
}

/// What the handler's thread was last sent: the open interchange's offset and problem
/// count, how many groups it had closed, and the open group's offset and problem count.
#[derive(Clone, Copy)]
struct Sent {
    interchange: usize,
    interchange_problems: usize,
    groups: usize,
    group: (usize, usize),
}

/// The parsing thread's handler: hands everything over, keeps nothing.
struct Forward<'o, 'a> {
    out: &'o mut Out<'a, Event, Spare>,
    /// Headers given back, to be written over.
    interchanges: Vec<Interchange>,
    groups: Vec<Group>,
    check: Option<&'o Standards>,
    sent: Option<Sent>,
}

impl Forward<'_, '_> {
    /// Takes back what the handler's thread gave back; a body for the next transaction.
    fn collect(&mut self) -> SegBuf {
        let mut body = SegBuf::default();
        for s in self.out.given_back() {
            match s {
                Spare::Body(b) => body = b,
                Spare::Interchange(ic) => self.interchanges.push(ic),
                Spare::Group(g) => self.groups.push(g),
            }
        }
        body
    }

    /// What changed in `ic` and `g` since the last transaction set handed over.
    fn changed(&mut self, ic: &Interchange, g: &Group) -> Option<Box<Changed>> {
        let now = Sent {
            interchange: ic.offset,
            interchange_problems: ic.problems.len(),
            groups: ic.groups.len(),
            group: (g.offset, g.problems.len()),
        };
        let before = self
            .sent
            .replace(now)
            .filter(|s| s.interchange == ic.offset);
        let mut c = Changed::default();
        if before.is_none_or(|s| s.interchange_problems != now.interchange_problems) {
            let mut h = self.interchanges.pop().unwrap_or_default();
            ic.header_into(&mut h);
            c.interchange = Some(h);
        }
        let known = before.map_or(0, |s| s.groups.min(now.groups));
        for closed in &ic.groups[known..] {
            let mut h = self.groups.pop().unwrap_or_default();
            closed.header_into(&mut h);
            c.closed.push(h);
        }
        if before.is_none_or(|s| s.group != now.group) {
            let mut h = self.groups.pop().unwrap_or_default();
            g.header_into(&mut h);
            c.group = Some(h);
        }
        let none = c.interchange.is_none() && c.closed.is_empty() && c.group.is_none();
        (!none).then(|| Box::new(c))
    }
}

impl Handler for Forward<'_, '_> {
    fn transaction(&mut self, ic: &Interchange, g: &Group, tx: &mut Transaction) {
        let spare = self.collect();
        let mut tx = std::mem::replace(tx, Transaction::with_body(spare));
        if let Some(st) = self.check {
            tx.validate_ahead(st, &g.version);
        }
        let changed = self.changed(ic, g);
        let bytes = tx.data().len();
        let count = g.transaction_count;
        self.out
            .push(Event::Transaction { changed, count, tx }, bytes);
    }

    fn keep(&self) -> KeepMode {
        KeepMode::Nothing
    }

    fn interchange(&mut self, ic: Interchange) {
        self.sent = None;
        self.out.push(Event::Interchange(ic), 0);
    }

    fn stray(&mut self, d: Diagnostic) {
        self.out.push(Event::Stray(d), 0);
    }
}

/// The handler's view: the open interchange (its closed groups with what the handler kept
/// of them) and the open group.
#[derive(Default)]
struct Mirror {
    interchange: Option<Interchange>,
    group: Option<Group>,
}

impl Mirror {
    /// Shows `handler` what `e` is, giving memory back to the parsing thread by `spare`.
    fn apply(&mut self, e: Event, handler: &mut dyn Handler, spare: &Sender<Spare>) {
        match e {
            Event::Transaction { changed, count, tx } => {
                if let Some(c) = changed {
                    self.change(*c, spare);
                }
                self.transaction(count, tx, handler, spare);
            }
            Event::Interchange(ic) => self.interchange(ic, handler, spare),
            Event::Stray(d) => handler.stray(d),
        }
    }

    fn change(&mut self, c: Changed, spare: &Sender<Spare>) {
        if let Some(mut ic) = c.interchange {
            match self.interchange.take() {
                Some(mut open) if open.offset == ic.offset => {
                    ic.groups = std::mem::take(&mut open.groups);
                    give_back(spare, Spare::Interchange(open));
                }
                open => {
                    if let Some(open) = open {
                        give_back(spare, Spare::Interchange(open));
                    }
                    if let Some(g) = self.group.take() {
                        give_back(spare, Spare::Group(g));
                    }
                }
            }
            self.interchange = Some(ic);
        }
        for mut closed in c.closed {
            if let Some(mut g) = self.group.take_if(|g| g.offset == closed.offset) {
                closed.adopt_kept(&mut g);
                give_back(spare, Spare::Group(g));
            }
            let ic = self.interchange.get_or_insert_with(Interchange::default);
            ic.groups.push(closed);
        }
        if let Some(mut g) = c.group {
            if let Some(mut open) = self.group.take() {
                if open.offset == g.offset {
                    g.adopt_kept(&mut open);
                }
                give_back(spare, Spare::Group(open));
            }
            self.group = Some(g);
        }
    }

    fn transaction(
        &mut self,
        count: usize,
        mut tx: Transaction,
        handler: &mut dyn Handler,
        spare: &Sender<Spare>,
    ) {
        let (Some(ic), Some(g)) = (self.interchange.as_ref(), self.group.as_mut()) else {
            // The parser hands over transaction sets of an open group only, and the first
            // of each group came with both.
            return;
        };
        g.transaction_count = count;
        handler.transaction(ic, g, &mut tx);
        tx.drop_ahead();
        let keep = handler.keep();
        if keep != KeepMode::Whole {
            give_back(spare, Spare::Body(tx.take_body()));
        }
        match keep {
            KeepMode::Whole => g.transactions.push(tx),
            KeepMode::Summary => g.keep_summary(tx),
            KeepMode::Nothing => {}
        }
    }

    fn interchange(
        &mut self,
        mut ic: Interchange,
        handler: &mut dyn Handler,
        spare: &Sender<Spare>,
    ) {
        let mut kept = Vec::new();
        if let Some(mut open) = self.interchange.take() {
            kept = std::mem::take(&mut open.groups);
            give_back(spare, Spare::Interchange(open));
        }
        kept.extend(self.group.take());
        for g in &mut ic.groups {
            if let Some(k) = kept.iter_mut().find(|k| k.offset == g.offset) {
                g.adopt_kept(k);
            }
        }
        for k in kept {
            give_back(spare, Spare::Group(k));
        }
        handler.interchange(ic);
    }
}

/// Gives memory back to the parsing thread (unless it has ended).
fn give_back(spare: &Sender<Spare>, s: Spare) {
    let _ = spare.send(s);
}

/// As [`super::stream::parse_reader`], the reading and parsing on a second thread; with
/// `check`, each transaction set is also validated there against those standards (for
/// [`super::validate::transaction`] with the same standards to give at once). Returns the
/// number of bytes read.
pub fn parse_reader(
    src: impl Read + Send,
    handler: &mut dyn Handler,
    check: Option<&Standards>,
) -> io::Result<u64> {
    let mut mirror = Mirror::default();
    crate::formats::pipe::run(
        src,
        |src, out| {
            let mut forward = Forward {
                out,
                interchanges: Vec::new(),
                groups: Vec::new(),
                check,
                sent: None,
            };
            super::stream::parse_reader(src, &mut forward)
        },
        |e, spare| mirror.apply(e, handler, spare),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x12::envelope::Collect;

    /// Every X12 file of the fixtures and the corpus, parsed whole on one thread and through
    /// the second thread (validated there, then again by the handler): the same interchanges,
    /// groups, transactions and problems, in the same order.
    #[test]
    fn the_second_thread_gives_what_one_thread_gives() {
        let st = Standards::builtin();
        let files = crate::formats::pipe::test_files(&[b"ISA"]);
        assert!(files.len() > 100, "only {} X12 files found", files.len());
        for (path, text) in &files {
            for keep in [KeepMode::Whole, KeepMode::Summary] {
                let mut one = Validating::new(&st, keep);
                super::super::stream::parse_slice(text, &mut one);
                let mut two = Validating::new(&st, keep);
                parse_reader(&text[..], &mut two, Some(&st)).unwrap();
                assert_eq!(one.log, two.log, "{}", path.display());
                assert_eq!(
                    format!("{:?}", one.file.0),
                    format!("{:?}", two.file.0),
                    "{}",
                    path.display()
                );
            }
        }
    }

    /// A handler that panics on the first transaction set of a long input: the panic reaches
    /// the caller (who quarantines the file), and the parsing thread, its messages no longer
    /// taken, ends instead of waiting for room.
    #[test]
    fn a_panicking_handlers_panic_reaches_the_caller_and_nothing_waits_for_it() {
        struct Panics;
        impl Handler for Panics {
            fn transaction(&mut self, _: &Interchange, _: &Group, _: &mut Transaction) {
                panic!("handler bug");
            }
            fn interchange(&mut self, _: Interchange) {}
            fn stray(&mut self, _: Diagnostic) {}
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let one = std::fs::read(root.join("tests/data/x12/ok/850-4010-acme.edi")).unwrap();
        let text = one.repeat(5_000);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse_reader(&text[..], &mut Panics, None)
        }));
        let p = caught.expect_err("the handler's panic reaches the caller");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"handler bug"));
    }

    /// A handler that validates each transaction set and writes down what it was shown.
    struct Validating<'a> {
        st: &'a Standards,
        keep: KeepMode,
        file: Collect,
        log: Vec<String>,
    }

    impl<'a> Validating<'a> {
        fn new(st: &'a Standards, keep: KeepMode) -> Self {
            Validating {
                st,
                keep,
                file: Collect::default(),
                log: Vec::new(),
            }
        }
    }

    impl Handler for Validating<'_> {
        fn transaction(&mut self, ic: &Interchange, g: &Group, tx: &mut Transaction) {
            let covered = crate::formats::x12::validate::transaction(tx, self.st, &g.version);
            self.log.push(format!(
                "{} {} groups={} problems={:?} | {} {} kept={} count={} problems={:?} | {covered} {:?}",
                ic.offset,
                ic.control,
                ic.groups.len(),
                ic.problems,
                g.offset,
                g.control,
                g.kept_len(),
                g.transaction_count,
                g.problems,
                tx
            ));
        }
        fn keep(&self) -> KeepMode {
            self.keep
        }
        fn interchange(&mut self, ic: Interchange) {
            self.file.interchange(ic);
        }
        fn stray(&mut self, d: Diagnostic) {
            self.log.push(format!("stray {d:?}"));
            self.file.stray(d);
        }
    }
}
