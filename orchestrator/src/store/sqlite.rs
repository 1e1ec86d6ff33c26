//! The embedded backend: one SQLite file (WAL journal), one connection behind a mutex,
//! every transaction `BEGIN IMMEDIATE` on the blocking pool, statements from the
//! connection's prepared-statement cache.
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params_from_iter, Connection, TransactionBehavior};

use super::shared::Backend;
use super::sql::{Row, Sql, V};
use super::DbConfig;
use crate::error::StoreError;
use crate::metrics::StoreMetrics;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

const NAME: &str = "sqlite";

#[derive(Clone)]
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
    metrics: StoreMetrics,
    /// The configured `PRAGMA synchronous`, restored after a durable transaction.
    synchronous: &'static str,
}

/// `PRAGMA synchronous` values (the setting is interpolated, so it is checked first).
fn synchronous(v: &str) -> Result<&'static str, StoreError> {
    ["OFF", "NORMAL", "FULL", "EXTRA"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(v))
        .ok_or_else(|| {
            StoreError::Config(format!(
                "sqlite synchronous {v:?}: OFF, NORMAL, FULL or EXTRA"
            ))
        })
}

/// Opens the file and applies pending migrations.
fn connect(cfg: &DbConfig) -> Result<Connection, StoreError> {
    let path = Path::new(&cfg.url);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = Connection::open(path)?;
    // WAL: a committed transaction survives a process crash (kill -9) at any `synchronous`
    // but OFF; FULL also survives power loss, at an fsync per commit (README, "Durability").
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous(&cfg.sqlite_synchronous)?)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(128);
    run_migrations(&mut conn)?;
    Ok(conn)
}

fn run_migrations(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    adopt_unversioned(conn)?;
    let report = embedded::migrations::runner()
        .run(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// Stores made before versioned migrations: V1 is their schema (IF NOT EXISTS), less the
/// columns that older versions added on open, added here first.
fn adopt_unversioned(c: &Connection) -> Result<(), StoreError> {
    let has_table = |t: &str| -> Result<bool, StoreError> {
        Ok(
            c.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1")?
                .exists([t])?,
        )
    };
    if !has_table("jobs")? || has_table("refinery_schema_history")? {
        return Ok(());
    }
    add_column(c, "jobs", "frame_rate_num", "INTEGER NOT NULL DEFAULT 24")?;
    add_column(c, "jobs", "frame_rate_den", "INTEGER NOT NULL DEFAULT 1")?;
    add_column(c, "scenes", "expires_ms", "INTEGER")
}

fn add_column(c: &Connection, table: &str, column: &str, decl: &str) -> Result<(), StoreError> {
    let has = c
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name=?1"
        ))?
        .exists([column])?;
    if !has {
        c.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// `tessera-orchestrator migrate` on a SQLite file.
pub fn migrate(cfg: &DbConfig) -> Result<Vec<String>, StoreError> {
    let path = Path::new(&cfg.url);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    run_migrations(&mut Connection::open(path)?)
}

impl Sqlite {
    pub fn open(cfg: &DbConfig, metrics: StoreMetrics) -> Result<Self, StoreError> {
        let conn = connect(cfg)?;
        metrics.pool_size.with_label_values(&[NAME]).set(1);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            metrics,
            synchronous: synchronous(&cfg.sqlite_synchronous)?,
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; with `durable`, under `synchronous`
    /// FULL (EXTRA when configured): the WAL is fsynced at this commit. The setting cannot
    /// change inside a transaction, so it is set before and restored after.
    fn run_with<R, F>(
        &self,
        op: &'static str,
        durable: bool,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        let (conn, m, configured) = (self.conn.clone(), self.metrics.clone(), self.synchronous);
        let level = match (durable, configured) {
            (false, c) => c,
            (true, "EXTRA") => "EXTRA",
            (true, _) => "FULL",
        };
        async move {
            tokio::task::spawn_blocking(move || {
                let in_use = m.pool_in_use.with_label_values(&[NAME]);
                let asked = Instant::now();
                let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                in_use.set(1);
                let started = Instant::now();
                let r = (|| -> Result<R, StoreError> {
                    if level != configured {
                        guard.pragma_update(None, "synchronous", level)?;
                    }
                    let r = (|| {
                        let mut tx =
                            guard.transaction_with_behavior(TransactionBehavior::Immediate)?;
                        let r = f(&mut tx)?;
                        tx.commit()?;
                        Ok(r)
                    })();
                    if level != configured {
                        guard.pragma_update(None, "synchronous", configured)?;
                    }
                    r
                })();
                let ran = started.elapsed();
                in_use.set(0);
                // Recorded after the connection is released: the histograms cost more than
                // most transactions, and nothing else may run while the lock is held.
                drop(guard);
                m.observe(NAME, op, started - asked, ran);
                r
            })
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
        }
    }
}

impl Backend for Sqlite {
    const NAME: &'static str = NAME;

    fn run<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        self.run_with(op, false, f)
    }

    fn run_durable<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        self.run_with(op, true, f)
    }

    /// One process owns a SQLite file: it always leads.
    fn lead(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(true))
    }
}

impl Sql for rusqlite::Transaction<'_> {
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, StoreError> {
        Ok(self.prepare_cached(sql)?.execute(params_from_iter(p))? as u64)
    }

    fn rows(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, StoreError> {
        let mut st = self.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(params_from_iter(p))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => V::Null,
                    ValueRef::Integer(i) => V::I(i),
                    ValueRef::Real(f) => V::F(f),
                    ValueRef::Text(t) => V::T(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => V::B(b.to_vec()),
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }

    fn insert_id(&mut self, sql: &str, p: &[V]) -> Result<i64, StoreError> {
        self.exec(sql, p)?;
        Ok(self.last_insert_rowid())
    }

    fn locks_rows(&self) -> bool {
        false
    }
}

impl rusqlite::ToSql for V {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            V::Null => ToSqlOutput::Owned(Value::Null),
            V::I(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            V::F(f) => ToSqlOutput::Owned(Value::Real(*f)),
            V::T(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            V::B(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receipt's transaction is fsynced (FULL) on a store configured OFF, and the
    /// connection is back at OFF for the next one.
    #[tokio::test]
    async fn a_durable_transaction_runs_at_full_and_the_setting_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DbConfig::new(dir.path().join("db.sqlite").display().to_string());
        cfg.sqlite_synchronous = "OFF".into();
        let db = Sqlite::open(&cfg, crate::metrics::Metrics::new().store).unwrap();
        let level = |tx: &mut dyn Sql| super::super::queries::commit_durability(tx);
        assert_eq!(db.run_durable("t", level).await.unwrap(), "synchronous=2");
        assert_eq!(db.run("t", level).await.unwrap(), "synchronous=0");
        cfg.sqlite_synchronous = "EXTRA".into();
        let db = Sqlite::open(&cfg, crate::metrics::Metrics::new().store).unwrap();
        assert_eq!(db.run_durable("t", level).await.unwrap(), "synchronous=3");
    }
}
