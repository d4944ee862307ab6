# cXML OrderRequest -> purchase_order/v1
.xml | path(["Request", "OrderRequest"]) as $or
| ($or | kid("OrderRequestHeader")) as $h
| if $h == null then error({message: "OrderRequest has no OrderRequestHeader", code: "3"}) else . end
| ($h | path(["Total", "Money"])) as $total
| {
    po_number: (($h | attr("orderID")) // error({message: "OrderRequestHeader has no orderID", code: "3"})),
    purpose: ($h | attr("type") | if . == "update" then "change" elif . == "delete" then "cancel" else "original" end),
    order_date: ($h | attr("orderDate") | iso_date),
    po_type: ($h | attr("orderType")),
    requisition_id: ($h | attr("requisitionID")),
    currency: (($total | attr("currency")) // opt($or | kids("ItemOut") | path(["ItemDetail", "UnitPrice", "Money"]) | attr("currency") | nonempty)),
    total_amount: ($total | text | decimal),
    payment_terms: ($h | kid("PaymentTerm") | attr("payInNumberOfDays") | if . then "net \(.) days" else null end),
    notes: [$h | kids("Comments") | text | nonempty],
    parties: [($h | kid("ShipTo") | select(. != null) | cxml_party("ship_to")),
              ($h | kid("BillTo") | select(. != null) | cxml_party("bill_to"))],
    lines: [$or | kids("ItemOut") as $it | ($it | kid("ItemDetail")) as $d
      | {
          line_number: ($it | attr("lineNumber")),
          quantity: ($it | attr("quantity") | decimal),
          uom: ($d | kid("UnitOfMeasure") | text | xwalk("uom")),
          unit_price: ($d | path(["UnitPrice", "Money"]) | text | decimal),
          requested_delivery_date: ($it | attr("requestedDeliveryDate") | iso_date),
          item: ($it | cxml_item($d))
        }]
  }
| record("purchase_order/v1")
