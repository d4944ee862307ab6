//! Routing: where each output of a translated file goes: the outbox folder under
//! deterministic names, partners' SFTP drops, and targets (directly or through a route).

use crate::config::Config;
use crate::migration::Side;
use crate::store::{AwaitsAck, Content, FileRow, NewDelivery, NewOutput, RecordKeys, RouteTag};
use crate::translate::{Ack, Emitted, OutboundDoc};

/// The longest path component made from an input's name: with room for an id prefix and
/// suffixes such as `.reason.json` and `.edigate-tmp`, it stays under the 255 bytes that
/// common file systems allow.
pub const MAX_COMPONENT: usize = 120;

/// Makes a value safe as one path component: ASCII letters, digits, `.`, `_` and `-` only,
/// no leading dot, and at most [`MAX_COMPONENT`] bytes (a longer one keeps its start and its
/// extension, with a hash of the whole in between, so that two long names stay apart).
pub fn component(s: &str) -> String {
    let c: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let c = match c.trim_start_matches('.') {
        "" => "_".to_string(),
        t => t.to_string(),
    };
    if c.len() <= MAX_COMPONENT {
        return c;
    }
    let hash = &crate::util::sha256_hex(s.as_bytes())[..16];
    // The extension, when it is short: `.edi`, `.xml`.
    let ext = match c.rfind('.') {
        Some(i) if c.len() - i <= 12 => &c[i..],
        _ => "",
    };
    let keep = MAX_COMPONENT - ext.len() - hash.len() - 1;
    format!("{}~{hash}{ext}", &c[..keep])
}

/// The outbox-relative name of file `file`'s JSON Lines output of `partner`'s `schema`
/// records: it depends only on the file's id, attempt and content, so that rewriting after a
/// crash writes the same name.
pub fn records_path(file: &FileRow, partner: &str, schema: &str) -> String {
    let stem = component(
        std::path::Path::new(&file.name)
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
            .as_ref(),
    );
    let attempt = if file.attempt > 1 {
        format!("-a{}", file.attempt)
    } else {
        String::new()
    };
    let schema = schema.split('/').next().unwrap_or("record");
    format!(
        "{}/{schema}/{:08}{attempt}-{stem}.jsonl",
        component(partner),
        file.id
    )
}

/// The output of an acknowledgement: to the outbox, and to the partner's SFTP drops. Its
/// content is its bytes, or the spool file the caller made of a large one.
pub fn ack_output(cfg: &Config, a: &Ack, content: Content<'static>) -> NewOutput<'static> {
    NewOutput {
        kind: format!("ack:{}", a.doc.kind),
        path: format!(
            "{}/acks/{}-{:09}.x12",
            component(&a.partner),
            a.doc.kind,
            a.doc.control
        ),
        uploads: upload_channels(cfg, &a.partner),
        content,
        awaits_ack: None,
    }
}

/// The outputs of documents made for partners (a replay does not send them again).
pub fn outbound_outputs(
    cfg: &Config,
    file: &FileRow,
    docs: &[OutboundDoc],
) -> Vec<NewOutput<'static>> {
    let mut out = Vec::new();
    for d in docs.iter().filter(|_| !file.replay) {
        let (format, document) = d.target.split_once(':').unwrap_or(("", &d.target));
        let ext = match format {
            "x12" => "x12",
            "edifact" => "edi",
            _ => "xml",
        };
        out.push(NewOutput {
            kind: format!("outbound:{}", d.target),
            path: format!(
                "{}/outbound/{}-{:09}.{ext}",
                component(&d.partner),
                component(document),
                d.control
            ),
            content: Content::Bytes(d.bytes.clone()),
            uploads: upload_channels(cfg, &d.partner),
            awaits_ack: awaits_ack(cfg, &d.partner, format, document, d.control),
        });
    }
    out
}

/// What the store keeps of a record: its business keys, and the answer it gives when it is
/// a functional acknowledgement.
pub fn keys(r: &Emitted) -> RecordKeys {
    RecordKeys {
        id: r.id.clone(),
        schema: r.schema.clone(),
        partner: r.partner.clone(),
        keys: r
            .correlation
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        answers: ack_answer(r),
    }
}

