//! Signed messages of the node protocol that auditors check too.
//!
//! Tile signing: the node that rendered a tile signs `"tessera-tile-v1" ‖ job key (32) ‖
//! frame (u32 LE) ‖ tile (u32 LE) ‖ pixel hash (32)` with its node key (ed25519).
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;

use crate::receipt::TileRecord;

/// Domain tag that starts every tile message.
pub const TILE_MESSAGE_TAG: &[u8] = b"tessera-tile-v1";

/// The message a node signs for one delivered tile.
pub fn tile_message(job_key: &Pubkey, frame: u32, tile: u32, pixel_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(TILE_MESSAGE_TAG.len() + 32 + 8 + 32);
    m.extend_from_slice(TILE_MESSAGE_TAG);
    m.extend_from_slice(job_key.as_ref());
    m.extend_from_slice(&frame.to_le_bytes());
    m.extend_from_slice(&tile.to_le_bytes());
    m.extend_from_slice(pixel_hash);
    m
}

/// True when `signature` is `record.node`'s signature of the record's tile message.
pub fn verify_tile_signature(job_key: &Pubkey, record: &TileRecord, signature: &Signature) -> bool {
    let message = tile_message(job_key, record.frame, record.tile, &record.pixel_hash);
    signature.verify(record.node.as_ref(), &message)
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::{Keypair, Signer};

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
}
