//! Mapping from parsed documents to canonical records. Pure: no IO, no clock.

pub mod edifact_orders;
pub mod x12_850;

use crate::canonical::Business;
use crate::formats::x12::envelope::Issue;
use crate::formats::x12::Transaction;
use crate::formats::{Diagnostic, Position, Severity};

/// What mapping one transaction gave.
#[derive(Debug)]
pub enum Mapped {
    Record(Box<Business>),
    /// No mapping exists for this transaction set (AK5 code 1).
    Unsupported,
    /// The transaction breaks rules the mapping needs (AK3/AK4 entries).
    Rejected(Vec<Issue>),
}

/// Maps one X12 transaction set.
pub fn map_x12(tx: &Transaction, version: &str) -> Mapped {
    match tx.id.as_str() {
        "850" => x12_850::map(tx, version),
        _ => Mapped::Unsupported,
    }
}

/// Collects segment and element issues while a mapping walks a transaction.
pub(crate) struct Issues<'t> {
    tx: &'t Transaction,
    pub list: Vec<Issue>,
}

impl<'t> Issues<'t> {
    pub fn new(tx: &'t Transaction) -> Self {
        Issues {
            tx,
            list: Vec::new(),
        }
    }

    fn position(&self, index: usize, id: &str, element: Option<usize>) -> Position {
        let offset = self.tx.segment(index).map_or(self.tx.offset, |s| s.offset);
        Position {
            offset,
            segment: Some(index + 1),
            segment_id: id.to_string(),
            element,
            component: None,
        }
    }

    /// A mandatory segment is missing; `index` is where it was expected.
    pub fn missing_segment(&mut self, index: usize, id: &str) {
        self.list.push(Issue {
            segment_code: "3",
            element_code: None,
            element_ref: None,
            bad_value: String::new(),
            diagnostic: Diagnostic {
                severity: Severity::Error,
                code: "x12.segment_missing",
                message: format!("mandatory segment {id} is missing"),
                position: self.position(index, id, None),
            },
        });
    }

    /// Element `element` of the segment at `index` is wrong: AK403 `code`.
    pub fn element(
        &mut self,
        index: usize,
        element: usize,
        reference: u32,
        code: &'static str,
        message: String,
    ) {
        let Some(seg) = self.tx.segment(index) else {
            return;
        };
        let id = String::from_utf8_lossy(seg.id()).into_owned();
        let diag_code = match code {
            "1" => "x12.element_missing",
            "2" => "x12.conditional_missing",
            "6" => "x12.invalid_character",
            "7" => "x12.invalid_code",
            "8" => "x12.invalid_date",
            _ => "x12.element_error",
        };
        self.list.push(Issue {
            segment_code: "8",
            element_code: Some(code),
            element_ref: Some(reference),
            bad_value: seg.text(element),
            diagnostic: Diagnostic {
                severity: Severity::Error,
                code: diag_code,
                message: format!("{id}{element:02}: {message}"),
                position: self.position(index, &id, Some(element)),
            },
        });
    }
}

/// Converts an X12 date (`CCYYMMDD`, or `YYMMDD` in old versions) to ISO `YYYY-MM-DD`.
pub fn x12_date(s: &str) -> Option<String> {
    use crate::formats::x12::envelope::{ccyymmdd, yymmdd};
    if ccyymmdd(s) {
        Some(format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8]))
    } else if yymmdd(s) {
        let yy: u32 = s[0..2].parse().ok()?;
        let century = if yy < 50 { 20 } else { 19 };
        Some(format!("{century}{}-{}-{}", &s[0..2], &s[2..4], &s[4..6]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_x12_dates() {
        assert_eq!(x12_date("20260517").as_deref(), Some("2026-05-17"));
        assert_eq!(x12_date("990101").as_deref(), Some("1999-01-01"));
        assert_eq!(x12_date("260229"), None);
        assert_eq!(x12_date("20260230"), None);
        assert_eq!(x12_date(""), None);
    }
}
