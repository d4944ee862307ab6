//! EDIFACT ORDERS (D96A to D01B) to `purchase_order/v1`.

use crate::canonical::{
    Address, Business, Decimal, Item, Party, PoLine, PurchaseOrder, Purpose, Role,
};
use crate::formats::edifact::{Message, Segment};

/// A problem found while mapping: segment index in the message (0 = UNH), element, reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProblem {
    pub index: usize,
    pub element: usize,
    pub reason: String,
}

fn opt(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// EDIFACT date in format 102 (CCYYMMDD), 203 (CCYYMMDDHHMM) or 101 (YYMMDD) to ISO.
fn date(value: &str, format: &str) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let iso = match (format, value.len()) {
        ("102" | "", 8) | ("203", 12) if digits(value) => {
            format!("{}-{}-{}", &value[0..4], &value[4..6], &value[6..8])
        }
        ("101", 6) if digits(value) => {
            format!("20{}-{}-{}", &value[0..2], &value[2..4], &value[4..6])
        }
        _ => return None,
    };
    let (y, m, d) = (
        iso[0..4].parse().ok()?,
        iso[5..7].parse().ok()?,
        iso[8..10].parse().ok()?,
    );
    crate::util::valid_date(y, m, d).then_some(iso)
}

fn role(code: &str) -> Option<Role> {
    Some(match code {
        "BY" => Role::Buyer,
        "SU" | "SE" => Role::Supplier,
        "DP" | "ST" => Role::ShipTo,
        "IV" | "BT" => Role::BillTo,
        "SF" => Role::ShipFrom,
        "PE" => Role::Payee,
        "PR" => Role::Payer,
        _ => return None,
    })
}

/// Numbers use the UNA decimal mark; receivers accept comma or full stop either way
/// (ISO 9735 lets the sender choose), so the other mark is the fallback.
fn decimal(value: &str, mark: u8) -> Option<Decimal> {
    let other = if mark == b',' { '.' } else { ',' };
    Decimal::parse_with(value, char::from(mark)).or_else(|| Decimal::parse_with(value, other))
}

/// The non-empty components (up to five) of element `e`, joined by `sep`.
fn joined(seg: &Segment<'_>, e: usize, sep: &str) -> String {
    (1..=5)
        .map(|c| seg.get(e, c))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}

fn party(seg: &Segment<'_>) -> Option<Party> {
    let r = role(&seg.get(1, 1))?;
    let qualifier = match seg.get(2, 3).as_str() {
        "9" => Some("GLN".to_string()),
        "16" => Some("DUNS".to_string()),
        "" => None,
        other => Some(other.to_string()),
    };
    // C080 party name, else C058 name and address lines.
    let name = opt(joined(seg, 4, " ")).or_else(|| opt(joined(seg, 3, " ")));
    Some(Party {
        role: r,
        id: opt(seg.get(2, 1)),
        id_qualifier: qualifier,
        name,
        address: Address {
            lines: (1..=4)
                .map(|c| seg.get(5, c))
                .filter(|s| !s.trim().is_empty())
                .collect(),
            city: opt(seg.get(6, 1)),
            region: opt(seg.get(7, 1)),
            postal_code: opt(seg.get(8, 1)),
            country: opt(seg.get(9, 1)),
        },
    })
}

