# ship_notice/v1 -> cXML ShipNoticeRequest for Coupa (edigate writes the envelope and Header).
# Output: JSONML. One ShipNoticePortion per purchase order the shipment covers.
.record as $asn
| ([$asn.lines[].po_number // ($asn.po_numbers // [])[0] // empty] | unique) as $orders
| if ($orders | length) == 0 then error("Coupa needs the purchase order of every shipped line (shipment \($asn.shipment_id) has none)") else . end
| ["ShipNoticeRequest", {},
    ["ShipNoticeHeader", {shipmentID: $asn.shipment_id, operation: "new", noticeDate: $asn.ship_date,
                          shipmentDate: $asn.ship_date, deliveryDate: ($asn.expected_delivery_date // $asn.ship_date)}],
    (if $asn.carrier or $asn.tracking_number then
      ["ShipControl", {},
        ["CarrierIdentifier", {domain: "SCAC"}, ($asn.carrier // "")],
        ["ShipmentIdentifier", {}, ($asn.tracking_number // "")]]
     else empty end),
    ($orders[] as $po |
      ["ShipNoticePortion", {},
        ["OrderReference", {orderID: $po}],
        ($asn.lines | to_entries[] | select((.value.po_number // ($asn.po_numbers // [])[0]) == $po) | .key as $k | .value |
          ["ShipNoticeItem", {lineNumber: (.po_line_number // "\($k + 1)"), quantity: (.quantity // "0")},
            ["UnitOfMeasure", {}, (.uom // "EA")]])])
  ]
