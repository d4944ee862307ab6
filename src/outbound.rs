//! Outbound documents: canonical records through a mapping into X12, EDIFACT or cXML, with
//! the partner's separators and envelope ids. Pure: the caller passes the clock and the
//! interchange control number.

use crate::canonical::Record;
use crate::config::{Config, Outbound};
use crate::formats::edifact::contrl::Writer as EdiWriter;
use crate::formats::edifact::Delims;
use crate::formats::x12::writer::{IsaHeader, Writer as X12Writer};
use crate::formats::x12::Separators;
use crate::mapping::MapError;
use crate::util::Utc;
use serde_json::Value;
use std::fmt::Write as _;
use thiserror::Error;

/// Where records go: `x12:850`, `edifact:ORDERS`, `cxml:OrderRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub format: String,
    pub document: String,
}

impl std::str::FromStr for Target {
    type Err = OutboundError;

    fn from_str(s: &str) -> Result<Target, OutboundError> {
        match s.split_once(':') {
            Some((f @ ("x12" | "edifact" | "cxml"), d)) if !d.is_empty() => Ok(Target {
                format: f.to_string(),
                document: d.to_string(),
            }),
            _ => Err(OutboundError::Target(s.to_string())),
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum OutboundError {
    #[error("{0:?} is not a target: use x12:<set>, edifact:<message> or cxml:<request>")]
    Target(String),
    #[error("no outbound mapping {0} (mappings/outbound/{0}.jq)")]
    NoMapping(String),
    #[error("record {index} is not a canonical record: {message}")]
    Record { index: usize, message: String },
    #[error("record {index} ({id}): {}", .error.message)]
    Mapping {
        index: usize,
        id: String,
        error: Box<MapError>,
    },
    #[error("record {index}: the mapping output is not a list of segments: {message}")]
    Shape { index: usize, message: String },
    #[error("partner {partner}: {message}")]
    Partner { partner: String, message: String },
    #[error("{0}")]
    Write(String),
}

/// Text of a mapping output value: strings as they are, numbers as written, null empty.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A segment from the mapping: `[tag, element, ...]`, an element being text or an array of
/// components.
fn segment(v: &Value, index: usize) -> Result<(String, Vec<Vec<String>>), OutboundError> {
    let shape = |message: String| OutboundError::Shape { index, message };
    let Value::Array(items) = v else {
        return Err(shape(format!("{v} is not an array")));
    };
    let Some(Value::String(tag)) = items.first() else {
        return Err(shape(format!("{v} does not start with a segment tag")));
    };
    let elements = items[1..]
        .iter()
        .map(|e| match e {
            Value::Array(cs) => cs.iter().map(text).collect(),
            other => vec![text(other)],
        })
        .collect();
    Ok((tag.clone(), elements))
}

fn split_id(s: &str) -> (String, String) {
    match s.split_once(':') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (String::new(), s.to_string()),
    }
}

/// Runs the outbound mapping on every record; each output is what the writer takes.
fn mapped(
    cfg: &Config,
    partner: &str,
    target: &Target,
    records: &[Value],
) -> Result<Vec<Value>, OutboundError> {
    let name = format!("{}/{}", target.format, target.document);
    let program = cfg
        .maps
        .find(partner, "outbound", &target.format, &target.document)
        .ok_or_else(|| OutboundError::NoMapping(name.clone()))?;
    records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            // Only canonical records go out: the contract is checked before mapping.
            serde_json::from_value::<Record>(r.clone()).map_err(|e| OutboundError::Record {
                index: index + 1,
                message: e.to_string(),
            })?;
            cfg.maps
                .outbound(program, partner, r)
                .map_err(|error| OutboundError::Mapping {
                    index: index + 1,
                    id: r["id"].as_str().unwrap_or("").to_string(),
                    error: Box::new(error),
                })
        })
        .collect()
}

/// One document (one interchange, or one cXML document per record) for `partner`.
pub fn render(
    cfg: &Config,
    partner: &str,
    target: &Target,
    records: &[Value],
    control: u64,
    now: Utc,
) -> Result<Vec<u8>, OutboundError> {
    let outputs = mapped(cfg, partner, target, records)?;
    envelope(cfg, partner, target, &outputs, control, now)
}

