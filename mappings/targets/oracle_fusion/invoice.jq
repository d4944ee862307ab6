# invoice/v1 -> Oracle Fusion payables invoice (POST /fscmRestApi/resources/11.13.18.05/invoices),
# one PO-matched item line per line, then a freight line per charge.
# Input: the record's envelope, with .target = {name, erp_id, values}.
.target as $t | .record as $inv | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $supplier
| ($t.values.business_unit // error("target \($t.name) has no values.business_unit")) as $bu
| ($inv.lines | length) as $n
| {
    InvoiceNumber: $inv.invoice_number,
    InvoiceCurrency: $inv.currency,
    InvoiceAmount: $inv.total_amount,
    InvoiceDate: $inv.invoice_date,
    BusinessUnit: $bu,
    Supplier: $supplier,
    SupplierSite: ($t.values.supplier_site // "MAIN"),
    Description: "EDI invoice \($inv.invoice_number) from \($p)",
    invoiceLines: ([
      $inv.lines | to_entries[] | .key as $k | .value | {
        LineNumber: "\($k + 1)",
        LineType: "Item",
        Quantity: (.quantity // "0"),
        UnitPrice: (.unit_price // "0"),
        LineAmount: (.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "0"),
        PurchaseOrderNumber: ($inv.po_number // ""),
        PurchaseOrderLineNumber: (.po_line_number // .line_number // "\($k + 1)"),
        PurchaseOrderScheduleLineNumber: "1"
      }
    ] + [
      ($inv.allowances_charges // []) | map(select(.type == "charge")) | to_entries[] | {
        LineNumber: "\($n + .key + 1)",
        LineType: "Freight",
        LineAmount: .value.amount
      }
    ])
  }
