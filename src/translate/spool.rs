//! Items kept in order until they are used (a big interchange's records until its verdict, a
//! file's results until its commit): in memory up to a bound, then in an unnamed temporary
//! file, so that their number costs no memory.

use super::{Ack, Emitted, InterchangeInfo};
use crate::acks::AckDoc;
use crate::body::{unnamed, Body};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Bytes held in memory before a spool moves to a file, unless it says otherwise.
const IN_MEMORY: usize = 16 << 20;

/// What a spool can keep: written to and read back from its file, weighed in memory.
pub trait Spooled: Sized {
    fn write(&self, w: &mut impl Write) -> io::Result<()>;
    fn read(r: &mut impl Read) -> io::Result<Self>;
    /// About the bytes it holds in memory.
    fn weight(&self) -> usize;
}

pub struct Spool<T: Spooled = Emitted> {
    mem: Vec<T>,
    mem_bytes: usize,
    /// Once the bound is passed: every item, in order.
    file: Option<BufWriter<File>>,
    in_file: usize,
    bound: usize,
}

impl<T: Spooled> Default for Spool<T> {
    fn default() -> Self {
        Spool::with_bound(IN_MEMORY)
    }
}

fn put(w: &mut impl Write, s: &[u8]) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s)
}

fn get_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; get_u64(r)? as usize];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn get(r: &mut impl Read) -> io::Result<String> {
    String::from_utf8(get_bytes(r)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut n = [0u8; 8];
    r.read_exact(&mut n)?;
    Ok(u64::from_le_bytes(n))
}

impl Spooled for Emitted {
    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        for s in [
            &self.id,
            &self.schema,
            &self.partner,
            &self.interchange_control,
            &self.transaction_control,
            &self.json,
        ] {
            put(w, s.as_bytes())?;
        }
        w.write_all(&(self.correlation.len() as u64).to_le_bytes())?;
        for (k, v) in &self.correlation {
            put(w, k.as_bytes())?;
            put(w, v.as_bytes())?;
        }
        Ok(())
    }

    fn read(r: &mut impl Read) -> io::Result<Emitted> {
        let [id, schema, partner, interchange_control, transaction_control, json] =
            [(); 6].map(|_| get(r));
        let mut correlation = BTreeMap::new();
        for _ in 0..get_u64(r)? {
            correlation.insert(get(r)?, get(r)?);
        }
        Ok(Emitted {
            id: id?,
            schema: schema?,
            partner: partner?,
            correlation,
            interchange_control: interchange_control?,
            transaction_control: transaction_control?,
            json: json?,
        })
    }

    fn weight(&self) -> usize {
        self.json.len() + self.id.len() + 64
    }
}

impl Spooled for Ack {
    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        put(w, self.partner.as_bytes())?;
        put(w, self.doc.kind.as_bytes())?;
        w.write_all(&self.doc.control.to_le_bytes())?;
        put(w, self.doc.answers.as_bytes())?;
        w.write_all(&self.doc.bytes.len().to_le_bytes())?;
        self.doc.bytes.copy_to(w)
    }

    fn read(r: &mut impl Read) -> io::Result<Ack> {
        let partner = get(r)?;
        let kind = get(r)?;
        let kind = crate::acks::KINDS
            .iter()
            .find(|k| **k == kind)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "acknowledgement kind"))?;
        Ok(Ack {
            partner,
            doc: AckDoc {
                kind,
                control: get_u64(r)?,
                answers: get(r)?,
                bytes: {
                    let len = get_u64(r)?;
                    Body::read_from(r, len)?
                },
            },
        })
    }

    fn weight(&self) -> usize {
        // What it holds in memory (a large body is in a file of its own).
        self.doc.bytes.in_memory().map_or(0, <[u8]>::len)
            + self.partner.len()
            + self.doc.answers.len()
            + 64
    }
}

impl Spooled for InterchangeInfo {
    fn write(&self, w: &mut impl Write) -> io::Result<()> {
        for s in [&self.partner, &self.sender, &self.receiver, &self.control] {
            put(w, s.as_bytes())?;
        }
        Ok(())
    }

    fn read(r: &mut impl Read) -> io::Result<InterchangeInfo> {
        Ok(InterchangeInfo {
            partner: get(r)?,
            sender: get(r)?,
            receiver: get(r)?,
            control: get(r)?,
        })
    }

