//! Posting a job's receipt on-chain, exactly once, across crashes.
//!
//! 1. When every tile is verified the job becomes `ready`. When the artist asks to cancel
//!    (`CancelRequested` on-chain) or the deadline passes first, the job becomes `partial`:
//!    leasing stops and the receipt covers the tiles verified so far, so the nodes are paid
//!    for them (the program accepts it within the job's settle grace). A check or tiebreak
//!    render stored but not yet compared by the background verifier is compared first
//!    (`verifier::settle_job`): paid if it agreed, its tile left out if it did not.
//! 2. The poster builds the receipt (tile tree: each tile's accepted render as its primary
//!    leaf, and every check or tiebreak render that agreed with it as a leaf of its own node,
//!    up to the job's verification share; payout tree: `price_per_tile` per leaf, nothing
//!    withheld), signs `post_receipt`, and **commits the signed transaction to the store
//!    (`posting`) before sending it**, durably (fsync / synchronous commit of that transaction
//!    whatever the store's setting, so the tile verifications committed before it are flushed
//!    too).
//! 3. It sends and polls the signature. On restart a `posting` job is resumed: if the job
//!    account already holds our tile root the receipt landed (`posted`); otherwise the same
//!    signed bytes are re-sent while their blockhash is valid (a signature lands at most once),
//!    and only once that blockhash has expired, so the old transaction can never land, is a
//!    fresh one signed and persisted.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};
use solana_sdk::transaction::Transaction;
use tessera_sdk::merkle::TileRole;
use tessera_sdk::receipt::{max_verification_renders, JobShape, Receipt, RenderRecord, TileRecord};
use tessera_sdk::{ix, pda, JobState};
use tracing::{info, warn, Instrument};

use crate::api::AppState;
use crate::error::StoreError;
use crate::store::{self, job_state, JobRow, PaidVerification, TileRow};

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chain(#[from] crate::error::ChainError),
    #[error("receipt: {0}")]
    Receipt(String),
}

pub use tessera_sdk::hex::{decode32 as hex32, encode as hex};

/// The job's receipt shape as the stored row (read from the chain at registration) describes
/// it, with the job's verification share (its on-chain copy of the network's).
pub fn job_shape(row: &JobRow) -> JobShape {
    JobShape {
        frame_start: row.frame_start,
        frame_end: row.frame_end,
        width: row.width,
        height: row.height,
        tile_size: row.tile_size,
        price_per_tile: row.price_per_tile,
        verify_bps: row.verify_bps,
    }
}

/// The check and tiebreak renders to pay: every agreeing one of a tile in the receipt,
/// tiebreaks first, then by (frame, tile), up to the job's share of the receipt's tiles; any
/// beyond it are left unpaid (and logged), since the program refuses a receipt that pays more.
fn verifications(
    rows: &[PaidVerification],
    tiles: &[TileRecord],
    verify_bps: u16,
) -> Result<Vec<RenderRecord>, PostError> {
    let max = max_verification_renders(tiles.len() as u64, verify_bps) as usize;
    let mut out = Vec::with_capacity(rows.len().min(max));
    for v in rows {
        let role = match v.role.as_str() {
            "check" => TileRole::Check,
            _ => TileRole::Tiebreak,
        };
        let node = Pubkey::from_str(&v.node).ok();
        let hash = hex32(&v.pixel_hash);
        let (Some(node), Some(pixel_hash)) = (node, hash) else {
            return Err(PostError::Receipt(format!(
                "verification of tile {}/{} has no node or hash",
                v.frame, v.tile
            )));
        };
        out.push(RenderRecord {
            frame: v.frame,
            tile: v.tile,
            role,
            node,
            pixel_hash,
        });
    }
    // Tiebreaks first: a tile had one only when its renders disagreed, and the agreeing
    // tiebreak's leaf is the second witness a slash of the convicted node needs on-chain.
    out.sort_by_key(|r| r.role != TileRole::Tiebreak);
    out.truncate(max);
    Ok(out)
}

