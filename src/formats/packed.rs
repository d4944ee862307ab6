//! Compact bookkeeping for envelopes of millions of transactions: varint-packed summaries and the control numbers seen, as runs.

use std::collections::{BTreeMap, HashSet};

/// What an envelope keeps of each transaction set or message once its handler has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepMode {
    /// Header, problems and segments.
    Whole,
    /// Header and problems (enough for a 997, 999 or CONTRL): packed into a few bytes when
    /// clean.
    Summary,
    /// Nothing: the handler counted what it needed.
    Nothing,
}

/// A transaction set or message whose summary can be packed against the previous one's.
pub trait Summary: Sized {
    /// What one packed summary carries to the next (the previous one's facts).
    type Last: Default + Clone;
    /// Appends `self`'s summary after `last` (then updated) to `out` and returns its flags
    /// (never [`FULL`]); or, writing nothing, `None` when it must be kept whole.
    fn pack(&self, last: &mut Self::Last, out: &mut Vec<u8>) -> Option<u8>;
    /// Reads the summary packed with `flags` at `at` after `last` (then updated).
    fn unpack(flags: u8, b: &[u8], at: &mut usize, last: &mut Self::Last) -> Self;
}

/// The flag byte of an item kept whole, in its place among the packed ones.
pub const FULL: u8 = 1;

/// The summaries of a group's transaction sets or an interchange's messages, in order: one
/// flag byte each, then for a packed one only what differs from the previous one (a file of a
/// million alike transaction sets costs a few bytes per set, not a few hundred). Items kept
/// whole stay in their owner's list, which [`Packed::kept`] reads beside the bytes.
#[derive(Debug, Default)]
pub struct Packed<T: Summary> {
    bytes: Vec<u8>,
    count: usize,
    last: T::Last,
}

impl<T: Summary> Packed<T> {
    /// Keeps `item`'s summary: packed when it can be, else pushed whole onto `whole`.
    pub fn keep(&mut self, item: T, whole: &mut Vec<T>) {
        self.count += 1;
        let at = self.bytes.len();
        self.bytes.push(FULL);
        match item.pack(&mut self.last, &mut self.bytes) {
            Some(flags) => self.bytes[at] = flags & !FULL,
            None => whole.push(item),
        }
    }

    /// How many items [`Packed::kept`] gives.
    pub fn len(&self, whole: &[T]) -> usize {
        if self.count == 0 {
            whole.len()
        } else {
            self.count
        }
    }

    pub fn is_empty(&self, whole: &[T]) -> bool {
        self.len(whole) == 0
    }

    /// Bytes held by the packed summaries.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Every item kept, in order: those kept whole borrowed, the others unpacked one by one.
    pub fn kept<'a>(&'a self, whole: &'a [T]) -> Kept<'a, T> {
        Kept {
            packed: self,
            whole,
            at: 0,
            left: self.len(whole),
            next_whole: 0,
            last: T::Last::default(),
        }
    }
}

/// The items of a [`Packed`] list, in order.
pub struct Kept<'a, T: Summary> {
    packed: &'a Packed<T>,
    whole: &'a [T],
    at: usize,
    left: usize,
    next_whole: usize,
    last: T::Last,
}

/// An item kept whole (borrowed), or one unpacked from its summary.
pub enum KeptItem<'a, T> {
    Whole(&'a T),
    Unpacked(T),
}

impl<T> std::ops::Deref for KeptItem<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            KeptItem::Whole(t) => t,
            KeptItem::Unpacked(t) => t,
        }
    }
}

impl<'a, T: Summary> Iterator for Kept<'a, T> {
    type Item = KeptItem<'a, T>;

    fn next(&mut self) -> Option<KeptItem<'a, T>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let b = &self.packed.bytes;
        let flags = if self.packed.count == 0 {
            FULL
        } else {
            let f = b.get(self.at).copied().unwrap_or(FULL);
            self.at += 1;
            f
        };
        if flags & FULL != 0 {
            let t = self.whole.get(self.next_whole);
            self.next_whole += 1;
            return t.map(KeptItem::Whole);
        }
        Some(KeptItem::Unpacked(T::unpack(
            flags,
            b,
            &mut self.at,
            &mut self.last,
        )))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub fn get_varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    while let Some(&byte) = b.get(*at) {
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte < 0x80 || shift > 63 {
            break;
        }
    }
    n
}

