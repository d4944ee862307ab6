# payment_status/v1 -> X12 820 body
.record as $p
| [
    ["BPR", (if $p.status == "scheduled" then "I" elif $p.status == "rejected" then error({message: "an 820 cannot carry a rejected payment"}) else "C" end),
     $p.amount, "C", ($p.method // "ACH"), "", "", "", "", "", "", "", "", "", "", "", ($p.payment_date | to_x12_date)],
    ["TRN", "1", $p.payment_id],
    ["CUR", "PR", $p.currency],
    ($p.parties // [] | .[] | x12_party_out),
    ["ENT", "1"],
    ($p.invoices[] | ["RMR", "IV", .invoice_number, "", (.amount_paid // ""), "", (.discount // "")])
  ]
