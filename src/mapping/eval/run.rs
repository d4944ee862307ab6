//! Runs compiled terms, each pushing its outputs to a callback, with jaq's order of outputs.

use super::{Builtin, Def, Flow, Id, Key, NativeFn, Pat, Piece, Program, Step, Term};
use jaq_core::path::Opt;
use jaq_core::ValT;
use jaq_json::{Map, Val};
use std::cell::Cell;

type R = Result<(), Flow>;
type Out<'o> = &'o mut dyn FnMut(Val) -> R;

/// Stack a run may use: deeper recursion is left to jaq (which then has the whole stack
/// again) rather than overflow this thread's, at least 2 MiB for every thread of the service.
/// A level of nesting takes about a kilobyte in a release build and several in a debug build.
const MAX_STACK: usize = if cfg!(debug_assertions) { 1024 } else { 384 } * 1024;

/// One binding of the environment.
enum Slot<'a> {
    Var(Val),
    /// A filter argument and the environment of its caller.
    Fun(Id, Option<&'a Env<'a>>),
    /// Where local definitions came into scope.
    Site,
}

/// The environment: bindings on the stack, innermost first.
pub(super) struct Env<'a> {
    slot: Slot<'a>,
    up: Option<&'a Env<'a>>,
}

fn up<'a>(mut env: Option<&'a Env<'a>>, k: usize) -> Result<&'a Env<'a>, Flow> {
    for _ in 0..k {
        env = env.and_then(|e| e.up);
    }
    env.ok_or_else(|| un("binding"))
}

fn err(e: jaq_core::Error<Val>) -> Flow {
    Flow::Err(e.into_val())
}

/// A part evaluated for a construction whose parts jaq combines (objects, strings): at most
/// one output is handled here.
enum One {
    Zero,
    One(Val),
}

/// What one run costs to set up: the program, the global variables, labels and depth.
pub(super) struct Cx<'p> {
    p: &'p Program,
    globals: &'p [Val],
    labels: Cell<usize>,
    /// The stack's address where the run started.
    base: usize,
}

impl<'p> Cx<'p> {
    pub(super) fn new(p: &'p Program, globals: &'p [Val]) -> Self {
        Cx {
            p,
            globals,
            labels: Cell::new(0),
            base: stack_address(),
        }
    }

    fn label(&self) -> usize {
        self.labels.set(self.labels.get() + 1);
        self.labels.get()
    }

    pub(super) fn run(&self, t: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        if self.base.abs_diff(stack_address()) > MAX_STACK {
            return Err(un("stack"));
        }
        self.step(t, env, v, out)
    }

    /// The first output of `t` (or none), `Unsupported` when it has more than one.
    fn one(&self, t: Id, env: Option<&Env<'_>>, v: Val) -> Result<One, Flow> {
        match &self.p.terms[t] {
            Term::Lit(x) => return Ok(One::One(x.clone())),
            Term::Id => return Ok(One::One(v)),
            Term::Var(k) => {
                if let Slot::Var(x) = &up(env, *k)?.slot {
                    return Ok(One::One(x.clone()));
                }
            }
            _ => {}
        }
        let mut got = None;
        let mut many = false;
        self.run(t, env, v, &mut |x| {
            if got.is_some() {
                many = true;
                return Err(un("binding"));
            }
            got = Some(x);
            Ok(())
        })?;
        if many {
            return Err(un("binding"));
        }
        Ok(got.map_or(One::Zero, One::One))
    }

