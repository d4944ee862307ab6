# X12 810 invoice -> invoice/v1. TDS and SAC amounts are N2 (implied two decimals).
.segments as $s
| ($s | need_seg("BIG"; "beginning of invoice")) as $big
| ($s | head("IT1")) as $head
| ($s | need_seg("TDS"; "total monetary value summary")) as $tds
| {
    invoice_number: need($big; 2; "invoice number (BIG02)"),
    invoice_date: (need($big; 1; "invoice date (BIG01)") | x12d($big; 1)),
    po_number: ($big | el(4)),
    # an 810 without CUR is in US dollars, the X12 default; a partner mapping can say otherwise
    currency: (($head | first_seg("CUR") // [] | el(2) | nonempty) // "USD"),
    total_amount: (need($tds; 1; "total invoice amount (TDS01)") | at($tds; 1; implied(2); "amount")),
    tax_total: opt($s | segs("TXI") as $t | at($t; 2; decimal; "tax amount") | nonempty),
    payment_terms: ($head | first_seg("ITD") // null
                    | if . == null then null elif el(12) != "" then el(12)
                      elif el(7) != "" then "net \(el(7)) days" else null end),
    due_date: opt($head | segs("ITD") as $i | x12d($i; 6) | nonempty),
    parties: ($head | x12_parties(["IT1", "ITD", "DTM", "FOB", "PID", "TDS"])),
    allowances_charges: [$s | head("IT1") + ($s | loops("TDS"; [])[0] // []) | segs("SAC") as $sac
       | {type: ($sac | el(1) | if . == "A" then "allowance" elif . == "C" then "charge"
                 else fail($sac; 1; "allowance or charge indicator \(tojson) is not A or C") end),
          amount: at($sac; 5; implied(2); "amount"),
          description: (($sac | el(15) | nonempty) // ($sac | el(2)))}
       | select(.amount != null)],
    lines: [$s | loops("IT1"; ["TDS", "CTT", "SE"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $it1
      | {
          line_number: ($it1 | el(1) | if . == "" then "\($k + 1)" else . end),
          po_line_number: opt($loop | segs("REF") | select(el(1) == "LI") | el(2) | nonempty),
          quantity: at($it1; 2; decimal; "quantity"),
          uom: ($it1 | el(3) | xwalk("uom")),
          unit_price: at($it1; 4; decimal; "unit price"),
          item: (($it1 | x12_item(6)) + {description: ($loop | seg_with("PID"; 1; ["F"]) | el(5))}
                 | if item_ok then .buyer_part = (.buyer_part | xwalk("item"))
                   else fail($it1; 7; "2"; "no buyer part, vendor part or GTIN identifies the item") end)
        }]
  }
| record("invoice/v1")
