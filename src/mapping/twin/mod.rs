//! Compiled twins of shipped mappings (X12 850, 810, 855, 856, 860, 820, 997, 999;
//! EDIFACT ORDERS, INVOIC, ORDRSP, DESADV, REMADV, CONTRL, APERAK; cXML OrderRequest,
//! InvoiceDetailRequest, ConfirmationRequest, ShipNoticeRequest; CSV purchase orders and
//! invoices): the same records, built in Rust without the jq interpreter.
//!
//! A twin runs only while its mapping file and the prelude are the shipped text (an edited or
//! partner-specific mapping always runs in the interpreter), and only on the plain path: on
//! anything it does not handle exactly as the jq would (a composite element, a value that would
//! fail or be dropped), it answers `None` and the interpreter maps the document, errors and
//! all. A differential test holds every answer a twin gives to the interpreter's.

use crate::canonical::json::{self, Obj};
use crate::canonical::records::{Purpose, Role};
use crate::canonical::{correlation_of, purchase_order_correlation, Decimal, Written};
use crate::formats::x12::Transaction;
use serde_json::{Map, Value};

mod acks;
mod csv;

use crate::formats::csv::CsvError;
pub use csv::Streamed;
mod cxml;
mod edifact;

/// The mappings that have a twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twin {
    /// `inbound/x12/850.jq`
    X12PurchaseOrder,
    /// `inbound/x12/810.jq`
    X12Invoice,
    /// `inbound/x12/855.jq`
    X12PoAcknowledgement,
    /// `inbound/x12/860.jq`
    X12PoChange,
    /// `inbound/x12/820.jq`
    X12Remittance,
    /// `inbound/x12/856.jq`
    X12ShipNotice,
    /// `inbound/edifact/ORDERS.jq`
    EdifactPurchaseOrder,
    /// `inbound/edifact/INVOIC.jq`
    EdifactInvoice,
    /// `inbound/edifact/ORDRSP.jq`
    EdifactPoAcknowledgement,
    /// `inbound/edifact/REMADV.jq`
    EdifactRemittance,
    /// `inbound/edifact/DESADV.jq`
    EdifactShipNotice,
    /// `inbound/edifact/CONTRL.jq`
    EdifactContrl,
    /// `inbound/edifact/APERAK.jq`
    EdifactAperak,
    /// `inbound/x12/997.jq`
    X12FunctionalAck,
    /// `inbound/x12/999.jq`
    X12ImplementationAck,
    /// `inbound/csv/purchase_order.jq`
    CsvPurchaseOrder,
    /// `inbound/csv/invoice.jq`
    CsvInvoice,
    /// `inbound/cxml/OrderRequest.jq`
    CxmlOrderRequest,
    /// `inbound/cxml/InvoiceDetailRequest.jq`
    CxmlInvoiceDetailRequest,
    /// `inbound/cxml/ConfirmationRequest.jq`
    CxmlConfirmationRequest,
    /// `inbound/cxml/ShipNoticeRequest.jq`
    CxmlShipNoticeRequest,
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
            "inbound/x12/810" => Some((Twin::X12Invoice, "inbound/x12/810.jq")),
            "inbound/x12/855" => Some((Twin::X12PoAcknowledgement, "inbound/x12/855.jq")),
            "inbound/x12/860" => Some((Twin::X12PoChange, "inbound/x12/860.jq")),
            "inbound/x12/820" => Some((Twin::X12Remittance, "inbound/x12/820.jq")),
            "inbound/x12/856" => Some((Twin::X12ShipNotice, "inbound/x12/856.jq")),
            "inbound/edifact/ORDERS" => {
                Some((Twin::EdifactPurchaseOrder, "inbound/edifact/ORDERS.jq"))
            }
            "inbound/edifact/INVOIC" => Some((Twin::EdifactInvoice, "inbound/edifact/INVOIC.jq")),
            "inbound/edifact/ORDRSP" => {
                Some((Twin::EdifactPoAcknowledgement, "inbound/edifact/ORDRSP.jq"))
            }
            "inbound/edifact/REMADV" => {
                Some((Twin::EdifactRemittance, "inbound/edifact/REMADV.jq"))
            }
            "inbound/edifact/DESADV" => {
                Some((Twin::EdifactShipNotice, "inbound/edifact/DESADV.jq"))
            }
            "inbound/edifact/CONTRL" => Some((Twin::EdifactContrl, "inbound/edifact/CONTRL.jq")),
            "inbound/edifact/APERAK" => Some((Twin::EdifactAperak, "inbound/edifact/APERAK.jq")),
            "inbound/x12/997" => Some((Twin::X12FunctionalAck, "inbound/x12/997.jq")),
            "inbound/x12/999" => Some((Twin::X12ImplementationAck, "inbound/x12/999.jq")),
            "inbound/csv/purchase_order" => {
                Some((Twin::CsvPurchaseOrder, "inbound/csv/purchase_order.jq"))
            }
            "inbound/csv/invoice" => Some((Twin::CsvInvoice, "inbound/csv/invoice.jq")),
            "inbound/cxml/OrderRequest" => {
                Some((Twin::CxmlOrderRequest, "inbound/cxml/OrderRequest.jq"))
            }
            "inbound/cxml/InvoiceDetailRequest" => Some((
                Twin::CxmlInvoiceDetailRequest,
                "inbound/cxml/InvoiceDetailRequest.jq",
            )),
            "inbound/cxml/ConfirmationRequest" => Some((
                Twin::CxmlConfirmationRequest,
                "inbound/cxml/ConfirmationRequest.jq",
            )),
            "inbound/cxml/ShipNoticeRequest" => Some((
                Twin::CxmlShipNoticeRequest,
                "inbound/cxml/ShipNoticeRequest.jq",
            )),
            _ => None,
        }
    }

    /// The records of one X12 transaction set, or `None` to let the interpreter decide.
    pub fn x12(self, tx: &Transaction, codes: &Value, partner: &str) -> Option<Vec<Written>> {
        let doc = Doc::of(tx)?;
        let walks = Walks::of(codes, partner);
        match self {
            Twin::X12PurchaseOrder => purchase_order(&doc, &walks).map(|po| vec![po]),
            Twin::X12Invoice => invoice(&doc, &walks).map(|i| vec![i]),
            Twin::X12PoAcknowledgement => acknowledgement(&doc, &walks).map(|a| vec![a]),
            Twin::X12PoChange => po_change(&doc, &walks).map(|c| vec![c]),
            Twin::X12Remittance => remittance(&doc).map(|r| vec![r]),
            Twin::X12ShipNotice => ship_notice(&doc, &walks).map(|n| vec![n]),
            Twin::X12FunctionalAck => acks::x12(&doc, false),
            Twin::X12ImplementationAck => acks::x12(&doc, true),
            Twin::EdifactPurchaseOrder
            | Twin::EdifactInvoice
            | Twin::EdifactPoAcknowledgement
            | Twin::EdifactRemittance
            | Twin::EdifactShipNotice
            | Twin::EdifactContrl
            | Twin::EdifactAperak
            | Twin::CsvPurchaseOrder
            | Twin::CsvInvoice
            | Twin::CxmlOrderRequest
            | Twin::CxmlInvoiceDetailRequest
            | Twin::CxmlConfirmationRequest
            | Twin::CxmlShipNoticeRequest => None,
        }
    }

    /// The records of the rows of one CSV file, or `None` to let the interpreter decide.
    /// Each record is handed to `emit` as it is made; on `None`, what was emitted is void.
    pub fn csv(
        self,
        rows: &crate::formats::csv::Rows,
        codes: &Value,
        partner: &str,
        emit: &mut dyn FnMut(Written),
    ) -> Option<()> {
        self.csv_document()?
            .whole(rows, &Walks::of(codes, partner), emit)
    }

    /// As [`Twin::csv`], the rows read one at a time by `read` into `group` (the reader's
    /// empty rows), the numbers passed kept in a Bloom filter of `bloom_bits`: `None` when
    /// this is not a CSV twin.
    pub fn csv_streamed(
        self,
        read: &mut dyn FnMut(&mut crate::formats::csv::Rows) -> Result<bool, CsvError>,
        group: crate::formats::csv::Rows,
        bloom_bits: u64,
        codes: &Value,
        partner: &str,
        emit: &mut dyn FnMut(Written),
    ) -> Option<Result<Streamed, CsvError>> {
        let document = self.csv_document()?;
        Some(document.streamed(read, group, bloom_bits, &Walks::of(codes, partner), emit))
    }

    fn csv_document(self) -> Option<csv::Document> {
        match self {
            Twin::CsvPurchaseOrder => Some(csv::PURCHASE_ORDERS),
            Twin::CsvInvoice => Some(csv::INVOICES),
            _ => None,
        }
    }

    /// The records of one cXML document (`root`: its `cXML` element), or `None` to
    /// let the interpreter decide.
    pub fn cxml(
        self,
        root: crate::formats::xml::El<'_>,
        codes: &Value,
        partner: &str,
    ) -> Option<Vec<Written>> {
        let walks = Walks::of(codes, partner);
        match self {
            Twin::CxmlOrderRequest => cxml::order_request(root, &walks),
            Twin::CxmlInvoiceDetailRequest => cxml::invoice_detail_request(root, &walks),
            Twin::CxmlConfirmationRequest => cxml::confirmation_request(root, &walks),
            Twin::CxmlShipNoticeRequest => cxml::ship_notice_request(root, &walks),
            _ => None,
        }
    }

    /// The records of one EDIFACT message, or `None` to let the interpreter decide.
    pub fn edifact(
        self,
        m: &crate::formats::edifact::Message,
        codes: &Value,
        partner: &str,
    ) -> Option<Vec<Written>> {
        let split = edifact::Split::of(m)?;
        let doc = split.doc();
        let walks = Walks::of(codes, partner);
        match self {
            Twin::EdifactPurchaseOrder => edifact::purchase_order(&doc, &walks).map(|po| vec![po]),
            Twin::EdifactInvoice => edifact::invoice(&doc, &walks).map(|i| vec![i]),
            Twin::EdifactPoAcknowledgement => {
                edifact::order_response(&doc, &walks).map(|a| vec![a])
            }
            Twin::EdifactRemittance => edifact::remittance(&doc).map(|r| vec![r]),
            Twin::EdifactShipNotice => edifact::despatch_advice(&doc, &walks).map(|n| vec![n]),
            Twin::EdifactContrl => edifact::contrl(&doc),
            Twin::EdifactAperak => edifact::aperak(&doc).map(|a| vec![a]),
            _ => None,
        }
    }
}

