//! Reconciliation of what the legacy and the modern side of each route hold: counts first,
//! then totals per currency and day, then each document's differing fields.

use crate::canonical::Decimal;
use crate::config::Config;
use crate::migration::{IgnoreRule, Mode, Side};
use crate::store::{RoutedRecord, Store, StoreError};
use crate::targets::Held;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Which documents to reconcile (every filter optional).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub route: Option<String>,
    pub partner: Option<String>,
    pub document: Option<String>,
    /// An RFC 3339 time or a date: records routed at or after it.
    pub since: Option<String>,
}

/// Documents per outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub matched: u64,
    pub different: u64,
    pub legacy_only: u64,
    pub modern_only: u64,
    pub rejected_legacy: u64,
    pub rejected_modern: u64,
    pub pending: u64,
}

impl Counts {
    fn add(&mut self, status: Status) {
        *match status {
            Status::Matched => &mut self.matched,
            Status::Different => &mut self.different,
            Status::LegacyOnly => &mut self.legacy_only,
            Status::ModernOnly => &mut self.modern_only,
            Status::RejectedLegacy => &mut self.rejected_legacy,
            Status::RejectedModern => &mut self.rejected_modern,
            Status::Pending => &mut self.pending,
        } += 1;
    }
}

/// One document's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Matched,
    Different,
    LegacyOnly,
    ModernOnly,
    RejectedLegacy,
    RejectedModern,
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::Different => "different",
            Status::LegacyOnly => "legacy_only",
            Status::ModernOnly => "modern_only",
            Status::RejectedLegacy => "rejected_legacy",
            Status::RejectedModern => "rejected_modern",
            Status::Pending => "pending",
        }
    }
}

/// Counts of one route and document type.
#[derive(Debug, Clone, Serialize)]
pub struct RouteCounts {
    pub route: String,
    pub document: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Amounts and lines one side holds for one currency and day.
#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub route: String,
    pub side: &'static str,
    pub currency: String,
    pub day: String,
    pub documents: u64,
    pub amount: String,
    pub lines: u64,
}

/// One side of one document.
#[derive(Debug, Clone, Serialize)]
pub struct SideView {
    /// `delivered`, `pending`, `rejected`, `dead`, `discarded` (the worst of its targets).
    pub state: String,
    /// The system's id (the first target's that has one).
    pub id: Option<String>,
    /// `read back` (what the system holds) or `as sent` (the record).
    pub source: &'static str,
    /// Each subscriber: target, state, id, error.
    pub targets: Vec<(String, String, Option<String>, Option<String>)>,
}

/// A field that differs (or whose difference a rule ignores).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub field: String,
    pub legacy: Option<String>,
    pub modern: Option<String>,
    /// The ignore rule that explains it, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// One document of a route.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub route: String,
    pub document: String,
    pub partner: String,
    pub key: String,
    pub record_id: String,
    pub mode: &'static str,
    pub routed_at: String,
    pub status: Status,
    pub legacy: Option<SideView>,
    pub modern: Option<SideView>,
    pub differences: Vec<Difference>,
    pub ignored: Vec<Difference>,
}

/// How long a route has run in shadow, and how many of those days had no unexplained
/// difference: the gate before `modern`.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub route: String,
    pub mode: &'static str,
    pub shadow_days: u64,
    /// Consecutive days, up to the latest shadow day, on which every shadow document matched.
    pub clean_shadow_days: u64,
}

/// A whole reconciliation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Counts,
    pub routes: Vec<RouteCounts>,
    pub totals: Vec<Total>,
    pub gates: Vec<Gate>,
    pub documents: Vec<DocumentView>,
    /// Read-backs that failed (the record as sent was compared instead), said, not hidden.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no route named {0:?} is configured")]
    NoRoute(String),
}

/// A field value, compared as what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Number(String),
    Date(String),
    Text(String),
}

