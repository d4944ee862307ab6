# invoice/v1 -> cXML InvoiceDetailRequest for Coupa (edigate writes the envelope and Header:
# payloadID = the record's id, From/To from the target's values, SharedSecret from its secret).
# Output: JSONML, [name, {attributes}, children...].
.record as $inv
| def money($v): ["Money", {currency: $inv.currency}, $v];
  ($inv.po_number // error("Coupa needs a PO reference on every invoice (none on \($inv.invoice_number))")) as $po
| ["InvoiceDetailRequest", {},
    ["InvoiceDetailRequestHeader", {invoiceID: $inv.invoice_number, purpose: "standard", operation: "new",
                                    invoiceDate: $inv.invoice_date},
      ["InvoiceDetailHeaderIndicator", {}],
      ["InvoiceDetailLineIndicator", {}]],
    ["InvoiceDetailOrder", {},
      ["InvoiceDetailOrderInfo", {}, ["OrderReference", {orderID: $po}]],
      ($inv.lines | to_entries[] | .key as $k | .value |
        ["InvoiceDetailItem", {invoiceLineNumber: "\($k + 1)", quantity: (.quantity // "0")},
          ["UnitOfMeasure", {}, (.uom // "EA")],
          ["UnitPrice", {}, money(.unit_price // "0")],
          ["InvoiceDetailItemReference", {lineNumber: (.po_line_number // .line_number // "\($k + 1)")},
            ["ItemID", {}, ["SupplierPartID", {}, (.item.supplier_part // .item.buyer_part // .item.gtin // "")]]],
          ["SubtotalAmount", {}, money(.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "0")]])],
    ["InvoiceDetailSummary", {},
      ["SubtotalAmount", {}, money($inv.total_amount)],
      ["Tax", {}, money($inv.tax_total // "0")],
      ["GrossAmount", {}, money($inv.total_amount)],
      ["NetAmount", {}, money($inv.total_amount)],
      ["DueAmount", {}, money($inv.total_amount)]]
  ]
