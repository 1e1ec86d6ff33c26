//! The orchestrator's store: one domain-level trait, [`Store`], whose every method is one
//! transaction (committed before the API acknowledges it), and two backends behind it:
//! SQLite (embedded default, a file) and PostgreSQL (`--db postgres://…`, shared by several
//! orchestrator instances).
//!
//! Both backends run the same domain queries ([`queries`], `scheduler`, `verify`) over
//! [`sql::Sql`], so they share one semantics by construction; what differs is how a
//! transaction is opened (SQLite: a savepoint in a group of transactions one writer thread
//! commits together, each answered after the group's commit, see [`sqlite`];
//! PostgreSQL: `READ COMMITTED` on a pooled connection, retried on a deadlock) and the row
//! locks PostgreSQL takes in their place (`FOR UPDATE SKIP LOCKED` when picking a tile,
//! the tile and job rows of a submit, a per-node advisory lock for a lease). Handlers
//! hold an `Arc<dyn Store>`: the backend is chosen at run time from `--db`, and a vtable
//! call per transaction costs nothing next to the transaction.
pub mod closed_jobs;
mod memsched;
pub mod postgres;
pub mod queries;
pub mod reconcile;
pub mod replay;
mod shared;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;

use serde::Serialize;

pub use closed_jobs::Scanned;
pub use queries::*;

use crate::error::StoreError;
use crate::metrics::StoreMetrics;
use crate::scheduler::{Grant, LeasePolicy, Verifies};
use crate::verify::{Outcome, Submission};

/// Job states in the store.
pub mod job_state {
    /// Tiles are being rendered and verified.
    pub const RENDERING: &str = "rendering";
    /// Every tile verified; the receipt is to be built.
    pub const READY: &str = "ready";
    /// Cancelled or past its deadline on-chain: no more leases; the receipt of the tiles
    /// verified so far is to be built and posted within the job's settle grace.
    pub const PARTIAL: &str = "partial";
    /// The signed `post_receipt` transaction is persisted and being sent/confirmed.
    pub const POSTING: &str = "posting";
    /// The receipt is on-chain.
    pub const POSTED: &str = "posted";
    /// The receipt could not be posted (see `error`).
    pub const FAILED: &str = "failed";
}

/// Tile states (`state` column) and what a tile waits for (`need`).
pub mod tile_state {
    pub const QUEUED: &str = "queued";
    pub const LEASED: &str = "leased";
    pub const RENDERED: &str = "rendered";
    pub const VERIFIED: &str = "verified";
    /// No quorum in `verify::MAX_ROUNDS` rounds: never leased again, in no receipt.
    pub const UNSETTLED: &str = "unsettled";
    pub const NEED_PRIMARY: &str = "primary";
    pub const NEED_CHECK: &str = "check";
    pub const NEED_TIEBREAK: &str = "tiebreak";
    /// (state `rendered`) A check or tiebreak render is stored and waits for the background
    /// verifier to compare it (`verifier`): not leased meanwhile.
    pub const NEED_COMPARE: &str = "compare";
    pub const NEED_NONE: &str = "none";
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A registered job as stored.
#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    pub job_id: u64,
    pub job_key: String,
    pub scene_hash: String,
    pub frame_start: u32,
    pub frame_end: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub spp: u32,
    pub price_per_tile: u64,
    pub budget: u64,
    pub deadline: i64,
    pub state: String,
    pub created_ms: i64,
    pub leases_issued: i64,
    /// Fair-share virtual time: grows by `1 / weight` per lease (stride scheduling).
    pub pass: f64,
    pub receipt_sig: Option<String>,
    pub error: Option<String>,
    /// The job's frames per second as recorded on-chain (frame → scene time).
    pub frame_rate: (u32, u32),
    /// The job's verification share as fixed on-chain at creation (copied at registration).
    pub verify_bps: u16,
}

/// One tile as stored.
#[derive(Clone, Debug, Serialize)]
pub struct TileRow {
    pub job_id: u64,
    pub frame: u32,
    pub tile: u32,
    pub state: String,
    pub need: String,
    pub node: Option<String>,
    pub pixel_hash: Option<String>,
    pub signature: Option<String>,
    pub blob: Option<String>,
    pub lease_id: Option<i64>,
    pub lease_node: Option<String>,
    pub lease_deadline: Option<i64>,
    pub failures: i64,
}

/// One submitted render of a tile (kept as evidence).
#[derive(Clone, Debug, Serialize)]
pub struct ResultRow {
    pub id: i64,
    pub node: String,
    /// The node's on-chain operator (the node key on rows older than the column).
    pub operator: String,
    pub role: String,
    pub pixel_hash: String,
    pub signature: String,
    pub blob: String,
    pub verdict: String,
    /// Whether its node qualified as a witness of the job when it submitted (false on rows
    /// older than the column): only witnesses' agreement convicts (`verify::settle`).
    pub witness: bool,
}

