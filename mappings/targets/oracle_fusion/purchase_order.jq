# purchase_order/v1 -> Oracle Fusion draft purchase order (POST .../draftPurchaseOrders, then
# action/submit). Drafts have no field for an external reference, so the partner's PO number is
# written into the Description in a fixed form: the business key a retry looks it up by.
# Input: the record's envelope, with .target = {name, erp_id, values}.
.target as $t | .record as $po | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $supplier
| ($t.values.business_unit // error("target \($t.name) has no values.business_unit")) as $bu
| if ($po.purpose // "original") != "original" then error("a \($po.purpose) of purchase order \($po.po_number) is not sent to Oracle by this version (only new orders are created)") else . end
| {
    ProcurementBU: $bu,
    RequisitioningBU: ($t.values.requisitioning_bu // $bu),
    BuyerEmail: ($t.values.buyer_email // ""),
    Supplier: $supplier,
    SupplierSite: ($t.values.supplier_site // "MAIN"),
    CurrencyCode: ($po.currency // $t.values.currency // "USD"),
    Description: "EDI order \($po.po_number) from \($p)",
    lines: [
      $po.lines | to_entries[] | .key as $k | .value | {
        LineNumber: ((.line_number // "\($k + 1)") | tostring | tonumber),
        LineType: "Goods",
        Item: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        Description: (.item.description // ""),
        Quantity: (.quantity // "0" | tonumber),
        UOM: (.uom // "EA"),
        Price: (.unit_price // "0" | tonumber),
        schedules: [{
          ScheduleNumber: 1,
          ShipToOrganizationCode: ($t.values.organization // ""),
          RequestedDeliveryDate: (.requested_delivery_date // $po.requested_delivery_date // $po.order_date),
          distributions: [{DistributionNumber: 1, Quantity: (.quantity // "0" | tonumber)}]
        }]
      }
    ]
  }
