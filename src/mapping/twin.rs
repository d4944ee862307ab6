//! Compiled twins of shipped mappings: the same records, built in Rust without the jq interpreter.
//!
//! A twin runs only while its mapping file and the prelude are the shipped text (an edited or
//! partner-specific mapping always runs in the interpreter), and only on the plain path: on
//! anything it does not handle exactly as the jq would (a composite element, a value that would
//! fail or be dropped), it answers `None` and the interpreter maps the document, errors and
//! all. A differential test holds every answer a twin gives to the interpreter's.

use crate::canonical::records::{Address, Item, Party, PoLine, PurchaseOrder, Purpose, Role};
use crate::canonical::{Business, Date, Decimal};
use crate::formats::x12::Transaction;
use serde_json::{Map, Value};

/// The mappings that have a twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twin {
    /// `inbound/x12/850.jq`
    X12PurchaseOrder,
}

impl Twin {
    /// The twin of mapping `name` (`inbound/x12/850`, or a partner's copy of it) when its text
    /// and the prelude's are the shipped ones.
    pub fn of(name: &str, text: &str, prelude: &str) -> Option<Twin> {
        let (twin, file) = Twin::named(name)?;
        (shipped(file) == Some(text) && shipped("lib/prelude.jq") == Some(prelude)).then_some(twin)
    }

    /// The twin of the shipped text of mapping `name`, edited or not.
    pub fn shipped(name: &str) -> Option<Twin> {
        Twin::named(name).map(|(twin, _)| twin)
    }

    /// The twin for a mapping name and the shipped file it mirrors.
    fn named(name: &str) -> Option<(Twin, &'static str)> {
        let generic = match name.strip_prefix("partners/") {
            Some(rest) => rest.split_once('/')?.1,
            None => name,
        };
        match generic {
            "inbound/x12/850" => Some((Twin::X12PurchaseOrder, "inbound/x12/850.jq")),
            _ => None,
        }
    }

    /// The records of one X12 transaction set, or `None` to let the interpreter decide.
    pub fn x12(self, tx: &Transaction, codes: &Value, partner: &str) -> Option<Vec<Business>> {
        let doc = Doc::of(tx)?;
        match self {
            Twin::X12PurchaseOrder => {
                let walks = Walks {
                    uom: Table::of(codes, "uom", partner),
                    item: Table::of(codes, "item", partner),
                };
                purchase_order(&doc, &walks).map(|po| vec![Business::PurchaseOrder(po)])
            }
        }
    }
}

/// The shipped text of mapping file `file`.
fn shipped(file: &str) -> Option<&'static str> {
    super::BUILTIN
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
}

/// A segment tag packed into an integer (tags are two or three letters), so that finding
/// segments compares numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag(u32);

impl Tag {
    const fn of(tag: &str) -> Tag {
        let b = tag.as_bytes();
        if b.len() > 4 {
            // No tag the twins look for is this long.
            return Tag(u32::MAX);
        }
        let mut v = 0u32;
        let mut i = 0;
        while i < b.len() {
            v = v << 8 | b[i] as u32;
            i += 1;
        }
        Tag(v)
    }
}

const BEG: Tag = Tag::of("BEG");
const PO1: Tag = Tag::of("PO1");
const N1: Tag = Tag::of("N1");
const N3: Tag = Tag::of("N3");
const N4: Tag = Tag::of("N4");
const CUR: Tag = Tag::of("CUR");
const REF: Tag = Tag::of("REF");
const ITD: Tag = Tag::of("ITD");
const DTM: Tag = Tag::of("DTM");
const NTE: Tag = Tag::of("NTE");
const MSG: Tag = Tag::of("MSG");
const PID: Tag = Tag::of("PID");
const AMT: Tag = Tag::of("AMT");
const CTT: Tag = Tag::of("CTT");
const SE: Tag = Tag::of("SE");

/// A transaction's segments as tags and element texts, in one flat list. Element text is as
/// the mapping input holds it (`doc::x12_segment`) before its trailing white space is trimmed.
struct Doc<'a> {
    /// Per segment: its tag and the range of its elements in `els`.
    segs: Vec<(Tag, u32, u32)>,
    els: Vec<&'a str>,
}

