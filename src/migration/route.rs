//! Routes of a phased migration: which records a route covers, its legacy and modern
//! targets, its mode, and the checks `edigate check` (and a reload) make on them.

use serde::Deserialize;

/// How a route sends its records (`mode = ...`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Legacy targets only.
    Legacy,
    /// Legacy is the system of record; the modern targets get the same records, recorded and
    /// compared, never acknowledged to the partner.
    Shadow,
    /// Both sides live, each retried on its own.
    Dual,
    /// Modern targets only.
    Modern,
}

/// A side of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Legacy,
    Modern,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Legacy => "legacy",
            Side::Modern => "modern",
        }
    }

    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "legacy" => Some(Side::Legacy),
            "modern" => Some(Side::Modern),
            _ => None,
        }
    }
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Legacy, Mode::Shadow, Mode::Dual, Mode::Modern];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Legacy => "legacy",
            Mode::Shadow => "shadow",
            Mode::Dual => "dual",
            Mode::Modern => "modern",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether records routed under this mode go to `side` at all.
    pub fn sends(self, side: Side) -> bool {
        match side {
            Side::Legacy => self != Mode::Modern,
            Side::Modern => self != Mode::Legacy,
        }
    }

    /// Whether `side` is live under this mode (its outcome counts, and travels back to the
    /// partner), rather than a shadow that is only recorded and compared.
    pub fn live(self, side: Side) -> bool {
        self.sends(side) && !(self == Mode::Shadow && side == Side::Modern)
    }
}

/// A named rule for known noise: differences in these fields are reported as ignored, not
/// as differences (with a tolerance, only those within it).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    pub name: String,
    /// Field names as reconcile reports them (`total`, `lines`, `line.*.amount`).
    pub fields: Vec<String>,
    /// For numbers: differences up to this much are noise (`"0.01"`); absent: any.
    #[serde(default)]
    pub tolerance: Option<String>,
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    /// Partner ids; `*` and `?` are wildcards.
    pub partners: Vec<String>,
    /// Schemas (`invoice/v1`); wildcards too.
    pub documents: Vec<String>,
    /// Target names on each side; several on a side are each delivered on their own.
    #[serde(default)]
    pub legacy: Vec<String>,
    #[serde(default)]
    pub modern: Vec<String>,
    pub mode: Mode,
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
    /// Process orchestration: ordered steps each record of the route runs, one after the
    /// other (`[[routes.steps]]`); empty: every target is delivered on its own.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One step of a route's process. Exactly one of `deliver`, `lookup` and `respond`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Deliver the record to this target (one of the route's), through the delivery model.
    #[serde(default)]
    pub deliver: Option<String>,
    /// Look something up in `target` before going on: `supplier` (the supplier the
    /// target's payload names must exist there).
    #[serde(default)]
    pub lookup: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    /// Answer the partner: `x12:855` or `edifact:ORDRSP` (the order accepted as sent).
    #[serde(default)]
    pub respond: Option<String>,
    /// What undoes a delivered step when a later one fails: `cancel`.
    #[serde(default)]
    pub compensate: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind<'s> {
    Deliver(&'s str),
    LookupSupplier(&'s str),
    Respond(&'s str),
}

impl Step {
    /// What the step does, when it says one thing that edigate knows how to do.
    pub fn kind(&self) -> Result<StepKind<'_>, String> {
        match (&self.deliver, &self.lookup, &self.respond) {
            (Some(t), None, None) if self.target.is_none() => Ok(StepKind::Deliver(t)),
            (None, Some(what), None) => match (what.as_str(), &self.target) {
                ("supplier", Some(t)) => Ok(StepKind::LookupSupplier(t)),
                ("supplier", None) => Err("lookup = \"supplier\" needs target = \"...\"".into()),
                (other, _) => Err(format!("lookup {other:?} is unknown (known: \"supplier\")")),
            },
            (None, None, Some(r)) if self.target.is_none() => Ok(StepKind::Respond(r)),
            _ => Err("a step has exactly one of deliver = \"TARGET\", lookup = \"supplier\" with target, or respond = \"x12:855\"".into()),
        }
    }

    /// The target the step calls, if any.
    pub fn target(&self) -> Option<&str> {
        match self.kind() {
            Ok(StepKind::Deliver(t) | StepKind::LookupSupplier(t)) => Some(t),
            _ => None,
        }
    }
}

impl Route {
    pub fn covers(&self, schema: &str, partner: &str) -> bool {
        self.partners.iter().any(|p| wildcard(p, partner))
            && self.documents.iter().any(|d| wildcard(d, schema))
    }

    /// The targets of one side.
    pub fn side(&self, side: Side) -> &[String] {
        match side {
            Side::Legacy => &self.legacy,
            Side::Modern => &self.modern,
        }
    }

    /// The deliver step for `target`, if the route's process runs one.
    pub fn step_delivering(&self, target: &str) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.kind() == Ok(StepKind::Deliver(target)))
    }

    /// The side `target` is on, if this route names it.
    pub fn side_of(&self, target: &str) -> Option<Side> {
        [Side::Legacy, Side::Modern]
            .into_iter()
            .find(|s| self.side(*s).iter().any(|t| t == target))
    }
}

