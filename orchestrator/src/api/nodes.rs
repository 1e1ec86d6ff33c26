//! `GET /v1/nodes/{key}`: how this orchestrator sees a node (public: the same numbers decide
//! its verification share and placement).
use axum::extract::{Path, State};
use axum::Json;
use tessera_sdk::standing::{CreditedJob, NodeStanding};

use super::Shared;
use crate::error::{ApiError, ApiResult};

pub async fn standing(State(s): Shared, Path(key): Path<String>) -> ApiResult<Json<NodeStanding>> {
    key.parse::<solana_sdk::pubkey::Pubkey>()
        .map_err(|_| ApiError::NotFound(format!("node {key}")))?;
    let k = key.clone();
    let (record, jobs) = s.store.node_summary(k).await?;
    Ok(Json(NodeStanding {
        node_key: key,
        known: record.is_some(),
        reputation: record.map_or(0.5, |r| r.reputation),
        tiles_rendered: record.map_or(0, |r| r.tiles),
        tiles_verified: record.map_or(0, |r| r.verified),
        faults: record.map_or(0, |r| r.faults),
        jobs: jobs
            .into_iter()
            .map(|(job_id, tiles_credited)| CreditedJob {
                job_id,
                tiles_credited,
            })
            .collect(),
    }))
}
