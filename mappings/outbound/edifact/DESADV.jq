# ship_notice/v1 -> EDIFACT DESADV body: one CPS level per package (GIN+BJ with the SSCC),
# lines outside any package under the first level.
.record as $sn
| ($sn.packages // []) as $packs
| def line_out($n): (.item // {} | edi_item_out($n)),
    ["QTY", ["12", .quantity, (.uom // "" | xwalk_back("uom"))]],
    when(.lot; ["RFF", ["BT", .lot]]),
    when(.po_number; ["RFF", ["ON", .po_number, (.po_line_number // "")]]);
  [$sn.lines[] | . as $l | select(any($packs[].lines[]; . == $l) | not)] as $loose
| [
    ["BGM", "351", $sn.shipment_id, "9"],
    ["DTM", ["11", ($sn.ship_date | to_edi_date), "102"]],
    when($sn.expected_delivery_date; ["DTM", ["132", ($sn.expected_delivery_date | to_edi_date), "102"]]),
    ($sn.po_numbers // [] | .[] | ["RFF", ["ON", .]]),
    when($sn.tracking_number; ["RFF", ["CN", $sn.tracking_number]]),
    ($sn.parties // [] | .[] | edi_party_out),
    when($sn.carrier; ["TDT", "20", "", "", "", ["", "", "", $sn.carrier]]),
    ["CPS", "1"],
    ($loose | to_entries[] | .key as $k | .value | line_out("\($k + 1)")),
    ($packs | to_entries[] | .key as $pk | .value as $p
      | ["CPS", "\($pk + 2)", "1"],
        ["PAC", "1"],
        when($p.sscc; ["PCI", "33E"], ["GIN", "BJ", $p.sscc]),
        ($p.lines | to_entries[] | .key as $k | .value | line_out("\($pk + 1)\($k + 1)")))
  ]
