//! Scene bundles: `POST /v1/scenes` (artists), `HEAD /v1/scenes/{hash}` (anyone: is it
//! stored?), `GET /v1/scenes/{hash}` (signed, nodes).
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::bytes_compat::Bytes;
use super::Shared;
use crate::error::{ApiError, ApiResult};
use crate::store;

/// Stores a `.glb`, `.gltf` or tar bundle by blake3 after a parse check; same bytes → same hash, free.
pub async fn upload(
    State(s): Shared,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let bytes = super::body(b)?;
    if bytes.is_empty() {
        return Err(ApiError::BadScene("empty body".into()));
    }
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let h = hash.clone();
    if s.store.tx(move |tx| store::scene_exists(tx, &h)).await? && s.blobs.has(&hash)? {
        return Ok((
            StatusCode::OK,
            Json(json!({"hash": hash, "size": bytes.len(), "new": false})),
        ));
    }
    let st = s.clone();
    let size = bytes.len();
    let stored = tokio::task::spawn_blocking(move || -> ApiResult<String> {
        let scene = tessera_render::Scene::from_bundle(&bytes)
            .map_err(|e| ApiError::BadScene(e.to_string()))?;
        tracing::info!(triangles = scene.triangle_count(), "scene parsed");
        Ok(st.blobs.put(&bytes)?.0)
    })
    .await
    .map_err(|e| ApiError::Store(crate::error::StoreError::Join(e.to_string())))??;
    let h = stored.clone();
    s.store
        .tx(move |tx| store::scene_insert(tx, &h, size))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"hash": stored, "size": size, "new": true})),
    ))
}

/// Scene bytes for a node (signed request).
pub async fn download(
    State(s): Shared,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    crate::auth::authenticate(&s, "GET", &format!("/v1/scenes/{hash}"), &headers, b"").await?;
    let bytes = s
        .blobs
        .get(&hash)?
        .ok_or_else(|| ApiError::NotFound(format!("scene {hash}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    ))
}

/// Whether a scene is stored, so an artist's tools can skip the upload (no bytes revealed).
pub async fn exists(State(s): Shared, Path(hash): Path<String>) -> ApiResult<StatusCode> {
    let h = hash.to_lowercase();
    let known = s.store.tx(move |tx| store::scene_exists(tx, &h)).await?;
    Ok(if known && s.blobs.has(&hash.to_lowercase())? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}
