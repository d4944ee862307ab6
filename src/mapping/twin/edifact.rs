//! Compiled twins of shipped EDIFACT mappings (ORDERS, INVOIC, ORDRSP, DESADV, REMADV, CONTRL,
//! APERAK), read from a message's segments split once into element ranges; components are
//! found inside an element when asked for.

use super::acks::Ack;
use super::{
    address, allowances_charges, each, json, line_number, purchase_order_correlation, uom, walk,
    Doc, Obj, Seg, Span,
};
use super::{Decimal, Purpose, Tag, Walks, Written};
use crate::formats::edifact::Message;

const BGM: Tag = Tag::of("BGM");
const DTM: Tag = Tag::of("DTM");
const CUX: Tag = Tag::of("CUX");
const FTX: Tag = Tag::of("FTX");
const NAD: Tag = Tag::of("NAD");
const LIN: Tag = Tag::of("LIN");
const PIA: Tag = Tag::of("PIA");
const IMD: Tag = Tag::of("IMD");
const QTY: Tag = Tag::of("QTY");
const PRI: Tag = Tag::of("PRI");
const MOA: Tag = Tag::of("MOA");
const UNS: Tag = Tag::of("UNS");
const UNT: Tag = Tag::of("UNT");

/// A message's segments as tags and element ranges in its text, which a [`Doc`] borrows.
pub(super) struct Split<'m> {
    text: &'m str,
    ranges: Vec<(u32, u32)>,
    /// Per segment: its tag and its elements as a range of `ranges`.
    segs: Vec<(Tag, usize, usize)>,
    plain: bool,
    comp: u8,
}

impl<'m> Split<'m> {
    /// `None` when the text is not UTF-8, holds a release character (an escaped separator)
    /// or a service character is not ASCII: the twins leave those to the interpreter.
    pub(super) fn of(m: &'m Message) -> Option<Split<'m>> {
        let d = m.delims;
        if !(d.element.is_ascii() && d.component.is_ascii() && d.segment.is_ascii()) {
            return None;
        }
        let body = m.body();
        let text = std::str::from_utf8(body.data()).ok()?;
        if d.release
            .is_some_and(|r| memchr::memchr(r, text.as_bytes()).is_some())
        {
            return None;
        }
        let mut ranges = Vec::with_capacity(body.len() * 4);
        let mut segs = Vec::with_capacity(body.len());
        for &(a, b, _) in body.ranges() {
            // Each segment must be text on its own: no character may straddle two.
            if !text.is_char_boundary(a as usize) || !text.is_char_boundary(b as usize) {
                return None;
            }
            let raw = &text.as_bytes()[a as usize..b as usize];
            let first = ranges.len();
            let mut start = a;
            let mut id_end = b;
            for i in memchr::memchr_iter(d.element, raw) {
                let at = a + i as u32;
                if id_end == b {
                    id_end = at;
                } else {
                    ranges.push((start, at));
                }
                start = at + 1;
            }
            if id_end != b {
                ranges.push((start, b));
            }
            let id = &text[a as usize..id_end as usize];
            segs.push((Tag::of(id), first, ranges.len()));
        }
        let plain = text
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        Some(Split {
            text,
            ranges,
            segs,
            plain,
            comp: d.component,
        })
    }

    pub(super) fn doc(&self) -> Doc<'_> {
        Doc {
            text: self.text,
            segs: self
                .segs
                .iter()
                .map(|&(tag, a, b)| (tag, &self.ranges[a..b]))
                .collect(),
            plain: self.plain,
            comp: self.comp,
        }
    }
}

