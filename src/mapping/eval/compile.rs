//! Compiles jaq's parse of a program into [`super::Term`]s with names resolved to positions.

use super::{Builtin, Def, Id, Key, Pat, Piece, Program, Step, Term};
use crate::mapping::jq::{GLOBALS, NATIVES};
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def as PDef, Pattern, Term as P};
use jaq_core::path::{Opt, Part};
use jaq_core::ValT;
use jaq_json::Val;

/// A binding in scope, innermost last; each is one node of the environment at run time.
enum Scope<'s> {
    Var(&'s str),
    Fun(&'s str),
    /// A local definition: name, arity, index in `defs`.
    Site(&'s str, usize, usize),
}

/// A definition of the program's top level: compiled when something first calls it.
struct Global<'s> {
    name: &'s str,
    arity: usize,
    def: Option<PDef<&'s str>>,
    compiled: Option<usize>,
}

struct Compiler<'s> {
    terms: Vec<Term>,
    defs: Vec<Def>,
    globals: Vec<Global<'s>>,
    scope: Vec<Scope<'s>>,
    /// How many of `globals` the term being compiled sees.
    visible: usize,
}

/// Compiles `prelude` followed by `code` (which jaq compiled already); `None` when jaq's parser
/// does not read the text as one term (modules).
pub fn compile(prelude: &str, code: &str) -> Option<Program> {
    let whole = format!("{prelude}\n{code}");
    let mut term = jaq_core::load::parse(&whole, |p| p.term())?;
    let mut globals = Vec::new();
    while let P::Def(defs, body) = term {
        globals.extend(defs.into_iter().map(|d| Global {
            name: d.name,
            arity: d.args.len(),
            def: Some(d),
            compiled: None,
        }));
        term = *body;
    }
    let mut c = Compiler {
        terms: Vec::new(),
        defs: Vec::new(),
        visible: globals.len(),
        globals,
        scope: Vec::new(),
    };
    let main = c.term(term);
    Some(Program {
        terms: c.terms,
        defs: c.defs,
        main,
    })
}