/// Builds the receipt from the store's verified tiles: every tile of a finished job, or those
/// verified before a cancel request or the deadline stopped it.
pub async fn build(state: &AppState, row: &JobRow) -> Result<Receipt, PostError> {
    let tiles = state.store.tiles_of_job(row.job_id).await?;
    let paid = state.store.paid_verifications(row.job_id).await?;
    let receipt = build_from(state, row, &tiles, &paid)?;
    // Logged where the receipt is built for posting, not on every manifest request. The
    // sampler keeps a full receipt within the share (`verify::room_for_check`); a partial
    // one pays the share of its own tiles, which can be less.
    let unpaid = paid.len().saturating_sub(receipt.verifications.len());
    if unpaid > 0 {
        warn!(
            job_id = row.job_id,
            renders = paid.len(),
            unpaid,
            "more verification renders than the job pays; the last ones are unpaid"
        );
    }
    Ok(receipt)
}

/// [`build`] from the job's tiles and agreeing verification renders already read (the
/// manifest serves those rows too).
pub fn build_from(
    state: &AppState,
    row: &JobRow,
    tiles: &[TileRow],
    paid: &[PaidVerification],
) -> Result<Receipt, PostError> {
    let id = row.job_id;
    let mut records = Vec::with_capacity(tiles.len());
    for t in tiles
        .iter()
        .filter(|t| t.state == store::tile_state::VERIFIED)
    {
        let node = t.node.as_deref().and_then(|n| Pubkey::from_str(n).ok());
        let hash = t.pixel_hash.as_deref().and_then(hex32);
        let (Some(node), Some(pixel_hash)) = (node, hash) else {
            return Err(PostError::Receipt(format!(
                "tile {}/{} has no node or hash",
                t.frame, t.tile
            )));
        };
        records.push(TileRecord {
            frame: t.frame,
            tile: t.tile,
            node,
            pixel_hash,
        });
    }
    if records.is_empty() {
        return Err(PostError::Receipt("no tile has been verified".into()));
    }
    let paid = verifications(paid, &records, row.verify_bps)?;
    let receipt = Receipt::build_with(&pda::job(id), job_shape(row), records, paid, true)
        .map_err(|e| PostError::Receipt(e.to_string()))?;
    short_pay(receipt, state.cfg.short_pay_renders, row.price_per_tile)
}

/// The test hook `short_pay_renders`: the first payout leaf counts that many renders fewer.
fn short_pay(receipt: Receipt, renders: u32, price: u64) -> Result<Receipt, PostError> {
    if renders == 0 {
        return Ok(receipt);
    }
    let mut payouts = receipt.payouts.clone();
    let first = &mut payouts[0];
    first.tiles = first.tiles.saturating_sub(renders);
    first.amount = price.saturating_mul(first.tiles as u64);
    receipt
        .with_payouts(payouts)
        .map_err(|e| PostError::Receipt(e.to_string()))
}

/// The manifest's entries of the verification renders `receipt` pays, with their proofs.
pub fn manifest_verifications(
    paid: &[PaidVerification],
    receipt: &Receipt,
) -> Vec<tessera_sdk::manifest::ManifestTile> {
    let signatures: std::collections::BTreeMap<(u32, u32, &str), &str> = paid
        .iter()
        .map(|v| ((v.frame, v.tile, v.node.as_str()), v.signature.as_str()))
        .collect();
    receipt
        .verifications
        .iter()
        .map(|v| tessera_sdk::manifest::ManifestTile {
            frame: v.frame,
            tile: v.tile,
            node: v.node.to_string(),
            pixel_hash: hex(&v.pixel_hash),
            signature: signatures
                .get(&(v.frame, v.tile, v.node.to_string().as_str()))
                .map(|s| s.to_string())
                .unwrap_or_default(),
            blob: None,
            missing: None,
            proof: receipt
                .render_proof(v)
                .map(|p| p.iter().map(|h| hex(h)).collect()),
            role: Some(v.role.name().to_string()),
        })
        .collect()
}

