//! Twins of the shipped CSV mappings (`inbound/csv/purchase_order.jq`, `invoice.jq`): rows
//! grouped by document number in the order the file first names them, one typed record each,
//! from rows held whole or read one document at a time.

use super::{walk, Walks};
use crate::canonical::records::{
    Address, Invoice, InvoiceLine, Item, Party, PoLine, PurchaseOrder, Purpose, Role,
};
use crate::canonical::{Business, Date, Decimal, Written};
use crate::formats::csv::{CsvError, Rows};
use crate::util::FastMap;
use std::collections::HashSet;

/// Where each canonical field is among the columns of every row (names from the column
/// map, looked up by the twin's own field names).
struct Columns(FastMap<String, usize>);

impl Columns {
    fn of(rows: &Rows) -> Columns {
        Columns(
            rows.fields
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
        )
    }
}

/// The values of one row by canonical field name; a field the map has no column for reads as
/// blank, as it does in the jq (`$row.field` is null).
struct Fields<'r> {
    rows: &'r Rows,
    columns: &'r Columns,
}

impl<'r> Fields<'r> {
    fn get(&self, row: usize, name: &str) -> Option<&'r str> {
        self.rows.value(row, *self.columns.0.get(name)?)
    }

    /// The rows grouped by `key`'s value, first-named first; `None` when a row has none (the
    /// jq fails then).
    fn groups(&self, key: &str) -> Option<Vec<Vec<usize>>> {
        // Keyed by the partner's document numbers: the standard, collision-resistant hasher.
        let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for row in 0..self.rows.len() {
            let k = self.get(row, key)?;
            match at.get(k) {
                Some(&g) => groups[g].push(row),
                None => {
                    at.insert(k, groups.len());
                    groups.push(vec![row]);
                }
            }
        }
        Some(groups)
    }
}

/// How a file read row by row ([`Document::streamed`]) was mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streamed {
    /// Every document, handed over in the order the file names them. Their numbers are
    /// `field`'s values; the rows of those hashed in `recheck` may be apart (a Bloom filter's
    /// "maybe"), which [`crate::formats::csv::apart`] tells on a second read.
    Mapped {
        field: &'static str,
        recheck: HashSet<u64>,
    },
    /// A row the twin does not map as the jq would: the whole file goes to the interpreter.
    Declined,
    /// So many numbers may be apart that telling which would cost memory: the file's rows
    /// must be grouped as a whole.
    Unchecked,
}

/// Numbers kept for a second read at most: past them, [`Streamed::Unchecked`].
const RECHECK_MAX: usize = 1 << 20;

/// What a CSV mapping makes of the rows of one document number.
pub(super) struct Document {
    /// The field whose value names the document.
    key: &'static str,
    /// The record of one document's rows (the first gives the header fields).
    build: fn(&Fields<'_>, &[usize], &Walks<'_>) -> Option<Business>,
}

/// `inbound/csv/purchase_order.jq`: one purchase order per `po_number`.
pub(super) const PURCHASE_ORDERS: Document = Document {
    key: "po_number",
    build: purchase_order,
};

/// `inbound/csv/invoice.jq`: one invoice per `invoice_number`.
pub(super) const INVOICES: Document = Document {
    key: "invoice_number",
    build: invoice,
};

impl Document {
    /// One record per value of the key, each handed to `emit` as it is made; `None` as soon
    /// as one declines (what was emitted is then the caller's to drop), or when there is none
    /// (the interpreter refuses a mapping that gives no record).
    pub(super) fn whole(
        &self,
        rows: &Rows,
        walks: &Walks<'_>,
        emit: &mut dyn FnMut(Written),
    ) -> Option<()> {
        let columns = Columns::of(rows);
        let f = Fields {
            rows,
            columns: &columns,
        };
        let groups = f.groups(self.key)?;
        for lines in &groups {
            emit(Written::from(&(self.build)(&f, lines, walks)?));
        }
        (!groups.is_empty()).then_some(())
    }

    /// As [`Document::whole`], with rows appended to `group` one at a time by `read` (`false`
    /// at the end), each document mapped once the next one starts: what is held is one
    /// document's rows and a Bloom filter of `bloom_bits` over the numbers passed. Records
    /// come in the order the file names them, which is the jq's only when no number's rows
    /// are apart: the caller checks those the filter is unsure of ([`Streamed::Mapped`]).
    pub(super) fn streamed(
        &self,
        read: &mut dyn FnMut(&mut Rows) -> Result<bool, CsvError>,
        mut group: Rows,
        bloom_bits: u64,
        walks: &Walks<'_>,
        emit: &mut dyn FnMut(Written),
    ) -> Result<Streamed, CsvError> {
        let columns = Columns::of(&group);
        let Some(&key) = columns.0.get(self.key) else {
            return Ok(Streamed::Declined);
        };
        let mut passed = crate::util::Bloom::with_bits(bloom_bits);
        let mut recheck = HashSet::new();
        let mut lines = Vec::new();
        loop {
            let more = read(&mut group)?;
            let n = group.len();
            let next = match more {
                false => None,
                true => match group.value(n - 1, key) {
                    None => return Ok(Streamed::Declined),
                    Some(k) if n == 1 => {
                        passed.add(crate::formats::csv::key_hash(k));
                        continue;
                    }
                    Some(k) if group.value(0, key) == Some(k) => continue,
                    Some(k) => Some(k),
                },
            };
            // The rows before the last (all of them at the end) are one document's.
            let ended = if more { n - 1 } else { n };
            if ended == 0 {
                return Ok(Streamed::Declined);
            }
            lines.clear();
            lines.extend(0..ended);
            let f = Fields {
                rows: &group,
                columns: &columns,
            };
            match (self.build)(&f, &lines, walks) {
                Some(record) => emit(Written::from(&record)),
                None => return Ok(Streamed::Declined),
            }
            let Some(k) = next else {
                return Ok(Streamed::Mapped {
                    field: self.key,
                    recheck,
                });
            };
            let hash = crate::formats::csv::key_hash(k);
            if passed.add(hash) {
                recheck.insert(hash);
                if recheck.len() > RECHECK_MAX {
                    return Ok(Streamed::Unchecked);
                }
            }
            group.keep_last();
        }
    }
}

