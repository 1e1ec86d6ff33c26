//! `POST /v1/sessions`: a node trades one ed25519-signed request for a session whose
//! requests are MACed instead of signed (see `auth`, "Sessions").
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::Shared;
use crate::auth::{self, Session};
use crate::error::{ApiError, ApiResult};

/// Opens a session for the signing node: the request must be signed with the node key
/// itself (a session does not open another), for this orchestrator, fresh and not replayed.
/// Refused (403 `sessions-need-tls`) before any work where the session key would cross the
/// network in the clear (`Config::sessions_allowed`).
pub async fn open(State(s): Shared, headers: HeaderMap, body: Body) -> ApiResult<Json<Session>> {
    if !s.cfg.sessions_allowed() {
        s.metrics
            .refused
            .with_label_values(&["sessions-need-tls"])
            .inc();
        return Err(ApiError::SessionsNeedTls);
    }
    let (c, _) = auth::admit_node(&s, &headers).await?;
    if !c.is_signed() {
        return Err(ApiError::Unauthenticated(
            "a session is opened with the node key's signature".into(),
        ));
    }
    let bytes = auth::read_body(body, s.cfg.max_small_body_bytes).await?;
    auth::verify(&s, &c, "POST", "/v1/sessions", &bytes).await?;
    Ok(Json(auth::open_session(&s, &c.key)))
}
