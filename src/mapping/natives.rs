//! Rust twins of the prelude's costliest EDI helpers (`head`, `edi_party`, `edi_item`,
//! `x12_party`), which every interpreted mapping calls per segment or per loop.
//!
//! Each answers only on the plain path (segments as arrays of text or of arrays of text) and
//! otherwise gives `false`, which the prelude reads as "run the jq definition": the prelude keeps
//! each helper's jq text as `NAME_jq`, and `tests` hold the two to identical answers on
//! generated segments, odd ones included.

use jaq_json::{Map, Val};

fn text(s: &str) -> Val {
    Val::from(s.to_string())
}

fn as_str(v: &Val) -> Option<&str> {
    match v {
        Val::TStr(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// An element as the natives read it: text, or a composite whose components are all text.
fn plain_element(v: &Val) -> bool {
    match v {
        Val::TStr(b) => std::str::from_utf8(b).is_ok(),
        Val::Arr(a) => a.iter().all(|c| as_str(c).is_some()),
        _ => false,
    }
}

/// A segment on the plain path: a tag and elements, every one plain.
fn plain_segment(v: &Val) -> Option<&[Val]> {
    match v {
        Val::Arr(a) if a.first().and_then(as_str).is_some() && a.iter().all(plain_element) => {
            Some(a.as_slice())
        }
        _ => None,
    }
}

/// Component `c` (1-based) of element `n` of a plain segment; `""` when absent.
fn comp(seg: &[Val], n: usize, c: usize) -> &str {
    match seg.get(n) {
        Some(Val::Arr(comps)) => comps.get(c.wrapping_sub(1)).and_then(as_str).unwrap_or(""),
        Some(v) if c == 1 => as_str(v).unwrap_or(""),
        _ => "",
    }
}

/// The non-empty components of element `n`, joined by `sep`.
fn joined(seg: &[Val], n: usize, sep: &str) -> String {
    let parts: Vec<&str> = match seg.get(n) {
        Some(Val::Arr(comps)) => comps.iter().filter_map(as_str).collect(),
        Some(v) => as_str(v).into_iter().collect(),
        None => Vec::new(),
    };
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}

/// The non-empty components of element `n`, as an array.
fn nonempty_comps(seg: &[Val], n: usize) -> Val {
    let list: Vec<Val> = match seg.get(n) {
        Some(Val::Arr(comps)) => comps
            .iter()
            .filter(|c| as_str(c).is_some_and(|s| !s.is_empty()))
            .cloned()
            .collect(),
        Some(v) if as_str(v).is_some_and(|s| !s.is_empty()) => vec![v.clone()],
        _ => Vec::new(),
    };
    Val::Arr(list.into())
}

fn object(entries: Vec<(&str, Val)>) -> Val {
    Val::obj(
        entries
            .into_iter()
            .map(|(k, v)| (text(k), v))
            .collect::<Map>(),
    )
}

const DECLINE: Val = Val::Bool(false);

/// `head($id)`: the segments before the first one tagged `id` (all of them when none is).
pub fn head(input: &Val, id: &Val) -> Val {
    let Val::Arr(segs) = input else {
        return DECLINE;
    };
    if as_str(id).is_none()
        || !segs
            .iter()
            .all(|s| matches!(s, Val::Arr(a) if !a.is_empty()))
    {
        return DECLINE;
    }
    match segs
        .iter()
        .position(|s| matches!(s, Val::Arr(a) if a.first() == Some(id)))
    {
        None => input.clone(),
        Some(i) => Val::Arr(segs[..i].to_vec().into()),
    }
}

fn edi_role(code: &str) -> Option<&'static str> {
    Some(match code {
        "BY" => "buyer",
        "SU" | "SE" => "supplier",
        "DP" | "ST" => "ship_to",
        "IV" | "BT" => "bill_to",
        "SF" => "ship_from",
        "PE" => "payee",
        "PR" => "payer",
        "RE" => "remit_to",
        _ => return None,
    })
}

/// `edi_party`: an EDIFACT NAD as a party, `null` for a role outside the contract.
pub fn edi_party(input: &Val) -> Val {
    let Some(seg) = plain_segment(input) else {
        return DECLINE;
    };
    let Some(role) = edi_role(comp(seg, 1, 1)) else {
        return Val::Null;
    };
    let qualifier = match comp(seg, 2, 3) {
        "9" => "GLN",
        "16" => "DUNS",
        other => other,
    };
    let mut name = joined(seg, 4, " ");
    if name.is_empty() {
        name = joined(seg, 3, " ");
    }
    object(vec![
        ("role", text(role)),
        ("id", text(comp(seg, 2, 1))),
        ("id_qualifier", text(qualifier)),
        ("name", Val::from(name)),
        (
            "address",
            object(vec![
                ("lines", nonempty_comps(seg, 5)),
                ("city", text(comp(seg, 6, 1))),
                ("region", text(comp(seg, 7, 1))),
                ("postal_code", text(comp(seg, 8, 1))),
                ("country", text(comp(seg, 9, 1))),
            ]),
        ),
    ])
}

fn edi_item_kind(code: &str) -> Option<&'static str> {
    match code {
        "EN" | "UP" | "SRV" | "SRS" => Some("gtin"),
        "SA" | "VN" => Some("supplier_part"),
        "IN" | "BP" | "BY" => Some("buyer_part"),
        _ => None,
    }
}

/// `edi_item`: an EDIFACT line loop (LIN, PIA, IMD) as an item.
pub fn edi_item(input: &Val) -> Val {
    let Val::Arr(lp) = input else {
        return DECLINE;
    };
    let segs: Option<Vec<&[Val]>> = lp.iter().map(plain_segment).collect();
    let Some(segs) = segs else {
        return DECLINE;
    };
    let Some(lin) = segs.first() else {
        return DECLINE;
    };
    let mut ids: Vec<(&str, &str)> = vec![(
        comp(lin, 3, 1),
        edi_item_kind(comp(lin, 3, 2)).unwrap_or("buyer_part"),
    )];
    for pia in segs.iter().filter(|s| as_str(&s[0]) == Some("PIA")) {
        for e in 2..7 {
            if let Some(kind) = edi_item_kind(comp(pia, e, 2)) {
                ids.push((comp(pia, e, 1), kind));
            }
        }
    }
    let mut item: Vec<(&str, Val)> = Vec::new();
    for (value, kind) in ids {
        if !value.is_empty() && !item.iter().any(|(k, _)| *k == kind) {
            item.push((kind, text(value)));
        }
    }
    let description = segs
        .iter()
        .filter(|s| as_str(&s[0]) == Some("IMD"))
        .flat_map(|s| [comp(s, 3, 4), comp(s, 3, 5)])
        .find(|d| !d.is_empty());
    item.push(("description", description.map_or(Val::Null, text)));
    object(item)
}

fn x12_role(code: &str) -> Option<&'static str> {
    Some(match code {
        "BY" | "OB" => "buyer",
        "SE" | "VN" | "SU" => "supplier",
        "ST" => "ship_to",
        "BT" => "bill_to",
        "SF" | "SH" => "ship_from",
        "RI" | "RE" => "remit_to",
        "PR" => "payer",
        "PE" => "payee",
        _ => return None,
    })
}