/// A value as the typed record's deserialisation takes it, `None` when it would refuse it.
fn decimal(v: Option<&str>) -> Option<Option<Decimal>> {
    match v {
        None => Some(None),
        Some(s) => Decimal::parse(s).filter(|d| d.as_str() == s).map(Some),
    }
}

fn date(v: Option<&str>) -> Option<Option<Date>> {
    v.map_or(Some(None), |s| Date::parse(s).map(Some))
}

fn text(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

/// `xwalk` of an optional value: `Some(None)` for a blank one.
fn walked(table: &Option<super::Table<'_>>, v: Option<&str>) -> Option<Option<String>> {
    v.map_or(Some(None), |v| walk(table, v).map(|w| Some(w.to_string())))
}

fn item(f: &Fields<'_>, r: usize, walks: &Walks<'_>) -> Option<Item> {
    Some(Item {
        buyer_part: walked(&walks.item, f.get(r, "buyer_part"))?,
        supplier_part: text(f.get(r, "supplier_part")),
        gtin: text(f.get(r, "gtin")),
        description: text(f.get(r, "description")),
    })
}

fn line_number(f: &Fields<'_>, r: usize, k: usize) -> String {
    f.get(r, "line_number")
        .map_or_else(|| (k + 1).to_string(), str::to_string)
}

/// A party of the order's first row when it has an id or a name (`buyer`, `ship_to`).
fn party(f: &Fields<'_>, h: usize, role: Role, prefix: &str) -> Option<Party> {
    // The column's name put together in one buffer, not a new string per field.
    let mut column = String::with_capacity(prefix.len() + 16);
    let mut get = |s: &str| {
        column.clear();
        column.push_str(prefix);
        column.push('_');
        column.push_str(s);
        text(f.get(h, &column))
    };
    let (id, name) = (get("id"), get("name"));
    if id.is_none() && name.is_none() {
        return None;
    }
    Some(Party {
        role,
        id,
        id_qualifier: None,
        name,
        address: Address {
            lines: get("street").into_iter().collect(),
            city: get("city"),
            region: get("region"),
            postal_code: get("postal_code"),
            country: get("country"),
        },
    })
}

/// The purchase order of one `po_number`'s rows.
fn purchase_order(f: &Fields<'_>, lines: &[usize], walks: &Walks<'_>) -> Option<Business> {
    let h = lines[0];
    let mut parties = Vec::new();
    parties.extend(party(f, h, Role::Buyer, "buyer"));
    parties.extend(party(f, h, Role::ShipTo, "ship_to"));
    let mut po_lines = Vec::with_capacity(lines.len());
    for (k, &r) in lines.iter().enumerate() {
        let item = item(f, r, walks)?;
        if item.buyer_part.is_none() && item.supplier_part.is_none() && item.gtin.is_none() {
            return None;
        }
        po_lines.push(PoLine {
            line_number: line_number(f, r, k),
            item,
            quantity: decimal(f.get(r, "quantity"))??,
            uom: walk(&walks.uom, f.get(r, "uom")?)?.to_string(),
            unit_price: decimal(f.get(r, "unit_price"))?,
            requested_delivery_date: date(f.get(r, "line_delivery_date"))?,
        });
    }
    Some(Business::PurchaseOrder(PurchaseOrder {
        po_number: f.get(h, "po_number")?.to_string(),
        purpose: Purpose::Original,
        order_date: date(f.get(h, "order_date"))??,
        parties,
        lines: po_lines,
        po_type: text(f.get(h, "po_type")),
        currency: text(f.get(h, "currency")),
        payment_terms: None,
        requested_delivery_date: date(f.get(h, "requested_delivery_date"))?,
        notes: Vec::new(),
        total_amount: None,
        requisition_id: None,
    }))
}

/// The invoice of one `invoice_number`'s rows.
fn invoice(f: &Fields<'_>, lines: &[usize], walks: &Walks<'_>) -> Option<Business> {
    let h = lines[0];
    let mut invoice_lines = Vec::with_capacity(lines.len());
    for (k, &r) in lines.iter().enumerate() {
        invoice_lines.push(InvoiceLine {
            line_number: Some(line_number(f, r, k)),
            po_line_number: None,
            item: Some(item(f, r, walks)?),
            quantity: decimal(f.get(r, "quantity"))?,
            uom: walked(&walks.uom, f.get(r, "uom"))?,
            unit_price: decimal(f.get(r, "unit_price"))?,
            amount: decimal(f.get(r, "amount"))?,
        });
    }
    Some(Business::Invoice(Invoice {
        invoice_number: f.get(h, "invoice_number")?.to_string(),
        invoice_date: date(f.get(h, "invoice_date"))??,
        currency: f.get(h, "currency")?.to_string(),
        total_amount: decimal(f.get(h, "total_amount"))??,
        lines: invoice_lines,
        po_number: text(f.get(h, "po_number")),
        parties: Vec::new(),
        payment_terms: None,
        due_date: date(f.get(h, "due_date"))?,
        tax_total: decimal(f.get(h, "tax_total"))?,
        allowances_charges: Vec::new(),
    }))
}
