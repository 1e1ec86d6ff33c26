//! Signed messages of the node protocol that auditors check too.
//!
//! Tile signing: the node that rendered a tile signs `"tessera-tile-v1" ‖ job key (32) ‖
//! frame (u32 LE) ‖ tile (u32 LE) ‖ pixel hash (32)` with its node key (ed25519).
//!
//! Request signing (nodes and artists): `"tessera-req-v2|" ORCHESTRATOR "|" METHOD "|" PATH
//! "|" TIMESTAMP_MS "|" blake3hex(BODY)`, where ORCHESTRATOR is the base58 key of the
//! orchestrator the request is for (`GET /v1/info`), so a request captured by one
//! orchestrator cannot be replayed to another.
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::tiles::TileRect;

/// A granted lease as the orchestrator sends it (`POST /v1/leases`, `submit?next=1`'s
/// `next`) and the node agent reads it: one definition for both sides of the wire.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub lease_id: i64,
    pub job_id: u64,
    /// The job account (base58).
    pub job_key: String,
    pub frame: u32,
    pub tile: u32,
    pub rect: TileRect,
    pub frame_width: u32,
    pub frame_height: u32,
    pub spp: u32,
    pub seed: u64,
    /// blake3 hex of the scene bundle (`GET /v1/scenes/{hash}`).
    pub scene_hash: String,
    /// Unix ms; heartbeat before it.
    pub deadline_ms: i64,
    /// The job's frames per second `[num, den]`: the node poses the scene at
    /// `(frame − 1) · den / num` seconds.
    pub frame_rate: [u32; 2],
}

/// Header carrying the signer's base58 key (a node key, or an artist's wallet for uploads).
pub const HEADER_KEY: &str = "x-tessera-node";
pub const HEADER_TIMESTAMP: &str = "x-tessera-timestamp";
pub const HEADER_SIGNATURE: &str = "x-tessera-signature";
/// Response header with the orchestrator's clock (unix ms), so skewed clients can correct.
pub const HEADER_SERVER_TIME: &str = "x-tessera-time";

/// Domain tag that starts every signed request.
pub const REQUEST_MESSAGE_TAG: &str = "tessera-req-v2";

/// The message signed for one request to `orchestrator`.
pub fn request_message(
    orchestrator: &Pubkey,
    method: &str,
    path: &str,
    timestamp_ms: i64,
    body_hash: &blake3::Hash,
) -> Vec<u8> {
    format!(
        "{REQUEST_MESSAGE_TAG}|{orchestrator}|{method}|{path}|{timestamp_ms}|{}",
        body_hash.to_hex()
    )
    .into_bytes()
}

/// The three auth headers of a request signed by `key` for `orchestrator`.
pub fn sign_request(
    key: &Keypair,
    orchestrator: &Pubkey,
    method: &str,
    path: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let msg = request_message(
        orchestrator,
        method,
        path,
        timestamp_ms,
        &blake3::hash(body),
    );
    [
        (HEADER_KEY, key.pubkey().to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_SIGNATURE, key.sign_message(&msg).to_string()),
    ]
}

/// Hands out strictly increasing request timestamps. An ed25519 signature is deterministic,
/// so two identical requests stamped with one millisecond would carry one signature, and the
/// orchestrator refuses the second as a replay.
#[derive(Debug, Default)]
pub struct RequestStamps {
    last: std::sync::atomic::AtomicI64,
}

impl RequestStamps {
    /// `now_ms` (on the orchestrator's clock), or one past the last stamp when that is not
    /// earlier; safe from several threads at once.
    pub fn next(&self, now_ms: i64) -> i64 {
        use std::sync::atomic::Ordering::SeqCst;
        let prev = self.last.fetch_max(now_ms, SeqCst);
        if now_ms > prev {
            now_ms
        } else {
            self.last.fetch_add(1, SeqCst) + 1
        }
    }
}

/// Header naming a session (`POST /v1/sessions`) instead of a key: the request carries
/// [`HEADER_MAC`] in place of [`HEADER_SIGNATURE`].
pub const HEADER_SESSION: &str = "x-tessera-session";
/// Header with the hex blake3 keyed MAC of [`request_message`] under the session key.
pub const HEADER_MAC: &str = "x-tessera-mac";

