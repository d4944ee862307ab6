# EDIFACT REMADV remittance advice (D96A to D01B) -> payment_status/v1
.segments as $s
| ($s | head("DOC")) as $head
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| {
    payment_id: ($bgm | comp(2; 1) | if . == "" then fail($bgm; 2; "1"; "BGM holds no document number (1004)") else . end),
    payment_date: (($head | edi_dtm(["209", "202", "137"]))
                   // error({message: "no payment date (DTM+209, 202 or 137)", code: "3"})),
    amount: (($s | loops("UNS"; [])[0] // [] | edi_amount(["12", "9", "128"])) // ($head | edi_amount(["12", "9", "128"]))
             // error({message: "no remitted amount (MOA+12, 9 or 128)", code: "3"})),
    currency: (($s | edi_qual("CUX"; ["2", "11"]; 1; 2)) // error({message: "no currency (CUX)", code: "3", missing: "CUX"})),
    method: opt($head | segs("PAI") | comp(1; 3) | nonempty),
    status: "paid",
    parties: [$head | segs("NAD") | edi_party | select(. != null)],
    invoices: [$s | loops("DOC"; ["UNS", "UNT"])[] as $g | $g[0] as $doc
      | {invoice_number: ($doc | comp(2; 1) | if . == "" then fail($doc; 2; "1"; "DOC holds no document number") else . end),
         amount_paid: ($g | edi_amount(["12", "9", "77"])),
         discount: ($g | edi_amount(["52"]))}]
  }
| record("payment_status/v1")
