//! Tessera orchestrator: scene intake, tile leasing, verification, stitching, receipts.
//!
//! `Orchestrator::start(config)` runs the whole service in-process (tests, benches) and
//! returns a handle with `url()` and `shutdown()`; `main.rs` only parses flags.
//!
//! Modules: [`api`] (HTTP routes per resource), [`store`] (the `Store` trait; SQLite and
//! PostgreSQL), [`scheduler`] (leasing), [`verify`] (redundant verification), [`blob`]
//! (content-addressed blobs, local folder or S3), [`retention`] (deleting closed jobs'
//! blobs and orphans), [`chain`] (RPC reads and sends), [`eligibility`] (node standing,
//! cached and read in batches), [`events`] (the event stream of every instance),
//! [`receipt`] (exactly-once `post_receipt`), [`slash`] (`slash_node` for convicted
//! nodes), [`reconcile`] (posted receipts re-read at `finalized`), [`auth`] (signed node
//! requests), [`protocol`] (signed message formats), [`tls`] (HTTPS),
//! [`metrics`].
pub mod api;
pub mod auth;
pub mod blob;
pub mod chain;
pub mod eligibility;
pub mod error;
pub mod events;
pub mod imaging;
pub mod metrics;
pub mod protocol;
pub mod receipt;
pub mod reconcile;
pub mod retention;
pub mod scheduler;
pub mod slash;
pub mod store;
pub mod tls;
pub mod verifier;
pub mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::signature::Keypair;
use tokio::sync::watch;
use tracing::{info, warn};

/// Service configuration (all durations in ms).
#[derive(Clone, Debug)]
pub struct Config {
    /// The SQLite file (when `database_url` is unset).
    pub db_path: PathBuf,
    /// A `postgres://` URL: the store is that PostgreSQL database instead of `db_path`.
    pub database_url: Option<String>,
    /// SQLite `PRAGMA synchronous` (`NORMAL`; `FULL` survives power loss too).
    pub sqlite_synchronous: String,
    /// PostgreSQL `synchronous_commit` (`on`; `off` may lose the last commits on a crash).
    pub pg_synchronous_commit: String,
    /// PostgreSQL connections per orchestrator.
    pub pg_pool_size: u32,
    /// A folder (the default) or an S3 bucket and prefix (`blob::Location::parse`).
    pub blobs: blob::Location,
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<tls::TlsFiles>,
    /// Open sessions on a plain-HTTP listener that is not loopback (see
    /// [`Config::sessions_allowed`]).
    pub allow_sessions_over_http: bool,
    pub rpc_url: String,
    /// The orchestrator's key: the network's `orchestrator` (recorded in each job created while it
    /// is), signs and pays for receipts.
    pub keypair: Arc<Keypair>,
    /// Share of tiles re-rendered by a second node (0..=1).
    pub verify_share: f64,
    /// Share for new or low-reputation nodes.
    pub new_node_share: f64,
    /// PSNR (dB) at or above which two differing renders agree.
    pub min_psnr_db: f64,
    pub lease_ms: i64,
    pub sweep_ms: u64,
    pub auth_window_ms: i64,
    /// Life of a session (`POST /v1/sessions`): MACed requests until then.
    pub session_ttl_ms: i64,
    pub node_cache_ms: u64,
    pub max_scene_bytes: usize,
    /// Body limit of routes without their own (job registration).
    pub max_request_bytes: usize,
    /// Body limit of `POST /v1/leases` and heartbeats (their bodies are empty or `{}`).
    pub max_small_body_bytes: usize,
    /// Body limit of a tile submission (base64 PNG + hash + signature).
    pub max_submit_bytes: usize,
    /// Signed requests a node key may make per second (burst: twice that); 0 = unlimited.
    pub rate_per_key: u32,
    /// Requests a client address may make per second (burst: twice that); 0 = unlimited.
    pub rate_per_addr: u32,
    /// Leases one node may hold at once, over all jobs.
    pub max_leases_per_node: u32,
    /// Leases one node may hold at once in one job (its fair share of a job's tiles).
    pub max_leases_per_node_per_job: u32,
    /// How long a tile waits for its check or tiebreak by a witness of the job (a node
    /// registered and staked before it) before any other node may take it; such renders
    /// never convict anyone (`verify::settle`).
    pub witness_wait_ms: i64,
    /// Total life of a lease, heartbeats included: past it the tile goes to another node.
    pub max_lease_lifetime_ms: i64,
    /// Concurrent requests on the public image and manifest endpoints (more get 503).
    pub public_concurrency: usize,
    /// Time limit of one public image or manifest request.
    pub public_timeout_ms: u64,
    /// A scene no running job uses is deleted this long after its upload or its last job.
    pub scene_ttl_ms: i64,
    /// Tile results of a job closed on-chain (settled, resolved, or its account closed)
    /// are deleted this long after the orchestrator first saw it closed: the artist's
    /// time to download the frames (`retention`).
    pub result_retention_ms: i64,
    /// How often closed jobs are looked for on-chain and due results deleted.
    pub retention_sweep_ms: u64,
    /// A blob no row references (a crash between its put and its row, a refused submit)
    /// is deleted once it is this old (`retention::sweep_orphans`).
    pub orphan_grace_ms: i64,
    /// How often the leader lists the blobs for orphans.
    pub orphan_sweep_ms: u64,
    pub max_tiles_per_job: u64,
    pub poster_poll_ms: u64,
    pub confirm_polls: u32,
    /// Test hook: the receipt poster stops right after sending, as if the process died.
    pub crash_after_send: bool,
    /// How often posted receipts (and running jobs) are compared with the chain at
    /// `finalized` (`reconcile`).
    pub reconcile_ms: u64,
    /// Test hook: the poster leaves finished jobs alone (no receipt built or sent), as if
    /// every receipt it sent were lost.
    pub hold_receipts: bool,
    /// Test hook: the background verifier compares nothing (second renders stay stored,
    /// undecided), as if the process died between a check's submit and its verdict.
    pub hold_verdicts: bool,
    /// Test hook: the receipt pays the first node (by key) this many renders fewer than the
    /// tile tree credits it, as a dishonest orchestrator would (its node agent contests).
    pub short_pay_renders: u32,
}

