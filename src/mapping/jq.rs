//! The mapping language: jq programs (through jaq) compiled once, run per document, with
//! edigate's conversion functions (dates, exact decimals) written in Rust.

use crate::canonical::Decimal;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{bome, v, Fun};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::{Map, Val};
use serde_json::Value;

type D = data::JustLut<Val>;

/// A compiled mapping: jaq's filter, and the same program for [`super::eval`], which runs
/// first and hands a document to jaq when it meets what it leaves to jaq.
pub struct Program {
    filter: jaq_core::compile::Filter<jaq_core::Native<D>>,
    /// The text, kept to compile `fast` when the program first runs (so that loading a folder
    /// of edited mappings costs only jaq's compilation).
    text: (String, String),
    fast: std::sync::OnceLock<Option<super::eval::Program>>,
    /// Documents the faster evaluator answered, and handed to jaq: a program it keeps handing
    /// over (one written with what it leaves to jaq) goes straight to jaq.
    answered: std::sync::atomic::AtomicU64,
    handed: std::sync::atomic::AtomicU64,
}

/// Documents handed to jaq before the evaluator may be given up for a program: from then on
/// it is tried only while it answers at least one document in four.
const HANDED_BEFORE_GIVING_UP: u64 = 64;

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Program")
    }
}

/// Why a program did not compile: one message per problem, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: usize,
    pub message: String,
}

/// What a failing program said: the value given to `error`, or jaq's own message.
#[derive(Debug, Clone, PartialEq)]
pub struct RunError(pub Value);

impl RunError {
    /// The text shown to an operator.
    pub fn message(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            Value::Object(o) => match o.get("message") {
                Some(Value::String(s)) => s.clone(),
                _ => self.0.to_string(),
            },
            other => other.to_string(),
        }
    }
}

/// Names of the global variables every program sees.
pub const GLOBALS: [&str; 2] = ["$codes", "$partner"];

/// The line of `part` in `code`, or 0 when `part` is not a slice of `code` (jaq's own
/// definitions).
fn line_of(code: &str, part: &str) -> usize {
    let (start, p) = (code.as_ptr() as usize, part.as_ptr() as usize);
    if p < start || p > start + code.len() {
        return 0;
    }
    let at = p - start;
    code[..at].bytes().filter(|b| *b == b'\n').count() + 1
}

/// Compiles `prelude` followed by `code`; line numbers in errors count from `code`'s first
/// line.
pub fn compile(prelude: &str, code: &str) -> Result<Program, Vec<CompileError>> {
    let whole = format!("{prelude}\n{code}");
    let shift = prelude.bytes().filter(|b| *b == b'\n').count() + 1;
    let arena = Arena::default();
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let loader = Loader::new(defs);
    let at = |part: &str| line_of(&whole, part).saturating_sub(shift).max(1);
    let modules = loader
        .load(
            &arena,
            File {
                code: whole.as_str(),
                path: (),
            },
        )
        .map_err(|errs| {
            let mut out = Vec::new();
            for (_, e) in errs {
                match e {
                    jaq_core::load::Error::Io(v) => {
                        out.extend(v.into_iter().map(|(p, m)| CompileError {
                            line: at(p),
                            message: format!("cannot load module {p}: {m}"),
                        }))
                    }
                    jaq_core::load::Error::Lex(v) => {
                        out.extend(v.into_iter().map(|(exp, part)| CompileError {
                            line: at(part),
                            message: format!("expected {}", exp.as_str()),
                        }))
                    }
                    jaq_core::load::Error::Parse(v) => {
                        out.extend(v.into_iter().map(|(exp, part)| CompileError {
                            line: at(part),
                            message: format!("expected {}", exp.as_str()),
                        }))
                    }
                }
            }
            out
        })?;
    let funs = jaq_core::funs::<D>()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain(natives());
    let filter = Compiler::default()
        .with_funs(funs)
        .with_global_vars(GLOBALS)
        .compile(modules)
        .map_err(|errs| {
            errs.into_iter()
                .flat_map(|(_, v)| v)
                .map(|(name, undefined)| CompileError {
                    line: at(name),
                    message: format!("undefined {} {name}", undefined.as_str()),
                })
                .collect::<Vec<_>>()
        })?;
    Ok(Program {
        filter,
        text: (prelude.to_string(), code.to_string()),
        fast: std::sync::OnceLock::new(),
        answered: Default::default(),
        handed: Default::default(),
    })
}

