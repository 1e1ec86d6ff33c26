//! The node protocol's signed messages (also implemented by `node-agent run`).
//!
//! Request signing: headers `x-tessera-node` (base58 node key), `x-tessera-timestamp`
//! (unix ms) and `x-tessera-signature` (base58 ed25519 signature) over
//! `METHOD|PATH|TIMESTAMP|blake3hex(BODY)`.
//!
//! Tile signing: the node signs `"tessera-tile-v1" ‖ job key (32) ‖ frame (u32 LE) ‖
//! tile (u32 LE) ‖ pixel hash (32)`; the message is defined once, in
//! [`tessera_sdk::protocol::tile_message`], which auditors use too.
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
pub use tessera_sdk::protocol::tile_message;

pub const HEADER_NODE: &str = "x-tessera-node";
pub const HEADER_TIMESTAMP: &str = "x-tessera-timestamp";
pub const HEADER_SIGNATURE: &str = "x-tessera-signature";

pub fn request_message(method: &str, path: &str, timestamp_ms: i64, body: &[u8]) -> Vec<u8> {
    format!(
        "{method}|{path}|{timestamp_ms}|{}",
        blake3::hash(body).to_hex()
    )
    .into_bytes()
}

/// The three auth headers for a request.
pub fn sign_request(
    key: &Keypair,
    method: &str,
    path: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let sig = key.sign_message(&request_message(method, path, timestamp_ms, body));
    [
        (HEADER_NODE, key.pubkey().to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_SIGNATURE, sig.to_string()),
    ]
}

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
