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
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use solana_sdk::pubkey::Pubkey;
use tessera_sdk::{Job, Network, Node};
use tokio::sync::watch;
use tracing::warn;

use crate::api::AppState;
use crate::auth::NodeInfo;
use crate::chain::Chain;
use crate::error::{ApiError, ApiResult};
use crate::scheduler::Verifies;

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

/// Chain standing of nodes, good and bad, and the on-chain jobs their witness rule
/// reads.
#[derive(Default)]
pub struct NodeCache {
    entries: Mutex<HashMap<Pubkey, Entry>>,
    jobs: Arc<JobTerms>,
}

/// On-chain `Job` accounts by id, read once: the witness rule reads only `created_at` and
/// `slash_amount`, which never change. `missing`: jobs a lease asked about before they
/// were read (read before the next lease, or by the refresh loop).
#[derive(Default)]
struct JobTerms {
    read: Mutex<HashMap<u64, Arc<Job>>>,
    missing: Mutex<HashSet<u64>>,
    /// Set once the store's running jobs were queued for reading (the first lease after a
    /// start): a restarted instance does not pass over their checks once each.
    primed: tokio::sync::OnceCell<()>,
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
        account: Arc::new(node),
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

    /// Keeps an on-chain job read elsewhere (job registration) for the witness rule.
    pub fn remember_job(&self, job: &Job) {
        let mut read = self.jobs.read.lock().expect("jobs");
        read.insert(job.job_id, Arc::new(job.clone()));
    }

    /// Which jobs `info`'s node may give second renders of: those it qualifies as a
    /// witness of on-chain (`Node::witness_refusal`). A job not read yet counts as one it
    /// does not qualify for (its checks wait for another node or the next lease) and is
    /// read before the next lease.
    pub async fn verifies(&self, state: &AppState, info: &NodeInfo) -> Verifies {
        self.jobs
            .primed
            .get_or_init(|| self.queue_running(state))
            .await;
        self.read_missing_jobs(state).await;
        let (jobs, node) = (self.jobs.clone(), info.account.clone());
        Verifies::new(move |row| {
            let job = jobs.read.lock().expect("jobs").get(&row.job_id).cloned();
            match job {
                Some(job) => node.witness_refusal(&job).is_none(),
                None => {
                    jobs.missing.lock().expect("jobs").insert(row.job_id);
                    false
                }
            }
        })
    }

    /// Queues the store's running jobs for reading.
    async fn queue_running(&self, state: &AppState) {
        match state
            .store
            .jobs_in_state(crate::store::job_state::RENDERING)
            .await
        {
            Ok(jobs) => {
                let read = self.jobs.read.lock().expect("jobs");
                let unread = jobs
                    .iter()
                    .map(|j| j.job_id)
                    .filter(|id| !read.contains_key(id));
                self.jobs.missing.lock().expect("jobs").extend(unread);
            }
            Err(e) => warn!(error = %e, "listing running jobs for the witness rule failed"),
        }
    }

    /// Reads the jobs a lease asked about that were not read yet (one call each; once per
    /// job and instance). A failed read is tried again on the next lease.
    async fn read_missing_jobs(&self, state: &AppState) {
        let missing: Vec<u64> = {
            let mut m = self.jobs.missing.lock().expect("jobs");
            if m.is_empty() {
                return;
            }
            m.drain().collect()
        };
        for id in missing {
            state.metrics.chain_lookups.inc();
            match state.chain.job(id).await {
                Ok(Some(job)) => self.remember_job(&job),
                // Not on-chain (any more): it stays unqualified, and is not asked again.
                Ok(None) => {}
                Err(e) => {
                    warn!(job_id = id, error = %e, "reading a job for the witness rule failed");
                    self.jobs.missing.lock().expect("jobs").insert(id);
                }
            }
        }
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
        state.nodes.read_missing_jobs(&state).await;
        if let Err(e) = state.nodes.refresh(&state).await {
            warn!(error = %e, "refreshing node standings failed; they are read again on use");
        }
    }
}
