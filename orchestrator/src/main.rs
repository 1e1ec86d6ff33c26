//! `tessera-orchestrator`: flags → `Orchestrator::start`, until Ctrl-C / SIGTERM.
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tessera_orchestrator::{Config, Orchestrator};

/// mimalloc: the request path allocates many small, short-lived buffers (JSON, base64, PNG
/// and row values) across threads; measured in the README ("Round 3").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "tessera-orchestrator", version, about = "Tessera orchestrator")]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// The store: a SQLite file (embedded, the default) or a `postgres://user@host/db` URL.
    #[arg(
        long,
        env = "TESSERA_DB",
        default_value = "data/orchestrator.sqlite",
        global = true
    )]
    db: String,
    /// SQLite `PRAGMA synchronous`: NORMAL (a commit survives a process crash) or FULL
    /// (also power loss, an fsync per commit); OFF only for throwaway stores.
    #[arg(long, default_value = "NORMAL", global = true)]
    sqlite_synchronous: String,
    /// PostgreSQL `synchronous_commit`: on (a commit is on disk before it is acknowledged),
    /// off (the last commits may be lost on a server crash, never corrupted), local,
    /// remote_write, remote_apply (replicas).
    #[arg(long, default_value = "on", global = true)]
    pg_synchronous_commit: String,
    /// PostgreSQL connections per orchestrator process.
    #[arg(long, default_value_t = 16, global = true)]
    pg_pool_size: u32,
    /// Blobs (scenes, tiles): a folder, or `s3://bucket/prefix` (credentials, region and
    /// endpoint from the AWS environment variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP).
    #[arg(long, env = "TESSERA_BLOBS", default_value = "data/blobs")]
    blobs: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Open node sessions on a plain-HTTP listener that is not loopback (a private network
    /// only: a session key read on the wire works for its whole life). Without it such a
    /// listener answers `POST /v1/sessions` with 403 and nodes sign every request.
    #[arg(long)]
    allow_sessions_over_http: bool,
    #[arg(long, env = "TESSERA_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// The orchestrator keypair (Solana CLI JSON): the network's `orchestrator` key.
    /// Required to serve.
    #[arg(long, env = "TESSERA_KEYPAIR")]
    keypair: Option<PathBuf>,
    /// Share of tiles rendered twice (0..=1).
    #[arg(long, default_value_t = 0.05)]
    verify_share: f64,
    /// Share of a new or low-reputation node's tiles rendered twice (0..=1).
    #[arg(long, default_value_t = 0.25)]
    new_node_share: f64,
    /// Seconds a node holds a tile lease without a heartbeat before it is handed to another.
    #[arg(long, default_value_t = 60)]
    lease_secs: u32,
    /// Signed requests one node key may make per second (burst twice that); 0 = unlimited.
    #[arg(long, default_value_t = 50)]
    rate_per_key: u32,
    /// Requests one client address may make per second (burst twice that); 0 = unlimited.
    #[arg(long, default_value_t = 500)]
    rate_per_addr: u32,
    #[command(flatten)]
    timing: Timing,
}

/// Intervals and limits whose defaults are `Config::new`'s (given here: overridden).
#[derive(clap::Args, Debug)]
struct Timing {
    /// How often the leader re-queues expired leases and forgets old signatures [1000].
    #[arg(long)]
    sweep_ms: Option<u64>,
    /// How often the leader looks for receipts to post or confirm [2000].
    #[arg(long)]
    poster_poll_ms: Option<u64>,
    /// How long a node's on-chain standing is cached (refreshed in batches) [10000].
    #[arg(long)]
    node_cache_ms: Option<u64>,
    /// Seconds a closed job's tile results are kept [604800: 7 days].
    #[arg(long)]
    result_retention_secs: Option<i64>,
    /// How often the leader looks for closed jobs and due results [60000].
    #[arg(long)]
    retention_sweep_ms: Option<u64>,
    /// Seconds an unreferenced blob (a crash or a refused submit left it) is kept before
    /// the leader deletes it [3600].
    #[arg(long)]
    orphan_grace_secs: Option<i64>,
    /// How often the leader lists the blobs for orphans [3600000].
    #[arg(long)]
    orphan_sweep_ms: Option<u64>,
    /// How long a tile waits for its check or tiebreak by a witness of the job (registered
    /// and staked before it) before a node that is none may take it [20000].
    #[arg(long)]
    witness_wait_ms: Option<i64>,
}

