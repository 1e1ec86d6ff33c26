//! Typed errors. Every API error becomes an RFC 9457 problem document
//! (`application/problem+json`) with a stable `type` slug and an HTTP status.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thiserror::Error;

/// Errors of the storage layer (SQLite, PostgreSQL, blobs).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Pg(#[from] postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("migration: {0}")]
    Migration(String),
    #[error("store configuration: {0}")]
    Config(String),
    /// A request signature seen before (the transaction that met it rolled back).
    #[error("request replayed")]
    Replay,
    /// The lease is no longer the node's, or its job stopped (the transaction rolled back).
    #[error("lease {0} is gone")]
    LeaseGone(i64),
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error("store task failed: {0}")]
    Join(String),
    /// The group this transaction ran in did not commit (SQLite group commit): nothing of
    /// it is stored.
    #[error("store commit failed: {0}")]
    Commit(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Errors talking to the chain.
#[derive(Debug, Error)]
pub enum ChainError {
    #[error("rpc: {0}")]
    Rpc(String),
    #[error("account {0} could not be decoded: {1}")]
    Decode(String, String),
}

/// What an API request can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("request body too large: {0}")]
    TooLarge(String),
    #[error("missing or malformed authentication headers: {0}")]
    Unauthenticated(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// A session token past its expiry: open a new one (`POST /v1/sessions`).
    #[error("session expired")]
    SessionExpired,
    #[error("request replayed")]
    Replay,
    #[error("node {0} is not registered on-chain")]
    NodeNotRegistered(String),
    #[error("node stake {stake} is below the network minimum {min}")]
    InsufficientStake { stake: u64, min: u64 },
    #[error("node is excluded from this job after a verification fault")]
    NodeBanned,
    #[error("{0} not found")]
    NotFound(String),
    #[error("lease {0} is not held by this node or has expired")]
    LeaseGone(i64),
    #[error("pixel hash mismatch: claimed {claimed}, computed {computed}")]
    HashMismatch { claimed: String, computed: String },
    #[error("invalid tile image: {0}")]
    BadImage(String),
    #[error("invalid scene bundle: {0}")]
    BadScene(String),
    #[error("job refused: {0}")]
    JobRefused(String),
    #[error("{0}")]
    Conflict(String),
    /// Clean frames before the job is settled on-chain (previews only until then).
    #[error("{0}")]
    NotSettled(String),
    #[error("too many requests: {0}")]
    RateLimited(String),
    #[error("lease limit reached: {0}")]
    LeaseLimit(String),
    #[error("busy: {0}")]
    Busy(String),
    #[error("scene upload refused: {0}")]
    SceneRefused(String),
    /// A signed status request from neither the job's artist nor the orchestrator's operator.
    #[error("{0}")]
    BreakdownRefused(String),
    #[error("chain unavailable: {0}")]
    Chain(#[from] ChainError),
    #[error("internal storage error")]
    Store(StoreError),
    #[error("blob storage error")]
    Blob(#[from] crate::blob::BlobError),
    /// A closed job's tile results were deleted after `result_retention_ms`.
    #[error("{0}")]
    ResultsDeleted(String),
    /// A `Range` outside the blob (or not parseable); answered with `Content-Range: bytes */size`.
    #[error("range {range:?} is not within the {size} bytes")]
    RangeNotSatisfiable { range: String, size: u64 },
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Replay => ApiError::Replay,
            StoreError::LeaseGone(id) => ApiError::LeaseGone(id),
            e => ApiError::Store(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            BadRequest(_) | BadImage(_) => StatusCode::BAD_REQUEST,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Unauthenticated(_) | BadSignature | StaleTimestamp | SessionExpired | Replay => {
                StatusCode::UNAUTHORIZED
            }
            NodeNotRegistered(_) | InsufficientStake { .. } | NodeBanned | NotSettled(_) => {
                StatusCode::FORBIDDEN
            }
            NotFound(_) => StatusCode::NOT_FOUND,
            LeaseGone(_) => StatusCode::GONE,
            HashMismatch { .. } | BadScene(_) | JobRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Conflict(_) => StatusCode::CONFLICT,
            RateLimited(_) | LeaseLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            SceneRefused(_) | BreakdownRefused(_) => StatusCode::FORBIDDEN,
            Chain(_) => StatusCode::BAD_GATEWAY,
            Store(_) | Blob(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ResultsDeleted(_) => StatusCode::GONE,
            RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    /// Stable machine-readable slug (the problem `type`).
    pub fn slug(&self) -> &'static str {
        use ApiError::*;
        match self {
            BadRequest(_) => "bad-request",
            TooLarge(_) => "too-large",
            Unauthenticated(_) => "unauthenticated",
            BadSignature => "bad-signature",
            StaleTimestamp => "stale-timestamp",
            SessionExpired => "session-expired",
            Replay => "replay",
            NodeNotRegistered(_) => "node-not-registered",
            InsufficientStake { .. } => "insufficient-stake",
            NodeBanned => "node-banned",
            NotFound(_) => "not-found",
            LeaseGone(_) => "lease-gone",
            HashMismatch { .. } => "hash-mismatch",
            BadImage(_) => "bad-image",
            BadScene(_) => "bad-scene",
            JobRefused(_) => "job-refused",
            Conflict(_) => "conflict",
            NotSettled(_) => "not-settled",
            RateLimited(_) => "rate-limited",
            LeaseLimit(_) => "lease-limit",
            Busy(_) => "busy",
            SceneRefused(_) => "scene-refused",
            BreakdownRefused(_) => "breakdown-refused",
            Chain(_) => "chain-unavailable",
            Store(_) => "internal",
            Blob(_) => "blob-store",
            ResultsDeleted(_) => "results-deleted",
            RangeNotSatisfiable { .. } => "range-not-satisfiable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, ApiError::Busy(_)) {
            tracing::error!(error = ?self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let body = json!({
            "type": format!("https://tessera.dev/problems/{}", self.slug()),
            "title": self.slug(),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        let mut resp = (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let ApiError::RangeNotSatisfiable { size, .. } = self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut()
                    .insert(axum::http::header::CONTENT_RANGE, v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