impl<'a> Seg<'a> {
    /// Element `n` (1-based) untrimmed, when present.
    fn raw(&self, n: usize) -> Option<&'a str> {
        let &(a, b) = self.els.get(n.checked_sub(1)?)?;
        Some(&self.text[a as usize..b as usize])
    }

    /// The prelude's `comp($n; $c)` on an EDIFACT segment: component `c` of element `n`, or
    /// the element itself as its first component; `""` when absent.
    fn comp(&self, n: usize, c: usize) -> &'a str {
        let Some(t) = self.raw(n) else {
            return "";
        };
        if !t.as_bytes().contains(&self.comp) {
            return if c == 1 { super::trim_end(t) } else { "" };
        }
        if self.comp.is_ascii() {
            // An ASCII separator splits the text where its byte is (never inside a character).
            let (mut start, mut k) = (0, 1);
            for at in memchr::memchr_iter(self.comp, t.as_bytes()) {
                if k == c {
                    return super::trim_end(&t[start..at]);
                }
                (start, k) = (at + 1, k + 1);
            }
            return if k == c {
                super::trim_end(&t[start..])
            } else {
                ""
            };
        }
        t.split(char::from(self.comp))
            .nth(c.wrapping_sub(1))
            .map_or("", super::trim_end)
    }

    /// `[comps($n)[] | nonempty]`: the element's components that are not empty.
    fn filled(&self, n: usize) -> impl Iterator<Item = &'a str> {
        let sep = char::from(self.comp);
        self.raw(n)
            .into_iter()
            .flat_map(move |t| t.split(sep))
            .map(super::trim_end)
            .filter(|c| !c.is_empty())
    }

    /// `comp(n; c)` when it is not empty.
    fn filled_comp(&self, n: usize, c: usize) -> Option<&'a str> {
        let t = self.comp(n, c);
        (!t.is_empty()).then_some(t)
    }
}

impl<'d, 'a> Span<'d, 'a> {
    /// The segments tagged `tag` whose qualifier (`comp(1; 1)`) is one of `quals`.
    fn qualified<'q>(self, tag: Tag, quals: &'q [&'q str]) -> impl Iterator<Item = Seg<'a>> + 'q
    where
        'd: 'q,
        'a: 'q,
    {
        self.tagged(tag)
            .filter(move |s| quals.contains(&s.comp(1, 1)))
    }

    /// `opt(DTM whose qualifier is in quals | try edi_date catch empty | nonempty)`: the first
    /// such date that reads.
    fn edi_date(self, quals: &[&str]) -> Option<String> {
        self.qualified(DTM, quals).find_map(|d| {
            let t = d.comp(1, 2).trim();
            if t.is_empty() {
                return None;
            }
            crate::mapping::edifact_date(t, d.comp(1, 3))
        })
    }
}

/// The native `edi_decimal` on a component, written as the optional field `key`: absent when
/// blank, `None` when it is not a number in either decimal mark.
fn edi_decimal(o: &mut Obj<'_>, key: &str, v: &str) -> Option<()> {
    let t = crate::canonical::decimal::trim(v);
    if !t.is_empty() {
        let out = o.key(key);
        out.push('"');
        if !(Decimal::append(t, '.', out) || Decimal::append(t, ',', out)) {
            return None;
        }
        out.push('"');
    }
    Some(())
}

/// The prelude's `edi_role`.
fn role(code: &str) -> Option<crate::canonical::records::Role> {
    use crate::canonical::records::Role;
    Some(match code {
        "BY" => Role::Buyer,
        "SU" | "SE" => Role::Supplier,
        "DP" | "ST" => Role::ShipTo,
        "IV" | "BT" => Role::BillTo,
        "SF" => Role::ShipFrom,
        "PE" => Role::Payee,
        "PR" => Role::Payer,
        "RE" => Role::RemitTo,
        _ => return None,
    })
}

/// `[NAD of a heading area | edi_party | select(. != null)]`, written as a JSON array.
fn parties(head: Span<'_, '_>, out: &mut String) {
    let plain = head.doc.plain;
    let found = head
        .tagged(NAD)
        .filter_map(|nad| Some((nad, role(nad.comp(1, 1))?)));
    json::array(out, found, |out, (nad, role)| {
        let mut o = Obj::open_text(out, plain);
        o.plain("role", role.name());
        o.opt("id", nad.filled_comp(2, 1));
        o.opt(
            "id_qualifier",
            match nad.comp(2, 3) {
                "9" => Some("GLN"),
                "16" => Some("DUNS"),
                "" => None,
                q => Some(q),
            },
        );
        let mut name = nad.filled(4).collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            name = nad.filled(3).collect::<Vec<_>>().join(" ");
        }
        o.opt("name", (!name.is_empty()).then_some(name.as_str()));
        let parts = [6, 7, 8, 9].map(|n| nad.filled_comp(n, 1));
        address(&mut o, nad.filled(5), parts, plain);
        o.close();
    });
}

