# ship_notice/v1 -> X12 856 body: shipment, then per order its packs (MAN GM with the SSCC)
# and items; items of no order hang under the shipment.
.record as $sn
| ($sn.packages // []) as $packs
| def pack_of($line): first($packs | to_entries[] | select(any(.value.lines[]; . == $line)) | .key) // null;
  # the hierarchy in order: S, then for each order O, its packs P with their items, its loose items
  ([{level: "S"}]
   + [($sn.po_numbers // [])[] as $po
      | {level: "O", po: $po},
        ([$sn.lines[] | select(.po_number == $po)] as $mine
         | ($packs | to_entries[] | .key as $pk | [$mine[] | select(pack_of(.) == $pk)] as $in
            | when(($in | length) > 0; {level: "P", sscc: $packs[$pk].sscc}, ($in[] | {level: "I", line: ., inpack: true}))),
           ($mine[] | select(pack_of(.) == null) | {level: "I", line: .}))]
   + [$sn.lines[] | select(.po_number == null) | {level: "I", line: ., loose: true}]) as $nodes
| [
    ["BSN", "00", $sn.shipment_id, ($sn.ship_date | to_x12_date), "0000"],
    (foreach ($nodes | to_entries[]) as $e ({s: null, o: null, p: null};
       ($e.key + 1 | tostring) as $id
       | if $e.value.level == "S" then .s = $id | .parent = ""
         elif $e.value.level == "O" then .o = $id | .p = null | .parent = .s
         elif $e.value.level == "P" then .p = $id | .parent = .o
         elif $e.value.loose then .parent = .s
         elif $e.value.inpack then .parent = .p
         else .parent = (.o // .s) end
       | .id = $id;
       . as $st | $e.value as $n
       | ["HL", $st.id, $st.parent, $n.level],
         (if $n.level == "S" then
            when($sn.carrier; ["TD5", "", "2", $sn.carrier]),
            when($sn.tracking_number; ["REF", "CN", $sn.tracking_number]),
            ["DTM", "011", ($sn.ship_date | to_x12_date)],
            when($sn.expected_delivery_date; ["DTM", "017", ($sn.expected_delivery_date | to_x12_date)]),
            ($sn.parties // [] | .[] | x12_party_out)
          elif $n.level == "O" then ["PRF", $n.po]
          elif $n.level == "P" then when($n.sscc; ["MAN", "GM", $n.sscc])
          else $n.line as $l
            | ["LIN", ($l.po_line_number // "")] + ($l.item // {} | x12_pairs_out),
              ["SN1", "", $l.quantity, ($l.uom // "" | xwalk_back("uom"))],
              ($l.item.description | when(.; ["PID", "F", "", "", "", .])),
              when($l.lot; ["REF", "LT", $l.lot])
          end))),
    ["CTT", ([$nodes[] | select(.level == "I")] | length | tostring)]
  ]
