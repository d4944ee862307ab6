//! The store's one connection, SQLite or PostgreSQL, behind the few calls its SQL needs.
//!
//! The store writes one SQL for both engines: `?N` placeholders, `ON CONFLICT` upserts,
//! `RETURNING id`. SQLite binds the values through its statement cache; PostgreSQL receives
//! them as literals (quoted by [`literal`]), so that an untyped `?1 IS NULL` means the same in
//! both. Every transaction on PostgreSQL first takes one advisory lock, which gives the store
//! SQLite's guarantee: one writing transaction at a time, across every node. Inside a
//! PostgreSQL transaction, what needs no answer (savepoints, their release, [`Db::write`]) waits
//! and goes with the next round trip: a file's steps cost one round trip per answer read.

use super::{Result, StoreError};
use std::cell::{Cell, RefCell};

/// One value bound to a statement, or read from a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be bound to a statement.
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_value!(i64, i32, u8, u16, u32, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// The values of a statement: `params![a, b]`.
macro_rules! params {
    () => {
        &[] as &[$crate::store::db::Value<'_>]
    };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),+][..]
    };
}
pub(crate) use params;

/// What can be read from a row's column.
pub trait FromValue: Sized {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String>;
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| format!("{i} does not fit {}", stringify!($t))),
                    other => Err(format!("expected an integer, found {other:?}")),
                }
            }
        }
    )*};
}
int_from!(i64, i32, u16, u32, u64, usize);

impl FromValue for bool {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.to_string()),
            Value::Blob(b) => String::from_utf8(b.to_vec()).map_err(|e| e.to_string()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.to_vec()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value<'_>) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result.
pub struct Row<'r>(RowOf<'r>);

enum RowOf<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let wrong = |e: String| StoreError::Database(format!("column {i}: {e}"));
        match &self.0 {
            RowOf::Lite(r) => {
                use rusqlite::types::ValueRef;
                let v = match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => {
                        Value::Text(std::str::from_utf8(t).map_err(|e| wrong(e.to_string()))?)
                    }
                    ValueRef::Blob(b) => Value::Blob(b),
                };
                T::from_value(v).map_err(wrong)
            }
            RowOf::Pg(r) => T::from_value(pg_value(r, i)?).map_err(wrong),
        }
    }
}

/// Column `i` of a PostgreSQL row, by its type.
fn pg_value(r: &tokio_postgres::Row, i: usize) -> Result<Value<'_>> {
    use tokio_postgres::types::Type;
    let col = r
        .columns()
        .get(i)
        .ok_or_else(|| StoreError::Database(format!("no column {i}")))?;
    let ty = col.type_().clone();
    let v = if ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
    } else if ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)?
            .map(|n| Value::Int(n.into()))
    } else if ty == Type::INT2 {
        r.try_get::<_, Option<i16>>(i)?
            .map(|n| Value::Int(n.into()))
    } else if ty == Type::BOOL {
        r.try_get::<_, Option<bool>>(i)?
            .map(|b| Value::Int(b.into()))
    } else if ty == Type::FLOAT8 {
        r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
    } else if ty == Type::FLOAT4 {
        r.try_get::<_, Option<f32>>(i)?
            .map(|f| Value::Real(f.into()))
    } else if ty == Type::BYTEA {
        r.try_get::<_, Option<&[u8]>>(i)?.map(Value::Blob)
    } else if [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(&ty)
    {
        r.try_get::<_, Option<&str>>(i)?.map(Value::Text)
    } else {
        return Err(StoreError::Database(format!(
            "column {} has type {ty}, which the store does not read (cast it in the query)",
            col.name()
        )));
    };
    Ok(v.unwrap_or(Value::Null))
}

/// Runs a call of the PostgreSQL client, which blocks on a runtime of its own: on a worker
/// of the service's runtime, the worker is first handed over to blocking work.
pub(crate) fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Which engine a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The lease this process writes under once it is the active node: (node, fence). Set once;
/// a process that loses its lease exits.
static FENCE: std::sync::OnceLock<(String, i64)> = std::sync::OnceLock::new();

