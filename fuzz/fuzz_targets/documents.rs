//! Fuzz target: any bytes as a cXML or CSV document (XML parsing under its bounds, CSV column
//! maps, the jq mappings and the record contract); nothing may panic and every refusal has a
//! reason.
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
    let input = Input {
        data,
        file: "fuzz",
        sha256: "0",
        channel_partner: Some("FUZZ"),
        seen: None,
        whole: None,
    };
    let out = dry_run(&input, cfg(), Utc { epoch: 0 });
    if let Some(r) = &out.refusal {
        assert!(!r.reason.is_empty());
    }
});