/// Writes `key` as an array with one object per loop of `loops`, each filled by `line` (given
/// the object, the loop's index and the loop); `None` as soon as a line declines.
fn each<'d, 'a>(
    o: &mut Obj<'_>,
    key: &str,
    loops: Vec<Span<'d, 'a>>,
    plain: bool,
    mut line: impl FnMut(&mut Obj<'_>, usize, Span<'d, 'a>) -> Option<()>,
) -> Option<()> {
    let out = o.key(key);
    out.push('[');
    for (k, l) in loops.into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let mut obj = Obj::open_text(out, plain);
        line(&mut obj, k, l)?;
        obj.close();
    }
    out.push(']');
    Some(())
}

/// A party's `address` (street lines; city, region, postal code, country), left out when it
/// has none of them.
fn address<'v>(
    o: &mut Obj<'_>,
    lines: impl Iterator<Item = &'v str>,
    parts: [Option<&str>; 4],
    plain: bool,
) {
    let mut lines = lines.peekable();
    if lines.peek().is_some() || parts.iter().any(Option::is_some) {
        let mut a = o.object("address");
        if lines.peek().is_some() {
            json::array(a.key("lines"), lines, |out, s| json::text(out, s, plain));
        }
        for (key, part) in ["city", "region", "postal_code", "country"]
            .iter()
            .zip(parts)
        {
            a.opt(key, part);
        }
        a.close();
    }
}

