//! Node authentication: signed requests, replay and staleness refusal, and on-chain
//! eligibility (registered, stake ≥ the network minimum), cached briefly.
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;

use crate::api::AppState;
use crate::error::{ApiError, ApiResult};
use crate::protocol::*;
use crate::store::{self, now_ms};

/// What the chain says about a node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub benchmark_score: u64,
}

/// A node's standing: its info, or (active stake, minimum) when under-staked.
type Standing = Result<NodeInfo, (u64, u64)>;

/// Chain standing of nodes, refreshed after `node_cache_ms`.
#[derive(Default)]
pub struct NodeCache {
    entries: Mutex<HashMap<Pubkey, (Instant, Standing)>>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    h.get(name)
        .ok_or_else(|| ApiError::Unauthenticated(format!("missing {name}")))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated(format!("{name} is not text")))
}

/// Checks a node request's signature, freshness and uniqueness, then the node's standing.
pub async fn authenticate(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(Pubkey, NodeInfo)> {
    let key = Pubkey::from_str(header(headers, HEADER_NODE)?)
        .map_err(|_| ApiError::Unauthenticated("bad node key".into()))?;
    let ts: i64 = header(headers, HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| ApiError::Unauthenticated("bad timestamp".into()))?;
    let sig_text = header(headers, HEADER_SIGNATURE)?.to_string();
    let sig = Signature::from_str(&sig_text)
        .map_err(|_| ApiError::Unauthenticated("bad signature encoding".into()))?;
    let now = now_ms();
    let window = state.cfg.auth_window_ms;
    if (now - ts).abs() > window {
        return Err(ApiError::StaleTimestamp);
    }
    if !sig.verify(key.as_ref(), &request_message(method, path, ts, body)) {
        return Err(ApiError::BadSignature);
    }
    let fresh = state
        .store
        .tx(move |tx| store::remember_signature(tx, &sig_text, ts, now - 2 * window))
        .await?;
    if !fresh {
        return Err(ApiError::Replay);
    }
    let info = eligibility(state, &key).await?;
    Ok((key, info))
}

async fn eligibility(state: &AppState, key: &Pubkey) -> ApiResult<NodeInfo> {
    let ttl = Duration::from_millis(state.cfg.node_cache_ms);
    if let Some((at, r)) = state.nodes.entries.lock().expect("cache").get(key) {
        if at.elapsed() < ttl {
            return r
                .clone()
                .map_err(|(stake, min)| ApiError::InsufficientStake { stake, min });
        }
    }
    let network = state
        .chain
        .network()
        .await?
        .ok_or_else(|| ApiError::Conflict("the network is not initialised on-chain".into()))?;
    let node = state
        .chain
        .node(key)
        .await?
        .ok_or_else(|| ApiError::NodeNotRegistered(key.to_string()))?;
    if node.node_key != *key {
        return Err(ApiError::NodeNotRegistered(key.to_string()));
    }
    let stake = node.active_stake();
    let r = if stake < network.min_stake {
        Err((stake, network.min_stake))
    } else {
        Ok(NodeInfo {
            benchmark_score: node.benchmark_score,
        })
    };
    state
        .nodes
        .entries
        .lock()
        .expect("cache")
        .insert(*key, (Instant::now(), r.clone()));
    r.map_err(|(stake, min)| ApiError::InsufficientStake { stake, min })
}
