//! Feeds the envelope parser from a byte slice or from any `Read`, in bounded memory: only the
//! unread tail of a chunk and the current transaction set are held.

use super::envelope::{Handler, Parser};
use super::lexer::{step, unwrap_into, LexError, Segment, Separators};
use crate::formats::stream::{drive_reader, drive_slice, Step, Tokenizer};
use std::io::{self, Read};

struct X12<'h> {
    parser: Parser<'h>,
    seps: Option<Separators>,
    scratch: Vec<u8>,
}

impl Tokenizer for X12<'_> {
    type Error = LexError;

    fn step(&mut self, buf: &[u8], pos: usize, base: usize, eof: bool) -> Step<LexError> {
        step(buf, pos, &mut self.seps, base, eof)
    }

    fn segment(&mut self, raw: &[u8], offset: usize, dirty: bool) {
        let Some(seps) = self.seps else { return };
        let raw = if dirty {
            self.scratch.clear();
            unwrap_into(raw, &mut self.scratch);
            &self.scratch[..]
        } else {
            raw
        };
        self.parser.segment(Segment { offset, raw, seps });
    }

    fn error(&mut self, e: LexError) {
        self.parser.lex_error(e);
    }
}

fn tokenizer(handler: &mut dyn Handler) -> X12<'_> {
    X12 {
        parser: Parser::new(handler),
        seps: None,
        scratch: Vec::new(),
    }
}

/// Parses a whole buffer.
pub fn parse_slice(buf: &[u8], handler: &mut dyn Handler) {
    let mut t = tokenizer(handler);
    let end = drive_slice(buf, &mut t);
    t.parser.finish(end);
}

/// Parses everything `src` yields. Returns the number of bytes read.
pub fn parse_reader(src: impl Read, handler: &mut dyn Handler) -> io::Result<u64> {
    let mut t = tokenizer(handler);
    let end = drive_reader(src, &mut t)?;
    t.parser.finish(end as usize);
    Ok(end)
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
        // Found by fuzzing: a second, unreadable ISA in mid-file stops both readers at the same
        // place, and both report the trailers missing at the end of the input.
        let without_iea = &text[..text.len() - 17];
        assert!(without_iea.ends_with(b"GE*4*908~\n"));
        let mut bad_second_isa = without_iea.to_vec();
        bad_second_isa.extend_from_slice(b"ISAX00*");
        bad_second_isa.extend_from_slice(&text[3..]);
        let mut c = Collect::default();
        parse_reader(Trickle(&bad_second_isa), &mut c).unwrap();
        assert_eq!(
            format!("{:?}", parse(&bad_second_isa)),
            format!("{:?}", c.0)
        );
        let truncated = &text[..text.len() - 40];
        let mut c = Collect::default();
        parse_reader(Trickle(truncated), &mut c).unwrap();
        assert_eq!(format!("{:?}", parse(truncated)), format!("{:?}", c.0));
    }
}
