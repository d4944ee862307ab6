//! The records of the interchange being read, kept in order until its verdict: in memory up to
//! a bound, then in an unnamed temporary file, so that one huge interchange costs no memory.

use super::Emitted;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Bytes of record text held in memory before the spool moves to a file.
const IN_MEMORY: usize = 16 << 20;

#[derive(Default)]
pub struct Spool {
    mem: Vec<Emitted>,
    mem_bytes: usize,
    /// Once the bound is passed: every record of the interchange, in order.
    file: Option<BufWriter<File>>,
    in_file: usize,
}

/// An unnamed file in the temporary folder (created, then unlinked while open).
fn unnamed() -> io::Result<File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("edigate-spool-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn put(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn get(r: &mut impl Read) -> io::Result<String> {
    let mut n = [0u8; 8];
    r.read_exact(&mut n)?;
    let mut b = vec![0u8; u64::from_le_bytes(n) as usize];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn write(w: &mut impl Write, r: &Emitted) -> io::Result<()> {
    for s in [
        &r.id,
        &r.schema,
        &r.partner,
        &r.interchange_control,
        &r.transaction_control,
        &r.json,
    ] {
        put(w, s)?;
    }
    w.write_all(&(r.correlation.len() as u64).to_le_bytes())?;
    for (k, v) in &r.correlation {
        put(w, k)?;
        put(w, v)?;
    }
    Ok(())
}

fn read(r: &mut impl Read) -> io::Result<Emitted> {
    let [id, schema, partner, interchange_control, transaction_control, json] =
        [(); 6].map(|_| get(r));
    let mut n = [0u8; 8];
    r.read_exact(&mut n)?;
    let mut correlation = BTreeMap::new();
    for _ in 0..u64::from_le_bytes(n) {
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

impl Spool {
    pub fn push(&mut self, r: Emitted) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            self.in_file += 1;
            return write(f, &r);
        }
        self.mem_bytes += r.json.len() + r.id.len() + 64;
        self.mem.push(r);
        if self.mem_bytes > IN_MEMORY {
            let mut f = BufWriter::with_capacity(1 << 16, unnamed()?);
            for r in self.mem.drain(..) {
                write(&mut f, &r)?;
                self.in_file += 1;
            }
            self.mem = Vec::new();
            self.mem_bytes = 0;
            self.file = Some(f);
        }
        Ok(())
    }

    /// Every record pushed since the last call, in order; the spool is empty after.
    pub fn take(&mut self) -> io::Result<Records> {
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

/// The records taken from a [`Spool`], read back in order.
pub enum Records {
    Memory(std::vec::IntoIter<Emitted>),
    File(BufReader<File>, usize),
}

impl Iterator for Records {
    type Item = io::Result<Emitted>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Records::Memory(it) => it.next().map(Ok),
            Records::File(r, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(read(r))
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
