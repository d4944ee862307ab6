# purchase_order/v1 (a change, cancel or replace) -> X12 860 body. A line ordered at 0 is
# deleted (DI); the others carry the quantity now ordered (CA).
.record as $po
| [
    ["BCH", ({"original": "04", "change": "04", "cancel": "01", "replace": "05"}[$po.purpose]), ($po.po_type // "SA"),
     $po.po_number, "", "", ($po.order_date | to_x12_date)],
    when($po.currency; ["CUR", "BY", $po.currency]),
    when($po.requested_delivery_date; ["DTM", "002", ($po.requested_delivery_date | to_x12_date)]),
    ($po.notes | x12_notes_out),
    ($po.parties[] | x12_party_out),
    ($po.lines[] |
      ["POC", .line_number, (if .quantity == "0" then "DI" else "CA" end), (if .quantity == "0" then "" else .quantity end),
       "", (.uom | xwalk_back("uom")), (.unit_price // ""), ""] + (.item | x12_pairs_out),
      (.item.description | when(.; ["PID", "F", "", "", "", .])),
      (.requested_delivery_date | when(.; ["DTM", "002", to_x12_date]))),
    ["CTT", ($po.lines | length | tostring)]
  ]
