//! Receipt reconciliation: the store's view of each job compared with the chain at
//! `finalized`, every `reconcile_ms`, on the leading instance only.
//!
//! * A `posted` job whose account is back to `Open` / `CancelRequested` at `finalized`
//!   (its receipt vanished: a dropped fork, a store restored from a backup, a row that says
//!   more than the chain) goes back to `posting`: the poster re-sends the persisted
//!   transaction while its blockhash is valid, or builds, persists and sends a new one.
//! * A `rendering` job whose account is gone was cancelled or expired and refunded: it is
//!   `failed` (no more leases; nothing to post).
//! * Every job read records its chain state (`job_chain`): `open`, `cancel-requested`,
//!   `rendered`, `disputed`, `settled`, `resolved`, `closed` (account closed after our
//!   receipt: claims done) or `refunded` (account closed without it: cancelled or
//!   expired). Jobs `closed` or `refunded` are not read again.
use std::sync::Arc;
use std::time::Duration;

use tessera_sdk::{Job, JobState};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::AppState;
use crate::error::ApiError;
use crate::store::{job_state, now_ms, reconcile};

/// Every `reconcile_ms`, on the leader: one round over the jobs due.
pub async fn run(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(state.cfg.reconcile_ms)) => {}
            _ = stop.changed() => return,
        }
        if !crate::leads(&state).await {
            continue;
        }
        if let Err(e) = round(&state).await {
            warn!(error = %e, "receipt reconciliation failed; will retry");
        }
    }
}

/// The chain state's name as `job_chain` records it.
pub fn chain_state(job: Option<&Job>, posted: bool) -> &'static str {
    match job.map(|j| j.state) {
        None if posted => reconcile::CLOSED,
        None => reconcile::REFUNDED,
        Some(JobState::Open) => "open",
        Some(JobState::CancelRequested) => "cancel-requested",
        Some(JobState::Rendered) => "rendered",
        Some(JobState::Disputed) => "disputed",
        Some(JobState::Settled) => "settled",
        Some(JobState::Resolved) => "resolved",
    }
}

/// Compares each due job with the chain at `finalized` and acts on what differs.
pub async fn round(s: &AppState) -> Result<(), ApiError> {
    for (id, st) in s.store.reconcile_due().await? {
        let job = match s.chain.job_finalized(id).await {
            Ok(j) => j,
            Err(e) => {
                warn!(job_id = id, error = %e, "reading a job at finalized failed");
                continue;
            }
        };
        let open = job
            .as_ref()
            .is_some_and(|j| matches!(j.state, JobState::Open | JobState::CancelRequested));
        if st == job_state::POSTED && open {
            warn!(
                job_id = id,
                "the posted receipt is not on-chain at finalized; posting it again"
            );
            let why = "the receipt vanished from the chain (dropped fork?); re-posting";
            s.store
                .job_set_state(id, job_state::POSTING, Some(why.into()))
                .await?;
            s.poster_wake.notify_one();
        } else if st == job_state::RENDERING && job.is_none() {
            info!(job_id = id, "job account closed on-chain while rendering");
            let why = "the job account was closed on-chain (cancelled or expired and refunded)";
            s.store
                .job_set_state(id, job_state::FAILED, Some(why.into()))
                .await?;
        }
        let name = chain_state(job.as_ref(), st == job_state::POSTED);
        s.store.mark_chain_state(id, name, now_ms()).await?;
    }
    Ok(())
}