/// [`parties`] written as the optional `parties` field: left out when none is named.
fn parties_if_any(o: &mut Obj<'_>, head: Span<'_, '_>) {
    let mut found = String::new();
    parties(head, &mut found);
    if found != "[]" {
        o.key("parties").push_str(&found);
    }
}

/// The prelude's `edi_item_kind`: 0 buyer part, 1 supplier part, 2 GTIN.
fn item_kind(code: &str) -> Option<usize> {
    match code {
        "IN" | "BP" | "BY" => Some(0),
        "SA" | "VN" => Some(1),
        "EN" | "UP" | "SRV" | "SRS" => Some(2),
        _ => None,
    }
}

/// `edi_item | if item_ok then .buyer_part |= xwalk("item") else fail end` on line loop `l`,
/// written as `item`; `None` when the line names no item or the crosswalk has no entry.
fn item(o: &mut Obj<'_>, l: Span<'_, '_>, walks: &Walks<'_>) -> Option<()> {
    let lin = l.doc.seg(l.from);
    let mut found: [Option<&str>; 3] = [None; 3];
    let ids = std::iter::once((lin.comp(3, 1), Some(item_kind(lin.comp(3, 2)).unwrap_or(0))))
        .chain(
            l.tagged(PIA)
                .flat_map(|p| (2..7).map(move |e| (p.comp(e, 1), item_kind(p.comp(e, 2))))),
        );
    for (value, kind) in ids {
        if let Some(k) = kind {
            if !value.is_empty() && found[k].is_none() {
                found[k] = Some(value);
            }
        }
    }
    if found.iter().all(Option::is_none) {
        return None;
    }
    let [buyer_part, supplier_part, gtin] = found;
    let buyer_part = match buyer_part {
        Some(b) => Some(walk(&walks.item, b)?),
        None => None,
    };
    let description = l
        .tagged(IMD)
        .flat_map(|s| [s.comp(3, 4), s.comp(3, 5)])
        .find(|d| !d.is_empty());
    let mut item = o.object("item");
    match buyer_part {
        Some(b) if walks.item.is_some() => item.any("buyer_part", b),
        b => item.opt("buyer_part", b),
    }
    item.opt("supplier_part", supplier_part);
    item.opt("gtin", gtin);
    item.opt("description", description);
    item.close();
    Some(())
}

/// One line of `mappings/inbound/edifact/ORDERS.jq`: the `k`th LIN loop `l`.
fn order_line(o: &mut Obj<'_>, k: usize, l: Span<'_, '_>, walks: &Walks<'_>) -> Option<()> {
    let lin = l.doc.seg(l.from);
    let qty = l
        .qualified(QTY, &["21", "113"])
        .next()
        .or_else(|| l.qualified(QTY, &["1"]).next())?;
    line_number(o, lin.filled_comp(1, 1), k);
    item(o, l, walks)?;
    let quantity = qty.comp(1, 2);
    if crate::canonical::decimal::trim(quantity).is_empty() {
        return None;
    }
    edi_decimal(o, "quantity", quantity)?;
    uom(o, walks, qty.filled_comp(1, 3).unwrap_or("PCE"))?;
    if let Some(p) = l.tagged(PRI).find_map(|p| p.filled_comp(1, 2)) {
        edi_decimal(o, "unit_price", p)?;
    }
    if let Some(d) = l.edi_date(&["2", "64", "69"]) {
        o.plain("requested_delivery_date", &d);
    }
    Some(())
}

