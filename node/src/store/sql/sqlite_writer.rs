//! SQLite's writer connection, below sqlx. The group writer (`group.rs`) owns one on a thread of its own and runs a
//! whole group there: BEGIN, every batch, COMMIT, then one answer back. Through sqlx each statement is a hand-off
//! to the connection's worker thread and back, and a payment's dozen statements, with each group's BEGIN and
//! COMMIT, were each two context switches — at low load the wake-up of a sleeping thread: perf in the open loop at
//! 50 payments/s had sqlx's SQLite workers at 40% of the node's CPU, two thirds of it in the kernel.
//!
//! It runs the writes of `writes.rs` through [`WriteConn`], the same code as on a sqlx connection. rusqlite links the
//! same libsqlite3-sys as sqlx, so the binary holds one SQLite, and this is one more connection to the same file:
//! sqlx's pool reads what it commits.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Statement};

use super::*;

/// The connection, in or out of a transaction.
pub(super) struct SqliteWriter {
    conn: Connection,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl SqliteWriter {
    /// Opens the database at `path`, which sqlx's migrations have already brought up to date, with the settings
    /// the pool's connections have (`SqlStore::connect`).
    pub(super) fn open(path: &Path) -> Result<SqliteWriter> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt {
                what: "the SQLite journal mode",
                reason: format!("{mode} where WAL was asked for"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteWriter { conn })
    }

    /// `BEGIN IMMEDIATE`: the write lock at once, so a writer through sqlx waits on the busy timeout instead of
    /// failing to upgrade a read lock.
    pub(super) fn begin(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    pub(super) fn commit(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    /// Undoes the open transaction. Safe to call when SQLite already rolled it back on its own (after a full disk,
    /// say), which is why the error of a missing transaction is not one.
    pub(super) fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        Ok(self.conn.execute_batch("ROLLBACK")?)
    }

    pub(super) fn savepoint(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("SAVEPOINT batch")?)
    }

    /// Releases the savepoint, first undoing what it holds if `undo`.
    pub(super) fn release(&mut self, undo: bool) -> Result<()> {
        if undo {
            self.conn.execute_batch("ROLLBACK TO SAVEPOINT batch")?;
        }
        Ok(self.conn.execute_batch("RELEASE SAVEPOINT batch")?)
    }
}

/// Binds `params` to `statement`. The SQL names its parameters `$N` (sqlx's style, on both databases) and SQLite
/// numbers named parameters in order of first appearance, so each is bound through its name.
fn bind(statement: &mut Statement<'_>, params: &[Param]) -> Result<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("?");
        let param = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| params.get(n.checked_sub(1)?))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        match param {
            Param::Null => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
            Param::Int(n) => statement.raw_bind_parameter(index, n)?,
            Param::Text(text) => statement.raw_bind_parameter(index, text.as_str())?,
        }
    }
    Ok(())
}

// Nothing here waits: each future is ready at its first poll, and the group writer runs it with `block_on`.
impl WriteConn for SqliteWriter {
    async fn exec(&mut self, sql: &'static str, params: Vec<Param>) -> Result<u64> {
        let mut statement = self.conn.prepare_cached(sql)?;
        bind(&mut statement, &params)?;
        let changed = statement.raw_execute()?;
        Ok(changed as u64)
    }

    async fn fetch_update(&mut self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>> {
        let mut statement = self.conn.prepare_cached(FETCH_UPDATE)?;
        bind(
            &mut statement,
            &[key(&channel_id).into(), db_int(nonce)?.into()],
        )?;
        let mut rows = statement.raw_query();
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        update_row!(row.get).decode().map(Some)
    }

    async fn latest_nonce(&mut self, channel_id: B256) -> Result<Option<u64>> {
        let mut statement = self.conn.prepare_cached(LATEST_NONCE)?;
        bind(&mut statement, &[key(&channel_id).into()])?;
        let latest: Option<i64> = statement
            .raw_query()
            .next()?
            .map(|row| row.get("latest"))
            .transpose()?
            .flatten();
        latest.map(|n| from_db_int(n, "a nonce")).transpose()
    }
}

#[cfg(test)]
mod tests {
    use futures_executor::block_on;

    use super::*;

    fn writer() -> (tempfile::TempDir, SqliteWriter) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.db");
        Connection::open(&path)
            .and_then(|c| c.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)"))
            .expect("a table");
        let writer = SqliteWriter::open(&path).expect("the writer");
        (dir, writer)
    }

    fn read(writer: &SqliteWriter, id: &str) -> Option<i64> {
        writer
            .conn
            .query_row("SELECT n FROM t WHERE id = ?1", [id], |row| row.get(0))
            .ok()
    }

    #[test]
    fn parameters_are_bound_by_their_number_whatever_order_they_appear_in() {
        let (_dir, mut writer) = writer();
        let sql = "INSERT INTO t (n, id) VALUES ($2, $1)";
        let changed = block_on(writer.exec(sql, vec!["a".to_string().into(), 7.into()]));
        assert_eq!(changed.expect("inserted"), 1);
        assert_eq!(read(&writer, "a"), Some(7));

        // A statement that names a parameter it is not given fails, and binds nothing.
        let sql = "INSERT INTO t (id, n) VALUES ($1, $3)";
        let error = block_on(writer.exec(sql, vec!["b".to_string().into(), 1.into()]));
        assert!(
            matches!(&error, Err(Error::Sqlite(rusqlite::Error::InvalidParameterName(name))) if name == "$3"),
            "{error:?}"
        );
        assert_eq!(read(&writer, "b"), None);
    }

    #[test]
    fn a_duplicate_key_is_recognised_as_one() {
        let (_dir, mut writer) = writer();
        let sql = "INSERT INTO t (id, n) VALUES ($1, $2)";
        let row = || vec!["a".to_string().into(), Param::Int(1)];
        block_on(writer.exec(sql, row())).expect("the first insert");
        let error = block_on(writer.exec(sql, row())).expect_err("a duplicate");
        assert!(is_unique_violation(&error), "{error:?}");
        let other = block_on(writer.exec("INSERT INTO missing VALUES ($1)", vec![Param::Null]))
            .expect_err("no such table");
        assert!(!is_unique_violation(&other), "{other:?}");
    }

    #[test]
    fn rollback_after_sqlite_already_rolled_back_is_no_error() {
        let (_dir, mut writer) = writer();
        writer.begin().expect("begin");
        writer.conn.execute_batch("ROLLBACK").expect("rolled back");
        writer.rollback().expect("nothing left to undo");
        writer.begin().expect("a new transaction can start");
        writer.commit().expect("commit");
    }
}
