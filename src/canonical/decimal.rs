//! Exact decimal numbers kept as text with the sender's scale; never floats.

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
        let t = text.trim();
        let (neg, body) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match body.split_once(decimal_mark) {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int)
            || !frac.is_none_or(all_digits)
            || (int.is_empty() && frac.is_none_or(str::is_empty))
        {
            return None;
        }
        let mut int = int.trim_start_matches('0');
        if int.is_empty() {
            int = "0";
        }
        let mut s = String::with_capacity(t.len() + 2);
        let zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
        if neg && !zero {
            s.push('-');
        }
        s.push_str(int);
        if let Some(f) = frac.filter(|f| !f.is_empty()) {
            s.push('.');
            s.push_str(f);
        }
        Some(Decimal(s))
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
    fn deserialising_refuses_non_canonical_text() {
        assert!(serde_json::from_str::<Decimal>("\"1.50\"").is_ok());
        assert!(serde_json::from_str::<Decimal>("\".5\"").is_err());
        assert!(serde_json::from_str::<Decimal>("1.5").is_err());
    }
}
