//! Tells partners of ERP rejections: each rejection queued by the store (live sides only)
//! becomes, once, an 824 or APERAK in the partner's outbox (and its SFTP drop) when the
//! partner's profile asks (`advise_rejections = true`).

use crate::acks::advice::{self, Rejection};
use crate::config::{Config, OrderRejections};
use crate::fsutil;
use crate::store::{AdviceDoc, AdviceRow, OutputRow, Store, StoreError};
use crate::util::Utc;
use serde_json::Value;

/// What one publishing step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub written: usize,
    pub not_asked: usize,
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Makes every due advice into a document (or notes that its partner did not ask), then
/// writes every document made and not yet written. Repeating it after a crash writes the
/// same bytes under the same names, and makes no advice twice.
pub fn publish(cfg: &Config, store: &mut Store, now: Utc) -> Result<Published, AdviseError> {
    let mut done = Published::default();
    loop {
        let due = store.due_advices(100)?;
        if due.is_empty() {
            break;
        }
        for a in &due {
            let asked = cfg.partner(&a.partner).is_some_and(|p| p.advise_rejections);
            if !asked {
                store.skip_advice(a.id, "the partner's profile does not ask for rejections")?;
                done.not_asked += 1;
                continue;
            }
            match store.make_advice(a, now, |control| document(cfg, a, control, now))? {
                Ok(_) => {}
                Err(e) => {
                    done.failed += 1;
                    tracing::error!(partner = %a.partner, record = %a.record_id, error = %e, "the rejection could not be told to the partner");
                }
            }
        }
    }
    let unwritten = store.unwritten_advices()?;
    let outputs: Vec<_> = unwritten.iter().map(|(_, o)| o.clone()).collect();
    write_outputs(cfg, &outputs)?;
    for o in &outputs {
        tracing::warn!(output = %o.path, "an ERP rejection was told to the partner");
    }
    let written: Vec<(i64, i64)> = unwritten.iter().map(|(a, o)| (*a, o.id)).collect();
    for (advice, output) in written {
        store.advice_written(advice, output)?;
        done.written += 1;
    }
    Ok(done)
}

/// Writes documents edigate made (advice, a process's answers) to the outbox, each replaced
/// whole, and syncs their folders; the caller then marks them written.
pub fn write_outputs(cfg: &Config, outputs: &[OutputRow]) -> Result<(), AdviseError> {
    let mut dirs = Vec::new();
    for o in outputs {
        let path = cfg.outbox.join(&o.path);
        fsutil::write_replace(&path, &o.content).map_err(|source| AdviseError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if let Some(d) = path.parent() {
            if !dirs.contains(&d.to_path_buf()) {
                dirs.push(d.to_path_buf());
            }
        }
    }
    for d in &dirs {
        fsutil::sync_dir(d).map_err(|source| AdviseError::Io {
            path: d.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// The advice document of `a` with control number `control`.
fn document(cfg: &Config, a: &AdviceRow, control: u64, now: Utc) -> Result<AdviceDoc, String> {
    let env: Value = serde_json::from_slice(&a.record).map_err(|e| format!("the record: {e}"))?;
    let source = &env["source"];
    let format = source["format"].as_str().unwrap_or("");
    let (syntax, doc) = advice::advice_document(format).ok_or_else(|| {
        format!("the record came as {format:?}: edigate writes advice for X12 (824), EDIFACT (APERAK) and cXML (StatusUpdateRequest) only")
    })?;
    let schema = env["schema"].as_str().unwrap_or("");
    let order_response = schema.starts_with("purchase_order/")
        && syntax != "cxml"
        && cfg
            .partner(&a.partner)
            .is_some_and(|p| p.order_rejections == OrderRejections::OrderResponse);
    if order_response {
        // The order and every line rejected, in the partner's order response.
        let doc = if syntax == "x12" { "855" } else { "ORDRSP" };
        let target = crate::outbound::Target {
            format: syntax.to_string(),
            document: doc.to_string(),
        };
        let ack = advice::order_response(&env, false, None, &now.date());
        let bytes = crate::outbound::render(cfg, &a.partner, &target, &[ack], control, now)
            .map_err(|e| e.to_string())?;
        return Ok(made(cfg, a, "outbound", doc, control, syntax, bytes));
    }
    let key = crate::canonical::business_key(schema, &env);
    let text = |k: &str| source[k].as_str().unwrap_or("").to_string();
    let (document, group, transaction, payload_id) = (
        text("document"),
        text("group_control"),
        text("transaction_control"),
        text("interchange_control"),
    );
    let r = Rejection {
        schema,
        key: &key,
        document: &document,
        group_control: &group,
        transaction_control: &transaction,
        target: &a.target,
        error: &a.error,
        payload_id: &payload_id,
    };
    let segments = match syntax {
        "x12" => advice::x12_824(&r, control, now),
        "cxml" => advice::cxml_status(&r),
        _ => advice::aperak(&r, control, now),
    };
    let target = crate::outbound::Target {
        format: syntax.to_string(),
        document: doc.to_string(),
    };
    let bytes = crate::outbound::envelope(cfg, &a.partner, &target, &[segments], control, now)
        .map_err(|e| e.to_string())?;
    Ok(made(cfg, a, "acks", doc, control, syntax, bytes))
}

/// An advice as an output: `outbox/PARTNER/FOLDER/DOC-CONTROL.EXT`, uploaded where the
/// partner's SFTP drop takes documents.
fn made(
    cfg: &Config,
    a: &AdviceRow,
    folder: &str,
    doc: &str,
    control: u64,
    syntax: &str,
    bytes: Vec<u8>,
) -> AdviceDoc {
    let ext = match syntax {
        "x12" => "x12",
        "cxml" => "xml",
        _ => "edi",
    };
    AdviceDoc {
        kind: format!("advice:{doc}"),
        path: format!(
            "{}/{folder}/{doc}-{control:09}.{ext}",
            crate::routing::component(&a.partner)
        ),
        bytes,
        uploads: crate::routing::upload_channels(cfg, &a.partner),
    }
}
