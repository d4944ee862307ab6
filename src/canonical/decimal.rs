//! Exact decimal numbers kept as text with the sender's scale (never floats), and ISO dates.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A decimal number such as `"1250.00"` or `"-0.5"`, normalised only in its sign and
/// leading zero, so that the scale the sender used is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Decimal(String);

impl Decimal {
    /// Parses an X12 `R` (or EDIFACT with `decimal_mark`) value: optional sign, digits, one
    /// decimal mark. `".5"` becomes `"0.5"`, `"+3"` becomes `"3"`.
    pub fn parse_with(text: &str, decimal_mark: char) -> Option<Decimal> {
        let mut s = String::with_capacity(text.len() + 2);
        Decimal::append(text, decimal_mark, &mut s).then_some(Decimal(s))
    }

    /// Appends the text [`Decimal::parse_with`] would give to `out` (for writers that build
    /// JSON directly); `false`, with nothing appended, when `text` is not a number.
    #[inline]
    pub fn append(text: &str, decimal_mark: char, out: &mut String) -> bool {
        let t = trim(text);
        if is_normal(t, decimal_mark) {
            out.push_str(t);
            return true;
        }
        Decimal::append_any(t, decimal_mark, out)
    }

    /// [`Decimal::append`] for any trimmed text, without the quick path.
    fn append_any(t: &str, decimal_mark: char, out: &mut String) -> bool {
        let (neg, body) = match t.as_bytes().first() {
            None => return false,
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            Some(_) => (false, t),
        };
        let mark = match u8::try_from(decimal_mark) {
            Ok(m) if m.is_ascii() => body.bytes().position(|b| b == m).map(|i| (i, 1)),
            _ => body
                .find(decimal_mark)
                .map(|i| (i, decimal_mark.len_utf8())),
        };
        let (int, frac) = match mark {
            Some((i, n)) => (&body[..i], Some(&body[i + n..])),
            None => (body, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int)
            || !frac.is_none_or(all_digits)
            || (int.is_empty() && frac.is_none_or(str::is_empty))
        {
            return false;
        }
        let mut int = int.trim_start_matches('0');
        if int.is_empty() {
            int = "0";
        }
        let zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        if neg && !zero {
            out.push('-');
        }
        out.push_str(int);
        if let Some(f) = frac.filter(|f| !f.is_empty()) {
            out.push('.');
            out.push_str(f);
        }
        true
    }

    /// `R` with a point.
    pub fn parse(text: &str) -> Option<Decimal> {
        Decimal::parse_with(text, '.')
    }

    /// X12 `Nn`: an integer with `scale` implied decimal places (`N2` `12550` is `125.50`).
    pub fn implied(text: &str, scale: usize) -> Option<Decimal> {
        let t = text.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, t),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (i, f) = padded.split_at(padded.len() - scale);
        let s = if scale == 0 {
            format!("{}{i}", if neg { "-" } else { "" })
        } else {
            format!("{}{i}.{f}", if neg { "-" } else { "" })
        };
        Decimal::parse(&s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact product (a line's quantity times its price), or `None` past 38 digits.
    pub fn mul(&self, other: &Decimal) -> Option<Decimal> {
        let parts = |d: &Decimal| -> Option<(i128, usize)> {
            let t = d.as_str();
            let (i, f) = t.split_once('.').unwrap_or((t, ""));
            Some((format!("{i}{f}").parse::<i128>().ok()?, f.len()))
        };
        let ((a, sa), (b, sb)) = (parts(self)?, parts(other)?);
        let p = a.checked_mul(b)?;
        let scale = sa + sb;
        let (neg, digits) = (p < 0, p.unsigned_abs().to_string());
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (i, f) = padded.split_at(padded.len() - scale);
        let text = format!(
            "{}{i}{}{f}",
            if neg { "-" } else { "" },
            if scale > 0 { "." } else { "" }
        );
        Decimal::parse(&text)
    }

    /// The X12 `Nn` form with `scale` implied places (`125.5`, 2 -> `12550`), or `None` when
    /// the value has more significant decimals than `scale` allows (never rounded).
    pub fn to_implied(&self, scale: usize) -> Option<String> {
        let (neg, body) = match self.0.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, self.0.as_str()),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let kept = frac.trim_end_matches('0');
        if kept.len() > scale {
            return None;
        }
        let mut digits = format!("{int}{kept:0<scale$}");
        let trimmed = digits.trim_start_matches('0');
        digits = if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.to_string()
        };
        Some(if neg && digits != "0" {
            format!("-{digits}")
        } else {
            digits
        })
    }
}

/// `str::trim`, quicker when the text starts and ends with printable ASCII.
#[inline]
pub fn trim(t: &str) -> &str {
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => t,
        _ => t.trim(),
    }
}