/// One segment of a [`Doc`].
#[derive(Clone, Copy)]
struct Seg<'d, 'a> {
    tag: Tag,
    els: &'d [&'a str],
}

impl<'d, 'a> Seg<'d, 'a> {
    /// Element `n` (1-based) as text, `""` when absent: the prelude's `el($n)`.
    fn el(&self, n: usize) -> &'a str {
        match n.checked_sub(1).and_then(|i| self.els.get(i)) {
            Some(t) => t.trim_end(),
            None => "",
        }
    }

    /// `el(n)` when it is not empty.
    fn some(&self, n: usize) -> Option<String> {
        let t = self.el(n);
        (!t.is_empty()).then(|| t.to_string())
    }

    /// The prelude's `x12_item($from)` before its description and crosswalk: the natives
    /// `pair($from; ...)` for buyer part, supplier part and GTIN, or the first pair of any
    /// qualifier as the buyer part when none of those is there; in one pass.
    fn item_ids(&self, from: usize) -> Option<[Option<String>; 3]> {
        const QUALS: [&[&str]; 3] = [
            &["BP", "IN", "SK"],
            &["VP", "VN", "VA"],
            &["UP", "EN", "UK", "UA", "EN13"],
        ];
        let mut found: [Option<String>; 3] = Default::default();
        let mut any = None;
        for p in self.els.get(from.saturating_sub(1)..)?.chunks_exact(2) {
            let id = p[1].trim_end();
            if id.is_empty() {
                continue;
            }
            let q = p[0].trim_end();
            match QUALS.iter().position(|qs| qs.contains(&q)) {
                Some(k) if found[k].is_none() => found[k] = Some(id.to_string()),
                Some(_) => {}
                None if any.is_none() => any = Some(id.to_string()),
                None => {}
            }
        }
        if found.iter().all(Option::is_none) {
            found[0] = Some(any?);
        }
        Some(found)
    }
}

impl<'a> Doc<'a> {
    /// `None` when a segment is not UTF-8 (Latin-1 text), has a composite element or uses a
    /// separator outside ASCII: the twins leave those to the interpreter.
    fn of(tx: &'a Transaction) -> Option<Doc<'a>> {
        let mut doc = Doc {
            segs: Vec::with_capacity(tx.len()),
            els: Vec::with_capacity(tx.len() * 12),
        };
        for seg in tx.segments() {
            let (sep, comp) = (seg.seps.element, seg.seps.component);
            if !sep.is_ascii() {
                return None;
            }
            let text = std::str::from_utf8(seg.raw).ok()?;
            let id = seg.id().len();
            let start = doc.els.len() as u32;
            if id < text.len() {
                let rest = &text[id + 1..];
                let mut from = 0;
                for (i, b) in rest.bytes().enumerate() {
                    if b == sep {
                        doc.els.push(&rest[from..i]);
                        from = i + 1;
                    } else if b == comp {
                        return None;
                    }
                }
                doc.els.push(&rest[from..]);
            }
            doc.segs
                .push((Tag::of(text[..id].trim_end()), start, doc.els.len() as u32));
        }
        Some(doc)
    }

    fn seg(&self, i: usize) -> Seg<'_, 'a> {
        let (tag, a, b) = self.segs[i];
        Seg {
            tag,
            els: &self.els[a as usize..b as usize],
        }
    }

    fn all(&self) -> Span<'_, 'a> {
        Span {
            doc: self,
            from: 0,
            to: self.segs.len(),
        }
    }
}

/// A run of consecutive segments (a heading area, a loop).
#[derive(Clone, Copy)]
struct Span<'d, 'a> {
    doc: &'d Doc<'a>,
    from: usize,
    to: usize,
}

impl<'d, 'a> Span<'d, 'a> {
    fn iter(self) -> impl Iterator<Item = Seg<'d, 'a>> {
        (self.from..self.to).map(move |i| self.doc.seg(i))
    }

    fn tagged(self, tag: Tag) -> impl Iterator<Item = Seg<'d, 'a>> {
        self.iter().filter(move |s| s.tag == tag)
    }

