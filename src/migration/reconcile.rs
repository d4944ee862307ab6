//! Reconciliation of what the legacy and the modern side of each route hold.