/// `mappings/inbound/edifact/ORDERS.jq`, written as the JSON of its purchase order.
pub(super) fn purchase_order(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 3);
    let all = doc.all();
    let head = all.head(LIN);
    let bgm = all.first(BGM)?;
    let po_number = bgm.filled_comp(2, 1)?;
    let purpose = match bgm.comp(3, 1) {
        "1" | "3" => Purpose::Cancel,
        "4" => Purpose::Change,
        "5" => Purpose::Replace,
        _ => Purpose::Original,
    };
    let order_date = head.edi_date(&["137", "4"])?;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("po_number", po_number);
    o.plain("purpose", purpose.name());
    o.plain("order_date", &order_date);
    parties(head, o.key("parties"));
    each(
        &mut o,
        "lines",
        all.loops(LIN, &[UNS, UNT]),
        doc.plain,
        |line, k, l| {
            order_line(line, k, l, walks)?;
            Some(())
        },
    )?;
    o.opt("po_type", bgm.filled_comp(1, 1));
    o.opt(
        "currency",
        all.tagged(CUX).find_map(|c| c.filled_comp(1, 2)),
    );
    if let Some(d) = head.edi_date(&["2", "64", "69"]) {
        o.plain("requested_delivery_date", &d);
    }
    let mut notes = head
        .tagged(FTX)
        .map(|s| s.filled(4).collect::<String>())
        .filter(|n| !n.is_empty())
        .peekable();
    if notes.peek().is_some() {
        let plain = o.plain_text();
        json::array(o.key("notes"), notes, |out, s| json::text(out, &s, plain));
    }
    let mut total = None;
    for m in all.qualified(MOA, &["79", "86", "128"]) {
        if let Some(v) = m.filled_comp(1, 2) {
            let t = crate::canonical::decimal::trim(v);
            super::super::edi_decimal(t)?;
            total = Some(v);
        }
    }
    if let Some(v) = total {
        edi_decimal(&mut o, "total_amount", v)?;
    }
    o.close();
    Some(Written {
        schema: "purchase_order/v1",
        correlation: purchase_order_correlation(po_number, None),
        json,
    })
}

const RFF: Tag = Tag::of("RFF");
const PAT: Tag = Tag::of("PAT");
const ALC: Tag = Tag::of("ALC");

impl<'a> Span<'_, 'a> {
    /// The prelude's `edi_qual($id; $quals; $n; $c)`: the first non-empty `comp(n; c)` among
    /// segments tagged `id` whose qualifier is in `quals`.
    fn qual(self, id: Tag, quals: &[&str], n: usize, c: usize) -> Option<&'a str> {
        self.qualified(id, quals).find_map(|s| s.filled_comp(n, c))
    }

    /// The prelude's `edi_amount($quals)`: `Some(None)` when no MOA qualified so carries an
    /// amount, `None` when the first that does is not a number.
    fn amount(self, quals: &[&str]) -> Option<Option<String>> {
        match self.qual(MOA, quals, 1, 2) {
            None => Some(None),
            Some(v) => decimal_text(v).map(Some),
        }
    }

    /// The prelude's `edi_dtm($quals)` (the native `seg_with` finds the first DTM so
    /// qualified): `Some(None)` when there is none or its date is blank, `None` when its date
    /// does not read.
    fn dtm(self, quals: &[&str]) -> Option<Option<String>> {
        let Some(d) = self.qualified(DTM, quals).next() else {
            return Some(None);
        };
        let t = d.comp(1, 2).trim();
        if t.is_empty() {
            return Some(None);
        }
        crate::mapping::edifact_date(t, d.comp(1, 3)).map(Some)
    }
}

/// The native `edi_decimal` as text; `None` when `v` is not a number.
fn decimal_text(v: &str) -> Option<String> {
    let mut out = String::new();
    let t = crate::canonical::decimal::trim(v);
    (Decimal::append(t, '.', &mut out) || Decimal::append(t, ',', &mut out)).then_some(out)
}

