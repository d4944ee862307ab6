# cXML ShipNoticeRequest -> ship_notice/v1
.xml | path(["Request", "ShipNoticeRequest"]) as $sn
| ($sn | kid("ShipNoticeHeader")) as $h
| ($sn | kid("ShipControl")) as $ctl
| {
    shipment_id: (($h | attr("shipmentID")) // error({message: "ShipNoticeHeader has no shipmentID", code: "3"})),
    ship_date: (($h | attr("shipmentDate")) // ($h | attr("noticeDate")) | iso_date),
    expected_delivery_date: ($h | attr("deliveryDate") | iso_date),
    carrier: ($ctl | if . == null then null else opt(kids("CarrierIdentifier") | text | nonempty) end),
    tracking_number: ($ctl | kid("ShipmentIdentifier") | text),
    po_numbers: [$sn | kids("ShipNoticePortion") | kid("OrderReference") | attr("orderID") | nonempty],
    lines: [$sn | kids("ShipNoticePortion") as $p | ($p | kid("OrderReference") | attr("orderID")) as $po
      | $p | kids("ShipNoticeItem") as $i
      | {po_number: $po, po_line_number: ($i | attr("lineNumber")),
         quantity: ($i | attr("quantity") | decimal),
         uom: ($i | kid("UnitOfMeasure") | text | xwalk("uom")),
         item: ($i | cxml_item($i | kid("ShipNoticeItemDetail")))}]
  }
| record("ship_notice/v1")