/// The first route covering a record (routes are tried in the order of the file).
pub fn route_for<'r>(routes: &'r [Route], schema: &str, partner: &str) -> Option<&'r Route> {
    routes.iter().find(|r| r.covers(schema, partner))
}

/// `*` any run of characters, `?` any one; everything else literally.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    // Iterative matching with one backtrack point (the last `*`).
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Problems with the routes of a configuration: each as (index of the route, message).
pub fn problems(routes: &[Route], targets: &[crate::config::Target]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let mut add = |m: String| out.push((i, m));
        if r.name.trim().is_empty() || r.name.contains(['/', ':', '\\', ' ']) {
            add(format!(
                "route name {:?} must be non-empty, without spaces, '/', '\\' or ':'",
                r.name
            ));
        }
        if routes[..i].iter().any(|o| o.name == r.name) {
            add(format!("route name {:?} is used twice", r.name));
        }
        if r.partners.is_empty() || r.documents.is_empty() {
            add(format!(
                "route {:?}: partners and documents must each name at least one (\"*\" for all)",
                r.name
            ));
        }
        for side in [Side::Legacy, Side::Modern] {
            for t in r.side(side) {
                match targets.iter().find(|x| &x.name == t) {
                    None => add(format!(
                        "route {:?}: {} target {t:?} is not declared in [[targets]]",
                        r.name,
                        side.as_str()
                    )),
                    Some(x) => {
                        // A literal document the target refuses would never reach it.
                        for d in r.documents.iter().filter(|d| !d.contains(['*', '?'])) {
                            if !x.documents.is_empty() && !x.documents.contains(d) {
                                add(format!(
                                    "route {:?}: target {t:?} does not take {d} (its documents are {:?})",
                                    r.name, x.documents
                                ));
                            }
                        }
                    }
                }
            }
        }
        if let Some(t) = r.legacy.iter().find(|t| r.modern.contains(t)) {
            add(format!(
                "route {:?}: target {t:?} is on both the legacy and the modern side",
                r.name
            ));
        }
        for side in [Side::Legacy, Side::Modern] {
            if r.mode.sends(side) && r.side(side).is_empty() {
                add(format!(
                    "route {:?}: mode {} sends to the {} side, which names no target",
                    r.name,
                    r.mode.as_str(),
                    side.as_str()
                ));
            }
        }
        step_problems(r, targets, &mut add);
        for rule in &r.ignore {
            if let Some(t) = &rule.tolerance {
                if crate::canonical::Decimal::parse(t).is_none() {
                    add(format!(
                        "route {:?}: ignore rule {:?}: tolerance {t:?} is not a decimal",
                        r.name, rule.name
                    ));
                }
            }
            if rule.fields.is_empty() {
                add(format!(
                    "route {:?}: ignore rule {:?} names no field",
                    r.name, rule.name
                ));
            }
        }
    }
    out
}

