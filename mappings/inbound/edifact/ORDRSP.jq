# EDIFACT ORDRSP purchase order response (D96A to D01B) -> po_acknowledgement/v1
.segments as $s
| ($s | head("LIN")) as $head
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| {
    po_number: (($head | edi_qual("RFF"; ["ON"]; 1; 2))
                // error({message: "no order number (RFF+ON) says which order is answered", code: "3", missing: "RFF"})),
    # 1225: 29 accepted without amendment, 4 / 30 accepted with amendment, 27 not accepted
    status: ($bgm | comp(3; 1) | if . == "27" then "rejected" elif . == "4" or . == "30" then "accepted_with_changes" else "accepted" end),
    ack_date: ($head | edi_dtm(["137"])),
    supplier_order_number: ($bgm | comp(2; 1)),
    lines: [$s | loops("LIN"; ["UNS", "UNT"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $lin
      | ($loop | opt(segs("QTY") | select(comp(1; 1) | IN("21", "113", "12", "1")))) as $qty
      | {
          line_number: ($lin | comp(1; 1) | if . == "" then "\($k + 1)" else . end),
          # 1229: 5 accepted without amendment, 3 changed, 7 not accepted, 1 added
          status: ($lin | comp(2; 1) | if . == "5" then "accepted" elif . == "7" then "rejected"
                   elif . == "3" or . == "1" then "changed" else null end),
          item: ($loop | edi_item | .buyer_part = (.buyer_part | xwalk("item"))),
          quantity: (if $qty == null then null else at_comp($qty; 1; 2; edi_decimal; "quantity") end),
          uom: (if $qty == null then null else $qty | comp(1; 3) | if . == "" then "PCE" else . end | xwalk("uom") end),
          unit_price: opt($loop | segs("PRI") as $p | $p | comp(1; 2) | nonempty | at_comp($p; 1; 2; edi_decimal; "price")),
          scheduled_date: ($loop | edi_dtm(["2", "69", "67", "17"]))
        }]
  }
| record("po_acknowledgement/v1")