impl Program {
    /// Runs the program on `input` with the global variables (in [`GLOBALS`] order) and
    /// returns every output, or the first error.
    pub fn run(&self, input: Val, globals: [Val; 2]) -> Result<Vec<Val>, RunError> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(fast) = self.fast().filter(|_| self.tries_fast()) {
            match fast.run(input.clone(), &globals) {
                Some(done) => {
                    self.answered.fetch_add(1, Relaxed);
                    return done.map_err(|e| RunError(to_json(&e)));
                }
                None => {
                    self.handed.fetch_add(1, Relaxed);
                }
            }
        }
        self.run_jaq(input, globals)
    }

    /// The program for the faster evaluator, compiled when first asked for.
    fn fast(&self) -> Option<&super::eval::Program> {
        self.fast
            .get_or_init(|| super::eval::compile(&self.text.0, &self.text.1))
            .as_ref()
    }

    /// Whether [`Program::run`] still tries the faster evaluator first.
    pub fn tries_fast(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let handed = self.handed.load(Relaxed);
        self.fast().is_some()
            && (handed < HANDED_BEFORE_GIVING_UP || self.answered.load(Relaxed) * 3 >= handed)
    }

    /// The faster evaluator's outputs or error, `None` when it hands the input to jaq (or
    /// does not read the program).
    pub fn run_fast(&self, input: Val, globals: [Val; 2]) -> Option<Result<Vec<Val>, Val>> {
        self.fast()?.run(input, &globals)
    }

    /// jaq's outputs or error as values (for comparing evaluators).
    pub fn run_jaq_values(&self, input: Val, globals: [Val; 2]) -> Result<Vec<Val>, Val> {
        let ctx = Ctx::<D>::new(&self.filter.lut, Vars::new(globals));
        self.filter
            .id
            .run((ctx, input))
            .map(unwrap_valr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.into_val())
    }

    /// As [`Program::run`], through jaq alone (what the other evaluator is held to).
    pub fn run_jaq(&self, input: Val, globals: [Val; 2]) -> Result<Vec<Val>, RunError> {
        let ctx = Ctx::<D>::new(&self.filter.lut, Vars::new(globals));
        let mut out = Vec::new();
        for v in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            match v {
                Ok(v) => out.push(v),
                Err(e) => return Err(RunError(to_json(&e.into_val()))),
            }
        }
        Ok(out)
    }
}

fn err(msg: String) -> jaq_core::Error<Val> {
    jaq_core::Error::new(Val::from(msg))
}