/// Problems with a route's steps.
fn step_problems(r: &Route, targets: &[crate::config::Target], add: &mut impl FnMut(String)) {
    use crate::config::TargetKind;
    for (i, s) in r.steps.iter().enumerate() {
        let at = format!("route {:?}: step {} ({:?})", r.name, i + 1, s.name);
        if s.name.trim().is_empty() || r.steps[..i].iter().any(|o| o.name == s.name) {
            add(format!("{at}: each step needs a name of its own"));
        }
        let kind = match s.kind() {
            Ok(k) => k,
            Err(e) => {
                add(format!("{at}: {e}"));
                continue;
            }
        };
        if let Some(t) = s.target() {
            if r.side_of(t).is_none() {
                add(format!(
                    "{at}: target {t:?} is not one of the route's (legacy or modern)"
                ));
            }
        }
        let kind_of = |t: &str| targets.iter().find(|x| x.name == t).map(|x| x.kind);
        match kind {
            StepKind::Deliver(t) => {
                if r.steps[..i]
                    .iter()
                    .any(|o| o.kind() == Ok(StepKind::Deliver(t)))
                {
                    add(format!(
                        "{at}: target {t:?} is delivered by an earlier step"
                    ));
                }
                match s.compensate.as_deref() {
                    None => {}
                    Some("cancel")
                        if !matches!(
                            kind_of(t),
                            Some(TargetKind::SapS4hana | TargetKind::Http | TargetKind::Rest)
                                | None
                        ) =>
                    {
                        add(format!("{at}: compensate = \"cancel\" is supported for sap_s4hana and rest targets"));
                    }
                    Some("cancel") => {}
                    Some(other) => add(format!(
                        "{at}: compensate {other:?} is unknown (known: \"cancel\")"
                    )),
                }
            }
            StepKind::LookupSupplier(t) => {
                if !matches!(kind_of(t), Some(TargetKind::SapS4hana) | None) {
                    add(format!(
                        "{at}: lookup = \"supplier\" is supported for sap_s4hana targets"
                    ));
                }
            }
            StepKind::Respond(doc) => {
                if !matches!(doc, "x12:855" | "edifact:ORDRSP") {
                    add(format!(
                        "{at}: respond {doc:?} is unknown (known: \"x12:855\", \"edifact:ORDRSP\")"
                    ));
                }
                if r.documents
                    .iter()
                    .any(|d| !wildcard(d, "purchase_order/v1"))
                {
                    add(format!(
                        "{at}: respond answers purchase orders: the route's documents must be purchase_order/v1"
                    ));
                }
            }
        }
        if s.compensate.is_some() && !matches!(kind, StepKind::Deliver(_)) {
            add(format!("{at}: only a deliver step can be compensated"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_globs() {
        assert!(wildcard("*", ""));
        assert!(wildcard("ACME", "ACME"));
        assert!(!wildcard("ACME", "ACME2"));
        assert!(wildcard("AC*", "ACME"));
        assert!(wildcard("*/v1", "invoice/v1"));
        assert!(!wildcard("*/v1", "invoice/v2"));
        assert!(wildcard("A?ME*X", "ACMEBOX"));
        assert!(!wildcard("A?ME*X", "ACMEBOY"));
        assert!(wildcard("*a*b*", "xxaxxbxx"));
    }

    #[test]
    fn modes_send_and_keep_live_the_sides_they_name() {
        use Mode::*;
        let sends: Vec<(bool, bool)> = Mode::ALL
            .iter()
            .map(|m| (m.sends(Side::Legacy), m.sends(Side::Modern)))
            .collect();
        assert_eq!(
            sends,
            [(true, false), (true, true), (true, true), (false, true)]
        );
        assert!(!Shadow.live(Side::Modern) && Shadow.live(Side::Legacy));
        assert!(Dual.live(Side::Modern) && Dual.live(Side::Legacy));
        assert!(!Modern.live(Side::Legacy) && Modern.live(Side::Modern));
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn steps_are_checked_against_the_route_and_its_targets() {
        let toml = r#"
name = "orders"
partners = ["*"]
documents = ["invoice/v1"]
modern = ["s4"]
mode = "modern"
steps = [
  { name = "a", lookup = "supplier" },
  { name = "b", deliver = "elsewhere", compensate = "undo" },
  { name = "c", respond = "x12:855" },
  { name = "c", deliver = "s4", respond = "x12:855" },
]
"#;
        let r: Route = toml::from_str(toml).unwrap();
        let got: Vec<String> = problems(&[r], &[]).into_iter().map(|(_, m)| m).collect();
        let want = [
            "lookup = \"supplier\" needs target = \"...\"",
            "target \"elsewhere\" is not one of the route's",
            "compensate \"undo\" is unknown",
            "respond answers purchase orders",
            "each step needs a name of its own",
            "a step has exactly one of",
            "modern target \"s4\" is not declared",
        ];
        for w in want {
            assert!(got.iter().any(|m| m.contains(w)), "{w:?} not in {got:#?}");
        }
    }
}
