# EDIFACT DESADV despatch advice (D96A to D01B) -> ship_notice/v1. Packages are the CPS
# levels whose PCI/GIN carries an SSCC (GIN+BJ); their lines are the LINs under them.
.segments as $s
| ($s | head("CPS") | head("LIN")) as $head
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| [$s | loops("LIN"; ["CPS", "UNS", "UNT"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $lin
    | ($loop | opt(segs("QTY") | select(comp(1; 1) | IN("12", "21", "1")))) as $qty
    | {line: $lin,
       body: {
         po_number: ($loop | edi_qual("RFF"; ["ON"]; 1; 2)),
         po_line_number: (($loop | edi_qual("RFF"; ["ON", "LI"]; 1; 3)) // ($lin | comp(1; 1))),
         item: ($loop | edi_item | .buyer_part = (.buyer_part | xwalk("item"))),
         quantity: (if $qty == null then fail($lin; 0; "1"; "line \($k + 1) has no despatched quantity (QTY+12)")
                    else at_comp($qty; 1; 2; edi_decimal; "quantity") end),
         uom: ($qty | comp(1; 3) | if . == "" then "PCE" else . end | xwalk("uom")),
         lot: (($loop | edi_qual("RFF"; ["BT"]; 1; 2)) // opt($loop | segs("GIN") | select(comp(1; 1) == "BX") | comp(2; 1) | nonempty))}}
  ] as $lines
| [$s | loops("CPS"; ["UNS", "UNT"])[] as $cps
    | {sscc: opt($cps | segs("GIN") | select(comp(1; 1) == "BJ") | comp(2; 1) | nonempty),
       lines: [$cps | loops("LIN"; ["UNS", "UNT"])[] | .[0] as $l | $lines[] | select(.line == $l) | .body]}
    | select(.sscc != null)] as $packages
| {
    shipment_id: ($bgm | comp(2; 1) | if . == "" then fail($bgm; 2; "1"; "BGM holds no despatch advice number (1004)") else . end),
    ship_date: (($head | edi_dtm(["11"])) // ($head | edi_dtm(["137"]))
                // error({message: "no despatch date (DTM+11) or document date (DTM+137)", code: "3"})),
    expected_delivery_date: ($head | edi_dtm(["132", "17", "2"])),
    carrier: opt($head | segs("TDT") | (comp(5; 1) | nonempty), (comp(5; 4) | nonempty)),
    tracking_number: ($head | edi_qual("RFF"; ["CN", "BM", "AAS"]; 1; 2)),
    parties: [$head | segs("NAD") | edi_party | select(. != null)],
    po_numbers: ([($head | edi_qual("RFF"; ["ON"]; 1; 2)), ($lines[].body.po_number) | nonempty] | unique),
    lines: [$lines[].body],
    packages: $packages
  }
| record("ship_notice/v1")
