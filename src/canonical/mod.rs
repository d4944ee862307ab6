//! Canonical business records (`../shared/docs/canonical-model.md`, version 1): the envelope
//! and the business objects. Every connector and the outbox speak only these types; their JSON
//! Schemas are generated from them ([`schema`]).

pub mod decimal;
pub mod json;
pub mod records;

pub use decimal::{Date, Decimal};
pub use records::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `x12`, `edifact`, `cxml`, `xml`, `csv`, `api`
    pub format: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub standard: String,
    pub document: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interchange_control: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_control: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transaction_control: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sender: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub receiver: String,
    pub file: String,
    pub sha256: String,
}

/// `Some(v)` unless `v` is empty (a field serde leaves out).
fn nonempty(v: &str) -> Option<&str> {
    Some(v).filter(|v| !v.is_empty())
}

impl Source {
    /// Appends this source as JSON, as serde writes it (empty optional fields left out).
    pub fn write_json(&self, out: &mut String) {
        let mut o = json::Obj::open(out);
        o.str("format", &self.format);
        o.opt("standard", nonempty(&self.standard));
        o.str("document", &self.document);
        o.opt("interchange_control", nonempty(&self.interchange_control));
        o.opt("group_control", nonempty(&self.group_control));
        o.opt("transaction_control", nonempty(&self.transaction_control));
        o.opt("sender", nonempty(&self.sender));
        o.opt("receiver", nonempty(&self.receiver));
        o.str("file", &self.file);
        o.str("sha256", &self.sha256);
        o.close();
    }
}

/// One canonical record with its envelope, as written to JSON Lines. `record` is read
/// according to `schema`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub schema: String,
    pub id: String,
    pub partner: String,
    pub correlation: BTreeMap<String, String>,
    pub source: Source,
    pub record: Business,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            schema: String,
            id: String,
            partner: String,
            #[serde(default)]
            correlation: BTreeMap<String, String>,
            source: Source,
            record: Value,
        }
        let raw = Raw::deserialize(d)?;
        let record =
            Business::from_json(&raw.schema, raw.record).map_err(serde::de::Error::custom)?;
        Ok(Record {
            schema: raw.schema,
            id: raw.id,
            partner: raw.partner,
            correlation: raw.correlation,
            source: raw.source,
            record,
        })
    }
}

macro_rules! businesses {
    ($($variant:ident($ty:ty) = $schema:literal),* $(,)?) => {
        /// The business object inside a record; the variant matches `schema`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Business {
            $($variant($ty),)*
        }

        /// Every schema this version knows, in contract order.
        pub const SCHEMAS: &[&str] = &[$($schema,)*];

        impl Business {
            /// The schema name of this object, such as `purchase_order/v1`.
            pub fn schema(&self) -> &'static str {
                match self {
                    $(Business::$variant(_) => $schema,)*
                }
            }

            /// Reads a business object of schema `schema`; the error says which field is wrong.
            pub fn from_json(schema: &str, v: Value) -> Result<Business, String> {
                match schema {
                    $($schema => serde_json::from_value::<$ty>(v)
                        .map(Business::$variant)
                        .map_err(|e| e.to_string()),)*
                    other => Err(format!("unknown schema {other:?} (known: {})", SCHEMAS.join(", "))),
                }
            }
        }

        /// The JSON Schema of one record schema (envelope included), or `None` when unknown.
        pub fn schema(name: &str) -> Option<Value> {
            match name {
                $($schema => Some(envelope_schema::<$ty>($schema)),)*
                _ => None,
            }
        }
    };
}

businesses! {
    Supplier(Supplier) = "supplier/v1",
    Requisition(Requisition) = "requisition/v1",
    PurchaseOrder(PurchaseOrder) = "purchase_order/v1",
    PoAcknowledgement(PoAcknowledgement) = "po_acknowledgement/v1",
    ShipNotice(ShipNotice) = "ship_notice/v1",
    GoodsReceipt(GoodsReceipt) = "goods_receipt/v1",
    Invoice(Invoice) = "invoice/v1",
    PaymentStatus(PaymentStatus) = "payment_status/v1",
    FunctionalAck(FunctionalAck) = "functional_ack/v1",
}