impl Timing {
    fn apply(&self, cfg: &mut Config) {
        let set = |to: &mut u64, v: Option<u64>| *to = v.unwrap_or(*to);
        set(&mut cfg.sweep_ms, self.sweep_ms);
        set(&mut cfg.poster_poll_ms, self.poster_poll_ms);
        set(&mut cfg.node_cache_ms, self.node_cache_ms);
        set(&mut cfg.retention_sweep_ms, self.retention_sweep_ms);
        set(&mut cfg.orphan_sweep_ms, self.orphan_sweep_ms);
        if let Some(s) = self.result_retention_secs {
            cfg.result_retention_ms = s.saturating_mul(1000);
        }
        if let Some(s) = self.orphan_grace_secs {
            cfg.orphan_grace_ms = s.saturating_mul(1000);
        }
        if let Some(ms) = self.witness_wait_ms {
            cfg.witness_wait_ms = ms;
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Applies the store's pending migrations and exits (serving applies them on start too).
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let a = Args::parse();
    let mut db = tessera_orchestrator::store::DbConfig::new(a.db.clone());
    db.sqlite_synchronous = a.sqlite_synchronous.clone();
    db.pg_synchronous_commit = a.pg_synchronous_commit.clone();
    db.pg_pool_size = a.pg_pool_size;
    if let Some(Cmd::Migrate) = a.cmd {
        let applied =
            tokio::task::spawn_blocking(move || tessera_orchestrator::store::migrate(&db))
                .await??;
        println!(
            "{} migration(s) applied: {}",
            applied.len(),
            applied.join(", ")
        );
        return Ok(());
    }
    let keypair_path = a
        .keypair
        .clone()
        .context("--keypair is required to serve")?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.verify_share),
        "--verify-share must be within 0..=1"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.new_node_share),
        "--new-node-share must be within 0..=1"
    );
    let bytes: Vec<u8> = serde_json::from_str(
        &std::fs::read_to_string(&keypair_path)
            .with_context(|| format!("reading {}", keypair_path.display()))?,
    )?;
    let keypair = solana_sdk::signature::Keypair::try_from(bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("keypair: {e}"))?;
    let blobs = tessera_orchestrator::blob::Location::parse(&a.blobs)?;
    let mut cfg = Config::new(PathBuf::from(&a.db), blobs, a.rpc_url, keypair);
    if db.is_postgres() {
        cfg.database_url = Some(a.db.clone());
    }
    cfg.sqlite_synchronous = a.sqlite_synchronous;
    cfg.pg_synchronous_commit = a.pg_synchronous_commit;
    cfg.pg_pool_size = a.pg_pool_size;
    cfg.listen = a.listen;
    cfg.tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert, key)| tessera_orchestrator::tls::TlsFiles { cert, key });
    cfg.allow_sessions_over_http = a.allow_sessions_over_http;
    cfg.verify_share = a.verify_share;
    cfg.new_node_share = a.new_node_share;
    cfg.lease_ms = i64::from(a.lease_secs.max(1)) * 1000;
    cfg.rate_per_key = a.rate_per_key;
    cfg.rate_per_addr = a.rate_per_addr;
    a.timing.apply(&mut cfg);
    let orch = Orchestrator::start(cfg).await?;
    println!("listening on {}", orch.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    orch.shutdown().await;
    Ok(())
}
