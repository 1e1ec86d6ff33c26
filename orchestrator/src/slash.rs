//! Filing the on-chain evidence after a receipt lands, for every node a tiebreak convicted in
//! the job.
//!
//! A conviction's evidence row holds every render of the tile's deciding round (node, pixel
//! hash and the node's signature over the tile message), the faulty one among them. Once the
//! receipt is on-chain its tile tree holds the accepted render (the tile's primary leaf) and
//! the agreeing verification renders, so the orchestrator files, for the tile, one
//! `corroborate_tile` per such leaf (that node's own signature and the leaf's proof), then
//! `slash_node` with the faulty node's signature. The program slashes only when witnesses of
//! 2 distinct operators other than the faulty node's vouch for another hash, each registered
//! and staked (at least the job's slash amount) before the job was created, so the
//! orchestrator's receipt alone convicts nobody; a witness that does not qualify is skipped.
//! The slash goes to the treasury. A tile already slashed is skipped and witnesses already
//! on record are not filed again, so a restart files nothing twice; a failed send is logged
//! and retried at the next posting.
use std::str::FromStr;

use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};
use solana_sdk::transaction::Transaction;
use tessera::state::SlashRecord;
use tessera_sdk::receipt::{Receipt, RenderRecord};
use tessera_sdk::{ix, pda, Job};
use tracing::{info, warn};

use crate::api::AppState;
use crate::receipt::{hex32, PostError};

/// One render of the deciding round, as the evidence row records it.
struct SignedRender {
    node: Pubkey,
    pixel_hash: [u8; 32],
    signature: [u8; 64],
}

/// One conviction as its evidence row records it.
struct Conviction {
    frame: u32,
    tile: u32,
    faulty: SignedRender,
    renders: Vec<SignedRender>,
}

fn signed_render(r: &serde_json::Value) -> Option<SignedRender> {
    let signature = Signature::from_str(r["signature"].as_str()?).ok()?;
    Some(SignedRender {
        node: Pubkey::from_str(r["node"].as_str()?).ok()?,
        pixel_hash: hex32(r["pixel_hash"].as_str()?)?,
        signature: signature.as_ref().try_into().ok()?,
    })
}

/// Reads the round's renders out of an evidence row (`verify::record_fault`'s `detail`).
/// Rows of inconclusive rounds and of withheld convictions (`verify::withhold`: outvoted
/// without a quorum of witnesses) name no faulty node and are not convictions.
fn conviction(row: &serde_json::Value) -> Option<Conviction> {
    if !row["detail"]["withheld"].is_null() {
        return None;
    }
    let faulty = Pubkey::from_str(row["detail"]["faulty"].as_str()?).ok()?;
    let renders: Vec<SignedRender> = row["detail"]["renders"]
        .as_array()?
        .iter()
        .filter_map(signed_render)
        .collect();
    let at = renders.iter().position(|r| r.node == faulty)?;
    let mut renders = renders;
    let faulty = renders.remove(at);
    Some(Conviction {
        frame: row["frame"].as_u64()? as u32,
        tile: row["tile"].as_u64()? as u32,
        faulty,
        renders,
    })
}

/// The receipt's leaves of the convicted tile that the round's signatures back: the
/// witnesses `corroborate_tile` takes.
fn witnesses(c: &Conviction, receipt: &Receipt) -> Vec<(RenderRecord, [u8; 64], Vec<[u8; 32]>)> {
    receipt
        .tile_witnesses(c.frame, c.tile)
        .into_iter()
        .filter(|(leaf, _)| leaf.node != c.faulty.node && leaf.pixel_hash != c.faulty.pixel_hash)
        .filter_map(|(leaf, proof)| {
            let signed = c
                .renders
                .iter()
                .find(|r| r.node == leaf.node && r.pixel_hash == leaf.pixel_hash)?;
            Some((leaf, signed.signature, proof))
        })
        .collect()
}

