# EDIFACT CONTRL syntax and service report received -> functional_ack/v1: one record per
# answered message (UCM), or one for the interchange (UCI) when it lists none.
.segments as $s
| ($s | need_seg("UCI"; "interchange response")) as $uci
| def status: if . == "7" then "accepted" elif . == "4" then "rejected" elif . == "8" then "accepted" else "accepted_with_errors" end;
  ($s | loops("UCM"; ["UNT"])) as $msgs
| if ($msgs | length) == 0 then
    {acknowledged: "interchange", status: ($uci | comp(4; 1) | status), interchange_control: ($uci | comp(1; 1)),
     errors: [$uci | select(comp(5; 1) != "") | {code: comp(5; 1), segment: comp(6; 1), element: comp(7; 1)}]}
    | record("functional_ack/v1")
  else
    $msgs[] as $g | $g[0] as $ucm
    | {acknowledged: "transaction",
       status: ($ucm | comp(3; 1) | status),
       interchange_control: ($uci | comp(1; 1)),
       transaction_control: ($ucm | comp(1; 1)),
       document: ($ucm | comp(2; 1)),
       errors: ([$ucm | select(comp(4; 1) != "") | {code: comp(4; 1)}]
                + [$g | loops("UCS"; ["UCM"])[] as $u | $u[0] as $ucs
                   | ([$u | segs("UCD")] | if length == 0 then [null] else . end)[] as $ucd
                   | {position: ($ucs | comp(1; 1)), segment: null,
                      element: (if $ucd then $ucd | comp(2; 1) else null end),
                      code: (if $ucd then $ucd | comp(1; 1) else $ucs | comp(2; 1) end)}])}
    | record("functional_ack/v1")
  end