/// The auth headers of a request made in a session (`token`, `key` from `POST
/// /v1/sessions`): the same message as [`sign_request`], MACed instead of signed.
pub fn mac_request(
    token: &str,
    key: &[u8; 32],
    orchestrator: &Pubkey,
    method: &str,
    path: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let msg = request_message(
        orchestrator,
        method,
        path,
        timestamp_ms,
        &blake3::hash(body),
    );
    [
        (HEADER_SESSION, token.to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (
            HEADER_MAC,
            blake3::keyed_hash(key, &msg).to_hex().to_string(),
        ),
    ]
}

use crate::receipt::TileRecord;

/// Domain tag that starts every tile message (the program rebuilds the message on-chain).
pub use tessera::evidence::TILE_MESSAGE_TAG;

/// The message a node signs for one delivered tile: the program's own (`slash_node` checks
/// a node's signature over it).
pub fn tile_message(job_key: &Pubkey, frame: u32, tile: u32, pixel_hash: &[u8; 32]) -> Vec<u8> {
    tessera::evidence::tile_message(job_key, frame, tile, pixel_hash)
}

/// True when `signature` is `record.node`'s signature of the record's tile message.
pub fn verify_tile_signature(job_key: &Pubkey, record: &TileRecord, signature: &Signature) -> bool {
    let message = tile_message(job_key, record.frame, record.tile, &record.pixel_hash);
    signature.verify(record.node.as_ref(), &message)
}

/// Domain tag of an orchestrator's acknowledgement of a submitted tile.
pub use tessera::evidence::ACK_MESSAGE_TAG;

/// The message an orchestrator signs when it records a node's render of a tile: the node
/// keeps it and can later show that a manifest dropping that tile, or crediting it to
/// another node, contradicts what the orchestrator acknowledged (on-chain: `prove_ack`).
pub fn ack_message(
    job_key: &Pubkey,
    frame: u32,
    tile: u32,
    node: &Pubkey,
    pixel_hash: &[u8; 32],
) -> Vec<u8> {
    tessera::evidence::ack_message(job_key, frame, tile, node, pixel_hash)
}

/// True when `signature` is `orchestrator`'s acknowledgement of `record`.
pub fn verify_ack(
    orchestrator: &Pubkey,
    job_key: &Pubkey,
    record: &TileRecord,
    signature: &Signature,
) -> bool {
    let m = ack_message(
        job_key,
        record.frame,
        record.tile,
        &record.node,
        &record.pixel_hash,
    );
    signature.verify(orchestrator.as_ref(), &m)
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::{Keypair, Signer};

    #[test]
    fn request_stamps_increase_strictly_when_the_clock_stands_or_goes_back() {
        let stamps = RequestStamps::default();
        let got = [10, 10, 5, 11, 30].map(|now| stamps.next(now));
        assert_eq!(got, [10, 11, 12, 13, 30]);
    }

    #[test]
    fn an_ack_verifies_only_for_its_orchestrator_and_record() {
        let (orch, node) = (Keypair::new(), Keypair::new());
        let job = Pubkey::new_from_array([3; 32]);
        let record = TileRecord {
            frame: 2,
            tile: 5,
            node: node.pubkey(),
            pixel_hash: [1; 32],
        };
        let sig = orch.sign_message(&ack_message(&job, 2, 5, &node.pubkey(), &[1; 32]));
        assert!(verify_ack(&orch.pubkey(), &job, &record, &sig));
        assert!(!verify_ack(&node.pubkey(), &job, &record, &sig));
        let other_hash = TileRecord {
            pixel_hash: [2; 32],
            ..record.clone()
        };
        assert!(!verify_ack(&orch.pubkey(), &job, &other_hash, &sig));
        let other_node = TileRecord {
            node: orch.pubkey(),
            ..record
        };
        assert!(!verify_ack(&orch.pubkey(), &job, &other_node, &sig));
    }

    use super::*;

    #[test]
    fn tile_message_layout_and_signature() {
        let job = Pubkey::new_from_array([7; 32]);
        let m = tile_message(&job, 1, 0x0203, &[9; 32]);
        assert_eq!(m.len(), 15 + 32 + 4 + 4 + 32);
        assert_eq!(&m[..15], b"tessera-tile-v1");
        assert_eq!(&m[47..55], &[1, 0, 0, 0, 3, 2, 0, 0]);
        let key = Keypair::new();
        let record = TileRecord {
            frame: 1,
            tile: 0x0203,
            node: key.pubkey(),
            pixel_hash: [9; 32],
        };
        let sig = key.sign_message(&m);
        assert!(verify_tile_signature(&job, &record, &sig));
        let other = TileRecord { tile: 4, ..record };
        assert!(!verify_tile_signature(&job, &other, &sig));
    }

    #[test]
    fn request_signature_is_bound_to_one_orchestrator() {
        let key = Keypair::new();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let h = sign_request(&key, &a, "POST", "/v1/leases", 7, b"{}");
        let sig: Signature = h[2].1.parse().unwrap();
        let body = blake3::hash(b"{}");
        let for_a = request_message(&a, "POST", "/v1/leases", 7, &body);
        let for_b = request_message(&b, "POST", "/v1/leases", 7, &body);
        assert!(sig.verify(key.pubkey().as_ref(), &for_a));
        assert!(!sig.verify(key.pubkey().as_ref(), &for_b));
    }
}
