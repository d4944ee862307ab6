# edigate mapping library, loaded before every mapping in this folder (inbound and outbound).
# Mappings are jq programs (the jaq dialect). Natives written in Rust, exact and strict:
#   x12_date          "20260517" or "260517" -> "2026-05-17"
#   edi_date($fmt)    EDIFACT 2379 format 102 / 203 / 101 -> "YYYY-MM-DD"
#   decimal           X12 R: ".5" -> "0.5" (a point only)
#   edi_decimal       EDIFACT: either decimal mark, "1,25" -> "1.25"
#   implied($n)       X12 Nn: "12550" | implied(2) -> "125.50"
#   to_implied($n)    "125.5" | to_implied(2) -> "12550" (fails rather than round)
#   loops($id; $stop) segments -> loops starting at tag $id, each ending before the next $id
#                     or a tag in $stop
#   loops_of($id; $members) loops starting at $id that go on while tags are in $members
#   pairs($n), pair($n; $quals) X12 qualifier/id pairs from element n on
#   el, comp, comps, first_seg, seg_list: segment access (below)
#   head, edi_party, edi_item, x12_party: answered in Rust (native_NAME) for segments made
#                     of text; the jq text below (NAME_jq) answers for anything else
# Empty strings, nulls, [] and {} are dropped from records, so absent fields need no filtering.

def IN(s): any(s == .; .);
# The first output of f, or null when it has none (a field built from nothing is absent).
def opt(f): first(f) // null;

# ---- XML (cXML) as JsonML: ["Tag", {attributes}, child, ...] ----
def kids($name): .[2:][] | select(type == "array" and .[0] == $name);
def kid($name): if . == null then null else opt(kids($name)) end;
def path($names): reduce $names[] as $n (.; kid($n));
def attr($n): if . == null then null else .[1][$n] end;
def text: if . == null then null else [.[2:][] | select(type == "string")] | join("") end;
# cXML dates are ISO 8601 date-times; the date part is the sender's calendar date.
def iso_date: if . == null or . == "" then null else .[0:10] end;

# ---- segments: [tag, element 1, element 2, ...]; composite elements are arrays ----
# Natives: el($n) element n as text ("" when absent; the first component of a composite),
# comp($n; $c) component c of element n, comps($n) every component of element n,
# first_seg($id) the first segment tagged $id (null when none), seg_list($id) all of them,
# seg_with($id; $n; $values) the first tagged $id whose element $n is one of $values.
def segs($id): seg_list($id)[];
# The segments before the first one tagged $id (a transaction's heading area).
def head_jq($id): (map(.[0]) | index($id)) as $i | if $i == null then . else .[:$i] end;
def head($id): native_head($id) as $r | if $r == false then head_jq($id) else $r end;
def nonempty: select(. != null and . != "");

# ---- failing with a position: the segment (as given), element, AK4/IK4 code, message ----
def fail($seg; $n; $code; $msg): error({message: $msg, segment: $seg, element: $n, code: $code});
def fail($seg; $n; $msg): fail($seg; $n; "7"; $msg);
def need($seg; $n; $what):
  if $seg == null then error({message: "\($what) is missing", code: "3"})
  else ($seg | el($n)) as $v | if $v == "" then fail($seg; $n; "1"; "\($what) is missing") else $v end end;
def need_seg($id; $what): first_seg($id) // error({message: "mandatory segment \($id) (\($what)) is missing", code: "3", missing: $id});
# Converts element $n of $seg with filter f; a bad value fails at that element.
def at($seg; $n; f; $what):
  ($seg | el($n)) as $v | try ($v | f) catch fail($seg; $n; "8"; "\($what) \($v | tojson) is not valid");
def at_comp($seg; $n; $c; f; $what):
  ($seg | comp($n; $c)) as $v | try ($v | f) catch fail($seg; $n; "8"; "\($what) \($v | tojson) is not valid");

