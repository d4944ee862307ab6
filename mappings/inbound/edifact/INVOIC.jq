# EDIFACT INVOIC invoice (D93A to D01B) -> invoice/v1
.segments as $s
| ($s | head("LIN")) as $head
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| ([$s | loops("UNS"; [])[0] // [] | .[]]) as $summary
| {
    invoice_number: ($bgm | comp(2; 1) | if . == "" then fail($bgm; 2; "1"; "BGM holds no invoice number (1004)") else . end),
    invoice_date: (($head | edi_dtm(["137", "3"])) // error({message: "no invoice date (DTM+137 or DTM+3)", code: "3"})),
    due_date: ($head | edi_dtm(["13"])),
    po_number: ($head | edi_qual("RFF"; ["ON"]; 1; 2)),
    # CUX 6347 2 (reference) or 4 (invoicing) currency, else any CUX, else the currency of an amount
    currency: (($s | edi_qual("CUX"; ["2", "4"]; 1; 2)) // opt($s | segs("CUX") | comp(1; 2) | nonempty)
               // opt($s | segs("MOA") | comp(1; 3) | select(test("^[A-Z]{3}$")))
               // error({message: "no invoice currency (CUX, or a currency on an amount)", code: "3", missing: "CUX"})),
    # 77 invoice amount, 86 message total, 39 invoice total, 9 amount due
    total_amount: (($summary | edi_amount(["77"])) // ($summary | edi_amount(["86", "39", "9"]))
                   // error({message: "no invoice total (MOA+77, 86, 39 or 9) after UNS", code: "3"})),
    tax_total: ($summary | edi_amount(["176", "124", "150"])),
    payment_terms: opt($head | segs("PAT") | ([comps(2)[] | nonempty] | join(" ")) | nonempty),
    parties: [$head | segs("NAD") | edi_party | select(. != null)],
    allowances_charges: [$head | loops("ALC"; ["LIN", "UNS"])[] as $g | $g[0] as $alc
      | {type: ($alc | comp(1; 1) | if . == "A" then "allowance" elif . == "C" then "charge"
                else fail($alc; 1; "allowance or charge qualifier \(tojson) is not A or C") end),
         amount: ($g | edi_amount(["8", "204", "23", "25"])),
         description: opt($alc | comp(5; 4), comp(5; 5), comp(5; 1) | nonempty)}
      | select(.amount != null)],
    lines: [$s | loops("LIN"; ["UNS", "UNT"]) | to_entries[] | .key as $k | .value as $loop | $loop[0] as $lin
      | ($loop | opt(segs("QTY") | select(comp(1; 1) | IN("47", "46", "12", "21")))) as $qty
      | {
          line_number: ($lin | comp(1; 1) | if . == "" then "\($k + 1)" else . end),
          po_line_number: ($loop | edi_qual("RFF"; ["ON", "LI"]; 1; 3)),
          item: ($loop | edi_item | .buyer_part = (.buyer_part | xwalk("item"))),
          quantity: (if $qty == null then null else at_comp($qty; 1; 2; edi_decimal; "quantity") end),
          uom: (if $qty == null then null else $qty | comp(1; 3) | if . == "" then "PCE" else . end | xwalk("uom") end),
          unit_price: opt($loop | segs("PRI") | select(comp(1; 1) | IN("AAA", "AAB", "INV", "CAL")) as $p
                          | $p | comp(1; 2) | nonempty | at_comp($p; 1; 2; edi_decimal; "price")),
          amount: ($loop | edi_amount(["203", "66", "38"]))
        }]
  }
| record("invoice/v1")