/// Envelopes documents given as segments (`[[tag, element, ...], ...]`, one array per
/// transaction or message; one JSONML tree per cXML document) for `partner`, with its
/// outbound settings: what outbound mappings produce, and what edigate itself writes (the
/// application advice of a rejection).
pub fn envelope(
    cfg: &Config,
    partner: &str,
    target: &Target,
    outputs: &[Value],
    control: u64,
    now: Utc,
) -> Result<Vec<u8>, OutboundError> {
    let p = cfg.partner(partner);
    let settings = p.map(|p| p.outbound.clone()).unwrap_or_default();
    let bad = |message: String| OutboundError::Partner {
        partner: partner.to_string(),
        message,
    };
    // Their id: the configured receiver, else the first id they send as.
    let receiver = |configured: &Option<String>,
                    ids: fn(&crate::config::Partner) -> &Vec<String>,
                    what: &str| {
        configured
            .clone()
            .or_else(|| p.and_then(|p| ids(p).first().cloned()))
            .ok_or_else(|| bad(format!("no {what}_receiver and no {what}_ids to send to")))
    };
    let envelope_errors = |e: OutboundError| match e {
        OutboundError::Write(m) => bad(m),
        other => other,
    };
    match target.format.as_str() {
        "x12" => {
            let to = receiver(&settings.x12_receiver, |p| &p.x12_ids, "x12")?;
            x12(&settings, &to, &target.document, outputs, control, now).map_err(envelope_errors)
        }
        "edifact" => {
            let to = receiver(&settings.edifact_receiver, |p| &p.edifact_ids, "edifact")?;
            edifact(&settings, &to, &target.document, outputs, control, now)
                .map_err(envelope_errors)
        }
        _ => {
            let mut out = Vec::new();
            for (i, tree) in outputs.iter().enumerate() {
                let secret = settings
                    .cxml_secret_env
                    .as_deref()
                    .and_then(|n| std::env::var(n).ok());
                out.extend(cxml(
                    &settings,
                    partner,
                    tree,
                    secret.as_deref(),
                    control,
                    i,
                    now,
                )?);
            }
            Ok(out)
        }
    }
}

/// X12 functional identifier (GS01) of a transaction set.
pub fn functional_id(set: &str) -> &'static str {
    match set {
        "850" => "PO",
        "860" => "PC",
        "855" => "PR",
        "856" => "SH",
        "810" => "IN",
        "820" => "RA",
        "824" => "AG",
        "997" => "FA",
        _ => "ZZ",
    }
}

fn x12(
    s: &Outbound,
    receiver: &str,
    set: &str,
    outputs: &[Value],
    control: u64,
    now: Utc,
) -> Result<Vec<u8>, OutboundError> {
    let chars: Vec<u8> = s.x12_separators.bytes().collect();
    let [element, component, repetition, terminator] = chars[..] else {
        return Err(OutboundError::Write(format!(
            "x12_separators {:?} must be four characters: element, component, repetition, segment",
            s.x12_separators
        )));
    };
    let isa12 = match s.x12_version.as_str() {
        "004010" => "00401",
        "005010" => "00501",
        other => {
            return Err(OutboundError::Write(format!(
                "x12_version {other:?} is not 004010 or 005010"
            )))
        }
    };
    let seps = Separators {
        element,
        component,
        repetition: (isa12 != "00401").then_some(repetition),
        segment: terminator,
        line_break: true,
    };
    let w_err = |e: crate::formats::x12::writer::WriteError| OutboundError::Write(e.to_string());
    let (sq, sid) = split_id(&s.x12_sender);
    let (rq, rid) = split_id(receiver);
    let (y, mo, d, h, mi, _) = now.parts();
    let mut w = X12Writer::new(seps);
    w.isa(&IsaHeader {
        sender_qualifier: sq,
        sender_id: sid.clone(),
        receiver_qualifier: rq,
        receiver_id: rid.clone(),
        date: format!("{:02}{mo:02}{d:02}", y % 100),
        time: format!("{h:02}{mi:02}"),
        version: isa12.into(),
        control,
        ack_requested: false,
        usage: s.usage.clone(),
    })
    .map_err(w_err)?;
    let group = (control % 1_000_000_000).to_string();
    w.gs(
        functional_id(set),
        &sid,
        &rid,
        &format!("{y:04}{mo:02}{d:02}"),
        &format!("{h:02}{mi:02}"),
        &group,
        &s.x12_version,
    )
    .map_err(w_err)?;
    for (i, out) in outputs.iter().enumerate() {
        let segs = out.as_array().ok_or_else(|| OutboundError::Shape {
            index: i + 1,
            message: "expected an array of segments".into(),
        })?;
        w.st(set, &format!("{:04}", i + 1), "").map_err(w_err)?;
        for seg in segs {
            let (tag, elements) = segment(seg, i + 1)?;
            let joined: Vec<String> = elements
                .iter()
                .map(|cs| w.composite(&cs.iter().map(String::as_str).collect::<Vec<_>>()))
                .collect();
            if elements
                .iter()
                .any(|cs| cs.iter().any(|c| c.as_bytes().contains(&component)))
            {
                return Err(OutboundError::Write(format!(
                    "record {}: {tag}: a value contains the component separator {:?}",
                    i + 1,
                    char::from(component)
                )));
            }
            let refs: Vec<&str> = joined.iter().map(String::as_str).collect();
            w.segment(&tag, &refs)
                .map_err(|e| OutboundError::Write(format!("record {}: {e}", i + 1)))?;
        }
        w.se().map_err(w_err)?;
    }
    w.ge().map_err(w_err)?;
    w.iea().map_err(w_err)?;
    Ok(w.finish())
}