fn text(v: &Val) -> Option<String> {
    match v {
        Val::TStr(b) | Val::BStr(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Val::Null => Some(String::new()),
        _ => None,
    }
}

/// Applies a text conversion; empty text and `null` give `null` (an absent field).
fn convert(
    v: &Val,
    name: &str,
    f: impl Fn(&str) -> Option<String>,
) -> Result<Val, jaq_core::Error<Val>> {
    let Some(t) = text(v) else {
        return Err(err(crate::formats::bounded(format!(
            "{name}: {v} is not text"
        ))));
    };
    let t = t.trim();
    if t.is_empty() {
        return Ok(Val::Null);
    }
    f(t).map(Val::from).ok_or_else(|| {
        err(format!(
            "{name}: {} is not valid",
            crate::formats::quoted(t)
        ))
    })
}

/// A native function: its input and the values of its arguments, in order, to one output.
pub(super) type NativeFn = fn(&Val, &[Val]) -> Result<Val, jaq_core::Error<Val>>;

/// The conversions mapping authors need most, done exactly in Rust, and segment access (the
/// hot path of every EDI mapping): name, number of value arguments, function. Both jaq and
/// [`super::eval`] call these.
pub(super) const NATIVES: [(&str, usize, NativeFn); 21] = [
    // X12 DT: CCYYMMDD or YYMMDD -> YYYY-MM-DD
    ("x12_date", 0, |v, _| convert(v, "date", super::x12_date)),
    // EDIFACT DTM format 102 (CCYYMMDD), 203 (CCYYMMDDHHMM), 101 (YYMMDD), 204, 718 (first day)
    ("edi_date", 1, |v, a| {
        let fmt = text(&a[0]).unwrap_or_default();
        convert(v, "date", |t| super::edifact_date(t, &fmt))
    }),
    // X12 R and EDIFACT decimals with a point
    ("decimal", 0, |v, _| {
        convert(v, "decimal", |t| Decimal::parse(t).map(|d| d.to_string()))
    }),
    // EDIFACT decimals, either mark
    ("edi_decimal", 0, |v, _| {
        convert(v, "decimal", |t| {
            super::edi_decimal(t).map(|d| d.to_string())
        })
    }),
    // X12 Nn: implied decimal places
    ("implied", 1, |v, a| {
        let scale = index_of(&a[0]).unwrap_or(0);
        convert(v, "number", |t| {
            Decimal::implied(t, scale).map(|d| d.to_string())
        })
    }),
    // exact product of two canonical decimals
    ("dec_mul", 1, |v, a| {
        let other = text(&a[0]).and_then(|t| Decimal::parse(&t));
        convert(v, "decimal", |t| {
            Decimal::parse(t)?
                .mul(other.as_ref()?)
                .map(|d| d.to_string())
        })
    }),
    // canonical decimal -> X12 N with `scale` implied places
    ("to_implied", 1, |v, a| {
        let scale = index_of(&a[0]).unwrap_or(0);
        convert(v, "decimal", |t| {
            Decimal::parse(t).and_then(|d| d.to_implied(scale))
        })
    }),
    ("el", 1, |v, a| Ok(component(v, &a[0], None))),
    ("comp", 2, |v, a| Ok(component(v, &a[0], Some(&a[1])))),
    ("comps", 1, |v, a| {
        Ok(match element(v, &a[0]) {
            Some(a @ Val::Arr(_)) => a.clone(),
            Some(v) => Val::Arr(vec![v.clone()].into()),
            None => Val::Arr(vec![Val::from(String::new())].into()),
        })
    }),
    // X12 qualifier/id pairs from element n on (PO106/PO107, LIN02/LIN03, ...)
    ("pairs", 1, |v, a| {
        let from = index_of(&a[0]).unwrap_or(1);
        let Val::Arr(a) = v else {
            return Err(err("pairs: the input must be a segment".into()));
        };
        let out: Vec<Val> = a
            .iter()
            .skip(from)
            .collect::<Vec<_>>()
            .chunks(2)
            .filter(|p| {
                p.len() == 2
                    && !matches!(p[1], Val::Null)
                    && text(p[1]).is_some_and(|t| !t.is_empty())
            })
            .map(|p| Val::Arr(vec![p[0].clone(), p[1].clone()].into()))
            .collect();
        Ok(Val::Arr(out.into()))
    }),
    // the id of the first qualifier/id pair from element n on whose qualifier is in
    // $quals (any qualifier when $quals is empty), or null
    ("pair", 2, |v, a| {
        let quals = &a[1];
        let from = index_of(&a[0]).unwrap_or(1);
        let Val::Arr(a) = v else {
            return Err(err("pair: the input must be a segment".into()));
        };
        let any = matches!(quals, Val::Arr(q) if q.is_empty());
        let found = a
            .iter()
            .skip(from)
            .collect::<Vec<_>>()
            .chunks(2)
            .filter(|p| p.len() == 2 && text(p[1]).is_some_and(|t| !t.is_empty()))
            .find(|p| any || contains(quals, p[0]))
            .map(|p| p[1].clone());
        Ok(found.unwrap_or(Val::Null))
    }),
    // the first segment tagged $id whose element $n (its first component) is one of
    // $values, or null: DTM by qualifier, REF by qualifier, PID by type
    ("seg_with", 3, |v, a| {
        let (id, n, values) = (&a[0], &a[1], &a[2]);
        let Val::Arr(segs) = v else {
            return Ok(Val::Null);
        };
        let found = segs.iter().find(|s| {
            matches!(s, Val::Arr(a) if a.first() == Some(id))
                && contains(values, &component(s, n, None))
        });
        Ok(found.cloned().unwrap_or(Val::Null))
    }),
    ("seg_list", 1, |v, a| {
        tagged(v, &a[0]).map(|v| Val::Arr(v.into()))
    }),
    ("first_seg", 1, |v, a| {
        let id = &a[0];
        match v {
            Val::Arr(a) => Ok(a
                .iter()
                .find(|s| matches!(s, Val::Arr(seg) if seg.first() == Some(id)))
                .cloned()
                .unwrap_or(Val::Null)),
            other => tagged(other, id).map(|_| Val::Null),
        }
    }),
    ("loops", 2, |v, a| {
        loops(v, &a[0], |tag| contains(&a[1], tag))
    }),
    ("loops_of", 2, |v, a| {
        loops(v, &a[0], |tag| !contains(&a[1], tag))
    }),
    // the prelude's EDI helpers, answered in Rust on the plain path (`natives`)
    ("native_head", 1, |v, a| Ok(super::natives::head(v, &a[0]))),
    ("native_edi_party", 0, |v, _| {
        Ok(super::natives::edi_party(v))
    }),
    ("native_edi_item", 0, |v, _| Ok(super::natives::edi_item(v))),
    ("native_x12_party", 0, |v, _| {
        Ok(super::natives::x12_party(v))
    }),
];

/// Native `I` of [`NATIVES`] as jaq calls it (its arguments popped last first).
fn run_native<const I: usize>(mut cv: jaq_core::Cv<'_, D>) -> jaq_core::ValXs<'_, Val> {
    let (_, arity, f) = NATIVES[I];
    let mut args = vec![Val::Null; arity];
    for a in args.iter_mut().rev() {
        *a = cv.0.pop_var();
    }
    bome(f(&cv.1, &args))
}

fn natives() -> impl Iterator<Item = Fun<D>> {
    let runs: [jaq_core::RunPtr<D>; 21] = [
        run_native::<0>,
        run_native::<1>,
        run_native::<2>,
        run_native::<3>,
        run_native::<4>,
        run_native::<5>,
        run_native::<6>,
        run_native::<7>,
        run_native::<8>,
        run_native::<9>,
        run_native::<10>,
        run_native::<11>,
        run_native::<12>,
        run_native::<13>,
        run_native::<14>,
        run_native::<15>,
        run_native::<16>,
        run_native::<17>,
        run_native::<18>,
        run_native::<19>,
        run_native::<20>,
    ];
    NATIVES
        .iter()
        .zip(runs)
        .map(|(&(name, arity, _), run)| jaq_core::native::run::<D>((name, v(arity), run)))
}

fn index_of(n: &Val) -> Option<usize> {
    match n {
        Val::Num(n) => n.as_isize().and_then(|i| usize::try_from(i).ok()),
        _ => None,
    }
}

fn element<'v>(seg: &'v Val, n: &Val) -> Option<&'v Val> {
    match seg {
        Val::Arr(a) => a.get(index_of(n)?),
        _ => None,
    }
}

