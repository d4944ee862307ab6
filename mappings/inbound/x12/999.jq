# X12 999 implementation acknowledgement received -> functional_ack/v1, one record per
# answered transaction set (AK2), or one for the group when it lists none.
.segments as $s
| ($s | need_seg("AK1"; "functional group response header")) as $ak1
| ($s | need_seg("AK9"; "functional group response trailer")) as $ak9
| def status: if . == "A" then "accepted" elif . == "E" then "accepted_with_errors"
              elif . == "P" then "partially_accepted" else "rejected" end;
  ($s | loops("AK2"; ["AK9", "SE"])) as $sets
| if ($sets | length) == 0 then
    {acknowledged: "group", status: ($ak9 | el(1) | status), group_control: ($ak1 | el(2))} | record("functional_ack/v1")
  else
    $sets[] as $loop | $loop[0] as $ak2
    | {acknowledged: "transaction",
       status: ($loop | first_seg("IK5") // [] | el(1) | status),
       group_control: ($ak1 | el(2)),
       transaction_control: ($ak2 | el(2)),
       document: ($ak2 | el(1)),
       errors: [$loop | loops("IK3"; ["IK5"])[] as $seg | $seg[0] as $ik3
         | ([$seg | segs("IK4")] | if length == 0 then [null] else . end)[] as $ik4
         | {segment: ($ik3 | el(1)), position: ($ik3 | el(2)),
            element: (if $ik4 then $ik4 | comp(1; 1) else null end),
            code: (if $ik4 then $ik4 | el(3) else $ik3 | el(4) end),
            text: (if $ik4 then $ik4 | el(4) else null end)}]}
    | record("functional_ack/v1")
  end