/// The witnesses `corroborate_tile` will count (`Node::witness_refusal`: registered and
/// staked before the job, the job's slash amount active); the others are skipped with one
/// log line, as filing them would only fail. Their accounts are read in one call.
async fn qualified(
    state: &AppState,
    job: &Job,
    c: &Conviction,
    all: Vec<(RenderRecord, [u8; 64], Vec<[u8; 32]>)>,
) -> Result<Vec<(RenderRecord, [u8; 64], Vec<[u8; 32]>)>, PostError> {
    let id = job.job_id;
    let keys: Vec<Pubkey> = all.iter().map(|w| w.0.node).collect();
    let (_, nodes) = state.chain.standings(&keys).await?;
    let mut kept = Vec::with_capacity(all.len());
    let mut skipped = Vec::new();
    for (w, node) in all.into_iter().zip(nodes) {
        match node {
            Some(node) => match node.witness_refusal(job) {
                None => kept.push(w),
                Some(why) => skipped.push(format!("{} ({why:?})", w.0.node)),
            },
            None => skipped.push(format!("{} (not registered)", w.0.node)),
        }
    }
    if !skipped.is_empty() {
        warn!(
            job_id = id,
            frame = c.frame,
            tile = c.tile,
            skipped = %skipped.join(", "),
            "witnesses the program would not count (registered or staked after the job, or under the slash amount)"
        );
    }
    Ok(kept)
}

/// Sends one transaction of the orchestrator's and waits for it to be confirmed (each
/// witness must be on record before the slash reads it).
async fn send(state: &AppState, ixs: &[Instruction]) -> Result<Signature, String> {
    let keypair = &state.keypair;
    let hash = state
        .chain
        .latest_blockhash()
        .await
        .map_err(|e| e.to_string())?;
    let tx =
        Transaction::new_signed_with_payer(ixs, Some(&keypair.pubkey()), &[keypair.as_ref()], hash);
    state
        .chain
        .rpc()
        .send_and_confirm_transaction(&tx)
        .await
        .map_err(|e| e.to_string())
}

/// Files the witnesses and the slash of one conviction; returns whether the slash landed.
async fn file_one(
    state: &AppState,
    job: &Job,
    c: &Conviction,
    receipt: &Receipt,
) -> Result<bool, PostError> {
    let id = job.job_id;
    let record = pda::slash_record(&pda::job(id), c.frame, c.tile);
    let on_record: Option<SlashRecord> = match state.chain.account(&record).await? {
        Some(a) => tessera_sdk::accounts::decode(&a.data).ok(),
        None => None,
    };
    if on_record.as_ref().is_some_and(|r| r.slashed_at != 0) {
        return Ok(false);
    }
    let known: Vec<Pubkey> = on_record
        .iter()
        .flat_map(|r| r.witnesses().iter().map(|w| w.node_key))
        .collect();
    let reporter = state.keypair.pubkey();
    let witnesses = qualified(state, job, c, witnesses(c, receipt)).await?;
    if witnesses.len() < 2 {
        warn!(
            job_id = id,
            frame = c.frame,
            tile = c.tile,
            witnesses = witnesses.len(),
            "conviction without two signed receipt leaves against it; not slashing"
        );
        return Ok(false);
    }
    for (leaf, signature, proof) in witnesses
        .into_iter()
        .filter(|(l, ..)| !known.contains(&l.node))
    {
        let ixs = ix::corroborate_tile(&reporter, id, &leaf, &signature, proof);
        if let Err(e) = send(state, &ixs).await {
            warn!(job_id = id, witness = %leaf.node, error = %e, "corroborate_tile not sent");
        }
    }
    let f = &c.faulty;
    let ixs = ix::slash_node(
        &reporter,
        id,
        &f.node,
        &f.signature,
        c.frame,
        c.tile,
        &f.pixel_hash,
    );
    match send(state, &ixs).await {
        Ok(sig) => {
            info!(job_id = id, node = %f.node, frame = c.frame, tile = c.tile, %sig, "slash_node filed");
            Ok(true)
        }
        Err(e) => {
            warn!(job_id = id, node = %f.node, error = %e, "slash_node not sent");
            Ok(false)
        }
    }
}

/// Files a slash for each conviction of job `id` not slashed yet; returns how many landed.
pub async fn file_slashes(state: &AppState, id: u64, receipt: &Receipt) -> Result<u32, PostError> {
    let rows = state.store.evidence_of_job(id).await?;
    let convictions: Vec<Conviction> = rows.iter().filter_map(conviction).collect();
    if convictions.is_empty() {
        return Ok(0);
    }
    // Read once for every conviction: the witness rule reads only fields fixed at creation.
    let Some(job) = state.chain.job(id).await? else {
        return Ok(0);
    };
    let mut sent = 0;
    for c in &convictions {
        if file_one(state, &job, c, receipt).await? {
            sent += 1;
        }
    }
    Ok(sent)
}
