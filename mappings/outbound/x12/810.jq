# invoice/v1 -> X12 810 body. TDS and SAC amounts are N2: a value with more than two
# decimals is refused, never rounded.
.record as $inv
| [
    ["BIG", ($inv.invoice_date | to_x12_date), $inv.invoice_number, "", ($inv.po_number // "")],
    ["CUR", "SE", $inv.currency],
    ($inv.parties // [] | .[] | x12_party_out),
    when($inv.payment_terms or $inv.due_date;
      ["ITD", "", "", "", "", "", ($inv.due_date | to_x12_date), "", "", "", "", "", ($inv.payment_terms // "")]),
    ($inv.lines | to_entries[] | .key as $k | .value |
      ["IT1", (.line_number // "\($k + 1)"), (.quantity // ""), (.uom // "" | xwalk_back("uom")), (.unit_price // ""), ""]
        + (.item // {} | x12_pairs_out),
      (.item.description | when(.; ["PID", "F", "", "", "", .])),
      (.po_line_number | when(.; ["REF", "LI", .]))),
    ["TDS", ($inv.total_amount | to_implied(2))],
    when($inv.tax_total; ["TXI", "TX", $inv.tax_total]),
    ($inv.allowances_charges // [] | .[] |
      ["SAC", (if .type == "allowance" then "A" else "C" end), "ZZZZ", "", "", (.amount | to_implied(2)),
       "", "", "", "", "", "", "", "", "", (.description // "")]),
    ["CTT", ($inv.lines | length | tostring)]
  ]