    /// One term. Each arm with closures is a function of its own, so that this frame (one
    /// per level of nesting) stays small, in debug builds too.
    fn step(&self, t: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        match &self.p.terms[t] {
            Term::Id => out(v),
            Term::Empty => Ok(()),
            Term::Lit(x) => out(x.clone()),
            Term::Unsupported(what) => {
                tracing::trace!(what, "the mapping evaluator hands a document to jaq");
                Err(Flow::Unsupported)
            }
            Term::Str(pieces) => self.string(pieces, env, v, out),
            Term::Arr(f) => self.array(*f, env, v, out),
            Term::Obj(entries) => self.object(entries, env, v, out),
            Term::Pipe(l, r) => self.pipe(*l, *r, env, v, out),
            Term::Bind(l, pat, r) => self.bind_term(*l, *pat, *r, env, v, out),
            Term::Comma(l, r) => {
                self.run(*l, env, v.clone(), out)?;
                self.run(*r, env, v, out)
            }
            Term::Var(k) => match &up(env, *k)?.slot {
                Slot::Var(x) => out(x.clone()),
                _ => Err(un("binding")),
            },
            Term::Global(i) => out(self.globals.get(*i).cloned().unwrap_or_default()),
            Term::Param(k) => match &up(env, *k)?.slot {
                Slot::Fun(f, caller) => self.run(*f, *caller, v, out),
                _ => Err(un("binding")),
            },
            Term::Call(d, args) => self.call(&self.p.defs[*d], args, env, None, v, out),
            Term::Local(k, d, args) => {
                let site = up(env, *k)?;
                self.call(&self.p.defs[*d], args, env, Some(site), v, out)
            }
            Term::Site(body) => {
                let e = Env {
                    slot: Slot::Site,
                    up: env,
                };
                self.run(*body, Some(&e), v, out)
            }
            Term::Native(f, args) => self.native(*f, args, env, v, out),
            Term::NativeLit(f, args) => out(f(&v, args).map_err(err)?),
            Term::Builtin(b, args) => self.builtin(*b, args, env, v, out),
            Term::Test(re) => match &v {
                Val::TStr(b) => out(Val::Bool(re.is_match(b))),
                _ => Err(un("test")),
            },
            Term::Path(f, steps) => self.path(*f, steps, env, v, out),
            _ => self.other(t, env, v, out),
        }
    }

    fn array(&self, f: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let mut a = Vec::new();
        self.run(f, env, v, &mut |x| {
            a.push(x);
            Ok(())
        })?;
        out(Val::Arr(a.into()))
    }

    fn pipe(&self, l: Id, r: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        self.run(l, env, v, &mut |y| self.run(r, env, y, out))
    }

    fn bind_term(&self, l: Id, pat: Pat, r: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        self.run(l, env, v.clone(), &mut |y| {
            bind(pat, y, 0, env, &mut |e| self.run(r, e, v.clone(), out))
        })
    }

    fn native(&self, f: NativeFn, args: &[Id], env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let mut bound: [Val; 4] = Default::default();
        if args.len() > bound.len() {
            return Err(un("arguments"));
        }
        self.bind_values(args, env, &v, &mut bound, 0, &mut |a| {
            out(f(&v, a).map_err(err)?)
        })
    }

    /// The terms less common than those of [`Cx::step`].
    fn other(&self, t: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        match &self.p.terms[t] {
            Term::Neg(f) => self.run(*f, env, v, &mut |x| out((-x).map_err(err)?)),
            Term::Alt(l, r) => {
                let mut any = false;
                self.run(*l, env, v.clone(), &mut |y| match y.as_bool() {
                    true => {
                        any = true;
                        out(y)
                    }
                    false => Ok(()),
                })?;
                match any {
                    true => Ok(()),
                    false => self.run(*r, env, v, out),
                }
            }
            Term::Logic(l, stop, r) => self.run(*l, env, v.clone(), &mut |x| {
                if x.as_bool() == *stop {
                    out(Val::Bool(*stop))
                } else {
                    self.run(*r, env, v.clone(), &mut |y| out(Val::Bool(y.as_bool())))
                }
            }),
            Term::Math(l, op, r) => self.cartesian(*l, *r, env, v, &mut |x, y| {
                out(op.run(x, y).map_err(err)?)
            }),
            Term::Cmp(l, op, r) => {
                self.cartesian(*l, *r, env, v, &mut |x, y| out(Val::Bool(op.run(&x, &y))))
            }
            Term::Reduce(xs, pat, init, update) => {
                self.reduce(*xs, *pat, *init, *update, env, v, out)
            }
            Term::Try(f, catch) => {
                let mut downstream = false;
                let r = self.run(*f, env, v, &mut |x| {
                    let r = out(x);
                    downstream = r.is_err();
                    r
                });
                match r {
                    Err(Flow::Err(e)) if !downstream => match catch {
                        Some(c) => self.run(*c, env, e, out),
                        None => Ok(()),
                    },
                    r => r,
                }
            }
            Term::If(c, then, otherwise) => self.run(*c, env, v.clone(), &mut |x| {
                let branch = if x.as_bool() { *then } else { *otherwise };
                self.run(branch, env, v.clone(), out)
            }),
            _ => self.assignment(t, env, v, out),
        }
    }