impl Field {
    fn text(&self) -> &str {
        match self {
            Field::Number(s) | Field::Date(s) | Field::Text(s) => s,
        }
    }
}

type Fields = BTreeMap<String, Field>;

/// (route, side, currency, day).
type TotalKey = (String, &'static str, String, String);

/// A decimal as numbers compare: `12.50` and `12.5` are the same.
fn number(v: &Value) -> Option<Field> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Decimal::parse(s.trim()).map(|d| Field::Number(normal(d.as_str())))
}

fn normal(d: &str) -> String {
    let d = d.strip_prefix('+').unwrap_or(d);
    let (neg, d) = match d.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, d),
    };
    let (int, frac) = d.split_once('.').unwrap_or((d, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// A date as dates compare: `2026-03-01`, `2026-03-01T00:00:00Z` and `/Date(1772323200000)/`
/// are the same day.
fn date(v: &Value) -> Option<Field> {
    let s = v.as_str()?;
    if let Some(ms) = s
        .strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
        .and_then(|m| m.parse::<i64>().ok())
    {
        let (y, m, d) = crate::util::civil_from_days(ms.div_euclid(86_400_000));
        return Some(Field::Date(format!("{y:04}-{m:02}-{d:02}")));
    }
    s.get(..10)
        .filter(|d| crate::canonical::Date::parse(d).is_some())
        .map(|d| Field::Date(d.to_string()))
}

fn text(v: &Value) -> Option<Field> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| Field::Text(s.trim().to_string()))
}

/// Where each compared field is in one shape of a document: (field, path, kind).
struct Shape {
    number: &'static str,
    date: &'static str,
    currency: &'static str,
    total: &'static str,
    lines: &'static [&'static str],
    quantity: &'static str,
    amount: &'static str,
    /// Only lines with this field equal to this value are the document's lines (Fusion keeps
    /// freight as lines of its own).
    only: Option<(&'static str, &'static str)>,
}

/// The canonical records (as sent), by document.
fn record_shape(document: &str) -> Option<Shape> {
    Some(match document {
        "invoice" => Shape {
            number: "invoice_number",
            date: "invoice_date",
            currency: "currency",
            total: "total_amount",
            lines: &["lines"],
            quantity: "quantity",
            amount: "amount",
            only: None,
        },
        "purchase_order" => Shape {
            number: "po_number",
            date: "order_date",
            currency: "currency",
            total: "total_amount",
            lines: &["lines"],
            quantity: "quantity",
            amount: "",
            only: None,
        },
        "ship_notice" => Shape {
            number: "shipment_id",
            date: "ship_date",
            currency: "",
            total: "",
            lines: &["lines"],
            quantity: "quantity",
            amount: "",
            only: None,
        },
        _ => return None,
    })
}

/// What SAP S/4HANA holds, by document.
fn sap_shape(document: &str) -> Option<Shape> {
    Some(match document {
        "invoice" => Shape {
            number: "SupplierInvoiceIDByInvcgParty",
            date: "DocumentDate",
            currency: "DocumentCurrency",
            total: "InvoiceGrossAmount",
            lines: &["to_SuplrInvcItemPurOrdRef", "results"],
            quantity: "QuantityInPurchaseOrderUnit",
            amount: "SupplierInvoiceItemAmount",
            only: None,
        },
        "purchase_order" => Shape {
            number: "CorrespncExternalReference",
            date: "PurchaseOrderDate",
            currency: "DocumentCurrency",
            total: "",
            lines: &["to_PurchaseOrderItem", "results"],
            quantity: "OrderQuantity",
            amount: "",
            only: None,
        },
        _ => return None,
    })
}

