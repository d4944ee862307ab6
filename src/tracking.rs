//! Document tracking, a read model: where an order stands (ordered, acknowledged, shipped,
//! received, invoiced, paid) across the partner's documents and every system they reached,
//! computed from the records linked by their business keys, so arrivals in any order link up.

use crate::store::{KeyedRecord, Process, Store, StoreError, TrackedDelivery};
use serde::Serialize;
use std::collections::BTreeSet;

/// The steps of an order's life, in their usual order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    Ordered,
    Acknowledged,
    Shipped,
    Received,
    Invoiced,
    Paid,
}

impl Milestone {
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::Ordered => "ordered",
            Milestone::Acknowledged => "acknowledged",
            Milestone::Shipped => "shipped",
            Milestone::Received => "received",
            Milestone::Invoiced => "invoiced",
            Milestone::Paid => "paid",
        }
    }

    /// The milestone a record of `schema` marks.
    pub fn of(schema: &str) -> Option<Milestone> {
        Some(match schema.split('/').next().unwrap_or("") {
            "purchase_order" | "requisition" => Milestone::Ordered,
            "po_acknowledgement" => Milestone::Acknowledged,
            "ship_notice" => Milestone::Shipped,
            "goods_receipt" => Milestone::Received,
            "invoice" => Milestone::Invoiced,
            "payment_status" => Milestone::Paid,
            _ => return None,
        })
    }

    /// What normally comes before this milestone (acknowledgements and receipts are not
    /// exchanged by every partner, so they are never expected).
    fn expects(self) -> &'static [Milestone] {
        match self {
            Milestone::Ordered => &[],
            Milestone::Acknowledged | Milestone::Shipped => &[Milestone::Ordered],
            Milestone::Received | Milestone::Invoiced => &[Milestone::Ordered, Milestone::Shipped],
            Milestone::Paid => &[Milestone::Ordered, Milestone::Shipped, Milestone::Invoiced],
        }
    }
}

/// One record of the order, with its deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct TrackedDoc {
    pub milestone: Option<Milestone>,
    pub schema: String,
    pub record_id: String,
    pub partner: String,
    pub file_id: i64,
    pub received_at: String,
    pub keys: Vec<(String, String)>,
    pub deliveries: Vec<TrackedDelivery>,
    /// The route's process for this record, when its route runs steps.
    pub process: Option<Process>,
}

/// Where the order stands in one system: the furthest milestone it holds, and what it has
/// not taken yet.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStatus {
    pub target: String,
    pub status: Option<Milestone>,
    pub pending: u64,
    /// Rejected or dead deliveries (held for the operator).
    pub held: u64,
    pub shadow: bool,
}

/// Where an order stands.
#[derive(Debug, Clone, Serialize)]
pub struct Track {
    /// The value asked for.
    pub value: String,
    /// The business keys the linked documents share.
    pub keys: Vec<(String, String)>,
    /// The furthest milestone any document of the order marks.
    pub status: Option<Milestone>,
    /// Milestones that normally come before `status` and have no document yet: a document
    /// that arrived ahead of them is linked and kept, and they join when they come.
    pub awaiting: Vec<Milestone>,
    pub documents: Vec<TrackedDoc>,
    pub systems: Vec<SystemStatus>,
}

/// Keys that link the documents of one order.
const LINKS: [&str; 3] = ["po_number", "invoice_number", "shipment_id"];
/// The most records one answer holds.
const LIMIT: usize = 1000;

/// The order `value` (a PO, invoice or ASN number, an ERP's document id) belongs to; `None`
/// when no record has such a key.
pub fn track(store: &Store, value: &str) -> Result<Option<Track>, StoreError> {
    let first = store.records_by_key(None, value, LIMIT)?;
    if first.is_empty() {
        return Ok(None);
    }
    // Two rounds of following the linking keys: an invoice brings its PO, the PO its ASN and
    // the payment of its invoice.
    let mut records: Vec<KeyedRecord> = Vec::new();
    let mut seen_keys: BTreeSet<(String, String)> = BTreeSet::new();
    let mut frontier = first;
    for _ in 0..3 {
        let mut next = Vec::new();
        for r in frontier {
            if records.iter().any(|x| x.record_id == r.record_id) {
                continue;
            }
            for (k, v) in &r.keys {
                if LINKS.contains(&k.as_str()) && seen_keys.insert((k.clone(), v.clone())) {
                    next.extend(store.records_by_key(Some(k), v, LIMIT)?);
                }
            }
            records.push(r);
        }
        if next.is_empty() || records.len() >= LIMIT {
            break;
        }
        frontier = next;
    }
    let mut documents = Vec::new();
    for r in records {
        let deliveries = store.deliveries_of(&r.record_id)?;
        let process = store.process(&r.record_id)?;
        documents.push(TrackedDoc {
            process,
            milestone: Milestone::of(&r.schema),
            schema: r.schema,
            record_id: r.record_id,
            partner: r.partner,
            file_id: r.file_id,
            received_at: r.received_at,
            keys: r.keys,
            deliveries,
        });
    }
    documents.sort_by(|a, b| {
        (a.milestone, &a.received_at, &a.record_id).cmp(&(
            b.milestone,
            &b.received_at,
            &b.record_id,
        ))
    });
    let reached: BTreeSet<Milestone> = documents.iter().filter_map(|d| d.milestone).collect();
    let status = reached.iter().next_back().copied();
    let awaiting = status
        .map(|s| {
            s.expects()
                .iter()
                .filter(|m| !reached.contains(m))
                .copied()
                .collect()
        })
        .unwrap_or_default();
    let mut systems: Vec<SystemStatus> = Vec::new();
    for d in &documents {
        for x in &d.deliveries {
            let i = match systems.iter().position(|s| s.target == x.target) {
                Some(i) => i,
                None => {
                    systems.push(SystemStatus {
                        target: x.target.clone(),
                        status: None,
                        pending: 0,
                        held: 0,
                        shadow: x.shadow,
                    });
                    systems.len() - 1
                }
            };
            let s = &mut systems[i];
            match x.state.as_str() {
                "delivered" => s.status = s.status.max(d.milestone),
                "pending" | "waiting" => s.pending += 1,
                "rejected" | "dead" => s.held += 1,
                _ => {}
            }
        }
    }
    Ok(Some(Track {
        value: value.to_string(),
        keys: seen_keys.into_iter().collect(),
        status,
        awaiting,
        documents,
        systems,
    }))
}

