# ship_notice/v1 -> SAP S/4HANA goods receipt for the purchase orders it ships against
# (API_MATERIAL_DOCUMENT_SRV, A_MaterialDocumentHeader, movement 101 with reference type B).
# The shipment id is the ReferenceDocument (the delivery note), the key a retry looks it up by.
.target as $t | .record as $asn
| ($t.values.plant // $t.values.company_code // error("target \($t.name) has no values.plant")) as $plant
| ($asn.expected_delivery_date // $asn.ship_date) as $date
| {
    PostingDate: ($date | to_odata_v2_date),
    DocumentDate: ($asn.ship_date | to_odata_v2_date),
    GoodsMovementCode: "01",
    ReferenceDocument: $asn.shipment_id,
    MaterialDocumentHeaderText: "EDI ship notice \($asn.shipment_id)",
    to_MaterialDocumentItem: [
      $asn.lines[] | {
        Material: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        Plant: $plant,
        StorageLocation: ($t.values.storage_location // ""),
        GoodsMovementType: "101",
        GoodsMovementRefDocType: "B",
        PurchaseOrder: (.po_number // ($asn.po_numbers // [])[0] // ""),
        PurchaseOrderItem: ((.po_line_number // "1") | tonumber * 10 | zpad(5)),
        QuantityInEntryUnit: (.quantity // "0"),
        EntryUnit: (.uom // "EA")
      }
    ]
  }