/// The nodes whose stake the receipt locks until the job's slash window ends: every node
/// convicted of a wrong tile in the job (its evidence rows; they are what `slash_node` will
/// take stake from, and their tiles are not in the receipt) first, then every node credited
/// with a render of any role.
async fn nodes_to_lock(
    state: &AppState,
    id: u64,
    receipt: &Receipt,
) -> Result<Vec<Pubkey>, PostError> {
    let evidence = state.store.evidence_of_job(id).await?;
    let convicted = evidence
        .iter()
        .filter_map(|e| e["faulty_node"].as_str())
        .filter_map(|n| Pubkey::from_str(n).ok());
    let mut keys: Vec<Pubkey> = Vec::new();
    for n in convicted.chain(receipt.renders().iter().map(|r| r.node)) {
        if !keys.contains(&n) {
            keys.push(n);
        }
    }
    // Only registered nodes have a stake (and an account the program can lock).
    let mut nodes = Vec::with_capacity(keys.len());
    for key in keys {
        if nodes.len() < tessera_sdk::tessera::constants::MAX_LOCKED_NODES
            && state.chain.node(&key).await?.is_some()
        {
            nodes.push(key);
        }
    }
    Ok(nodes)
}

/// Moves rendering jobs that were cancelled on-chain or ran past their deadline to
/// `partial`. The submit path refuses results for a job that is no longer rendering, so the
/// verified tiles the receipt is built from stay fixed from here on.
async fn stop_cancelled_and_overdue(state: &AppState) -> Result<(), PostError> {
    let jobs = state.store.jobs_in_state(job_state::RENDERING).await?;
    for job in jobs {
        let id = job.job_id;
        let overdue = job.deadline.saturating_mul(1000) < store::now_ms();
        let cancelled = !overdue
            && state
                .chain
                .job(id)
                .await?
                .is_some_and(|j| j.state == JobState::CancelRequested);
        if overdue || cancelled {
            let why = if cancelled {
                "the artist asked to cancel"
            } else {
                "the deadline passed"
            };
            info!(
                job_id = id,
                why, "job stopped; posting the receipt of its verified tiles"
            );
            state
                .store
                .job_set_state(id, job_state::PARTIAL, Some(why.to_string()))
                .await?;
        }
    }
    Ok(())
}

/// The poster task: wakes on `poster_wake` or every `poll`, until shutdown.
pub async fn run(state: Arc<AppState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if !crate::leads(&state).await {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(state.cfg.poster_poll_ms)) => continue,
                _ = shutdown.changed() => return,
            }
        }
        if state.cfg.hold_receipts {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(state.cfg.poster_poll_ms)) => continue,
                _ = shutdown.changed() => return,
            }
        }
        if let Err(e) = stop_cancelled_and_overdue(&state).await {
            warn!(error = %e, "poster could not check running jobs");
        }
        for st in [job_state::READY, job_state::PARTIAL, job_state::POSTING] {
            let jobs = state.store.jobs_in_state(st).await;
            match jobs {
                Ok(jobs) => {
                    for job in jobs {
                        let span = tracing::info_span!("receipt", job_id = job.job_id);
                        if let Err(e) = post(&state, &job).instrument(span).await {
                            warn!(job_id = job.job_id, error = %e, "receipt not posted yet; will retry");
                        }
                    }
                }
                Err(e) => warn!(error = %e, "poster could not read jobs"),
            }
        }
        tokio::select! {
            _ = state.poster_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.poster_poll_ms)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn mark_posted(state: &AppState, id: u64, receipt: &Receipt) -> Result<(), PostError> {
    state
        .store
        .job_set_state(id, job_state::POSTED, None)
        .await?;
    state.metrics.receipts_posted.inc();
    info!(job_id = id, "receipt confirmed on-chain");
    // The receipt's tile root completes the evidence against the nodes convicted in the job.
    if let Err(e) = crate::slash::file_slashes(state, id, receipt).await {
        warn!(job_id = id, error = %e, "could not file the job's slashes");
    }
    Ok(())
}