/// Every record whose business key (or a system's id) is `key`, with the linked documents of
/// its order and each one's timeline: its file's history (received, validated, acknowledged,
/// written, released), its deliveries and their answers, and its route's process (what the
/// admin API's `/api/v1/documents` answers).
pub fn timeline(store: &Store, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
    use serde_json::json;
    let Some(t) = track(store, key)? else {
        return Ok(None);
    };
    let mut timelines = Vec::new();
    for d in &t.documents {
        let f = store.file(d.file_id)?;
        let events: Vec<serde_json::Value> = store
            .events(d.file_id)?
            .into_iter()
            .map(|e| json!(e))
            .collect();
        timelines.push(json!({
            "record_id": d.record_id,
            "schema": d.schema,
            "file": {"id": f.id, "name": f.name, "channel": f.channel, "state": f.state.as_str(), "received_at": f.received_at},
            "events": events,
        }));
    }
    Ok(Some(
        json!({"key": key, "track": t, "timelines": timelines}),
    ))
}

/// The track as text for a terminal.
pub fn text(t: &Track, escape: impl Fn(&str) -> String) -> String {
    use std::fmt::Write;
    let name = |m: Option<Milestone>| m.map_or("-", Milestone::as_str);
    let mut s = String::new();
    let keys: Vec<String> = t
        .keys
        .iter()
        .map(|(k, v)| format!("{k} {}", escape(v)))
        .collect();
    let _ = writeln!(
        s,
        "{}: {} ({})",
        escape(&t.value),
        name(t.status),
        keys.join(", ")
    );
    if !t.awaiting.is_empty() {
        let a: Vec<&str> = t.awaiting.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(
            s,
            "  awaiting {} (documents that came ahead of them are linked and kept)",
            a.join(", ")
        );
    }
    for d in &t.documents {
        let _ = writeln!(
            s,
            "  {:<13} {} {} from {} (file {}, {})",
            name(d.milestone),
            d.schema,
            d.record_id,
            escape(&d.partner),
            d.file_id,
            d.received_at
        );
        for x in &d.deliveries {
            let _ = writeln!(
                s,
                "      -> {}{} {}{}{}",
                escape(&x.target),
                if x.shadow { " (shadow)" } else { "" },
                x.state,
                x.system_id
                    .as_ref()
                    .map_or(String::new(), |i| format!(", id {}", escape(i))),
                x.error
                    .as_ref()
                    .filter(|_| x.state != "delivered")
                    .map_or(String::new(), |e| format!(": {}", escape(e)))
            );
        }
        if let Some(p) = &d.process {
            let _ = writeln!(
                s,
                "      process of route {}: {}{}",
                escape(&p.route),
                p.state,
                p.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({})", escape(r)))
            );
            for o in &p.steps {
                let _ = writeln!(
                    s,
                    "        {}. {} {} {}: {}",
                    o.seq + 1,
                    escape(&o.name),
                    o.kind,
                    o.outcome,
                    escape(&o.detail)
                );
            }
        }
    }
    for sy in &t.systems {
        let _ = writeln!(
            s,
            "  system {}{}: {}{}{}",
            escape(&sy.target),
            if sy.shadow { " (shadow)" } else { "" },
            name(sy.status),
            if sy.pending > 0 {
                format!(", {} pending", sy.pending)
            } else {
                String::new()
            },
            if sy.held > 0 {
                format!(", {} held", sy.held)
            } else {
                String::new()
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_follow_the_schemas_and_expect_what_comes_before() {
        assert_eq!(Milestone::of("invoice/v1"), Some(Milestone::Invoiced));
        assert_eq!(Milestone::of("functional_ack/v1"), None);
        assert!(Milestone::Ordered < Milestone::Paid);
        assert_eq!(
            Milestone::Invoiced.expects(),
            &[Milestone::Ordered, Milestone::Shipped]
        );
    }
}