fn edifact(
    s: &Outbound,
    receiver: &str,
    message: &str,
    outputs: &[Value],
    control: u64,
    now: Utc,
) -> Result<Vec<u8>, OutboundError> {
    let d = Delims::from_una(format!("UNA{}", s.edifact_una).as_bytes()).ok_or_else(|| {
        OutboundError::Write(format!(
            "edifact_una {:?} must be six service characters (component, element, decimal, release, repetition, terminator)",
            s.edifact_una
        ))
    })?;
    let dir = s.edifact_directory.as_str();
    if dir.len() != 4 || !dir.starts_with('D') {
        return Err(OutboundError::Write(format!(
            "edifact_directory {dir:?} is not like D96A"
        )));
    }
    let (y, mo, day, h, mi, _) = now.parts();
    let mut w = EdiWriter::new(d);
    let (sid, sq) = s
        .edifact_sender
        .split_once(':')
        .unwrap_or((&s.edifact_sender, ""));
    let (rid, rq) = receiver.split_once(':').unwrap_or((receiver, ""));
    let ctrl = control.to_string();
    w.segment(
        "UNB",
        &[
            &["UNOC", "3"],
            &[sid, sq],
            &[rid, rq],
            &[
                &format!("{:02}{mo:02}{day:02}", y % 100),
                &format!("{h:02}{mi:02}"),
            ],
            &[&ctrl],
        ],
    );
    w.take_count();
    for (i, out) in outputs.iter().enumerate() {
        let segs = out.as_array().ok_or_else(|| OutboundError::Shape {
            index: i + 1,
            message: "expected an array of segments".into(),
        })?;
        let reference = (i + 1).to_string();
        w.segment("UNH", &[&[&reference], &[message, "D", &dir[1..], "UN"]]);
        for seg in segs {
            let (tag, elements) = segment(seg, i + 1)?;
            let comps: Vec<Vec<&str>> = elements
                .iter()
                .map(|cs| cs.iter().map(String::as_str).collect())
                .collect();
            let refs: Vec<&[&str]> = comps.iter().map(Vec::as_slice).collect();
            w.segment(&tag, &refs);
        }
        let count = (w.take_count() + 1).to_string();
        w.segment("UNT", &[&[&count], &[&reference]]);
    }
    w.take_count();
    let n = outputs.len().to_string();
    w.segment("UNZ", &[&[&n], &[&ctrl]]);
    Ok(w.finish())
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (i > 0 && (c.is_ascii_digit() || c == '-' || c == '.' || c == ':'))
        })
}

