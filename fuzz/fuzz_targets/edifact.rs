//! Fuzz target: any bytes through the EDIFACT path (parse, validate, CONTRL); nothing may panic.
#![no_main]

use edigate::translate::{dry_run, Input};
use edigate::util::Utc;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn cfg() -> &'static edigate::config::Config {
    static C: OnceLock<edigate::config::Config> = OnceLock::new();
    C.get_or_init(|| edigate::config::Config::defaults(std::path::Path::new("/")))
}

fuzz_target!(|data: &[u8]| {
    let mut input = b"UNB+".to_vec();
    input.extend_from_slice(data);
    for bytes in [data, &input[..]] {
        let _ = edigate::formats::edifact::parse(bytes);
        let _ = dry_run(
            &Input { data: bytes, file: "fuzz", sha256: "0", channel_partner: None, seen: None, whole: None },
            cfg(),
            Utc { epoch: 0 },
        );
    }
});
