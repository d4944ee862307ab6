//! `edigate migrate-store`: every row of one store copied into another, empty one (SQLite
//! into PostgreSQL), in one transaction, with the id counters carried on.

use super::db::{params, Engine, FromValue, ToValue, Value};
use super::{Result, Store, StoreError};

/// The tables in an order that satisfies their references.
const TABLES: &[&str] = &[
    "files",
    "outputs",
    "records",
    "record_keys",
    "interchanges",
    "counters",
    "events",
    "channel_health",
    "uploads",
    "deliveries",
    "breakers",
    "exceptions",
    "anomalies",
    "record_routes",
    "route_modes",
    "route_changes",
    "reconcile_runs",
    "advices",
    "orchestrations",
    "steps",
    "sent_interchanges",
    "alerts",
];

/// Rows read and written per round, so that memory does not grow with the store.
const PAGE: i64 = 500;

/// A value read from one store to be written into the other.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl FromValue for Owned {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        Ok(match v {
            Value::Null => Owned::Null,
            Value::Int(i) => Owned::Int(i),
            Value::Real(f) => Owned::Real(f),
            Value::Text(s) => Owned::Text(s.to_string()),
            Value::Blob(b) => Owned::Blob(b.to_vec()),
        })
    }
}

impl ToValue for Owned {
    fn to_value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(i) => Value::Int(*i),
            Owned::Real(f) => Value::Real(*f),
            Owned::Text(s) => Value::Text(s),
            Owned::Blob(b) => Value::Blob(b),
        }
    }
}

/// How many rows of each table were copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

impl Store {
    /// Copies every row of `self` into `to`, which must hold no file yet. Both stores are at
    /// the current schema (opening them migrated them).
    pub fn copy_into(&self, to: &mut Store) -> Result<Copied> {
        let held: i64 = to
            .conn
            .query_row("SELECT COUNT(*) FROM files", params![], |r| r.get(0))?;
        if held > 0 {
            return Err(StoreError::Unconfigured(format!(
                "the destination already holds {held} file(s): migrate-store fills an empty store only"
            )));
        }
        let engine = to.conn.engine();
        let from = &self.conn;
        let tx = to.conn.transaction_immediate()?;
        let mut copied = Copied::default();
        for &table in TABLES {
            let columns = columns(from, table)?;
            let list = columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let marks = (1..=columns.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let insert = format!("INSERT INTO {table} ({list}) VALUES ({marks})");
            // SQLite's rowid orders every table by insertion, and pages through it.
            let select = format!(
                "SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
            );
            let (mut after, mut n) = (0i64, 0u64);
            loop {
                let rows: Vec<(i64, Vec<Owned>)> =
                    from.query_map(&select, params![after, PAGE], |r| {
                        let values = (1..=columns.len())
                            .map(|i| r.get::<Owned>(i))
                            .collect::<Result<Vec<_>>>()?;
                        Ok((r.get(0)?, values))
                    })?;
                let Some(last) = rows.last() else { break };
                after = last.0;
                for (_, values) in &rows {
                    let bound: Vec<Value<'_>> = values.iter().map(|v| v.to_value()).collect();
                    tx.execute(&insert, &bound)?;
                    n += 1;
                }
            }
            if engine == Engine::Postgres && columns.iter().any(|c| c == "id") && table != "records"
            {
                // The next id continues after the last one copied.
                tx.execute_batch(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ))?;
            }
            copied.tables.push((table.to_string(), n));
        }
        tx.commit()?;
        Ok(copied)
    }
}

/// The columns of `table` in the source (SQLite), in their order.
fn columns(from: &super::db::Db, table: &str) -> Result<Vec<String>> {
    match from.engine() {
        Engine::Sqlite => from.query_map(
            &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            params![],
            |r| r.get(0),
        ),
        Engine::Postgres => Err(StoreError::Unconfigured(
            "migrate-store copies from a SQLite store".into(),
        )),
    }
}