/// What Dynamics 365 holds (the header with its `lines`, as `read_back` gives it), by document.
fn d365_shape(document: &str) -> Option<Shape> {
    Some(match document {
        "invoice" => Shape {
            number: "InvoiceNumber",
            date: "InvoiceDate",
            currency: "Currency",
            total: "ImportedAmount",
            lines: &["lines"],
            quantity: "ReceiveNow",
            amount: "LineAmount",
            only: None,
        },
        "purchase_order" => Shape {
            number: "VendorOrderReference",
            date: "",
            currency: "CurrencyCode",
            total: "",
            lines: &["lines"],
            quantity: "OrderedPurchaseQuantity",
            amount: "",
            only: None,
        },
        _ => return None,
    })
}

/// What Oracle Fusion holds (the item with its child lines, as `read_back` gives it).
fn oracle_shape(document: &str) -> Option<Shape> {
    Some(match document {
        "invoice" => Shape {
            number: "InvoiceNumber",
            date: "InvoiceDate",
            currency: "InvoiceCurrency",
            total: "InvoiceAmount",
            lines: &["invoiceLines"],
            quantity: "Quantity",
            amount: "LineAmount",
            only: Some(("LineType", "Item")),
        },
        _ => return None,
    })
}

/// The shape of what a system of `kind` holds.
fn held_shape(kind: &crate::config::TargetKind, document: &str) -> Option<Shape> {
    match kind {
        crate::config::TargetKind::SapS4hana => sap_shape(document),
        crate::config::TargetKind::Dynamics365 => d365_shape(document),
        crate::config::TargetKind::OracleFusion => oracle_shape(document),
        _ => None,
    }
}

fn fields(shape: &Shape, doc: &Value) -> Fields {
    let mut out = Fields::new();
    let mut put = |k: String, v: Option<Field>| {
        if let Some(v) = v {
            out.insert(k, v);
        }
    };
    let at = |k: &str| if k.is_empty() { &Value::Null } else { &doc[k] };
    put("number".into(), text(at(shape.number)));
    put("date".into(), date(at(shape.date)));
    put("currency".into(), text(at(shape.currency)));
    put("total".into(), number(at(shape.total)));
    let mut lines = doc;
    for k in shape.lines {
        // OData V2 writes an expanded set as `{results: [...]}`, or sometimes the array.
        if lines.is_array() {
            break;
        }
        lines = &lines[*k];
    }
    let lines: Vec<&Value> = lines
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|l| shape.only.is_none_or(|(k, v)| l[k] == v))
        .collect();
    put("lines".into(), Some(Field::Number(lines.len().to_string())));
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        if !shape.quantity.is_empty() {
            put(format!("line.{n}.quantity"), number(&l[shape.quantity]));
        }
        if !shape.amount.is_empty() {
            // A canonical line may give its price and quantity only.
            let amount = number(&l[shape.amount]).or_else(|| {
                let q = Decimal::parse(l["quantity"].as_str()?)?;
                let p = Decimal::parse(l["unit_price"].as_str()?)?;
                q.mul(&p).map(|a| Field::Number(normal(a.as_str())))
            });
            put(format!("line.{n}.amount"), amount);
        }
    }
    out
}

/// `a - b` for two normalised decimals, as an absolute value (exact, by scaling).
fn within(a: &str, b: &str, tolerance: &str) -> bool {
    let scale = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len());
    let n = scale(a).max(scale(b)).max(scale(tolerance));
    let as_int = |s: &str| -> Option<i128> {
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        let digits = format!("{i}{f:0<n$}");
        let v: i128 = digits.parse().ok()?;
        Some(if neg { -v } else { v })
    };
    match (as_int(a), as_int(b), as_int(&normal(tolerance))) {
        (Some(a), Some(b), Some(t)) => (a - b).abs() <= t,
        _ => false,
    }
}

/// Whether a field name matches a rule's pattern (`line.*.amount`).
fn rule_for<'r>(rules: &'r [IgnoreRule], d: &Difference) -> Option<&'r IgnoreRule> {
    rules.iter().find(|r| {
        r.fields
            .iter()
            .any(|f| crate::migration::route::wildcard(f, &d.field))
            && match (&r.tolerance, &d.legacy, &d.modern) {
                (None, _, _) => true,
                (Some(t), Some(a), Some(b)) => within(a, b, t),
                _ => false,
            }
    })
}

