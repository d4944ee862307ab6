//! X12 writer: segments with any separators, a padded ISA, and counted trailers.

use super::lexer::Separators;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("{segment}{element:02}: value {value:?} contains a separator character")]
    Separator {
        segment: String,
        element: usize,
        value: String,
    },
    #[error("ISA field {field} value {value:?} is longer than {width} characters")]
    TooLong {
        field: &'static str,
        value: String,
        width: usize,
    },
}

/// The ISA fields a sender chooses.
#[derive(Debug, Clone)]
pub struct IsaHeader {
    pub sender_qualifier: String,
    pub sender_id: String,
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// YYMMDD
    pub date: String,
    /// HHMM
    pub time: String,
    /// ISA12, e.g. `00401`.
    pub version: String,
    pub control: u64,
    pub ack_requested: bool,
    /// `P` or `T`.
    pub usage: String,
}

/// Builds one or more interchanges into a byte buffer.
pub struct Writer {
    seps: Separators,
    out: Vec<u8>,
    isa_control: u64,
    groups: usize,
    group_control: String,
    transactions: usize,
    tx_control: String,
    segments: usize,
}

impl Writer {
    pub fn new(seps: Separators) -> Self {
        Writer {
            seps,
            out: Vec::with_capacity(512),
            isa_control: 0,
            groups: 0,
            group_control: String::new(),
            transactions: 0,
            tx_control: String::new(),
            segments: 0,
        }
    }

    /// Writes one segment; trailing empty elements are dropped.
    pub fn segment(&mut self, id: &str, elements: &[&str]) -> Result<(), WriteError> {
        let used = elements
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        let forbidden = [
            Some(self.seps.element),
            Some(self.seps.segment),
            self.seps.repetition,
        ];
        for (i, e) in elements[..used].iter().enumerate() {
            if e.bytes().any(|b| forbidden.contains(&Some(b))) {
                return Err(WriteError::Separator {
                    segment: id.to_string(),
                    element: i + 1,
                    value: e.to_string(),
                });
            }
        }
        self.out.extend_from_slice(id.as_bytes());
        for e in &elements[..used] {
            self.out.push(self.seps.element);
            self.out.extend_from_slice(e.as_bytes());
        }
        self.end_segment();
        Ok(())
    }

    fn end_segment(&mut self) {
        self.out.push(self.seps.segment);
        if self.seps.line_break {
            self.out.push(b'\n');
        }
        self.segments += 1;
    }

    /// Removes separator characters from a value that only reports what was received.
    pub fn clean(&self, value: &str) -> String {
        value
            .bytes()
            .filter(|b| {
                ![self.seps.element, self.seps.segment, self.seps.component].contains(b)
                    && Some(*b) != self.seps.repetition
                    && !b.is_ascii_control()
            })
            .map(char::from)
            .collect()
    }

    /// Joins components with the component separator (for a composite element).
    pub fn composite(&self, parts: &[&str]) -> String {
        parts.join(&char::from(self.seps.component).to_string())
    }

    pub fn isa(&mut self, h: &IsaHeader) -> Result<(), WriteError> {
        fn pad(field: &'static str, v: &str, w: usize) -> Result<String, WriteError> {
            if v.len() > w {
                return Err(WriteError::TooLong {
                    field,
                    value: v.to_string(),
                    width: w,
                });
            }
            Ok(format!("{v:<w$}"))
        }
        self.isa_control = h.control;
        self.groups = 0;
        let rep = self
            .seps
            .repetition
            .map_or("U".to_string(), |r| char::from(r).to_string());
        let fields = [
            "00".to_string(),
            " ".repeat(10),
            "00".to_string(),
            " ".repeat(10),
            pad("ISA05", &h.sender_qualifier, 2)?,
            pad("ISA06", &h.sender_id, 15)?,
            pad("ISA07", &h.receiver_qualifier, 2)?,
            pad("ISA08", &h.receiver_id, 15)?,
            pad("ISA09", &h.date, 6)?,
            pad("ISA10", &h.time, 4)?,
            rep,
            pad("ISA12", &h.version, 5)?,
            format!("{:09}", h.control % 1_000_000_000),
            if h.ack_requested { "1" } else { "0" }.to_string(),
            pad("ISA15", &h.usage, 1)?,
        ];
        self.out.extend_from_slice(b"ISA");
        for f in &fields {
            self.out.push(self.seps.element);
            self.out.extend_from_slice(f.as_bytes());
        }
        self.out.push(self.seps.element);
        self.out.push(self.seps.component);
        self.end_segment();
        Ok(())
    }

