# cXML ConfirmationRequest -> po_acknowledgement/v1
.xml | path(["Request", "ConfirmationRequest"]) as $cr
| ($cr | kid("ConfirmationHeader")) as $h
| {
    po_number: (($cr | kid("OrderReference") | attr("orderID")) // error({message: "ConfirmationRequest has no OrderReference orderID", code: "3"})),
    status: ($h | attr("type") | if . == "reject" then "rejected" elif . == "accept" then "accepted" else "accepted_with_changes" end),
    ack_date: ($h | attr("noticeDate") | iso_date),
    supplier_order_number: ($h | attr("confirmID")),
    lines: [$cr | kids("ConfirmationItem") as $ci | ($ci | kid("ConfirmationStatus")) as $st
      | {
          line_number: ($ci | attr("lineNumber")),
          status: ($st | attr("type") | if . == "accept" then "accepted" elif . == "reject" then "rejected"
                   elif . == "backordered" then "backordered" elif . == null then null else "changed" end),
          quantity: (($st | attr("quantity")) // ($ci | attr("quantity")) | decimal),
          uom: (($st | kid("UnitOfMeasure") | text) // ($ci | kid("UnitOfMeasure") | text) | xwalk("uom")),
          unit_price: ($st | path(["ItemIn", "ItemDetail", "UnitPrice", "Money"]) | text | decimal),
          scheduled_date: ($st | attr("deliveryDate") | iso_date)
        }]
  }
| record("po_acknowledgement/v1")