/// An invoice's `allowances_charges` (type, amount, description), left out when there are none.
fn allowances_charges(o: &mut Obj<'_>, charges: Vec<(&str, String, Option<&str>)>) {
    if !charges.is_empty() {
        let plain = o.plain_text();
        json::array(
            o.key("allowances_charges"),
            charges,
            |out, (kind, amount, description)| {
                let mut c = Obj::open_text(out, plain);
                c.plain("type", kind);
                c.plain("amount", &amount);
                c.opt("description", description);
                c.close();
            },
        );
    }
}

/// The shipped text of mapping file `file`.
fn shipped(file: &str) -> Option<&'static str> {
    super::BUILTIN
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
}

/// A segment tag or qualifier packed by [`crate::formats::structure::tag`] (exact for the
/// short tags and qualifiers the twins look for), so that finding segments compares numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag(u64);

impl Tag {
    const fn of(tag: &str) -> Tag {
        Tag(crate::formats::structure::tag(tag.as_bytes()))
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
const BIG: Tag = Tag::of("BIG");
const IT1: Tag = Tag::of("IT1");
const TDS: Tag = Tag::of("TDS");
const TXI: Tag = Tag::of("TXI");
const SAC: Tag = Tag::of("SAC");
const FOB: Tag = Tag::of("FOB");
const BAK: Tag = Tag::of("BAK");
const ACK: Tag = Tag::of("ACK");
const SCH: Tag = Tag::of("SCH");
const BCH: Tag = Tag::of("BCH");
const POC: Tag = Tag::of("POC");
const BPR: Tag = Tag::of("BPR");
const TRN: Tag = Tag::of("TRN");
const ENT: Tag = Tag::of("ENT");
const RMR: Tag = Tag::of("RMR");
const BSN: Tag = Tag::of("BSN");
const HL: Tag = Tag::of("HL");
const LIN: Tag = Tag::of("LIN");
const SN1: Tag = Tag::of("SN1");
const PRF: Tag = Tag::of("PRF");
const MAN: Tag = Tag::of("MAN");
const TD5: Tag = Tag::of("TD5");

/// A transaction's segments as tags and element texts, read through the transaction's split
/// (the one validation made). Element text is as the mapping input holds it
/// (`doc::x12_segment`) before its trailing white space is trimmed.
struct Doc<'a> {
    /// All segments' text.
    text: &'a str,
    /// Per segment: its tag and its elements' ranges in `text`.
    segs: Vec<(Tag, &'a [(u32, u32)])>,
    /// Whether `text` is printable ASCII without `"` or `\`, so that none of its values
    /// needs an escape in JSON.
    plain: bool,
    /// The component separator (EDIFACT; X12 documents with composites are not twinned).
    comp: u8,
}

/// One segment of a [`Doc`].
#[derive(Clone, Copy)]
struct Seg<'a> {
    text: &'a str,
    els: &'a [(u32, u32)],
    comp: u8,
}

/// `str::trim_end`, quicker when the text ends in a printable ASCII character (as nearly
/// every element does).
fn trim_end(t: &str) -> &str {
    match t.as_bytes().last() {
        Some(b) if b.is_ascii_graphic() => t,
        _ => t.trim_end(),
    }
}

impl<'a> Seg<'a> {
    /// Element `n` (1-based) as text, `""` when absent: the prelude's `el($n)`.
    fn el(&self, n: usize) -> &'a str {
        match n.checked_sub(1).and_then(|i| self.els.get(i)) {
            Some(&(a, b)) => trim_end(&self.text[a as usize..b as usize]),
            None => "",
        }
    }

    /// `el(n)` when it is not empty.
    fn some(&self, n: usize) -> Option<&'a str> {
        let t = self.el(n);
        (!t.is_empty()).then_some(t)
    }

    /// The prelude's `x12_item($from)` before its description and crosswalk: the natives
    /// `pair($from; ...)` for buyer part, supplier part and GTIN, or the first pair of any
    /// qualifier as the buyer part when none of those is there; in one pass.
    fn item_ids(&self, from: usize) -> Option<[Option<&'a str>; 3]> {
        const QUALS: [&[Tag]; 3] = [
            &[Tag::of("BP"), Tag::of("IN"), Tag::of("SK")],
            &[Tag::of("VP"), Tag::of("VN"), Tag::of("VA")],
            &[
                Tag::of("UP"),
                Tag::of("EN"),
                Tag::of("UK"),
                Tag::of("UA"),
                Tag::of("EN13"),
            ],
        ];
        let mut found: [Option<&'a str>; 3] = Default::default();
        let mut any = None;
        let text = |&(a, b): &(u32, u32)| trim_end(&self.text[a as usize..b as usize]);
        for p in self.els.get(from.saturating_sub(1)..)?.chunks_exact(2) {
            let id = text(&p[1]);
            if id.is_empty() {
                continue;
            }
            let q = Tag::of(text(&p[0]));
            match QUALS.iter().position(|qs| qs.contains(&q)) {
                Some(k) if found[k].is_none() => found[k] = Some(id),
                Some(_) => {}
                None if any.is_none() => any = Some(id),
                None => {}
            }
        }
        if found.iter().all(Option::is_none) {
            found[0] = Some(any?);
        }
        Some(found)
    }
}