/// The state of one side: the worst of its subscribers (pending before rejected before
/// delivered), `None` when nothing was sent to that side.
fn side_state(rec: &RoutedRecord, side: Side) -> Option<&str> {
    let states: Vec<&str> = rec
        .deliveries
        .iter()
        .filter(|d| d.side == side)
        .map(|d| d.state.as_str())
        .collect();
    if states.is_empty() {
        return None;
    }
    for s in ["pending", "rejected", "dead", "discarded"] {
        if states.contains(&s) {
            return Some(s);
        }
    }
    Some("delivered")
}

/// Runs a reconciliation over the store's routed records, reading back from each side's
/// first target that can be read (SAP S/4HANA, Dynamics 365), else taking the record as sent.
pub fn reconcile(cfg: &Config, store: &Store, q: &Query) -> Result<Report, ReconcileError> {
    if let Some(r) = &q.route {
        if !cfg.routes.iter().any(|x| &x.name == r) {
            return Err(ReconcileError::NoRoute(r.clone()));
        }
    }
    let records = store.routed_records(q.route.as_deref(), q.since.as_deref())?;
    let mut warnings = Vec::new();
    let mut documents = Vec::new();
    let mut agents: std::collections::HashMap<String, ureq::Agent> = Default::default();
    for rec in records {
        let document = rec.schema.split('/').next().unwrap_or("").to_string();
        if q.partner.as_ref().is_some_and(|p| p != &rec.partner)
            || q.document
                .as_ref()
                .is_some_and(|d| d != &rec.schema && d != &document)
        {
            continue;
        }
        let env: Value = serde_json::from_slice(&rec.json).unwrap_or_default();
        let sent = record_shape(&document)
            .map(|s| fields(&s, &env["record"]))
            .unwrap_or_default();
        let rules = cfg
            .routes
            .iter()
            .find(|r| r.name == rec.route)
            .map(|r| r.ignore.clone())
            .unwrap_or_default();
        let mut views: BTreeMap<Side, SideView> = BTreeMap::new();
        let mut held = BTreeMap::new();
        for side in [Side::Legacy, Side::Modern] {
            let Some(state) = side_state(&rec, side) else {
                continue;
            };
            let subs: Vec<_> = rec.deliveries.iter().filter(|d| d.side == side).collect();
            let mut source = "as sent";
            let mut side_fields = sent.clone();
            if state == "delivered" {
                // The first subscriber whose system can be read back speaks for the side.
                for d in &subs {
                    let Some(t) = cfg.targets.iter().find(|t| t.name == d.target) else {
                        continue;
                    };
                    // One agent per target for the whole run, so connections are reused.
                    let agent = agents
                        .entry(t.name.clone())
                        .or_insert_with(|| crate::delivery::agent(t));
                    let answer = crate::targets::connector(t).read_back(cfg, t, agent, &rec.json);
                    match answer {
                        Ok(Held::Unreadable) => continue,
                        Ok(Held::Found(v)) => {
                            source = "read back";
                            side_fields = match held_shape(&t.kind, &document) {
                                Some(s) => fields(&s, &v),
                                None => sent.clone(),
                            };
                        }
                        Ok(Held::Absent) => {
                            source = "read back";
                            side_fields = Fields::new();
                        }
                        Err(e) => warnings.push(format!(
                            "record {} ({}): reading back from {}: {e}; compared as sent",
                            rec.record_id, rec.partner, t.name
                        )),
                    }
                    break;
                }
            }
            views.insert(
                side,
                SideView {
                    state: state.to_string(),
                    id: subs.iter().find_map(|d| d.system_id.clone()),
                    source,
                    targets: subs
                        .iter()
                        .map(|d| {
                            (
                                d.target.clone(),
                                d.state.clone(),
                                d.system_id.clone(),
                                d.error.clone(),
                            )
                        })
                        .collect(),
                },
            );
            held.insert(side, side_fields);
        }
        let (mut differences, mut ignored) = (Vec::new(), Vec::new());
        let state = |s: Side| views.get(&s).map(|v| v.state.as_str());
        let rejected = |s| matches!(state(s), Some("rejected" | "dead" | "discarded"));
        let status =
            if state(Side::Legacy) == Some("pending") || state(Side::Modern) == Some("pending") {
                Status::Pending
            } else if rejected(Side::Legacy) {
                Status::RejectedLegacy
            } else if rejected(Side::Modern) {
                Status::RejectedModern
            } else {
                let l = held.get(&Side::Legacy).filter(|f| !f.is_empty());
                let m = held.get(&Side::Modern).filter(|f| !f.is_empty());
                match (l, m) {
                    (Some(l), Some(m)) => {
                        let keys: std::collections::BTreeSet<&String> =
                            l.keys().chain(m.keys()).collect();
                        for k in keys {
                            let (a, b) = (l.get(k), m.get(k));
                            if a == b {
                                continue;
                            }
                            let d = Difference {
                                field: k.clone(),
                                legacy: a.map(|f| f.text().to_string()),
                                modern: b.map(|f| f.text().to_string()),
                                rule: None,
                            };
                            match rule_for(&rules, &d) {
                                Some(r) => ignored.push(Difference {
                                    rule: Some(r.name.clone()),
                                    ..d
                                }),
                                None => differences.push(d),
                            }
                        }
                        if differences.is_empty() {
                            Status::Matched
                        } else {
                            Status::Different
                        }
                    }
                    (Some(_), None) => Status::LegacyOnly,
                    (None, Some(_)) => Status::ModernOnly,
                    (None, None) => Status::Pending,
                }
            };
        let key = crate::canonical::business_key(&rec.schema, &env);
        documents.push((
            held,
            DocumentView {
                route: rec.route.clone(),
                document: rec.schema.clone(),
                partner: rec.partner.clone(),
                key,
                record_id: rec.record_id.clone(),
                mode: rec.mode.as_str(),
                routed_at: rec.routed_at.clone(),
                status,
                legacy: views.remove(&Side::Legacy),
                modern: views.remove(&Side::Modern),
                differences,
                ignored,
            },
        ));
    }
    let mut summary = Counts::default();
    let mut per: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut totals: BTreeMap<TotalKey, (u64, Vec<String>, u64)> = BTreeMap::new();
    for (held, d) in &documents {
        summary.add(d.status);
        per.entry((d.route.clone(), d.document.clone()))
            .or_default()
            .add(d.status);
        for (side, f) in held {
            // A side's totals are what it holds: a rejected or pending document is not there.
            let view = match side {
                Side::Legacy => &d.legacy,
                Side::Modern => &d.modern,
            };
            if f.is_empty() || view.as_ref().is_none_or(|v| v.state != "delivered") {
                continue;
            }
            let currency = f.get("currency").map_or("", |c| c.text()).to_string();
            let day = d.routed_at.get(..10).unwrap_or("").to_string();
            let e = totals
                .entry((d.route.clone(), side.as_str(), currency, day))
                .or_default();
            e.0 += 1;
            if let Some(t) = f.get("total") {
                e.1.push(t.text().to_string());
            }
            e.2 += f
                .get("lines")
                .and_then(|l| l.text().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let totals = totals
        .into_iter()
        .map(
            |((route, side, currency, day), (documents, amounts, lines))| Total {
                route,
                side,
                currency,
                day,
                documents,
                amount: sum(&amounts),
                lines,
            },
        )
        .collect();
    let gates = cfg
        .routes
        .iter()
        .filter(|r| q.route.as_ref().is_none_or(|x| x == &r.name))
        .map(|r| gate(r.name.as_str(), r.mode, documents.iter().map(|(_, d)| d)))
        .collect();
    Ok(Report {
        summary,
        routes: per
            .into_iter()
            .map(|((route, document), counts)| RouteCounts {
                route,
                document,
                counts,
            })
            .collect(),
        totals,
        gates,
        documents: documents.into_iter().map(|(_, d)| d).collect(),
        warnings,
    })
}

/// The sum of normalised decimals, exactly.
fn sum(values: &[String]) -> String {
    let scale = values
        .iter()
        .map(|s| s.split_once('.').map_or(0, |(_, f)| f.len()))
        .max()
        .unwrap_or(0);
    let mut total: i128 = 0;
    for v in values {
        let (neg, s) = match v.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, v.as_str()),
        };
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        let n: i128 = format!("{i}{f:0<scale$}").parse().unwrap_or(0);
        total += if neg { -n } else { n };
    }
    let (neg, abs) = (total < 0, total.unsigned_abs().to_string());
    let abs = format!("{abs:0>width$}", width = scale + 1);
    let (i, f) = abs.split_at(abs.len() - scale);
    let body = if scale == 0 {
        i.to_string()
    } else {
        format!("{i}.{f}")
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn gate<'d>(route: &str, mode: Mode, docs: impl Iterator<Item = &'d DocumentView>) -> Gate {
    // Per day of shadow documents: whether every one matched.
    let mut days: BTreeMap<&str, bool> = BTreeMap::new();
    for d in docs.filter(|d| d.route == route && d.mode == "shadow") {
        let day = d.routed_at.get(..10).unwrap_or("");
        let clean = days.entry(day).or_insert(true);
        *clean &= d.status == Status::Matched;
    }
    let clean = days.values().rev().take_while(|c| **c).count() as u64;
    Gate {
        route: route.to_string(),
        mode: mode.as_str(),
        shadow_days: days.len() as u64,
        clean_shadow_days: clean,
    }
}

/// The report as a table: counts, totals, gates, then each document that is not matched.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<20} {:<18} {:>7} {:>9} {:>11} {:>11} {:>15} {:>15} {:>7}",
        "route",
        "document",
        "matched",
        "different",
        "legacy_only",
        "modern_only",
        "rejected_legacy",
        "rejected_modern",
        "pending"
    );
    for rc in &r.routes {
        let c = &rc.counts;
        let _ = writeln!(
            s,
            "{:<20} {:<18} {:>7} {:>9} {:>11} {:>11} {:>15} {:>15} {:>7}",
            rc.route,
            rc.document,
            c.matched,
            c.different,
            c.legacy_only,
            c.modern_only,
            c.rejected_legacy,
            c.rejected_modern,
            c.pending
        );
    }
    if !r.totals.is_empty() {
        let _ = writeln!(s, "\ntotals:");
        for t in &r.totals {
            let _ = writeln!(
                s,
                "  {:<20} {:<6} {:<4} {}  documents {}, amount {}, lines {}",
                t.route, t.side, t.currency, t.day, t.documents, t.amount, t.lines
            );
        }
    }
    for g in &r.gates {
        let _ = writeln!(
            s,
            "\nroute {} (mode {}): {} day(s) in shadow, {} consecutive with zero unexplained differences",
            g.route, g.mode, g.shadow_days, g.clean_shadow_days
        );
    }
    let open: Vec<&DocumentView> = r
        .documents
        .iter()
        .filter(|d| d.status != Status::Matched || !d.ignored.is_empty())
        .collect();
    if !open.is_empty() {
        let _ = writeln!(s, "\ndocuments:");
    }
    for d in open {
        let side = |v: &Option<SideView>| match v {
            None => "-".to_string(),
            Some(v) => format!(
                "{} {} ({})",
                v.state,
                v.id.as_deref().unwrap_or("-"),
                v.source
            ),
        };
        let _ = writeln!(
            s,
            "  {} {} {} [{}] {}: legacy {}; modern {}",
            d.route,
            d.partner,
            d.key,
            d.mode,
            d.status.as_str(),
            side(&d.legacy),
            side(&d.modern)
        );
        for f in d.differences.iter().chain(&d.ignored) {
            let _ = writeln!(
                s,
                "    {}: legacy {} | modern {}{}",
                f.field,
                f.legacy.as_deref().unwrap_or("(none)"),
                f.modern.as_deref().unwrap_or("(none)"),
                f.rule
                    .as_ref()
                    .map_or(String::new(), |r| format!(" (ignored: {r})"))
            );
        }
        for v in [&d.legacy, &d.modern].into_iter().flatten() {
            for (t, st, _, e) in &v.targets {
                if let Some(e) = e.as_ref().filter(|_| st != "delivered") {
                    let _ = writeln!(s, "    {t}: {e}");
                }
            }
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// One line per document, with a header.
pub fn csv(r: &Report) -> String {
    let mut s = String::from("route,document,partner,key,mode,status,legacy_state,legacy_id,legacy_source,modern_state,modern_id,modern_source,differences\n");
    let q = |v: &str| {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    for d in &r.documents {
        let st = |v: &Option<SideView>| v.as_ref().map_or(String::new(), |v| v.state.clone());
        let id = |v: &Option<SideView>| v.as_ref().and_then(|v| v.id.clone()).unwrap_or_default();
        let source = |v: &Option<SideView>| v.as_ref().map_or("", |v| v.source).to_string();
        let diffs: Vec<String> = d.differences.iter().map(|f| f.field.clone()).collect();
        let row = [
            d.route.clone(),
            d.document.clone(),
            d.partner.clone(),
            d.key.clone(),
            d.mode.to_string(),
            d.status.as_str().to_string(),
            st(&d.legacy),
            id(&d.legacy),
            source(&d.legacy),
            st(&d.modern),
            id(&d.modern),
            source(&d.modern),
            diffs.join(" "),
        ];
        let row: Vec<String> = row.iter().map(|v| q(v)).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_dates_compare_as_what_they_are() {
        assert_eq!(number(&json!("12.50")), number(&json!("12.5")));
        assert_eq!(number(&json!(12.5)), number(&json!("012.500")));
        assert_ne!(number(&json!("12.51")), number(&json!("12.5")));
        assert_eq!(
            date(&json!("/Date(1772323200000)/")),
            date(&json!("2026-03-01"))
        );
        assert_eq!(
            date(&json!("2026-03-01T00:00:00Z")),
            date(&json!("2026-03-01"))
        );
        assert!(within("10.00", "10.01", "0.01") && !within("10", "10.02", "0.01"));
        assert_eq!(sum(&["1.5".into(), "2.25".into(), "-0.75".into()]), "3.00");
        assert_eq!(sum(&[]), "0");
    }

    #[test]
    fn a_sap_invoice_reads_as_the_record_it_came_from() {
        let record = json!({"invoice_number": "INV-1", "invoice_date": "2026-03-01", "currency": "USD",
            "total_amount": "25.00", "lines": [{"quantity": "2", "unit_price": "12.5"}]});
        let sap = json!({"SupplierInvoiceIDByInvcgParty": "INV-1", "DocumentDate": "/Date(1772323200000)/",
            "DocumentCurrency": "USD", "InvoiceGrossAmount": "25",
            "to_SuplrInvcItemPurOrdRef": {"results": [{"QuantityInPurchaseOrderUnit": "2.000", "SupplierInvoiceItemAmount": "25.00"}]}});
        let a = fields(&record_shape("invoice").unwrap(), &record);
        let b = fields(&sap_shape("invoice").unwrap(), &sap);
        assert_eq!(a, b);
        assert_eq!(a.len(), 7, "{a:?}");
    }
}