/// From now on every PostgreSQL write of this process checks that `node` still holds the
/// lease under `fence`, and is refused (`StoreError::Fenced`) when another node took it.
pub fn write_under(node: &str, fence: i64) {
    let _ = FENCE.set((node.to_string(), fence));
}

/// The message of the error a PostgreSQL commit is refused with when this process's lease was
/// taken.
const FENCED: &str = "edigate: the lease was taken by another node";

/// The message of the error a PostgreSQL commit is refused with when a file it advances is no
/// longer claimed by this node.
const CLAIM_LOST: &str = "edigate: another node took the claim on a file";

/// Row ids as the inside of an SQL `IN (...)` list.
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The check, sent before a `COMMIT`, that `node` still holds its claim on every file of `ids`.
fn claims_check(node: &str, ids: &[i64]) -> Result<String> {
    if ids.is_empty() {
        return Ok(String::new());
    }
    let node = with_literals("?1", &[Value::Text(node)])?;
    let list = id_list(ids);
    Ok(format!(
        "DO $claims$ DECLARE held bigint; BEGIN
           SELECT count(*) INTO held FROM files
             WHERE id IN ({list}) AND claimed_by = {node} AND claim_until IS NOT NULL;
           IF held <> {n} THEN RAISE EXCEPTION '{CLAIM_LOST}'; END IF;
         END $claims$;",
        n = ids.len()
    ))
}

/// The key of the advisory lock every PostgreSQL transaction of the store holds.
pub const WRITER_LOCK: i64 = 0x6564_6967_6174_6501;

/// A connection with the store's transactions: the outermost is a transaction, the inner
/// ones savepoints.
pub struct Db {
    conn: Conn,
    depth: Cell<u32>,
    /// The files this connection's commits advance, under this node's claim: (node, ids).
    claims: RefCell<Option<(String, Vec<i64>)>>,
}

enum Conn {
    Lite(rusqlite::Connection),
    /// Taken out only when the connection is dropped.
    Pg(RefCell<Option<Pg>>),
}

/// A PostgreSQL connection: the asynchronous client on a runtime of its own, which runs on
/// the calling thread while it waits for an answer.
pub struct Pg {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<()>,
    /// Statements inside the open transaction that need no answer, each ending with `;`: sent
    /// ahead of the next statement, in the same round trip.
    pending: String,
    /// The savepoints whose `SAVEPOINT` is still in `pending`: (level, where it starts).
    marks: Vec<(u32, usize)>,
    /// The open transaction's `BEGIN` is still in `pending`: the server knows of no
    /// transaction yet.
    unsent_begin: bool,
}

impl Pg {
    /// Connects as `config` says, without TLS (the server is on loopback or a private
    /// network).
    pub fn connect(config: &tokio_postgres::Config) -> Result<Pg> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("a runtime for PostgreSQL: {e}")))?;
        let (client, connection) =
            off_runtime(|| rt.block_on(config.connect(tokio_postgres::NoTls)))?;
        let connection = rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "the PostgreSQL connection ended");
            }
        });
        Ok(Pg {
            rt,
            client,
            connection,
            pending: String::new(),
            marks: Vec::new(),
            unsent_begin: false,
        })
    }

    /// Waits for `f` on this connection's runtime, off the service's.
    fn wait<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        off_runtime(|| self.rt.block_on(f))
    }

    /// What waits, taken to be sent now.
    fn take_pending(&mut self) -> String {
        self.marks.clear();
        self.unsent_begin = false;
        std::mem::take(&mut self.pending)
    }

    /// Runs `sql` (one statement or several, without values) after what waits, in one round
    /// trip; returns the rows the last one changed.
    fn simple(&mut self, sql: &str) -> std::result::Result<usize, tokio_postgres::Error> {
        let mut all = self.take_pending();
        all.push_str(sql);
        let mut n = 0;
        for m in self.wait(self.client.simple_query(&all))? {
            if let tokio_postgres::SimpleQueryMessage::CommandComplete(rows) = m {
                n = rows as usize;
            }
        }
        Ok(n)
    }

    /// The rows of one query, sent in the same round trip as what waits (pipelined: what
    /// waits first, its error reported first).
    fn query(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let pending = self.take_pending();
        let client = &self.client;
        if pending.is_empty() {
            return self.wait(client.query_typed(sql, &[]));
        }
        self.wait(async {
            let (before, rows) = tokio::join!(
                biased;
                client.batch_execute(&pending),
                client.query_typed(sql, &[])
            );
            before?;
            rows
        })
    }

    /// Keeps `sql` (a statement that needs no answer, values as literals) for the next round
    /// trip.
    fn queue(&mut self, sql: &str) {
        self.pending.push_str(sql);
        self.pending.push_str(";\n");
    }
}

