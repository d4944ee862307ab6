# cXML InvoiceDetailRequest -> invoice/v1 (one invoice; lines of every InvoiceDetailOrder)
.xml | path(["Request", "InvoiceDetailRequest"]) as $ir
| ($ir | kid("InvoiceDetailRequestHeader")) as $h
| ($ir | kid("InvoiceDetailSummary")) as $sum
| ([$sum | (path(["DueAmount", "Money"]), path(["NetAmount", "Money"]), path(["GrossAmount", "Money"]), path(["SubtotalAmount", "Money"]))
    | select(. != null and (text // "") != "")][0]) as $total
| {
    invoice_number: (($h | attr("invoiceID")) // error({message: "InvoiceDetailRequestHeader has no invoiceID", code: "3"})),
    invoice_date: ($h | attr("invoiceDate") | iso_date),
    currency: (($total | attr("currency")) // error({message: "the invoice summary carries no amount with a currency", code: "3"})),
    total_amount: ($total | text | decimal),
    tax_total: ($sum | path(["Tax", "Money"]) | text | decimal),
    po_number: opt($ir | kids("InvoiceDetailOrder") | path(["InvoiceDetailOrderInfo", "OrderReference"]) | attr("orderID") | nonempty),
    payment_terms: ($h | kid("PaymentTerm") | attr("payInNumberOfDays") | if . then "net \(.) days" else null end),
    allowances_charges: [($sum | path(["ShippingAmount", "Money"]) | select(. != null and (text // "") != "")
                          | {type: "charge", amount: (text | decimal), description: "shipping"}),
                         ($sum | path(["SpecialHandlingAmount", "Money"]) | select(. != null and (text // "") != "")
                          | {type: "charge", amount: (text | decimal), description: "special handling"})],
    lines: [$ir | kids("InvoiceDetailOrder") | kids("InvoiceDetailItem") as $i | ($i | kid("InvoiceDetailItemReference")) as $ref
      | {line_number: ($i | attr("invoiceLineNumber")),
         po_line_number: ($ref | attr("lineNumber")),
         quantity: ($i | attr("quantity") | decimal),
         uom: ($i | kid("UnitOfMeasure") | text | xwalk("uom")),
         unit_price: ($i | path(["UnitPrice", "Money"]) | text | decimal),
         amount: ($i | path(["SubtotalAmount", "Money"]) | text | decimal),
         item: ($ref | if . == null then null else cxml_item(.) end)}]
  }
| record("invoice/v1")
