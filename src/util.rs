//! Small pure helpers shared by every module: hashing, hex and calendar arithmetic.

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// FNV-1a: a fast hasher for the small string keys of definition tables (not for keys an
/// outsider chooses).
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A Bloom filter over 64-bit hashes: whether a hash may have been added before (never a
/// false "no"), in a fixed number of bits whatever how many were added.
pub struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// Seven probes per hash: about one false "maybe" in 1,500 at 20 bits per hash added.
    const PROBES: u64 = 7;

    /// A filter of about `bits` bits (a power of two, at least 64).
    pub fn with_bits(bits: u64) -> Bloom {
        let words = (bits.max(64).next_power_of_two() / 64) as usize;
        Bloom {
            words: vec![0; words],
        }
    }

    /// Adds `hash`; whether it may have been added before.
    pub fn add(&mut self, hash: u64) -> bool {
        let mask = self.words.len() as u64 * 64 - 1;
        let (a, b) = (hash, hash.rotate_left(32) | 1);
        let mut seen = true;
        for i in 0..Self::PROBES {
            let bit = a.wrapping_add(i.wrapping_mul(b)) & mask;
            let word = &mut self.words[(bit / 64) as usize];
            seen &= *word & (1 << (bit % 64)) != 0;
            *word |= 1 << (bit % 64);
        }
        seen
    }
}

/// A map keyed by short definition names, hashed with [`Fnv`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.map(|x| x ^ b);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Lower-case hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(&mut s, bytes);
    s
}

