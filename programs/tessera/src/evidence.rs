//! Evidence against a node: the tile message it signs off-chain, and the Ed25519 program's
//! check of that signature, read back through the instructions sysvar.
//!
//! The program cannot verify an ed25519 signature itself (no syscall); the runtime's Ed25519
//! program does, and fails the whole transaction on a bad signature. So `slash_node` and
//! `corroborate_tile` require
//! the instruction right before it to be that program's check of exactly one signature, with
//! its key, signature and message inside its own data, and the message the tile message of
//! this job and tile (its hash is what the signer vouches for). Anything else would let a check of some other key or
//! message (or data in another instruction) stand in for the node's signature.
use anchor_lang::prelude::*;
use solana_instructions_sysvar::{load_current_index_checked, load_instruction_at_checked};

use crate::errors::TesseraError;

/// Prefix of the message a node signs for every tile it returns.
pub const TILE_MESSAGE_TAG: &[u8] = b"tessera-tile-v1";
/// The runtime's Ed25519 signature-check program.
pub const ED25519_PROGRAM_ID: Pubkey = pubkey!("Ed25519SigVerify111111111111111111111111111");

/// What a node signs for a tile: `"tessera-tile-v1" ‖ job ‖ frame ‖ tile ‖ pixel hash`.
pub fn tile_message(job: &Pubkey, frame: u32, tile: u32, pixel_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(TILE_MESSAGE_TAG.len() + 32 + 8 + 32);
    m.extend_from_slice(TILE_MESSAGE_TAG);
    m.extend_from_slice(job.as_ref());
    m.extend_from_slice(&frame.to_le_bytes());
    m.extend_from_slice(&tile.to_le_bytes());
    m.extend_from_slice(pixel_hash);
    m
}

/// Prefix of the message an orchestrator signs when it accepts a node's render of a tile.
pub const ACK_MESSAGE_TAG: &[u8] = b"tessera-ack-v1";

/// What the orchestrator acknowledges: `"tessera-ack-v1" ‖ job ‖ frame ‖ tile ‖ node ‖ pixel
/// hash`. A node keeps it; `prove_ack` shows the chain a receipt crediting that slot elsewhere.
pub fn ack_message(
    job: &Pubkey,
    frame: u32,
    tile: u32,
    node: &Pubkey,
    pixel_hash: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(ACK_MESSAGE_TAG.len() + 32 + 8 + 32 + 32);
    m.extend_from_slice(ACK_MESSAGE_TAG);
    m.extend_from_slice(job.as_ref());
    m.extend_from_slice(&frame.to_le_bytes());
    m.extend_from_slice(&tile.to_le_bytes());
    m.extend_from_slice(node.as_ref());
    m.extend_from_slice(pixel_hash);
    m
}

/// Offsets header of one signature in an Ed25519 instruction (after the 2-byte count).
const OFFSETS_START: usize = 2;
const OFFSETS_LEN: usize = 14;
const PUBKEY_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;
/// An instruction index meaning "this instruction" in the Ed25519 offsets.
const THIS_INSTRUCTION: u16 = u16::MAX;

/// The key and message of the Ed25519 program's check of one signature in the instruction
/// before the current one, both read from that instruction's own data.
pub fn checked_signature(instructions: &AccountInfo) -> Result<(Pubkey, Vec<u8>)> {
    let current = load_current_index_checked(instructions)?;
    let index = current
        .checked_sub(1)
        .ok_or(TesseraError::MissingSignatureCheck)?;
    let ix = load_instruction_at_checked(index as usize, instructions)?;
    require_keys_eq!(
        ix.program_id,
        ED25519_PROGRAM_ID,
        TesseraError::MissingSignatureCheck
    );
    let data = &ix.data;
    require!(
        data.len() >= OFFSETS_START + OFFSETS_LEN && data[0] == 1,
        TesseraError::MissingSignatureCheck
    );
    let field = |i: usize| {
        let at = OFFSETS_START + 2 * i;
        u16::from_le_bytes([data[at], data[at + 1]])
    };
    let (sig_at, sig_ix, key_at, key_ix) = (field(0), field(1), field(2), field(3));
    let (msg_at, msg_len, msg_ix) = (field(4), field(5), field(6));
    for referenced in [sig_ix, key_ix, msg_ix] {
        require!(
            referenced == THIS_INSTRUCTION || referenced == index,
            TesseraError::SignatureCheckOffsets
        );
    }
    let slice = |at: u16, len: usize| {
        data.get(at as usize..at as usize + len)
            .ok_or_else(|| error!(TesseraError::SignatureCheckOffsets))
    };
    slice(sig_at, SIGNATURE_LEN)?;
    let key = Pubkey::try_from(slice(key_at, PUBKEY_LEN)?)
        .map_err(|_| error!(TesseraError::SignatureCheckOffsets))?;
    Ok((key, slice(msg_at, msg_len as usize)?.to_vec()))
}

/// Succeeds when the instruction before the current one is the Ed25519 program's check of
/// one signature by `signer` over `message`, all read from that instruction's own data.
pub fn require_signed(instructions: &AccountInfo, signer: &Pubkey, message: &[u8]) -> Result<()> {
    let (key, signed) = checked_signature(instructions)?;
    require_keys_eq!(key, *signer, TesseraError::SignerNotSlashedNode);
    require!(signed == message, TesseraError::SignedMessageMismatch);
    Ok(())
}

/// The signer and pixel hash of a checked signature over `tile_message(job, frame, tile, _)`
/// (the Ed25519 check right before this instruction): what a node signed for that tile.
pub fn signed_tile_hash(
    instructions: &AccountInfo,
    job: &Pubkey,
    frame: u32,
    tile: u32,
) -> Result<(Pubkey, [u8; 32])> {
    let (key, signed) = checked_signature(instructions)?;
    let expected = tile_message(job, frame, tile, &[0; 32]);
    let head = expected.len() - 32;
    require!(
        signed.len() == expected.len() && signed[..head] == expected[..head],
        TesseraError::SignedMessageMismatch
    );
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&signed[head..]);
    Ok((key, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_message_layout() {
        let job = Pubkey::new_from_array([7; 32]);
        let m = tile_message(&job, 1, 0x0203, &[9; 32]);
        assert_eq!(m.len(), 15 + 32 + 4 + 4 + 32);
        assert_eq!(&m[..15], b"tessera-tile-v1");
        assert_eq!(&m[47..55], &[1, 0, 0, 0, 3, 2, 0, 0]);
    }
}
