//! Twins of the shipped cXML mappings (OrderRequest, InvoiceDetailRequest, ConfirmationRequest,
//! ShipNoticeRequest): the object each jq builds, built from the same tree, then read as the
//! typed record exactly as the interpreter's output is, one line at a time.
//!
//! The tree is what `formats::xml::parse` makes, the JsonML the jq reads (every element its
//! name, text attributes and children), so the helpers below never meet the shapes on which
//! the jq would fail.

use super::{walk, Table, Walks};
use crate::canonical::{records, Business, Decimal, Written};
use crate::formats::xml::El;
use crate::mapping::jq::pruned;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

type Node<'a> = Option<El<'a>>;

/// `kid($name)`: the first child named `name`; null of null.
fn kid<'a>(v: Node<'a>, name: &str) -> Node<'a> {
    v?.child(name)
}

/// `path($names)`.
fn path<'a>(v: Node<'a>, names: &[&str]) -> Node<'a> {
    names.iter().try_fold(v?, |v, n| v.child(n))
}

/// `attr($n)`.
fn attr<'a>(v: Node<'a>, name: &str) -> Option<&'a str> {
    v?.attr(name)
}

/// `text`: the element's own text; null of null.
fn text(v: Node<'_>) -> Option<String> {
    v.map(|e| e.text())
}

/// `iso_date`: the first ten characters; `None` (decline) when they might not be bytes.
fn iso_date(v: Option<&str>) -> Option<Option<String>> {
    match v {
        None | Some("") => Some(None),
        Some(s) if s.is_ascii() => Some(Some(s[..s.len().min(10)].to_string())),
        Some(_) => None,
    }
}

/// The native `decimal`: null of blank text, `None` (decline) when it is not a number.
fn decimal(v: Option<&str>) -> Option<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Some(None),
        Some(t) => Decimal::parse(t).map(|d| Some(d.to_string())),
    }
}

/// `xwalk`: blank passes; `None` (decline) for a value the table does not map to text.
fn xwalk(table: &Option<Table<'_>>, v: Option<String>) -> Option<Option<String>> {
    match v {
        Some(s) if !s.is_empty() => walk(table, &s).map(|w| Some(w.to_string())),
        v => Some(v),
    }
}

/// `payInNumberOfDays` as payment terms.
fn terms(h: Node<'_>) -> Option<String> {
    attr(kid(h, "PaymentTerm"), "payInNumberOfDays").map(|d| format!("net {d} days"))
}

/// `cxml_item($detail)` of `v`.
fn item(v: Node<'_>, detail: Node<'_>, walks: &Walks<'_>) -> Option<Value> {
    let id = kid(v, "ItemID");
    Some(json!({
        "supplier_part": text(kid(id, "SupplierPartID")),
        "buyer_part": xwalk(&walks.item, text(kid(id, "BuyerPartID")))?,
        "description": text(kid(detail, "Description")),
    }))
}

/// `cxml_party($role)`: nothing without an Address.
fn party(v: Node<'_>, role: &str) -> Option<Value> {
    let a = kid(v, "Address")?;
    let address = match kid(Some(a), "PostalAddress") {
        None => json!({}),
        Some(p) => json!({
            "lines": p.kids("Street").map(|e| e.text()).collect::<Vec<_>>(),
            "city": text(kid(Some(p), "City")),
            "region": text(kid(Some(p), "State")),
            "postal_code": text(kid(Some(p), "PostalCode")),
            "country": attr(kid(Some(p), "Country"), "isoCountryCode"),
        }),
    };
    Some(json!({
        "role": role,
        "id": attr(Some(a), "addressID"),
        "name": text(kid(Some(a), "Name")),
        "address": address,
    }))
}

/// One line as reading the whole record would type it (`None`, decline, when it would not
/// read), so that a document of many lines is never held as JSON values.
fn line<T: DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(pruned(v)).ok()
}

/// The typed record of what a jq would give (`record` and its `lines`), when it takes it: read
/// with its first line only (none: the empty array the jq drops), then given every line by
/// `put`.
fn written_with<T: Serialize>(
    schema: &str,
    mut record: Value,
    lines: Vec<T>,
    put: impl FnOnce(&mut Business, Vec<T>),
) -> Option<Vec<Written>> {
    let first = match lines.first() {
        Some(l) => vec![serde_json::to_value(l).ok()?],
        None => Vec::new(),
    };
    record["lines"] = Value::Array(first);
    let mut business = Business::from_json(schema, pruned(record)).ok()?;
    put(&mut business, lines);
    Some(vec![Written::from(&business)])
}

