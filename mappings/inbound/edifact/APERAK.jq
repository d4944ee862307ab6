# EDIFACT APERAK application error and acknowledgement -> functional_ack/v1 for the
# referenced message.
.segments as $s
| ($s | need_seg("BGM"; "beginning of message")) as $bgm
| [$s | loops("ERC"; ["UNT"])[] as $g | $g[0] as $erc
   | {code: ($erc | comp(1; 1)), text: opt($g | segs("FTX") | ([comps(4)[] | nonempty] | join(" ")) | nonempty)}] as $errors
| {acknowledged: "transaction",
   # 1225: 27 not accepted; an APERAK with errors and no function code is a rejection
   status: ($bgm | comp(3; 1) | if . == "27" then "rejected" elif ($errors | length) > 0 and . != "29" then "rejected"
            else "accepted" end),
   transaction_control: opt($s | segs("RFF") | select(comp(1; 1) | IN("ACW", "AGO", "ON", "DM", "CW")) | comp(1; 2) | nonempty),
   document: opt($s | segs("DOC") | comp(1; 1) | nonempty),
   errors: $errors}
| record("functional_ack/v1")
