//! Canonical business records (`../shared/docs/canonical-model.md`, version 1): the envelope
//! and the business objects. Every connector and the outbox speak only these types.

pub mod decimal;

pub use decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
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

/// One canonical record with its envelope, as written to JSON Lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub schema: String,
    pub id: String,
    pub partner: String,
    pub correlation: BTreeMap<String, String>,
    pub source: Source,
    pub record: Business,
}

/// The business object inside a record; the variant matches `schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Business {
    PurchaseOrder(PurchaseOrder),
}

impl Business {
    /// The schema name of this object, such as `purchase_order/v1`.
    pub fn schema(&self) -> &'static str {
        match self {
            Business::PurchaseOrder(_) => "purchase_order/v1",
        }
    }

    /// Business keys that let one document be followed across systems.
    pub fn correlation(&self) -> BTreeMap<String, String> {
        let mut c = BTreeMap::new();
        match self {
            Business::PurchaseOrder(po) => {
                c.insert("po_number".into(), po.po_number.clone());
                if let Some(r) = &po.requisition_id {
                    c.insert("requisition_id".into(), r.clone());
                }
            }
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Buyer,
    Supplier,
    ShipTo,
    BillTo,
    ShipFrom,
    RemitTo,
    Payer,
    Payee,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Address::is_empty")]
    pub address: Address,
}

/// At least one of the part numbers or the GTIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    #[default]
    Original,
    Change,
    Cancel,
    Replace,
}

/// `Default` is the empty order a mapping starts from (an original with no fields yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrder {
    pub po_number: String,
    pub purpose: Purpose,
    /// ISO `YYYY-MM-DD`.
    pub order_date: String,
    pub parties: Vec<Party>,
    pub lines: Vec<PoLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requisition_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoLine {
    pub line_number: String,
    pub item: Item,
    pub quantity: Decimal,
    pub uom: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery_date: Option<String>,
}
