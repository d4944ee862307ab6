# po_acknowledgement/v1 -> X12 855 body
.record as $a
| [
    ["BAK", "00", ({"accepted": "AD", "accepted_with_changes": "AC", "rejected": "RD"}[$a.status]), $a.po_number,
     ($a.ack_date | to_x12_date), "", "", "", ($a.supplier_order_number // "")],
    ($a.lines | to_entries[] | .key as $k | .value |
      ["PO1", (.line_number // "\($k + 1)"), (.quantity // ""), (.uom // "" | xwalk_back("uom")), (.unit_price // ""), ""]
        + (.item // {} | x12_pairs_out),
      (.item.description | when(.; ["PID", "F", "", "", "", .])),
      when(.status or .scheduled_date;
        ["ACK", ({"accepted": "IA", "rejected": "IR", "backordered": "IB", "changed": "IC"}[.status] // "IC"),
         (.quantity // ""), (.uom // "" | xwalk_back("uom")), (if .scheduled_date then "068" else "" end),
         (.scheduled_date | to_x12_date)])),
    ["CTT", ($a.lines | length | tostring)]
  ]