/// Element `n` of a segment, or component `c` (1-based) of it: text, `""` when absent.
fn component(seg: &Val, n: &Val, c: Option<&Val>) -> Val {
    let empty = || Val::from(String::new());
    let c = c.and_then(index_of).unwrap_or(1);
    match element(seg, n) {
        Some(Val::Arr(comps)) => comps.get(c.wrapping_sub(1)).cloned().unwrap_or_else(empty),
        Some(Val::Null) | None => empty(),
        Some(v) if c == 1 => v.clone(),
        Some(_) => empty(),
    }
}

/// The segments of an array whose tag is `id`.
fn tagged(segments: &Val, id: &Val) -> Result<Vec<Val>, jaq_core::Error<Val>> {
    match segments {
        Val::Arr(a) => Ok(a
            .iter()
            .filter(|s| matches!(s, Val::Arr(seg) if seg.first() == Some(id)))
            .cloned()
            .collect()),
        Val::Null => Ok(Vec::new()),
        other => Err(err(format!("expected an array of segments, got {other}"))),
    }
}

fn contains(list: &Val, tag: &Val) -> bool {
    match list {
        Val::Arr(a) => a.iter().any(|v| v == tag),
        _ => false,
    }
}

/// Splits an array of segments into loops: each starts at a segment tagged `id` and ends
/// before the next one or before a segment for which `ends` is true.
fn loops(
    segments: &Val,
    id: &Val,
    ends: impl Fn(&Val) -> bool,
) -> Result<Val, jaq_core::Error<Val>> {
    let Val::Arr(segs) = segments else {
        return Err(err("loops: the input must be an array of segments".into()));
    };
    let mut out: Vec<Val> = Vec::new();
    let mut cur: Option<Vec<Val>> = None;
    for s in segs.iter() {
        let tag = match s {
            Val::Arr(a) => a.first().unwrap_or(&Val::Null),
            _ => &Val::Null,
        };
        if tag == id {
            out.extend(cur.take().map(|c| Val::Arr(c.into())));
            cur = Some(vec![s.clone()]);
        } else if ends(tag) {
            out.extend(cur.take().map(|c| Val::Arr(c.into())));
        } else if let Some(c) = cur.as_mut() {
            c.push(s.clone());
        }
    }
    out.extend(cur.take().map(|c| Val::Arr(c.into())));
    Ok(Val::Arr(out.into()))
}