/// `mappings/inbound/edifact/INVOIC.jq`, written as the JSON of its invoice.
pub(super) fn invoice(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 3);
    let all = doc.all();
    let head = all.head(LIN);
    let bgm = all.first(BGM)?;
    let summary = all.loops(UNS, &[]).into_iter().next();
    let invoice_number = bgm.filled_comp(2, 1)?;
    let invoice_date = head.dtm(&["137", "3"])??;
    let due_date = head.dtm(&["13"])?;
    let po_number = head.qual(RFF, &["ON"], 1, 2);
    let currency = all
        .qual(CUX, &["2", "4"], 1, 2)
        .or_else(|| all.tagged(CUX).find_map(|c| c.filled_comp(1, 2)))
        .or_else(|| {
            all.tagged(MOA)
                .map(|m| m.comp(1, 3))
                .find(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        })?;
    let (total, tax_total) = match summary {
        Some(s) => {
            let total = match s.amount(&["77"])? {
                Some(t) => Some(t),
                None => s.amount(&["86", "39", "9"])?,
            };
            (total, s.amount(&["176", "124", "150"])?)
        }
        None => (None, None),
    };
    let total = total?;
    let terms = head
        .tagged(PAT)
        .map(|p| p.filled(2).collect::<Vec<_>>().join(" "))
        .find(|t| !t.is_empty());
    let mut charges = Vec::new();
    for g in head.loops(ALC, &[LIN, UNS]) {
        let alc = g.doc.seg(g.from);
        let kind = match alc.comp(1, 1) {
            "A" => "allowance",
            "C" => "charge",
            _ => return None,
        };
        let amount = g.amount(&["8", "204", "23", "25"])?;
        let description = [alc.comp(5, 4), alc.comp(5, 5), alc.comp(5, 1)]
            .into_iter()
            .find(|d| !d.is_empty());
        if let Some(amount) = amount {
            charges.push((kind, amount, description));
        }
    }
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("invoice_number", invoice_number);
    o.plain("invoice_date", &invoice_date);
    o.str("currency", currency);
    o.plain("total_amount", &total);
    each(
        &mut o,
        "lines",
        all.loops(LIN, &[UNS, UNT]),
        doc.plain,
        |line, k, l| {
            let lin = l.doc.seg(l.from);
            line_number(line, lin.filled_comp(1, 1), k);
            line.opt("po_line_number", l.qual(RFF, &["ON", "LI"], 1, 3));
            item(line, l, walks)?;
            if let Some(qty) = l.qualified(QTY, &["47", "46", "12", "21"]).next() {
                edi_decimal(line, "quantity", qty.comp(1, 2))?;
                uom(line, walks, qty.filled_comp(1, 3).unwrap_or("PCE"))?;
            }
            let price = l
                .qualified(PRI, &["AAA", "AAB", "INV", "CAL"])
                .find_map(|p| p.filled_comp(1, 2));
            if let Some(p) = price {
                edi_decimal(line, "unit_price", p)?;
            }
            if let Some(a) = l.amount(&["203", "66", "38"])? {
                line.plain("amount", &a);
            }
            Some(())
        },
    )?;
    o.opt("po_number", po_number);
    parties_if_any(&mut o, head);
    o.opt("payment_terms", terms.as_deref());
    if let Some(d) = &due_date {
        o.plain("due_date", d);
    }
    if let Some(t) = &tax_total {
        o.plain("tax_total", t);
    }
    allowances_charges(&mut o, charges);
    o.close();
    Some(Written {
        schema: "invoice/v1",
        correlation: super::correlation_of(&[
            ("invoice_number", Some(invoice_number)),
            ("po_number", po_number),
        ]),
        json,
    })
}

