//! Feeds the envelope parser from a byte slice or from any `Read`, in bounded memory: only the
//! unread tail of a chunk and the current transaction set are held.

use super::envelope::{Handler, Parser};
use super::lexer::{step, unwrap_into, Segment, Step};
use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

/// Parses a whole buffer.
pub fn parse_slice(buf: &[u8], handler: &mut dyn Handler) {
    let mut parser = Parser::new(handler);
    let mut seps = None;
    let mut pos = 0;
    let mut scratch = Vec::new();
    loop {
        match step(buf, pos, &mut seps, 0, true) {
            Step::Segment {
                start,
                end,
                next,
                wrapped,
            } => {
                feed(&mut parser, buf, start, end, 0, wrapped, seps, &mut scratch);
                pos = next;
            }
            Step::End | Step::NeedMore => break,
            Step::Error(e) => {
                parser.lex_error(e);
                pos = buf.len();
                break;
            }
        }
    }
    parser.finish(pos.min(buf.len()));
}

#[allow(clippy::too_many_arguments)]
fn feed(
    parser: &mut Parser<'_>,
    buf: &[u8],
    start: usize,
    end: usize,
    base: usize,
    wrapped: bool,
    seps: Option<super::Separators>,
    scratch: &mut Vec<u8>,
) {
    let Some(seps) = seps else { return };
    let raw = if wrapped {
        scratch.clear();
        unwrap_into(&buf[start..end], scratch);
        &scratch[..]
    } else {
        &buf[start..end]
    };
    parser.segment(Segment {
        offset: base + start,
        raw,
        seps,
    });
}

/// Parses everything `src` yields. Returns the number of bytes read.
pub fn parse_reader(mut src: impl Read, handler: &mut dyn Handler) -> io::Result<u64> {
    let mut parser = Parser::new(handler);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let mut base = 0usize;
    let mut pos = 0usize;
    let mut eof = false;
    let mut seps = None;
    let mut scratch = Vec::new();
    loop {
        match step(&buf, pos, &mut seps, base, eof) {
            Step::Segment {
                start,
                end,
                next,
                wrapped,
            } => {
                feed(
                    &mut parser,
                    &buf,
                    start,
                    end,
                    base,
                    wrapped,
                    seps,
                    &mut scratch,
                );
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
            Step::End => break,
            Step::Error(e) => {
                parser.lex_error(e);
                pos = buf.len();
                break;
            }
        }
    }
    let total = base + pos.min(buf.len());
    parser.finish(total);
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::super::envelope::{parse, Collect};
    use super::*;

    /// A reader that hands out one byte at a time, to cross every chunk boundary.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn streaming_and_whole_buffer_agree_even_byte_by_byte() {
        let text =
            include_bytes!("../../../tests/data/x12/err/850-partial-bad-date-missing-beg.edi");
        let whole = parse(text);
        let mut c = Collect::default();
        parse_reader(Trickle(text), &mut c).unwrap();
        assert_eq!(format!("{:?}", whole), format!("{:?}", c.0));
        let truncated = &text[..text.len() - 40];
        let mut c = Collect::default();
        parse_reader(Trickle(truncated), &mut c).unwrap();
        assert_eq!(format!("{:?}", parse(truncated)), format!("{:?}", c.0));
    }
}
