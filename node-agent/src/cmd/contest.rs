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
        } => format!(
            "contest upheld: owed {owed} base units, paid the shortfall {paid} (tx {signature})"
        ),
        ContestOutcome::AlreadyResolved { owed, paid } => {
            format!("contest resolved before: owed {owed}, shortfall paid {paid}")
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