/// `mappings/inbound/edifact/ORDRSP.jq`, written as the JSON of its acknowledgement.
pub(super) fn order_response(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 3);
    let all = doc.all();
    let head = all.head(LIN);
    let bgm = all.first(BGM)?;
    let po_number = head.qual(RFF, &["ON"], 1, 2)?;
    let status = match bgm.comp(3, 1) {
        "27" => "rejected",
        "4" | "30" => "accepted_with_changes",
        _ => "accepted",
    };
    let ack_date = head.dtm(&["137"])?;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("po_number", po_number);
    o.plain("status", status);
    each(
        &mut o,
        "lines",
        all.loops(LIN, &[UNS, UNT]),
        doc.plain,
        |line, k, l| {
            let lin = l.doc.seg(l.from);
            line_number(line, lin.filled_comp(1, 1), k);
            let status = match lin.comp(2, 1) {
                "5" => Some("accepted"),
                "7" => Some("rejected"),
                "3" | "1" => Some("changed"),
                _ => None,
            };
            line.opt("status", status);
            item(line, l, walks)?;
            if let Some(qty) = l.qualified(QTY, &["21", "113", "12", "1"]).next() {
                edi_decimal(line, "quantity", qty.comp(1, 2))?;
                uom(line, walks, qty.filled_comp(1, 3).unwrap_or("PCE"))?;
            }
            if let Some(p) = l.tagged(PRI).find_map(|p| p.filled_comp(1, 2)) {
                edi_decimal(line, "unit_price", p)?;
            }
            if let Some(d) = l.dtm(&["2", "69", "67", "17"])? {
                line.plain("scheduled_date", &d);
            }
            Some(())
        },
    )?;
    if let Some(d) = &ack_date {
        o.plain("ack_date", d);
    }
    o.opt("supplier_order_number", bgm.filled_comp(2, 1));
    o.close();
    Some(Written {
        schema: "po_acknowledgement/v1",
        correlation: super::correlation_of(&[("po_number", Some(po_number))]),
        json,
    })
}

const DOC: Tag = Tag::of("DOC");
const PAI: Tag = Tag::of("PAI");

/// `mappings/inbound/edifact/REMADV.jq`, written as the JSON of its payment status.
pub(super) fn remittance(doc: &Doc<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 3);
    let all = doc.all();
    let head = all.head(DOC);
    let bgm = all.first(BGM)?;
    let payment_id = bgm.filled_comp(2, 1)?;
    let payment_date = head.dtm(&["209", "202", "137"])??;
    let quals = ["12", "9", "128"];
    let summary = match all.loops(UNS, &[]).into_iter().next() {
        Some(s) => s.amount(&quals)?,
        None => None,
    };
    let amount = match summary {
        Some(a) => a,
        None => head.amount(&quals)??,
    };
    let currency = all.qual(CUX, &["2", "11"], 1, 2)?;
    let mut first_invoice = None;
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("payment_id", payment_id);
    o.plain("payment_date", &payment_date);
    o.plain("amount", &amount);
    o.str("currency", currency);
    each(
        &mut o,
        "invoices",
        all.loops(DOC, &[UNS, UNT]),
        doc.plain,
        |inv, _, g| {
            let number = g.doc.seg(g.from).filled_comp(2, 1)?;
            first_invoice.get_or_insert(number);
            inv.str("invoice_number", number);
            if let Some(a) = g.amount(&["12", "9", "77"])? {
                inv.plain("amount_paid", &a);
            }
            if let Some(d) = g.amount(&["52"])? {
                inv.plain("discount", &d);
            }
            Some(())
        },
    )?;
    o.opt("method", head.tagged(PAI).find_map(|p| p.filled_comp(1, 3)));
    parties_if_any(&mut o, head);
    o.plain("status", "paid");
    o.close();
    Some(Written {
        schema: "payment_status/v1",
        correlation: super::correlation_of(&[
            ("payment_id", Some(payment_id)),
            ("invoice_number", first_invoice),
        ]),
        json,
    })
}

/// The `status` of `mappings/inbound/edifact/CONTRL.jq` (0083 action code).
fn contrl_status(code: &str) -> &'static str {
    match code {
        "7" | "8" => "accepted",
        "4" => "rejected",
        _ => "accepted_with_errors",
    }
}

