# invoice/v1 -> the legacy ERP's invoice import: one CSV row per line, header fields repeated.
# Output: {columns, widths, align, rows}: with format = "csv" the connector writes the header
# row, then the rows; with format = "fixed" each row as one line of padded fields.
.record as $inv | .partner as $p | (.target.erp_id // $p) as $vendor
| {
    columns: ["vendor", "invoice_number", "invoice_date", "currency", "total_amount", "po_number",
              "line_number", "item", "quantity", "uom", "unit_price", "line_amount"],
    widths: [10, 22, 10, 3, 14, 22, 6, 25, 12, 4, 14, 14],
    align: ["l", "l", "l", "l", "r", "l", "r", "l", "r", "l", "r", "r"],
    rows: [
      $inv.lines | to_entries[] | .key as $k | .value |
      [$vendor, $inv.invoice_number, $inv.invoice_date, $inv.currency, $inv.total_amount,
       ($inv.po_number // ""), (.line_number // "\($k + 1)"),
       (.item.buyer_part // .item.supplier_part // .item.gtin // ""), (.quantity // ""), (.uom // ""),
       (.unit_price // ""), (.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "")]
    ]
  }
