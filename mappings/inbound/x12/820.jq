# X12 820 payment order / remittance advice -> payment_status/v1
.segments as $s
| ($s | need_seg("BPR"; "beginning of payment order")) as $bpr
| ($s | head("ENT") | head("RMR")) as $head
| {
    payment_id: (($s | first_seg("TRN") // [] | el(2) | nonempty)
                 // error({message: "no trace number (TRN02) identifies the payment", code: "3", missing: "TRN"})),
    payment_date: (need($bpr; 16; "payment effective date (BPR16)") | x12d($bpr; 16)),
    amount: (need($bpr; 2; "payment amount (BPR02)") | at($bpr; 2; decimal; "amount")),
    currency: (($head | first_seg("CUR") // [] | el(2) | nonempty) // "USD"),
    method: ($bpr | el(4)),
    # C: payment with remittance; D: debit; I: remittance information only (payment follows)
    status: ($bpr | el(1) | if . == "I" then "scheduled" elif . == "C" or . == "D" or . == "X" or . == "P" then "paid" else null end),
    parties: ($head | x12_parties(["ENT", "RMR"])),
    invoices: [$s | loops("RMR"; ["SE", "ENT"])[] as $loop | $loop[0] as $rmr
      | {invoice_number: need($rmr; 2; "invoice number (RMR02)"),
         amount_paid: at($rmr; 4; decimal; "amount paid"),
         discount: at($rmr; 6; decimal; "discount")}]
  }
| record("payment_status/v1")