impl<'a> Seg<'a> {
    /// The native `pair(2; ["LT"])`: the first LT pair's id from element 2 on.
    fn lot(&self) -> Option<&'a str> {
        let text = |&(a, b): &(u32, u32)| trim_end(&self.text[a as usize..b as usize]);
        self.els
            .get(1..)?
            .chunks_exact(2)
            .find(|p| !text(&p[1]).is_empty() && text(&p[0]) == "LT")
            .map(|p| text(&p[1]))
    }
}

impl<'a> Doc<'a> {
    /// `None` when the text is not UTF-8 (Latin-1 text), an element may be a composite or the
    /// element separator is not ASCII: the twins leave those to the interpreter.
    fn of(tx: &'a Transaction) -> Option<Doc<'a>> {
        if !tx.separators.element.is_ascii() || tx.has_composites() {
            return None;
        }
        let text = std::str::from_utf8(tx.data()).ok()?;
        let mut segs = Vec::with_capacity(tx.len());
        for seg in tx.split() {
            // Each segment must be text on its own: no character may straddle two.
            let (start, end) = seg.span;
            if !text.is_char_boundary(start as usize) || !text.is_char_boundary(end as usize) {
                return None;
            }
            let id = &text[start as usize..start as usize + seg.id.len()];
            segs.push((Tag::of(trim_end(id)), seg.ranges()));
        }
        let plain = tx.printable() && memchr::memchr2(b'"', b'\\', text.as_bytes()).is_none();
        Some(Doc {
            text,
            segs,
            plain,
            comp: 0,
        })
    }

    fn seg(&self, i: usize) -> Seg<'a> {
        Seg {
            text: self.text,
            els: self.segs[i].1,
            comp: self.comp,
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
    fn tagged(self, tag: Tag) -> impl Iterator<Item = Seg<'a>> + 'd {
        let (text, comp) = (self.doc.text, self.doc.comp);
        self.doc.segs[self.from..self.to]
            .iter()
            .filter(move |s| s.0 == tag)
            .map(move |&(_, els)| Seg { text, els, comp })
    }

    /// `first_seg($tag)`
    fn first(self, tag: Tag) -> Option<Seg<'a>> {
        self.tagged(tag).next()
    }

    /// `seg_with($tag; $n; $values)`
    #[inline]
    fn with(self, tag: Tag, n: usize, values: &[&str]) -> Option<Seg<'a>> {
        self.tagged(tag).find(|s| values.contains(&s.el(n)))
    }

