//! A second evaluator for mapping programs, faster than jaq's on the jq mappings are written in, which hands a document back to jaq for anything it does not do exactly as jaq does.
//!
//! A program is compiled from jaq's own parse of the text (so both read the same program) into
//! terms whose variables, parameters and definitions are resolved to positions. It runs by
//! pushing each output to a callback: no iterator is boxed and no context is cloned per step,
//! and variables live on the stack. What it evaluates with jaq's operations (indexing, slicing,
//! arithmetic, comparison, conversion to text) gives jaq's values and jaq's error messages. What
//! it does not do itself (a construct it does not compile, a builtin it does not know, a case
//! whose order of outputs or whose error it could get wrong) stops the run with
//! [`Flow::Unsupported`], and the caller runs the document through jaq instead: a document's
//! records never come from a mixture of the two.
//!
//! `tests` hold it to jaq's answers on single expressions; the integration suite holds every
//! shipped mapping to jaq's records on the fixtures, the corpus and generated documents.

mod compile;
mod run;

pub(super) use compile::compile;

use super::jq::NativeFn;
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::Opt;
use jaq_json::Val;

/// Index of a term in [`Program::terms`].
type Id = usize;

/// A compiled program: its terms, its definitions and the term it starts from.
pub struct Program {
    terms: Vec<Term>,
    defs: Vec<Def>,
    main: Id,
}

/// A definition: its body and its parameters (`true` for a value parameter, `$x`).
struct Def {
    body: Id,
    params: Vec<bool>,
}

/// A key in an object construction.
enum Key {
    Lit(Val),
    Term(Id),
}

/// A piece of a string with interpolations.
enum Piece {
    Lit(String),
    Term(Id),
}

/// A pattern binding variables: `$x`, or `[$a, $b, ...]` (so many elements of an array).
#[derive(Clone, Copy)]
enum Pat {
    Var,
    Arr(usize),
}

/// One step of a path (`.a`, `.[e]`, `.[]`, `.[a:b]`) and whether it is optional (`?`).
enum Step {
    Key(Val),
    Index(Id),
    Iter,
    Range(Option<Id>, Option<Id>),
}

/// Functions of jaq's library done here exactly (the rest are [`Term::Unsupported`]).
#[derive(Clone, Copy, Debug)]
enum Builtin {
    Error0,
    Error1,
    Not,
    Select,
    Map,
    First0,
    Last0,
    First1,
    Last1,
    Length,
    Type,
    ToString,
    ToJson,
    Index,
    Keys,
    ToEntries,
    Add,
    Unique,
    Sort,
    Join,
    Split,
    IsEmpty,
    Any2,
    All2,
    Any1,
    All1,
    Until,
    GroupBy,
}

/// A term, its parts resolved: `Var(k)`, `Param(k)` and `Local(k, ..)` name the binding `k`
/// places up the environment.
enum Term {
    Id,
    Empty,
    Lit(Val),
    Str(Vec<Piece>),
    /// `[f]` (`[]` is a literal).
    Arr(Id),
    Obj(Vec<(Key, Id)>),
    Neg(Id),
    Pipe(Id, Id),
    /// `l as $x | r` (or `l as [$a, $b] | r`)
    Bind(Id, Pat, Id),
    Comma(Id, Id),
    Alt(Id, Id),
    /// `l or r` (`true`) and `l and r` (`false`)
    Logic(Id, bool, Id),
    Math(Id, Math, Id),
    Cmp(Id, Cmp, Id),
    /// `reduce xs as $x (init; update)`
    Reduce(Id, Pat, Id, Id),
    Try(Id, Option<Id>),
    If(Id, Id, Id),
    Var(usize),
    Global(usize),
    /// A parameter that is a filter, run in the environment of its caller.
    Param(usize),
    /// A definition of the program's top level, called with these arguments.
    Call(usize, Box<[Id]>),
    /// A definition inside a term, found `k` bindings up.
    Local(usize, usize, Box<[Id]>),
    /// Local definitions come into scope (one binding) before the term.
    Site(Id),
    Native(NativeFn, Box<[Id]>),
    /// A native whose arguments are all literals (`comp(1; 2)`, `segs("DTM")`).
    NativeLit(NativeFn, Box<[Val]>),
    Builtin(Builtin, Box<[Id]>),
    Path(Id, Vec<(Step, Opt)>),
    /// `test("literal")`, the expression built as jaq builds it.
    Test(regex_bites::bytes::Regex),
    /// `path = value`, `path |= f`, `path op= value` and `del(path)` on a path of keys
    /// (`.a`, `.[$k]`).
    Assign(Vec<Key>, Id),
    Update(Vec<Key>, Id),
    UpdateMath(Vec<Key>, Math, Id),
    /// `del(p1, p2, ...)`: each path deleted in turn from what the one before left.
    Delete(Vec<Vec<Key>>),
    /// What this evaluator leaves to jaq (named for debugging).
    Unsupported(String),
}

/// Why a run stopped early.
#[derive(Debug)]
enum Flow {
    /// An error raised in jq (`error`, a failed conversion, jaq's own message).
    Err(Val),
    /// Leaving the term that owns this label (`first`, `isempty`, `any`, `all`).
    Break(usize),
    /// Something jaq must answer.
    Unsupported,
}

impl Program {
    /// Every output of the program on `input`, or the first error: `None` when the program
    /// reached something this evaluator leaves to jaq (the caller runs it there).
    pub fn run(&self, input: Val, globals: &[Val]) -> Option<Result<Vec<Val>, Val>> {
        let cx = run::Cx::new(self, globals);
        let mut out = Vec::new();
        match cx.run(self.main, None, input, &mut |v| {
            out.push(v);
            Ok(())
        }) {
            Ok(()) => Some(Ok(out)),
            Err(Flow::Err(e)) => Some(Err(e)),
            Err(Flow::Break(_) | Flow::Unsupported) => None,
        }
    }
}

#[cfg(test)]
mod tests;
