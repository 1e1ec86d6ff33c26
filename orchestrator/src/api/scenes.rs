//! Scene bundles: `POST /v1/scenes?job_id=N` (the job's artist, signed), `HEAD
//! /v1/scenes/{hash}` (anyone: is it stored?), `GET /v1/scenes/{hash}` (signed, nodes; a
//! `Range` of bytes answers 206, so a node resumes a broken download).
//!
//! An upload is accepted only for a job that exists on-chain, is `Open` (so its escrow was
//! funded at creation), names this orchestrator, and whose `scene_hash` is the upload's
//! blake3; the request must be signed by that job's artist. The key and the job are checked
//! before the body is read. A scene that no unfinished job uses expires after
//! `scene_ttl_ms` (the sweeper deletes its row and blob).
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// Scene bytes for a node (signed request), streamed from the blob store. A `Range` of
/// one byte range (RFC 9110: `bytes=a-b`, `bytes=a-`, `bytes=-n`) gets `206` with
/// `Content-Range`, read from the blob store's range read (a node resumes a broken
/// download); one outside the blob or malformed gets `416` with `Content-Range: bytes
/// */size`; several ranges are ignored (the whole scene, as RFC 9110 allows).
pub async fn download(
    State(s): Shared,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (c, _) = crate::auth::admit_node(&s, &headers).await?;
    crate::auth::verify(&s, &c, "GET", &format!("/v1/scenes/{hash}"), b"").await?;
    let missing = || ApiError::NotFound(format!("scene {hash}"));
    let wanted = match headers.get(header::RANGE) {
        None => None,
        Some(v) => {
            let size = s.blobs.head(&hash).await?.ok_or_else(missing)?;
            byte_range(v.to_str().unwrap_or_default(), size)?
        }
    };
    let found = s
        .blobs
        .get(&hash, wanted.clone())
        .await?
        .ok_or_else(missing)?;
    let mut resp = Body::from_stream(found.stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = match &wanted {
        None => found.size,
        Some(r) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {}-{}/{}", r.start, r.end - 1, found.size);
            resp.headers_mut()
                .insert(header::CONTENT_RANGE, header_value(&range)?);
            r.end - r.start
        }
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, header_value(&len.to_string())?);
    Ok(resp)
}

fn header_value(v: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(v).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The one byte range `range` asks for within `size` bytes (end exclusive); `None` for
/// several ranges (served whole); 416 when unsatisfiable or malformed.
pub fn byte_range(range: &str, size: u64) -> ApiResult<Option<std::ops::Range<u64>>> {
    let refused = || ApiError::RangeNotSatisfiable {
        range: range.to_string(),
        size,
    };
    let ranges = http_range_header::parse_range_header(range)
        .and_then(|r| r.validate(size))
        .map_err(|_| refused())?;
    Ok(match ranges.as_slice() {
        [one] => Some(*one.start()..*one.end() + 1),
        _ => None,
    })
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

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn one_range_is_served_several_whole_and_outside_ones_refused() {
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), Some(90..100));
        assert_eq!(byte_range("bytes=-5", 100).unwrap(), Some(95..100));
        // An end past the blob is clamped to it (RFC 9110 14.1.2).
        assert_eq!(byte_range("bytes=50-500", 100).unwrap(), Some(50..100));
        assert_eq!(byte_range("bytes=0-1,5-6", 100).unwrap(), None);
        for bad in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=5-1",
            "pages=0-1",
            "bytes=x-",
        ] {
            let e = byte_range(bad, 100).unwrap_err();
            assert_eq!(
                e.status(),
                axum::http::StatusCode::RANGE_NOT_SATISFIABLE,
                "{bad}"
            );
        }
    }
}