/// Converts JSON to a jaq value.
pub fn from_json(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => <Val as jaq_core::ValT>::from_num(&n.to_string()).unwrap_or(Val::Null),
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => Val::Arr(a.iter().map(from_json).collect::<Vec<_>>().into()),
        Value::Object(o) => Val::obj(
            o.iter()
                .map(|(k, v)| (Val::from(k.clone()), from_json(v)))
                .collect::<Map>(),
        ),
    }
}

/// Converts a jaq value to JSON. Object entries that are `null`, `""` or `{}` are dropped:
/// the contract omits absent fields, so mappings need not filter them.
pub fn to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => {
            serde_json::from_str(&n.to_string()).unwrap_or_else(|_| Value::String(n.to_string()))
        }
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => Value::Array(a.iter().map(to_json).collect()),
        Val::Obj(o) => Value::Object(
            o.iter()
                .filter_map(|(k, v)| {
                    let v = to_json(v);
                    let key = text(k).unwrap_or_else(|| k.to_string());
                    (!dropped(&v)).then_some((key, v))
                })
                .collect(),
        ),
    }
}

/// Whether a field of an object a mapping made is left out of it: null, `""` and `{}` are.
fn dropped(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A value built the way a mapping's output is, with the fields [`to_json`] leaves out left
/// out (innermost first, as it does).
pub fn pruned(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(pruned).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter_map(|(k, v)| {
                    let v = pruned(v);
                    (!dropped(&v)).then_some((k, v))
                })
                .collect(),
        ),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str, input: Value) -> Result<Vec<Value>, RunError> {
        let p = compile("", code).unwrap();
        p.run(from_json(&input), [Val::Null, Val::Null])
            .map(|v| v.iter().map(to_json).collect())
    }

    #[test]
    fn runs_programs_with_native_conversions() {
        let out = run(
            r#"{d: (.a | x12_date), e: (.b | edi_date("102")), n: (.c | implied(2)), r: (.r | decimal), k: (.k | edi_decimal), z: "", l: ([.s | loops("N1"; ["PO1"])[] | length]), m: ([.s | loops_of("N1"; ["N3"])[] | length])}"#,
            serde_json::json!({"a": "20260517", "b": "20260518", "c": "12550", "r": ".5", "k": "1,25",
                "s": [["BEG"], ["N1"], ["N3"], ["N4"], ["N1"], ["PO1"], ["N1"]]}),
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                serde_json::json!({"d": "2026-05-17", "e": "2026-05-18", "n": "125.50", "r": "0.5", "k": "1.25", "l": [3, 1, 1], "m": [2, 1, 1]})
            ]
        );
    }

    #[test]
    fn reports_bad_values_and_compile_errors_with_lines() {
        let e = run(".a | x12_date", serde_json::json!({"a": "20260230"})).unwrap_err();
        assert_eq!(e.message(), "date: \"20260230\" is not valid");
        let e = run(r#"error({message: "no PO", element: 3})"#, Value::Null).unwrap_err();
        assert_eq!(e.message(), "no PO");
        let errs = compile("def x: 1;", "\n\n.a | nosuch").unwrap_err();
        assert_eq!(errs[0].line, 3, "{errs:?}");
        assert!(errs[0].message.contains("nosuch"), "{errs:?}");
        assert!(compile("", ".a | (").is_err());
    }
}