# ---- code crosswalks (mappings/codes/<table>.csv: partner,value,mapped) ----
# A table applies to a partner when it has rows for that partner or for "*"; then a value
# without an entry fails the document with that reason (it is never passed through).
def xwalk($table):
  if $codes[$table] == null or . == null or . == "" then .
  else . as $v | $codes[$table] as $t
    | if ($t[$partner] == null and $t["*"] == null) then $v
      else ($t[$partner][$v] // $t["*"][$v]
            // error({message: "no \($table) crosswalk entry for \($v | tojson) (partner \($partner))", code: "crosswalk"}))
      end
  end;
# The reverse direction, for outbound documents.
def xwalk_back($table):
  . as $v
  | ($codes[$table]) as $t
  | if $t == null or $v == null or $v == "" then $v
    elif ($t[$partner] == null and $t["*"] == null) then $v
    else ([($t[$partner] // {}), ($t["*"] // {}) | to_entries[] | select(.value == $v) | .key] | first)
         // error({message: "no \($table) crosswalk entry maps to \($v | tojson) (partner \($partner))", code: "crosswalk"})
    end;

# ---- canonical helpers ----
def record($schema): {schema: $schema, record: .};
def item_ok: (.buyer_part // .supplier_part // .gtin // "") != "";

# X12 party role codes (N101) and EDIFACT (3035) to contract roles; null for others.
def x12_role:
  if . == "BY" or . == "OB" then "buyer" elif . == "SE" or . == "VN" or . == "SU" then "supplier"
  elif . == "ST" then "ship_to" elif . == "BT" then "bill_to" elif . == "SF" or . == "SH" then "ship_from"
  elif . == "RI" or . == "RE" then "remit_to" elif . == "PR" then "payer" elif . == "PE" then "payee"
  else null end;
def edi_role: {"BY": "buyer", "SU": "supplier", "SE": "supplier", "DP": "ship_to", "ST": "ship_to",
  "IV": "bill_to", "BT": "bill_to", "SF": "ship_from", "PE": "payee", "PR": "payer", "RE": "remit_to"}[.];
def role_x12: {"buyer": "BY", "supplier": "SE", "ship_to": "ST", "bill_to": "BT", "ship_from": "SF",
  "remit_to": "RI", "payer": "PR", "payee": "PE"}[.];
def role_edi: {"buyer": "BY", "supplier": "SU", "ship_to": "DP", "bill_to": "IV", "ship_from": "SF",
  "remit_to": "RE", "payer": "PR", "payee": "PE"}[.];

# X12 party loop (N1, N2, N3, N4) -> party; null when the role is not one of the contract's.
def x12_party_jq:
  first_seg("N1") as $n1
  | ($n1 | el(1) | x12_role) as $role
  | if $role == null then null else
    {role: $role, id: ($n1 | el(4)), id_qualifier: ($n1 | el(3)), name: ($n1 | el(2)),
     address: (first_seg("N4") as $n4
       | {lines: [segs("N3") | el(1), el(2) | nonempty],
          city: ($n4 // [] | el(1)), region: ($n4 // [] | el(2)),
          postal_code: ($n4 // [] | el(3)), country: ($n4 // [] | el(4))})}
    end;
def x12_party: native_x12_party as $r | if $r == false then x12_party_jq else $r end;
def x12_parties($stop): [loops("N1"; $stop)[] | x12_party | select(. != null)];

# X12 product id pairs (qualifier, id) from element $from on -> item (pairs: a native).
# (pair($n; $quals): a native, the id of the first pair whose qualifier is in $quals)
def x12_item($from):
  {buyer_part: pair($from; ["BP", "IN", "SK"]), supplier_part: pair($from; ["VP", "VN", "VA"]),
   gtin: pair($from; ["UP", "EN", "UK", "UA", "EN13"])} as $known
  | if ($known | item_ok) then $known else {buyer_part: pair($from; [])} end;
# EDIFACT NAD -> party.
def edi_party_jq:
  . as $s | (el(1) | edi_role) as $role
  | if $role == null then null else
    {role: $role, id: comp(2; 1),
     id_qualifier: ({"9": "GLN", "16": "DUNS"}[comp(2; 3)] // comp(2; 3)),
     name: (([comps(4)[] | nonempty] | join(" ")) as $n
            | if $n != "" then $n else [comps(3)[] | nonempty] | join(" ") end),
     address: {lines: [comps(5)[] | nonempty], city: el(6), region: el(7), postal_code: el(8), country: el(9)}}
    end;
def edi_party: native_edi_party as $r | if $r == false then edi_party_jq else $r end;
def edi_item_kind: if . == "EN" or . == "UP" or . == "SRV" or . == "SRS" then "gtin"
  elif . == "SA" or . == "VN" then "supplier_part"
  elif . == "IN" or . == "BP" or . == "BY" then "buyer_part" else null end;

# ---- dates, amounts and items ----
# X12 date element $n of $seg -> ISO date (null when empty; fails at the element when bad).
def x12d($seg; $n): at($seg; $n; x12_date; "date");
# The first date among DTM segments (in the array given) whose qualifier is in $quals.
def x12_dtm($quals): seg_with("DTM"; 1; $quals) as $d | if $d == null then null else x12d($d; 2) end;
def edi_dtm($quals): seg_with("DTM"; 1; $quals) as $d
  | if $d == null then null else at_comp($d; 1; 2; edi_date($d | comp(1; 3)); "date") end;
# The first value of component $c of element $n among segments tagged $id whose first
# component (qualifier) is in $quals.
def edi_qual($id; $quals; $n; $c): opt(segs($id) | select(comp(1; 1) as $q | $quals | index($q) != null) | comp($n; $c) | nonempty);
def edi_amount($quals): opt(segs("MOA") | select(comp(1; 1) as $q | $quals | index($q) != null) as $m
  | $m | comp(1; 2) | nonempty | at_comp($m; 1; 2; edi_decimal; "amount"));
# EDIFACT LIN + PIA + IMD of one line loop -> item.
def edi_item_jq:
  . as $loop | $loop[0] as $lin
  | ([[$lin | comp(3; 1), (comp(3; 2) | edi_item_kind // "buyer_part")]]
     + [$loop | segs("PIA") as $p | range(2; 7) as $e
        | [($p | comp($e; 1)), ($p | comp($e; 2) | edi_item_kind)] | select(.[1] != null)])
  | reduce .[] as [$v, $k] ({}; if $v != "" and .[$k] == null then .[$k] = $v else . end)
  | .description = opt($loop | segs("IMD") | (comp(3; 4), comp(3; 5)) | nonempty);
def edi_item: native_edi_item as $r | if $r == false then edi_item_jq else $r end;


# ---- outbound helpers (canonical -> segments) ----
def when(c; f): if c then f else empty end;
# "2026-05-17" -> "20260517"
def to_x12_date: if . == null then "" else split("-") | join("") end;
def to_edi_date: to_x12_date;
# notes -> an N9 loop with one MSG per note (where 850 and 860 carry free text)
def x12_notes_out: (. // []) as $n | when(($n | length) > 0; ["N9", "L1", "NOTES"], ($n[] | ["MSG", .]));
# party -> N1 loop
def x12_party_out:
  ["N1", (.role | role_x12), (.name // ""), (.id_qualifier // (if .id then "92" else "" end)), (.id // "")],
  (.address.lines // [] | . as $l | range(0; length; 2) | ["N3"] + $l[.:. + 2]),
  (.address // {} | when(.city or .region or .postal_code or .country;
     ["N4", (.city // ""), (.region // ""), (.postal_code // ""), (.country // "")]));
# item -> X12 qualifier/id pairs
def x12_pairs_out: (.buyer_part | xwalk_back("item")) as $bp
  | [when($bp; "BP", $bp), when(.supplier_part; "VP", .supplier_part), when(.gtin; "UP", .gtin)];
def edi_qual_out: if . == "GLN" then "9" elif . == "DUNS" then "16" else (. // "") end;
# party -> NAD
def edi_party_out:
  ["NAD", (.role | role_edi), [(.id // ""), "", (.id_qualifier | edi_qual_out)], "", [(.name // "")],
   (.address.lines // []), (.address.city // ""), (.address.region // ""), (.address.postal_code // ""),
   (.address.country // "")];
# item -> LIN element 3 (the first of GTIN, supplier part, buyer part) and a PIA with the rest
# ($action: LIN 1229, as ORDRSP uses it)
def edi_item_out($n; $action):
  (.buyer_part | xwalk_back("item")) as $bp
  | [when(.gtin; [.gtin, "EN"]), when(.supplier_part; [.supplier_part, "SA"]), when($bp; [$bp, "IN"])] as $ids
  | ["LIN", $n, $action, ($ids[0] // "")],
    when(($ids | length) > 1; ["PIA", "1"] + $ids[1:]),
    when(.description; ["IMD", "F", "", ["", "", "", .description]]);
def edi_item_out($n): edi_item_out($n; "");

# cXML Address (under ShipTo, BillTo, ...) -> party with $role
def cxml_party($role):
  kid("Address") as $a
  | if $a == null then empty else
    {role: $role, id: ($a | attr("addressID")), name: ($a | kid("Name") | text),
     address: ($a | kid("PostalAddress") as $p
       | if $p == null then {} else
         {lines: [$p | kids("Street") | text], city: ($p | kid("City") | text), region: ($p | kid("State") | text),
          postal_code: ($p | kid("PostalCode") | text), country: ($p | kid("Country") | attr("isoCountryCode"))} end)}
    end;
def cxml_party_out($tag):
  [$tag, {}, ["Address", {addressID: .id},
    ["Name", {"xml:lang": "en"}, (.name // "")],
    (.address // {} | if length == 0 then null else
      ["PostalAddress", {}] + [(.lines // [])[] | ["Street", {}, .]]
      + [["City", {}, (.city // "")]]
      + [when(.region; ["State", {}, .region])]
      + [when(.postal_code; ["PostalCode", {}, .postal_code])]
      + [["Country", {isoCountryCode: (.country // "")}, (.country // "")]] end)]];
# cXML ItemID (+ Description, UnitOfMeasure found by the caller) -> item
def cxml_item($detail):
  {supplier_part: (kid("ItemID") | kid("SupplierPartID") | text),
   buyer_part: (kid("ItemID") | kid("BuyerPartID") | text | xwalk("item")),
   description: ($detail | kid("Description") | text)};

# Dates for ERP payloads: days since 1970-01-01 of a canonical date, and OData V2's
# `/Date(milliseconds)/` of it.
def days_since_epoch:
  split("-") | map(tonumber) as $p
  | ($p[0] - (if $p[1] <= 2 then 1 else 0 end)) as $y
  | ($y / 400 | floor) as $era | ($y - $era * 400) as $yoe
  | (((153 * ($p[1] + (if $p[1] > 2 then -3 else 9 end)) + 2) / 5 | floor) + $p[2] - 1) as $doy
  | ($yoe * 365 + ($yoe / 4 | floor) - ($yoe / 100 | floor) + $doy) as $doe
  | $era * 146097 + $doe - 719468;
def to_odata_v2_date: if . == null then null else "/Date(\(days_since_epoch * 86400000))/" end;
# Left-pads text to $n characters with zeros (SAP item numbers `0001`).
def zpad($n): tostring | ("0" * ($n - length)) + .;
