//! HTTP transport: `POST /` carries JSON-RPC (single or batch), `GET /health` answers `ok`.
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use jsonrpc_core::IoHandler;

pub fn router(io: IoHandler) -> Router {
    Router::new()
        .route("/", post(rpc))
        .route("/health", get(|| async { "ok" }))
        .with_state(Arc::new(io))
}

async fn rpc(State(io): State<Arc<IoHandler>>, body: String) -> impl IntoResponse {
    match io.handle_request(&body).await {
        Some(reply) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            reply,
        ),
        // Only notifications (no id): nothing to answer.
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            String::new(),
        ),
    }
}
