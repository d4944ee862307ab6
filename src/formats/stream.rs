//! The one streaming driver for every segment syntax: reads a slice or any `Read` in chunks,
//! asks the syntax's tokenizer for the next segment, and hands it over. Memory holds only the
//! unread tail of a chunk (plus what the parser keeps).

use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

/// One step of a tokenizer over `buf[pos..]`.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<E> {
    /// A segment at `buf[start..end]` (terminator excluded); continue at `next`.
    /// `dirty` means it holds bytes (wrap line breaks) the tokenizer must clean.
    Segment {
        start: usize,
        end: usize,
        next: usize,
        dirty: bool,
    },
    /// The buffer ends before the segment does; call again with more input.
    NeedMore,
    /// Nothing but blanks remain.
    End,
    Error(E),
}

/// A syntax: how to find segments, and what to do with them.
pub trait Tokenizer {
    type Error;
    /// Finds the next segment. `base` is the absolute offset of `buf[0]`.
    fn step(&mut self, buf: &[u8], pos: usize, base: usize, eof: bool) -> Step<Self::Error>;
    /// A segment found by `step`, at absolute offset `offset`.
    fn segment(&mut self, raw: &[u8], offset: usize, dirty: bool);
    /// The tokenizer stopped with an error.
    fn error(&mut self, e: Self::Error);
}

/// Runs `tok` over a whole buffer. Returns where reading stopped.
pub fn drive_slice<T: Tokenizer>(buf: &[u8], tok: &mut T) -> usize {
    let mut pos = 0;
    loop {
        match tok.step(buf, pos, 0, true) {
            Step::Segment {
                start,
                end,
                next,
                dirty,
            } => {
                tok.segment(&buf[start..end], start, dirty);
                pos = next;
            }
            Step::End | Step::NeedMore => return pos.min(buf.len()),
            Step::Error(e) => {
                tok.error(e);
                return buf.len();
            }
        }
    }
}

/// Runs `tok` over everything `src` yields, in bounded memory. Returns the bytes read.
pub fn drive_reader<T: Tokenizer>(mut src: impl Read, tok: &mut T) -> io::Result<u64> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let (mut base, mut pos, mut eof) = (0usize, 0usize, false);
    loop {
        match tok.step(&buf, pos, base, eof) {
            Step::Segment {
                start,
                end,
                next,
                dirty,
            } => {
                tok.segment(&buf[start..end], base + start, dirty);
                pos = next;
            }
            Step::NeedMore => {
                buf.drain(..pos);
                base += pos;
                pos = 0;
                let have = buf.len();
                buf.resize(have + CHUNK, 0);
                let n = loop {
                    match src.read(&mut buf[have..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                buf.truncate(have + n);
                eof = n == 0;
            }
            Step::End => return Ok((base + pos.min(buf.len())) as u64),
            Step::Error(e) => {
                tok.error(e);
                // Nothing more is read as segments, but the size of the input is still
                // reported, as for a whole buffer.
                let rest = io::copy(&mut src, &mut io::sink())?;
                return Ok((base + buf.len()) as u64 + rest);
            }
        }
    }
}

/// Segments in an owned buffer: the body of one transaction set or message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegBuf {
    data: Vec<u8>,
    /// (start, end) in `data` and absolute offset in the input, per segment.
    segs: Vec<(u32, u32, usize)>,
}

impl SegBuf {
    pub fn push(&mut self, raw: &[u8], offset: usize) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(raw);
        self.segs.push((start, self.data.len() as u32, offset));
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Raw bytes and absolute offset of segment `i`.
    pub fn get(&self, i: usize) -> Option<(&[u8], usize)> {
        self.segs
            .get(i)
            .map(|&(s, e, o)| (&self.data[s as usize..e as usize], o))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], usize)> + '_ {
        self.segs
            .iter()
            .map(|&(s, e, o)| (&self.data[s as usize..e as usize], o))
    }

    /// All segments' bytes, one after the other (no terminators).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Start and end in [`SegBuf::data`] and absolute offset in the input, per segment.
    pub fn ranges(&self) -> &[(u32, u32, usize)] {
        &self.segs
    }

    /// Empties the buffer but keeps its memory for reuse.
    pub fn reset(&mut self) {
        self.data.clear();
        self.segs.clear();
    }

    pub fn clear(&mut self) {
        self.data = Vec::new();
        self.segs = Vec::new();
    }
}