/// Writes a JsonML element (`["Tag", {attrs}?, child...]`) as XML.
pub fn write_xml(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::String(s) => {
            escape(s, out);
            Ok(())
        }
        Value::Array(items) => {
            let Some(Value::String(tag)) = items.first() else {
                return Err(format!(
                    "{v} is not an element: [\"Tag\", {{attributes}}, children...]"
                ));
            };
            if !valid_name(tag) {
                return Err(format!("{tag:?} is not an XML name"));
            }
            out.push('<');
            out.push_str(tag);
            let mut rest = &items[1..];
            if let Some(Value::Object(attrs)) = rest.first() {
                for (k, val) in attrs {
                    if val.is_null() {
                        continue;
                    }
                    if !valid_name(k) {
                        return Err(format!("{k:?} is not an XML attribute name"));
                    }
                    let _ = write!(out, " {k}=\"");
                    escape(&text(val), out);
                    out.push('"');
                }
                rest = &rest[1..];
            }
            let children: Vec<&Value> = rest.iter().filter(|c| !c.is_null()).collect();
            if children.is_empty() {
                out.push_str("/>");
                return Ok(());
            }
            out.push('>');
            for c in children {
                write_xml(c, out)?;
            }
            let _ = write!(out, "</{tag}>");
            Ok(())
        }
        Value::Null => Ok(()),
        other => {
            escape(&other.to_string(), out);
            Ok(())
        }
    }
}

fn credential(out: &mut String, who: &str, secret: Option<&str>) {
    let (domain, identity) = who.split_once(':').unwrap_or(("NetworkID", who));
    out.push_str("<Credential domain=\"");
    escape(domain, out);
    out.push_str("\"><Identity>");
    escape(identity, out);
    out.push_str("</Identity>");
    if let Some(s) = secret {
        out.push_str("<SharedSecret>");
        escape(s, out);
        out.push_str("</SharedSecret>");
    }
    out.push_str("</Credential>");
}

fn cxml(
    s: &Outbound,
    partner: &str,
    tree: &Value,
    secret: Option<&str>,
    control: u64,
    index: usize,
    now: Utc,
) -> Result<Vec<u8>, OutboundError> {
    let envelope = Envelope {
        payload_id: &format!("{control}.{index}@edigate"),
        from: &s.cxml_from,
        to: s.cxml_to.as_deref().unwrap_or(partner),
        secret,
        test: s.usage == "T",
    };
    cxml_document(&envelope, tree, now).map_err(|message| OutboundError::Shape {
        index: index + 1,
        message,
    })
}

/// The envelope of one cXML request: its payload id, `From`/`To` (`domain:identity`) and the
/// sender's shared secret.
pub struct Envelope<'a> {
    pub payload_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub secret: Option<&'a str>,
    pub test: bool,
}

/// A cXML request document around `tree` (JSONML: `[name, {attributes}, children...]`).
pub fn cxml_document(e: &Envelope<'_>, tree: &Value, now: Utc) -> Result<Vec<u8>, String> {
    let (y, mo, d, h, mi, sec) = now.parts();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd\">\n");
    out.push_str("<cXML payloadID=\"");
    escape(e.payload_id, &mut out);
    let _ = write!(
        out,
        "\" timestamp=\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z\" xml:lang=\"en-US\">\n<Header><From>"
    );
    credential(&mut out, e.from, None);
    out.push_str("</From><To>");
    credential(&mut out, e.to, None);
    out.push_str("</To><Sender>");
    credential(&mut out, e.from, e.secret);
    out.push_str("<UserAgent>edigate</UserAgent></Sender></Header>\n<Request deploymentMode=\"");
    out.push_str(if e.test { "test" } else { "production" });
    out.push_str("\">");
    write_xml(tree, &mut out)?;
    out.push_str("</Request>\n</cXML>\n");
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_syntax_and_a_document() {
        let t: Target = "x12:850".parse().unwrap();
        assert_eq!((t.format.as_str(), t.document.as_str()), ("x12", "850"));
        assert!("csv:po".parse::<Target>().is_err());
        assert!("x12:".parse::<Target>().is_err());
    }

    #[test]
    fn jsonml_becomes_escaped_xml() {
        let mut out = String::new();
        write_xml(
            &serde_json::json!(["A", {"b": "x&\"y"}, "1 < 2", ["C"], null, ["D", "t"]]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "<A b=\"x&amp;&quot;y\">1 &lt; 2<C/><D>t</D></A>");
        assert!(write_xml(&serde_json::json!(["a b"]), &mut out).is_err());
    }
}
