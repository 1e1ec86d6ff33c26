//! Whether a node key may work here: a `Node` account on-chain and active stake at least
//! the network's `min_stake`, cached per instance for `node_cache_ms`, refusals included.
//!
//! RPC load: a miss reads the network account and the node's together (one
//! `getMultipleAccounts` call). Nodes that keep making requests are then re-read in the
//! background, all of them and the network account in one call per 100 accounts, shortly
//! before their entries expire, so an active node costs about `1/100` of a call per
//! `node_cache_ms` instead of two calls (README, "Chain RPC load per node"). An entry not
//! used since it was read is left to expire.
//!
//! The cache is per instance and needs no sharing: it holds chain state, which every
//! instance reads from the same chain, and no instance writes it; a change on-chain (an
//! unstake, a registration) reaches every instance within `node_cache_ms`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use solana_sdk::pubkey::Pubkey;
use tessera_sdk::{Network, Node};
use tokio::sync::watch;
use tracing::warn;

use crate::api::AppState;
use crate::auth::NodeInfo;
use crate::chain::Chain;
use crate::error::{ApiError, ApiResult};

/// Why a key may not work here (cached like a standing).
#[derive(Clone, Debug)]
enum Refusal {
    NotRegistered,
    Stake { stake: u64, min: u64 },
}

impl Refusal {
    fn error(&self, key: &Pubkey) -> ApiError {
        match self {
            Refusal::NotRegistered => ApiError::NodeNotRegistered(key.to_string()),
            Refusal::Stake { stake, min } => ApiError::InsufficientStake {
                stake: *stake,
                min: *min,
            },
        }
    }
}

type Standing = Result<NodeInfo, Refusal>;

struct Entry {
    /// When the chain was read for it.
    read: Instant,
    /// When a request last asked for it.
    used: Instant,
    standing: Standing,
}

/// Chain standing of nodes, good and bad.
#[derive(Default)]
pub struct NodeCache {
    entries: Mutex<HashMap<Pubkey, Entry>>,
}

fn ttl(state: &AppState) -> Duration {
    Duration::from_millis(state.cfg.node_cache_ms.max(1))
}

fn no_network() -> ApiError {
    ApiError::Conflict("the network is not initialised on-chain".into())
}

/// The standing of `key` given its `Node` account and the network.
fn judge(key: &Pubkey, node: Option<Node>, network: &Network) -> Standing {
    let node = match node {
        Some(n) if n.node_key == *key => n,
        _ => return Err(Refusal::NotRegistered),
    };
    let stake = node.active_stake();
    if stake < network.min_stake {
        return Err(Refusal::Stake {
            stake,
            min: network.min_stake,
        });
    }
    Ok(NodeInfo {
        benchmark_score: node.benchmark_score,
        operator: node.operator,
    })
}

impl NodeCache {
    /// The standing of `key`: from the cache, or one RPC call.
    pub async fn check(&self, state: &AppState, key: &Pubkey) -> ApiResult<NodeInfo> {
        {
            let mut entries = self.entries.lock().expect("cache");
            if let Some(e) = entries.get_mut(key) {
                if e.read.elapsed() < ttl(state) {
                    e.used = Instant::now();
                    return e.standing.clone().map_err(|why| why.error(key));
                }
            }
        }
        state.metrics.chain_lookups.inc_by(Chain::calls_for(1));
        let (network, mut nodes) = state.chain.standings(&[*key]).await?;
        let network = network.ok_or_else(no_network)?;
        let standing = judge(key, nodes.pop().flatten(), &network);
        let now = Instant::now();
        self.entries.lock().expect("cache").insert(
            *key,
            Entry {
                read: now,
                used: now,
                standing: standing.clone(),
            },
        );
        standing.map_err(|why| why.error(key))
    }

    /// Drops expired entries and, once an entry in use is within a quarter of
    /// `node_cache_ms` of expiring, re-reads every entry used since its last read (and not
    /// read in the last quarter) in batched calls; the keys re-read.
    async fn refresh(&self, state: &AppState) -> ApiResult<usize> {
        let ttl = ttl(state);
        let keys: Vec<Pubkey> = {
            let mut entries = self.entries.lock().expect("cache");
            entries.retain(|_, e| e.read.elapsed() < ttl);
            let active = |e: &Entry| e.used > e.read;
            let due = entries
                .values()
                .any(|e| active(e) && e.read.elapsed() >= ttl * 3 / 4);
            if !due {
                return Ok(0);
            }
            entries
                .iter()
                .filter(|(_, e)| active(e) && e.read.elapsed() >= ttl / 4)
                .map(|(k, _)| *k)
                .collect()
        };
        state
            .metrics
            .chain_lookups
            .inc_by(Chain::calls_for(keys.len()));
        let (network, nodes) = state.chain.standings(&keys).await?;
        let network = network.ok_or_else(no_network)?;
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("cache");
        for (key, node) in keys.iter().zip(nodes) {
            if let Some(e) = entries.get_mut(key) {
                e.read = now;
                e.standing = judge(key, node, &network);
            }
        }
        Ok(keys.len())
    }
}

/// Every quarter of `node_cache_ms`, on every instance (each has its own cache): the
/// batched refresh.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let tick = (ttl(&state) / 4).max(Duration::from_millis(25));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = state.nodes.refresh(&state).await {
            warn!(error = %e, "refreshing node standings failed; they are read again on use");
        }
    }
}
