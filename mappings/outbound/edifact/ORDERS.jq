# purchase_order/v1 -> EDIFACT ORDERS body (edigate writes UNB, UNH, UNT, UNZ)
.record as $po
| [
    ["BGM", ($po.po_type // "220"), $po.po_number,
     ({"original": "9", "cancel": "1", "change": "4", "replace": "5"}[$po.purpose])],
    ["DTM", ["137", ($po.order_date | to_edi_date), "102"]],
    when($po.requested_delivery_date; ["DTM", ["2", ($po.requested_delivery_date | to_edi_date), "102"]]),
    ($po.notes // [] | .[] | ["FTX", "ZZZ", "", "", [.]]),
    ($po.parties[] | edi_party_out),
    when($po.currency; ["CUX", ["2", $po.currency, "9"]]),
    ($po.lines[] |
      .line_number as $n
      | (.item | edi_item_out($n)),
        ["QTY", ["21", .quantity, (.uom | xwalk_back("uom"))]],
        when(.requested_delivery_date; ["DTM", ["2", (.requested_delivery_date | to_edi_date), "102"]]),
        when(.unit_price; ["PRI", ["AAA", .unit_price]])),
    ["UNS", "S"],
    when($po.total_amount; ["MOA", ["86", $po.total_amount]]),
    ["CNT", ["2", ($po.lines | length | tostring)]]
  ]
