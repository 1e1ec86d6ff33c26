//! Automatic claims for `node-agent run`: every job the node leased a tile of is checked
//! on-chain now and then; once it is settled, the node's payout leaf is claimed with its
//! proof from the manifest (`tessera_sdk::claim`, the same workflow as `tessera node claim`).
//! The node key pays the fee and the claim record's rent; the tokens go to the operator.
//! Before that, once the receipt lands and while its window is open, the node's payout leaf
//! is checked against the tile leaves crediting it and contested when short (`contest`).
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use solana_commitment_config::CommitmentConfig;
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::claim::{claim_payout, ClaimOutcome, PayoutLeaf};
use tessera_sdk::client::ChainClient;
use tessera_sdk::manifest::Manifest;

/// How often pending jobs are looked at.
const EVERY: Duration = Duration::from_secs(5);

pub struct AutoClaim {
    chain: ChainClient,
    http: reqwest::Client,
    orchestrator: String,
    payer: Keypair,
    pending: BTreeSet<u64>,
    /// Jobs whose payout leaf has been checked (and contested if short) after the receipt.
    checked: BTreeSet<u64>,
    last: Option<Instant>,
    /// Whether the orchestrator was asked which jobs credit this node (done once, so a
    /// restarted agent still claims for jobs it worked on before the restart).
    discovered: bool,
    /// Where the node's journal of acknowledgements lives: its acknowledged renders that the
    /// receipt credits elsewhere count in its contest (`prove_ack`).
    acks_dir: Option<std::path::PathBuf>,
}

impl AutoClaim {
    pub fn new(rpc_url: &str, orchestrator: &str, node_key: &Keypair) -> AutoClaim {
        AutoClaim {
            chain: ChainClient::new(rpc_url.to_string(), CommitmentConfig::confirmed()),
            http: reqwest::Client::new(),
            orchestrator: orchestrator.trim_end_matches('/').to_string(),
            payer: node_key.insecure_clone(),
            pending: BTreeSet::new(),
            checked: BTreeSet::new(),
            last: None,
            discovered: false,
            acks_dir: None,
        }
    }

    /// Uses `http` for the orchestrator (the agent's client: its CA, its timeouts).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Contests also count the acknowledged renders journaled in `dir`.
    pub fn with_acks(mut self, dir: &std::path::Path) -> AutoClaim {
        self.acks_dir = Some(dir.to_path_buf());
        self
    }

    pub fn worked_on(&mut self, job_id: u64) {
        self.pending.insert(job_id);
    }

    /// Claims what has settled since the last look (at most every few seconds).
    pub async fn tick(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        if !self.discovered {
            match self.credited_jobs().await {
                Ok(jobs) => {
                    self.pending.extend(jobs);
                    self.discovered = true;
                }
                Err(e) => eprintln!("claims: asking the orchestrator for this node's jobs: {e:#}"),
            }
        }
        // Every pending job's account in one `getMultipleAccounts` call, not a read each.
        let pending: Vec<u64> = self.pending.iter().copied().collect();
        let keys: Vec<_> = pending
            .iter()
            .map(|id| tessera_sdk::pda::job(*id))
            .collect();
        let jobs = match self.chain.get_anchor_accounts(&keys).await {
            Ok(jobs) => jobs,
            Err(e) => {
                eprintln!("claims: reading pending jobs: {e:#}");
                return;
            }
        };
        for (job_id, job) in pending.into_iter().zip(jobs) {
            if !self.checked.contains(&job_id) {
                self.check_pay(job_id, job.as_ref()).await;
            }
            match self.try_claim(job_id, job).await {
                Ok(true) => {
                    self.pending.remove(&job_id);
                }
                Ok(false) => {}
                Err(e) => eprintln!("claim job {job_id}: {e:#}"),
            }
        }
    }

    /// Contests the job's receipt if it pays this node short; once per job after the receipt.
    async fn check_pay(&mut self, job_id: u64, job: Option<&tessera_sdk::Job>) {
        let checked = super::contest::check(
            &self.chain,
            &self.http,
            &self.orchestrator,
            &self.payer,
            job_id,
            job,
            self.acks_dir.as_deref(),
        )
        .await;
        match checked {
            Ok(super::contest::Checked::Waiting) => {}
            Ok(super::contest::Checked::Done(what)) => {
                eprintln!("job {job_id}: {what}");
                self.checked.insert(job_id);
            }
            Err(e) => eprintln!("contest check of job {job_id}: {e:#}"),
        }
    }

    /// `units` in the network token's decimals (base units if the mint cannot be read).
    async fn tokens(&self, units: u64) -> String {
        let decimals = async {
            let network: tessera_sdk::Network = self
                .chain
                .get_anchor_account(&tessera_sdk::pda::network())
                .await
                .ok()??;
            let mint = self.chain.rpc().get_account(&network.mint).await.ok()?;
            tessera_sdk::token::mint_decimals(&mint.data)
        };
        match decimals.await {
            Some(d) => tessera_sdk::token::format_amount(units, d),
            None => format!("{units} base units of"),
        }
    }

    /// Jobs in which the orchestrator credits this node with accepted tiles.
    async fn credited_jobs(&self) -> anyhow::Result<Vec<u64>> {
        let standing: tessera_sdk::standing::NodeStanding = self
            .http
            .get(format!(
                "{}/v1/nodes/{}",
                self.orchestrator,
                self.payer.pubkey()
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(standing.job_ids())
    }

    /// `true` when nothing is left to do for the job (`job`: its account as just read).
    async fn try_claim(&self, job_id: u64, job: Option<tessera_sdk::Job>) -> anyhow::Result<bool> {
        let Some(job) = job else {
            return Ok(true);
        };
        if !matches!(
            job.state,
            tessera_sdk::JobState::Settled | tessera_sdk::JobState::Resolved
        ) {
            return Ok(false);
        }
        let manifest: Manifest = self
            .http
            .get(format!("{}/v1/jobs/{job_id}/manifest", self.orchestrator))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(leaf) = PayoutLeaf::from_manifest(&manifest, &self.payer.pubkey())? else {
            eprintln!("job {job_id} settled; this node has no payout in it");
            return Ok(true);
        };
        match claim_payout(&self.chain, &self.payer, job_id, &leaf).await? {
            ClaimOutcome::Claimed { signature, paid } => eprintln!(
                "job {job_id} settled: earned {} tokens for {} tiles (tx {signature})",
                self.tokens(paid).await,
                leaf.tiles
            ),
            ClaimOutcome::AlreadyClaimed { paid } => {
                eprintln!(
                    "job {job_id}: already claimed ({} tokens)",
                    self.tokens(paid).await
                )
            }
            ClaimOutcome::NotSettled(_) => return Ok(false),
            ClaimOutcome::JobClosed => {}
        }
        Ok(true)
    }
}
