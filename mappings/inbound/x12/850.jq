# X12 850 purchase order (003010 and later) -> purchase_order/v1
.segments as $s
| ($s | need_seg("BEG"; "beginning of purchase order")) as $beg
| ($s | loops("PO1"; ["CTT", "AMT", "SE"])) as $lines
| ($s | head("PO1")) as $head
| {
    po_number: need($beg; 3; "purchase order number (BEG03)"),
    purpose: ($beg | el(1) | if . == "" then fail($beg; 1; "1"; "purpose code is missing")
              else {"00": "original", "06": "original", "07": "original", "01": "cancel", "03": "cancel",
                    "04": "change", "05": "replace"}[.]
                   // fail($beg; 1; "purpose code \(tojson) is not one of 00, 01, 03, 04, 05, 06, 07") end),
    po_type: ($beg | el(2)),
    order_date: (need($beg; 5; "order date (BEG05)") | at($beg; 5; x12_date; "order date")),
    currency: ($head | first_seg("CUR") // [] | el(2)),
    requisition_id: ($head | seg_with("REF"; 1; ["RQ"]) | el(2)),
    payment_terms: ($head | first_seg("ITD") // null
                    | if . == null then null
                      elif el(12) != "" then el(12)
                      elif el(7) != "" then "net \(el(7)) days" else null end),
    requested_delivery_date: ($head | x12_dtm(["002", "010", "074"])),
    notes: [$head | (segs("NTE") | el(2)), (segs("MSG") | el(1)) | nonempty],
    parties: ($head | x12_parties(["PO1"])),
    lines: [$lines | to_entries[] | .key as $k | .value as $loop | $loop[0] as $po1
      | {
          line_number: ($po1 | el(1) | if . == "" then "\($k + 1)" else . end),
          quantity: (($po1 | el(2)) as $q
                     | if $q == "" then fail($po1; 2; "2"; "quantity is missing")
                       else at($po1; 2; decimal; "quantity") end),
          uom: ($po1 | el(3) | if . == "" then fail($po1; 3; "2"; "unit of measure is missing") else xwalk("uom") end),
          unit_price: at($po1; 4; decimal; "unit price"),
          item: (($po1 | x12_item(6))
                 + ({description: ($loop | seg_with("PID"; 1; ["F"]) | el(5))})
                 | if item_ok then .buyer_part = (.buyer_part | xwalk("item"))
                   else fail($po1; 7; "2"; "no buyer part, vendor part or GTIN identifies the item") end),
          requested_delivery_date: ($loop | x12_dtm(["002", "010", "074"]))
        }],
    total_amount: (($s | seg_with("AMT"; 1; ["TT"])) as $a | if $a == null then null else at($a; 2; decimal; "amount") end)
  }
| record("purchase_order/v1")