/// The text of a string literal without interpolation.
fn literal(t: &P<&str>) -> Option<String> {
    let P::Str(None, parts) = t else {
        return None;
    };
    let mut s = String::new();
    for p in parts {
        match p {
            StrPart::Str(x) => s.push_str(x),
            StrPart::Char(c) => s.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some(s)
}

fn builtin(name: &str, arity: usize) -> Option<Builtin> {
    use Builtin::*;
    Some(match (name, arity) {
        ("error", 0) => Error0,
        ("error", 1) => Error1,
        ("not", 0) => Not,
        ("select", 1) => Select,
        ("map", 1) => Map,
        ("first", 0) => First0,
        ("last", 0) => Last0,
        ("first", 1) => First1,
        ("last", 1) => Last1,
        ("length", 0) => Length,
        ("type", 0) => Type,
        ("tostring", 0) => ToString,
        ("tojson", 0) => ToJson,
        ("index", 1) => Index,
        ("keys", 0) => Keys,
        ("to_entries", 0) => ToEntries,
        ("add", 0) => Add,
        ("unique", 0) => Unique,
        ("sort", 0) => Sort,
        ("join", 1) => Join,
        ("split", 1) => Split,
        ("isempty", 1) => IsEmpty,
        ("any", 2) => Any2,
        ("all", 2) => All2,
        ("any", 1) => Any1,
        ("all", 1) => All1,
        ("until", 2) => Until,
        ("group_by", 1) => GroupBy,
        _ => return None,
    })
}

impl<'s> Compiler<'s> {
    fn push(&mut self, t: Term) -> Id {
        self.terms.push(t);
        self.terms.len() - 1
    }

    fn term(&mut self, t: P<&'s str>) -> Id {
        let t = self.lower(t);
        self.push(t)
    }

    fn lower(&mut self, t: P<&'s str>) -> Term {
        match t {
            P::Id => Term::Id,
            P::Num(n) => match n.parse::<isize>() {
                Ok(i) => Term::Lit(Val::from(i)),
                Err(_) => {
                    Val::from_num(n).map_or(Term::Unsupported(format!("number {n}")), Term::Lit)
                }
            },
            t @ P::Str(None, _) if literal(&t).is_some() => {
                Term::Lit(Val::from(literal(&t).unwrap_or_default()))
            }
            P::Str(None, parts) => Term::Str(
                parts
                    .into_iter()
                    .map(|p| match p {
                        StrPart::Str(s) => Piece::Lit(s.to_string()),
                        StrPart::Char(c) => Piece::Lit(c.to_string()),
                        StrPart::Term(t) => Piece::Term(self.term(t)),
                    })
                    .collect(),
            ),
            P::Arr(None) => Term::Lit(Val::Arr(Vec::new().into())),
            P::Arr(Some(t)) => Term::Arr(self.term(*t)),
            P::Obj(entries) if entries.is_empty() => Term::Lit(Val::obj(Default::default())),
            P::Obj(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    out.push(match (k, v) {
                        (P::Var(x), None) => {
                            let key = Key::Lit(Val::from(x[1..].to_string()));
                            (key, self.term(P::Var(x)))
                        }
                        (k, None) => match literal(&k) {
                            Some(s) => {
                                let step = (Step::Key(Val::from(s.clone())), Opt::Essential);
                                let id = self.push(Term::Id);
                                let path = self.push(Term::Path(id, vec![step]));
                                (Key::Lit(Val::from(s)), path)
                            }
                            None => return Term::Unsupported("object key".into()),
                        },
                        (k, Some(v)) => {
                            let key = match literal(&k) {
                                Some(s) => Key::Lit(Val::from(s)),
                                None => Key::Term(self.term(k)),
                            };
                            (key, self.term(v))
                        }
                    });
                }
                Term::Obj(out)
            }
            P::Neg(t) => Term::Neg(self.term(*t)),
            P::BinOp(l, op, r) => self.binop(*l, op, *r),
            P::Fold("reduce", xs, pattern, args) if args.len() == 2 => {
                let Some(vars) = pattern_vars(&pattern) else {
                    return Term::Unsupported("pattern".into());
                };
                let mut args = args.into_iter();
                let (init, update) = (
                    args.next().unwrap_or_default(),
                    args.next().unwrap_or_default(),
                );
                let xs = self.term(*xs);
                let init = self.term(init);
                let depth = self.scope.len();
                let pat = self.bind(&pattern, vars);
                let update = self.term(update);
                self.scope.truncate(depth);
                Term::Reduce(xs, pat, init, update)
            }
            P::TryCatch(t, c) => {
                let t = self.term(*t);
                Term::Try(t, c.map(|c| self.term(*c)))
            }
            P::IfThenElse(branches, otherwise) => {
                let mut otherwise = match otherwise {
                    Some(e) => self.term(*e),
                    None => self.push(Term::Id),
                };
                let branches: Vec<(Id, Id)> = branches
                    .into_iter()
                    .map(|(c, t)| (self.term(c), self.term(t)))
                    .collect();
                for (i, (c, t)) in branches.into_iter().enumerate().rev() {
                    if i == 0 {
                        return Term::If(c, t, otherwise);
                    }
                    otherwise = self.push(Term::If(c, t, otherwise));
                }
                Term::Unsupported("if".into())
            }
            P::Def(defs, body) => self.local_defs(defs, *body),
            P::Call(name, args) => self.call(name, args),
            P::Var(x) => match self.find(|s| matches!(s, Scope::Var(v) if *v == x)) {
                Some(k) => Term::Var(k),
                None => match GLOBALS.iter().position(|g| *g == x) {
                    Some(i) => Term::Global(i),
                    None => Term::Unsupported(format!("variable {x}")),
                },
            },
            P::Path(t, path) => {
                let t = self.term(*t);
                let mut steps = Vec::new();
                for (part, opt) in path.0 {
                    steps.push((self.step(part), opt));
                }
                Term::Path(t, steps)
            }
            t => Term::Unsupported(format!("{:?}", std::mem::discriminant(&t))),
        }
    }

    fn step(&mut self, part: Part<P<&'s str>>) -> Step {
        match part {
            Part::Index(i) => match (&i, literal(&i)) {
                (_, Some(s)) => Step::Key(Val::from(s)),
                (P::Num(n), None) if n.parse::<isize>().is_ok() => {
                    Step::Key(Val::from(n.parse::<isize>().unwrap_or_default()))
                }
                _ => Step::Index(self.term(i)),
            },
            Part::Range(None, None) => Step::Iter,
            Part::Range(a, b) => {
                let a = a.map(|a| self.term(a));
                let b = b.map(|b| self.term(b));
                Step::Range(a, b)
            }
        }
    }

    fn binop(&mut self, l: P<&'s str>, op: BinaryOp<&'s str>, r: P<&'s str>) -> Term {
        match op {
            BinaryOp::Pipe(None) => Term::Pipe(self.term(l), self.term(r)),
            BinaryOp::Pipe(Some(pattern)) => {
                let Some(vars) = pattern_vars(&pattern) else {
                    return Term::Unsupported("pattern".into());
                };
                let l = self.term(l);
                let depth = self.scope.len();
                let pat = self.bind(&pattern, vars);
                let r = self.term(r);
                self.scope.truncate(depth);
                Term::Bind(l, pat, r)
            }
            BinaryOp::Comma => Term::Comma(self.term(l), self.term(r)),
            BinaryOp::Alt => Term::Alt(self.term(l), self.term(r)),
            BinaryOp::Or => Term::Logic(self.term(l), true, self.term(r)),
            BinaryOp::And => Term::Logic(self.term(l), false, self.term(r)),
            BinaryOp::Math(m) => Term::Math(self.term(l), m, self.term(r)),
            BinaryOp::Cmp(c) => Term::Cmp(self.term(l), c, self.term(r)),
            BinaryOp::Assign => match self.keys(&l) {
                Some(k) => Term::Assign(k, self.term(r)),
                None => Term::Unsupported("assignment".into()),
            },
            BinaryOp::Update => match self.keys(&l) {
                Some(k) => Term::Update(k, self.term(r)),
                None => Term::Unsupported("update".into()),
            },
            BinaryOp::UpdateMath(m) => match self.keys(&l) {
                Some(k) => Term::UpdateMath(k, m, self.term(r)),
                None => Term::Unsupported("update".into()),
            },
            _ => Term::Unsupported("operator".into()),
        }
    }

    /// Bindings up from the innermost to the first that `is`.
    fn find(&self, is: impl Fn(&Scope<'s>) -> bool) -> Option<usize> {
        self.scope.iter().rev().position(is)
    }

    fn call(&mut self, name: &'s str, args: Vec<P<&'s str>>) -> Term {
        let n = args.len();
        let found = self.find(|s| match s {
            Scope::Fun(f) => *f == name && n == 0,
            Scope::Site(f, arity, _) => *f == name && *arity == n,
            Scope::Var(_) => false,
        });
        if let Some(k) = found {
            let scope = &self.scope[self.scope.len() - 1 - k];
            if let Scope::Site(_, _, def) = *scope {
                let args = self.args(args);
                return Term::Local(k, def, args);
            }
            return Term::Param(k);
        }
        if let Some(g) = self.globals[..self.visible]
            .iter()
            .rposition(|g| g.name == name && g.arity == n)
        {
            let def = self.global(g);
            let args = self.args(args);
            return Term::Call(def, args);
        }
        match (name, n) {
            ("empty", 0) => return Term::Empty,
            ("null", 0) => return Term::Lit(Val::Null),
            ("true", 0) => return Term::Lit(Val::Bool(true)),
            ("false", 0) => return Term::Lit(Val::Bool(false)),
            ("test", 1) => {
                let re = args.first().and_then(literal);
                return match re.map(|re| regex_bites::bytes::RegexBuilder::new(&re).build()) {
                    Some(Ok(re)) => Term::Test(re),
                    _ => Term::Unsupported("test".into()),
                };
            }
            ("del", 1) => {
                let mut paths = Vec::new();
                let mut stack = args;
                while let Some(a) = stack.pop() {
                    match a {
                        P::BinOp(l, BinaryOp::Comma, r) => stack.extend([*r, *l]),
                        a => match self.keys(&a) {
                            Some(k) => paths.push(k),
                            None => return Term::Unsupported("del".into()),
                        },
                    }
                }
                return Term::Delete(paths);
            }
            _ => {}
        }
        if let Some(b) = builtin(name, n) {
            let args = self.args(args);
            return Term::Builtin(b, args);
        }
        if let Some(&(_, _, f)) = NATIVES.iter().find(|(m, a, _)| *m == name && *a == n) {
            let args = self.args(args);
            let literals: Option<Box<[Val]>> = args
                .iter()
                .map(|a| match &self.terms[*a] {
                    Term::Lit(x) => Some(x.clone()),
                    _ => None,
                })
                .collect();
            return match literals {
                Some(values) => Term::NativeLit(f, values),
                None => Term::Native(f, args),
            };
        }
        Term::Unsupported(format!("{name}/{n}"))
    }

    fn args(&mut self, args: Vec<P<&'s str>>) -> Box<[Id]> {
        args.into_iter().map(|a| self.term(a)).collect()
    }

    /// The definition of the top level at `g`, compiled now if it was not yet.
    fn global(&mut self, g: usize) -> usize {
        if let Some(d) = self.globals[g].compiled {
            return d;
        }
        let def = self.globals[g].def.take().unwrap_or(PDef {
            name: "",
            args: Vec::new(),
            body: P::Call("!unsupported", Vec::new()),
        });
        let index = self.defs.len();
        self.globals[g].compiled = Some(index);
        self.defs.push(Def {
            body: usize::MAX,
            params: def.args.iter().map(|a| a.starts_with('$')).collect(),
        });
        let scope = std::mem::take(&mut self.scope);
        let visible = std::mem::replace(&mut self.visible, g + 1);
        self.params(&def.args);
        let body = self.term(def.body);
        self.defs[index].body = body;
        self.scope = scope;
        self.visible = visible;
        index
    }

    /// Brings a definition's parameters into scope as its call binds them: every parameter
    /// as a filter, then each value parameter (`$x`) as a variable.
    fn params(&mut self, args: &[&'s str]) {
        for a in args {
            self.scope
                .push(Scope::Fun(a.strip_prefix('$').unwrap_or(a)));
        }
        for a in args.iter().filter(|a| a.starts_with('$')) {
            self.scope.push(Scope::Var(a));
        }
    }

    /// Brings a pattern's variables into scope, in the order they are bound.
    fn bind(&mut self, pattern: &Pattern<&'s str>, vars: Vec<&'s str>) -> Pat {
        let pat = match pattern {
            Pattern::Var(_) => Pat::Var,
            _ => Pat::Arr(vars.len()),
        };
        for v in vars {
            self.scope.push(Scope::Var(v));
        }
        pat
    }

    /// The keys of a path of keys (`.a`, `."a"`, `.[e]`, `.a.b`), else `None`.
    fn keys(&mut self, t: &P<&'s str>) -> Option<Vec<Key>> {
        let P::Path(head, path) = t else {
            return None;
        };
        if !matches!(**head, P::Id) {
            return None;
        }
        let mut keys = Vec::new();
        for (part, opt) in &path.0 {
            keys.push(match (part, opt) {
                (Part::Index(i), Opt::Essential) => match literal(i) {
                    Some(s) => Key::Lit(Val::from(s)),
                    None => Key::Term(self.term(i.clone())),
                },
                _ => return None,
            });
        }
        Some(keys)
    }

    fn local_defs(&mut self, defs: Vec<PDef<&'s str>>, body: P<&'s str>) -> Term {
        let depth = self.scope.len();
        for d in defs {
            let index = self.defs.len();
            self.defs.push(Def {
                body: usize::MAX,
                params: d.args.iter().map(|a| a.starts_with('$')).collect(),
            });
            self.scope.push(Scope::Site(d.name, d.args.len(), index));
            let outer = self.scope.len();
            self.params(&d.args);
            self.defs[index].body = self.term(d.body);
            self.scope.truncate(outer);
        }
        let sites = self.scope.len() - depth;
        let mut t = self.term(body);
        self.scope.truncate(depth);
        for _ in 1..sites {
            t = self.push(Term::Site(t));
        }
        Term::Site(t)
    }
}

/// The variables of `$x` or `[$a, $b, ...]`, else `None`.
fn pattern_vars<'s>(p: &Pattern<&'s str>) -> Option<Vec<&'s str>> {
    match p {
        Pattern::Var(x) => Some(vec![x]),
        Pattern::Arr(ps) => ps
            .iter()
            .map(|p| match p {
                Pattern::Var(x) => Some(*x),
                _ => None,
            })
            .collect(),
        Pattern::Obj(_) => None,
    }
}