/// `inbound/cxml/OrderRequest.jq`
pub(super) fn order_request(root: El<'_>, walks: &Walks<'_>) -> Option<Vec<Written>> {
    let or = path(Some(root), &["Request", "OrderRequest"])?;
    let h = kid(Some(or), "OrderRequestHeader")?;
    let total = path(Some(h), &["Total", "Money"]);
    let po_number = attr(Some(h), "orderID")?;
    let purpose = match attr(Some(h), "type") {
        Some("update") => "change",
        Some("delete") => "cancel",
        _ => "original",
    };
    let currency = attr(total, "currency").or_else(|| {
        or.kids("ItemOut")
            .filter_map(|it| {
                attr(
                    path(Some(it), &["ItemDetail", "UnitPrice", "Money"]),
                    "currency",
                )
            })
            .find(|c| !c.is_empty())
    });
    let mut lines = Vec::new();
    for it in or.kids("ItemOut") {
        let d = kid(Some(it), "ItemDetail");
        lines.push(line::<records::PoLine>(json!({
            "line_number": attr(Some(it), "lineNumber"),
            "quantity": decimal(attr(Some(it), "quantity"))?,
            "uom": xwalk(&walks.uom, text(kid(d, "UnitOfMeasure")))?,
            "unit_price": decimal(text(path(d, &["UnitPrice", "Money"])).as_deref())?,
            "requested_delivery_date": iso_date(attr(Some(it), "requestedDeliveryDate"))?,
            "item": item(Some(it), d, walks)?,
        }))?);
    }
    let parties: Vec<Value> = [("ShipTo", "ship_to"), ("BillTo", "bill_to")]
        .into_iter()
        .filter_map(|(tag, role)| party(kid(Some(h), tag), role))
        .collect();
    let notes: Vec<String> = h
        .kids("Comments")
        .map(|e| e.text())
        .filter(|t| !t.is_empty())
        .collect();
    written_with(
        "purchase_order/v1",
        json!({
            "po_number": po_number,
            "purpose": purpose,
            "order_date": iso_date(attr(Some(h), "orderDate"))?,
            "po_type": attr(Some(h), "orderType"),
            "requisition_id": attr(Some(h), "requisitionID"),
            "currency": currency,
            "total_amount": decimal(text(total).as_deref())?,
            "payment_terms": terms(Some(h)),
            "notes": notes,
            "parties": parties,
        }),
        lines,
        |b, lines| {
            if let Business::PurchaseOrder(r) = b {
                r.lines = lines;
            }
        },
    )
}

