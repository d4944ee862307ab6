# purchase_order/v1 -> Dynamics 365 F&O purchase order: a PurchaseOrderHeadersV2 row, then one
# PurchaseOrderLinesV2 row per line (the connector adds PurchaseOrderNumber once the header
# exists). The partner's PO number is VendorOrderReference, the key a retry looks it up by.
# Input: the record's envelope, with .target = {name, erp_id, values}.
.target as $t | .record as $po | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $vendor
| ($t.values.data_area // error("target \($t.name) has no values.data_area")) as $area
| if ($po.purpose // "original") != "original" then error("a \($po.purpose) of purchase order \($po.po_number) is not sent to Dynamics 365 by this version (only new orders are created)") else . end
| {
    header: {
      dataAreaId: $area,
      OrderVendorAccountNumber: $vendor,
      VendorOrderReference: $po.po_number,
      PurchaseOrderName: "EDI order \($po.po_number) from \($p)",
      CurrencyCode: ($po.currency // $t.values.currency // "USD"),
      RequestedDeliveryDate: (($po.requested_delivery_date // $po.order_date) + "T12:00:00Z")
    },
    lines: [
      $po.lines | to_entries[] | .key as $k | .value | {
        LineNumber: ((.line_number // "\($k + 1)") | tostring | tonumber),
        ItemNumber: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        OrderedPurchaseQuantity: (.quantity // "0" | tonumber),
        PurchaseUnitSymbol: (.uom // "ea"),
        PurchasePrice: (.unit_price // "0" | tonumber),
        LineDescription: (.item.description // ""),
        ReceivingSiteId: ($t.values.site // "1"),
        ReceivingWarehouseId: ($t.values.warehouse // "11")
      }
    ]
  }
