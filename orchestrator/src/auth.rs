//! Signed requests (nodes and artists), in the order that keeps strangers cheap:
//!
//! 1. [`claim`]: the headers parse and the timestamp is within the window (no I/O);
//! 2. [`admit_node`]: the key's own rate limit, then its on-chain standing from a cache that
//!    keeps refusals too (an unknown key costs one chain read per `node_cache_ms`, not per request);
//! 3. only then is the body read, under the route's small limit, hashed, and
//! 4. [`verify`]: the signature (bound to this orchestrator's key, see
//!    [`tessera_sdk::protocol::request_message`]) is checked and, last, recorded against replays.
//!
//! Per-address limits run before all of this, as a router layer (`api::limit_address`).
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;

use axum::body::Body;
use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Signature, Signer};

use crate::api::bytes_compat::Bytes;
use crate::api::AppState;
use crate::error::{ApiError, ApiResult};
use crate::protocol::*;
use crate::store::now_ms;

/// What the chain says about a node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub benchmark_score: u64,
    /// The stake owner: checks and tiebreaks go to other operators (`verify`).
    pub operator: Pubkey,
}

pub use crate::eligibility::NodeCache;

/// Keyed GCRA limits (per node key, per client address); `None` when disabled.
pub struct RateLimits {
    by_key: Option<DefaultKeyedRateLimiter<Pubkey>>,
    by_addr: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_s: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_s)?;
    let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2"));
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn new(per_key: u32, per_addr: u32) -> Self {
        Self {
            by_key: keyed(per_key),
            by_addr: keyed(per_addr),
        }
    }

    pub fn check_addr(&self, addr: IpAddr) -> ApiResult<()> {
        match &self.by_addr {
            Some(l) if l.check_key(&addr).is_err() => {
                Err(ApiError::RateLimited(format!("address {addr}")))
            }
            _ => Ok(()),
        }
    }

    fn check_key(&self, key: &Pubkey) -> ApiResult<()> {
        match &self.by_key {
            Some(l) if l.check_key(key).is_err() => {
                Err(ApiError::RateLimited(format!("key {key}")))
            }
            _ => Ok(()),
        }
    }

    /// Drops the state of keys and addresses that are back to a full burst.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.by_key {
            l.retain_recent();
        }
        if let Some(l) = &self.by_addr {
            l.retain_recent();
        }
    }
}

/// The auth headers of a request, parsed and fresh; nothing verified yet.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub key: Pubkey,
    pub timestamp_ms: i64,
    signature: Signature,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    h.get(name)
        .ok_or_else(|| ApiError::Unauthenticated(format!("missing {name}")))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated(format!("{name} is not text")))
}

/// Step 1: parses the headers and refuses a timestamp outside the window. No I/O.
pub fn claim(state: &AppState, headers: &HeaderMap) -> ApiResult<Claimed> {
    let key = Pubkey::from_str(header(headers, HEADER_NODE)?)
        .map_err(|_| ApiError::Unauthenticated("bad key".into()))?;
    let timestamp_ms: i64 = header(headers, HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| ApiError::Unauthenticated("bad timestamp".into()))?;
    let signature = Signature::from_str(header(headers, HEADER_SIGNATURE)?)
        .map_err(|_| ApiError::Unauthenticated("bad signature encoding".into()))?;
    if (now_ms() - timestamp_ms).abs() > state.cfg.auth_window_ms {
        return Err(ApiError::StaleTimestamp);
    }
    Ok(Claimed {
        key,
        timestamp_ms,
        signature,
    })
}

/// Steps 1–2 for a node: fresh headers, the key's rate, its on-chain standing (cached).
pub async fn admit_node(state: &AppState, headers: &HeaderMap) -> ApiResult<(Claimed, NodeInfo)> {
    let c = claim(state, headers)?;
    state.limits.check_key(&c.key)?;
    let info = eligibility(state, &c.key).await?;
    Ok((c, info))
}

/// Step 3: reads at most `limit` bytes of body (413 beyond).
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge(format!("more than {limit} bytes"))
        } else {
            ApiError::BadRequest(format!("reading the body: {e}"))
        }
    })
}

pub use crate::store::Replay;

/// Step 4a: the signature over (this orchestrator, method, path, timestamp, body).
pub fn check_signature(
    state: &AppState,
    c: &Claimed,
    method: &str,
    path: &str,
    body: &[u8],
) -> ApiResult<Replay> {
    check_signature_of_hash(state, c, method, path, &blake3::hash(body))
}

/// [`check_signature`] for a body already hashed as it streamed by (scene uploads).
pub fn check_signature_of_hash(
    state: &AppState,
    c: &Claimed,
    method: &str,
    path: &str,
    body_hash: &blake3::Hash,
) -> ApiResult<Replay> {
    let msg = request_message(
        &state.keypair.pubkey(),
        method,
        path,
        c.timestamp_ms,
        body_hash,
    );
    if !c.signature.verify(c.key.as_ref(), &msg) {
        return Err(ApiError::BadSignature);
    }
    Ok(Replay {
        signature: c.signature.to_string(),
        timestamp_ms: c.timestamp_ms,
    })
}

/// Step 4: the signature, then the replay record in a transaction of its own (for
/// handlers without a transaction to share).
pub async fn verify(
    state: &AppState,
    c: &Claimed,
    method: &str,
    path: &str,
    body: &[u8],
) -> ApiResult<()> {
    let replay = check_signature(state, c, method, path, body)?;
    Ok(state.store.remember(replay).await?)
}

/// A node request end to end: admitted, body read under `limit`, signature checked; the
/// replay record is the handler's to write in its transaction.
pub async fn node_request(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<(Pubkey, NodeInfo, Bytes, Replay)> {
    let (c, info) = admit_node(state, headers).await?;
    let bytes = read_body(body, limit).await?;
    let replay = check_signature(state, &c, method, path, &bytes)?;
    Ok((c.key, info, bytes, replay))
}

/// Step 2's on-chain standing (`eligibility`: cached, refusals too, refreshed in batches).
async fn eligibility(state: &AppState, key: &Pubkey) -> ApiResult<NodeInfo> {
    state.nodes.check(state, key).await
}