/// Whether `t` is already in the form [`Decimal::append`] writes: no sign, no leading zero,
/// digits with at most one point between them (as most amounts are).
#[inline]
fn is_normal(t: &str, decimal_mark: char) -> bool {
    let b = t.as_bytes();
    let points = b.iter().filter(|&&c| c == b'.').count();
    decimal_mark == '.'
        && matches!(b.first(), Some(b'1'..=b'9'))
        && b.last().is_some_and(u8::is_ascii_digit)
        && points <= 1
        && b.iter().all(|&c| c.is_ascii_digit() || c == b'.')
}

impl schemars::JsonSchema for Decimal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "exact decimal number as text, in the sender's scale",
            "pattern": "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?$"
        })
    }
}

/// An ISO 8601 calendar date `YYYY-MM-DD` that exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Date(String);

impl Date {
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = s[0..4].parse().ok()?;
        let m = s[5..7].parse().ok()?;
        let d = s[8..10].parse().ok()?;
        let digits = s
            .bytes()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        (digits && crate::util::valid_date(y, m, d)).then(|| Date(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }
}

impl schemars::JsonSchema for Date {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match Decimal::parse(&s) {
            Some(v) if v.0 == s => Ok(v),
            _ => Err(serde::de::Error::custom(format!(
                "{s:?} is not a canonical decimal string"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_path_gives_what_the_full_one_gives() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"0123456789.,+- \t";
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 7) as usize;
            let text: String = (0..len)
                .map(|k| alphabet[((x >> (8 + 4 * k)) % alphabet.len() as u64) as usize] as char)
                .collect();
            for mark in ['.', ','] {
                let (mut quick, mut full) = (String::new(), String::new());
                let ok = Decimal::append(&text, mark, &mut quick);
                let full_ok = Decimal::append_any(text.trim(), mark, &mut full);
                assert_eq!((ok, quick), (full_ok, full), "{text:?} {mark}");
            }
        }
    }

    #[test]
    fn keeps_scale_and_normalises_sign() {
        let p = |s| Decimal::parse(s).map(|d| d.0);
        assert_eq!(p("1250.00").as_deref(), Some("1250.00"));
        assert_eq!(p(".5").as_deref(), Some("0.5"));
        assert_eq!(p("-.50").as_deref(), Some("-0.50"));
        assert_eq!(p("+007").as_deref(), Some("7"));
        assert_eq!(p("-0").as_deref(), Some("0"));
        assert_eq!(p("12.").as_deref(), Some("12"));
        for bad in ["", "-", ".", "1.2.3", "1e5", "abc", "1,5"] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(Decimal::parse_with("1,50", ',').unwrap().as_str(), "1.50");
    }

    #[test]
    fn implied_decimals_are_exact() {
        let n = |s, k| Decimal::implied(s, k).map(|d| d.0);
        assert_eq!(n("12550", 2).as_deref(), Some("125.50"));
        assert_eq!(n("5", 2).as_deref(), Some("0.05"));
        assert_eq!(n("-5", 2).as_deref(), Some("-0.05"));
        assert_eq!(n("42", 0).as_deref(), Some("42"));
        assert_eq!(n("4.2", 2), None);
    }

    #[test]
    fn implied_form_is_exact_or_refused() {
        let t = |s: &str, k| Decimal::parse(s).unwrap().to_implied(k);
        assert_eq!(t("125.5", 2).as_deref(), Some("12550"));
        assert_eq!(t("125.50", 2).as_deref(), Some("12550"));
        assert_eq!(t("0.05", 2).as_deref(), Some("5"));
        assert_eq!(t("-0.05", 2).as_deref(), Some("-5"));
        assert_eq!(t("3", 0).as_deref(), Some("3"));
        assert_eq!(t("0", 2).as_deref(), Some("0"));
        assert_eq!(t("1.005", 2), None);
    }

    #[test]
    fn dates_must_exist() {
        assert!(Date::parse("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "20260101",
            "2026-1-01",
            "2026-01-0x",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn deserialising_refuses_non_canonical_text() {
        assert!(serde_json::from_str::<Decimal>("\"1.50\"").is_ok());
        assert!(serde_json::from_str::<Decimal>("\".5\"").is_err());
        assert!(serde_json::from_str::<Decimal>("1.5").is_err());
    }
}