pub fn put_text(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn get_text(b: &[u8], at: &mut usize) -> String {
    let n = get_varint(b, at) as usize;
    let end = (*at + n).min(b.len());
    let s = String::from_utf8_lossy(&b[*at..end]).into_owned();
    *at = end;
    s
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `next` is the decimal number after `prev`, written with as many digits.
pub fn follows(prev: &str, next: &str) -> bool {
    digits(prev)
        && digits(next)
        && prev.len() == next.len()
        && prev.parse::<u64>().ok().map(|p| p + 1) == next.parse::<u64>().ok()
}

/// The number after `prev`, written with as many digits (the inverse of [`follows`]).
pub fn after(prev: &str) -> String {
    let n = prev.parse::<u64>().unwrap_or(0) + 1;
    format!("{n:0width$}", width = prev.len())
}

/// The control numbers seen in one envelope (a group's ST02s, an interchange's message
/// references), exactly: digit-only ones as runs of consecutive numbers, so a million numbered
/// in sequence cost one entry; any other as its text.
#[derive(Debug, Default)]
pub struct Seen {
    /// First -> last of each run, keyed by (digit count, value) so `01` and `1` differ.
    runs: BTreeMap<u128, u128>,
    other: HashSet<Box<str>>,
}

impl Seen {
    /// Notes `control`; false when it was seen before.
    pub fn insert(&mut self, control: &str) -> bool {
        let numeric = !control.is_empty()
            && control.len() <= 19
            && control.bytes().all(|b| b.is_ascii_digit());
        match control.parse::<u64>() {
            Ok(v) if numeric => self.insert_key(((control.len() as u128) << 64) | u128::from(v)),
            _ => self.other.insert(control.into()),
        }
    }

    fn insert_key(&mut self, k: u128) -> bool {
        let before = self.runs.range(..=k).next_back().map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, e)| e >= k) {
            return false;
        }
        let after = self.runs.range(k + 1..).next().map(|(&s, &e)| (s, e));
        match (
            before.filter(|&(_, e)| e + 1 == k),
            after.filter(|&(s, _)| s == k + 1),
        ) {
            (Some((s, _)), Some((_, e))) => {
                self.runs.remove(&(k + 1));
                self.runs.insert(s, e);
            }
            (Some((s, _)), None) => {
                self.runs.insert(s, k);
            }
            (None, Some((_, e))) => {
                self.runs.remove(&(k + 1));
                self.runs.insert(k, e);
            }
            (None, None) => {
                self.runs.insert(k, k);
            }
        }
        true
    }

    /// How many entries it holds (runs and other texts): what it costs, not what it saw.
    pub fn entries(&self) -> usize {
        self.runs.len() + self.other.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_finds_every_repeat_in_any_order_and_keeps_runs_small() {
        let mut s = Seen::default();
        for n in 1..=1000 {
            assert!(s.insert(&format!("{n:04}")));
        }
        assert_eq!(s.entries(), 1);
        assert!(!s.insert("0500"));
        assert!(s.insert("500"), "another text, another control");
        assert!(!s.insert("500"));
        // Out of order, then the gap filled: the runs join.
        assert!(s.insert("2000"));
        assert!(s.insert("1998"));
        assert!(s.insert("1999"));
        assert!(!s.insert("1999"));
        assert!(s.insert("A1") && !s.insert("A1"));
        let mut plain = std::collections::HashSet::new();
        let mut rng = 7u64;
        let mut s = Seen::default();
        for _ in 0..5000 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let c = format!("{}", (rng >> 33) % 3000);
            assert_eq!(s.insert(&c), plain.insert(c.clone()), "{c}");
        }
    }

    #[test]
    fn varints_and_texts_read_back() {
        let mut b = Vec::new();
        for n in [0u64, 1, 127, 128, 300, u64::MAX] {
            put_varint(&mut b, n);
        }
        put_text(&mut b, "ORDERS");
        let mut at = 0;
        for n in [0u64, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(get_varint(&b, &mut at), n);
        }
        assert_eq!(get_text(&b, &mut at), "ORDERS");
        assert!(follows("0009", "0010") && !follows("9", "10") && !follows("A", "B"));
        assert_eq!(after("0009"), "0010");
    }
}
