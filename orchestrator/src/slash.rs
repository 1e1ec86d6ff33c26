//! Filing `slash_node` after a receipt lands, for every node a tiebreak convicted in the job.
//!
//! A conviction's evidence row holds the faulty render (its node, pixel hash and the node's
//! signature over the tile message). Once the receipt is on-chain its tile tree holds the
//! accepted render of that tile, so the evidence and the proof are complete; the slash itself
//! goes to the treasury. A tile already slashed (its record exists) is skipped, so a restart
//! files nothing twice; a failed send is logged and retried at the next restart's posting.
use std::str::FromStr;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};
use solana_sdk::transaction::Transaction;
use tessera_sdk::receipt::Receipt;
use tessera_sdk::{ix, pda};
use tracing::{info, warn};

use crate::api::AppState;
use crate::receipt::{hex32, PostError};

/// One conviction as its evidence row records it.
struct Conviction {
    frame: u32,
    tile: u32,
    node: Pubkey,
    bad_hash: [u8; 32],
    signature: [u8; 64],
}

/// Reads the faulty render out of an evidence row (`verify::record_fault`'s `detail`).
fn conviction(row: &serde_json::Value) -> Option<Conviction> {
    let faulty = row["detail"]["faulty"].as_str()?;
    let render = row["detail"]["renders"]
        .as_array()?
        .iter()
        .find(|r| r["node"].as_str() == Some(faulty))?;
    let signature = Signature::from_str(render["signature"].as_str()?).ok()?;
    Some(Conviction {
        frame: row["frame"].as_u64()? as u32,
        tile: row["tile"].as_u64()? as u32,
        node: Pubkey::from_str(faulty).ok()?,
        bad_hash: hex32(render["pixel_hash"].as_str()?)?,
        signature: signature.as_ref().try_into().ok()?,
    })
}

/// Files a slash for each conviction of job `id` not slashed yet; returns how many were sent.
pub async fn file_slashes(state: &AppState, id: u64, receipt: &Receipt) -> Result<u32, PostError> {
    let rows = state.store.evidence_of_job(id).await?;
    let job = pda::job(id);
    let mut sent = 0;
    for c in rows.iter().filter_map(conviction) {
        let record = pda::slash_record(&job, c.frame, c.tile);
        if state.chain.account(&record).await?.is_some() {
            continue;
        }
        let Some(evidence) = receipt.slash_evidence(c.frame, c.tile, &c.bad_hash) else {
            warn!(
                job_id = id,
                frame = c.frame,
                tile = c.tile,
                "conviction without a conflicting receipt leaf; not slashing"
            );
            continue;
        };
        let keypair = &state.keypair;
        let ixs = ix::slash_node(&keypair.pubkey(), id, &c.node, &c.signature, evidence);
        let hash = state.chain.latest_blockhash().await?;
        let tx = Transaction::new_signed_with_payer(
            &ixs,
            Some(&keypair.pubkey()),
            &[keypair.as_ref()],
            hash,
        );
        match state.chain.send(&tx).await {
            Ok(sig) => {
                info!(job_id = id, node = %c.node, frame = c.frame, tile = c.tile, %sig, "slash_node filed");
                sent += 1;
            }
            Err(e) => warn!(job_id = id, node = %c.node, error = %e, "slash_node not sent"),
        }
    }
    Ok(sent)
}
