//! The evaluator against jaq on single expressions, inputs and error cases.

use crate::mapping::jq;
use jaq_json::Val;

/// Inputs every expression runs on.
const INPUTS: [&str; 6] = [
    "null",
    r#"{"a": 1, "b": [1, 2, 3], "c": "x", "d": {"e": [{"f": "g"}]}}"#,
    r#"[1, "a", null, {"k": 2}, [3, 4], true]"#,
    r#""text""#,
    "5",
    r#"[["BEG", "00", "SA", "PO-1"], ["DTM", "002", "20260517"], ["PO1", "1", "5", "EA"], ["PO1", "2", "1", "CS"], ["CTT", "2"]]"#,
];

/// Expressions, and whether the evaluator must answer them itself on every input where jaq
/// gives no error (`false`: it may hand them to jaq).
const EXPRESSIONS: &[(&str, bool)] = &[
    (".", true),
    (".a", true),
    (".a?", true),
    (".b[1]", true),
    (".b[-1]", true),
    (".b[1:]", true),
    (".[2:4]", true),
    (".[:2]", true),
    (".b[]", true),
    (".[]?", true),
    (".d.e[0].f", true),
    (".[.a]", true),
    (".[\"a\"]", true),
    (".b[.a:]", true),
    ("(.a, .c) // \"none\"", true),
    ("(null, false) // 1", true),
    ("empty // 2", true),
    ("(error(\"x\"), 1) // 2", true),
    ("try error(\"boom\") catch .", true),
    ("try error({message: \"m\", code: \"7\"}) catch .code", true),
    ("try (1, error(\"e\"), 3) catch \"caught\"", true),
    ("[.[]?] | length", true),
    ("try ([1] | .[\"x\"]) catch .", true),
    ("try (1 + \"a\") catch .", true),
    ("1 + empty", true),
    ("error(\"x\") + empty", true),
    ("(1, 2) + (10, 20)", true),
    ("(1, 2) == (1, 2)", true),
    ("1 < 2, \"a\" < \"b\", [] < {}, null < false", true),
    ("true and (true, false)", true),
    ("(false, true) or false", true),
    ("-(1, 2)", true),
    ("{a: 1, b: (2, 3)}", false),
    ("{a: 1, b: empty}", true),
    ("{a: error(\"first\"), b: error(\"second\")}", true),
    ("{a: error(\"first\"), b: empty}", true),
    ("{(\"k\" + \"1\"): 1, a}", true),
    ("{x: 1} as $o | {$o, y: 2}", true),
    ("{a: 1, a: 2}", true),
    ("\"v=\\(.a) c=\\(.c)\"", true),
    ("\"n\\(1 + 1)\\([1, {\"a\": null}])\\(empty)\"", true),
    ("\"\\(error(\"in string\"))\"", true),
    ("\"tab\\t\\u00e9\"", true),
    ("reduce (1, 2, 3) as $x (0; . + $x)", true),
    ("reduce .b[]? as $x (null; . + $x)", true),
    ("reduce (1, 2) as $x (0; empty)", true),
    ("reduce (1, 2) as $x (0; ., 1)", false),
    ("if . then 1 elif . == false then 2 else 3 end", true),
    ("if (true, false) then \"a\" else \"b\" end", true),
    ("if . == null then \"n\" end", true),
    (". as $x | [$x, $x]", true),
    ("def f: . + 1; def g(h): [h, h]; g(f)", false),
    ("def f($a; $b): [$a, $b]; f(1, 2; 3)", true),
    ("def f(x): x | x; 2 | f(. * 3)", true),
    (
        "def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; 5 | fac",
        true,
    ),
    (
        "def outer: def inner: . + 1; inner | inner; 1 | outer",
        true,
    ),
    (". as $v | def get: $v; 7 | get", true),
    ("[limit(2; 1, 2, 3)]", false),
    ("label $out | 1, break $out, 2", false),
    ("[foreach (1, 2) as $x (0; . + $x)]", false),
    ("first(1, 2)", true),
    ("first(empty)", true),
    ("[first(error(\"f\"), 1)]", true),
    ("last(1, 2, 3)", true),
    ("first, last", true),
    ("isempty(empty), isempty(1, error(\"late\"))", true),
    ("any(.[]?; . == 1), all(.[]?; . != null)", true),
    ("any(. == 1), all(. == 1)", true),
    ("[.[]? | select(. != null)]", true),
    ("map(. == 1)", true),
    ("to_entries", true),
    ("keys", true),
    ("add", true),
    ("[3, 1, 2, 1, \"a\", null] | unique, sort", true),
    ("[\"a\", \"b\", null, 1] | join(\"-\")", true),
    ("[] | join(\",\")", true),
    ("[\"a\", \"b\"] | join(null)", true),
    ("[\"a\", \"b\"] | join(1)", false),
    ("\"a,b,,c\" | split(\",\")", true),
    ("1 | split(\",\")", true),
    ("length", false),
    ("type", true),
    ("tostring", true),
    ("[.[]?] | tojson", true),
    ("tojson", true),
    ("index(1), index(\"a\"), index(\"zz\")", false),
    (
        "[\"BEG\", \"PO1\", \"PO1\"] | index(\"PO1\"), index(\"x\")",
        true,
    ),
    ("\"\\u00e9\\\"\\n\\u0001\" | tojson", true),
    (
        "[1.5, 1e100, -0, 100000000000000000000, {\"a\": [null, true]}] | tojson",
        true,
    ),
    ("not", true),
    ("[.[]? | tostring] | map(test(\"^[a-z]+$\"))", true),
    ("test(\"x\")", false),
    (
        "[{p: 2, n: 1}, {p: 1, n: 2}, {p: 2, n: 3}, {n: 4}] | group_by(.p), group_by(.p, .n)",
        true,
    ),
    ("group_by(.)", false),
    ("0 | until(. > 4; . + 2)", true),
    (".a = 5", false),
    (".a |= . + 1", false),
    (".z |= empty", false),
    ("del(.a)", false),
    ("del(.a) | keys", false),
    (
        "{a: 1, b: 2, c: 3, d: 4} | del(.a, .c), del(.b), del(.z)",
        true,
    ),
    (".d.e = 1", false),
    ("$partner, $codes.uom", true),
    ("[.[]? | el(1)]", true),
    ("[.[]? | comp(1; 1)]", true),
    ("loops(\"PO1\"; [\"CTT\"])", false),
    ("first_seg(\"DTM\")", false),
    ("[seg_list(\"PO1\")[] | el(2) | decimal]", false),
    ("\"1,5\" | edi_decimal", true),
    ("\"260517\" | x12_date", true),
    ("\"2026x\" | x12_date", true),
    ("try (\"2026x\" | x12_date) catch .", true),
    ("\"Ab\" | ascii_downcase", false),
    ("..", false),
    ("@json \"x\\(.)\"", false),
    (".[]? as [$a] | $a", true),
    ("[[1, 2], [3]] | .[] as [$a, $b] | [$b, $a]", true),
    (
        "reduce ([1, \"x\"], [2, \"y\"]) as [$v, $k] ({}; .[$k] = $v)",
        true,
    ),
    (
        "reduce (\"a\", \"b\", \"a\") as $k ({}; .[$k] += [$k])",
        true,
    ),
    (".a += 1", false),
    ("reduce (1, 2, 3) as $x ([]; . + [$x, $x * 10])", true),
    (
        ". as $v | reduce range(0; 3) as $i ({}; .[\"k\"] += [$i]) | .k",
        false,
    ),
    ("{} | .a = (1, 2)", true),
    ("{} | .a += (1, 2)", true),
    ("[1] | . + ([2], error(\"late\"))", false),
    ("[1] | . + error(\"early\")", true),
    ("{} | .[\"k\" + \"2\"] = 3 | .k2 |= . * 2", true),
    ("{a: {b: 1}} | .a.b = 2 | .a.c = 3", true),
    (". as {a: $x} | $x", false),
];

