# CSV order lines (read through a column map in mappings/csv/) -> purchase_order/v1: one
# record per po_number, in the order the file first names them; header fields come from the
# first row of each order.
def need($row; $f): $row[$f] // error({message: "line \($row._line): no \($f)", line: $row._line});
# Rows are grouped in one pass (keyed by po_number, absent as "": a value is never empty),
# so the time grows with the rows, not with rows times documents.
(reduce .rows[] as $r ({}; .[$r.po_number // ""] += [$r]))[] as $lines
| $lines[0] as $h
| {
    po_number: need($h; "po_number"),
    purpose: "original",
    order_date: need($h; "order_date"),
    po_type: $h.po_type,
    currency: $h.currency,
    requested_delivery_date: $h.requested_delivery_date,
    parties: [when($h.buyer_id or $h.buyer_name;
                {role: "buyer", id: $h.buyer_id, name: $h.buyer_name,
                 address: {lines: [$h.buyer_street | nonempty], city: $h.buyer_city, region: $h.buyer_region,
                           postal_code: $h.buyer_postal_code, country: $h.buyer_country}}),
              when($h.ship_to_id or $h.ship_to_name;
                {role: "ship_to", id: $h.ship_to_id, name: $h.ship_to_name,
                 address: {lines: [$h.ship_to_street | nonempty], city: $h.ship_to_city, region: $h.ship_to_region,
                           postal_code: $h.ship_to_postal_code, country: $h.ship_to_country}})],
    lines: [$lines | to_entries[] | .key as $k | .value as $r
      | {line_number: ($r.line_number // "\($k + 1)"),
         item: ({buyer_part: ($r.buyer_part | xwalk("item")), supplier_part: $r.supplier_part, gtin: $r.gtin, description: $r.description}
                | if item_ok then . else error({message: "line \($r._line): no buyer part, supplier part or GTIN identifies the item", line: $r._line}) end),
         quantity: need($r; "quantity"),
         uom: (need($r; "uom") | xwalk("uom")),
         unit_price: $r.unit_price,
         requested_delivery_date: $r.line_delivery_date}]
  }
| record("purchase_order/v1")