impl Pg {
    /// Closes the connection: the client's end lets the connection say goodbye to the server
    /// before the runtime goes (not waited for on a one-thread runtime's own thread, which
    /// cannot block).
    fn close(self) {
        let Pg {
            rt,
            client,
            connection,
            ..
        } = self;
        drop(client);
        let can_wait = tokio::runtime::Handle::try_current().map_or(true, |h| {
            h.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread
        });
        if can_wait {
            let _ = off_runtime(|| {
                rt.block_on(async {
                    tokio::time::timeout(std::time::Duration::from_secs(5), connection).await
                })
            });
        }
        rt.shutdown_background();
    }
}

impl Db {
    pub fn sqlite(conn: rusqlite::Connection) -> Db {
        Db {
            conn: Conn::Lite(conn),
            depth: Cell::new(0),
            claims: RefCell::new(None),
        }
    }

    pub fn postgres(pg: Pg) -> Db {
        Db {
            conn: Conn::Pg(RefCell::new(Some(pg))),
            depth: Cell::new(0),
            claims: RefCell::new(None),
        }
    }

    pub fn engine(&self) -> Engine {
        match self.conn {
            Conn::Lite(_) => Engine::Sqlite,
            Conn::Pg(_) => Engine::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (incremental blobs, pragmas).
    pub fn lite(&self) -> Option<&rusqlite::Connection> {
        match &self.conn {
            Conn::Lite(c) => Some(c),
            Conn::Pg(_) => None,
        }
    }

    /// Runs one statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value<'_>]) -> Result<usize> {
        match &self.conn {
            Conn::Lite(c) => Ok(c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params.iter()))?),
            Conn::Pg(c) => {
                let sql = with_literals(sql, params)?;
                if self.depth.get() == 0 && FENCE.get().is_some() {
                    // A write of its own, fenced like a transaction's.
                    self.begin(true)?;
                    let n = pg(c, |c| c.simple(&sql));
                    self.end(n.is_ok())?;
                    return n;
                }
                pg(c, |c| c.simple(&sql))
            }
        }
    }

    /// Runs one statement whose count nobody reads. Inside a PostgreSQL transaction it is
    /// sent with the next round trip, and a failure of it is reported by that one (a
    /// statement the caller expects may fail, to act on it, goes through [`Db::execute`]).
    pub fn write(&self, sql: &str, params: &[Value<'_>]) -> Result<()> {
        match &self.conn {
            Conn::Pg(c) if self.depth.get() > 0 => {
                let sql = with_literals(sql, params)?;
                pg(c, |c| {
                    c.queue(&sql);
                    Ok(())
                })
            }
            _ => self.execute(sql, params).map(drop),
        }
    }

    /// Runs one statement outside the writers' lock and fence (the lease's own rows, which a
    /// node renews while its work holds the lock).
    pub fn execute_plain(&self, sql: &str, params: &[Value<'_>]) -> Result<usize> {
        match &self.conn {
            Conn::Pg(c) if self.depth.get() == 0 => {
                let sql = with_literals(sql, params)?;
                pg(c, |c| c.simple(&sql))
            }
            _ => self.execute(sql, params),
        }
    }

    /// Runs statements without values (migrations, transaction control).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.conn {
            Conn::Lite(c) => c.execute_batch(sql)?,
            Conn::Pg(c) => pg(c, |c| c.simple(sql).map(drop))?,
        }
        Ok(())
    }

    /// Every row of a query, mapped.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match &self.conn {
            Conn::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(map(&Row(RowOf::Lite(r)))?);
                }
                Ok(out)
            }
            Conn::Pg(c) => {
                let sql = with_literals(sql, params)?;
                let rows = pg(c, |c| c.query(&sql))?;
                rows.iter().map(|r| map(&Row(RowOf::Pg(r)))).collect()
            }
        }
    }

    /// The first row of a query, mapped, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match &self.conn {
            Conn::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
                match rows.next()? {
                    Some(r) => Ok(Some(map(&Row(RowOf::Lite(r)))?)),
                    None => Ok(None),
                }
            }
            Conn::Pg(c) => {
                let sql = with_literals(sql, params)?;
                let rows = pg(c, |c| c.query(&sql))?;
                rows.first().map(|r| map(&Row(RowOf::Pg(r)))).transpose()
            }
        }
    }

    /// The one row a query must return, mapped.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[Value<'_>],
        map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, map)?
            .ok_or_else(|| StoreError::Database(format!("no row from: {sql}")))
    }

    /// Opens a transaction, or a savepoint inside the open one.
    pub fn savepoint(&mut self) -> Result<Tx<'_>> {
        Tx::open(self, false)
    }

    /// Opens a transaction that holds the write lock from its start (SQLite `IMMEDIATE`).
    pub fn transaction_immediate(&mut self) -> Result<Tx<'_>> {
        Tx::open(self, true)
    }

    /// Opens the outermost transaction by hand (a batch of changes), closed by [`Db::end`]. On
    /// PostgreSQL the `BEGIN` and the writers' lock go with the next round trip (the fence
    /// check, when this process writes under a lease).
    pub fn begin(&self, immediate: bool) -> Result<()> {
        match &self.conn {
            Conn::Lite(_) => {
                self.execute_batch(if immediate {
                    "BEGIN IMMEDIATE"
                } else {
                    "BEGIN"
                })?;
                self.depth.set(1);
                return Ok(());
            }
            Conn::Pg(c) => pg(c, |c| {
                // Nothing waits outside a transaction: the BEGIN starts what is sent.
                c.queue(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
                ));
                c.unsent_begin = true;
                Ok(())
            })?,
        }
        self.depth.set(1);
        let fenced = self.check_fence();
        if fenced.is_err() {
            self.abandon();
        }
        fenced
    }

    /// Inside a transaction holding the writers' lock: refuses it (the caller rolls it back)
    /// when this process writes under a lease that another node has taken since.
    fn check_fence(&self) -> Result<()> {
        if let (Engine::Postgres, Some((node, fence))) = (self.engine(), FENCE.get()) {
            let held: Option<i64> = self.query_opt(
                "SELECT fence FROM leader WHERE node = ?1",
                &[Value::Text(node)],
                |r| r.get(0),
            )?;
            if held != Some(*fence) {
                return Err(StoreError::Fenced { fence: *fence });
            }
        }
        Ok(())
    }

    /// Commits or rolls back what [`Db::begin`] opened. A commit checks the fence again: the
    /// lease may have been taken while the transaction ran, and a late completion by a node
    /// presumed dead must leave nothing. On PostgreSQL that check goes in the same request as
    /// the `COMMIT` and holds the lease's row (`FOR SHARE`) until the commit is done, so that no
    /// takeover becomes visible between the check and the commit.
    pub fn end(&self, commit: bool) -> Result<()> {
        if !commit {
            self.abandon();
            return Ok(());
        }
        let mut sql = String::new();
        if self.engine() == Engine::Postgres {
            if let Some((node, fence)) = FENCE.get() {
                let node = with_literals("?1", &[Value::Text(node)])?;
                sql.push_str(&format!(
                    "DO $fence$ BEGIN
                       PERFORM 1 FROM leader WHERE node = {node} AND fence = {fence} FOR SHARE;
                       IF NOT FOUND THEN RAISE EXCEPTION '{FENCED}'; END IF;
                     END $fence$;"
                ));
            }
            if let Some((node, ids)) = &*self.claims.borrow() {
                sql.push_str(&claims_check(node, ids)?);
            }
        }
        sql.push_str("COMMIT");
        self.depth.set(0);
        let done = self.execute_batch(&sql);
        if let Err(e) = done {
            // What waited, or a check, failed before the COMMIT ran: the transaction is still
            // open, in error.
            self.abandon();
            return Err(match (e, FENCE.get()) {
                (StoreError::Database(m), Some((_, fence))) if m == FENCED => {
                    StoreError::Fenced { fence: *fence }
                }
                (StoreError::Database(m), _) if m == CLAIM_LOST => StoreError::ClaimLost,
                (e, _) => e,
            });
        }
        Ok(())
    }

    /// From now on (until called with `None`), every commit of this connection on PostgreSQL
    /// first checks that `node` still holds its claim on each of these files, and is refused
    /// (`StoreError::ClaimLost`) when another node took one. Claims are taken under the
    /// writers' lock, which the committing transaction holds, so none can change between the
    /// check and the commit.
    pub fn guard_claims(&self, claims: Option<(&str, &[i64])>) {
        *self.claims.borrow_mut() = claims.map(|(node, ids)| (node.to_string(), ids.to_vec()));
    }

    /// Rolls back the open transaction; what waited is dropped unsent (and nothing is sent
    /// when the server never heard of the transaction).
    fn abandon(&self) {
        self.depth.set(0);
        if let Conn::Pg(c) = &self.conn {
            let _ = pg(c, |c| {
                let begun = !c.unsent_begin;
                c.take_pending();
                if begun {
                    c.simple("ROLLBACK")?;
                }
                Ok(())
            });
        } else {
            let _ = self.execute_batch("ROLLBACK");
        }
    }

    /// Opens savepoint `level` inside the open transaction (on PostgreSQL, with the next
    /// round trip).
    fn open_savepoint(&self, level: u32) -> Result<()> {
        let sql = format!("SAVEPOINT s{level}");
        match &self.conn {
            Conn::Pg(c) => pg(c, |c| {
                let at = c.pending.len();
                c.marks.push((level, at));
                c.queue(&sql);
                Ok(())
            }),
            Conn::Lite(_) => self.execute_batch(&sql),
        }
    }

    /// Releases savepoint `level` (keeping what it did).
    fn release_savepoint(&self, level: u32) -> Result<()> {
        let sql = format!("RELEASE s{level}");
        match &self.conn {
            Conn::Pg(c) => pg(c, |c| {
                c.marks.retain(|&(l, _)| l < level);
                c.queue(&sql);
                Ok(())
            }),
            Conn::Lite(_) => self.execute_batch(&sql),
        }
    }

    /// Undoes and closes savepoint `level`. On PostgreSQL, one never sent is dropped with
    /// everything queued after it; one sent is rolled back to, and what waits (all of it
    /// queued inside the savepoint) is dropped.
    fn rollback_savepoint(&self, level: u32) -> Result<()> {
        let sql = format!("ROLLBACK TO s{level}; RELEASE s{level}");
        match &self.conn {
            Conn::Pg(c) => pg(c, |c| {
                if let Some(i) = c.marks.iter().position(|&(l, _)| l == level) {
                    let at = c.marks[i].1;
                    c.marks.truncate(i);
                    c.pending.truncate(at);
                    return Ok(());
                }
                c.take_pending();
                c.simple(&sql).map(drop)
            }),
            Conn::Lite(_) => self.execute_batch(&sql),
        }
    }
}