    fn assignment(&self, t: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        match &self.p.terms[t] {
            Term::Assign(keys, rhs) => self.assign(keys, None, *rhs, env, v, out),
            Term::UpdateMath(keys, op, rhs) => self.assign(keys, Some(*op), *rhs, env, v, out),
            Term::Update(keys, f) => {
                let keys = self.keys(keys, env, &v)?;
                out(update(v, &keys, &mut |x| {
                    let label = self.label();
                    let mut first = None;
                    match self.run(*f, env, x, &mut |y| {
                        first = Some(y);
                        Err(Flow::Break(label))
                    }) {
                        Err(Flow::Break(l)) if l == label => Ok(first),
                        Ok(()) => Ok(None),
                        Err(e) => Err(e),
                    }
                })?)
            }
            Term::Delete(paths) => {
                let mut v = v;
                for keys in paths {
                    let keys = self.keys(keys, env, &v)?;
                    v = update(v, &keys, &mut |_| Ok(None))?;
                }
                out(v)
            }
            _ => Err(un("term")),
        }
    }

    /// The keys of an assignment's path, each computed one on `v` (`Unsupported` when one
    /// has no output or several).
    fn keys(&self, keys: &[Key], env: Option<&Env<'_>>, v: &Val) -> Result<Vec<Val>, Flow> {
        keys.iter()
            .map(|k| match k {
                Key::Lit(x) => Ok(x.clone()),
                Key::Term(t) => match self.one(*t, env, v.clone())? {
                    One::One(x) => Ok(x),
                    One::Zero => Err(un("key")),
                },
            })
            .collect()
    }

    /// Every pair of an output of `l` and one of `r` (those of `l` outer), as jaq pairs them:
    /// an error of `l` shows only if `r` has an output.
    fn cartesian(
        &self,
        l: Id,
        r: Id,
        env: Option<&Env<'_>>,
        v: Val,
        f: &mut dyn FnMut(Val, Val) -> R,
    ) -> R {
        if let Term::Lit(y) = &self.p.terms[r] {
            return self.run(l, env, v, &mut |x| f(x, y.clone()));
        }
        // `. op r`: the input itself is the left value, and nothing else holds it once `r`
        // has run (so `. + [$x]` in a `reduce` extends the array in place).
        if let Term::Id = &self.p.terms[l] {
            let ys = self.outputs(r, env, v.clone())?;
            return each_last(ys, v, f);
        }
        let mut downstream = false;
        let result = self.run(l, env, v.clone(), &mut |x| {
            // The last pairing takes `x` itself, so that `. + [$x]` extends an array that
            // nothing else holds rather than a copy.
            let r = self
                .outputs(r, env, v.clone())
                .and_then(|ys| each_last(ys, x, &mut |x, y| f(x, y)));
            downstream = r.is_err();
            r
        });
        match result {
            Err(Flow::Err(e)) if !downstream => match self.any_output(r, env, v)? {
                true => Err(Flow::Err(e)),
                false => Ok(()),
            },
            r => r,
        }
    }

