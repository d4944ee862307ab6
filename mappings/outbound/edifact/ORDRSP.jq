# po_acknowledgement/v1 -> EDIFACT ORDRSP body
.record as $a
| [
    ["BGM", "231", ($a.supplier_order_number // ""),
     ({"accepted": "29", "accepted_with_changes": "4", "rejected": "27"}[$a.status])],
    ["DTM", ["137", ($a.ack_date | to_edi_date), "102"]],
    ["RFF", ["ON", $a.po_number]],
    ($a.lines | to_entries[] | .key as $k | .value | (.line_number // "\($k + 1)") as $n
      | .status as $st
      | (.item // {} | edi_item_out($n; {"accepted": "5", "changed": "3", "rejected": "7", "backordered": "3"}[$st] // "")),
        when(.quantity; ["QTY", ["21", .quantity, (.uom // "" | xwalk_back("uom"))]]),
        when(.scheduled_date; ["DTM", ["2", (.scheduled_date | to_edi_date), "102"]]),
        when(.unit_price; ["PRI", ["AAA", .unit_price]])),
    ["UNS", "S"]
  ]
