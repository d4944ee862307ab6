//! Parsing on a second thread, for every segment syntax: one thread reads and parses (and may
//! validate), handing what it finds over in order; the calling thread gives it to the
//! caller's handler. What the two syntaxes hand over is theirs (`x12::pipe`,
//! `edifact::pipe`); the threads, the bounded channel and the memory given back are here.
//!
//! Messages carry many events, so that the threads wake each other rarely; a bounded channel
//! keeps what runs ahead to a few megabytes. Memory the handler's thread is done with goes back
//! to be reused, not freed on a thread that did not allocate it.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// Inputs smaller than this are parsed on the calling thread: a second thread costs more
/// than it saves on them.
pub const PIPE_BYTES: u64 = 1 << 20;

/// Events in one message at most.
const BATCH: usize = 64;
/// Bytes of events in one message at most (one larger event goes alone).
const BATCH_BYTES: usize = 1 << 20;
/// Messages in flight between the threads.
const IN_FLIGHT: usize = 4;

thread_local! {
    /// Set by tests to have every input parsed one way or the other on their thread.
    static FORCED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether an input of `len` bytes is worth a second thread.
pub fn wanted(len: u64) -> bool {
    FORCED.get().unwrap_or(len >= PIPE_BYTES)
}

/// Has every input parsed on a second thread (`Some(true)`), or never (`Some(false)`),
/// whatever its size, by calls from this thread; `None` goes back to deciding by size.
#[doc(hidden)]
pub fn force_on_this_thread(on: Option<bool>) {
    FORCED.set(on);
}

/// The parsing thread's end: events out, memory back.
pub struct Out<'a, E, S> {
    out: SyncSender<Vec<E>>,
    back: Receiver<S>,
    batch: Vec<E>,
    bytes: usize,
    /// Set when the handler's thread is gone (it panicked): reading stops.
    gone: &'a Cell<bool>,
}

impl<E, S> Out<'_, E, S> {
    /// Hands `e` over (with others), `bytes` being about what it holds.
    pub fn push(&mut self, e: E, bytes: usize) {
        self.batch.push(e);
        self.bytes += bytes;
        if self.batch.len() >= BATCH || self.bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.bytes = 0;
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if self.out.send(batch).is_err() {
            self.gone.set(true);
        }
    }

    /// What the handler's thread gave back since.
    pub fn given_back(&self) -> impl Iterator<Item = S> + '_ {
        self.back.try_iter()
    }
}

/// A reader that ends early once `gone` is set.
struct Stoppable<'a, R> {
    src: R,
    gone: &'a Cell<bool>,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.gone.get() {
            return Ok(0);
        }
        self.src.read(buf)
    }
}

/// Runs `parse` over `src` on a second thread, handing every event it pushes to `take` on this
/// one, in order, with where to give memory back. Returns what `parse` returns (the number of
/// bytes read). A panic on either thread reaches the caller, once both have stopped.
pub fn run<E: Send, S: Send>(
    src: impl Read + Send,
    parse: impl FnOnce(&mut dyn Read, &mut Out<'_, E, S>) -> io::Result<u64> + Send,
    mut take: impl FnMut(E, &Sender<S>),
) -> io::Result<u64> {
    std::thread::scope(|s| {
        let (out, messages) = sync_channel(IN_FLIGHT);
        let (give_back, back) = channel();
        let parsing = s.spawn(move || {
            let gone = Cell::new(false);
            let mut out = Out {
                out,
                back,
                batch: Vec::with_capacity(BATCH),
                bytes: 0,
                gone: &gone,
            };
            let read = parse(&mut Stoppable { src, gone: &gone }, &mut out);
            out.flush();
            read
        });
        for batch in messages {
            for e in batch {
                take(e, &give_back);
            }
        }
        parsing
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Every file of the fixtures (`tests/data`) and the shared corpus that starts, after blanks,
/// with one of `starts`: what the tests of both syntaxes' second threads parse both ways.
#[cfg(test)]
pub(crate) fn test_files(starts: &[&[u8]]) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &std::path::Path, starts: &[&[u8]], out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, starts, out);
            } else {
                let text = std::fs::read(&path).unwrap();
                let start = text.trim_ascii_start();
                if starts.iter().any(|s| start.starts_with(s)) {
                    out.push((path, text));
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("tests/data"), starts, &mut files);
    walk(&root.join("../shared/corpus"), starts, &mut files);
    files
}