/// One call on the PostgreSQL connection.
fn pg<T>(
    c: &RefCell<Option<Pg>>,
    f: impl FnOnce(&mut Pg) -> std::result::Result<T, tokio_postgres::Error>,
) -> Result<T> {
    let mut c = c.borrow_mut();
    let pg = c
        .as_mut()
        .ok_or_else(|| StoreError::Database("the connection is closed".into()))?;
    Ok(f(pg)?)
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Conn::Pg(c) = &self.conn {
            if let Some(pg) = c.borrow_mut().take() {
                pg.close();
            }
        }
    }
}

/// A transaction or savepoint: committed by [`Tx::commit`], rolled back when dropped.
pub struct Tx<'a> {
    db: &'a mut Db,
    /// 0 for the outermost transaction, else the savepoint's level.
    level: u32,
    done: bool,
}

impl Tx<'_> {
    fn open(db: &mut Db, immediate: bool) -> Result<Tx<'_>> {
        let level = db.depth.get();
        if level == 0 {
            db.begin(immediate)?;
        } else {
            db.open_savepoint(level)?;
            db.depth.set(level + 1);
        }
        Ok(Tx {
            db,
            level,
            done: false,
        })
    }

    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        if self.level == 0 {
            self.db.end(true)
        } else {
            self.db.depth.set(self.level);
            self.db.release_savepoint(self.level)
        }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // A failed rollback leaves the connection to the next statement, which reports it.
        let _ = if self.level == 0 {
            self.db.end(false)
        } else {
            self.db.depth.set(self.level);
            self.db.rollback_savepoint(self.level)
        };
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's own message, with its detail, and never the connection string.
        match e.as_db_error() {
            Some(d) => StoreError::Database(match d.detail() {
                Some(detail) => format!("{}: {detail}", d.message()),
                None => d.message().to_string(),
            }),
            None => StoreError::Database(e.to_string()),
        }
    }
}

