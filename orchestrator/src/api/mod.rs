//! HTTP API: one file per resource. Every request runs in a tracing span (TraceLayer).
pub mod jobs;
pub mod leases;
pub mod nodes;
pub mod scenes;
pub mod sessions;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use solana_sdk::signature::Keypair;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

use crate::auth::{NodeCache, RateLimits};
use crate::blob::BlobStore;
use crate::chain::Chain;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::store::Store;

use crate::Config;

pub(crate) mod bytes_compat {
    pub use axum::body::Bytes;
}

/// What the public event stream tells: only what is settled about a tile. Leases, awaited
/// checks and tiebreaks and requeues are not published, nor are unverified tiles in
/// previews: they would tell a node which lease is a check and whose pixels it checks, so a
/// checker could copy instead of rendering (issue 14, "lazy checker").
pub const PUBLIC_EVENTS: [&str; 3] = ["verified", "fault", "job-ready"];

/// One tile event on a job's stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TileEvent {
    pub job_id: u64,
    pub frame: u32,
    pub tile: u32,
    /// One of [`PUBLIC_EVENTS`]: `verified`, `fault` (a tiebreak convicted `node`), `job-ready`.
    pub event: String,
    pub node: Option<String>,
}

/// Everything a handler needs.
pub struct AppState {
    pub cfg: Config,
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub chain: Chain,
    pub keypair: Arc<Keypair>,
    pub metrics: Metrics,
    /// The public event stream of every instance (`events`).
    pub events: crate::events::Events,
    pub salt: [u8; 32],
    pub nodes: NodeCache,
    pub limits: RateLimits,
    /// Permits for the public image and manifest endpoints (decoding and stitching).
    pub public: tokio::sync::Semaphore,
    pub poster_wake: Notify,
    /// Wakes the background verifier (`verifier`) when a second render was stored.
    pub verifier_wake: Notify,
    /// Held (shared) from a tile put that may reuse a stored blob until the row that
    /// references it is committed; held alone while `retention` picks and deletes blobs,
    /// so a deletion never takes a blob just reused.
    pub blob_gc: tokio::sync::RwLock<()>,
    /// The same between scene uploads and scene expiry (which skips a round while an
    /// upload is in flight rather than wait for it).
    pub scene_gc: tokio::sync::RwLock<()>,
}

impl AppState {
    pub fn emit(&self, job_id: u64, frame: u32, tile: u32, event: &str, node: Option<String>) {
        if !PUBLIC_EVENTS.contains(&event) {
            return;
        }
        self.events.publish(TileEvent {
            job_id,
            frame,
            tile,
            event: event.into(),
            node,
        });
    }
}

pub type Shared = State<Arc<AppState>>;

/// Runs a public, expensive request (stitching, manifests) under the concurrency limit and
/// the time limit: a request that finds every permit taken is refused at once (503 `busy`)
/// rather than queued, and one that runs too long is dropped.
pub async fn public_work<T>(
    s: &AppState,
    work: impl std::future::Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    let Ok(_permit) = s.public.try_acquire() else {
        s.metrics.refused.with_label_values(&["busy"]).inc();
        return Err(ApiError::Busy(
            "too many image or manifest requests at once; retry shortly".into(),
        ));
    };
    let limit = std::time::Duration::from_millis(s.cfg.public_timeout_ms);
    tokio::time::timeout(limit, work).await.map_err(|_| {
        s.metrics.refused.with_label_values(&["timeout"]).inc();
        ApiError::Busy(format!("took longer than {limit:?}"))
    })?
}

/// Per-address rate limit on every route, before any extraction; the server's clock on
/// every response (`x-tessera-time`), so clients with a skewed clock can correct it.
async fn limit_address(
    State(s): Shared,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let addr = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let mut resp = match addr.map(|a| s.limits.check_addr(a)) {
        Some(Err(e)) => {
            s.metrics.refused.with_label_values(&["rate-limited"]).inc();
            e.into_response()
        }
        _ => next.run(req).await,
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&crate::store::now_ms().to_string()) {
        resp.headers_mut()
            .insert(crate::protocol::HEADER_SERVER_TIME, v);
    }
    resp
}

/// `GET /v1/info`: the key requests are signed for, and the server's clock.
async fn info(State(s): Shared) -> axum::Json<crate::protocol::Info> {
    use solana_sdk::signature::Signer;
    axum::Json(crate::protocol::Info {
        orchestrator: s.keypair.pubkey().to_string(),
        time_ms: crate::store::now_ms(),
        auth_window_ms: s.cfg.auth_window_ms,
    })
}

async fn metrics(State(s): Shared) -> impl IntoResponse {
    let depth = s.store.queue_depth().await;
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

/// Body limits: signed routes read their body themselves, after the headers and the key
/// were checked (`auth`), under their own limit; the rest under `max_request_bytes`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.cfg.max_request_bytes;
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/scenes", post(scenes::upload))
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
        .route("/v1/jobs/{id}/checks", get(jobs::checks))
        .route("/v1/sessions", post(sessions::open))
        .route("/v1/leases", post(leases::lease))
        .route("/v1/leases/{id}/heartbeat", post(leases::heartbeat))
        .route("/v1/leases/{id}/submit", post(leases::submit))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_address,
        ))
        // Failures are logged once, by ApiError (server errors other than load shedding), not
        // again by the trace layer, which would log every shed 503 at ERROR.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}