/// A check or tiebreak render the receipt pays (`queries::paid_verifications`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PaidVerification {
    pub frame: u32,
    pub tile: u32,
    /// `check` or `tiebreak`.
    pub role: String,
    pub node: String,
    pub pixel_hash: String,
    /// base58 signature of the tile message by `node`.
    pub signature: String,
}

/// Per-state tile counts of a job.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub queued: u64,
    pub leased: u64,
    pub rendered: u64,
    pub verified: u64,
    /// Left out after `verify::MAX_ROUNDS` inconclusive rounds.
    pub unsettled: u64,
    pub failed: u64,
}

/// A node's counters as this orchestrator recorded them.
#[derive(Debug, Clone, Copy)]
pub struct NodeRecord {
    pub reputation: f64,
    pub tiles: i64,
    pub verified: i64,
    pub faults: i64,
}

/// A correctly signed request whose signature is still to be recorded against replays,
/// inside the handler's own transaction (one transaction for both).
#[must_use = "record it in the request's transaction"]
#[derive(Clone, Debug)]
pub struct Replay {
    pub signature: String,
    pub timestamp_ms: i64,
}

/// What a submission's transaction needs beyond the database (see `verify::Decision`).
pub struct SubmitInput {
    pub submission: Submission,
    pub salt: [u8; 32],
    pub job_key: String,
    pub base_share: f64,
    pub new_node_share: f64,
    /// The submit request's signature, recorded in the submit's own transaction (a replay
    /// fails it); None for callers that are not requests.
    pub replay: Option<Replay>,
}

/// The lease request `submit?next=1` makes once its tile is recorded.
pub struct NextLease {
    pub replay: Replay,
    pub node: String,
    pub operator: String,
    pub benchmark_score: u64,
    pub now: i64,
    pub policy: LeasePolicy,
    pub verifies: Verifies,
}

/// What an applied submission did: its outcome, the tiles re-queued, whether the job is
/// now complete (and `ready`).
pub type Applied = (Outcome, Vec<(u32, u32)>, bool);

/// The lease's tile and job.
pub type SubmitContext = (TileRow, JobRow);

/// (tile counts, per-frame progress, tiles verified since) of a job.
pub type Progress = (Counts, Vec<(u32, u64, u64)>, u64);