    /// The outputs of `t`: an error before any is that error, one after some is left to jaq
    /// (which would have given those outputs first).
    fn outputs(&self, t: Id, env: Option<&Env<'_>>, v: Val) -> Result<Outputs, Flow> {
        let mut got = Outputs::default();
        let r = self.run(t, env, v, &mut |x| {
            match got.first.is_none() {
                true => got.first = Some(x),
                false => got.rest.push(x),
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(got),
            Err(Flow::Err(_)) if got.first.is_some() => Err(un("error after outputs")),
            Err(e) => Err(e),
        }
    }

    /// `path = rhs` (`op` none) or `path op= rhs`: for each output of `rhs`, the input with the
    /// path updated; the last takes the input itself (no copy of what nothing else holds).
    fn assign(
        &self,
        keys: &[Key],
        op: Option<jaq_core::ops::Math>,
        rhs: Id,
        env: Option<&Env<'_>>,
        v: Val,
        out: Out<'_>,
    ) -> R {
        let ys = self.outputs(rhs, env, v.clone())?;
        each_last(ys, v, &mut |base, y| {
            let keys = self.keys(keys, env, &base)?;
            let mut y = Some(y);
            let new = match op {
                None => update(base, &keys, &mut |_| Ok(y.take())),
                Some(op) => update(base, &keys, &mut |x| {
                    op.run(x, y.take().unwrap_or_default())
                        .map(Some)
                        .map_err(err)
                }),
            }?;
            out(new)
        })
    }

    /// Whether `t` has an output (an error counts).
    fn any_output(&self, t: Id, env: Option<&Env<'_>>, v: Val) -> Result<bool, Flow> {
        let label = self.label();
        match self.run(t, env, v, &mut |_| Err(Flow::Break(label))) {
            Ok(()) => Ok(false),
            Err(Flow::Break(l)) if l == label => Ok(true),
            Err(Flow::Err(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Parts combined as jaq combines a sum `p0 + (p1 + ...)`, each with at most one output:
    /// nothing when one has none, else the first error, else `finish` of the values.
    fn parts(
        &self,
        count: usize,
        eval: &mut dyn FnMut(usize) -> Result<One, Flow>,
        finish: &mut dyn FnMut(usize, Val) -> R,
    ) -> R {
        let mut error = None;
        let mut values = Vec::new();
        for i in 0..count {
            match eval(i) {
                Ok(One::Zero) => return Ok(()),
                Ok(One::One(x)) => values.push(x),
                Err(Flow::Err(e)) => {
                    error.get_or_insert(e);
                    values.push(Val::Null);
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = error {
            return Err(Flow::Err(e));
        }
        for (i, x) in values.into_iter().enumerate() {
            finish(i, x)?;
        }
        Ok(())
    }

    /// A string with interpolations, as jaq's sum of its pieces: nothing when a piece has no
    /// output, else the first error, else the text.
    fn string(&self, pieces: &[Piece], env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let mut s = String::new();
        let mut error = None;
        for p in pieces {
            match p {
                Piece::Lit(t) => s.push_str(t),
                Piece::Term(t) => match self.one(*t, env, v.clone()) {
                    Ok(One::Zero) => return Ok(()),
                    Ok(One::One(x)) => match x.into_string() {
                        Val::TStr(b) => match std::str::from_utf8(&b) {
                            Ok(t) => s.push_str(t),
                            Err(_) => return Err(un("text")),
                        },
                        _ => return Err(un("text")),
                    },
                    Err(Flow::Err(e)) => {
                        error.get_or_insert(e);
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        match error {
            Some(e) => Err(Flow::Err(e)),
            None => out(Val::from(s)),
        }
    }

    /// An object construction, as jaq's sum of one-entry objects: nothing when a key or
    /// value has no output, else the first error, else the object.
    fn object(&self, entries: &[(Key, Id)], env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let mut map = Map::default();
        let mut error = None;
        for (k, value) in entries {
            let key = match k {
                Key::Lit(k) => Ok(One::One(k.clone())),
                Key::Term(t) => self.one(*t, env, v.clone()),
            };
            let mut pair = [None, None];
            for (i, part) in [key, self.one(*value, env, v.clone())]
                .into_iter()
                .enumerate()
            {
                match part {
                    Ok(One::One(x)) => pair[i] = Some(x),
                    Ok(One::Zero) => return Ok(()),
                    Err(Flow::Err(e)) => {
                        error.get_or_insert(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let ([Some(k), Some(x)], None) = (pair, &error) {
                map.insert(k, x);
            }
        }
        match error {
            Some(e) => Err(Flow::Err(e)),
            None => out(Val::obj(map)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reduce(
        &self,
        xs: Id,
        pat: Pat,
        init: Id,
        update: Id,
        env: Option<&Env<'_>>,
        v: Val,
        out: Out<'_>,
    ) -> R {
        self.run(init, env, v.clone(), &mut |start| {
            let label = self.label();
            let mut acc = Some(start);
            let r = self.run(xs, env, v.clone(), &mut |x| {
                bind(pat, x, 0, env, &mut |e| {
                    let current = acc.take().unwrap_or_default();
                    match self.one(update, e, current)? {
                        One::One(y) => {
                            acc = Some(y);
                            Ok(())
                        }
                        One::Zero => Err(Flow::Break(label)),
                    }
                })
            });
            match r {
                Ok(()) => out(acc.take().unwrap_or_default()),
                Err(Flow::Break(l)) if l == label => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn call(
        &self,
        def: &Def,
        args: &[Id],
        caller: Option<&Env<'_>>,
        base: Option<&Env<'_>>,
        v: Val,
        out: Out<'_>,
    ) -> R {
        let call = Call { def, args, caller };
        self.push_funs(&call, 0, base, v, out)
    }

    /// Binds the filter parameters from the `i`th on (each its argument in the caller's
    /// environment), then the value parameters.
    fn push_funs(
        &self,
        call: &Call<'_, '_>,
        i: usize,
        env: Option<&Env<'_>>,
        v: Val,
        out: Out<'_>,
    ) -> R {
        if i == call.args.len() {
            return self.bind_params(call, 0, env, v, out);
        }
        let e = Env {
            slot: Slot::Fun(call.args[i], call.caller),
            up: env,
        };
        self.push_funs(call, i + 1, Some(&e), v, out)
    }

    /// Binds the value parameters from the `j`th on (each output of its argument in turn,
    /// the first parameter outermost), then runs the body.
    fn bind_params(
        &self,
        call: &Call<'_, '_>,
        j: usize,
        env: Option<&Env<'_>>,
        v: Val,
        out: Out<'_>,
    ) -> R {
        let Some(next) = (j..call.args.len()).find(|&p| call.def.params[p]) else {
            return self.run(call.def.body, env, v, out);
        };
        self.run(call.args[next], call.caller, v.clone(), &mut |x| {
            let e = Env {
                slot: Slot::Var(x),
                up: env,
            };
            self.bind_params(call, next + 1, Some(&e), v.clone(), out)
        })
    }

    /// Each combination of the outputs of `args` (the first outermost), handed to `then`.
    fn bind_values(
        &self,
        args: &[Id],
        env: Option<&Env<'_>>,
        v: &Val,
        bound: &mut [Val; 4],
        i: usize,
        then: &mut dyn FnMut(&[Val]) -> R,
    ) -> R {
        if i == args.len() {
            return then(&bound[..i]);
        }
        if let Term::Lit(x) = &self.p.terms[args[i]] {
            bound[i] = x.clone();
            return self.bind_values(args, env, v, bound, i + 1, then);
        }
        self.run(args[i], env, v.clone(), &mut |x| {
            bound[i] = x;
            self.bind_values(args, env, v, bound, i + 1, then)
        })
    }

    fn path(&self, f: Id, steps: &[(Step, Opt)], env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let computed = steps
            .iter()
            .any(|(s, _)| matches!(s, Step::Index(_) | Step::Range(..)));
        if !computed {
            return self.run(f, env, v, &mut |y| walk(steps, &[], y, out));
        }
        // Index terms run on the path's input, once, and only if `f` has an output.
        let mut indices: Option<Option<Vec<Option<Val>>>> = None;
        self.run(f, env, v.clone(), &mut |y| {
            if indices.is_none() {
                indices = Some(self.indices(steps, env, &v)?);
            }
            match &indices {
                Some(Some(i)) => walk(steps, i, y, out),
                _ => Ok(()),
            }
        })
    }

    /// The values of the path's index terms, two per step (`None` where a step has none),
    /// or `None` when one has no output (the path then gives nothing); the first error.
    fn indices(
        &self,
        steps: &[(Step, Opt)],
        env: Option<&Env<'_>>,
        v: &Val,
    ) -> Result<Option<Vec<Option<Val>>>, Flow> {
        let mut terms = Vec::new();
        for (s, _) in steps {
            match s {
                Step::Index(t) => terms.extend([Some(*t), None]),
                Step::Range(a, b) => terms.extend([*a, *b]),
                _ => terms.extend([None, None]),
            }
        }
        let mut values = vec![None; terms.len()];
        let mut ran = false;
        self.parts(
            terms.len(),
            &mut |i| match terms[i] {
                Some(t) => self.one(t, env, v.clone()),
                None => Ok(One::One(Val::Null)),
            },
            &mut |i, x| {
                ran = true;
                if terms[i].is_some() {
                    values[i] = Some(x);
                }
                Ok(())
            },
        )?;
        Ok(ran.then_some(values))
    }

    fn builtin(&self, b: Builtin, args: &[Id], env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        use Builtin::*;
        let arg = |i: usize| args.get(i).copied().ok_or_else(|| un("arguments"));
        match b {
            Error0 => Err(Flow::Err(v)),
            Error1 => self.run(arg(0)?, env, v, &mut |x| Err(Flow::Err(x))),
            Not => out(Val::Bool(!v.as_bool())),
            Select => self.run(arg(0)?, env, v.clone(), &mut |c| match c.as_bool() {
                true => out(v.clone()),
                false => Ok(()),
            }),
            Map => {
                let f = arg(0)?;
                let mut a = Vec::new();
                each(v, &mut |x| {
                    self.run(f, env, x, &mut |y| {
                        a.push(y);
                        Ok(())
                    })
                })?;
                out(Val::Arr(a.into()))
            }
            First0 => out(v.index(&Val::from(0isize)).map_err(err)?),
            Last0 => out(v.index(&Val::from(-1isize)).map_err(err)?),
            First1 => {
                let label = self.label();
                let mut result = Ok(());
                match self.run(arg(0)?, env, v, &mut |x| {
                    result = out(x);
                    Err(Flow::Break(label))
                }) {
                    Err(Flow::Break(l)) if l == label => result,
                    r => r,
                }
            }
            Last1 => {
                let mut last = None;
                self.run(arg(0)?, env, v, &mut |x| {
                    last = Some(x);
                    Ok(())
                })?;
                match last {
                    Some(x) => out(x),
                    None => Ok(()),
                }
            }
            Length => out(match &v {
                Val::Null => Val::from(0usize),
                Val::TStr(b) => match std::str::from_utf8(b) {
                    Ok(s) => Val::from(s.chars().count()),
                    Err(_) => return Err(un("text")),
                },
                Val::Arr(a) => Val::from(a.len()),
                Val::Obj(o) => Val::from(o.len()),
                _ => return Err(un("length")),
            }),
            Type => out(Val::from(
                match &v {
                    Val::Null => "null",
                    Val::Bool(_) => "boolean",
                    Val::Num(_) => "number",
                    Val::TStr(_) => "string",
                    Val::Arr(_) => "array",
                    Val::Obj(_) => "object",
                    Val::BStr(_) => return Err(un("type")),
                }
                .to_string(),
            )),
            ToString => out(v.into_string()),
            Index => self.run(arg(0)?, env, v.clone(), &mut |i| match (&v, &i) {
                (Val::Arr(_), Val::Arr(_)) => Err(un("index")),
                (Val::Arr(a), _) => out(match a.iter().position(|x| *x == i) {
                    Some(p) => Val::from(p as isize),
                    None => Val::Null,
                }),
                _ => Err(un("index")),
            }),
            ToJson => {
                let mut text = Vec::new();
                let pp = jaq_json::write::Pp::default();
                jaq_json::write::write(&mut text, &pp, 0, &v).map_err(|_| un("tojson"))?;
                out(Val::utf8_str(text))
            }
            Keys => match &v {
                Val::Obj(o) => {
                    let mut k: Vec<Val> = o.keys().cloned().collect();
                    k.sort();
                    out(Val::Arr(k.into()))
                }
                Val::Arr(a) => out((0..a.len()).map(Val::from).collect()),
                _ => Err(un("keys")),
            },
            ToEntries => {
                let entry = |k: Val, x: Val| {
                    let mut m = jaq_json::Map::default();
                    m.insert(Val::from("key".to_string()), k);
                    m.insert(Val::from("value".to_string()), x);
                    Val::obj(m)
                };
                match &v {
                    Val::Obj(o) => {
                        out(o.iter().map(|(k, x)| entry(k.clone(), x.clone())).collect())
                    }
                    Val::Arr(a) => out(a
                        .iter()
                        .enumerate()
                        .map(|(i, x)| entry(Val::from(i as isize), x.clone()))
                        .collect()),
                    _ => Err(un("to_entries")),
                }
            }
            Add => {
                let mut acc = Val::Null;
                each(v, &mut |x| {
                    acc = (std::mem::take(&mut acc) + x).map_err(err)?;
                    Ok(())
                })?;
                out(acc)
            }
            Unique | Sort => match &v {
                Val::Arr(a) => {
                    let mut a: Vec<Val> = a.iter().cloned().collect();
                    a.sort();
                    if let Unique = b {
                        a.dedup();
                    }
                    out(Val::Arr(a.into()))
                }
                _ => Err(un("unique")),
            },
            Join => self.run(arg(0)?, env, v.clone(), &mut |sep| {
                let Val::Arr(a) = &v else {
                    return Err(un("join"));
                };
                let sep = match &sep {
                    Val::Null => "",
                    Val::TStr(b) => std::str::from_utf8(b).map_err(|_| un("join"))?,
                    _ => return Err(un("join")),
                };
                let mut s = String::new();
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        s.push_str(sep);
                    }
                    match x.clone().into_string() {
                        Val::TStr(b) => {
                            s.push_str(std::str::from_utf8(&b).map_err(|_| un("join"))?)
                        }
                        _ => return Err(un("join")),
                    }
                }
                out(Val::from(s))
            }),
            Split => self.run(arg(0)?, env, v.clone(), &mut |sep| match (&v, &sep) {
                (Val::TStr(_), Val::TStr(_)) => out((v.clone() / sep).map_err(err)?),
                _ => Err(Flow::Err(Val::from(
                    "split input and separator must be strings".to_string(),
                ))),
            }),
            IsEmpty => {
                let found = self.found(arg(0)?, env, v, &mut |_| true)?;
                out(Val::Bool(!found))
            }
            Any2 | All2 | Any1 | All1 => {
                let (g, c) = match b {
                    Any2 | All2 => (Some(arg(0)?), arg(1)?),
                    _ => (None, arg(0)?),
                };
                let any = matches!(b, Any2 | Any1);
                // `any` stops at a true condition, `all` at a false one.
                let label = self.label();
                let mut test = |x: Val| {
                    self.run(c, env, x, &mut |y| match y.as_bool() == any {
                        true => Err(Flow::Break(label)),
                        false => Ok(()),
                    })
                };
                let r = match g {
                    Some(g) => self.run(g, env, v, &mut test),
                    None => each(v, &mut test),
                };
                let stopped = match r {
                    Ok(()) => false,
                    Err(Flow::Break(l)) if l == label => true,
                    Err(e) => return Err(e),
                };
                out(Val::Bool(if any { stopped } else { !stopped }))
            }
            Until => self.until(arg(0)?, arg(1)?, env, v, out),
            GroupBy => {
                let Val::Arr(a) = &v else {
                    return Err(un("group_by"));
                };
                let f = arg(0)?;
                let mut keyed = Vec::with_capacity(a.len());
                for x in a.iter() {
                    let mut key = Vec::new();
                    self.run(f, env, x.clone(), &mut |k| {
                        key.push(k);
                        Ok(())
                    })?;
                    keyed.push((key, x.clone()));
                }
                keyed.sort_by(|(k1, _), (k2, _)| k1.cmp(k2));
                let mut groups: Vec<Val> = Vec::new();
                let mut group: Vec<Val> = Vec::new();
                let mut last: Option<Vec<Val>> = None;
                for (k, x) in keyed {
                    if last.as_ref().is_some_and(|l| *l != k) {
                        groups.push(Val::Arr(std::mem::take(&mut group).into()));
                    }
                    last = Some(k);
                    group.push(x);
                }
                if !group.is_empty() {
                    groups.push(Val::Arr(group.into()));
                }
                out(Val::Arr(groups.into()))
            }
        }
    }

    /// Whether `t` has an output for which `keep` holds (stopping at the first).
    fn found(
        &self,
        t: Id,
        env: Option<&Env<'_>>,
        v: Val,
        keep: &mut dyn FnMut(&Val) -> bool,
    ) -> Result<bool, Flow> {
        let label = self.label();
        match self.run(t, env, v, &mut |x| match keep(&x) {
            true => Err(Flow::Break(label)),
            false => Ok(()),
        }) {
            Ok(()) => Ok(false),
            Err(Flow::Break(l)) if l == label => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// `until(cond; update)` as a loop, each of `cond` and `update` giving at most one output
    /// (several are left to jaq).
    fn until(&self, cond: Id, update: Id, env: Option<&Env<'_>>, v: Val, out: Out<'_>) -> R {
        let mut v = v;
        loop {
            match self.one(cond, env, v.clone())? {
                One::Zero => return Ok(()),
                One::One(c) if c.as_bool() => return out(v),
                One::One(_) => match self.one(update, env, v)? {
                    One::Zero => return Ok(()),
                    One::One(u) => v = u,
                },
            }
        }
    }
}

/// A call of a definition: what it calls, with which arguments, from where.
struct Call<'a, 'e> {
    def: &'a Def,
    args: &'a [Id],
    caller: Option<&'e Env<'e>>,
}

/// The outputs of a term: the first apart, so that one output needs no vector.
#[derive(Default)]
struct Outputs {
    first: Option<Val>,
    rest: Vec<Val>,
}

/// `f(x, y)` for each output `y`, in order, `x` copied for all but the last.
fn each_last(ys: Outputs, x: Val, f: &mut dyn FnMut(Val, Val) -> R) -> R {
    let Some(first) = ys.first else {
        return Ok(());
    };
    if ys.rest.is_empty() {
        return f(x, first);
    }
    f(x.clone(), first)?;
    let n = ys.rest.len();
    for (i, y) in ys.rest.into_iter().enumerate() {
        if i + 1 == n {
            return f(x, y);
        }
        f(x.clone(), y)?;
    }
    Ok(())
}

/// Binds `x` to a pattern's variables from the `i`th on (`$x`: `x`; `[$a, $b]`: its
/// elements, through jaq's indexing) and hands the environment to `then`.
fn bind(
    pat: Pat,
    x: Val,
    i: usize,
    env: Option<&Env<'_>>,
    then: &mut dyn FnMut(Option<&Env<'_>>) -> R,
) -> R {
    match pat {
        Pat::Var => {
            let e = Env {
                slot: Slot::Var(x),
                up: env,
            };
            then(Some(&e))
        }
        Pat::Arr(n) if i == n => then(env),
        Pat::Arr(_) => {
            let element = x.clone().index(&Val::from(i as isize)).map_err(err)?;
            let e = Env {
                slot: Slot::Var(element),
                up: env,
            };
            bind(pat, x, i + 1, Some(&e), then)
        }
    }
}

/// Where this call's frame is on the stack.
#[inline(never)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// `.[]`: each child of an array or object, else jaq's error.
fn each(v: Val, f: &mut dyn FnMut(Val) -> R) -> R {
    match v {
        Val::Arr(a) => a.iter().try_for_each(|x| f(x.clone())),
        Val::Obj(o) => o.values().try_for_each(|x| f(x.clone())),
        other => match other.values().next() {
            Some(Err(e)) => Err(err(e)),
            _ => Err(un("path")),
        },
    }
}

/// Applies path steps to `y`; `indices` holds two values per step for computed steps.
fn walk(steps: &[(Step, Opt)], indices: &[Option<Val>], y: Val, out: Out<'_>) -> R {
    let Some(((step, opt), rest)) = steps.split_first() else {
        return out(y);
    };
    let next = if indices.len() >= 2 {
        &indices[2..]
    } else {
        indices
    };
    let fail = |e: jaq_core::Error<Val>| match opt {
        Opt::Optional => Ok(()),
        Opt::Essential => Err(err(e)),
    };
    match step {
        Step::Key(k) => match y.index(k) {
            Ok(z) => walk(rest, next, z, out),
            Err(e) => fail(e),
        },
        Step::Index(_) => match indices.first() {
            Some(Some(k)) => match y.index(k) {
                Ok(z) => walk(rest, next, z, out),
                Err(e) => fail(e),
            },
            _ => Err(un("path")),
        },
        Step::Range(a, b) => {
            let from = a.and(indices.first().and_then(Option::as_ref));
            let upto = b.and(indices.get(1).and_then(Option::as_ref));
            match y.range(from..upto) {
                Ok(z) => walk(rest, next, z, out),
                Err(e) => fail(e),
            }
        }
        Step::Iter => match y {
            Val::Arr(a) => a.iter().try_for_each(|x| walk(rest, next, x.clone(), out)),
            Val::Obj(o) => o
                .values()
                .try_for_each(|x| walk(rest, next, x.clone(), out)),
            other => match other.values().next() {
                Some(Err(e)) => fail(e),
                _ => Err(un("path")),
            },
        },
    }
}

/// `v` with the value at the object keys `keys` replaced by `f` of it (`None` removes the
/// key, as jaq does, moving the last key into its place); jaq answers anything but objects.
fn update(
    v: Val,
    keys: &[Val],
    f: &mut dyn FnMut(Val) -> Result<Option<Val>, Flow>,
) -> Result<Val, Flow> {
    let Some((k, rest)) = keys.split_first() else {
        return Err(un("update"));
    };
    let Val::Obj(mut o) = v else {
        return Err(un("update"));
    };
    let m = jaq_json::Rc::make_mut(&mut o);
    let old = m.get(k).cloned();
    let present = old.is_some();
    let new = match rest.is_empty() {
        true => f(old.unwrap_or_default())?,
        false => Some(update(old.unwrap_or_default(), rest, f)?),
    };
    match (new, present) {
        (Some(x), true) => {
            if let Some(slot) = m.get_mut(k) {
                *slot = x;
            }
        }
        (Some(x), false) => {
            m.insert(k.clone(), x);
        }
        (None, true) => {
            m.swap_remove(k);
        }
        (None, false) => {}
    }
    Ok(Val::Obj(o))
}

/// Hands the document to jaq, saying why at trace level.
fn un(why: &'static str) -> Flow {
    tracing::trace!(why, "the mapping evaluator hands a document to jaq");
    Flow::Unsupported
}
