//! Automatic contests for `node-agent run`: once a job's receipt is on-chain, and before its
//! challenge window closes, the node checks its payout leaf against the tile leaves that
//! credit its key in the manifest (rebuilt against the on-chain tile root) and, when the leaf
//! is short, proves it on-chain (`tessera_sdk::contest`) and is paid the difference.
use solana_sdk::signature::{Keypair, Signer};
use tessera_sdk::client::ChainClient;
use tessera_sdk::contest::{contest, plan, ContestOutcome};
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
    let Some(case) = plan(&job_key, job, &manifest, &key.pubkey())? else {
        return Ok(Checked::Done(
            "the payout leaf pays every render the receipt credits".into(),
        ));
    };
    eprintln!(
        "job {job_id}: the receipt credits {} renders (worth {} base units) but pays {}; contesting",
        case.leaves.len(),
        case.owed,
        case.paid
    );
    let said = match contest(chain, key, job_id, &case).await? {
        ContestOutcome::Upheld {
            signature,
            owed,
            paid,
        } => format!(
            "contest upheld: owed {owed} base units, paid the shortfall {paid} (tx {signature})"
        ),
        ContestOutcome::AlreadyResolved { owed, paid } => {
            format!("contest resolved before: owed {owed}, shortfall paid {paid}")
        }
    };
    Ok(Checked::Done(said))
}