    /// `head($tag)`: the segments before the first one tagged `tag`.
    fn head(self, tag: Tag) -> Span<'d, 'a> {
        let to = self.doc.segs[self.from..self.to]
            .iter()
            .position(|s| s.0 == tag)
            .map_or(self.to, |k| self.from + k);
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

impl<'c> Walks<'c> {
    fn of(codes: &'c Value, partner: &str) -> Walks<'c> {
        Walks {
            uom: Table::of(codes, "uom", partner),
            item: Table::of(codes, "item", partner),
        }
    }
}

/// `xwalk`: the mapped value; `None` (the interpreter decides) for a value without an entry
/// or one mapped to nothing.
fn walk<'v>(table: &Option<Table<'v>>, v: &'v str) -> Option<&'v str> {
    let Some(t) = table else {
        return Some(v);
    };
    let mapped = t
        .own
        .and_then(|m| m.get(v))
        .or_else(|| t.all.and_then(|m| m.get(v)))?
        .as_str()?;
    (!mapped.is_empty()).then_some(mapped)
}

/// The native `decimal` on an element, written as the optional field `key`: absent when
/// blank, `None` when it is not a number.
fn decimal(o: &mut Obj<'_>, key: &str, v: &str) -> Option<()> {
    let t = crate::canonical::decimal::trim(v);
    if !t.is_empty() {
        let out = o.key(key);
        out.push('"');
        if !Decimal::append(t, '.', out) {
            return None;
        }
        out.push('"');
    }
    Some(())
}

/// The prelude's `x12d`: an X12 date as ISO, `Some(None)` when blank, `None` when it is not
/// a date.
fn date(v: &str) -> Option<Option<String>> {
    let t = v.trim();
    if t.is_empty() {
        return Some(None);
    }
    // `x12_date` gives only dates that exist, as `Date` requires.
    super::x12_date(t).map(Some)
}

/// The prelude's `x12_dtm($quals)`.
fn dtm(span: Span<'_, '_>) -> Option<Option<String>> {
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

/// The prelude's `x12_parties($stop)` over a heading area, written as a JSON array.
fn parties(head: Span<'_, '_>, stop: &[Tag], out: &mut String) {
    let plain = head.doc.plain;
    let loops = head.loops(N1, stop);
    let found = loops
        .iter()
        .filter_map(|l| Some((l, l.first(N1)?)))
        .filter_map(|(l, n1)| Some((l, n1, role(n1.el(1))?)));
    json::array(out, found, |out, (l, n1, role)| {
        let mut o = Obj::open_text(out, plain);
        o.plain("role", role.name());
        o.opt("id", n1.some(4));
        o.opt("id_qualifier", n1.some(3));
        o.opt("name", n1.some(2));
        let n4 = l.first(N4);
        let parts = [1, 2, 3, 4].map(|n| n4.and_then(|s| s.some(n)));
        let lines = l.tagged(N3).flat_map(|s| [s.some(1), s.some(2)]).flatten();
        address(&mut o, lines, parts, plain);
        o.close();
    });
}

/// The item of a line whose first segment is `seg` (ids from its 6th element on) in loop `l`:
/// the prelude's `x12_item(6)` with the loop's PID description, then the item crosswalk.
fn item(o: &mut Obj<'_>, seg: Seg<'_>, l: Span<'_, '_>, walks: &Walks<'_>) -> Option<()> {
    item_from(o, seg, 6, l, walks)
}

/// [`item`] with the ids from element `from` on.
fn item_from(
    o: &mut Obj<'_>,
    seg: Seg<'_>,
    from: usize,
    l: Span<'_, '_>,
    walks: &Walks<'_>,
) -> Option<()> {
    let [buyer_part, supplier_part, gtin] = seg.item_ids(from)?;
    let buyer_part = match buyer_part {
        Some(b) => Some(walk(&walks.item, b)?),
        None => None,
    };
    let mut item = o.object("item");
    // A crosswalk's value comes from its table, not from the document.
    match buyer_part {
        Some(b) if walks.item.is_some() => item.any("buyer_part", b),
        b => item.opt("buyer_part", b),
    }
    item.opt("supplier_part", supplier_part);
    item.opt("gtin", gtin);
    item.opt(
        "description",
        l.with(PID, 1, &["F"]).and_then(|p| p.some(5)),
    );
    item.close();
    Some(())
}

/// The native `implied(2)` (X12 N2) on an element: `Some(None)` when blank, `None` when it
/// is not a number.
fn implied2(v: &str) -> Option<Option<String>> {
    let t = v.trim();
    if t.is_empty() {
        return Some(None);
    }
    Decimal::implied(t, 2).map(|d| Some(d.to_string()))
}

/// The payment terms of the first ITD of a heading area, as `mappings/inbound/x12/8*.jq`
/// word them.
fn terms(o: &mut Obj<'_>, head: Span<'_, '_>) {
    match head.first(ITD) {
        Some(itd) if !itd.el(12).is_empty() => o.opt("payment_terms", itd.some(12)),
        Some(itd) if !itd.el(7).is_empty() => {
            o.str("payment_terms", &format!("net {} days", itd.el(7)))
        }
        _ => {}
    }
}

/// `mappings/inbound/x12/810.jq`, written as the JSON of its invoice.
fn invoice(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
    let all = doc.all();
    let big = all.first(BIG)?;
    let head = all.head(IT1);
    let tds = all.first(TDS)?;
    let invoice_number = big.some(2)?;
    let invoice_date = date(big.some(1)?)??;
    let po_number = big.some(4);
    let total = implied2(tds.some(1)?)??;
    // The first tax amount given; a bad one before it is the interpreter's to judge.
    let mut tax_total = None;
    for t in all.tagged(TXI) {
        let v = crate::canonical::decimal::trim(t.el(2));
        if v.is_empty() {
            continue;
        }
        tax_total = Some(Decimal::parse(v)?.to_string());
        break;
    }
    let mut due_date = None;
    for i in head.tagged(ITD) {
        if let Some(d) = date(i.el(6))? {
            due_date = Some(d);
            break;
        }
    }
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("invoice_number", invoice_number);
    o.plain("invoice_date", &invoice_date);
    o.str(
        "currency",
        head.first(CUR).and_then(|c| c.some(2)).unwrap_or("USD"),
    );
    o.plain("total_amount", &total);
    each(
        &mut o,
        "lines",
        all.loops(IT1, &[TDS, CTT, SE]),
        doc.plain,
        |line, k, l| {
            let it1 = l.doc.seg(l.from);
            line_number(line, it1.some(1), k);
            line.opt(
                "po_line_number",
                l.tagged(REF)
                    .filter(|r| r.el(1) == "LI")
                    .find_map(|r| r.some(2)),
            );
            item(line, it1, l, walks)?;
            decimal(line, "quantity", it1.el(2))?;
            if let Some(u) = it1.some(3) {
                uom(line, walks, u)?;
            }
            decimal(line, "unit_price", it1.el(4))?;
            Some(())
        },
    )?;
    o.opt("po_number", po_number);
    parties_if_any(&mut o, head, &[IT1, ITD, DTM, FOB, PID, TDS]);
    terms(&mut o, head);
    if let Some(d) = &due_date {
        o.plain("due_date", d);
    }
    if let Some(t) = &tax_total {
        o.plain("tax_total", t);
    }
    let tail = all.loops(TDS, &[]).into_iter().next();
    let sacs: Vec<Seg<'_>> = head
        .tagged(SAC)
        .chain(tail.into_iter().flat_map(|t| t.tagged(SAC)))
        .collect();
    let mut charges = Vec::new();
    for sac in sacs {
        let kind = match sac.el(1) {
            "A" => "allowance",
            "C" => "charge",
            _ => return None,
        };
        if let Some(amount) = implied2(sac.el(5))? {
            charges.push((kind, amount, sac.some(15).or(sac.some(2))));
        }
    }
    allowances_charges(&mut o, charges);
    o.close();
    Some(Written {
        schema: "invoice/v1",
        correlation: correlation_of(&[
            ("invoice_number", Some(invoice_number)),
            ("po_number", po_number),
        ]),
        json,
    })
}

/// `mappings/inbound/x12/855.jq`, written as the JSON of its acknowledgement.
fn acknowledgement(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
    let all = doc.all();
    let bak = all.first(BAK)?;
    let po_number = bak.some(3)?;
    let status = match bak.el(2) {
        "AD" | "AK" | "AT" => "accepted",
        "AC" | "AE" | "AP" => "accepted_with_changes",
        "RD" | "RJ" | "RF" | "RO" => "rejected",
        _ => return None,
    };
    let ack_date = date(bak.el(4))?;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("po_number", po_number);
    o.plain("status", status);
    each(
        &mut o,
        "lines",
        all.loops(PO1, &[CTT, SE]),
        doc.plain,
        |line, k, l| {
            let po1 = l.doc.seg(l.from);
            let ack = l.first(ACK);
            // A value of the ACK when it gives one, else the PO1's.
            let from_ack = |n: usize, po1_n: usize| match ack.and_then(|a| a.some(n)) {
                Some(v) => v,
                None => po1.el(po1_n),
            };
            line_number(line, po1.some(1), k);
            if let Some(code) = ack.and_then(|a| a.some(1)) {
                let status = match code {
                    "IA" => "accepted",
                    "IR" | "ID" | "R1" | "R2" | "R3" | "R4" => "rejected",
                    "IB" | "IW" => "backordered",
                    _ => "changed",
                };
                line.plain("status", status);
            }
            item(line, po1, l, walks)?;
            decimal(line, "quantity", from_ack(2, 2))?;
            let unit = from_ack(3, 3);
            if !unit.is_empty() {
                uom(line, walks, unit)?;
            }
            decimal(line, "unit_price", po1.el(4))?;
            let scheduled = match ack.and_then(|a| a.some(5)) {
                Some(d) => date(d)?,
                None => {
                    // The first schedule date given; a bad one before it is the interpreter's.
                    let mut found = None;
                    for sch in l.tagged(SCH) {
                        if let Some(d) = date(sch.el(6))? {
                            found = Some(d);
                            break;
                        }
                    }
                    match found {
                        Some(d) => Some(d),
                        None => match l.with(DTM, 1, &["067", "068", "002"]) {
                            Some(d) => date(d.el(2))?,
                            None => None,
                        },
                    }
                }
            };
            if let Some(d) = &scheduled {
                line.plain("scheduled_date", d);
            }
            Some(())
        },
    )?;
    if let Some(d) = &ack_date {
        o.plain("ack_date", d);
    }
    o.opt("supplier_order_number", bak.some(8));
    o.close();
    Some(Written {
        schema: "po_acknowledgement/v1",
        correlation: correlation_of(&[("po_number", Some(po_number))]),
        json,
    })
}

/// The notes of a heading area (NTE02, MSG01), written as the optional `notes` array.
fn notes(o: &mut Obj<'_>, head: Span<'_, '_>) {
    let mut notes = head
        .tagged(NTE)
        .filter_map(|s| s.some(2))
        .chain(head.tagged(MSG).filter_map(|s| s.some(1)))
        .peekable();
    if notes.peek().is_some() {
        let plain = o.plain_text();
        json::array(o.key("notes"), notes, |out, s| json::text(out, s, plain));
    }
}

/// `mappings/inbound/x12/860.jq`, written as the JSON of its purchase order change.
fn po_change(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
    let all = doc.all();
    let bch = all.first(BCH)?;
    let head = all.head(POC);
    let po_number = bch.some(3)?;
    let purpose = match bch.el(1) {
        "01" | "03" => Purpose::Cancel,
        "04" => Purpose::Change,
        "05" => Purpose::Replace,
        _ => return None,
    };
    let order_date = date(bch.some(6)?)??;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("po_number", po_number);
    o.plain("purpose", purpose.name());
    o.plain("order_date", &order_date);
    parties(head, &[POC], o.key("parties"));
    each(
        &mut o,
        "lines",
        all.loops(POC, &[CTT, SE]),
        doc.plain,
        |line, k, l| {
            let poc = l.doc.seg(l.from);
            line_number(line, poc.some(1), k);
            item_from(line, poc, 8, l, walks)?;
            if poc.el(2) == "DI" {
                line.plain("quantity", "0");
            } else {
                decimal(line, "quantity", poc.some(3)?)?;
            }
            uom(line, walks, poc.some(5)?)?;
            decimal(line, "unit_price", poc.el(6))?;
            if let Some(d) = dtm(l)? {
                line.plain("requested_delivery_date", &d);
            }
            Some(())
        },
    )?;
    o.opt("po_type", bch.some(2));
    o.opt("currency", head.first(CUR).and_then(|c| c.some(2)));
    if let Some(d) = dtm(head)? {
        o.plain("requested_delivery_date", &d);
    }
    notes(&mut o, head);
    o.close();
    Some(Written {
        schema: "purchase_order/v1",
        correlation: purchase_order_correlation(po_number, None),
        json,
    })
}

/// `mappings/inbound/x12/820.jq`, written as the JSON of its payment status.
fn remittance(doc: &Doc<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
    let all = doc.all();
    let bpr = all.first(BPR)?;
    let head = all.head(ENT).head(RMR);
    let payment_id = all.first(TRN)?.some(2)?;
    let payment_date = date(bpr.some(16)?)??;
    let amount = bpr.some(2)?;
    let status = match bpr.el(1) {
        "I" => Some("scheduled"),
        "C" | "D" | "X" | "P" => Some("paid"),
        _ => None,
    };
    let loops = all.loops(RMR, &[SE, ENT]);
    let mut first_invoice = None;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("payment_id", payment_id);
    o.plain("payment_date", &payment_date);
    decimal(&mut o, "amount", amount)?;
    o.str(
        "currency",
        head.first(CUR).and_then(|c| c.some(2)).unwrap_or("USD"),
    );
    each(&mut o, "invoices", loops, doc.plain, |inv, _, l| {
        let rmr = l.doc.seg(l.from);
        let number = rmr.some(2)?;
        first_invoice.get_or_insert(number);
        inv.str("invoice_number", number);
        decimal(inv, "amount_paid", rmr.el(4))?;
        decimal(inv, "discount", rmr.el(6))
    })?;
    o.opt("method", bpr.some(4));
    parties_if_any(&mut o, head, &[ENT, RMR]);
    if let Some(s) = status {
        o.plain("status", s);
    }
    o.close();
    Some(Written {
        schema: "payment_status/v1",
        correlation: correlation_of(&[
            ("payment_id", Some(payment_id)),
            ("invoice_number", first_invoice),
        ]),
        json,
    })
}

/// A pack of an 856: its HL id and its SSCC.
type Pack<'a> = (&'a str, Option<&'a str>);

/// One HL loop of an 856: its id, parent id and level, and its segments.
struct Level<'d, 'a> {
    id: &'a str,
    parent: &'a str,
    level: &'a str,
    span: Span<'d, 'a>,
}

/// `mappings/inbound/x12/856.jq`, written as the JSON of its ship notice.
fn ship_notice(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
    let all = doc.all();
    let bsn = all.first(BSN)?;
    let levels: Vec<Level<'_, '_>> = all
        .loops(HL, &[CTT, SE])
        .into_iter()
        .map(|span| {
            let hl = doc.seg(span.from);
            Level {
                id: hl.el(1),
                parent: hl.el(2),
                level: hl.el(3),
                span,
            }
        })
        .collect();
    // Ids must be there and unique for the twin (the jq keeps the last of a repeated one).
    for (i, l) in levels.iter().enumerate() {
        if l.id.is_empty() || levels[..i].iter().any(|o| o.id == l.id) {
            return None;
        }
    }
    let by_id = |id: &str| levels.iter().find(|l| l.id == id);
    // The mapping's `up($level)`: the nearest HL at `level` from `from` up through the
    // parents; parents that loop or nest deeper than 50 levels are the interpreter's (it
    // rejects the document).
    let up = |from: &str, level: &str| -> Option<Option<&Level<'_, '_>>> {
        let mut at = by_id(from);
        for _ in 0..=50 {
            match at {
                None => return Some(None),
                Some(l) if l.level == level => return Some(Some(l)),
                Some(l) => at = by_id(l.parent),
            }
        }
        None
    };
    let ship = levels
        .iter()
        .find(|l| l.level == "S")
        .map_or(all, |l| l.span);
    let shipment_id = bsn.some(2)?;
    let ship_date = match ship.with(DTM, 1, &["011"]) {
        Some(d) => date(d.el(2))?,
        None => None,
    };
    let ship_date = match ship_date {
        Some(d) => d,
        None => date(bsn.el(3))??,
    };
    let expected = match ship.with(DTM, 1, &["017", "067"]) {
        Some(d) => date(d.el(2))?,
        None => None,
    };
    let carrier = ship.tagged(TD5).find_map(|t| t.some(3).or(t.some(5)));
    let tracking = ship
        .tagged(REF)
        .filter(|r| matches!(r.el(1), "CN" | "2I"))
        .find_map(|r| r.some(2));
    let mut po_numbers: Vec<&str> = levels
        .iter()
        .filter(|l| l.level == "O")
        .filter_map(|l| l.span.first(PRF).and_then(|p| p.some(1)))
        .collect();
    po_numbers.sort_unstable();
    po_numbers.dedup();
    // Each item line, written once as JSON, with its pack's id and SSCC.
    let mut lines: Vec<(String, Option<Pack<'_>>)> = Vec::new();
    for h in levels.iter().filter(|l| l.level == "I") {
        let g = h.span;
        let sn1 = g.first(SN1)?;
        let lin = g.first(LIN)?;
        let order = up(h.parent, "O")?;
        let pack = up(h.parent, "P")?;
        let mut line = String::new();
        let mut o = Obj::open_text(&mut line, doc.plain);
        o.opt(
            "po_number",
            order
                .and_then(|l| l.span.first(PRF))
                .and_then(|p| p.some(1)),
        );
        o.opt("po_line_number", lin.some(1));
        item_from(&mut o, lin, 2, g, walks)?;
        decimal(&mut o, "quantity", sn1.some(2)?)?;
        if let Some(u) = sn1.some(3) {
            uom(&mut o, walks, u)?;
        }
        // The first REF LT's number (one that is blank is the interpreter's), else the LIN's
        // LT pair.
        let lot = match g.tagged(REF).find(|r| r.el(1) == "LT") {
            Some(r) => Some(r.some(2)?),
            None => lin.lot(),
        };
        o.opt("lot", lot);
        o.close();
        let pack = pack.map(|p| {
            let sscc = p
                .span
                .tagged(MAN)
                .find(|m| m.el(1) == "GM")
                .and_then(|m| m.some(2));
            (p.id, sscc)
        });
        lines.push((line, pack));
    }
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("shipment_id", shipment_id);
    o.plain("ship_date", &ship_date);
    let out = o.key("lines");
    json::array(out, lines.iter(), |out, (line, _)| out.push_str(line));
    if let Some(d) = &expected {
        o.plain("expected_delivery_date", d);
    }
    o.opt("carrier", carrier);
    o.opt("tracking_number", tracking);
    parties_if_any(&mut o, ship, &[HL]);
    if !po_numbers.is_empty() {
        let plain = o.plain_text();
        json::array(o.key("po_numbers"), po_numbers.iter(), |out, s| {
            json::text(out, s, plain)
        });
    }
    // Packages in the order of their ids (as jq's group_by sorts), each with its lines.
    let mut packs: Vec<(&str, Option<&str>)> = lines.iter().filter_map(|(_, p)| *p).collect();
    packs.sort_by(|a, b| a.0.cmp(b.0));
    packs.dedup_by(|a, b| a.0 == b.0);
    if !packs.is_empty() {
        let plain = o.plain_text();
        json::array(o.key("packages"), packs.iter(), |out, (id, sscc)| {
            let mut p = Obj::open_text(out, plain);
            p.opt("sscc", *sscc);
            let mine = lines
                .iter()
                .filter(|(_, pk)| pk.is_some_and(|(i, _)| i == *id))
                .map(|(l, _)| l);
            json::array(p.key("lines"), mine, |out, l| out.push_str(l));
            p.close();
        });
    }
    o.close();
    Some(Written {
        schema: "ship_notice/v1",
        correlation: correlation_of(&[
            ("shipment_id", Some(shipment_id)),
            ("po_number", po_numbers.first().copied()),
        ]),
        json,
    })
}

/// `el | xwalk("uom")` written as `uom`: a crosswalked value comes from its table, not from
/// the document; `None` when the table has no entry for it.
fn uom(o: &mut Obj<'_>, walks: &Walks<'_>, value: &str) -> Option<()> {
    let mapped = walk(&walks.uom, value)?;
    match walks.uom {
        Some(_) => o.any("uom", mapped),
        None => o.str("uom", mapped),
    }
    Some(())
}

/// A line's number: its element when given, else its position (1-based).
fn line_number(o: &mut Obj<'_>, given: Option<&str>, k: usize) {
    match given {
        Some(n) => o.str("line_number", n),
        None => o.plain("line_number", &(k + 1).to_string()),
    }
}

/// [`parties`] written as the optional `parties` field: left out when none is named.
fn parties_if_any(o: &mut Obj<'_>, head: Span<'_, '_>, stop: &[Tag]) {
    let mut found = String::new();
    parties(head, stop, &mut found);
    if found != "[]" {
        o.key("parties").push_str(&found);
    }
}

/// One line of `mappings/inbound/x12/850.jq`: the `k`th PO1 loop `l`.
fn po_line(o: &mut Obj<'_>, k: usize, l: Span<'_, '_>, walks: &Walks<'_>) -> Option<()> {
    let po1 = l.doc.seg(l.from);
    line_number(o, po1.some(1), k);
    item(o, po1, l, walks)?;
    decimal(o, "quantity", po1.some(2)?)?;
    uom(o, walks, po1.some(3)?)?;
    decimal(o, "unit_price", po1.el(4))?;
    if let Some(d) = dtm(l)? {
        o.plain("requested_delivery_date", &d);
    }
    Some(())
}

/// `mappings/inbound/x12/850.jq`, written as the JSON of its purchase order.
fn purchase_order(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 5 / 2);
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
    let order_date = date(beg.some(5)?)??;
    let requisition_id = head.with(REF, 1, &["RQ"]).and_then(|r| r.some(2));
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("po_number", po_number);
    o.plain("purpose", purpose.name());
    o.plain("order_date", &order_date);
    parties(head, &[PO1], o.key("parties"));
    each(
        &mut o,
        "lines",
        all.loops(PO1, &[CTT, AMT, SE]),
        doc.plain,
        |line, k, l| {
            po_line(line, k, l, walks)?;
            Some(())
        },
    )?;
    o.opt("po_type", beg.some(2));
    o.opt("currency", head.first(CUR).and_then(|c| c.some(2)));
    terms(&mut o, head);
    if let Some(d) = dtm(head)? {
        o.plain("requested_delivery_date", &d);
    }
    notes(&mut o, head);
    if let Some(a) = all.with(AMT, 1, &["TT"]) {
        decimal(&mut o, "total_amount", a.el(2))?;
    }
    o.opt("requisition_id", requisition_id);
    o.close();
    Some(Written {
        schema: "purchase_order/v1",
        correlation: purchase_order_correlation(po_number, requisition_id),
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_tags_keep_every_distinction() {
        let tags = [
            "", "A", "\0A", "A\0", "BP", "\0BP", "EN13", "EN1", "PO1", "PO1 ",
        ];
        for a in tags {
            for b in tags {
                assert_eq!(Tag::of(a) == Tag::of(b), a == b, "{a:?} {b:?}");
            }
        }
    }

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
        assert_eq!(Twin::shipped("inbound/x12/940"), None);
        assert_eq!(Twin::shipped("inbound/edifact/IFTMIN"), None);
        assert_eq!(
            Twin::shipped("inbound/x12/855"),
            Some(Twin::X12PoAcknowledgement)
        );
        let invoice = shipped("inbound/x12/810.jq").unwrap();
        assert_eq!(
            Twin::of("inbound/x12/810", invoice, prelude),
            Some(Twin::X12Invoice)
        );
    }
}