impl Config {
    pub fn new(
        db_path: PathBuf,
        blobs: impl Into<blob::Location>,
        rpc_url: String,
        keypair: Keypair,
    ) -> Self {
        Self {
            keypair: Arc::new(keypair),
            db_path,
            database_url: None,
            sqlite_synchronous: "NORMAL".into(),
            pg_synchronous_commit: "on".into(),
            pg_pool_size: 16,
            blobs: blobs.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            allow_sessions_over_http: false,
            rpc_url,
            verify_share: 0.05,
            new_node_share: 0.25,
            min_psnr_db: 35.0,
            lease_ms: 60_000,
            sweep_ms: 1_000,
            auth_window_ms: 30_000,
            session_ttl_ms: 600_000,
            node_cache_ms: 10_000,
            max_scene_bytes: 256 << 20,
            max_request_bytes: 64 << 10,
            max_small_body_bytes: 4 << 10,
            max_submit_bytes: 4 << 20,
            rate_per_key: 50,
            rate_per_addr: 500,
            max_leases_per_node: 8,
            max_leases_per_node_per_job: 4,
            witness_wait_ms: 20_000,
            max_lease_lifetime_ms: 600_000,
            public_concurrency: 4,
            public_timeout_ms: 10_000,
            scene_ttl_ms: 24 * 3_600_000,
            result_retention_ms: 7 * 24 * 3_600_000,
            retention_sweep_ms: 60_000,
            orphan_grace_ms: 3_600_000,
            orphan_sweep_ms: 3_600_000,
            max_tiles_per_job: 2_000_000,
            poster_poll_ms: 2_000,
            confirm_polls: 50,
            crash_after_send: false,
            reconcile_ms: 30_000,
            hold_receipts: false,
            short_pay_renders: 0,
            hold_verdicts: false,
        }
    }
}

impl Config {
    /// Whether `POST /v1/sessions` opens sessions: a session key is a bearer secret for its
    /// lifetime, so only where no one can read it on the way: over HTTPS, on a loopback
    /// listener (the demo; a TLS-terminating proxy on the same host), or where the
    /// operator says the network is private (`--allow-sessions-over-http`). Elsewhere nodes
    /// sign every request, which a listener on the wire cannot reuse.
    pub fn sessions_allowed(&self) -> bool {
        self.tls.is_some() || self.listen.ip().is_loopback() || self.allow_sessions_over_http
    }

    /// Whether local blob puts fsync: when the store's commits survive power loss (SQLite
    /// `FULL`/`EXTRA`, PostgreSQL `synchronous_commit` other than `off`), so the blobs its
    /// rows reference do too; at SQLite's default `NORMAL` a commit survives `kill -9` and
    /// so does an unsynced put (README, "Durability").
    pub fn blob_fsync(&self) -> bool {
        if self.database_url.is_some() {
            !self.pg_synchronous_commit.eq_ignore_ascii_case("off")
        } else {
            ["FULL", "EXTRA"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&self.sqlite_synchronous))
        }
    }

    /// The store this configuration names.
    pub fn db(&self) -> store::DbConfig {
        store::DbConfig {
            url: self
                .database_url
                .clone()
                .unwrap_or_else(|| self.db_path.to_string_lossy().into_owned()),
            sqlite_synchronous: self.sqlite_synchronous.clone(),
            pg_synchronous_commit: self.pg_synchronous_commit.clone(),
            pg_pool_size: self.pg_pool_size,
        }
    }
}

