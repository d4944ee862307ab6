//! The store's part of splitting files between nodes: a node claims the unfinished files it
//! advances, for a while it renews, and its commits are refused once another node took one.

use super::db::{id_list, params, Engine};
use super::{count, exec, Result, Store};
use crate::util::Utc;
use std::time::SystemTime;

/// The states a claimed file can advance from.
const UNFINISHED: &str = "'received', 'parsed', 'translated', 'delivered'";

impl Store {
    /// Claims for `node`, until `until`, those of `ids` that are still unfinished and that no
    /// other node holds a live claim on; returns them in the order of `ids`. On PostgreSQL the
    /// rows are taken `FOR UPDATE SKIP LOCKED`.
    pub fn claim_files(
        &mut self,
        ids: &[i64],
        node: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let skip_locked = match self.conn.engine() {
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let mut taken = std::collections::HashSet::new();
        let tx = self.conn.savepoint()?;
        for chunk in ids.chunks(500) {
            let list = id_list(chunk);
            let sql = format!(
                "UPDATE files SET claimed_by = ?1, claim_until = ?2
                 WHERE id IN (SELECT id FROM files
                     WHERE id IN ({list}) AND state IN ({UNFINISHED})
                       AND (claim_until IS NULL OR claim_until <= ?3 OR claimed_by = ?1)
                     ORDER BY id{skip_locked})
                 RETURNING id"
            );
            taken.extend(tx.query_map(
                &sql,
                params![node, Utc::rfc3339_ms(until), Utc::rfc3339_ms(now)],
                |r| r.get::<i64>(0),
            )?);
        }
        tx.commit()?;
        Ok(ids
            .iter()
            .copied()
            .filter(|id| taken.contains(id))
            .collect())
    }

    /// Extends, to `until`, the claims `node` holds on files; returns how many it holds. It
    /// takes the writers' lock like any write: outside it, this update and the node's own
    /// transaction (which changes the same rows) could each wait for the other (PostgreSQL
    /// found that deadlock in a two-node run).
    pub fn renew_file_claims(&mut self, node: &str, until: SystemTime) -> Result<usize> {
        let tx = self.conn.savepoint()?;
        let n = count(
            &tx,
            "UPDATE files SET claim_until = ?2 WHERE claimed_by = ?1 AND claim_until IS NOT NULL",
            params![node, Utc::rfc3339_ms(until)],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Gives up every claim `node` holds on files (the name of the last node to claim a
    /// file stays, for the operator).
    pub fn drop_file_claims(&mut self, node: &str) -> Result<()> {
        let tx = self.conn.savepoint()?;
        exec(
            &tx,
            "UPDATE files SET claim_until = NULL WHERE claimed_by = ?1 AND claim_until IS NOT NULL",
            params![node],
        )?;
        tx.commit()
    }

    /// Frees at once the file claims of nodes known to be gone (processes of this host that no
    /// longer run), so that their files need not wait out the claim.
    pub fn free_file_claims_of(&mut self, gone: &dyn Fn(&str) -> bool) -> Result<usize> {
        self.free_claims_in("files", "TRUE", gone)
    }

    /// Frees the live claims on the rows of `table` that meet `condition` held by nodes that
    /// are `gone`.
    pub(super) fn free_claims_in(
        &mut self,
        table: &str,
        condition: &str,
        gone: &dyn Fn(&str) -> bool,
    ) -> Result<usize> {
        let holders: Vec<String> = self.all(
            &format!(
                "SELECT DISTINCT claimed_by FROM {table} WHERE {condition} AND claim_until IS NOT NULL"
            ),
            params![],
            |r| r.get(0),
        )?;
        let gone: Vec<&String> = holders.iter().filter(|h| gone(h)).collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.savepoint()?;
        let mut freed = 0;
        for holder in gone {
            freed += count(
                &tx,
                &format!(
                    "UPDATE {table} SET claim_until = NULL
                     WHERE claimed_by = ?1 AND {condition} AND claim_until IS NOT NULL"
                ),
                params![holder],
            )?;
        }
        tx.commit()?;
        Ok(freed)
    }

    /// Until called with `None`, every commit of this store checks first that `node` still
    /// claims each of `ids`, and is refused with [`super::StoreError::ClaimLost`] otherwise
    /// (on PostgreSQL: on SQLite one process holds the data folder, so no other can claim).
    pub fn guard_claims(&self, claims: Option<(&str, &[i64])>) {
        self.conn.guard_claims(claims);
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewFile;
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_file_is_claimed_by_one_node_at_a_time_until_its_claim_runs_out_or_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let keys: Vec<String> = (0..4).map(|n| format!("k{n}")).collect();
        let new: Vec<NewFile<'_>> = keys
            .iter()
            .map(|k| NewFile {
                channel: "inbox",
                partner: None,
                name: "a.edi",
                source_key: k,
                sha256: k,
                size: 3,
                blob: "spool/x",
            })
            .collect();
        let ids: Vec<i64> = s
            .insert_files(&new)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let start = SystemTime::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        // a takes the first two; b asks for all four and gets the other two; c gets none.
        assert_eq!(
            s.claim_files(&ids[..2], "a", at(0), at(30)).unwrap(),
            &ids[..2]
        );
        assert_eq!(s.claim_files(&ids, "b", at(0), at(30)).unwrap(), &ids[2..]);
        assert!(s.claim_files(&ids, "c", at(29), at(59)).unwrap().is_empty());
        // A node may claim again what it holds.
        assert_eq!(s.claim_files(&ids, "a", at(1), at(31)).unwrap(), &ids[..2]);
        // a renews; b's claims run out: c takes b's files, not a's.
        s.renew_file_claims("a", at(90)).unwrap();
        assert_eq!(
            s.claim_files(&ids, "c", at(60), at(120)).unwrap(),
            &ids[2..]
        );
        // a gives its claims up: d takes them at once. c is gone: e takes its files at once.
        s.drop_file_claims("a").unwrap();
        assert_eq!(
            s.claim_files(&ids, "d", at(61), at(121)).unwrap(),
            &ids[..2]
        );
        assert_eq!(s.free_file_claims_of(&|n| n == "c").unwrap(), 2);
        assert_eq!(
            s.claim_files(&ids, "e", at(62), at(122)).unwrap(),
            &ids[2..]
        );
        // A finished file is claimed by nobody.
        s.conn
            .execute(
                "UPDATE files SET state = 'archived' WHERE id = ?1",
                params![ids[0]],
            )
            .unwrap();
        s.drop_file_claims("d").unwrap();
        assert_eq!(
            s.claim_files(&ids, "f", at(63), at(123)).unwrap(),
            &ids[1..2]
        );
    }
}
