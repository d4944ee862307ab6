# po_acknowledgement/v1 -> cXML ConfirmationRequest for Coupa (edigate writes the envelope).
# Output: JSONML. The confirmation id is the PO number with the acknowledgement date.
.record as $ack
| {"accepted": "accept", "accepted_with_changes": "detail", "rejected": "reject"} as $types
| ["ConfirmationRequest", {},
    ["ConfirmationHeader", {type: ($types[$ack.status] // "detail"), noticeDate: ($ack.ack_date // ""),
                            confirmID: "\($ack.po_number)-\($ack.ack_date // "0")", operation: "new"}],
    ["OrderReference", {orderID: $ack.po_number}],
    ($ack.lines // [] | .[] |
      ["ConfirmationItem", {lineNumber: (.line_number // ""), quantity: (.quantity // "0")},
        ["UnitOfMeasure", {}, (.uom // "EA")],
        ["ConfirmationStatus", {type: ({"accepted": "accept", "rejected": "reject", "backordered": "backordered"}[.status // "accepted"] // "detail"),
                                quantity: (.quantity // "0"), deliveryDate: (.scheduled_date // null)},
          ["UnitOfMeasure", {}, (.uom // "EA")]]])
  ]