/// `mappings/inbound/edifact/CONTRL.jq`: one record per answered message (UCM), or one for
/// the interchange (UCI) when it lists none.
pub(super) fn contrl(doc: &Doc<'_>) -> Option<Vec<Written>> {
    let all = doc.all();
    let uci = all.first(Tag::of("UCI"))?;
    let msgs = all.loops(Tag::of("UCM"), &[UNT]);
    if msgs.is_empty() {
        let mut errors = Vec::new();
        if !uci.comp(5, 1).is_empty() {
            errors.push([uci.comp(6, 1), "", uci.comp(7, 1), uci.comp(5, 1), ""]);
        }
        let ack = Ack {
            acknowledged: "interchange",
            status: contrl_status(uci.comp(4, 1)),
            errors,
            interchange_control: uci.comp(1, 1),
            group_control: "",
            transaction_control: "",
            document: "",
        };
        return Some(vec![ack.written(doc.plain)]);
    }
    let records = msgs
        .into_iter()
        .map(|g| {
            let ucm = g.doc.seg(g.from);
            let mut errors = Vec::new();
            if !ucm.comp(4, 1).is_empty() {
                errors.push(["", "", "", ucm.comp(4, 1), ""]);
            }
            for u in g.loops(Tag::of("UCS"), &[Tag::of("UCM")]) {
                let ucs = u.doc.seg(u.from);
                let before = errors.len();
                for ucd in u.tagged(Tag::of("UCD")) {
                    errors.push(["", ucs.comp(1, 1), ucd.comp(2, 1), ucd.comp(1, 1), ""]);
                }
                if errors.len() == before {
                    errors.push(["", ucs.comp(1, 1), "", ucs.comp(2, 1), ""]);
                }
            }
            Ack {
                acknowledged: "transaction",
                status: contrl_status(ucm.comp(3, 1)),
                errors,
                interchange_control: uci.comp(1, 1),
                group_control: "",
                transaction_control: ucm.comp(1, 1),
                document: ucm.comp(2, 1),
            }
            .written(doc.plain)
        })
        .collect();
    Some(records)
}

/// `mappings/inbound/edifact/APERAK.jq`: one record for the message it answers.
pub(super) fn aperak(doc: &Doc<'_>) -> Option<Written> {
    let all = doc.all();
    let bgm = all.first(BGM)?;
    let texts: Vec<(&str, Option<String>)> = all
        .loops(Tag::of("ERC"), &[UNT])
        .into_iter()
        .map(|g| {
            let text = g
                .tagged(FTX)
                .map(|f| f.filled(4).collect::<Vec<_>>().join(" "))
                .find(|t| !t.is_empty());
            (g.doc.seg(g.from).comp(1, 1), text)
        })
        .collect();
    let status = match bgm.comp(3, 1) {
        "27" => "rejected",
        "29" => "accepted",
        _ if !texts.is_empty() => "rejected",
        _ => "accepted",
    };
    let errors = texts
        .iter()
        .map(|(code, text)| ["", "", "", *code, text.as_deref().unwrap_or("")])
        .collect();
    let ack = Ack {
        acknowledged: "transaction",
        status,
        errors,
        interchange_control: "",
        group_control: "",
        transaction_control: all
            .qual(RFF, &["ACW", "AGO", "ON", "DM", "CW"], 1, 2)
            .unwrap_or(""),
        document: all
            .tagged(DOC)
            .find_map(|d| d.filled_comp(1, 1))
            .unwrap_or(""),
    };
    Some(ack.written(doc.plain))
}

const CPS: Tag = Tag::of("CPS");
const GIN: Tag = Tag::of("GIN");
const TDT: Tag = Tag::of("TDT");

/// A segment's elements, each as its components (one for a simple element).
type Value<'a> = Vec<Vec<&'a str>>;

impl<'a> Seg<'a> {
    /// The segment as the mapping input holds it (each element a text, or its components),
    /// so that two segments compare as jq compares their values.
    fn value(&self) -> Value<'a> {
        let sep = char::from(self.comp);
        (1..=self.els.len())
            .map(|n| {
                self.raw(n)
                    .unwrap_or("")
                    .split(sep)
                    .map(super::trim_end)
                    .collect()
            })
            .collect()
    }
}

