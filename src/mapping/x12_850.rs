//! X12 850 purchase order to `purchase_order/v1`.

use super::{x12_date, Issues, Mapped};
use crate::canonical::{
    Address, Business, Decimal, Item, Party, PoLine, PurchaseOrder, Purpose, Role,
};
use crate::formats::x12::lexer::text_of;
use crate::formats::x12::Transaction;

fn opt(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn role(code: &str) -> Option<Role> {
    Some(match code {
        "BY" => Role::Buyer,
        "SE" | "VN" | "SU" => Role::Supplier,
        "ST" => Role::ShipTo,
        "BT" => Role::BillTo,
        "SF" => Role::ShipFrom,
        "RI" | "RE" => Role::RemitTo,
        "PR" => Role::Payer,
        "PE" => Role::Payee,
        _ => return None,
    })
}

/// Maps one 850 transaction set (any version from 003010 on).
pub fn map(tx: &Transaction, _version: &str) -> Mapped {
    let mut issues = Issues::new(tx);
    let mut po = PurchaseOrder::default();
    let mut beg = false;
    // The party being filled by N2/N3/N4 (header level only).
    let mut party: Option<usize> = None;
    let mut in_lines = false;
    let last = tx.len().saturating_sub(1);
    for (i, seg) in tx.segments().enumerate().take(last).skip(1) {
        let seg = &seg;
        match seg.id() {
            b"BEG" => {
                beg = true;
                po.purpose = match seg.text(1).as_str() {
                    "00" | "06" | "07" => Purpose::Original,
                    "01" | "03" => Purpose::Cancel,
                    "04" => Purpose::Change,
                    "05" => Purpose::Replace,
                    "" => {
                        issues.element(i, 1, 353, "1", "purpose code is missing".into());
                        Purpose::Original
                    }
                    other => {
                        issues.element(
                            i,
                            1,
                            353,
                            "7",
                            format!(
                                "purpose code {other:?} is not one of 00, 01, 03, 04, 05, 06, 07"
                            ),
                        );
                        Purpose::Original
                    }
                };
                po.po_type = opt(seg.text(2));
                po.po_number = seg.text(3).trim().to_string();
                if po.po_number.is_empty() {
                    issues.element(i, 3, 324, "1", "purchase order number is missing".into());
                }
                let date = seg.text(5);
                match x12_date(&date) {
                    Some(d) => po.order_date = d,
                    None if date.is_empty() => {
                        issues.element(i, 5, 373, "1", "order date is missing".into())
                    }
                    None => issues.element(
                        i,
                        5,
                        373,
                        "8",
                        format!("order date {date:?} is not a valid date"),
                    ),
                }
            }
            b"CUR" => po.currency = opt(seg.text(2)),
            b"REF" if !in_lines && seg.text(1) == "RQ" => po.requisition_id = opt(seg.text(2)),
            b"ITD" => {
                po.payment_terms = opt(seg.text(12))
                    .or_else(|| opt(seg.text(7)).map(|net| format!("net {net} days")))
            }
            b"DTM" if matches!(seg.text(1).as_str(), "002" | "010" | "074") => {
                let date = seg.text(2);
                let Some(d) = x12_date(&date) else {
                    issues.element(i, 2, 373, "8", format!("date {date:?} is not a valid date"));
                    continue;
                };
                match po.lines.last_mut() {
                    Some(line) if in_lines => line.requested_delivery_date = Some(d),
                    _ => po.requested_delivery_date = Some(d),
                }
            }
            b"NTE" => po.notes.extend(opt(seg.text(2))),
            b"MSG" => po.notes.extend(opt(seg.text(1))),
            b"N1" if !in_lines => {
                party = None;
                if let Some(r) = role(&seg.text(1)) {
                    po.parties.push(Party {
                        role: r,
                        id: opt(seg.text(4)),
                        id_qualifier: opt(seg.text(3)),
                        name: opt(seg.text(2)),
                        address: Address::default(),
                    });
                    party = Some(po.parties.len() - 1);
                }
            }
            b"N3" if !in_lines => {
                if let Some(p) = party {
                    let a = &mut po.parties[p].address;
                    a.lines.extend(opt(seg.text(1)));
                    a.lines.extend(opt(seg.text(2)));
                }
            }
            b"N4" if !in_lines => {
                if let Some(p) = party {
                    let a = &mut po.parties[p].address;
                    a.city = opt(seg.text(1));
                    a.region = opt(seg.text(2));
                    a.postal_code = opt(seg.text(3));
                    a.country = opt(seg.text(4));
                }
            }
            b"PO1" => {
                in_lines = true;
                party = None;
                let line = po1(&mut issues, i, seg, po.lines.len() + 1);
                po.lines.push(line);
            }
            b"PID" if in_lines && seg.text(1) == "F" => {
                if let Some(line) = po.lines.last_mut() {
                    if line.item.description.is_none() {
                        line.item.description = opt(seg.text(5));
                    }
                }
            }
            b"AMT" if seg.text(1) == "TT" => {
                let v = seg.text(2);
                match Decimal::parse(&v) {
                    Some(d) => po.total_amount = Some(d),
                    None => issues.element(
                        i,
                        2,
                        782,
                        "6",
                        format!("amount {v:?} is not a decimal number"),
                    ),
                }
            }
            _ => {}
        }
    }
    if !beg {
        issues.missing_segment(1, "BEG");
    }
    if issues.list.is_empty() {
        Mapped::Record(Box::new(Business::PurchaseOrder(po)))
    } else {
        Mapped::Rejected(issues.list)
    }
}

fn po1(
    issues: &mut Issues<'_>,
    i: usize,
    seg: &crate::formats::x12::Segment<'_>,
    n: usize,
) -> PoLine {
    let line_number = opt(seg.text(1)).unwrap_or_else(|| n.to_string());
    let qty = seg.text(2);
    let quantity = match Decimal::parse(&qty) {
        Some(q) => q,
        None => {
            let code = if qty.is_empty() { "2" } else { "6" };
            issues.element(
                i,
                2,
                330,
                code,
                format!("quantity {qty:?} is missing or not a number"),
            );
            Decimal::parse("0").expect("zero parses")
        }
    };
    let uom = seg.text(3);
    if uom.is_empty() {
        issues.element(i, 3, 355, "2", "unit of measure is missing".into());
    }
    let price = seg.text(4);
    let unit_price = if price.is_empty() {
        None
    } else {
        let p = Decimal::parse(&price);
        if p.is_none() {
            issues.element(
                i,
                4,
                212,
                "6",
                format!("unit price {price:?} is not a number"),
            );
        }
        p
    };
    let mut item = Item::default();
    let mut other = None;
    // PO106..PO125: up to ten qualifier/id pairs, split once (not element by element).
    let mut pairs = seg.elements().skip(5).take(20);
    while let Some(qual) = pairs.next() {
        let id = opt(text_of(pairs.next().unwrap_or(b"")));
        match text_of(qual).as_str() {
            "BP" | "IN" => item.buyer_part = item.buyer_part.or(id),
            "VP" | "VN" | "VA" => item.supplier_part = item.supplier_part.or(id),
            "UP" | "EN" | "UK" | "UA" | "EN13" => item.gtin = item.gtin.or(id),
            "SK" => item.buyer_part = item.buyer_part.or(id),
            _ => other = other.or(id),
        }
    }
    if item.buyer_part.is_none() && item.supplier_part.is_none() && item.gtin.is_none() {
        // Any other product id (catalog, drug code, ...) is the buyer's way to name the item.
        item.buyer_part = other;
    }
    if item.buyer_part.is_none() && item.supplier_part.is_none() && item.gtin.is_none() {
        issues.element(
            i,
            7,
            234,
            "2",
            "no buyer part, vendor part or GTIN identifies the item".into(),
        );
    }
    PoLine {
        line_number,
        item,
        quantity,
        uom,
        unit_price,
        requested_delivery_date: None,
    }
}