    fn weight(&self) -> usize {
        self.partner.len() + self.sender.len() + self.receiver.len() + self.control.len() + 128
    }
}

impl<T: Spooled> Spool<T> {
    /// A spool that holds about `bound` bytes in memory before it moves to a file.
    pub fn with_bound(bound: usize) -> Self {
        Spool {
            mem: Vec::new(),
            mem_bytes: 0,
            file: None,
            in_file: 0,
            bound,
        }
    }

    pub fn push(&mut self, item: T) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            self.in_file += 1;
            return item.write(f);
        }
        self.mem_bytes += item.weight();
        self.mem.push(item);
        if self.mem_bytes > self.bound {
            let mut f = BufWriter::with_capacity(1 << 16, unnamed()?);
            for item in self.mem.drain(..) {
                item.write(&mut f)?;
                self.in_file += 1;
            }
            self.mem = Vec::new();
            self.mem_bytes = 0;
            self.file = Some(f);
        }
        Ok(())
    }

    /// How many items wait in the spool.
    pub fn len(&self) -> usize {
        self.mem.len() + self.in_file
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item pushed since the last call, in order; the spool is empty after.
    pub fn take(&mut self) -> io::Result<Records<T>> {
        self.mem_bytes = 0;
        match self.file.take() {
            None => Ok(Records::Memory(std::mem::take(&mut self.mem).into_iter())),
            Some(w) => {
                let mut f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
                f.seek(SeekFrom::Start(0))?;
                let left = std::mem::take(&mut self.in_file);
                Ok(Records::File(BufReader::with_capacity(1 << 16, f), left))
            }
        }
    }
}

/// The items taken from a [`Spool`], read back in order.
pub enum Records<T: Spooled = Emitted> {
    Memory(std::vec::IntoIter<T>),
    File(BufReader<File>, usize),
}

impl<T: Spooled> Iterator for Records<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Records::Memory(it) => it.next().map(Ok),
            Records::File(r, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(T::read(r))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, size: usize) -> Emitted {
        Emitted {
            id: format!("id-{i}"),
            schema: "invoice/v1".into(),
            partner: "ACME".into(),
            correlation: [("invoice_number".to_string(), format!("INV-{i}"))].into(),
            interchange_control: "000000001".into(),
            transaction_control: format!("{i:04}"),
            json: format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(size)),
        }
    }

    #[test]
    fn records_come_back_in_order_from_memory_and_from_the_file() {
        for (count, size) in [(3, 10), (2_000, 20_000)] {
            let mut spool = Spool::default();
            for round in 0..2 {
                let made: Vec<Emitted> = (0..count).map(|i| record(i + round, size)).collect();
                for r in &made {
                    spool.push(r.clone()).unwrap();
                }
                assert_eq!(spool.file.is_some(), count * size > IN_MEMORY, "{count}");
                let back: Vec<Emitted> = spool.take().unwrap().map(Result::unwrap).collect();
                assert_eq!(back, made);
            }
        }
    }
}

/// A list of small items kept as runs of equal ones: one entry per transaction set costs
/// nothing in a file where they all look alike.
#[derive(Debug, Default)]
pub struct Runs<T: Copy + PartialEq> {
    runs: Vec<(T, usize)>,
}

impl<T: Copy + PartialEq> Runs<T> {
    pub fn push(&mut self, item: T) {
        match self.runs.last_mut() {
            Some((last, n)) if *last == item => *n += 1,
            _ => self.runs.push((item, 1)),
        }
    }

    /// Each item, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.runs
            .iter()
            .flat_map(|&(item, n)| std::iter::repeat_n(item, n))
    }
}

#[cfg(test)]
mod runs_tests {
    use super::Runs;

    #[test]
    fn runs_give_back_every_item_in_order() {
        let items = [
            (1, true),
            (1, true),
            (0, false),
            (1, true),
            (2, true),
            (2, true),
        ];
        let mut runs = Runs::default();
        items.iter().for_each(|i| runs.push(*i));
        assert_eq!(runs.runs.len(), 4);
        assert_eq!(runs.iter().collect::<Vec<_>>(), items);
    }
}
