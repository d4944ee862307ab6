# X12 860 purchase order change (buyer initiated) -> purchase_order/v1 with purpose change,
# cancel or replace; each POC line carries the quantity now ordered (a deleted line: 0).
.segments as $s
| ($s | need_seg("BCH"; "beginning of purchase order change")) as $bch
| ($s | head("POC")) as $head
| {
    po_number: need($bch; 3; "purchase order number (BCH03)"),
    purpose: ($bch | el(1) | if . == "01" or . == "03" then "cancel" elif . == "04" then "change"
              elif . == "05" then "replace" elif . == "" then fail($bch; 1; "1"; "purpose code is missing")
              else fail($bch; 1; "purpose code \(tojson) is not one of 01, 03, 04, 05") end),
    po_type: ($bch | el(2)),
    order_date: (need($bch; 6; "purchase order date (BCH06)") | x12d($bch; 6)),
    currency: ($head | first_seg("CUR") // [] | el(2)),
    requested_delivery_date: ($head | x12_dtm(["002", "010", "074"])),
    notes: [$head | (segs("NTE") | el(2)), (segs("MSG") | el(1)) | nonempty],
    parties: ($head | x12_parties(["POC"])),
    lines: [$s | loops("POC"; ["CTT", "SE"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $poc
      | {
          line_number: ($poc | el(1) | if . == "" then "\($k + 1)" else . end),
          quantity: (if ($poc | el(2)) == "DI" then "0" else at($poc; 3; decimal; "quantity") end
                     // fail($poc; 3; "2"; "quantity ordered is missing")),
          uom: (($poc | el(5) | nonempty) // ($poc | comp(5; 1)) | if . == "" then fail($poc; 5; "2"; "unit of measure is missing") else xwalk("uom") end),
          unit_price: at($poc; 6; decimal; "unit price"),
          item: (($poc | x12_item(8)) + {description: ($loop | seg_with("PID"; 1; ["F"]) | el(5))}
                 | if item_ok then .buyer_part = (.buyer_part | xwalk("item"))
                   else fail($poc; 9; "2"; "no buyer part, vendor part or GTIN identifies the item") end),
          requested_delivery_date: ($loop | x12_dtm(["002", "010", "074"]))
        }]
  }
| record("purchase_order/v1")