/// Everything the orchestrator keeps, by what it does. Each method is one transaction.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A secret of this store's lifetime that session keys mix in, when session requests
    /// are guarded against replays in this process's memory (embedded SQLite, see
    /// `replay`): sessions then end with the process. None where sessions outlive it and
    /// are shared by instances (PostgreSQL).
    fn session_secret(&self) -> Option<[u8; 32]> {
        None
    }
    /// The per-database secret that draws verification samples (made on first use).
    async fn salt(&self) -> Result<[u8; 32], StoreError>;
    /// Returns every lease past `now` to the queue; the tiles they held.
    async fn expire_leases(&self, now: i64) -> Result<Vec<(u64, u32, u32)>, StoreError>;
    /// Forgets request signatures older than `sigs_before` and, with a `scene_ttl_ms`,
    /// scenes no job needs; the forgotten scene hashes.
    async fn sweep(
        &self,
        sigs_before: i64,
        now: i64,
        scene_ttl_ms: Option<i64>,
    ) -> Result<Vec<String>, StoreError>;
    /// Records a request signature (`Err(Replay)` when seen before).
    async fn remember(&self, replay: Replay) -> Result<(), StoreError>;
    /// Records the request and grants `node` the best lease within its caps (second
    /// renders only of the jobs it `verifies`).
    #[allow(clippy::too_many_arguments)] // the request's parts, each needed: no struct yet
    async fn lease(
        &self,
        replay: Replay,
        node: String,
        operator: String,
        benchmark_score: u64,
        now: i64,
        policy: LeasePolicy,
        verifies: Verifies,
    ) -> Result<Grant, StoreError>;
    /// Records the request and extends a lease (see `queries::heartbeat`).
    async fn heartbeat(
        &self,
        replay: Replay,
        lease_id: i64,
        node: String,
        deadline: i64,
        now: i64,
        max_lifetime_ms: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// What a submission to `lease_id` is checked against (records nothing: the request is
    /// recorded by the `submit` or `refuse_submission` that follows). On SQLite the lease is
    /// answered from the in-memory schedule, without a transaction, whatever its role.
    async fn submit_context(&self, lease_id: i64) -> Result<Option<SubmitContext>, StoreError>;
    /// Records the request and releases the lease of a refused submission, counting it
    /// against the node.
    async fn refuse_submission(
        &self,
        lease_id: i64,
        node: String,
        replay: Option<Replay>,
    ) -> Result<(), StoreError>;
    /// Records the request (`input.replay`) and applies a checked submission to the tile
    /// `lease_id` holds, once (`Err(LeaseGone)` when the lease is no longer the node's or
    /// the job stopped).
    async fn submit(&self, lease_id: i64, input: SubmitInput) -> Result<Applied, StoreError>;
    /// [`Store::submit`], then, when it applied and `next` is given, [`Store::lease`] for the
    /// same node: two transactions (on SQLite two savepoints of one body, one trip to the
    /// writer). A failed lease does not undo the submit: it is returned as the `Err`.
    async fn submit_and_lease(
        &self,
        lease_id: i64,
        input: SubmitInput,
        next: Option<NextLease>,
    ) -> Result<(Applied, Option<Result<Grant, StoreError>>), StoreError>;
    /// Tiles of running jobs whose stored second render waits for its comparison (at most
    /// a batch), oldest first: the background verifier's work, also after a restart.
    async fn comparisons_due(&self) -> Result<Vec<(u64, u32, u32)>, StoreError>;
    /// Every tile of one job (running or stopped) whose stored second render waits for its
    /// comparison: what the poster settles before it builds the job's receipt.
    async fn job_comparisons_due(&self, job_id: u64) -> Result<Vec<(u32, u32)>, StoreError>;
    /// The pending renders of a tile waiting for its comparison (oldest first), or None
    /// when it no longer waits.
    async fn comparison(
        &self,
        job_id: u64,
        frame: u32,
        tile: u32,
    ) -> Result<Option<Vec<ResultRow>>, StoreError>;
    /// Decides a tile waiting for its comparison from the renders `comparison` returned and
    /// their decoded RGBA (by result id; empty when every hash is equal), once: None when the
    /// tile no longer waits, its renders changed or its job is neither rendering nor stopped
    /// (`partial`) with its receipt not yet built.
    async fn settle_comparison(
        &self,
        job_id: u64,
        frame: u32,
        tile: u32,
        rgba: Vec<(i64, Vec<u8>)>,
        min_psnr_db: f64,
    ) -> Result<Option<Applied>, StoreError>;
    async fn scene_exists(&self, hash: String) -> Result<bool, StoreError>;
    async fn scene_insert(
        &self,
        hash: String,
        size: usize,
        expires_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn job_get(&self, job_id: u64) -> Result<Option<JobRow>, StoreError>;
    /// Inserts a job and its tiles; false when it existed.
    async fn job_insert(&self, job: JobRow, tiles_per_frame: u32) -> Result<bool, StoreError>;
    async fn job_progress(&self, job_id: u64, since_ms: i64) -> Result<Progress, StoreError>;
    async fn tiles_of_frame(&self, job_id: u64, frame: u32) -> Result<Vec<TileRow>, StoreError>;
    async fn tiles_of_job(&self, job_id: u64) -> Result<Vec<TileRow>, StoreError>;
    async fn evidence_of_job(&self, job_id: u64) -> Result<Vec<serde_json::Value>, StoreError>;
    /// The verification renders a job's receipt pays.
    async fn paid_verifications(&self, job_id: u64) -> Result<Vec<PaidVerification>, StoreError>;
    async fn jobs_in_state(&self, state: &'static str) -> Result<Vec<JobRow>, StoreError>;
    async fn job_set_state(
        &self,
        job_id: u64,
        state: &'static str,
        error: Option<String>,
    ) -> Result<(), StoreError>;
    /// Persists the signed receipt transaction (before it is ever sent); state `posting`.
    /// Committed durably (fsynced) whatever `--sqlite-synchronous` / `--pg-synchronous-commit`
    /// say, and with it every tile verification committed before; returns the commit's
    /// setting as read inside the transaction (`synchronous=2` FULL, `synchronous_commit=on`).
    async fn job_set_receipt_tx(
        &self,
        job_id: u64,
        tx: Vec<u8>,
        sig: String,
    ) -> Result<String, StoreError>;
    async fn job_receipt_tx(&self, job_id: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// A node's counters and the jobs it holds accepted tiles in.
    async fn node_summary(
        &self,
        node: String,
    ) -> Result<(Option<NodeRecord>, Vec<(u64, u64)>), StoreError>;
    /// Takes or keeps the lead of background work (lease sweeper, receipt poster); true
    /// while this instance holds it. Exactly one instance on a database leads at a time.
    async fn lead(&self) -> Result<bool, StoreError>;
    /// Tiles waiting for a render or a check in running jobs.
    async fn queue_depth(&self) -> Result<u64, StoreError>;
    /// Finished jobs (receipt posted or failed) not yet seen closed on-chain.
    async fn closed_unchecked(&self) -> Result<Vec<u64>, StoreError>;
    /// Records that a job was seen closed on-chain at `now` (once).
    async fn mark_closed(&self, job_id: u64, now: i64) -> Result<(), StoreError>;
    /// Closed jobs past `retention_ms`, not purged yet.
    async fn purge_due(&self, now: i64, retention_ms: i64) -> Result<Vec<u64>, StoreError>;
    /// Retention's first step for a purge, without `blob_gc`: on SQLite one scan of
    /// `results` off the writer (the job's blobs no other unpurged job's row up to the scan's
    /// mark references); elsewhere nothing (`Scanned::default()`).
    async fn doomed_scan(&self, job_id: u64) -> Result<Scanned, StoreError>;
    /// Under `blob_gc` held for writing: a closed job's blobs that no other unpurged job
    /// references, from `scan` and the rows above its mark (or by index without a mark).
    async fn doomed_blobs(&self, job_id: u64, scan: Scanned) -> Result<Vec<String>, StoreError>;
    async fn mark_purged(&self, job_id: u64, now: i64) -> Result<(), StoreError>;
    /// Jobs to compare with the chain next (`reconcile::due`).
    async fn reconcile_due(&self) -> Result<Vec<(u64, String)>, StoreError>;
    /// Records the job's state on-chain at `finalized` (`reconcile::mark`).
    async fn mark_chain_state(
        &self,
        job_id: u64,
        chain_state: &'static str,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn chain_state(&self, job_id: u64) -> Result<Option<String>, StoreError>;
    /// (frame, tile, node, pixel hash) of every render of the job a quorum agreed with.
    async fn agreed_renders(
        &self,
        job_id: u64,
    ) -> Result<Vec<(u32, u32, String, String)>, StoreError>;
    /// Orphan candidates, without `blob_gc`: on SQLite those of `hashes` that no result row
    /// of an unpurged job up to the scan's mark references (scenes are not looked at);
    /// elsewhere `hashes` as they are, without a mark.
    async fn unreferenced_scan(&self, hashes: Vec<String>) -> Result<Scanned, StoreError>;
    /// Under `blob_gc` (and `scene_gc`): those of `hashes` (candidates of a scan with `mark`,
    /// or any hashes with `None`) that no row references (orphan blobs:
    /// `retention::sweep_orphans`); with a mark only result rows above it are looked at.
    async fn unreferenced_blobs(
        &self,
        hashes: Vec<String>,
        mark: Option<i64>,
    ) -> Result<Vec<String>, StoreError>;
}

/// Where the store lives and how durable a commit is.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// A SQLite file path, or a `postgres://` / `postgresql://` URL.
    pub url: String,
    /// SQLite `PRAGMA synchronous`: `OFF`, `NORMAL` (default) or `FULL` / `EXTRA`.
    pub sqlite_synchronous: String,
    /// PostgreSQL `synchronous_commit`: `on` (default), `off`, `local`, `remote_write`,
    /// `remote_apply`.
    pub pg_synchronous_commit: String,
    /// PostgreSQL connections in the pool.
    pub pg_pool_size: u32,
}

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            sqlite_synchronous: "NORMAL".into(),
            pg_synchronous_commit: "on".into(),
            pg_pool_size: 16,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }
}

/// Opens the store `cfg` names and applies its pending migrations.
pub async fn open(cfg: &DbConfig, metrics: &StoreMetrics) -> Result<Arc<dyn Store>, StoreError> {
    let (cfg, m) = (cfg.clone(), metrics.clone());
    tokio::task::spawn_blocking(move || -> Result<Arc<dyn Store>, StoreError> {
        Ok(if cfg.is_postgres() {
            Arc::new(shared::SqlStore::new(postgres::Pg::open(&cfg, m)?))
        } else {
            // One process owns a SQLite file: leases are scheduled in memory (`memsched`).
            Arc::new(shared::SqlStore::with_memory(sqlite::Sqlite::open(
                &cfg, m,
            )?))
        })
    })
    .await
    .map_err(|e| StoreError::Join(e.to_string()))?
}

/// Applies pending migrations to the store `cfg` names; the versions applied.
pub fn migrate(cfg: &DbConfig) -> Result<Vec<String>, StoreError> {
    if cfg.is_postgres() {
        postgres::migrate(cfg)
    } else {
        sqlite::migrate(cfg)
    }
}
