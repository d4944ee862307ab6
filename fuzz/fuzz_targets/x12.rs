//! Fuzz target: any bytes through the X12 path (parse, validate, map, acknowledge), whole and
//! streamed in small chunks, and translated on one thread and on two; each pair must agree and
//! nothing may panic.
#![no_main]

use edigate::formats::x12::envelope::{parse, Collect};
use edigate::formats::x12::stream::parse_reader;
use libfuzzer_sys::fuzz_target;

mod common;

/// Yields at most 7 bytes per read, to cross chunk boundaries everywhere.
struct Chunks<'a>(&'a [u8]);

impl std::io::Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(out.len()).min(7);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = b"ISA".to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        let whole = parse(bytes);
        let mut c = Collect::default();
        parse_reader(Chunks(bytes), &mut c).unwrap();
        assert_eq!(format!("{whole:?}"), format!("{:?}", c.0));
        common::translate_both_ways(bytes);
    }
});
