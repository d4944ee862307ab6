//! EDIFACT parsing on a second thread (see `formats::pipe`): the tokenizer, the envelope
//! parser and (when asked) each message's validation run ahead, while the caller's handler
//! works on what they found, in the same order and with the same interchange in view as
//! without it.
//!
//! The parsing thread hands over each message with the open interchange (without its
//! messages) whenever it changed since the message before; the handler's thread keeps a copy
//! (with the messages its handler kept), shows it to the handler, and completes the
//! interchange with them when it ends.

use super::envelope::{Handler, Interchange, KeepMode, Message};
use super::validate::Messages;
use crate::formats::pipe::Out;
use crate::formats::stream::SegBuf;
use crate::formats::Diagnostic;
use std::io::{self, Read};
use std::sync::mpsc::Sender;

enum Event {
    Message {
        /// The open interchange, when it changed since the last message.
        changed: Option<Box<Interchange>>,
        /// The interchange's count of messages when the parser handed this one over.
        count: usize,
        m: Message,
    },
    Interchange(Box<Interchange>),
    Stray(Diagnostic),
}

/// Memory given back to the parsing thread.
enum Spare {
    Body(SegBuf),
    Interchange(Box<Interchange>),
}

/// What identifies the state of an open interchange the handler's thread was last sent: its
/// offset, its problems, and its groups (how many, their messages, closed and problems).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Sent {
    offset: usize,
    problems: usize,
    groups: (usize, usize, usize, usize),
}

impl Sent {
    fn of(ic: &Interchange) -> Sent {
        let groups = ic.groups.iter().fold((ic.groups.len(), 0, 0, 0), |a, g| {
            (
                a.0,
                a.1 + g.message_count,
                a.2 + usize::from(g.closed),
                a.3 + g.problems.len(),
            )
        });
        Sent {
            offset: ic.offset,
            problems: ic.problems.len(),
            groups,
        }
    }
}

/// The parsing thread's handler: hands everything over, keeps nothing.
struct Forward<'o, 'a> {
    out: &'o mut Out<'a, Event, Spare>,
    /// Headers given back, to be written over.
    interchanges: Vec<Interchange>,
    check: Option<&'o Messages>,
    sent: Option<Sent>,
}

impl Forward<'_, '_> {
    /// Takes back what the handler's thread gave back; a body for the next message.
    fn collect(&mut self) -> SegBuf {
        let mut body = SegBuf::default();
        for s in self.out.given_back() {
            match s {
                Spare::Body(b) => body = b,
                Spare::Interchange(ic) => self.interchanges.push(*ic),
            }
        }
        body
    }
}

impl Handler for Forward<'_, '_> {
    fn message(&mut self, ic: &Interchange, m: &mut Message) {
        let spare = self.collect();
        let mut m = std::mem::replace(m, Message::with_body(spare));
        if let Some(defs) = self.check {
            m.validate_ahead(defs);
        }
        let now = Sent::of(ic);
        let changed = (self.sent.replace(now) != Some(now)).then(|| {
            let mut h = self.interchanges.pop().unwrap_or_default();
            ic.header_into(&mut h);
            Box::new(h)
        });
        let bytes = m.body().data().len();
        let count = ic.message_count;
        self.out.push(Event::Message { changed, count, m }, bytes);
    }

    fn keep(&self) -> KeepMode {
        KeepMode::Nothing
    }

    fn interchange(&mut self, ic: Interchange) {
        self.sent = None;
        self.out.push(Event::Interchange(Box::new(ic)), 0);
    }

    fn stray(&mut self, d: Diagnostic) {
        self.out.push(Event::Stray(d), 0);
    }
}

/// The handler's view: the open interchange, with the messages the handler kept of it.
#[derive(Default)]
struct Mirror {
    interchange: Option<Box<Interchange>>,
}

