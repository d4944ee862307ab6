# purchase_order/v1 -> SAP S/4HANA purchase order (API_PURCHASEORDER_PROCESS_SRV, A_PurchaseOrder,
# OData V2 deep insert). The partner's PO number goes into CorrespncExternalReference (at most 12
# characters), the business key a retry looks the order up by.
.target as $t | .record as $po | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $supplier
| ($t.values.company_code // error("target \($t.name) has no values.company_code")) as $company
| if ($po.purpose // "original") != "original" then error("a \($po.purpose) of purchase order \($po.po_number) is not sent to SAP by this version (only new orders are created); handle it in SAP") else . end
| if ($po.po_number | length) > 12 then error("PO number \($po.po_number) is longer than CorrespncExternalReference (12)") else . end
| {
    CompanyCode: $company,
    PurchaseOrderType: ($t.values.order_type // "NB"),
    Supplier: $supplier,
    PurchasingOrganization: ($t.values.purchasing_org // $company),
    PurchasingGroup: ($t.values.purchasing_group // "001"),
    DocumentCurrency: ($po.currency // $t.values.currency // "USD"),
    Language: "EN",
    PurchaseOrderDate: ($po.order_date | to_odata_v2_date),
    CorrespncExternalReference: $po.po_number,
    to_PurchaseOrderItem: {results: [
      $po.lines | to_entries[] | .key as $k | .value | {
        PurchaseOrderItem: "\(($k + 1) * 10)",
        Material: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        PurchaseOrderItemText: (.item.description // ""),
        Plant: ($t.values.plant // $company),
        OrderQuantity: (.quantity // "0"),
        PurchaseOrderQuantityUnit: (.uom // "EA"),
        NetPriceAmount: (.unit_price // "0"),
        DocumentCurrency: ($po.currency // $t.values.currency // "USD")
      }
    ]}
  }
