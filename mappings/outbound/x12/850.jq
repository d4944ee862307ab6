# purchase_order/v1 -> X12 850 body (edigate writes ISA, GS, ST, SE, GE, IEA)
.record as $po
| [
    ["BEG", ({"original": "00", "cancel": "01", "change": "04", "replace": "05"}[$po.purpose]), ($po.po_type // "SA"),
     $po.po_number, "", ($po.order_date | to_x12_date)],
    when($po.currency; ["CUR", "BY", $po.currency]),
    when($po.requisition_id; ["REF", "RQ", $po.requisition_id]),
    when($po.payment_terms; ["ITD", "", "", "", "", "", "", "", "", "", "", "", $po.payment_terms]),
    when($po.requested_delivery_date; ["DTM", "002", ($po.requested_delivery_date | to_x12_date)]),
    ($po.notes | x12_notes_out),
    ($po.parties[] | x12_party_out),
    ($po.lines[] |
      ["PO1", .line_number, .quantity, (.uom | xwalk_back("uom")), (.unit_price // ""), ""] + (.item | x12_pairs_out),
      (.item.description | when(.; ["PID", "F", "", "", "", .])),
      (.requested_delivery_date | when(.; ["DTM", "002", to_x12_date]))),
    ["CTT", ($po.lines | length | tostring)],
    when($po.total_amount; ["AMT", "TT", $po.total_amount])
  ]