/// `mappings/inbound/edifact/DESADV.jq`, written as the JSON of its ship notice.
pub(super) fn despatch_advice(doc: &Doc<'_>, walks: &Walks<'_>) -> Option<Written> {
    let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + doc.text.len() * 3);
    let all = doc.all();
    let head = all.head(CPS).head(LIN);
    let bgm = all.first(BGM)?;
    // (the LIN as a value, the line's JSON, its order number)
    let mut lines: Vec<(Value<'_>, String, Option<&str>)> = Vec::new();
    for l in all.loops(LIN, &[CPS, UNS, UNT]) {
        let lin = l.doc.seg(l.from);
        let qty = l.qualified(QTY, &["12", "21", "1"]).next()?;
        let po_number = l.qual(RFF, &["ON"], 1, 2);
        let mut body = String::new();
        let mut o = Obj::open_text(&mut body, doc.plain);
        o.opt("po_number", po_number);
        o.opt(
            "po_line_number",
            l.qual(RFF, &["ON", "LI"], 1, 3)
                .or_else(|| lin.filled_comp(1, 1)),
        );
        item(&mut o, l, walks)?;
        let quantity = qty.comp(1, 2);
        if crate::canonical::decimal::trim(quantity).is_empty() {
            return None;
        }
        edi_decimal(&mut o, "quantity", quantity)?;
        uom(&mut o, walks, qty.filled_comp(1, 3).unwrap_or("PCE"))?;
        o.opt(
            "lot",
            l.qual(RFF, &["BT"], 1, 2).or_else(|| {
                l.tagged(GIN)
                    .filter(|g| g.comp(1, 1) == "BX")
                    .find_map(|g| g.filled_comp(2, 1))
            }),
        );
        o.close();
        lines.push((lin.value(), body, po_number));
    }
    let shipment_id = bgm.filled_comp(2, 1)?;
    let ship_date = match head.dtm(&["11"])? {
        Some(d) => d,
        None => head.dtm(&["137"])??,
    };
    let expected = head.dtm(&["132", "17", "2"])?;
    let carrier = head
        .tagged(TDT)
        .flat_map(|t| [t.comp(5, 1), t.comp(5, 4)])
        .find(|c| !c.is_empty());
    let tracking = head.qual(RFF, &["CN", "BM", "AAS"], 1, 2);
    let mut po_numbers: Vec<&str> = head
        .qual(RFF, &["ON"], 1, 2)
        .into_iter()
        .chain(lines.iter().filter_map(|l| l.2))
        .collect();
    po_numbers.sort_unstable();
    po_numbers.dedup();
    let mut o = Obj::open_text(&mut json, doc.plain);
    o.str("shipment_id", shipment_id);
    o.plain("ship_date", &ship_date);
    json::array(o.key("lines"), lines.iter(), |out, l| out.push_str(&l.1));
    if let Some(d) = &expected {
        o.plain("expected_delivery_date", d);
    }
    o.opt("carrier", carrier);
    o.opt("tracking_number", tracking);
    parties_if_any(&mut o, head);
    if !po_numbers.is_empty() {
        let plain = o.plain_text();
        json::array(o.key("po_numbers"), po_numbers.iter(), |out, s| {
            json::text(out, s, plain)
        });
    }
    let packages: Vec<(&str, Vec<&String>)> = all
        .loops(CPS, &[UNS, UNT])
        .into_iter()
        .filter_map(|cps| {
            let sscc = cps
                .tagged(GIN)
                .filter(|g| g.comp(1, 1) == "BJ")
                .find_map(|g| g.filled_comp(2, 1))?;
            let mine = cps
                .loops(LIN, &[UNS, UNT])
                .into_iter()
                .flat_map(|l| {
                    let key = l.doc.seg(l.from).value();
                    lines
                        .iter()
                        .filter(move |line| line.0 == key)
                        .map(|line| &line.1)
                })
                .collect();
            Some((sscc, mine))
        })
        .collect();
    if !packages.is_empty() {
        let plain = o.plain_text();
        json::array(o.key("packages"), packages.iter(), |out, (sscc, mine)| {
            let mut p = Obj::open_text(out, plain);
            p.str("sscc", sscc);
            if !mine.is_empty() {
                json::array(p.key("lines"), mine.iter(), |out, l| out.push_str(l));
            }
            p.close();
        });
    }
    o.close();
    Some(Written {
        schema: "ship_notice/v1",
        correlation: super::correlation_of(&[
            ("shipment_id", Some(shipment_id)),
            ("po_number", po_numbers.first().copied()),
        ]),
        json,
    })
}
