//! The store's part of document tracking: the records that share business keys, with the
//! file each came from and each delivery's state.

use super::db::params;
use super::{Result, Store};

/// A record found by one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRecord {
    pub record_id: String,
    pub schema: String,
    pub partner: String,
    pub file_id: i64,
    pub received_at: String,
    pub keys: Vec<(String, String)>,
}

/// One delivery of a tracked record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrackedDelivery {
    pub target: String,
    pub state: String,
    pub system_id: Option<String>,
    pub error: Option<String>,
    pub shadow: bool,
}

impl Store {
    /// Records having `key = value` (any key when `key` is `None`), at most `limit`.
    pub fn records_by_key(
        &self,
        key: Option<&str>,
        value: &str,
        limit: usize,
    ) -> Result<Vec<KeyedRecord>> {
        let found: Vec<(String, String, String, i64, String)> = self.all(
            "SELECT DISTINCT r.id, r.schema, r.partner, r.file_id, f.received_at
             FROM record_keys k JOIN records r ON r.id = k.record_id JOIN files f ON f.id = r.file_id
             WHERE k.value = ?1 AND (?2 IS NULL OR k.key = ?2) ORDER BY f.received_at, r.id LIMIT ?3",
            params![value, key, limit as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        found
            .into_iter()
            .map(|(record_id, schema, partner, file_id, received_at)| {
                let keys = self.all(
                    "SELECT key, value FROM record_keys WHERE record_id = ?1 ORDER BY rowid",
                    params![&record_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok(KeyedRecord {
                    record_id,
                    schema,
                    partner,
                    file_id,
                    received_at,
                    keys,
                })
            })
            .collect()
    }

    /// Every delivery of a record, in the order they were queued.
    pub fn deliveries_of(&self, record_id: &str) -> Result<Vec<TrackedDelivery>> {
        self.all(
            "SELECT target, state, system_id, last_error, shadow FROM deliveries WHERE record_id = ?1 ORDER BY id",
            params![record_id],
            |r| {
                Ok(TrackedDelivery {
                    target: r.get(0)?,
                    state: r.get(1)?,
                    system_id: r.get(2)?,
                    error: r.get(3)?,
                    shadow: r.get(4)?,
                })
            },
        )
    }
}
