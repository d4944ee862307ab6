# invoice/v1 -> the legacy ERP's invoice import: one CSV row per line, header fields repeated.
# Output: {columns, rows}; the connector writes the header row, then the rows.
.record as $inv | .partner as $p | (.target.erp_id // $p) as $vendor
| {
    columns: ["vendor", "invoice_number", "invoice_date", "currency", "total_amount", "po_number",
              "line_number", "item", "quantity", "uom", "unit_price", "line_amount"],
    rows: [
      $inv.lines | to_entries[] | .key as $k | .value |
      [$vendor, $inv.invoice_number, $inv.invoice_date, $inv.currency, $inv.total_amount,
       ($inv.po_number // ""), (.line_number // "\($k + 1)"),
       (.item.buyer_part // .item.supplier_part // .item.gtin // ""), (.quantity // ""), (.uom // ""),
       (.unit_price // ""), (.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "")]
    ]
  }
