//! Fuzz target: any bytes through the EDIFACT path (parse, validate, CONTRL), translated on one
//! thread and on two: both must agree and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut input = b"UNB+".to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        let _ = edigate::formats::edifact::parse(bytes);
        common::translate_both_ways(bytes);
    }
});
