# CSV invoice lines (read through a column map in mappings/csv/) -> invoice/v1: one record per
# invoice_number, header fields from the first row of each invoice.
def need($row; $f): $row[$f] // error({message: "line \($row._line): no \($f)", line: $row._line});
# Rows are grouped in one pass (keyed by invoice_number, absent as "": a value is never empty),
# so the time grows with the rows, not with rows times documents.
(reduce .rows[] as $r ({}; .[$r.invoice_number // ""] += [$r]))[] as $lines
| $lines[0] as $h
| {
    invoice_number: need($h; "invoice_number"),
    invoice_date: need($h; "invoice_date"),
    due_date: $h.due_date,
    po_number: $h.po_number,
    currency: need($h; "currency"),
    total_amount: need($h; "total_amount"),
    tax_total: $h.tax_total,
    lines: [$lines | to_entries[] | .key as $k | .value as $r
      | {line_number: ($r.line_number // "\($k + 1)"),
         item: {buyer_part: ($r.buyer_part | xwalk("item")), supplier_part: $r.supplier_part, gtin: $r.gtin, description: $r.description},
         quantity: $r.quantity, uom: ($r.uom | xwalk("uom")), unit_price: $r.unit_price, amount: $r.amount}]
  }
| record("invoice/v1")
