//! Compiled twins of the shipped mappings of acknowledgements received (X12 997 and 999; the
//! EDIFACT CONTRL and APERAK twins in `edifact` write through the same [`Ack`]).

use super::{correlation_of, json, Doc, Obj, Tag, Written};

/// A `functional_ack/v1` record as the mappings build it; empty texts are left out.
pub(super) struct Ack<'a> {
    pub acknowledged: &'static str,
    pub status: &'static str,
    /// (segment, position, element, code, text) per error.
    pub errors: Vec<[&'a str; 5]>,
    pub interchange_control: &'a str,
    pub group_control: &'a str,
    pub transaction_control: &'a str,
    pub document: &'a str,
}

fn given(t: &str) -> Option<&str> {
    (!t.is_empty()).then_some(t)
}

impl Ack<'_> {
    /// The record's JSON, as serde writes the `FunctionalAck` the mapping gives.
    pub(super) fn written(&self, plain: bool) -> Written {
        let mut json = String::with_capacity(crate::canonical::ENVELOPE_ROOM + 256);
        let mut o = Obj::open_text(&mut json, plain);
        o.plain("acknowledged", self.acknowledged);
        o.plain("status", self.status);
        if !self.errors.is_empty() {
            json::array(o.key("errors"), &self.errors, |out, e| {
                let mut a = Obj::open_text(out, plain);
                for (key, v) in ["segment", "position", "element", "code", "text"]
                    .iter()
                    .zip(e)
                {
                    a.opt(key, given(v));
                }
                a.close();
            });
        }
        o.opt("interchange_control", given(self.interchange_control));
        o.opt("group_control", given(self.group_control));
        o.opt("transaction_control", given(self.transaction_control));
        o.opt("document", given(self.document));
        o.close();
        Written {
            schema: "functional_ack/v1",
            correlation: correlation_of(&[(
                "interchange_control",
                given(self.interchange_control),
            )]),
            json,
        }
    }
}

/// The `status` of `mappings/inbound/x12/997.jq` and `999.jq` (AK9 / AK5 / IK5 code).
fn x12_status(code: &str) -> &'static str {
    match code {
        "A" => "accepted",
        "E" => "accepted_with_errors",
        "P" => "partially_accepted",
        _ => "rejected",
    }
}

/// `mappings/inbound/x12/997.jq` (`implementation`: `999.jq`, whose loops are IK3, IK4 and
/// IK5): one record per answered transaction set, or one for the group when it lists none.
pub(super) fn x12(doc: &Doc<'_>, implementation: bool) -> Option<Vec<Written>> {
    let [k3, k4, k5] = if implementation {
        ["IK3", "IK4", "IK5"].map(Tag::of)
    } else {
        ["AK3", "AK4", "AK5"].map(Tag::of)
    };
    let all = doc.all();
    let ak1 = all.first(Tag::of("AK1"))?;
    let ak9 = all.first(Tag::of("AK9"))?;
    let sets = all.loops(Tag::of("AK2"), &[Tag::of("AK9"), Tag::of("SE")]);
    if sets.is_empty() {
        let ack = Ack {
            acknowledged: "group",
            status: x12_status(ak9.el(1)),
            errors: Vec::new(),
            interchange_control: "",
            group_control: ak1.el(2),
            transaction_control: "",
            document: "",
        };
        return Some(vec![ack.written(doc.plain)]);
    }
    let records = sets
        .into_iter()
        .map(|l| {
            let ak2 = l.doc.seg(l.from);
            let mut errors = Vec::new();
            for e in l.loops(k3, &[k5]) {
                let ak3 = e.doc.seg(e.from);
                let (segment, position) = (ak3.el(1), ak3.el(2));
                let before = errors.len();
                for ak4 in e.tagged(k4) {
                    errors.push([segment, position, ak4.el(1), ak4.el(3), ak4.el(4)]);
                }
                if errors.len() == before {
                    errors.push([segment, position, "", ak3.el(4), ""]);
                }
            }
            Ack {
                acknowledged: "transaction",
                status: x12_status(l.first(k5).map_or("", |s| s.el(1))),
                errors,
                interchange_control: "",
                group_control: ak1.el(2),
                transaction_control: ak2.el(2),
                document: ak2.el(1),
            }
            .written(doc.plain)
        })
        .collect();
    Some(records)
}