/// The envelope of the contract around business object `T`, as one JSON Schema document.
fn envelope_schema<T: JsonSchema>(name: &str) -> Value {
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    struct Envelope<T> {
        schema: String,
        id: String,
        partner: String,
        correlation: BTreeMap<String, String>,
        source: Source,
        record: T,
    }
    let mut s = schemars::schema_for!(Envelope<T>);
    let o = s.as_object_mut().expect("a schema object");
    o.insert(
        "$id".into(),
        Value::String(format!("https://edigate.dev/schemas/{name}.json")),
    );
    o.insert("title".into(), Value::String(name.to_string()));
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        props.insert("schema".into(), serde_json::json!({ "const": name }));
        props.insert(
            "id".into(),
            serde_json::json!({ "type": "string", "pattern": "^rec_[0-9a-f]+$" }),
        );
    }
    let mut v = s.to_value();
    no_nulls(&mut v);
    v
}

/// Absent optional fields are omitted, never `null`: removes the `null` that schemars allows
/// for every `Option`.
fn no_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let one = types.remove(0);
                    o.insert("type".into(), one);
                }
            }
            if let Some(Value::Array(any)) = o.get("anyOf") {
                let kept: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type").is_none_or(|t| t != "null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    o.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, val) in inner {
                            o.insert(k.clone(), val.clone());
                        }
                    }
                }
            }
            o.values_mut().for_each(no_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(no_nulls),
        _ => {}
    }
}

/// The business key a document of `schema` is known by (the number people quote), read
/// from a record envelope's correlation keys, else from its record; empty when it has none.
pub fn business_key(schema: &str, envelope: &serde_json::Value) -> String {
    let name = match schema.split('/').next().unwrap_or("") {
        "invoice" => "invoice_number",
        "ship_notice" => "shipment_id",
        "payment_status" => "payment_id",
        "goods_receipt" => "receipt_id",
        "supplier" => "supplier_id",
        "requisition" => "requisition_id",
        _ => "po_number",
    };
    envelope["correlation"][name]
        .as_str()
        .or_else(|| envelope["record"][name].as_str())
        .unwrap_or("")
        .to_string()
}

impl Business {
    /// Business keys that let one document be followed across systems.
    pub fn correlation(&self) -> BTreeMap<String, String> {
        let mut c = BTreeMap::new();
        let mut put = |k: &str, v: Option<&String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                c.insert(k.to_string(), v.clone());
            }
        };
        match self {
            Business::Supplier(s) => put("supplier_id", Some(&s.supplier_id)),
            Business::Requisition(r) => put("requisition_id", Some(&r.requisition_id)),
            Business::PurchaseOrder(po) => {
                return purchase_order_correlation(&po.po_number, po.requisition_id.as_deref());
            }
            Business::PoAcknowledgement(a) => put("po_number", Some(&a.po_number)),
            Business::ShipNotice(s) => {
                put("shipment_id", Some(&s.shipment_id));
                put("po_number", s.po_numbers.first());
            }
            Business::GoodsReceipt(g) => {
                put("receipt_id", Some(&g.receipt_id));
                put("shipment_id", g.shipment_id.as_ref());
                put("po_number", g.po_numbers.first());
            }
            Business::Invoice(i) => {
                put("invoice_number", Some(&i.invoice_number));
                put("po_number", i.po_number.as_ref());
            }
            Business::PaymentStatus(p) => {
                put("payment_id", Some(&p.payment_id));
                put(
                    "invoice_number",
                    p.invoices.first().map(|i| &i.invoice_number),
                );
            }
            Business::FunctionalAck(f) => {
                put("interchange_control", f.interchange_control.as_ref());
            }
        }
        c
    }
}

/// The correlation keys of a purchase order (for writers that have no typed record).
pub fn purchase_order_correlation(
    po_number: &str,
    requisition_id: Option<&str>,
) -> BTreeMap<String, String> {
    correlation_of(&[
        ("po_number", Some(po_number)),
        ("requisition_id", requisition_id),
    ])
}

/// Correlation keys from (key, value) pairs: those with a value that is not empty.
pub fn correlation_of(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.filter(|v| !v.is_empty())?.to_string())))
        .collect()
}

/// A business object serialised once: its schema, its correlation keys and its JSON text
/// (what serde writes for the [`Business`]). Mappings give these; a compiled twin writes them
/// straight from segments, without the typed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub schema: &'static str,
    pub correlation: BTreeMap<String, String>,
    pub json: String,
}

