//! Automatic contests for `node-agent run`: once a job's receipt is on-chain, and before its
//! challenge window closes, the node checks its payout leaf against the tile leaves that
//! credit its key in the manifest (rebuilt against the on-chain tile root) and, when the leaf
//! is short, proves it on-chain (`tessera_sdk::contest`) and is paid the difference. Renders
//! the orchestrator acknowledged (the node's journal) that the receipt credits to another key
//! or hash count too (`prove_ack`).
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::client::ChainClient;
use tessera_sdk::contest::{contest, plan_with_acks, Acknowledged, ContestOutcome};
use tessera_sdk::manifest::Manifest;
use tessera_sdk::{pda, Job, JobState};

/// Where a job stands for this node's contest.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// No receipt yet: look again later.
    Waiting,
    /// Nothing (more) to do: paid in full, contested, or too late to contest.
    Done(String),
}

/// Checks job `job_id` (its account as just read, `None` when closed) for `key` and contests
/// a short payout leaf.
pub async fn check(
    chain: &ChainClient,
    http: &reqwest::Client,
    orchestrator: &str,
    key: &Keypair,
    job_id: u64,
    job: Option<&Job>,
    acks_dir: Option<&std::path::Path>,
) -> anyhow::Result<Checked> {
    let job_key = pda::job(job_id);
    let Some(job) = job else {
        return Ok(Checked::Done("the job is closed".into()));
    };
    if matches!(job.state, JobState::Open | JobState::CancelRequested) {
        return Ok(Checked::Waiting);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    if now >= job.challenge_ends_at {
        return Ok(Checked::Done("the contest window has closed".into()));
    }
    let manifest: Manifest = http
        .get(format!("{orchestrator}/v1/jobs/{job_id}/manifest"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let acked = match acks_dir {
        Some(dir) => acknowledged(dir, key, job_id)?,
        None => Vec::new(),
    };
    let Some(case) = plan_with_acks(&job_key, job, &manifest, &key.pubkey(), &acked)? else {
        return Ok(Checked::Done(
            "the payout leaf pays every render the receipt credits".into(),
        ));
    };
    let acked = match case.acks.len() {
        0 => String::new(),
        n => format!(" and {n} acknowledged renders it credits to other keys"),
    };
    eprintln!(
        "job {job_id}: the receipt credits {} renders{acked} (worth {} base units) but pays {}; contesting",
        case.leaves.len(),
        case.owed,
        case.paid
    );
    let said = match contest(chain, key, job_id, &case).await? {
        ContestOutcome::Upheld {
            signature,
            owed,
            paid,
            paid_from_bond,
        } => format!(
            "contest upheld: owed {owed} base units, shortfall paid {paid} from the job and {paid_from_bond} from the orchestrator's bond (tx {signature})"
        ),
        ContestOutcome::AlreadyResolved {
            owed,
            paid,
            paid_from_bond,
        } => {
            format!("contest resolved before: owed {owed}, shortfall paid {paid} from the job and {paid_from_bond} from the bond")
        }
    };
    Ok(Checked::Done(said))
}

/// The node's journaled acknowledgements of job `job_id` (entries that do not decode are
/// skipped: they prove nothing).
fn acknowledged(
    dir: &std::path::Path,
    key: &Keypair,
    job_id: u64,
) -> anyhow::Result<Vec<Acknowledged>> {
    let entries = super::acks::read(dir, Some(&key.pubkey()))?;
    Ok(entries
        .iter()
        .filter(|e| e.job_id == job_id)
        .filter_map(|e| {
            let signature: solana_sdk::signature::Signature = e.ack.parse().ok()?;
            Some(Acknowledged {
                frame: e.frame,
                tile: e.tile,
                pixel_hash: tessera_sdk::hex::decode32(&e.pixel_hash)?,
                signature: signature.as_ref().try_into().ok()?,
            })
        })
        .collect())
}

/// `node-agent acks contest`: the contest of one job, filed by hand.
#[derive(clap::Args, Debug)]
pub struct AckContestArgs {
    /// The agent's data directory (holds `acks-<node key>.jsonl`).
    #[arg(long, env = "TESSERA_NODE_DATA", default_value = "data/node")]
    pub data_dir: std::path::PathBuf,
    /// Node keypair (Solana CLI JSON): it signs and pays the contest.
    #[arg(long, env = "TESSERA_NODE_KEYPAIR")]
    pub keypair: std::path::PathBuf,
    /// JSON-RPC URL of the chain.
    #[arg(long, env = "TESSERA_RPC_URL", default_value = "http://127.0.0.1:8899")]
    pub url: String,
    /// The job's id.
    #[arg(long)]
    pub job: u64,
    /// The acknowledged tile's frame (the contest covers every render the job owes).
    #[arg(long)]
    pub frame: u32,
    /// The acknowledged tile's index in its frame.
    #[arg(long)]
    pub tile: u32,
    /// The orchestrator's base URL, instead of the one journaled with the render.
    #[arg(long)]
    pub orchestrator: Option<String>,
}

pub fn run_ack_contest(args: AckContestArgs) -> anyhow::Result<()> {
    let key = tessera_sdk::keys::read_keypair(&args.keypair)?;
    let entries = super::acks::read(&args.data_dir, Some(&key.pubkey()))?;
    let Some(entry) = entries
        .iter()
        .find(|e| (e.job_id, e.frame, e.tile) == (args.job, args.frame, args.tile))
    else {
        anyhow::bail!(
            "no acknowledgement of job {} frame {} tile {} for node {} in {}",
            args.job,
            args.frame,
            args.tile,
            key.pubkey(),
            args.data_dir.display()
        );
    };
    let orchestrator = args
        .orchestrator
        .clone()
        .unwrap_or_else(|| entry.url.clone());
    let rt = tokio::runtime::Runtime::new()?;
    let chain = ChainClient::new(
        args.url.clone(),
        solana_commitment_config::CommitmentConfig::confirmed(),
    );
    let http = reqwest::Client::new();
    let said = rt.block_on(async {
        let job: Option<Job> = chain.get_anchor_account(&pda::job(args.job)).await?;
        check(
            &chain,
            &http,
            orchestrator.trim_end_matches('/'),
            &key,
            args.job,
            job.as_ref(),
            Some(&args.data_dir),
        )
        .await
    })?;
    match said {
        Checked::Waiting => println!(
            "job {}: no receipt on-chain yet; nothing to contest",
            args.job
        ),
        Checked::Done(what) => println!("job {}: {what}", args.job),
    }
    Ok(())
}
