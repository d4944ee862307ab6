# invoice/v1 -> EDIFACT INVOIC body
.record as $inv
| [
    ["BGM", "380", $inv.invoice_number, "9"],
    ["DTM", ["137", ($inv.invoice_date | to_edi_date), "102"]],
    when($inv.due_date; ["DTM", ["13", ($inv.due_date | to_edi_date), "102"]]),
    when($inv.po_number; ["RFF", ["ON", $inv.po_number]]),
    ($inv.parties // [] | .[] | edi_party_out),
    ["CUX", ["2", $inv.currency, "4"]],
    when($inv.payment_terms; ["PAT", "1", ["", "", "", $inv.payment_terms]]),
    ($inv.allowances_charges // [] | .[] |
      ["ALC", (if .type == "allowance" then "A" else "C" end), "", "", "", ["", "", "", (.description // "")]],
      ["MOA", ["8", .amount]]),
    ($inv.lines | to_entries[] | .key as $k | .value | (.line_number // "\($k + 1)") as $n
      | (.item // {} | edi_item_out($n)),
        when(.quantity; ["QTY", ["47", .quantity, (.uom // "" | xwalk_back("uom"))]]),
        when(.amount; ["MOA", ["203", .amount]]),
        when(.unit_price; ["PRI", ["AAA", .unit_price]]),
        when(.po_line_number; ["RFF", ["LI", "", .po_line_number]])),
    ["UNS", "S"],
    ["MOA", ["77", $inv.total_amount]],
    when($inv.tax_total; ["MOA", ["176", $inv.tax_total]])
  ]
