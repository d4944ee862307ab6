# EDIFACT ORDERS (D96A to D01B) -> purchase_order/v1
.segments as $s
| ($s | head("LIN")) as $head
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| ($s | loops("LIN"; ["UNS", "UNT"])) as $lines
| [$head | segs("DTM") | select(comp(1; 1) | IN("137", "4"))] as $doc_dates
| {
    po_type: ($bgm | comp(1; 1)),
    # D96A: 1004 is element 2; D01B: C106 whose first component is 1004
    po_number: (($bgm | comp(2; 1)) | if . == "" then fail($bgm; 2; "1"; "BGM holds no order number (1004)") else . end),
    purpose: ({"1": "cancel", "3": "cancel", "4": "change", "5": "replace"}[$bgm | comp(3; 1)] // "original"),
    # an unreadable document date counts only when no other document date is readable
    order_date: (opt($doc_dates[] as $d | try ($d | comp(1; 2) | edi_date($d | comp(1; 3))) catch empty | nonempty)
                 // (if ($doc_dates | length) > 0
                     then $doc_dates[0] as $d | fail($d; 1; "8"; "document date \($d | comp(1; 2) | tojson) (format \($d | comp(1; 3) | tojson)) is not a valid date")
                     else error({message: "no document date (DTM+137)", code: "3"}) end)),
    requested_delivery_date: opt($head | segs("DTM") | select(comp(1; 1) | IN("2", "64", "69")) as $d
                               | try ($d | comp(1; 2) | edi_date($d | comp(1; 3))) catch empty | nonempty),
    currency: opt($s | segs("CUX") | comp(1; 2) | nonempty),
    notes: [$head | segs("FTX") | ([comps(4)[] | nonempty] | join("")) | nonempty],
    parties: [$head | segs("NAD") | edi_party | select(. != null)],
    lines: [$lines | to_entries[] | .key as $k | .value as $loop | $loop[0] as $lin
      | [$loop | segs("QTY") | select(comp(1; 1) | IN("21", "113"))] as $ordered
      | (($ordered + [$loop | segs("QTY") | select(comp(1; 1) == "1")])[0]) as $qty
      | {
          line_number: ($lin | comp(1; 1) | if . == "" then "\($k + 1)" else . end),
          item: ($loop | edi_item
            | if item_ok then .buyer_part = (.buyer_part | xwalk("item"))
              else fail($lin; 3; "line \($k + 1) identifies no item") end),
          quantity: (if $qty == null then fail($lin; 0; "1"; "line \($k + 1) has no ordered quantity (QTY+21)")
                     else at_comp($qty; 1; 2; edi_decimal; "quantity") end),
          # the unit defaults to piece (PCE) when the sender gives none
          uom: ($qty // [] | comp(1; 3) | if . == "" then "PCE" else . end | xwalk("uom")),
          unit_price: opt($loop | segs("PRI") as $p | $p | comp(1; 2) | nonempty
                            | at_comp($p; 1; 2; edi_decimal; "price")),
          requested_delivery_date: opt($loop | segs("DTM") | select(comp(1; 1) | IN("2", "64", "69")) as $d
                                     | try ($d | comp(1; 2) | edi_date($d | comp(1; 3))) catch empty | nonempty)
        }],
    total_amount: ([$s | segs("MOA") | select(comp(1; 1) | IN("79", "86", "128")) as $m
                     | $m | comp(1; 2) | nonempty | at_comp($m; 1; 2; edi_decimal; "amount")] | last)
  }
| record("purchase_order/v1")
