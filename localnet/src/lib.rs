//! `tessera-localnet`: a development chain serving Solana JSON-RPC over loopback HTTP,
//! backed by a real Agave bank with the Tessera program (native) and SPL Token (SBF).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let net = tessera_localnet::Localnet::start(tessera_localnet::Config::ephemeral()?).await?;
//! println!("{}", net.url());
//! net.shutdown().await;
//! # Ok(()) }
//! ```
#![allow(deprecated)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use tokio::sync::watch;

pub mod bank;
pub mod rpc;
pub mod server;
pub mod store;
pub mod token;

pub use rpc::dev::ADVANCE_CLOCK;

/// Where the chain keeps its state and where it listens.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// Keeps a temporary data dir alive for as long as the config (tests).
    pub _temp: Option<std::sync::Arc<TempDirGuard>>,
}

/// Removes a temporary data directory on drop.
#[derive(Debug)]
pub struct TempDirGuard(PathBuf);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>, bind: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind,
            _temp: None,
        }
    }

    /// A fresh temporary data directory and a free loopback port (tests, benches).
    pub fn ephemeral() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "tessera-localnet-{}-{}",
            std::process::id(),
            Pubkey::new_unique()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            data_dir: dir.clone(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            _temp: Some(std::sync::Arc::new(TempDirGuard(dir))),
        })
    }
}

/// Loads `<dir>/faucet.json` (Solana CLI keypair format) or creates it.
pub fn load_or_create_faucet(dir: &Path) -> anyhow::Result<Keypair> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("faucet.json");
    if path.exists() {
        let bytes: Vec<u8> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        return Keypair::try_from(bytes.as_slice()).map_err(|e| anyhow::anyhow!("{path:?}: {e}"));
    }
    let keypair = Keypair::new();
    let json = serde_json::to_string(&keypair.to_bytes().to_vec())?;
    let tmp = dir.join("faucet.json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(keypair)
}

/// A running chain. Dropping it stops the server; `shutdown` also waits for the bank thread.
pub struct Localnet {
    url: String,
    faucet: Keypair,
    faucet_path: PathBuf,
    bank: bank::BankHandle,
    stop: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    bank_thread: Option<std::thread::JoinHandle<()>>,
    _config: Config,
}

impl Localnet {
    /// Opens the data dir, starts the bank thread and the HTTP server.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let faucet = load_or_create_faucet(&config.data_dir)?;
        let store = store::Store::open(&config.data_dir)?;
        let data_dir = config.data_dir.clone();
        let faucet_for_bank = faucet.insecure_clone();
        let (bank, bank_thread) =
            tokio::task::spawn_blocking(move || bank::spawn(store, faucet_for_bank)).await??;
        let io = rpc::handler(rpc::Ctx { bank: bank.clone() });
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let app = server::router(io);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%e, "rpc server failed");
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            faucet,
            faucet_path: data_dir.join("faucet.json"),
            bank,
            stop,
            server: Some(server),
            bank_thread: Some(bank_thread),
            _config: config,
        })
    }

    /// The JSON-RPC URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The funded faucet keypair (also in `<data_dir>/faucet.json`).
    pub fn faucet(&self) -> &Keypair {
        &self.faucet
    }

    pub fn faucet_path(&self) -> &Path {
        &self.faucet_path
    }

    /// The Tessera program id served natively.
    pub fn program_id(&self) -> Pubkey {
        tessera::ID
    }

    /// Stops the server, then the bank thread, and waits for both.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.bank.stop();
        if let Some(thread) = self.bank_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.bank.stop();
    }
}
