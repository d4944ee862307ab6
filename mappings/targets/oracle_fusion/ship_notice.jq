# ship_notice/v1 -> Oracle Fusion receipt request (POST .../receivingReceiptRequests): the
# shipment received against its purchase orders, one RECEIVE/DELIVER line per shipped line.
# The shipment id and the supplier are the business key a retry looks it up by.
.target as $t | .record as $asn | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $supplier
| ($t.values.organization // error("target \($t.name) has no values.organization")) as $org
| {
    ReceiptSourceCode: "VENDOR",
    OrganizationCode: $org,
    VendorName: $supplier,
    BusinessUnit: ($t.values.business_unit // ""),
    ShipmentNumber: $asn.shipment_id,
    ShippedDate: $asn.ship_date,
    ExpectedReceiptDate: ($asn.expected_delivery_date // $asn.ship_date),
    lines: [
      $asn.lines[] | {
        ReceiptSourceCode: "VENDOR",
        SourceDocumentCode: "PO",
        TransactionType: "RECEIVE",
        AutoTransactCode: "DELIVER",
        DocumentNumber: (.po_number // ($asn.po_numbers // [])[0] // ""),
        DocumentLineNumber: ((.po_line_number // "1") | tonumber),
        DocumentShipmentLineNumber: 1,
        DocumentDistributionNumber: 1,
        ItemNumber: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        Quantity: (.quantity // "0" | tonumber),
        UnitOfMeasure: (.uom // "EA"),
        OrganizationCode: $org,
        Subinventory: ($t.values.subinventory // "Stores")
      }
    ]
  }