/// `x12_party`: an X12 N1 loop (N1, N2, N3, N4) as a party, `null` for a role outside the
/// contract.
pub fn x12_party(input: &Val) -> Val {
    let Val::Arr(lp) = input else {
        return DECLINE;
    };
    let segs: Option<Vec<&[Val]>> = lp.iter().map(plain_segment).collect();
    let Some(segs) = segs else {
        return DECLINE;
    };
    let tagged = |id: &'static str| segs.iter().filter(move |s| as_str(&s[0]) == Some(id));
    let Some(n1) = tagged("N1").next() else {
        return Val::Null;
    };
    let Some(role) = x12_role(comp(n1, 1, 1)) else {
        return Val::Null;
    };
    let lines: Vec<Val> = tagged("N3")
        .flat_map(|s| [comp(s, 1, 1), comp(s, 2, 1)])
        .filter(|l| !l.is_empty())
        .map(text)
        .collect();
    let n4 = tagged("N4").next().copied().unwrap_or(&[]);
    object(vec![
        ("role", text(role)),
        ("id", text(comp(n1, 4, 1))),
        ("id_qualifier", text(comp(n1, 3, 1))),
        ("name", text(comp(n1, 2, 1))),
        (
            "address",
            object(vec![
                ("lines", Val::Arr(lines.into())),
                ("city", text(comp(n4, 1, 1))),
                ("region", text(comp(n4, 2, 1))),
                ("postal_code", text(comp(n4, 3, 1))),
                ("country", text(comp(n4, 4, 1))),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use crate::mapping::jq::{compile, from_json, Program};
    use jaq_json::Val;
    use serde_json::{json, Value};

    /// Segments made from a small alphabet of tags, qualifiers and values, some elements
    /// composites, a few odd (numbers, nulls, nested arrays) so both paths are taken.
    fn generated(seed: u64, n: usize) -> Vec<Value> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |m: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % m
        };
        let tags = [
            "NAD", "LIN", "PIA", "IMD", "N1", "N2", "N3", "N4", "QTY", "DTM",
        ];
        let words = [
            "", "BY", "SU", "SE", "DP", "IV", "SF", "PE", "RE", "XX", "9", "16", "EN", "SA", "IN",
            "BP", "VN", "UP", "ST", "BT", "RI", "OB", "SH", "1", "ACME", "Main St", "Berlin", "DE",
        ];
        let word = |next: &mut dyn FnMut(u64) -> u64| {
            Value::String(words[next(words.len() as u64) as usize].to_string())
        };
        (0..n)
            .map(|_| {
                let mut seg = vec![Value::String(tags[next(tags.len() as u64) as usize].into())];
                for _ in 0..next(11) {
                    let el = match next(20) {
                        0 => json!(7),
                        1 => Value::Null,
                        2 => json!([["x"]]),
                        3..=9 => Value::Array((0..1 + next(6)).map(|_| word(&mut next)).collect()),
                        _ => word(&mut next),
                    };
                    seg.push(el);
                }
                Value::Array(seg)
            })
            .collect()
    }

    fn text_of(p: &Program, input: &Value) -> String {
        match p.run(from_json(input), [Val::Null, Val::Null]) {
            Ok(v) => v
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error {:?}", e.0),
        }
    }

    /// Every native helper, through the prelude, answers exactly as its jq definition does.
    #[test]
    fn natives_answer_as_their_jq_definitions() {
        let prelude = crate::mapping::BUILTIN[0].1;
        assert!(prelude.contains("def edi_party_jq"));
        // (through the prelude, the native alone, the jq definition, fed a loop?)
        let cases = [
            ("edi_party", "native_edi_party", "edi_party_jq", false),
            ("x12_party", "native_x12_party", "x12_party_jq", true),
            ("edi_item", "native_edi_item", "edi_item_jq", true),
            (
                "head(\"LIN\")",
                "native_head(\"LIN\")",
                "head_jq(\"LIN\")",
                true,
            ),
            (
                "head(\"N3\")",
                "native_head(\"N3\")",
                "head_jq(\"N3\")",
                true,
            ),
        ];
        let mut natives_answered = 0;
        for (call, native, jq, on_loops) in cases {
            let [fast, alone, slow] =
                [call, native, jq].map(|code| compile(prelude, code).unwrap());
            for seed in 0..4000u64 {
                let segs = generated(seed, 1 + (seed % 9) as usize);
                let input = if on_loops {
                    Value::Array(segs)
                } else {
                    segs.into_iter().next().unwrap()
                };
                assert_eq!(
                    text_of(&fast, &input),
                    text_of(&slow, &input),
                    "{call} on {input}"
                );
                if text_of(&alone, &input) != "false" {
                    natives_answered += 1;
                }
            }
            for odd in [json!(null), json!("NAD"), json!([]), json!([[]]), json!({})] {
                assert_eq!(
                    text_of(&fast, &odd),
                    text_of(&slow, &odd),
                    "{call} on {odd}"
                );
            }
        }
        assert!(
            natives_answered > 5000,
            "natives answered only {natives_answered} times"
        );
    }
}