/// Brings one job's receipt forward: landed → posted; else (re-)send.
pub async fn post(state: &AppState, row: &JobRow) -> Result<(), PostError> {
    let id = row.job_id;
    if row.state == job_state::PARTIAL {
        // Checks stored before the job stopped are compared first: paid, or decided.
        let decided = crate::verifier::settle_job(state, id)
            .await
            .map_err(|e| PostError::Receipt(format!("settling the job's comparisons: {e}")))?;
        if decided > 0 {
            info!(
                job_id = id,
                decided, "comparisons settled before the receipt"
            );
        }
    }
    let receipt = match build(state, row).await {
        Err(PostError::Receipt(e)) if row.state == job_state::PARTIAL => {
            // Nothing verified: no receipt; the artist takes the refund after the grace.
            let msg = format!("stopped with nothing to post ({e}); the artist is refunded");
            state
                .store
                .job_set_state(id, job_state::FAILED, Some(msg.to_string()))
                .await?;
            return Ok(());
        }
        r => r?,
    };
    let params = receipt
        .params()
        .map_err(|e| PostError::Receipt(e.to_string()))?;
    let Some(on_chain) = state.chain.job(id).await? else {
        let msg = "the job account no longer exists on-chain";
        state
            .store
            .job_set_state(id, job_state::FAILED, Some(msg.to_string()))
            .await?;
        return Err(PostError::Receipt(msg.into()));
    };
    if !matches!(on_chain.state, JobState::Open | JobState::CancelRequested) {
        if on_chain.tile_root == params.tile_root && on_chain.payout_root == params.payout_root {
            return mark_posted(state, id, &receipt).await;
        }
        let msg = format!("job is {:?} on-chain with another receipt", on_chain.state);
        let m = msg.clone();
        state
            .store
            .job_set_state(id, job_state::FAILED, Some(m.to_string()))
            .await?;
        return Err(PostError::Receipt(msg));
    }
    // The persisted transaction, if any, and whether it can still land.
    let persisted = state.store.job_receipt_tx(id).await?;
    let mut tx: Option<Transaction> = persisted.and_then(|b| bincode::deserialize(&b).ok());
    if let Some(t) = &tx {
        let sig = t.signatures[0];
        match state.chain.status(&sig).await? {
            Some(Ok(())) => return mark_posted(state, id, &receipt).await,
            Some(Err(e)) => {
                warn!(%sig, error = %e, "receipt transaction failed on-chain; signing a new one");
                tx = None;
            }
            None if !state
                .chain
                .blockhash_valid(&t.message.recent_blockhash)
                .await? =>
            {
                info!(%sig, "receipt blockhash expired unlanded; signing a new one");
                tx = None;
            }
            None => {}
        }
    }
    let tx = match tx {
        Some(t) => t,
        None => {
            let keypair = &state.keypair;
            let lock = nodes_to_lock(state, id, &receipt).await?;
            let ixn = ix::post_receipt(&keypair.pubkey(), id, params, &lock);
            let hash = state.chain.latest_blockhash().await?;
            let t = Transaction::new_signed_with_payer(
                &[ixn],
                Some(&keypair.pubkey()),
                &[keypair.as_ref()],
                hash,
            );
            let bytes = bincode::serialize(&t).map_err(|e| PostError::Receipt(e.to_string()))?;
            let sig = t.signatures[0].to_string();
            // Persisted, fsynced with the verifications behind it, before the first send: a
            // crash (even of the machine) from here on re-sends these bytes.
            let durability = state
                .store
                .job_set_receipt_tx(id, bytes.clone(), sig.clone())
                .await?;
            tracing::debug!(%sig, durability, "receipt transaction persisted");
            t
        }
    };
    let sig: Signature = tx.signatures[0];
    if let Err(e) = state.chain.send(&tx).await {
        warn!(%sig, error = %e, "send failed; will retry with the same transaction");
    }
    if state.cfg.crash_after_send {
        warn!(%sig, "test hook: freezing between send and confirm, as if the process died");
        futures::future::pending::<()>().await;
    }
    for _ in 0..state.cfg.confirm_polls {
        match state.chain.status(&sig).await? {
            Some(Ok(())) => return mark_posted(state, id, &receipt).await,
            Some(Err(e)) => {
                let msg = format!("post_receipt failed on-chain: {e}");
                // Past the deadline and its grace no receipt can land: give up. Before
                // that, keep the error visible and retry (a new transaction next round).
                let last = on_chain.receipt_ends_at().unwrap_or(on_chain.deadline);
                let next = if last.saturating_mul(1000) < store::now_ms() {
                    job_state::FAILED
                } else {
                    job_state::POSTING
                };
                let m = msg.clone();
                state
                    .store
                    .job_set_state(id, next, Some(m.to_string()))
                    .await?;
                return Err(PostError::Receipt(msg));
            }
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok(())
}