/// A running orchestrator.
pub struct Orchestrator {
    url: String,
    state: Arc<api::AppState>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Orchestrator {
    /// Opens the store and blobs, recovers leases, starts HTTP, the lease sweeper and the
    /// receipt poster.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let metrics = metrics::Metrics::new();
        let store = store::open(&config.db(), &metrics.store).await?;
        let blobs = blob::open_with(
            &config.blobs,
            metrics.blob_seconds.clone(),
            config.blob_fsync(),
        )
        .await?;
        let salt = store.salt().await?;
        // Recovery: leases that expired while we were down go back to the queue now;
        // unexpired ones stay with their nodes (they may still submit or heartbeat).
        let expired = store.expire_leases(store::now_ms()).await?;
        info!(
            recovered = expired.len(),
            "expired leases re-queued at start"
        );
        let events = match &config.database_url {
            Some(url) => events::Events::postgres(url).await?,
            None => events::Events::in_process(),
        };
        let state = Arc::new(api::AppState {
            chain: chain::Chain::new(&config.rpc_url),
            cfg: config.clone(),
            store,
            blobs,
            keypair: config.keypair.clone(),
            metrics,
            events,
            salt,
            nodes: auth::NodeCache::default(),
            limits: auth::RateLimits::new(config.rate_per_key, config.rate_per_addr),
            public: tokio::sync::Semaphore::new(config.public_concurrency),
            poster_wake: tokio::sync::Notify::new(),
            verifier_wake: tokio::sync::Notify::new(),
            blob_gc: tokio::sync::RwLock::new(()),
            scene_gc: tokio::sync::RwLock::new(()),
        });
        // A bad certificate or key fails the start, before the port is taken.
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let app = api::router(state.clone());
        let mut s1 = stopped.clone();
        let shutdown = async move {
            let _ = s1.wait_for(|s| *s).await;
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = match tls {
            Some(cfg) => {
                // `tap_io` gives the TLS listener axum's `ConnectInfo<SocketAddr>`.
                use axum::serve::ListenerExt;
                let listener = tls::TlsListener::new(listener, cfg)?.tap_io(|_| {});
                tokio::spawn(serve(listener, app, shutdown))
            }
            None => tokio::spawn(serve(listener, app, shutdown)),
        };
        tasks.push(server);
        tasks.push(tokio::spawn(sweeper(state.clone(), stopped.clone())));
        tasks.push(tokio::spawn(retention::run(state.clone(), stopped.clone())));
        tasks.push(tokio::spawn(reconcile::run(state.clone(), stopped.clone())));
        tasks.push(tokio::spawn(eligibility::run(
            state.clone(),
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(verifier::run(state.clone(), stopped.clone())));
        tasks.push(tokio::spawn(receipt::run(state.clone(), stopped)));
        info!(%addr, scheme, sessions = config.sessions_allowed(), "orchestrator listening");
        Ok(Self {
            url: format!("{scheme}://{addr}"),
            state,
            stop,
            tasks,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store this instance runs on.
    pub fn store(&self) -> Arc<dyn store::Store> {
        self.state.store.clone()
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.state.metrics
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the background tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Stops everything at once without draining (tests: as close to `kill -9` as in-process gets).
    pub fn abort(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves `app` on `listener` until `shutdown`, with the peer address as connect info (the
/// per-address limits).
async fn serve<L>(
    listener: L,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
    for<'a> SocketAddr: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        warn!(error = %e, "http server failed");
    }
}

/// Whether this instance runs the background work (sweeper, receipt poster) now: the
/// store's leader (always on SQLite; on PostgreSQL the holder of an advisory lock, which
/// another instance takes over when this one dies).
pub(crate) async fn leads(state: &api::AppState) -> bool {
    let leads = match state.store.lead().await {
        Ok(leads) => leads,
        Err(e) => {
            warn!(error = %e, "leader check failed; background work paused");
            false
        }
    };
    state.metrics.leader.set(i64::from(leads));
    leads
}

/// Every `sweep_ms`, on the leader: re-queues expired leases, forgets request signatures too old to
/// replay, deletes scenes no job uses any more, and drops idle rate-limit state.
async fn sweeper(state: Arc<api::AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.sweep_ms)) => {}
            _ = stop.changed() => return,
        }
        state.limits.forget_idle();
        if !leads(&state).await {
            continue;
        }
        let (now, ttl) = (store::now_ms(), state.cfg.scene_ttl_ms);
        let before = now - 2 * state.cfg.auth_window_ms;
        // Alone against uploads that may reuse a stored scene (`AppState::scene_gc`); while
        // one is in flight, scenes expire at a later round.
        let alone = state.scene_gc.try_write().ok();
        let scene_ttl = alone.as_ref().map(|_| ttl);
        let gone = state.store.sweep(before, now, scene_ttl).await;
        match gone {
            Ok(gone) => {
                for h in gone {
                    info!(scene = %h, "unused scene expired");
                    match state.blobs.delete(&h).await {
                        Ok(()) => state
                            .metrics
                            .blobs_deleted
                            .with_label_values(&["scene"])
                            .inc(),
                        Err(e) => warn!(error = %e, "deleting an expired scene failed"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "scene and signature sweep failed"),
        }
        drop(alone);
        let expired = state.store.expire_leases(store::now_ms()).await;
        match expired {
            Ok(expired) => {
                state.metrics.leases_expired.inc_by(expired.len() as u64);
            }
            Err(e) => warn!(error = %e, "lease sweep failed"),
        }
    }
}
