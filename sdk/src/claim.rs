//! Claiming a node's payout: the one workflow the `tessera node claim` command and
//! `node-agent run`'s automatic claims share.
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::client::{ChainClient, ChainError};
use crate::{ix, pda, Claim, Job, JobState, Node};

/// One leaf of a job's payout tree with its proof (from the job's manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutLeaf {
    pub node: Pubkey,
    pub amount: u64,
    pub tiles: u32,
    pub proof: Vec<[u8; 32]>,
}

/// What a claim attempt found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Paid now: (transaction, tokens paid to the operator).
    Claimed { signature: Signature, paid: u64 },
    /// A claim record exists already: what it paid.
    AlreadyClaimed { paid: u64 },
    /// The job is not settled yet (its state).
    NotSettled(JobState),
    /// The job account is gone (closed: after the claim grace period nothing is claimable).
    JobClosed,
}

/// Claims `leaf` of job `job_id` for its node, paying the node operator's associated token
/// account (created when missing). `payer` pays fees and the claim record's rent; anyone may.
pub async fn claim_payout(
    chain: &ChainClient,
    payer: &Keypair,
    job_id: u64,
    leaf: &PayoutLeaf,
) -> Result<ClaimOutcome, ChainError> {
    let job_key = pda::job(job_id);
    let Some(job) = chain.get_anchor_account::<Job>(&job_key).await? else {
        return Ok(ClaimOutcome::JobClosed);
    };
    if let Some(claim) = chain
        .get_anchor_account::<Claim>(&pda::claim(&job_key, &leaf.node))
        .await?
    {
        return Ok(ClaimOutcome::AlreadyClaimed { paid: claim.paid });
    }
    if !matches!(job.state, JobState::Settled | JobState::Resolved) {
        return Ok(ClaimOutcome::NotSettled(job.state));
    }
    let node: Node = chain
        .get_anchor_account(&pda::node(&leaf.node))
        .await?
        .ok_or_else(|| ChainError::Unexpected(format!("node {} is not registered", leaf.node)))?;
    let vault = chain.rpc().get_account(&pda::job_vault(&job_key)).await?;
    let mint = crate::token::account_mint(&vault.data)
        .ok_or_else(|| ChainError::Unexpected("the job vault does not decode".into()))?;
    let operator_token = crate::token::associated_account(&node.operator, &mint);
    let ixs = [
        crate::token::create_associated_account(&payer.pubkey(), &node.operator, &mint),
        ix::claim_payout(
            &payer.pubkey(),
            job_id,
            &leaf.node,
            &operator_token,
            leaf.amount,
            leaf.tiles,
            leaf.proof.clone(),
        ),
    ];
    let signature = chain.send_instructions(payer, &ixs, &[]).await?;
    // The claim record says what the program paid (the leaf times the job's payout share);
    // a balance difference would also count any other transfer landing meanwhile.
    let claim: Claim = chain
        .get_anchor_account(&pda::claim(&job_key, &leaf.node))
        .await?
        .ok_or_else(|| {
            ChainError::Unexpected("the claim record is missing after the claim".into())
        })?;
    Ok(ClaimOutcome::Claimed {
        signature,
        paid: claim.paid,
    })
}

impl PayoutLeaf {
    /// `node`'s leaf in a job's manifest, if it was paid anything.
    pub fn from_manifest(
        manifest: &crate::manifest::Manifest,
        node: &Pubkey,
    ) -> Result<Option<PayoutLeaf>, crate::manifest::ManifestError> {
        let Some(p) = manifest.payout_for(node) else {
            return Ok(None);
        };
        Ok(Some(PayoutLeaf {
            node: *node,
            amount: p.amount,
            tiles: p.tiles,
            proof: p.proof()?.unwrap_or_default(),
        }))
    }
}