/// `sql` with its `?N` and `?` placeholders replaced by the values as PostgreSQL literals;
/// quoted strings and identifiers are left alone.
pub fn with_literals(sql: &str, params: &[Value<'_>]) -> Result<String> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16 * params.len());
    let (mut i, mut start, mut next) = (0, 0, 0usize);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
            }
            b'?' => {
                out.push_str(&sql[start..i]);
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                let n = if j > i + 1 {
                    sql[i + 1..j].parse::<usize>().unwrap_or(0)
                } else {
                    next + 1
                };
                next = next.max(n);
                let v = n
                    .checked_sub(1)
                    .and_then(|k| params.get(k))
                    .ok_or_else(|| StoreError::Database(format!("no value for ?{n}")))?;
                literal(&mut out, *v)?;
                i = j;
                start = j;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[start..]);
    Ok(out)
}

/// Appends `v` as a PostgreSQL literal (standard-conforming strings, which the connection
/// sets).
fn literal(out: &mut String, v: Value<'_>) -> Result<()> {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Int(i) => {
            let _ = write!(out, "({i})");
        }
        Value::Real(f) if f.is_finite() => {
            let _ = write!(out, "({f:?}::float8)");
        }
        Value::Real(f) => {
            let _ = write!(out, "('{f}'::float8)");
        }
        Value::Text(s) => {
            if s.contains('\0') {
                return Err(StoreError::Database(
                    "a text value holds a NUL character, which PostgreSQL cannot store".into(),
                ));
            }
            out.push('\'');
            for c in s.chars() {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
            out.push('\'');
        }
        Value::Blob(bytes) => {
            out.push_str("'\\x");
            for x in bytes {
                let _ = write!(out, "{x:02x}");
            }
            out.push_str("'::bytea");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_literals_outside_quotes() {
        let sql = with_literals(
            "SELECT '?1', \"a?\" FROM t WHERE a = ?2 AND b = ?1 OR c IS ?",
            params!["it's", 5i64, Option::<i64>::None],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT '?1', \"a?\" FROM t WHERE a = (5) AND b = 'it''s' OR c IS NULL"
        );
        assert!(with_literals("SELECT ?3", params![1i64]).is_err());
        assert!(with_literals("SELECT ?1", params!["a\0b"]).is_err());
        assert_eq!(
            with_literals("SELECT ?1", params![vec![0u8, 255]]).unwrap(),
            "SELECT '\\x00ff'::bytea"
        );
    }
}
