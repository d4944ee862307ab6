# purchase_order/v1 -> the legacy ERP's order import: one CSV row per line, header fields repeated.
# Output: {columns, widths, align, rows}: with format = "csv" the connector writes the header
# row, then the rows; with format = "fixed" each row as one line of padded fields.
.record as $po | .partner as $p | (.target.erp_id // $p) as $account
| {
    columns: ["partner", "po_number", "purpose", "order_date", "currency", "line_number", "item",
              "quantity", "uom", "unit_price", "requested_delivery_date"],
    widths: [10, 22, 8, 10, 3, 6, 25, 12, 4, 14, 10],
    align: ["l", "l", "l", "l", "l", "r", "l", "r", "l", "r", "l"],
    rows: [
      $po.lines | to_entries[] | .key as $k | .value |
      [$account, $po.po_number, ($po.purpose // "original"), $po.order_date, ($po.currency // ""),
       (.line_number // "\($k + 1)"), (.item.buyer_part // .item.supplier_part // .item.gtin // ""),
       (.quantity // ""), (.uom // ""), (.unit_price // ""),
       (.requested_delivery_date // $po.requested_delivery_date // "")]
    ]
  }