/// The acknowledgement an interchange sent to `partner` is owed: X12 and EDIFACT documents,
/// when the partner sends functional acknowledgements (`ack` not `none`) within
/// `ack_due_minutes` (not 0). The number echoed back is the control number (GS06, UNB 0020).
fn awaits_ack(
    cfg: &Config,
    partner: &str,
    format: &str,
    document: &str,
    control: u64,
) -> Option<AwaitsAck> {
    let p = cfg.partner(partner)?;
    if !matches!(format, "x12" | "edifact")
        || p.ack_due_minutes == 0
        || p.ack == crate::acks::Functional::None
    {
        return None;
    }
    Some(AwaitsAck {
        partner: partner.to_string(),
        syntax: format.to_string(),
        control: control.to_string(),
        document: document.to_string(),
        due_minutes: p.ack_due_minutes,
    })
}

/// What a received functional acknowledgement answers: the group (X12, AK1) or interchange
/// (EDIFACT, UCI) it names, with its status (of the whole, or of one transaction in it);
/// `None` for other records.
pub fn ack_answer(r: &Emitted) -> Option<crate::store::AckAnswer> {
    if !r.schema.starts_with("functional_ack/") {
        return None;
    }
    let v = r.value();
    let rec = &v["record"];
    let syntax = v["source"]["format"].as_str()?;
    let key = match syntax {
        "x12" => "group_control",
        "edifact" => "interchange_control",
        _ => return None,
    };
    Some(crate::store::AckAnswer {
        syntax: syntax.to_string(),
        control: rec[key].as_str()?.to_string(),
        status: rec["status"].as_str().unwrap_or("accepted").to_string(),
        whole: rec["acknowledged"] != "transaction",
    })
}

/// SFTP channels of `partner` that take acknowledgements and outbound documents.
pub fn upload_channels(cfg: &Config, partner: &str) -> Vec<String> {
    cfg.channels
        .iter()
        .filter(|c| c.partner.as_deref() == Some(partner))
        .filter(|c| c.sftp().is_some_and(|s| s.outbound_dir.is_some()))
        .map(|c| c.name.clone())
        .collect()
}

/// The deliveries of a record: one per target that takes it, keyed by the
/// record's id (a hash of the input's content and the record's position in it) and the
/// target, so that translating the same input again never adds a second delivery and no two
/// records ever share a key (files without control numbers, such as CSV, included).
pub fn deliveries<'o>(cfg: &Config, r: &'o Emitted) -> Vec<NewDelivery<'o>> {
    let delivery = |target: &str, route: Option<RouteTag>| NewDelivery {
        record_id: r.id.clone(),
        target: target.to_string(),
        idem_key: idem_key(&r.id, target),
        payload: r.json.as_bytes(),
        route,
    };
    // A record a route covers goes to the route's targets (every side: the store keeps the
    // mode the record was first routed under and queues only what that mode sends).
    if let Some(route) = crate::migration::route_for(&cfg.routes, &r.schema, &r.partner) {
        let mut out = Vec::new();
        for side in [Side::Legacy, Side::Modern] {
            for t in route.side(side) {
                out.push(delivery(
                    t,
                    Some(RouteTag {
                        route: route.name.clone(),
                        side,
                        mode: route.mode,
                        orchestrated: !route.steps.is_empty(),
                        waits: route.step_delivering(t).is_some(),
                    }),
                ));
            }
        }
        return out;
    }
    cfg.targets
        .iter()
        .filter(|t| t.takes(&r.schema, &r.partner) && !cfg.routed_only(&t.name))
        .map(|t| delivery(&t.name, None))
        .collect()
}

/// The idempotency key of a record's delivery to a target.
pub fn idem_key(record_id: &str, target: &str) -> String {
    format!("{record_id}@{target}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_bounded_and_long_names_stay_apart() {
        assert_eq!(component("po 1.edi"), "po_1.edi");
        assert_eq!(component("..hidden"), "hidden");
        assert_eq!(component(""), "_");
        let a = format!("{}a.edi", "x".repeat(245));
        let b = format!("{}b.edi", "x".repeat(245));
        let (ca, cb) = (component(&a), component(&b));
        assert_eq!(ca.len(), MAX_COMPONENT);
        assert!(ca.ends_with(".edi") && ca.starts_with("xxx"), "{ca}");
        assert_ne!(ca, cb);
        assert_eq!(component(&"é".repeat(200)).len(), MAX_COMPONENT);
    }
}