/// [`hex`] appended to `out`.
pub fn hex_into(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// A record's id: `rec_` and the first 24 hex digits of the SHA-256 of its key.
pub fn record_id(key: &str) -> String {
    let mut id = String::with_capacity(28);
    id.push_str("rec_");
    hex_into(&mut id, &Sha256::digest(key.as_bytes())[..12]);
    id
}

/// Standard base64 without padding (as OpenSSH prints `SHA256:` fingerprints).
pub fn base64_nopad(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Standard base64 with padding (HTTP Basic credentials).
pub fn base64(bytes: &[u8]) -> String {
    let mut s = base64_nopad(bytes);
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

/// A UTC instant with second precision, enough for envelopes, logs and state rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utc {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub epoch: i64,
}

impl Utc {
    pub fn now() -> Utc {
        Utc::of(SystemTime::now())
    }

    /// (year, month, day, hour, minute, second)
    pub fn parts(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.epoch.div_euclid(86_400);
        let secs = self.epoch.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (secs / 3600) as u32,
            (secs % 3600 / 60) as u32,
            (secs % 60) as u32,
        )
    }

    /// `2026-05-17T10:15:00Z`
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// The second of `t`.
    pub fn of(t: SystemTime) -> Utc {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Utc {
            epoch: d.as_secs() as i64,
        }
    }

    /// `t` with milliseconds, `2026-05-17T10:15:00.123Z` (for latency records).
    pub fn rfc3339_ms(t: SystemTime) -> String {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let s = Utc::of(t).rfc3339();
        format!("{}.{:03}Z", &s[..19], d.subsec_millis())
    }

    /// `2026-05-17`
    pub fn date(self) -> String {
        let (y, mo, d, ..) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}")
    }

    /// Parses an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn parse_http_date(s: &str) -> Option<Utc> {
        let mut it = s.split_whitespace();
        let (_, d, mon, y, t, z) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        if z != "GMT" || it.next().is_some() {
            return None;
        }
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
        let (d, y) = (d.parse::<u32>().ok()?, y.parse::<i64>().ok()?);
        let mut hms = t.split(':').map(|p| p.parse::<i64>().ok());
        let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
        if !valid_date(y, mo, d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        Some(Utc {
            epoch: days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se,
        })
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (the form `rfc3339` writes).
    pub fn parse_rfc3339(s: &str) -> Option<Utc> {
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !valid_date(y, mo as u32, d as u32) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        Some(Utc {
            epoch: days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se,
        })
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// True when the calendar date exists.
pub fn valid_date(y: i64, m: u32, d: u32) -> bool {
    if !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= max
}

/// Fault injection for the integration tests, in debug builds only (a release binary never
/// reads it): `EDIGATE_FAULT=panic:translate:NAME` panics while translating a file whose name
/// contains NAME; `panic:deliver:TARGET` panics once in TARGET's delivery worker.
pub fn fault(kind: &str, subject: &str) -> bool {
    if !cfg!(debug_assertions) {
        return false;
    }
    let Ok(spec) = std::env::var("EDIGATE_FAULT") else {
        return false;
    };
    spec.split(',').any(|f| {
        f.strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|needle| !needle.is_empty() && subject.contains(needle))
    })
}

/// Escapes the control characters of one formatted log line (all but its final newline), so
/// that a value taken from an input (a file name, a sender id) can neither forge a line nor
/// hide one with terminal escapes: a newline shows as `\n`, ESC as `\x1b`.
pub fn escape_log_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let bad = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if !body.iter().any(|&b| bad(b)) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if bad(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            b => out.push(b),
        }
    }
    if body.len() < line.len() {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

/// The name of the OS user with id `uid` (from `/etc/passwd`), or `uid N`.
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Who applies a configuration at start: the OS user running this process.
pub fn actor_at_start() -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    format!("os:{} (at start)", user_name(uid))
}

/// Who changed a configuration file the running service re-read: its owner.
pub fn actor_of_file(file: &std::path::Path, how: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(file) {
        Ok(m) => format!("os:{} ({how})", user_name(m.uid())),
        Err(_) => format!("os:unknown ({how})"),
    }
}

/// `n` random bytes from the kernel, as hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        // SAFETY: the pointer and length describe the unfilled part of `buf`.
        let r = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), n - filled, 0) };
        if r > 0 {
            filled += r as usize;
        }
    }
    crate::util::hex(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bloom_filter_never_forgets_and_seldom_imagines() {
        let hash = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
        let mut b = Bloom::with_bits(20 * 10_000);
        let early = (0..10_000).filter(|&i| b.add(hash(i))).count();
        assert!(early < 100, "{early} false maybes while adding 10,000");
        assert!(
            (0..10_000).all(|i| b.add(hash(i))),
            "every hash added is a maybe"
        );
        let imagined = (10_000..20_000).filter(|&i| b.add(hash(i))).count();
        assert!(imagined < 100, "{imagined} false maybes in 10,000");
    }

    #[test]
    fn a_record_id_is_rec_and_the_first_24_hex_digits_of_its_keys_sha256() {
        for key in ["", "abc", "0f:12:3", &"k".repeat(200)] {
            assert_eq!(
                record_id(key),
                format!("rec_{}", &sha256_hex(key.as_bytes())[..24])
            );
        }
        assert_eq!(record_id("abc"), "rec_ba7816bf8f01cfea414140de");
    }

    #[test]
    fn log_lines_keep_their_newline_and_escape_every_other_control() {
        assert_eq!(&*escape_log_line(b"plain line\n"), b"plain line\n");
        assert_eq!(
            &*escape_log_line(b"file=a\nFAKE ERROR \x1b[2Kb\r\n"),
            b"file=a\\nFAKE ERROR \\x1b[2Kb\\r\n"
        );
        assert_eq!(&*escape_log_line(b"no newline\x07"), b"no newline\\x07");
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert!(valid_date(y, m, d));
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let t = Utc {
            epoch: 1_779_012_900,
        };
        assert_eq!(Utc::parse_rfc3339(&t.rfc3339()), Some(t));
        assert_eq!(Utc { epoch: 0 }.rfc3339(), "1970-01-01T00:00:00Z");
        assert!(!valid_date(2023, 2, 29));
        assert!(valid_date(2024, 2, 29));
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64_nopad(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_nopad(b"fooba"), "Zm9vYmE");
        assert_eq!(base64_nopad(b"f"), "Zg");
    }

    #[test]
    fn hashes_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
