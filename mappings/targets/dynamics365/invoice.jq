# invoice/v1 -> Dynamics 365 F&O pending vendor invoice: a VendorInvoiceHeaders row, then one
# VendorInvoiceLines row per line (the connector adds HeaderReference once the header exists).
# Input: the record's envelope, with .target = {name, erp_id, values}.
.target as $t | .record as $inv | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $vendor
| ($t.values.data_area // error("target \($t.name) has no values.data_area")) as $area
| {
    header: {
      dataAreaId: $area,
      InvoiceNumber: $inv.invoice_number,
      InvoiceAccount: $vendor,
      InvoiceDate: $inv.invoice_date,
      Currency: $inv.currency,
      PurchaseOrderNumber: ($inv.po_number // ""),
      ImportedAmount: ($inv.total_amount | tonumber),
      InvoiceDescription: "EDI invoice \($inv.invoice_number) from \($p)"
    },
    lines: [
      $inv.lines | to_entries[] | .key as $k | .value | {
        InvoiceLineNumber: ((.line_number // "\($k + 1)") | tostring | tonumber),
        ItemNumber: (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
        PurchaseOrder: ($inv.po_number // ""),
        PurchaseLineNumber: ((.po_line_number // .line_number // "\($k + 1)") | tostring | tonumber),
        ReceiveNow: (.quantity // "0" | tonumber),
        UnitPrice: (.unit_price // "0" | tonumber),
        LineAmount: (.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "0" | tonumber),
        Currency: $inv.currency
      }
    ]
  }