    /// GS with functional id, application sender and receiver, CCYYMMDD, HHMM, control, version.
    #[allow(clippy::too_many_arguments)]
    pub fn gs(
        &mut self,
        functional_id: &str,
        sender: &str,
        receiver: &str,
        date: &str,
        time: &str,
        control: &str,
        version: &str,
    ) -> Result<(), WriteError> {
        self.groups += 1;
        self.transactions = 0;
        self.group_control = control.to_string();
        self.segment(
            "GS",
            &[
                functional_id,
                sender,
                receiver,
                date,
                time,
                control,
                "X",
                version,
            ],
        )
    }

    pub fn st(&mut self, id: &str, control: &str, implementation: &str) -> Result<(), WriteError> {
        self.transactions += 1;
        self.tx_control = control.to_string();
        self.segments = 0;
        self.segment("ST", &[id, control, implementation])
    }

    pub fn se(&mut self) -> Result<(), WriteError> {
        let count = (self.segments + 1).to_string();
        let control = self.tx_control.clone();
        self.segment("SE", &[&count, &control])
    }

    pub fn ge(&mut self) -> Result<(), WriteError> {
        let count = self.transactions.to_string();
        let control = self.group_control.clone();
        self.segment("GE", &[&count, &control])
    }

    pub fn iea(&mut self) -> Result<(), WriteError> {
        let count = self.groups.to_string();
        let control = format!("{:09}", self.isa_control % 1_000_000_000);
        self.segment("IEA", &[&count, &control])
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// What is written so far and not yet taken.
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// Takes what is written so far (the counts go on): a long document leaves in pieces.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x12::parse;

    #[test]
    fn writes_an_interchange_the_parser_accepts() {
        let mut w = Writer::new(Separators::default());
        w.isa(&IsaHeader {
            sender_qualifier: "ZZ".into(),
            sender_id: "US".into(),
            receiver_qualifier: "ZZ".into(),
            receiver_id: "THEM".into(),
            date: "260517".into(),
            time: "1015".into(),
            version: "00501".into(),
            control: 42,
            ack_requested: false,
            usage: "P".into(),
        })
        .unwrap();
        w.gs("FA", "US", "THEM", "20260517", "1015", "42", "005010")
            .unwrap();
        w.st("997", "0001", "").unwrap();
        w.segment("AK1", &["PO", "7", "005010"]).unwrap();
        w.segment("AK9", &["A", "1", "1", "1", ""]).unwrap();
        w.se().unwrap();
        w.ge().unwrap();
        w.iea().unwrap();
        let out = w.finish();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("ISA*00*          *00*          *ZZ*US             *ZZ*THEM           *260517*1015*^*00501*000000042*0*P*>~\n"));
        assert!(text.contains("SE*4*0001~"));
        assert!(text.contains("AK9*A*1*1*1~"));
        let f = parse(&out);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert!(!f.interchanges[0].rejected());
        assert!(!f.interchanges[0].groups[0].transactions[0].rejected());
    }

    #[test]
    fn refuses_separators_in_values() {
        let mut w = Writer::new(Separators::default());
        assert!(matches!(
            w.segment("N1", &["ST", "A*B"]),
            Err(WriteError::Separator { element: 2, .. })
        ));
        assert_eq!(w.clean("A*B~C>D"), "ABCD");
    }
}