    /// `first_seg($tag)`
    fn first(self, tag: Tag) -> Option<Seg<'d, 'a>> {
        self.tagged(tag).next()
    }

    /// `seg_with($tag; $n; $values)`
    fn with(self, tag: Tag, n: usize, values: &[&str]) -> Option<Seg<'d, 'a>> {
        self.tagged(tag).find(|s| values.contains(&s.el(n)))
    }

    /// `head($tag)`: the segments before the first one tagged `tag`.
    fn head(self, tag: Tag) -> Span<'d, 'a> {
        let to = (self.from..self.to)
            .find(|i| self.doc.segs[*i].0 == tag)
            .unwrap_or(self.to);
        Span { to, ..self }
    }

    /// The native `loops($tag; $stop)`.
    fn loops(self, tag: Tag, stop: &[Tag]) -> Vec<Span<'d, 'a>> {
        let mut out = Vec::new();
        let mut open: Option<usize> = None;
        for i in self.from..self.to {
            let t = self.doc.segs[i].0;
            if t == tag || stop.contains(&t) {
                if let Some(from) = open.take() {
                    out.push(Span {
                        from,
                        to: i,
                        ..self
                    });
                }
                if t == tag {
                    open = Some(i);
                }
            }
        }
        if let Some(from) = open {
            out.push(Span {
                from,
                to: self.to,
                ..self
            });
        }
        out
    }
}

/// One crosswalk table as the prelude's `xwalk($table)` applies it to one partner: `None`
/// when the table does not apply (values pass through).
struct Table<'c> {
    own: Option<&'c Map<String, Value>>,
    all: Option<&'c Map<String, Value>>,
}

impl<'c> Table<'c> {
    fn of(codes: &'c Value, table: &str, partner: &str) -> Option<Table<'c>> {
        let t = codes.get(table)?;
        let own = t.get(partner).and_then(Value::as_object);
        let all = t.get("*").and_then(Value::as_object);
        (own.is_some() || all.is_some()).then_some(Table { own, all })
    }
}

struct Walks<'c> {
    uom: Option<Table<'c>>,
    item: Option<Table<'c>>,
}

/// `xwalk`: the mapped value; `None` (the interpreter decides) for a value without an entry
/// or one mapped to nothing.
fn walk(table: &Option<Table<'_>>, v: String) -> Option<String> {
    let Some(t) = table else {
        return Some(v);
    };
    let mapped = t
        .own
        .and_then(|m| m.get(&v))
        .or_else(|| t.all.and_then(|m| m.get(&v)))?
        .as_str()?;
    (!mapped.is_empty()).then(|| mapped.to_string())
}

/// The native `decimal` on an element: `Some(None)` when blank (the field is absent), `None`
/// when it is not a number.
fn decimal(v: &str) -> Option<Option<Decimal>> {
    let t = v.trim();
    if t.is_empty() {
        return Some(None);
    }
    Decimal::parse(t).map(Some)
}

/// The prelude's `x12d`: like [`decimal`], for X12 dates.
fn date(v: &str) -> Option<Option<Date>> {
    let t = v.trim();
    if t.is_empty() {
        return Some(None);
    }
    super::x12_date(t)
        .and_then(|iso| Date::parse(&iso))
        .map(Some)
}

/// The prelude's `x12_dtm($quals)`.
fn dtm(span: Span<'_, '_>) -> Option<Option<Date>> {
    match span.with(DTM, 1, &["002", "010", "074"]) {
        Some(d) => date(d.el(2)),
        None => Some(None),
    }
}

/// The prelude's `x12_role`.
fn role(code: &str) -> Option<Role> {
    Some(match code {
        "BY" | "OB" => Role::Buyer,
        "SE" | "VN" | "SU" => Role::Supplier,
        "ST" => Role::ShipTo,
        "BT" => Role::BillTo,
        "SF" | "SH" => Role::ShipFrom,
        "RI" | "RE" => Role::RemitTo,
        "PR" => Role::Payer,
        "PE" => Role::Payee,
        _ => return None,
    })
}