fn val(json: &str) -> Val {
    jq::from_json(&serde_json::from_str(json).unwrap())
}

fn shown(r: &Result<Vec<Val>, Val>) -> String {
    match r {
        Ok(vs) => vs
            .iter()
            .map(|v| format!("{v}"))
            .collect::<Vec<_>>()
            .join(" | "),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn answers_as_jaq_does_or_hands_over() {
    let globals = [val(r#"{"uom": {"*": {"EA": "EA"}}}"#), val(r#""ACME""#)];
    let mut handed = Vec::new();
    let mut wrong = Vec::new();
    for (expr, must) in EXPRESSIONS {
        let program = match jq::compile("", expr) {
            Ok(p) => p,
            Err(e) => {
                wrong.push(format!("{expr}: jaq does not compile it: {e:?}"));
                continue;
            }
        };
        let Some(fast) = super::compile("", expr) else {
            wrong.push(format!("{expr}: not parsed"));
            continue;
        };
        for input in INPUTS {
            let want = program.run_jaq_values(val(input), globals.clone());
            match fast.run(val(input), &globals) {
                Some(got) if shown(&got) != shown(&want) => wrong.push(format!(
                    "{expr} on {input}: the evaluator gave {}, jaq {}",
                    shown(&got),
                    shown(&want)
                )),
                Some(_) => {}
                None if *must && want.is_ok() => wrong.push(format!(
                    "{expr} on {input}: handed to jaq ({})",
                    shown(&want)
                )),
                None => handed.push(*expr),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // What is handed over is what the table expects to be (so the table cannot pass empty).
    assert!(handed.contains(&"[limit(2; 1, 2, 3)]"));
    assert!(handed.contains(&"\"Ab\" | ascii_downcase"));
}

#[test]
fn every_shipped_mapping_compiles_for_the_evaluator() {
    let text = |name: &str| {
        crate::mapping::BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    };
    let prelude = text("lib/prelude.jq").unwrap();
    let mut n = 0;
    for (name, code) in crate::mapping::BUILTIN
        .iter()
        .filter(|(n, _)| n.ends_with(".jq") && !n.starts_with("lib/"))
    {
        assert!(
            super::compile(prelude, code).is_some(),
            "{name} is not read as one program"
        );
        n += 1;
    }
    assert!(n >= 20, "only {n} shipped mappings");
}

#[test]
fn a_recursion_too_deep_for_the_stack_is_handed_to_jaq_rather_than_overflowing_it() {
    let code = "def f: if . < 100000 then (. + 1 | f) else . end; 0 | f";
    let fast = super::compile("", code).unwrap();
    let answer = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || fast.run(val("0"), &[Val::Null, Val::Null]).is_none())
        .unwrap()
        .join()
        .unwrap();
    assert!(answer, "handed to jaq");
    // A shallow one is answered.
    let fast = super::compile("", "def f: if . < 20 then (. + 1 | f) else . end; 0 | f").unwrap();
    assert_eq!(
        shown(&fast.run(val("0"), &[Val::Null, Val::Null]).unwrap()),
        "20"
    );
}

#[test]
fn a_program_the_evaluator_keeps_handing_over_goes_straight_to_jaq() {
    let globals = || [Val::Null, Val::Null];
    let handed = jq::compile("", "[limit(1; .[])]").unwrap();
    let answered = jq::compile("", "[.[] | . + 1]").unwrap();
    for _ in 0..200 {
        assert_eq!(handed.run(val("[1, 2]"), globals()).unwrap().len(), 1);
        assert_eq!(answered.run(val("[1, 2]"), globals()).unwrap().len(), 1);
    }
    assert!(
        !handed.tries_fast(),
        "given up after handing every document over"
    );
    assert!(answered.tries_fast());
}
