# X12 855 purchase order acknowledgement -> po_acknowledgement/v1
.segments as $s
| ($s | need_seg("BAK"; "beginning of acknowledgement")) as $bak
| ($s | head("PO1")) as $head
| {
    po_number: need($bak; 3; "purchase order number (BAK03)"),
    status: ($bak | el(2) | if . == "AD" or . == "AK" or . == "AT" then "accepted"
             elif . == "AC" or . == "AE" or . == "AP" then "accepted_with_changes"
             elif . == "RD" or . == "RJ" or . == "RF" or . == "RO" then "rejected"
             else fail($bak; 2; "acknowledgement type \(tojson) is not one of AC, AD, AE, AK, AP, AT, RD, RF, RJ, RO") end),
    ack_date: x12d($bak; 4),
    supplier_order_number: ($bak | el(8)),
    lines: [$s | loops("PO1"; ["CTT", "SE"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $po1
      | ($loop | first_seg("ACK")) as $ack
      | {
          line_number: ($po1 | el(1) | if . == "" then "\($k + 1)" else . end),
          status: ($ack // [] | el(1) | if . == "" then null elif . == "IA" then "accepted"
                   elif . == "IR" or . == "ID" or . == "R1" or . == "R2" or . == "R3" or . == "R4" then "rejected"
                   elif . == "IB" or . == "IW" then "backordered"
                   else "changed" end),
          item: (($po1 | x12_item(6)) + {description: ($loop | seg_with("PID"; 1; ["F"]) | el(5))}
                 | .buyer_part = (.buyer_part | xwalk("item"))),
          quantity: (if $ack != null and ($ack | el(2)) != "" then at($ack; 2; decimal; "quantity") else at($po1; 2; decimal; "quantity") end),
          uom: (if $ack != null and ($ack | el(3)) != "" then $ack | el(3) else $po1 | el(3) end | xwalk("uom")),
          unit_price: at($po1; 4; decimal; "unit price"),
          scheduled_date: (if $ack != null and ($ack | el(5)) != "" then x12d($ack; 5)
                           else opt($loop | segs("SCH") as $sch | x12d($sch; 6) | nonempty)
                                // ($loop | x12_dtm(["067", "068", "002"])) end)
        }]
  }
| record("po_acknowledgement/v1")
