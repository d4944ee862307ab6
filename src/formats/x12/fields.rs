//! A transaction set's segments split once into tags and elements: validation and the mapping
//! twins read the same split instead of scanning every segment again.

use super::Separators;

/// Where the tags and elements of a transaction's segments lie in its buffer.
#[derive(Debug, Default)]
pub struct Fields {
    /// Per segment: where its tag ends in the buffer, and its elements' range in `els`.
    segs: Vec<(u32, u32, u32)>,
    /// Per element: its byte range in the buffer.
    els: Vec<(u32, u32)>,
    /// Whether an element holds the component separator.
    composite: bool,
    /// Whether an element holds the repetition separator.
    repeats: bool,
    /// Whether every byte is printable ASCII (so is every element).
    printable: bool,
}

impl Fields {
    /// Splits the segments at `ranges` of `data` (each without its terminator).
    pub fn of(data: &[u8], ranges: impl Iterator<Item = (u32, u32)>, seps: Separators) -> Fields {
        let mut f = Fields {
            segs: Vec::new(),
            els: Vec::with_capacity(data.len() / 4),
            // Also true for the separator inside a tag, which only sends a document to the
            // slower, exact path.
            composite: memchr::memchr(seps.component, data).is_some(),
            repeats: seps
                .repetition
                .is_some_and(|r| memchr::memchr(r, data).is_some()),
            // Without a branch per byte, so that it runs many bytes at a time.
            printable: data
                .iter()
                .fold(true, |ok, &b| ok & (b.wrapping_sub(0x20) < 0x5F)),
        };
        let sep = seps.element;
        for (start, end) in ranges {
            let first = f.els.len() as u32;
            let mut id_end = None;
            let mut from = start;
            let mut cut = |at: u32| {
                match id_end {
                    None => id_end = Some(at),
                    Some(_) => f.els.push((from, at)),
                }
                from = at + 1;
            };
            let mut base = start;
            while base < end {
                let left = end - base;
                let at = base as usize;
                let mut m = match data.get(at..at + 8) {
                    Some(w) => {
                        let m =
                            matches(u64::from_le_bytes(w.try_into().expect("eight bytes")), sep);
                        // The last word of a segment reads on into the next: keep the
                        // matches of this segment's bytes only.
                        if left < 8 {
                            m & ((1u64 << (8 * left)) - 1)
                        } else {
                            m
                        }
                    }
                    // The end of the buffer: byte by byte.
                    None => data[at..end as usize]
                        .iter()
                        .enumerate()
                        .filter(|(_, &b)| b == sep)
                        .fold(0, |m, (k, _)| m | 0x80 << (8 * k)),
                };
                while m != 0 {
                    cut(base + m.trailing_zeros() / 8);
                    m &= m - 1;
                }
                base += 8;
            }
            match id_end {
                None => f.segs.push((end, first, first)),
                Some(id) => {
                    f.els.push((from, end));
                    f.segs.push((id, first, f.els.len() as u32));
                }
            }
        }
        f
    }

    /// Whether an element of some segment holds the component separator.
    pub fn composite(&self) -> bool {
        self.composite
    }

    /// Whether an element of some segment may hold the repetition separator.
    pub fn repeats(&self) -> bool {
        self.repeats
    }

    /// Whether every byte of every segment (separators included) is printable ASCII.
    pub fn printable(&self) -> bool {
        self.printable
    }

    /// Where each segment's tag ends in the buffer, in order.
    pub(super) fn tag_ends(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.segs.iter().map(|s| s.0)
    }

    /// The tag of segment `i` as a range of the buffer, and its elements.
    pub(super) fn seg(&self, i: usize) -> (u32, &[(u32, u32)]) {
        let (id_end, a, b) = self.segs[i];
        (id_end, &self.els[a as usize..b as usize])
    }
}

