//! Phased migration from a legacy ERP to a modern one: routes and their modes, the audit
//! trail of mode changes, and reconciliation of what each side holds.

pub mod reconcile;
pub mod route;

pub use route::{route_for, IgnoreRule, Mode, Route, Side, Step, StepKind};
