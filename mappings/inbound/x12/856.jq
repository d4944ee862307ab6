# X12 856 ship notice -> ship_notice/v1. The HL hierarchy (S shipment, O order, P pack,
# I item) gives each item its order (PRF) and its pack (MAN GM/SSCC).
.segments as $s
| ($s | need_seg("BSN"; "beginning of ship notice")) as $bsn
| [$s | loops("HL"; ["CTT", "SE"])[] | {id: (.[0] | el(1)), parent: (.[0] | el(2)), level: (.[0] | el(3)), segs: .}] as $hls
| (reduce $hls[] as $h ({}; .[$h.id] = $h)) as $by_id
# The nearest HL at $level from this one up through its parents; parents that loop (or nest
# deeper than 50 levels) reject the document instead of running forever.
| def up($level): {h: ., n: 0}
    | until(.h == null or .h.level == $level;
            if .n >= 50 then error({message: "the HL parents loop or nest deeper than 50 levels", code: "7"})
            else {h: $by_id[.h.parent], n: (.n + 1)} end)
    | .h;
  ($hls | map(select(.level == "S")) | .[0].segs // $s) as $ship
| [$hls[] | select(.level == "I") as $h | $h.segs as $g
    | ($g | first_seg("SN1")) as $sn1
    | ($by_id[$h.parent] | up("O")) as $order
    | ($by_id[$h.parent] | up("P")) as $pack
    | { po_number: ($order.segs // [] | first_seg("PRF") // [] | el(1)),
        po_line_number: ($g | first_seg("LIN") // [] | el(1)),
        item: (($g | first_seg("LIN") // ["LIN"] | x12_item(2) | .buyer_part = (.buyer_part | xwalk("item")))
               + {description: ($g | seg_with("PID"; 1; ["F"]) | el(5))}),
        quantity: (if $sn1 == null then fail($g[0]; 0; "3"; "item HL \($h.id) has no SN1 quantity") else at($sn1; 2; decimal; "quantity") end),
        uom: ($sn1 | el(3) | xwalk("uom")),
        lot: (opt($g | segs("REF") | select(el(1) == "LT") | el(2))
              // ($g | first_seg("LIN") | pair(2; ["LT"]))),
        pack: ($pack.id // null),
        sscc: ($pack.segs // [] | opt(segs("MAN") | select(el(1) == "GM") | el(2))) }
  ] as $items
| {
    shipment_id: need($bsn; 2; "shipment identification (BSN02)"),
    ship_date: (($ship | x12_dtm(["011"])) // x12d($bsn; 3)),
    expected_delivery_date: ($ship | x12_dtm(["017", "067"])),
    carrier: opt($ship | segs("TD5") | (el(3) | nonempty), (el(5) | nonempty)),
    tracking_number: opt($ship | segs("REF") | select(el(1) == "CN" or el(1) == "2I") | el(2) | nonempty),
    parties: ($ship | x12_parties(["HL"])),
    po_numbers: ([$hls[] | select(.level == "O") | .segs | first_seg("PRF") // [] | el(1) | nonempty] | unique),
    lines: [$items[] | del(.pack, .sscc)],
    packages: [$items | map(select(.pack != null)) | group_by(.pack)[]
               | {sscc: .[0].sscc, lines: map(del(.pack, .sscc))}]
  }
| record("ship_notice/v1")