/// The bytes of `word` equal to `b`, as the high bit of each such byte (exact: no false
/// positives from borrows, unlike the shorter zero-byte test).
fn matches(word: u64, b: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(b));
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// One segment read through its [`Fields`].
#[derive(Debug, Clone, Copy)]
pub struct Split<'t> {
    pub offset: usize,
    /// Where the segment lies in the buffer of its transaction.
    pub span: (u32, u32),
    /// The tag.
    pub id: &'t [u8],
    data: &'t [u8],
    els: &'t [(u32, u32)],
}

impl<'t> Split<'t> {
    pub(super) fn new(
        data: &'t [u8],
        (start, end, offset): (u32, u32, usize),
        (id_end, els): (u32, &'t [(u32, u32)]),
    ) -> Split<'t> {
        Split {
            offset,
            span: (start, end),
            id: &data[start as usize..id_end as usize],
            data,
            els,
        }
    }

    /// Elements after the tag (the first is element 01), trailing empty ones included.
    pub fn elements(&self) -> impl ExactSizeIterator<Item = &'t [u8]> + 't {
        let data = self.data;
        self.els
            .iter()
            .map(move |&(a, b)| &data[a as usize..b as usize])
    }

    /// Where each element lies in the buffer of its transaction (see
    /// [`super::Transaction::data`]).
    pub fn ranges(&self) -> &'t [(u32, u32)] {
        self.els
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x12::Segment;

    #[test]
    fn the_split_gives_the_tags_and_elements_a_segment_gives() {
        let seps = Separators::default();
        let segs: [&[u8]; 6] = [
            b"ST*850*0001",
            b"BEG*00**PO1**",
            b"N1",
            b"PO1*1*C>D",
            b"",
            b"X*",
        ];
        let mut data = Vec::new();
        let mut ranges = Vec::new();
        for s in segs {
            let start = data.len() as u32;
            data.extend_from_slice(s);
            ranges.push((start, data.len() as u32, 0));
        }
        let f = Fields::of(&data, ranges.iter().map(|&(a, b, _)| (a, b)), seps);
        assert!(f.composite());
        for (i, (s, r)) in segs.iter().zip(&ranges).enumerate() {
            let split = Split::new(&data, *r, f.seg(i));
            let seg = Segment {
                offset: 0,
                raw: s,
                seps,
            };
            assert_eq!(&data[split.span.0 as usize..split.span.1 as usize], *s);
            assert_eq!(split.id, seg.id(), "{s:?}");
            assert_eq!(
                split.elements().collect::<Vec<_>>(),
                seg.elements().collect::<Vec<_>>(),
                "{s:?}"
            );
        }
        let plain = Fields::of(&data[..11], [(0, 11)].into_iter(), seps);
        assert!(!plain.composite());
    }

    #[test]
    fn random_segments_split_as_a_segment_splits_them() {
        let seps = Separators::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..2000 {
            let alphabet: &[u8] = if next(2) == 0 {
                b"**A1 >\x00\xff\xaa*\x7f\x1f~"
            } else {
                b"**A1 >~"
            };
            let mut data = Vec::new();
            let mut ranges = Vec::new();
            for _ in 0..next(6) {
                let start = data.len() as u32;
                for _ in 0..next(40) {
                    data.push(alphabet[next(alphabet.len() as u64) as usize]);
                }
                ranges.push((start, data.len() as u32, 0));
            }
            let f = Fields::of(&data, ranges.iter().map(|&(a, b, _)| (a, b)), seps);
            assert_eq!(f.composite(), data.contains(&b'>'));
            assert_eq!(
                f.printable(),
                data.iter().all(|b| (b' '..=b'~').contains(b))
            );
            for (i, r) in ranges.iter().enumerate() {
                let split = Split::new(&data, *r, f.seg(i));
                let raw = &data[r.0 as usize..r.1 as usize];
                assert_eq!(split.span, (r.0, r.1));
                let seg = Segment {
                    offset: 0,
                    raw,
                    seps,
                };
                assert_eq!(split.id, seg.id());
                assert!(split.elements().eq(seg.elements()), "{raw:?}");
            }
        }
    }
}