/// Maps one ORDERS message; problems reject it.
pub fn map(m: &Message) -> Result<Business, Vec<MapProblem>> {
    let mark = m.delims.decimal;
    let mut problems = Vec::new();
    let mut po = PurchaseOrder::default();
    let mut in_lines = false;
    // An unreadable document date is reported only when no other document date is readable.
    let mut bad_date = Vec::new();
    // Segment index of each line's LIN, so line problems point at the line.
    let mut line_at = Vec::new();
    let last = m.len().saturating_sub(1);
    for (i, seg) in m.segments().enumerate().take(last).skip(1) {
        match seg.id() {
            b"BGM" => {
                po.po_type = opt(seg.get(1, 1));
                // D96A: 1004 is element 2; D01B: C106 whose first component is 1004.
                po.po_number = seg.get(2, 1);
                po.purpose = match seg.get(3, 1).as_str() {
                    "1" | "3" => Purpose::Cancel,
                    "4" => Purpose::Change,
                    "5" => Purpose::Replace,
                    _ => Purpose::Original,
                };
                if po.po_number.is_empty() {
                    problems.push(MapProblem {
                        index: i,
                        element: 2,
                        reason: "BGM holds no order number (1004)".into(),
                    });
                }
            }
            b"DTM" => {
                let (q, v, f) = (seg.get(1, 1), seg.get(1, 2), seg.get(1, 3));
                let parsed = date(&v, &f);
                match q.as_str() {
                    "137" | "4" if !in_lines => match parsed {
                        Some(d) => po.order_date = d,
                        None => bad_date.push(MapProblem {
                            index: i,
                            element: 1,
                            reason: format!(
                                "document date {v:?} (format {f:?}) is not a valid date"
                            ),
                        }),
                    },
                    "2" | "64" | "69" => {
                        if let Some(d) = parsed {
                            match po.lines.last_mut() {
                                Some(line) if in_lines => line.requested_delivery_date = Some(d),
                                _ => po.requested_delivery_date = Some(d),
                            }
                        }
                    }
                    _ => {}
                }
            }
            b"FTX" if !in_lines => po.notes.extend(opt(joined(&seg, 4, ""))),
            b"NAD" if !in_lines => po.parties.extend(party(&seg)),
            b"CUX" => po.currency = opt(seg.get(1, 2)),
            b"LIN" => {
                in_lines = true;
                line_at.push(i);
                let n = po.lines.len() + 1;
                let mut item = Item::default();
                let (id, kind) = (opt(seg.get(3, 1)), seg.get(3, 2));
                match kind.as_str() {
                    "EN" | "UP" | "SRV" | "SRS" => item.gtin = id,
                    "SA" | "VN" => item.supplier_part = id,
                    _ => item.buyer_part = id,
                }
                po.lines.push(PoLine {
                    line_number: opt(seg.get(1, 1)).unwrap_or_else(|| n.to_string()),
                    item,
                    quantity: Decimal::parse("0").expect("zero"),
                    uom: String::new(),
                    unit_price: None,
                    requested_delivery_date: None,
                });
            }
            b"PIA" => {
                if let Some(line) = po.lines.last_mut() {
                    for e in 2..=6 {
                        let (id, kind) = (opt(seg.get(e, 1)), seg.get(e, 2));
                        match kind.as_str() {
                            "SA" | "VN" => {
                                line.item.supplier_part = line.item.supplier_part.take().or(id)
                            }
                            "IN" | "BP" | "BY" => {
                                line.item.buyer_part = line.item.buyer_part.take().or(id)
                            }
                            "EN" | "UP" | "SRV" | "SRS" => {
                                line.item.gtin = line.item.gtin.take().or(id)
                            }
                            _ => {}
                        }
                    }
                }
            }
            b"IMD" => {
                if let Some(line) = po.lines.last_mut().filter(|_| in_lines) {
                    line.item.description =
                        line.item.description.take().or_else(|| opt(seg.get(3, 4)));
                }
            }
            // Ordered quantity (21, 113); a discrete quantity (1) stands in when no 21 came.
            b"QTY" if in_lines && matches!(seg.get(1, 1).as_str(), "21" | "113" | "1") => {
                if let Some(line) = po
                    .lines
                    .last_mut()
                    .filter(|l| seg.get(1, 1) != "1" || l.uom.is_empty())
                {
                    let v = seg.get(1, 2);
                    match decimal(&v, mark) {
                        Some(q) => line.quantity = q,
                        None => problems.push(MapProblem {
                            index: i,
                            element: 1,
                            reason: format!("quantity {v:?} is not a number"),
                        }),
                    }
                    // The unit defaults to piece (PCE) when the sender gives none.
                    line.uom = opt(seg.get(1, 3)).unwrap_or_else(|| "PCE".into());
                }
            }
            b"PRI" if in_lines => {
                if let Some(line) = po.lines.last_mut() {
                    let v = seg.get(1, 2);
                    if !v.is_empty() {
                        match decimal(&v, mark) {
                            Some(p) => line.unit_price = line.unit_price.take().or(Some(p)),
                            None => problems.push(MapProblem {
                                index: i,
                                element: 1,
                                reason: format!("price {v:?} is not a number"),
                            }),
                        }
                    }
                }
            }
            b"MOA" if !in_lines || seg.get(1, 1) == "86" => {
                if matches!(seg.get(1, 1).as_str(), "79" | "86" | "128") {
                    po.total_amount = decimal(&seg.get(1, 2), mark).or(po.total_amount.take());
                }
            }
            b"UNS" => in_lines = false,
            _ => {}
        }
    }
    if po.order_date.is_empty() && !bad_date.is_empty() {
        problems.append(&mut bad_date);
    } else if po.order_date.is_empty() {
        problems.push(MapProblem {
            index: 1,
            element: 1,
            reason: "no document date (DTM+137)".into(),
        });
    }
    for (k, line) in po.lines.iter().enumerate() {
        if line.item.buyer_part.is_none()
            && line.item.supplier_part.is_none()
            && line.item.gtin.is_none()
        {
            problems.push(MapProblem {
                index: line_at[k],
                element: 3,
                reason: format!("line {} identifies no item", k + 1),
            });
        }
        if line.uom.is_empty() {
            problems.push(MapProblem {
                index: line_at[k],
                element: 0,
                reason: format!("line {} has no ordered quantity (QTY+21)", k + 1),
            });
        }
    }
    if problems.is_empty() {
        Ok(Business::PurchaseOrder(po))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_their_format_qualifier_and_reject_impossible_days() {
        assert_eq!(date("20260517", "102").as_deref(), Some("2026-05-17"));
        assert_eq!(date("202605171015", "203").as_deref(), Some("2026-05-17"));
        assert_eq!(date("260517", "101").as_deref(), Some("2026-05-17"));
        assert_eq!(date("20260231", "102"), None);
        assert_eq!(date("2026051", "102"), None);
        assert_eq!(date("20260517", "718"), None);
    }

    #[test]
    fn either_decimal_mark_is_accepted_but_not_both() {
        assert_eq!(
            decimal("10,50", b'.').map(|d| d.to_string()).as_deref(),
            Some("10.50")
        );
        assert_eq!(
            decimal("10.50", b',').map(|d| d.to_string()).as_deref(),
            Some("10.50")
        );
        assert_eq!(decimal("1.000,50", b','), None);
        assert_eq!(decimal("ten", b'.'), None);
    }
}
