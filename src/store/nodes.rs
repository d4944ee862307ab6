//! The store's part of several nodes on one PostgreSQL database: heartbeats, the one lease
//! that makes a node active, and the fence that refuses a presumed-dead node's late writes.

use super::db::{params, Engine};
use super::{Result, Store, StoreError};

/// A node as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRow {
    pub node: String,
    pub host: String,
    pub pid: i64,
    pub started_at: String,
    /// Its last heartbeat (RFC 3339, the database's clock).
    pub seen_at: String,
    /// Seconds since its last heartbeat.
    pub silent_seconds: i64,
    /// Whether it holds the lease.
    pub active: bool,
    /// The lease's fence number and end, for the active node.
    pub fence: Option<i64>,
    pub lease_until: Option<String>,
    /// Deliveries it holds a live claim on (it is sending them now).
    pub claims: i64,
    /// Files it holds a live claim on (it is translating, writing or placing them now).
    pub files: i64,
    /// Where its admin listener (API and console) answers.
    pub admin: Option<String>,
}

const TIME: &str = "to_char(? AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn time(column: &str) -> String {
    TIME.replace('?', column)
}

impl Store {
    fn postgres_only(&self, what: &str) -> Result<()> {
        match self.conn.engine() {
            Engine::Postgres => Ok(()),
            Engine::Sqlite => Err(StoreError::Unconfigured(format!(
                "{what} needs backend = \"postgres\""
            ))),
        }
    }

    /// Records that `node` is alive now, and where its admin listener answers (if it has one).
    pub fn heartbeat(&self, node: &str, host: &str, pid: u32, admin: Option<&str>) -> Result<()> {
        self.postgres_only("a node's heartbeat")?;
        self.conn.execute_plain(
            "INSERT INTO nodes (node, host, pid, started_at, seen_at, admin)
             VALUES (?1, ?2, ?3, now(), now(), ?4)
             ON CONFLICT (node) DO UPDATE SET seen_at = now(), admin = excluded.admin",
            params![node, host, pid, admin],
        )?;
        Ok(())
    }

    /// Takes the lease for `node` when nobody holds a live one, or when its holder is `dead`
    /// (a process known to be gone); returns its fence number.
    pub fn take_lease(&self, node: &str, seconds: u64, dead: Option<&str>) -> Result<Option<i64>> {
        self.postgres_only("the active node's lease")?;
        self.conn.query_opt(
            "INSERT INTO leader (id, node, fence, since, expires_at)
             VALUES (1, ?1, 1, now(), now() + make_interval(secs => ?2))
             ON CONFLICT (id) DO UPDATE SET node = excluded.node, fence = leader.fence + 1,
                 since = excluded.since, expires_at = excluded.expires_at
             WHERE leader.expires_at < now() OR leader.node = ?3
             RETURNING fence",
            params![node, seconds as i64, dead],
            |r| r.get(0),
        )
    }

    /// Extends the lease `node` holds under `fence`; false when it is no longer held.
    pub fn renew_lease(&self, node: &str, fence: i64, seconds: u64) -> Result<bool> {
        self.postgres_only("the active node's lease")?;
        let n = self.conn.execute_plain(
            "UPDATE leader SET expires_at = now() + make_interval(secs => ?3)
             WHERE node = ?1 AND fence = ?2 AND expires_at >= now()",
            params![node, fence, seconds as i64],
        )?;
        Ok(n == 1)
    }

    /// Gives the lease up at once (a clean stop), so that another node need not wait for it.
    pub fn release_lease(&self, node: &str, fence: i64) -> Result<()> {
        self.postgres_only("the active node's lease")?;
        self.conn.execute_plain(
            "UPDATE leader SET expires_at = now() - interval '1 second' WHERE node = ?1 AND fence = ?2",
            params![node, fence],
        )?;
        self.conn
            .execute_plain("DELETE FROM nodes WHERE node = ?1", params![node])?;
        Ok(())
    }

    /// Forgets the nodes without a heartbeat for `seconds` (stopped without a goodbye: killed,
    /// or their host gone); returns how many.
    pub fn forget_silent_nodes(&self, seconds: u64) -> Result<usize> {
        self.postgres_only("the nodes' heartbeats")?;
        self.conn.execute_plain(
            "DELETE FROM nodes WHERE seen_at < now() - make_interval(secs => ?1)
               AND node NOT IN (SELECT node FROM leader)",
            params![seconds as i64],
        )
    }

    /// The node holding a live lease, if any.
    pub fn active_node(&self) -> Result<Option<String>> {
        self.postgres_only("the active node's lease")?;
        self.conn.query_opt(
            "SELECT node FROM leader WHERE expires_at >= now()",
            params![],
            |r| r.get(0),
        )
    }

    /// Every node seen, the active one first. Empty on SQLite (one process, no nodes).
    pub fn nodes(&self) -> Result<Vec<NodeRow>> {
        if self.conn.engine() == Engine::Sqlite {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT n.node, n.host, n.pid, {}, {}, CAST(EXTRACT(EPOCH FROM now() - n.seen_at) AS BIGINT),
                    l.node IS NOT NULL, l.fence, {},
                    (SELECT COUNT(*) FROM deliveries d
                     WHERE d.claimed_by = n.node AND d.state = 'pending' AND d.claim_until > ?1),
                    (SELECT COUNT(*) FROM files f
                     WHERE f.claimed_by = n.node AND f.claim_until > ?1
                       AND f.state IN ('received', 'parsed', 'translated', 'delivered')),
                    n.admin
             FROM nodes n LEFT JOIN leader l ON l.node = n.node AND l.expires_at >= now()
             ORDER BY l.node IS NULL, n.started_at",
            time("n.started_at"),
            time("n.seen_at"),
            time("l.expires_at")
        );
        self.conn
            .query_map(&sql, params![self.stamp().millis()], |r| {
                Ok(NodeRow {
                    node: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    started_at: r.get(3)?,
                    seen_at: r.get(4)?,
                    silent_seconds: r.get(5)?,
                    active: r.get(6)?,
                    fence: r.get(7)?,
                    lease_until: r.get(8)?,
                    claims: r.get(9)?,
                    files: r.get(10)?,
                    admin: r.get(11)?,
                })
            })
    }
}
