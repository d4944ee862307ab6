# invoice/v1 -> SAP S/4HANA supplier invoice (API_SUPPLIERINVOICE_PROCESS_SRV, A_SupplierInvoice,
# OData V2: dates as /Date(ms)/, amounts as strings), one PO-referenced item per line.
# Input: the record's envelope, with .target = {name, erp_id, values}.
.target as $t | .record as $inv | .partner as $p
| ($t.erp_id // error("partner \($p) has no [partners.erp_ids] entry for target \($t.name)")) as $supplier
| ($t.values.company_code // error("target \($t.name) has no values.company_code")) as $company
| {
    CompanyCode: $company,
    DocumentDate: ($inv.invoice_date | to_odata_v2_date),
    PostingDate: ($inv.invoice_date | to_odata_v2_date),
    SupplierInvoiceIDByInvcgParty: $inv.invoice_number,
    InvoicingParty: $supplier,
    DocumentCurrency: $inv.currency,
    InvoiceGrossAmount: $inv.total_amount,
    AccountingDocumentType: ($t.values.document_type // "RE"),
    TaxIsCalculatedAutomatically: true,
    to_SuplrInvcItemPurOrdRef: {results: [
      $inv.lines | to_entries[] | .key as $k | .value | {
        SupplierInvoiceItem: ("\($k + 1)" | zpad(4)),
        PurchaseOrder: ($inv.po_number // ""),
        PurchaseOrderItem: ((.po_line_number // .line_number // "\($k + 1)") | tostring | tonumber * 10 | zpad(5)),
        DocumentCurrency: $inv.currency,
        SupplierInvoiceItemAmount: (.amount // ((.unit_price // "0") as $u | .quantity | dec_mul($u)) // "0"),
        QuantityInPurchaseOrderUnit: (.quantity // "0"),
        PurchaseOrderQuantityUnit: (.uom // "")
      } + (if $t.values.tax_code then {TaxCode: $t.values.tax_code} else {} end)
    ]}
  }
