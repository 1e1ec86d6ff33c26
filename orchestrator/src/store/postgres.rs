//! The shared backend: PostgreSQL through a pool of blocking `postgres` clients, every
//! transaction `READ COMMITTED` on the blocking pool, run again on a deadlock. What SQLite
//! gets from running one transaction at a time, the queries get here from row locks taken
//! in one order (tile, then job): picking a tile locks its row and skips rows other
//! transactions hold (`FOR UPDATE SKIP LOCKED`, so two instances never lease one tile), a
//! submit locks its tile and then its job (so a lease is applied once, and the last tile of
//! a job sees every other tile verified), one node's leases run in turn
//! (`pg_advisory_xact_lock` on its key: its caps hold), and `results.lease_id` is unique.
//! (`SERIALIZABLE` with retries was tried first: 32 nodes leasing one job collided on its
//! row on nearly every lease, and requests failed after 30 retries.)
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement};

use super::shared::Backend;
use super::sql::{to_dollar, Row, Sql, V};
use super::DbConfig;
use crate::error::StoreError;
use crate::metrics::StoreMetrics;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

const NAME: &str = "postgres";
/// Times a transaction is run before its deadlock is returned.
const MAX_ATTEMPTS: u32 = 30;
/// `pg_advisory_lock` key held while migrating (instances starting at once migrate in turn).
const MIGRATION_LOCK: i64 = 0x7e55_e7a0;

/// A pooled connection and its prepared statements (by the SQL as written).
pub struct PgConn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

struct Manager {
    config: postgres::Config,
    synchronous_commit: &'static str,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!(
            "SET synchronous_commit TO {}",
            self.synchronous_commit
        ))?;
        Ok(PgConn {
            client,
            stmts: HashMap::new(),
        })
    }

    fn is_valid(&self, c: &mut PgConn) -> Result<(), postgres::Error> {
        c.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, c: &mut PgConn) -> bool {
        c.client.is_closed()
    }
}

/// `synchronous_commit` values (interpolated into `SET`, so checked first).
fn synchronous_commit(v: &str) -> Result<&'static str, StoreError> {
    ["on", "off", "local", "remote_write", "remote_apply"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(v))
        .ok_or_else(|| {
            StoreError::Config(format!(
                "synchronous_commit {v:?}: on, off, local, remote_write or remote_apply"
            ))
        })
}

fn config(cfg: &DbConfig) -> Result<postgres::Config, StoreError> {
    postgres::Config::from_str(&cfg.url).map_err(|e| StoreError::Config(format!("--db: {e}")))
}

fn run_migrations(client: &mut Client) -> Result<Vec<String>, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let report = embedded::migrations::runner().run(client);
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    Ok(report
        .map_err(|e| StoreError::Migration(e.to_string()))?
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// `tessera-orchestrator migrate` on a PostgreSQL database (blocking).
pub fn migrate(cfg: &DbConfig) -> Result<Vec<String>, StoreError> {
    run_migrations(&mut config(cfg)?.connect(NoTls)?)
}

/// The pool and the leader's connection; dropped on a thread of their own, because a
/// blocking client closes its connection by blocking on it, which an async task must not do.
struct PoolHolder(Option<r2d2::Pool<Manager>>, Arc<Mutex<Option<Client>>>);

impl Drop for PoolHolder {
    fn drop(&mut self) {
        let (pool, leader) = (self.0.take(), self.1.clone());
        std::thread::spawn(move || {
            drop(pool);
            drop(leader.lock().unwrap_or_else(|p| p.into_inner()).take());
        });
    }
}

/// `pg_try_advisory_lock` key of the background-work leader.
const LEADER_LOCK: i64 = 0x7e55_1ead;

/// Keeps (checking its connection is alive) or tries to take the leader's session lock on
/// a connection of its own: when the leader's process dies its session ends, the lock is
/// released, and the next instance to try takes it.
fn lead(cfg: &postgres::Config, leader: &Mutex<Option<Client>>) -> Result<bool, StoreError> {
    let mut slot = leader.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = slot.as_mut() {
        if c.simple_query("SELECT 1").is_ok() {
            return Ok(true);
        }
        *slot = None;
    }
    let mut c = cfg.connect(NoTls)?;
    let got: bool = c
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])?
        .get(0);
    if got {
        *slot = Some(c);
    }
    Ok(got)
}

#[derive(Clone)]
pub struct Pg {
    pool: Arc<PoolHolder>,
    config: Arc<postgres::Config>,
    metrics: StoreMetrics,
}

