//! Parsed documents as mapping input: every segment as `[tag, element 1, ...]`, a composite
//! element as an array of its components, text unescaped and trimmed at the end.

use crate::formats::edifact::{lexer as edi, Message};
use crate::formats::x12::lexer::text_of;
use crate::formats::x12::{Segment, Transaction};
use jaq_json::{Map, Val};

fn s(t: String) -> Val {
    Val::from(t)
}

/// One X12 segment.
pub fn x12_segment(seg: &Segment<'_>) -> Val {
    let comp = seg.seps.component;
    let mut v = vec![s(text_of(seg.id()))];
    for e in seg.elements() {
        if e.contains(&comp) {
            v.push(Val::Arr(
                e.split(|b| *b == comp)
                    .map(|c| s(text_of(c)))
                    .collect::<Vec<_>>()
                    .into(),
            ));
        } else {
            v.push(s(text_of(e)));
        }
    }
    Val::Arr(v.into())
}

/// One EDIFACT segment.
pub fn edifact_segment(seg: &edi::Segment<'_>) -> Val {
    let d = seg.delims;
    let mut v = vec![s(String::from_utf8_lossy(seg.id()).into_owned())];
    for e in seg.elements() {
        let comps: Vec<_> = edi::split(e, d.component, d.release);
        let text = |c: &[u8]| s(edi::unescape(c, d.release).trim_end().to_string());
        if comps.len() > 1 {
            v.push(Val::Arr(
                comps.iter().map(|c| text(c)).collect::<Vec<_>>().into(),
            ));
        } else {
            v.push(text(e));
        }
    }
    Val::Arr(v.into())
}

fn object(fields: Vec<(&str, Val)>) -> Val {
    Val::obj(
        fields
            .into_iter()
            .map(|(k, v)| (Val::from(k.to_string()), v))
            .collect::<Map>(),
    )
}

/// Mapping input for one X12 transaction set.
pub fn x12(tx: &Transaction, version: &str, partner: &str) -> Val {
    object(vec![
        ("format", s("x12".into())),
        ("standard", s(version.to_string())),
        ("document", s(tx.id.clone())),
        ("control", s(tx.control.clone())),
        ("partner", s(partner.to_string())),
        (
            "segments",
            Val::Arr(
                tx.segments()
                    .map(|g| x12_segment(&g))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        ),
    ])
}

/// Mapping input for one EDIFACT message.
pub fn edifact(m: &Message, partner: &str) -> Val {
    object(vec![
        ("format", s("edifact".into())),
        ("standard", s(m.directory())),
        ("document", s(m.kind.clone())),
        ("control", s(m.reference.clone())),
        ("partner", s(partner.to_string())),
        (
            "segments",
            Val::Arr(
                m.segments()
                    .map(|g| edifact_segment(&g))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        ),
    ])
}

/// The index of the first segment equal to `wanted` (as a mapping reported it).
pub fn find_segment(
    mut segments: impl Iterator<Item = Val>,
    wanted: &serde_json::Value,
) -> Option<usize> {
    let wanted = super::jq::from_json(wanted);
    segments.position(|v| v == wanted)
}