/// The prelude's `x12_parties($stop)` over a heading area.
fn parties(head: Span<'_, '_>) -> Vec<Party> {
    head.loops(N1, &[PO1])
        .into_iter()
        .filter_map(|l| {
            let n1 = l.first(N1)?;
            let role = role(n1.el(1))?;
            let n4 = l.first(N4);
            let part = |n: usize| n4.and_then(|s| s.some(n));
            Some(Party {
                role,
                id: n1.some(4),
                id_qualifier: n1.some(3),
                name: n1.some(2),
                address: Address {
                    lines: l
                        .tagged(N3)
                        .flat_map(|s| [s.some(1), s.some(2)])
                        .flatten()
                        .collect(),
                    city: part(1),
                    region: part(2),
                    postal_code: part(3),
                    country: part(4),
                },
            })
        })
        .collect()
}

/// `mappings/inbound/x12/850.jq`.
fn purchase_order(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<PurchaseOrder> {
    let all = doc.all();
    let beg = all.first(BEG)?;
    let head = all.head(PO1);
    let po_number = beg.some(3)?;
    let purpose = match beg.el(1) {
        "00" | "06" | "07" => Purpose::Original,
        "01" | "03" => Purpose::Cancel,
        "04" => Purpose::Change,
        "05" => Purpose::Replace,
        _ => return None,
    };
    let order_date = date(&beg.some(5)?)??;
    let payment_terms = match head.first(ITD) {
        None => None,
        Some(itd) if !itd.el(12).is_empty() => itd.some(12),
        Some(itd) if !itd.el(7).is_empty() => Some(format!("net {} days", itd.el(7))),
        Some(_) => None,
    };
    let mut lines = Vec::new();
    for (k, l) in all.loops(PO1, &[CTT, AMT, SE]).into_iter().enumerate() {
        let po1 = doc.seg(l.from);
        let quantity = decimal(&po1.some(2)?)??;
        let uom = walk(&walks.uom, po1.some(3)?)?;
        let unit_price = decimal(po1.el(4))?;
        let [buyer_part, supplier_part, gtin] = po1.item_ids(6)?;
        let buyer_part = match buyer_part {
            Some(b) => Some(walk(&walks.item, b)?),
            None => None,
        };
        lines.push(PoLine {
            line_number: po1.some(1).unwrap_or_else(|| (k + 1).to_string()),
            item: Item {
                buyer_part,
                supplier_part,
                gtin,
                description: l.with(PID, 1, &["F"]).and_then(|p| p.some(5)),
            },
            quantity,
            uom,
            unit_price,
            requested_delivery_date: dtm(l)?,
        });
    }
    let total_amount = match all.with(AMT, 1, &["TT"]) {
        Some(a) => decimal(a.el(2))?,
        None => None,
    };
    Some(PurchaseOrder {
        po_number,
        purpose,
        order_date,
        parties: parties(head),
        lines,
        po_type: beg.some(2),
        currency: head.first(CUR).and_then(|c| c.some(2)),
        payment_terms,
        requested_delivery_date: dtm(head)?,
        notes: head
            .tagged(NTE)
            .filter_map(|s| s.some(2))
            .chain(head.tagged(MSG).filter_map(|s| s.some(1)))
            .collect(),
        total_amount,
        requisition_id: head.with(REF, 1, &["RQ"]).and_then(|r| r.some(2)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twin_runs_only_for_the_shipped_text_of_its_mapping_and_prelude() {
        let text = shipped("inbound/x12/850.jq").unwrap();
        let prelude = shipped("lib/prelude.jq").unwrap();
        let twin = Some(Twin::X12PurchaseOrder);
        assert_eq!(Twin::of("inbound/x12/850", text, prelude), twin);
        assert_eq!(
            Twin::of("partners/ACME/inbound/x12/850", text, prelude),
            twin
        );
        let edited = format!("{text}\n| .record.notes += [\"x\"]");
        assert_eq!(Twin::of("inbound/x12/850", &edited, prelude), None);
        assert_eq!(
            Twin::of("inbound/x12/850", text, &format!("{prelude}\n")),
            None
        );
        assert_eq!(Twin::of("inbound/x12/810", text, prelude), None);
        assert_eq!(Twin::shipped("partners/ACME/inbound/x12/850"), twin);
        assert_eq!(Twin::shipped("inbound/x12/855"), None);
    }
}