impl Mirror {
    /// Shows `handler` what `e` is, giving memory back to the parsing thread by `spare`.
    fn apply(&mut self, e: Event, handler: &mut dyn Handler, spare: &Sender<Spare>) {
        match e {
            Event::Message { changed, count, m } => {
                if let Some(mut ic) = changed {
                    if let Some(mut open) = self.interchange.take() {
                        if open.offset == ic.offset {
                            ic.adopt_kept(&mut open);
                        }
                        let _ = spare.send(Spare::Interchange(open));
                    }
                    self.interchange = Some(ic);
                }
                self.message(count, m, handler, spare);
            }
            Event::Interchange(mut ic) => {
                if let Some(mut open) = self.interchange.take() {
                    if open.offset == ic.offset {
                        ic.adopt_kept(&mut open);
                    }
                    let _ = spare.send(Spare::Interchange(open));
                }
                handler.interchange(*ic);
            }
            Event::Stray(d) => handler.stray(d),
        }
    }

    fn message(
        &mut self,
        count: usize,
        mut m: Message,
        handler: &mut dyn Handler,
        spare: &Sender<Spare>,
    ) {
        // The parser hands over messages of an open interchange only, and the first of each
        // came with it.
        let Some(ic) = self.interchange.as_mut() else {
            return;
        };
        ic.message_count = count;
        handler.message(ic, &mut m);
        m.drop_ahead();
        let keep = handler.keep();
        if keep != KeepMode::Whole {
            let _ = spare.send(Spare::Body(m.take_body()));
        }
        match keep {
            KeepMode::Whole => ic.messages.push(m),
            KeepMode::Summary => ic.keep_summary(m),
            KeepMode::Nothing => {}
        }
    }
}

/// As [`super::envelope::parse_reader`], the reading and parsing on a second thread; with
/// `check`, each message is also validated there against those definitions (for
/// [`super::validate::message`] with the same definitions to give at once). Returns the
/// number of bytes read.
pub fn parse_reader(
    src: impl Read + Send,
    handler: &mut dyn Handler,
    check: Option<&Messages>,
) -> io::Result<u64> {
    let mut mirror = Mirror::default();
    crate::formats::pipe::run(
        src,
        |src, out| {
            let mut forward = Forward {
                out,
                interchanges: Vec::new(),
                check,
                sent: None,
            };
            super::envelope::parse_reader(src, &mut forward)
        },
        |e, spare| mirror.apply(e, handler, spare),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::edifact::envelope::Collect;

    /// Every EDIFACT file of the fixtures and the corpus, parsed whole on one thread and
    /// through the second thread (validated there, then again by the handler): the same
    /// interchanges, messages and problems, in the same order.
    #[test]
    fn the_second_thread_gives_what_one_thread_gives() {
        let defs = Messages::builtin();
        let files = crate::formats::pipe::test_files(&[b"UNA", b"UNB", b"UNH"]);
        assert!(files.len() > 50, "only {} EDIFACT files found", files.len());
        for (path, text) in &files {
            for keep in [KeepMode::Whole, KeepMode::Summary] {
                let mut one = Validating::new(&defs, keep);
                super::super::envelope::parse_slice(text, &mut one);
                let mut two = Validating::new(&defs, keep);
                parse_reader(&text[..], &mut two, Some(&defs)).unwrap();
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

    /// A handler that validates each message and writes down what it was shown.
    struct Validating<'a> {
        defs: &'a Messages,
        keep: KeepMode,
        file: Collect,
        log: Vec<String>,
    }

    impl<'a> Validating<'a> {
        fn new(defs: &'a Messages, keep: KeepMode) -> Self {
            Validating {
                defs,
                keep,
                file: Collect::default(),
                log: Vec::new(),
            }
        }
    }

    impl Handler for Validating<'_> {
        fn message(&mut self, ic: &Interchange, m: &mut Message) {
            let covered = crate::formats::edifact::validate::message(m, self.defs);
            self.log.push(format!(
                "{} {} count={} kept={} groups={:?} problems={:?} | {covered} {:?}",
                ic.offset,
                ic.control,
                ic.message_count,
                ic.kept_len(),
                ic.groups,
                ic.problems,
                m
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