/// A summary amount that is given (an element with text).
fn given(v: Node<'_>) -> Node<'_> {
    v.filter(|m| !m.text().is_empty())
}

/// `inbound/cxml/InvoiceDetailRequest.jq`
pub(super) fn invoice_detail_request(root: El<'_>, walks: &Walks<'_>) -> Option<Vec<Written>> {
    let ir = path(Some(root), &["Request", "InvoiceDetailRequest"])?;
    let h = kid(Some(ir), "InvoiceDetailRequestHeader");
    let sum = kid(Some(ir), "InvoiceDetailSummary");
    let total = ["DueAmount", "NetAmount", "GrossAmount", "SubtotalAmount"]
        .into_iter()
        .find_map(|a| given(path(sum, &[a, "Money"])));
    let invoice_number = attr(h, "invoiceID")?;
    let currency = attr(total, "currency")?;
    let po_number = ir
        .kids("InvoiceDetailOrder")
        .filter_map(|o| {
            attr(
                path(Some(o), &["InvoiceDetailOrderInfo", "OrderReference"]),
                "orderID",
            )
        })
        .find(|p| !p.is_empty());
    let mut charges = Vec::new();
    for (tag, description) in [
        ("ShippingAmount", "shipping"),
        ("SpecialHandlingAmount", "special handling"),
    ] {
        if let Some(m) = given(path(sum, &[tag, "Money"])) {
            charges.push(json!({
                "type": "charge",
                "amount": decimal(Some(&m.text()))?,
                "description": description,
            }));
        }
    }
    let mut lines = Vec::new();
    for o in ir.kids("InvoiceDetailOrder") {
        for i in o.kids("InvoiceDetailItem") {
            let r = kid(Some(i), "InvoiceDetailItemReference");
            lines.push(line::<records::InvoiceLine>(json!({
                "line_number": attr(Some(i), "invoiceLineNumber"),
                "po_line_number": attr(r, "lineNumber"),
                "quantity": decimal(attr(Some(i), "quantity"))?,
                "uom": xwalk(&walks.uom, text(kid(Some(i), "UnitOfMeasure")))?,
                "unit_price": decimal(text(path(Some(i), &["UnitPrice", "Money"])).as_deref())?,
                "amount": decimal(text(path(Some(i), &["SubtotalAmount", "Money"])).as_deref())?,
                "item": match r {
                    None => Value::Null,
                    Some(_) => item(r, r, walks)?,
                },
            }))?);
        }
    }
    written_with(
        "invoice/v1",
        json!({
            "invoice_number": invoice_number,
            "invoice_date": iso_date(attr(h, "invoiceDate"))?,
            "currency": currency,
            "total_amount": decimal(text(total).as_deref())?,
            "tax_total": decimal(text(path(sum, &["Tax", "Money"])).as_deref())?,
            "po_number": po_number,
            "payment_terms": terms(h),
            "allowances_charges": charges,
        }),
        lines,
        |b, lines| {
            if let Business::Invoice(r) = b {
                r.lines = lines;
            }
        },
    )
}

/// `inbound/cxml/ConfirmationRequest.jq`
pub(super) fn confirmation_request(root: El<'_>, walks: &Walks<'_>) -> Option<Vec<Written>> {
    let cr = path(Some(root), &["Request", "ConfirmationRequest"])?;
    let h = kid(Some(cr), "ConfirmationHeader");
    let po_number = attr(kid(Some(cr), "OrderReference"), "orderID")?;
    let status = match attr(h, "type") {
        Some("reject") => "rejected",
        Some("accept") => "accepted",
        _ => "accepted_with_changes",
    };
    let mut lines = Vec::new();
    for ci in cr.kids("ConfirmationItem") {
        let st = kid(Some(ci), "ConfirmationStatus");
        let line_status = match attr(st, "type") {
            None => None,
            Some("accept") => Some("accepted"),
            Some("reject") => Some("rejected"),
            Some("backordered") => Some("backordered"),
            Some(_) => Some("changed"),
        };
        let quantity = attr(st, "quantity").or(attr(Some(ci), "quantity"));
        let uom = text(kid(st, "UnitOfMeasure")).or_else(|| text(kid(Some(ci), "UnitOfMeasure")));
        lines.push(line::<records::PoAckLine>(json!({
            "line_number": attr(Some(ci), "lineNumber"),
            "status": line_status,
            "quantity": decimal(quantity)?,
            "uom": xwalk(&walks.uom, uom)?,
            "unit_price": decimal(
                text(path(st, &["ItemIn", "ItemDetail", "UnitPrice", "Money"])).as_deref()
            )?,
            "scheduled_date": iso_date(attr(st, "deliveryDate"))?,
        }))?);
    }
    written_with(
        "po_acknowledgement/v1",
        json!({
            "po_number": po_number,
            "status": status,
            "ack_date": iso_date(attr(h, "noticeDate"))?,
            "supplier_order_number": attr(h, "confirmID"),
        }),
        lines,
        |b, lines| {
            if let Business::PoAcknowledgement(r) = b {
                r.lines = lines;
            }
        },
    )
}

/// `inbound/cxml/ShipNoticeRequest.jq`
pub(super) fn ship_notice_request(root: El<'_>, walks: &Walks<'_>) -> Option<Vec<Written>> {
    let sn = path(Some(root), &["Request", "ShipNoticeRequest"])?;
    let h = kid(Some(sn), "ShipNoticeHeader");
    let ctl = kid(Some(sn), "ShipControl");
    let shipment_id = attr(h, "shipmentID")?;
    let carrier = ctl.and_then(|c| {
        c.kids("CarrierIdentifier")
            .map(|e| e.text())
            .find(|t| !t.is_empty())
    });
    let mut po_numbers = Vec::new();
    let mut lines = Vec::new();
    for p in sn.kids("ShipNoticePortion") {
        let po = attr(kid(Some(p), "OrderReference"), "orderID");
        po_numbers.extend(po.filter(|p| !p.is_empty()));
        for i in p.kids("ShipNoticeItem") {
            lines.push(line::<records::ShipLine>(json!({
                "po_number": po,
                "po_line_number": attr(Some(i), "lineNumber"),
                "quantity": decimal(attr(Some(i), "quantity"))?,
                "uom": xwalk(&walks.uom, text(kid(Some(i), "UnitOfMeasure")))?,
                "item": item(Some(i), kid(Some(i), "ShipNoticeItemDetail"), walks)?,
            }))?);
        }
    }
    written_with(
        "ship_notice/v1",
        json!({
            "shipment_id": shipment_id,
            "ship_date": iso_date(attr(h, "shipmentDate").or(attr(h, "noticeDate")))?,
            "expected_delivery_date": iso_date(attr(h, "deliveryDate"))?,
            "carrier": carrier,
            "tracking_number": text(kid(ctl, "ShipmentIdentifier")),
            "po_numbers": po_numbers,
        }),
        lines,
        |b, lines| {
            if let Business::ShipNotice(r) = b {
                r.lines = lines;
            }
        },
    )
}
