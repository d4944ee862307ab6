//! What the syntax targets share: the configuration they translate with, and a translation
//! made on one thread and on two.

use edigate::translate::{dry_run, Input};
use edigate::util::Utc;
use std::sync::OnceLock;

pub fn cfg() -> &'static edigate::config::Config {
    static C: OnceLock<edigate::config::Config> = OnceLock::new();
    C.get_or_init(|| edigate::config::Config::defaults(std::path::Path::new("/")))
}

/// Translates `bytes` parsed on this thread and on a second one; the outcomes must agree.
pub fn translate_both_ways(bytes: &[u8]) {
    let run = |piped| {
        edigate::formats::pipe::force_on_this_thread(Some(piped));
        let out = dry_run(
            &Input { data: bytes, file: "fuzz", sha256: "0", channel_partner: None, seen: None, whole: None },
            cfg(),
            Utc { epoch: 0 },
        );
        edigate::formats::pipe::force_on_this_thread(None);
        format!("{out:?}")
    };
    assert_eq!(run(false), run(true));
}