impl Pg {
    /// Connects the pool and applies pending migrations (blocking).
    pub fn open(cfg: &DbConfig, metrics: StoreMetrics) -> Result<Self, StoreError> {
        let config = config(cfg)?;
        let manager = Manager {
            config: config.clone(),
            synchronous_commit: synchronous_commit(&cfg.pg_synchronous_commit)?,
        };
        let pool = r2d2::Pool::builder()
            .max_size(cfg.pg_pool_size.max(1))
            .min_idle(Some(1))
            // A broken connection is noticed by `has_broken`; no round trip per checkout.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
        run_migrations(&mut conn.client)?;
        drop(conn);
        Ok(Self {
            pool: Arc::new(PoolHolder(Some(pool), Arc::default())),
            config: Arc::new(config),
            metrics,
        })
    }
}

fn retryable(e: &StoreError) -> bool {
    let StoreError::Pg(e) = e else { return false };
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

/// Runs `f` in a transaction until it commits or fails for a reason other than a deadlock.
/// With `durable`, the commit waits for its WAL flush (`SET LOCAL synchronous_commit TO
/// on`, for this transaction only) whatever the connection's setting.
fn run_tx<R>(
    conn: &mut PgConn,
    m: &StoreMetrics,
    durable: bool,
    f: &dyn Fn(&mut dyn Sql) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let PgConn { client, stmts } = conn;
    let mut attempt = 1;
    loop {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()?;
        if durable {
            tx.batch_execute("SET LOCAL synchronous_commit TO on")?;
        }
        let mut t = PgTx {
            tx,
            stmts: &mut *stmts,
        };
        let r = match f(&mut t) {
            Ok(r) => t.tx.commit().map(|_| r).map_err(StoreError::from),
            Err(e) => Err(e),
        };
        match r {
            Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                m.retries.with_label_values(&[NAME]).inc();
                // Back off a little, more each time, so colliding transactions spread out.
                std::thread::sleep(Duration::from_micros(200 * u64::from(attempt)));
                attempt += 1;
            }
            r => return r,
        }
    }
}

impl Backend for Pg {
    const NAME: &'static str = NAME;

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
        let (pool, m) = (self.pool.0.clone(), self.metrics.clone());
        async move {
            let pool = pool.ok_or_else(|| StoreError::Pool("closed".into()))?;
            tokio::task::spawn_blocking(move || {
                let asked = Instant::now();
                let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
                let state = pool.state();
                m.pool_size
                    .with_label_values(&[NAME])
                    .set(i64::from(state.connections));
                m.pool_in_use
                    .with_label_values(&[NAME])
                    .set(i64::from(state.connections - state.idle_connections));
                let started = Instant::now();
                let r = run_tx(&mut conn, &m, durable, &f);
                m.observe(NAME, op, started - asked, started.elapsed());
                r
            })
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
        }
    }

    fn lead(&self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let (config, leader) = (self.config.clone(), self.pool.1.clone());
        async move {
            tokio::task::spawn_blocking(move || lead(&config, &leader))
                .await
                .map_err(|e| StoreError::Join(e.to_string()))?
        }
    }
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_> {
    fn stmt(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(&to_dollar(sql))?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn params(p: &[V]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn value(r: &postgres::Row, i: usize) -> Result<V, StoreError> {
    let ty = r.columns()[i].type_();
    let int = |x: Option<i64>| x.map_or(V::Null, V::I);
    Ok(match *ty {
        Type::INT8 => int(r.try_get(i)?),
        Type::INT4 => int(r.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(r.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(r.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map_or(V::Null, V::F),
        Type::FLOAT4 => r
            .try_get::<_, Option<f32>>(i)?
            .map_or(V::Null, |f| V::F(f64::from(f))),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
            r.try_get::<_, Option<String>>(i)?.map_or(V::Null, V::T)
        }
        Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map_or(V::Null, V::B),
        _ => return Err(StoreError::Corrupt(format!("column {i} of type {ty}"))),
    })
}

impl Sql for PgTx<'_> {
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, StoreError> {
        let st = self.stmt(sql)?;
        Ok(self.tx.execute(&st, &params(p))?)
    }

    fn rows(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, StoreError> {
        let st = self.stmt(sql)?;
        self.tx
            .query(&st, &params(p))?
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value(r, i))
                    .collect::<Result<_, _>>()
                    .map(Row)
            })
            .collect()
    }

    fn insert_id(&mut self, sql: &str, p: &[V]) -> Result<i64, StoreError> {
        let st = self.stmt(&format!("{sql} RETURNING id"))?;
        Ok(self.tx.query_one(&st, &params(p))?.try_get(0)?)
    }

    fn locks_rows(&self) -> bool {
        true
    }
}

impl ToSql for V {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            V::Null => Ok(IsNull::Yes),
            V::I(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            V::F(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            V::T(s) => s.to_sql(ty, out),
            V::B(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}
