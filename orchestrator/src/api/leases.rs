//! Node work: `POST /v1/leases` (get a tile), `.../{id}/heartbeat`, `.../{id}/submit`.
//! Every request is signed by the node key (see `protocol`).
use std::str::FromStr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::json;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use tracing::Instrument;

use super::{AppState, Shared};
use crate::error::{ApiError, ApiResult, StoreError};
use crate::protocol::{tile_message, SubmitTile};
use crate::receipt::{hex, hex32};
use crate::scheduler::{Grant, LeasePolicy};
use crate::store::{self, now_ms, SubmitInput};
use crate::verify::{Outcome, Submission};
use tessera_sdk::tiles::{TileGrid, TileRect};

/// Tiles up to this many pixels (64 × 64) are decoded on the request's own thread: the
/// hop to the blocking pool and back would cost more than the decode.
const INLINE_DECODE_PX: u64 = 64 * 64;

fn policy(s: &AppState) -> LeasePolicy {
    LeasePolicy {
        lease_ms: s.cfg.lease_ms,
        max_per_node: s.cfg.max_leases_per_node,
        max_per_node_per_job: s.cfg.max_leases_per_node_per_job,
        witness_wait_ms: s.cfg.witness_wait_ms,
    }
}

/// Grants the best tile for this node (200 with the lease), 204 when there is no work,
/// 429 `lease-limit` when it holds as many leases as it may.
pub async fn lease(State(s): Shared, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let started = Instant::now();
    let limit = s.cfg.max_small_body_bytes;
    let (node, info, _, replay) =
        crate::auth::node_request(&s, "POST", "/v1/leases", &headers, body, limit).await?;
    let span = tracing::info_span!("lease", node = %node);
    let policy = policy(&s);
    let (n, op) = (node.to_string(), info.operator.to_string());
    let verifies = s.nodes.verifies(&s, &info).await;
    let granted = s
        .store
        .lease(
            replay,
            n,
            op,
            info.benchmark_score,
            now_ms(),
            policy,
            verifies,
        )
        .instrument(span)
        .await?;
    s.metrics
        .lease_latency
        .observe(started.elapsed().as_secs_f64());
    match granted {
        Grant::AtLimit(why) => {
            s.metrics.refused.with_label_values(&["lease-limit"]).inc();
            Err(ApiError::LeaseLimit(why))
        }
        Grant::Lease(l) => {
            s.metrics.leases_granted.inc();
            tracing::debug!(job_id = l.job_id, frame = l.frame, tile = l.tile, role = %l.role, "lease granted");
            Ok(Json(l.wire).into_response())
        }
        Grant::NoWork => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Extends a lease the node holds, up to the lease's total lifetime (410 after it).
pub async fn heartbeat(
    State(s): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let path = format!("/v1/leases/{id}/heartbeat");
    let limit = s.cfg.max_small_body_bytes;
    let (node, _, _, replay) =
        crate::auth::node_request(&s, "POST", &path, &headers, body, limit).await?;
    let now = now_ms();
    let deadline = now + s.cfg.lease_ms;
    let lifetime = s.cfg.max_lease_lifetime_ms;
    let n = node.to_string();
    let r = s
        .store
        .heartbeat(replay, id, n, deadline, now, lifetime)
        .await?;
    let deadline = r.ok_or(ApiError::LeaseGone(id))?;
    Ok(Json(json!({"lease_id": id, "deadline_ms": deadline})))
}

fn join(e: tokio::task::JoinError) -> ApiError {
    ApiError::Store(StoreError::Join(e.to_string()))
}

/// Releases the lease of a refused submission and records it against the node (and the
/// request against replays).
async fn refuse(
    s: &AppState,
    id: i64,
    node: &str,
    replay: &store::Replay,
    kind: &str,
) -> ApiResult<()> {
    s.metrics
        .verification_failures
        .with_label_values(&[kind])
        .inc();
    let replay = Some(replay.clone());
    s.store
        .refuse_submission(id, node.to_string(), replay)
        .await?;
    Ok(())
}

/// Accepts a rendered tile: signature over (job, frame, tile, hash), PNG pixels hashed
/// again here, then the verification state machine. A body that does not parse, a tile
/// signature that does not verify, an image that is not the tile or a hash that is not
/// the pixels' releases the lease and counts against the node.
///
/// `?next=1` (signed as part of the path): once the tile is recorded, the node's next lease
/// is granted in the same request (`next`: the lease, or null when there is none or the
/// node is at a limit; a plain `POST /v1/leases` then says which), one round trip a tile.
pub async fn submit(
    State(s): Shared,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let started = Instant::now();
    let want_next = match query.as_deref() {
        None => false,
        Some("next=1") => true,
        Some(q) => return Err(ApiError::BadRequest(format!("unknown query {q:?}"))),
    };
    let path = match &query {
        Some(q) => format!("/v1/leases/{id}/submit?{q}"),
        None => format!("/v1/leases/{id}/submit"),
    };
    let limit = s.cfg.max_submit_bytes;
    let (node, info, body, replay) =
        crate::auth::node_request(&s, "POST", &path, &headers, body, limit).await?;
    let node_s = node.to_string();
    // The next lease is written under a record of its own, derived from this request's.
    let next_replay = store::Replay {
        signature: format!("{}/next", replay.signature),
        timestamp_ms: replay.timestamp_ms,
    };

    // The lease, its tile and job: one read (on SQLite from memory, whatever the lease's
    // role). The request is recorded with its outcome.
    let (tile, job) = s
        .store
        .submit_context(id)
        .await?
        .ok_or(ApiError::LeaseGone(id))?;
    if tile.lease_node.as_deref() != Some(node_s.as_str())
        || tile.lease_deadline.unwrap_or(0) < now_ms()
    {
        return Err(ApiError::LeaseGone(id));
    }
    // From here on, the node holds the lease: a malformed or dishonest submission releases
    // it and counts against the node, so it cannot be repeated at will.
    let parsed = parse_submission(&body, &node, &job, &tile);
    let (claimed, signature, png, rect) = match parsed {
        Ok(p) => p,
        Err(e) => {
            refuse(&s, id, &node_s, &replay, "malformed").await?;
            return Err(e);
        }
    };

    // Header first (dimensions must be the tile's), then a bounded decode, then our own hash.
    // A small tile (tens of µs) is decoded here; a larger one on the blocking pool.
    type Decoded = ([u8; 32], Vec<u8>);
    let decode = move || -> ApiResult<Decoded> {
        let rgba = crate::imaging::decode_tile(&png, rect.width, rect.height)
            .map_err(ApiError::BadImage)?;
        Ok((tessera_render::pixel_hash(&rgba), png))
    };
    let decoded = if u64::from(rect.width) * u64::from(rect.height) <= INLINE_DECODE_PX {
        decode()
    } else {
        tokio::task::spawn_blocking(decode).await.map_err(join)?
    };
    let (computed, png) = match decoded {
        Ok(d) => d,
        Err(e) => {
            refuse(&s, id, &node_s, &replay, "malformed").await?;
            return Err(e);
        }
    };
    if computed != claimed {
        refuse(&s, id, &node_s, &replay, "hash-mismatch").await?;
        return Err(ApiError::HashMismatch {
            claimed: hex(&claimed),
            computed: hex(&computed),
        });
    }

    // Keep the PNG (content-addressed). A stored blob this put reuses is not deleted before
    // the tile row references it. A check is only stored here, like a primary: the
    // comparison runs in the background verifier, after this answer (issue 14: its cost
    // would tell the checker it was a check, and whether it disagreed).
    let reuse = s.blob_gc.read().await;
    let png_blob = s.blobs.put_bytes(png.into()).await?.0;
    let (job_id, frame, tno) = (tile.job_id, tile.frame, tile.tile);
    // Whether the node is a witness of the job now: its render counts towards a conviction
    // only then (`verify::settle`), and it gets the job's second renders first.
    let verifies = s.nodes.verifies(&s, &info).await;
    let witness = verifies.job(&job);

    // Apply, re-checking the lease inside the transaction.
    let input = SubmitInput {
        submission: Submission {
            node: node_s.clone(),
            operator: info.operator.to_string(),
            witness,
            pixel_hash: hex(&computed),
            signature: signature.to_string(),
            blob: png_blob,
        },
        salt: s.salt,
        job_key: job.job_key.clone(),
        base_share: s.cfg.verify_share,
        new_node_share: s.cfg.new_node_share,
        replay: Some(replay),
    };
    // With `?next=1` the next lease is granted in the same trip to the store.
    let next = want_next.then(|| store::NextLease {
        replay: next_replay,
        node: node_s.clone(),
        operator: info.operator.to_string(),
        benchmark_score: info.benchmark_score,
        now: now_ms(),
        policy: policy(&s),
        verifies,
    });
    let ((outcome, redo, ready), next) = s.store.submit_and_lease(id, input, next).await?;
    drop(reuse);

    s.metrics.tiles_submitted.inc();
    crate::verifier::publish(&s, (job_id, frame, tno), &outcome, &node_s, ready);
    if outcome == Outcome::AwaitingVerdict {
        s.verifier_wake.notify_one();
    }
    s.metrics
        .submit_latency
        .observe(started.elapsed().as_secs_f64());
    tracing::debug!(job_id, frame, tile = tno, outcome = ?outcome, requeued = redo.len(), "tile submitted");
    // Signed proof for the node that this render was recorded (issue 14: the node checks
    // the manifest and the on-chain roots against it). The same answer for every accepted
    // render: whether it was sampled, checked or convicted someone is not the node's to know.
    let ack = ack(&s, &job.job_key, frame, tno, &node, &computed)?;
    let mut reply = json!({"lease_id": id, "outcome": "accepted", "ack": ack});
    if let Some(granted) = next {
        let next = next_lease(&s, granted);
        reply["next"] = serde_json::to_value(next).unwrap_or_default();
    }
    Ok(Json(reply))
}

/// The lease `submit?next=1` answers with, if the node may have one now (a limit, no work
/// or a failed lease transaction: none; a plain `POST /v1/leases` then says why). The
/// submit is recorded whatever happened to its next lease. Its time is in the submit's
/// latency (one transaction body with it), not in `tessera_lease_latency_seconds`.
fn next_lease(
    s: &AppState,
    granted: Result<Grant, StoreError>,
) -> Option<tessera_sdk::protocol::Lease> {
    match granted {
        Ok(Grant::Lease(l)) => {
            s.metrics.leases_granted.inc();
            Some(l.wire)
        }
        Ok(Grant::AtLimit(_) | Grant::NoWork) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the next lease of a submit failed");
            None
        }
    }
}

/// The orchestrator's signature of `tessera_sdk::protocol::ack_message` for a recorded render.
fn ack(
    s: &AppState,
    job_key: &str,
    frame: u32,
    tile: u32,
    node: &Pubkey,
    pixel_hash: &[u8; 32],
) -> ApiResult<String> {
    let job_key = Pubkey::from_str(job_key).map_err(|_| StoreError::Corrupt("job key".into()))?;
    let m = tessera_sdk::protocol::ack_message(&job_key, frame, tile, node, pixel_hash);
    Ok(solana_sdk::signature::Signer::sign_message(s.keypair.as_ref(), &m).to_string())
}

/// The submit body: the claimed hash, the tile signature (checked here, before any image
/// work) and the PNG bytes, with the tile's rectangle.
fn parse_submission(
    body: &[u8],
    node: &Pubkey,
    job: &store::JobRow,
    tile: &store::TileRow,
) -> ApiResult<([u8; 32], Signature, Vec<u8>, TileRect)> {
    let req: SubmitTile = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("submit body: {e}")))?;
    let claimed = hex32(&req.pixel_hash.to_lowercase())
        .ok_or_else(|| ApiError::BadRequest("pixel_hash must be 64 hex digits".into()))?;
    let signature = Signature::from_str(&req.signature)
        .map_err(|_| ApiError::BadRequest("signature must be base58".into()))?;
    let job_key =
        Pubkey::from_str(&job.job_key).map_err(|_| StoreError::Corrupt("job key".into()))?;
    if !signature.verify(
        node.as_ref(),
        &tile_message(&job_key, tile.frame, tile.tile, &claimed),
    ) {
        return Err(ApiError::BadSignature);
    }
    let png = base64::engine::general_purpose::STANDARD
        .decode(req.png.as_bytes())
        .map_err(|_| ApiError::BadRequest("png must be base64".into()))?;
    let rect = TileGrid::new(job.width, job.height, job.tile_size)
        .and_then(|g| g.rect(tile.tile))
        .ok_or_else(|| StoreError::Corrupt("tile outside the job's grid".into()))?;
    Ok((claimed, signature, png, rect))
}