/// Room the envelope takes before an object's JSON (its source names a file and a hash): a
/// twin reserves it, so that [`Written::record`] rarely has to move the object.
pub const ENVELOPE_ROOM: usize = 768;

impl From<&Business> for Written {
    fn from(b: &Business) -> Written {
        Written {
            schema: b.schema(),
            correlation: b.correlation(),
            // Serialising our own types cannot fail.
            json: serde_json::to_string(b).expect("records serialise"),
        }
    }
}

impl Written {
    /// The whole record, envelope included, as one line of JSON: what serde writes for the
    /// [`Record`] of this object. The object's text stays in its buffer, taken from `self`.
    pub fn record(&mut self, id: &str, partner: &str, source: &Source) -> String {
        let mut head = String::with_capacity(ENVELOPE_ROOM);
        // The envelope stays open: the object's text follows `"record":`, then the brace.
        let mut o = json::Obj::open(&mut head);
        o.str("schema", self.schema);
        o.str("id", id);
        o.str("partner", partner);
        json::object(o.key("correlation"), &self.correlation);
        source.write_json(o.key("source"));
        o.key("record");
        let body = std::mem::take(&mut self.json);
        let need = head.len() + body.len() + 1;
        // A file's records are held until it is committed: each keeps at most a quarter more
        // memory than its text. The twins reserve room for the envelope; other objects are
        // copied into a buffer of the exact size.
        let mut out = if body.capacity() >= need && body.capacity() - need <= need / 4 {
            let mut out = body;
            out.insert_str(0, &head);
            out
        } else {
            let mut out = String::with_capacity(need);
            out.push_str(&head);
            out.push_str(&body);
            out
        };
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_correlation_of_the_schema() {
        let env =
            serde_json::json!({"correlation": {"invoice_number": "INV-1", "po_number": "PO-9"}});
        assert_eq!(business_key("invoice/v1", &env), "INV-1");
        assert_eq!(business_key("purchase_order/v1", &env), "PO-9");
        assert_eq!(business_key("ship_notice/v1", &env), "");
    }

    #[test]
    fn every_schema_names_itself_and_closes_its_objects() {
        for name in SCHEMAS {
            let s = schema(name).unwrap();
            assert_eq!(s["title"], *name);
            assert_eq!(s["properties"]["schema"]["const"], *name);
            assert_eq!(s["additionalProperties"], false, "{name}");
            assert!(!s.to_string().contains("\"null\""), "{name} allows null");
        }
        assert!(schema("purchase_order/v2").is_none());
    }

    #[test]
    fn a_written_record_is_what_serde_writes_for_the_record() {
        let po: PurchaseOrder = serde_json::from_value(serde_json::json!({
            "po_number": "PO\"1", "purpose": "original", "order_date": "2026-05-17",
            "parties": [], "lines": [], "requisition_id": "R\n7"
        }))
        .unwrap();
        let record = Record {
            schema: "purchase_order/v1".into(),
            id: "rec_0a".into(),
            partner: "AC\\ME".into(),
            correlation: Business::PurchaseOrder(po.clone()).correlation(),
            source: Source {
                format: "x12".into(),
                document: "850".into(),
                file: "in/é.edi".into(),
                ..Source::default()
            },
            record: Business::PurchaseOrder(po),
        };
        for source in [
            Source::default(),
            Source {
                format: "x12".into(),
                standard: "004010".into(),
                document: "850".into(),
                interchange_control: "1".into(),
                group_control: "2".into(),
                transaction_control: "3".into(),
                sender: "ZZ:A\"B".into(),
                receiver: "ZZ:C".into(),
                file: "f".into(),
                sha256: "0a".into(),
            },
        ] {
            let mut mine = String::new();
            source.write_json(&mut mine);
            assert_eq!(mine, serde_json::to_string(&source).unwrap());
        }
        let written = Written::from(&record.record);
        assert_eq!(written.correlation.len(), 2);
        assert_eq!(
            written
                .clone()
                .record(&record.id, &record.partner, &record.source),
            serde_json::to_string(&record).unwrap()
        );
    }

    #[test]
    fn records_are_read_by_their_schema_name() {
        let e = Business::from_json("invoice/v1", serde_json::json!({"invoice_number": "1"}))
            .unwrap_err();
        assert!(e.contains("missing field"), "{e}");
        let e = Business::from_json("nope/v1", Value::Null).unwrap_err();
        assert!(e.contains("unknown schema"), "{e}");
    }
}
