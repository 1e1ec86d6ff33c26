//! Scene bundles: `POST /v1/scenes?job_id=N` (the job's artist, signed), `HEAD
//! /v1/scenes/{hash}` (anyone: is it stored?), `GET /v1/scenes/{hash}` (signed, nodes).
//!
//! An upload is accepted only for a job that exists on-chain, is `Open` (so its escrow was
//! funded at creation), names this orchestrator, and whose `scene_hash` is the upload's
//! blake3; the request must be signed by that job's artist. The key and the job are checked
//! before the body is read. A scene that no unfinished job uses expires after
//! `scene_ttl_ms` (the sweeper deletes its row and blob).
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use solana_sdk::signature::Signer;
use tessera_sdk::JobState;

use super::Shared;
use crate::error::{ApiError, ApiResult};
use crate::receipt::hex;
use crate::store::now_ms;

#[derive(Debug, Deserialize)]
pub struct UploadFor {
    /// The on-chain job this scene is for.
    pub job_id: u64,
}

fn refuse(msg: impl Into<String>) -> ApiError {
    ApiError::SceneRefused(msg.into())
}

/// Stores a `.glb`, `.gltf` or tar bundle by blake3 after loading it at the job's first and
/// last frame; same bytes → same hash, free.
pub async fn upload(
    State(s): Shared,
    Query(q): Query<UploadFor>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let c = crate::auth::claim(&s, &headers)?;
    let job = s
        .chain
        .job(q.job_id)
        .await?
        .ok_or_else(|| refuse(format!("no job {} on-chain", q.job_id)))?;
    if job.artist != c.key {
        return Err(refuse("the request is not signed by the job's artist"));
    }
    if job.state != JobState::Open || job.orchestrator != s.keypair.pubkey() {
        return Err(refuse(
            "the job is not open, or another orchestrator's to render",
        ));
    }
    // Received into a spool file while hashed: a 256 MiB scene is never one buffer.
    let spool =
        crate::blob::Spool::receive(&s.blobs.spool_dir(), body, s.cfg.max_scene_bytes as u64)
            .await
            .map_err(|e| match e {
                crate::blob::BlobError::TooLarge(n) => {
                    ApiError::TooLarge(format!("more than {n} bytes"))
                }
                crate::blob::BlobError::Body(e) => {
                    ApiError::BadRequest(format!("reading the body: {e}"))
                }
                e => e.into(),
            })?;
    let with_query = format!("/v1/scenes?job_id={}", q.job_id);
    let replay = crate::auth::check_signature_of_hash(&s, &c, "POST", &with_query, &spool.hash)?;
    s.store.remember(replay).await?;
    let hash = spool.hash.to_hex().to_string();
    if hash != hex(&job.scene_hash) {
        return Err(ApiError::BadScene(format!(
            "the upload's blake3 is {hash}, the job's scene is {}",
            hex(&job.scene_hash)
        )));
    }
    let expires = now_ms() + s.cfg.scene_ttl_ms;
    let size = spool.size as usize;
    let h = hash.clone();
    let _reuse = s.scene_gc.read().await;
    if s.store.scene_exists(h).await? && s.blobs.head(&hash).await?.is_some() {
        let h = hash.clone();
        s.store.scene_insert(h, size, expires).await?;
        return Ok((
            StatusCode::OK,
            Json(json!({"hash": hash, "size": size, "new": false})),
        ));
    }
    let frames = [job.frame_start, job.frame_end];
    let rate = tessera_render::FrameRate::new(job.frame_rate_num, job.frame_rate_den)
        .ok_or_else(|| refuse("the job's frame rate is not a valid rational"))?;
    let mapped = spool.map()?;
    tokio::task::spawn_blocking(move || check_at_frames(&mapped, frames, rate))
        .await
        .map_err(|e| ApiError::Store(crate::error::StoreError::Join(e.to_string())))??;
    spool.store(s.blobs.as_ref()).await?;
    let h = hash.clone();
    s.store.scene_insert(h, size, expires).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"hash": hash, "size": size, "new": true})),
    ))
}

/// Loads the scene posed at the job's first and last frame, as `node-agent check` and
/// `tessera job submit` do: an animated scene can fail only later in its animation (a pose
/// outside the limits, a degenerate skin).
fn check_at_frames(
    bytes: &[u8],
    frames: [u32; 2],
    rate: tessera_render::FrameRate,
) -> ApiResult<()> {
    let mut frames = frames.to_vec();
    frames.dedup();
    for frame in frames {
        let opts = tessera_render::LoadOptions::at_frame(frame, rate);
        let scene = tessera_render::Scene::from_bundle_with(bytes, &opts)
            .map_err(|e| ApiError::BadScene(format!("frame {frame}: {e}")))?;
        tracing::info!(frame, triangles = scene.triangle_count(), "scene parsed");
    }
    Ok(())
}

/// Scene bytes for a node (signed request), streamed from the blob store.
pub async fn download(
    State(s): Shared,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let (c, _) = crate::auth::admit_node(&s, &headers).await?;
    crate::auth::verify(&s, &c, "GET", &format!("/v1/scenes/{hash}"), b"").await?;
    let found = s
        .blobs
        .get(&hash, None)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scene {hash}")))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_string(),
            ),
            (axum::http::header::CONTENT_LENGTH, found.size.to_string()),
        ],
        Body::from_stream(found.stream),
    ))
}

/// Whether a scene is stored, so an artist's tools can skip the upload (no bytes revealed).
pub async fn exists(State(s): Shared, Path(hash): Path<String>) -> ApiResult<StatusCode> {
    let h = hash.to_lowercase();
    let known = s.store.scene_exists(h).await?;
    Ok(if known && s.blobs.head(&hash).await?.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
