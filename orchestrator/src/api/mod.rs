//! HTTP API: one file per resource. Every request runs in a tracing span (TraceLayer).
pub mod jobs;
pub mod leases;
pub mod nodes;
pub mod scenes;

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use bytes_compat::Bytes;
use serde::Serialize;
use solana_sdk::signature::Keypair;
use tokio::sync::{broadcast, Notify};
use tower_http::trace::TraceLayer;

use crate::auth::NodeCache;
use crate::blob::BlobStore;
use crate::chain::Chain;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::Config;

pub(crate) mod bytes_compat {
    pub use axum::body::Bytes;
}

/// One tile event on a job's stream.
#[derive(Clone, Debug, Serialize)]
pub struct TileEvent {
    pub job_id: u64,
    pub frame: u32,
    pub tile: u32,
    /// leased, submitted, verified, awaiting-check, awaiting-tiebreak, requeued, fault, expired, job-ready
    pub event: String,
    pub node: Option<String>,
}

/// Everything a handler needs.
pub struct AppState {
    pub cfg: Config,
    pub store: Store,
    pub blobs: Arc<dyn BlobStore>,
    pub chain: Chain,
    pub keypair: Arc<Keypair>,
    pub metrics: Metrics,
    pub events: broadcast::Sender<TileEvent>,
    pub salt: [u8; 32],
    pub nodes: NodeCache,
    pub poster_wake: Notify,
}

impl AppState {
    pub fn emit(&self, job_id: u64, frame: u32, tile: u32, event: &str, node: Option<String>) {
        let _ = self.events.send(TileEvent {
            job_id,
            frame,
            tile,
            event: event.into(),
            node,
        });
    }
}

pub type Shared = State<Arc<AppState>>;

/// Turns a body extraction failure into a problem document.
pub fn body(b: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    b.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(e.body_text())
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

async fn metrics(State(s): Shared) -> impl IntoResponse {
    let depth: Result<u64, crate::error::StoreError> =
        s.store.tx(|tx| crate::store::queue_depth(tx)).await;
    if let Ok(depth) = depth {
        s.metrics.queue_depth.set(depth as i64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.metrics.render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

pub fn router(state: Arc<AppState>) -> Router {
    let scene_limit = state.cfg.max_scene_bytes;
    let tile_limit = state.cfg.max_request_bytes;
    Router::new()
        .route(
            "/v1/scenes",
            post(scenes::upload).layer(DefaultBodyLimit::max(scene_limit)),
        )
        .route(
            "/v1/scenes/{hash}",
            get(scenes::download).head(scenes::exists),
        )
        .route("/v1/nodes/{key}", get(nodes::standing))
        .route("/v1/jobs", post(jobs::register))
        .route("/v1/jobs/{id}", get(jobs::status))
        .route("/v1/jobs/{id}/events", get(jobs::events))
        .route("/v1/jobs/{id}/frames/{frame}/preview", get(jobs::preview))
        .route("/v1/jobs/{id}/frames/{frame}/image", get(jobs::frame_image))
        .route("/v1/jobs/{id}/manifest", get(jobs::manifest))
        .route("/v1/jobs/{id}/evidence", get(jobs::evidence))
        .route("/v1/leases", post(leases::lease))
        .route("/v1/leases/{id}/heartbeat", post(leases::heartbeat))
        .route("/v1/leases/{id}/submit", post(leases::submit))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(tile_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
