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
//!
//! Sessions (issue 15: one ed25519 verification per request was a third of a lease's CPU):
//! a node's ed25519-signed `POST /v1/sessions` (bound to this orchestrator like every signed
//! request) returns a token `node (32) ‖ expires_ms (8 LE) ‖ nonce (16)` (hex) and its key
//! `blake3::derive_key("tessera-session-v1", salt ‖ [process secret] ‖ orchestrator ‖ token)`, the salt being
//! the store's secret (shared by every instance on one database, so on PostgreSQL any instance
//! checks a session and none keeps session state). On embedded SQLite the store also mixes in
//! a secret made when it opens, and keeps session requests' replay window in memory instead of a
//! `seen_sigs` row each (`store::replay`): its sessions end with the process (a node's MAC
//! then fails, `bad-signature`, and the node opens a new session). Later requests carry `x-tessera-session` and
//! `x-tessera-mac`, the keyed blake3 of the same request message, instead of a key and a
//! signature; everything else (timestamp window, rate limit, standing, body limit, replay
//! record) is unchanged. A token past its expiry is refused (401 `session-expired`), a token
//! with another node or expiry, or a MAC under another key, does not verify (401
//! `bad-signature`). Tile signatures stay ed25519: they are the slash evidence on-chain.
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::api::bytes_compat::Bytes;
use crate::api::AppState;
use crate::error::{ApiError, ApiResult};
use crate::protocol::*;
use crate::store::now_ms;
use tessera_sdk::Node;

/// What the chain says about a node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub benchmark_score: u64,
    /// The stake owner: checks and tiebreaks go to other operators (`verify`).
    pub operator: Pubkey,
    /// The account as read: whether the node qualifies as a witness of a job
    /// (`Node::witness_refusal`) decides whether it gets the job's second renders.
    pub account: Arc<Node>,
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
    proof: Proof,
}

/// What vouches for a request: the key's signature, or a session's MAC.
#[derive(Clone, Debug)]
enum Proof {
    Signature(Signature),
    Mac {
        token: [u8; TOKEN_LEN],
        mac: blake3::Hash,
    },
}

impl Claimed {
    /// Whether the request was signed with the key itself (not made in a session).
    pub fn is_signed(&self) -> bool {
        matches!(self.proof, Proof::Signature(_))
    }
}

/// Bytes of a session token: node key, expiry (unix ms, LE), nonce.
pub const TOKEN_LEN: usize = 32 + 8 + 16;

/// A session opened for a node (`POST /v1/sessions`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Hex token, sent as `x-tessera-session`.
    pub session: String,
    /// Hex 32-byte key the node MACs requests with (`tessera_sdk::protocol::mac_request`).
    pub key: String,
    pub expires_ms: i64,
}

fn session_key(state: &AppState, token: &[u8; TOKEN_LEN]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("tessera-session-v1");
    h.update(&state.salt);
    // Sessions whose replays are kept in memory end with the store (`store::replay`).
    if let Some(secret) = state.store.session_secret() {
        h.update(&secret);
    }
    h.update(state.keypair.pubkey().as_ref());
    h.update(token);
    *h.finalize().as_bytes()
}

/// A new session for `node`, valid `session_ttl_ms`.
pub fn open_session(state: &AppState, node: &Pubkey) -> Session {
    let expires_ms = now_ms() + state.cfg.session_ttl_ms;
    let mut token = [0u8; TOKEN_LEN];
    token[..32].copy_from_slice(node.as_ref());
    token[32..40].copy_from_slice(&expires_ms.to_le_bytes());
    // Unpredictable, so a token is not guessable from the node and the time.
    let nonce = blake3::hash(&Keypair::new().to_bytes());
    token[40..].copy_from_slice(&nonce.as_bytes()[..16]);
    Session {
        session: hex::encode(&token),
        key: hex::encode(&session_key(state, &token)),
        expires_ms,
    }
}

mod hex {
    pub fn encode(b: &[u8]) -> String {
        crate::receipt::hex(b)
    }

    pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
        if s.len() != 2 * N || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

/// The session headers, parsed; the key and expiry from the token. No I/O.
fn claim_session(headers: &HeaderMap, token: &str) -> ApiResult<(Pubkey, Proof)> {
    let token: [u8; TOKEN_LEN] =
        hex::decode(token).ok_or_else(|| ApiError::Unauthenticated("bad session token".into()))?;
    let mac: [u8; 32] = hex::decode(header(headers, HEADER_MAC)?)
        .ok_or_else(|| ApiError::Unauthenticated("bad mac encoding".into()))?;
    let key = Pubkey::new_from_array(token[..32].try_into().expect("32 bytes"));
    let expires = i64::from_le_bytes(token[32..40].try_into().expect("8 bytes"));
    if now_ms() > expires {
        return Err(ApiError::SessionExpired);
    }
    let mac = blake3::Hash::from(mac);
    Ok((key, Proof::Mac { token, mac }))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    h.get(name)
        .ok_or_else(|| ApiError::Unauthenticated(format!("missing {name}")))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated(format!("{name} is not text")))
}

/// Step 1: parses the headers (a key and signature, or a session and MAC) and refuses a
/// timestamp outside the window or an expired session. No I/O.
pub fn claim(state: &AppState, headers: &HeaderMap) -> ApiResult<Claimed> {
    let (key, proof) = match headers.get(HEADER_SESSION) {
        Some(token) => {
            let token = token
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("session is not text".into()))?;
            claim_session(headers, token)?
        }
        None => {
            let key = Pubkey::from_str(header(headers, HEADER_NODE)?)
                .map_err(|_| ApiError::Unauthenticated("bad key".into()))?;
            let signature = Signature::from_str(header(headers, HEADER_SIGNATURE)?)
                .map_err(|_| ApiError::Unauthenticated("bad signature encoding".into()))?;
            (key, Proof::Signature(signature))
        }
    };
    let timestamp_ms: i64 = header(headers, HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| ApiError::Unauthenticated("bad timestamp".into()))?;
    if (now_ms() - timestamp_ms).abs() > state.cfg.auth_window_ms {
        return Err(ApiError::StaleTimestamp);
    }
    Ok(Claimed {
        key,
        timestamp_ms,
        proof,
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
    let signature = match &c.proof {
        Proof::Signature(sig) => {
            if !sig.verify(c.key.as_ref(), &msg) {
                return Err(ApiError::BadSignature);
            }
            state
                .metrics
                .requests_authenticated
                .with_label_values(&["signature"])
                .inc();
            sig.to_string()
        }
        Proof::Mac { token, mac } => {
            // `blake3::Hash` compares in constant time.
            if blake3::keyed_hash(&session_key(state, token), &msg) != *mac {
                return Err(ApiError::BadSignature);
            }
            state
                .metrics
                .requests_authenticated
                .with_label_values(&["mac"])
                .inc();
            format!("{}{}", crate::store::replay::SESSION_PREFIX, mac.to_hex())
        }
    };
    Ok(Replay {
        signature,
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
