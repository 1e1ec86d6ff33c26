//! The node protocol's signed messages (also implemented by `node-agent run`), defined once
//! in [`tessera_sdk::protocol`]:
//!
//! Request signing: headers `x-tessera-node` (base58 key), `x-tessera-timestamp` (unix ms)
//! and `x-tessera-signature` (base58 ed25519) over `tessera-req-v2|ORCHESTRATOR|METHOD|PATH|
//! TIMESTAMP|blake3hex(BODY)`, ORCHESTRATOR being this orchestrator's key (`GET /v1/info`).
//!
//! Tile signing: the node signs `"tessera-tile-v1" ‖ job key (32) ‖ frame (u32 LE) ‖
//! tile (u32 LE) ‖ pixel hash (32)`, which auditors check too.
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
pub use tessera_sdk::protocol::{
    mac_request, request_message, sign_request, tile_message, HEADER_KEY as HEADER_NODE,
    HEADER_MAC, HEADER_SERVER_TIME, HEADER_SESSION, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

pub fn sign_tile(
    key: &Keypair,
    job_key: &Pubkey,
    frame: u32,
    tile: u32,
    pixel_hash: &[u8; 32],
) -> Signature {
    key.sign_message(&tile_message(job_key, frame, tile, pixel_hash))
}

/// Body of `POST /v1/leases/{id}/submit`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitTile {
    /// blake3 hex of the tile's RGBA8 pixels.
    pub pixel_hash: String,
    /// base58 signature of the tile message.
    pub signature: String,
    /// base64 PNG of the tile.
    pub png: String,
}

/// `GET /v1/info`: whom to sign requests for, and the clock to sign them with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Info {
    /// This orchestrator's key (base58): part of every signed request.
    pub orchestrator: String,
    /// The server's clock, unix ms.
    pub time_ms: i64,
    /// Accepted distance between a request's timestamp and `time_ms`.
    pub auth_window_ms: i64,
}
