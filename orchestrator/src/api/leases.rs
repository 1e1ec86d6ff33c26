//! Node work: `POST /v1/leases` (get a tile), `.../{id}/heartbeat`, `.../{id}/submit`.
//! Every request is signed by the node key (see `protocol`).
use std::str::FromStr;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::json;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use tracing::Instrument;

use super::bytes_compat::Bytes;
use super::Shared;
use crate::error::{ApiError, ApiResult, StoreError};
use crate::protocol::{tile_message, SubmitTile};
use crate::receipt::{hex, hex32};
use crate::store::{self, job_state, now_ms};
use crate::verify::{self, Decision, Outcome, Submission};

/// Grants the best tile for this node (200 with the lease) or 204 when there is no work.
pub async fn lease(
    State(s): Shared,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let started = Instant::now();
    let body = super::body(b)?;
    let (node, info) = crate::auth::authenticate(&s, "POST", "/v1/leases", &headers, &body).await?;
    let span = tracing::info_span!("lease", node = %node);
    let lease_ms = s.cfg.lease_ms;
    let n = node.to_string();
    let granted = s
        .store
        .tx(move |tx| crate::scheduler::lease(tx, &n, info.benchmark_score, now_ms(), lease_ms))
        .instrument(span)
        .await?;
    s.metrics
        .lease_latency
        .observe(started.elapsed().as_secs_f64());
    match granted {
        Some(l) => {
            s.metrics.leases_granted.inc();
            s.emit(l.job_id, l.frame, l.tile, "leased", Some(node.to_string()));
            tracing::debug!(job_id = l.job_id, frame = l.frame, tile = l.tile, role = %l.role, "lease granted");
            Ok(Json(l).into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Extends a lease the node holds.
pub async fn heartbeat(
    State(s): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let body = super::body(b)?;
    let (node, _) = crate::auth::authenticate(
        &s,
        "POST",
        &format!("/v1/leases/{id}/heartbeat"),
        &headers,
        &body,
    )
    .await?;
    let now = now_ms();
    let deadline = now + s.cfg.lease_ms;
    let n = node.to_string();
    let r = s
        .store
        .tx(move |tx| store::heartbeat(tx, id, &n, deadline, now))
        .await?;
    let deadline = r.ok_or(ApiError::LeaseGone(id))?;
    Ok(Json(json!({"lease_id": id, "deadline_ms": deadline})))
}

fn join(e: tokio::task::JoinError) -> ApiError {
    ApiError::Store(StoreError::Join(e.to_string()))
}

/// Accepts a rendered tile: signature over (job, frame, tile, hash), PNG pixels hashed
/// again here, then the verification state machine.
pub async fn submit(
    State(s): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let started = Instant::now();
    let body = super::body(b)?;
    let (node, _) = crate::auth::authenticate(
        &s,
        "POST",
        &format!("/v1/leases/{id}/submit"),
        &headers,
        &body,
    )
    .await?;
    let req: SubmitTile = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("submit body: {e}")))?;
    let claimed = hex32(&req.pixel_hash.to_lowercase())
        .ok_or_else(|| ApiError::BadRequest("pixel_hash must be 64 hex digits".into()))?;
    let signature = Signature::from_str(&req.signature)
        .map_err(|_| ApiError::BadRequest("signature must be base58".into()))?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(req.png.as_bytes())
        .map_err(|_| ApiError::BadRequest("png must be base64".into()))?;
    let node_s = node.to_string();

    // The lease and its tile.
    let n = node_s.clone();
    let (tile, job) = s
        .store
        .tx(move |tx| {
            let t = store::tile_by_lease(tx, id)?;
            let j = match &t {
                Some(t) => store::job_get(tx, t.job_id)?,
                None => None,
            };
            Ok::<_, ApiError>(t.zip(j))
        })
        .await?
        .ok_or(ApiError::LeaseGone(id))?;
    if tile.lease_node.as_deref() != Some(n.as_str()) || tile.lease_deadline.unwrap_or(0) < now_ms()
    {
        return Err(ApiError::LeaseGone(id));
    }
    let job_key =
        Pubkey::from_str(&job.job_key).map_err(|_| StoreError::Corrupt("job key".into()))?;
    if !signature.verify(
        node.as_ref(),
        &tile_message(&job_key, tile.frame, tile.tile, &claimed),
    ) {
        return Err(ApiError::BadSignature);
    }
    let grid = tessera_sdk::tiles::TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| StoreError::Corrupt("grid".into()))?;
    let rect = grid
        .rect(tile.tile)
        .ok_or_else(|| StoreError::Corrupt("tile".into()))?;

    // Decode, check size, hash the pixels ourselves.
    type Decoded = (Vec<u8>, [u8; 32], Vec<u8>);
    let (rgba, computed, png) = tokio::task::spawn_blocking(move || -> ApiResult<Decoded> {
        let (w, h, rgba) = crate::imaging::decode_png(&png).map_err(ApiError::BadImage)?;
        if (w, h) != (rect.width, rect.height) {
            return Err(ApiError::BadImage(format!(
                "tile is {w}×{h}, expected {}×{}",
                rect.width, rect.height
            )));
        }
        let hash = tessera_render::pixel_hash(&rgba);
        Ok((rgba, hash, png))
    })
    .await
    .map_err(join)??;
    if computed != claimed {
        s.metrics
            .verification_failures
            .with_label_values(&["hash-mismatch"])
            .inc();
        let n = node_s.clone();
        let (job_id, frame, t) = (tile.job_id, tile.frame, tile.tile);
        s.store
            .tx(move |tx| {
                tx.execute(
                    "UPDATE tiles SET failures=failures+1, lease_id=NULL, lease_node=NULL, lease_deadline=NULL,
                       state=CASE need WHEN 'primary' THEN 'queued' ELSE 'rendered' END
                     WHERE lease_id=?1",
                    [id],
                )
                .map_err(StoreError::from)?;
                store::node_adjust(tx, &n, -0.1, 0, 0, 0)?;
                Ok::<_, ApiError>(())
            })
            .await?;
        s.emit(job_id, frame, t, "requeued", Some(node_s.clone()));
        return Err(ApiError::HashMismatch {
            claimed: hex(&claimed),
            computed: hex(&computed),
        });
    }

    // Keep the PNG (content-addressed) and decode the renders it may be compared with.
    let png_blob = {
        let blobs = s.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.put(&png))
            .await
            .map_err(join)??
            .0
    };
    let (job_id, frame, tno) = (tile.job_id, tile.frame, tile.tile);
    let pending: Vec<store::ResultRow> = s
        .store
        .tx(move |tx| store::results_of_tile(tx, job_id, frame, tno))
        .await?
        .into_iter()
        .filter(|r| r.verdict == "pending")
        .collect::<Vec<_>>();
    let pending_rgba = {
        let blobs = s.blobs.clone();
        let wanted: Vec<(i64, String)> = pending.iter().map(|r| (r.id, r.blob.clone())).collect();
        tokio::task::spawn_blocking(move || -> ApiResult<Vec<(i64, Vec<u8>)>> {
            let mut out = Vec::new();
            for (rid, blob) in wanted {
                let png = blobs
                    .get(&blob)?
                    .ok_or_else(|| StoreError::Corrupt(format!("blob {blob} missing")))?;
                out.push((
                    rid,
                    crate::imaging::decode_png(&png)
                        .map_err(ApiError::BadImage)?
                        .2,
                ));
            }
            Ok(out)
        })
        .await
        .map_err(join)??
    };

    // Apply, re-checking the lease inside the transaction.
    let st = s.clone();
    let sub = Submission {
        node: node_s.clone(),
        pixel_hash: hex(&computed),
        signature: signature.to_string(),
        blob: png_blob,
    };
    let (outcome, redo, ready) = s
        .store
        .tx(move |tx| {
            let t = store::tile_by_lease(tx, id)?.ok_or(ApiError::LeaseGone(id))?;
            if t.lease_node.as_deref() != Some(sub.node.as_str()) {
                return Err(ApiError::LeaseGone(id));
            }
            // A cancelled or overdue job's receipt is being built from the tiles verified
            // when it stopped: later results would change it under the poster.
            let running =
                store::job_get(tx, t.job_id)?.is_some_and(|j| j.state == job_state::RENDERING);
            if !running {
                return Err(ApiError::LeaseGone(id));
            }
            let pending: Vec<_> = store::results_of_tile(tx, t.job_id, t.frame, t.tile)?
                .into_iter()
                .filter(|r| r.verdict == "pending")
                .collect();
            let d = Decision {
                salt: &st.salt,
                job_key: &job.job_key,
                base_share: st.cfg.verify_share,
                new_node_share: st.cfg.new_node_share,
                min_psnr_db: st.cfg.min_psnr_db,
                rgba: &rgba,
                pending_rgba: &pending_rgba,
            };
            let (outcome, redo) = verify::apply(tx, &t, &pending, &sub, &d)?;
            let left: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM tiles WHERE job_id=?1 AND state!='verified'",
                    [t.job_id as i64],
                    |r| r.get(0),
                )
                .map_err(StoreError::from)?;
            let ready = left == 0;
            if ready {
                store::job_set_state(tx, t.job_id, job_state::READY, None)?;
            }
            Ok::<_, ApiError>((outcome, redo, ready))
        })
        .await?;

    s.metrics.tiles_submitted.inc();
    let (ev, verified) = match &outcome {
        Outcome::Accepted | Outcome::Verified => ("verified", true),
        Outcome::AwaitingCheck => ("awaiting-check", false),
        Outcome::AwaitingTiebreak => {
            s.metrics
                .verification_failures
                .with_label_values(&["check-disagree"])
                .inc();
            ("awaiting-tiebreak", false)
        }
        Outcome::Resolved { faulty } => {
            s.metrics
                .verification_failures
                .with_label_values(&["fault"])
                .inc();
            s.emit(job_id, frame, tno, "fault", Some(faulty.clone()));
            ("verified", true)
        }
        Outcome::Inconclusive => {
            s.metrics
                .verification_failures
                .with_label_values(&["inconclusive"])
                .inc();
            ("requeued", false)
        }
    };
    if verified {
        s.metrics.tiles_verified.inc();
    }
    s.emit(job_id, frame, tno, ev, Some(node_s.clone()));
    for (f, t) in &redo {
        s.emit(job_id, *f, *t, "requeued", None);
    }
    if ready {
        s.emit(job_id, frame, tno, "job-ready", None);
        s.poster_wake.notify_one();
    }
    s.metrics
        .submit_latency
        .observe(started.elapsed().as_secs_f64());
    tracing::debug!(job_id, frame, tile = tno, outcome = ?outcome, "tile submitted");
    Ok(Json(
        json!({"lease_id": id, "outcome": outcome, "requeued": redo.len()}),
    ))
}
