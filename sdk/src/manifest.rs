//! The orchestrator's job manifest (`GET /v1/jobs/{id}/manifest`): every tile's node,
//! pixel hash, signature and merkle proof, the payout leaves and their proofs, the roots.
//!
//! Fields are kept as they are on the wire (hex hashes, base58 keys and signatures); the
//! helper methods parse them, naming the field that does not parse.
use std::str::FromStr;

use anchor_lang::prelude::Pubkey;
use serde::{Deserialize, Serialize};
use solana_sdk::signature::Signature;
use tessera::merkle::Hash32;
use thiserror::Error;

use tessera::merkle::TileRole;

use crate::hex;
use crate::receipt::{NodePayout, RenderRecord, TileRecord};

/// A manifest field that does not parse.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize)]
#[error("manifest {field}: {value:?} is not a valid {expected}")]
pub struct ManifestError {
    /// Where the field is, e.g. `tiles[3].node`.
    pub field: String,
    pub value: String,
    /// What it should be, e.g. `base58 public key`.
    pub expected: &'static str,
}

fn bad(field: impl Into<String>, value: &str, expected: &'static str) -> ManifestError {
    ManifestError {
        field: field.into(),
        value: value.to_string(),
        expected,
    }
}

fn pubkey(field: impl Into<String>, value: &str) -> Result<Pubkey, ManifestError> {
    Pubkey::from_str(value).map_err(|_| bad(field, value, "base58 public key"))
}

fn hash(field: impl Into<String>, value: &str) -> Result<Hash32, ManifestError> {
    hex::decode32(&value.to_ascii_lowercase()).ok_or_else(|| bad(field, value, "32-byte hex hash"))
}

fn signature(field: impl Into<String>, value: &str) -> Result<Signature, ManifestError> {
    Signature::from_str(value).map_err(|_| bad(field, value, "base58 ed25519 signature"))
}

fn proof(field: &str, proof: &Option<Vec<String>>) -> Result<Option<Vec<Hash32>>, ManifestError> {
    proof
        .as_ref()
        .map(|p| {
            p.iter()
                .enumerate()
                .map(|(i, h)| hash(format!("{field}[{i}]"), h))
                .collect()
        })
        .transpose()
}

/// A job's manifest as the orchestrator serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub job_id: u64,
    /// base58 job account address.
    pub job_key: String,
    /// The orchestrator's job state (`ready`, `posting`, `posted`, `failed`).
    pub state: String,
    /// hex
    pub tile_root: String,
    /// hex
    pub payout_root: String,
    pub total_payout: u64,
    pub tile_count: u32,
    pub node_count: u32,
    /// Leaves of the tile tree: the tiles plus the paid verification renders.
    #[serde(default)]
    pub render_count: u32,
    /// base58 signature of the `post_receipt` transaction, once sent.
    #[serde(default)]
    pub receipt_signature: Option<String>,
    /// The tiles: each one's primary leaf, the pixels its frame uses.
    pub tiles: Vec<ManifestTile>,
    /// Paid check and tiebreak renders (their `role` set), each a leaf of its node.
    #[serde(default)]
    pub verifications: Vec<ManifestTile>,
    pub payouts: Vec<ManifestPayout>,
}

/// One tile of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTile {
    pub frame: u32,
    pub tile: u32,
    /// base58 node key.
    pub node: String,
    /// hex blake3 of the tile's RGBA8 pixels.
    pub pixel_hash: String,
    /// base58 ed25519 signature of the tile message by `node`.
    pub signature: String,
    /// blake3 hex of the tile's PNG in the orchestrator's blob store.
    #[serde(default)]
    pub blob: Option<String>,
    /// hex siblings from the tile leaf to the tile root.
    #[serde(default)]
    pub proof: Option<Vec<String>>,
    /// `check` or `tiebreak` for a verification render; absent for a tile's primary leaf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One node's payout leaf in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPayout {
    /// base58 node key.
    pub node: String,
    pub amount: u64,
    pub tiles: u32,
    /// hex siblings from the payout leaf to the payout root.
    #[serde(default)]
    pub proof: Option<Vec<String>>,
}

impl Manifest {
    pub fn job_key(&self) -> Result<Pubkey, ManifestError> {
        pubkey("job_key", &self.job_key)
    }

    pub fn tile_root(&self) -> Result<Hash32, ManifestError> {
        hash("tile_root", &self.tile_root)
    }

    pub fn payout_root(&self) -> Result<Hash32, ManifestError> {
        hash("payout_root", &self.payout_root)
    }

    pub fn receipt_signature(&self) -> Result<Option<Signature>, ManifestError> {
        self.receipt_signature
            .as_deref()
            .map(|s| signature("receipt_signature", s))
            .transpose()
    }

    /// The payout leaf of `node`, if the manifest has one.
    pub fn payout_for(&self, node: &Pubkey) -> Option<&ManifestPayout> {
        self.payouts
            .iter()
            .find(|p| pubkey("", &p.node).is_ok_and(|k| &k == node))
    }
}

impl ManifestTile {
    fn field(&self, name: &str) -> String {
        format!("tile {} of frame {}: {name}", self.tile, self.frame)
    }

    pub fn node(&self) -> Result<Pubkey, ManifestError> {
        pubkey(self.field("node"), &self.node)
    }

    pub fn pixel_hash(&self) -> Result<Hash32, ManifestError> {
        hash(self.field("pixel_hash"), &self.pixel_hash)
    }

    pub fn signature(&self) -> Result<Signature, ManifestError> {
        signature(self.field("signature"), &self.signature)
    }

    /// The proof, `None` when the manifest has none for this tile.
    pub fn proof(&self) -> Result<Option<Vec<Hash32>>, ManifestError> {
        proof(&self.field("proof"), &self.proof)
    }

    /// The leaf's role: `primary` unless the manifest names another.
    pub fn role(&self) -> Result<TileRole, ManifestError> {
        match self.role.as_deref() {
            None | Some("primary") => Ok(TileRole::Primary),
            Some("check") => Ok(TileRole::Check),
            Some("tiebreak") => Ok(TileRole::Tiebreak),
            Some(other) => Err(bad(self.field("role"), other, "render role")),
        }
    }

    /// The leaf as a render record (primary, check or tiebreak).
    pub fn render(&self) -> Result<RenderRecord, ManifestError> {
        Ok(RenderRecord {
            frame: self.frame,
            tile: self.tile,
            role: self.role()?,
            node: self.node()?,
            pixel_hash: self.pixel_hash()?,
        })
    }

    /// The tile as a receipt record (what its leaf commits to).
    pub fn record(&self) -> Result<TileRecord, ManifestError> {
        Ok(TileRecord {
            frame: self.frame,
            tile: self.tile,
            node: self.node()?,
            pixel_hash: self.pixel_hash()?,
        })
    }
}

impl ManifestPayout {
    pub fn node(&self) -> Result<Pubkey, ManifestError> {
        pubkey(format!("payout {}: node", self.node), &self.node)
    }

    /// The proof, `None` when the manifest has none for this payout.
    pub fn proof(&self) -> Result<Option<Vec<Hash32>>, ManifestError> {
        proof(&format!("payout {}: proof", self.node), &self.proof)
    }

    /// The payout as a receipt leaf.
    pub fn payout(&self) -> Result<NodePayout, ManifestError> {
        Ok(NodePayout {
            node: self.node()?,
            amount: self.amount,
            tiles: self.tiles,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A manifest spelled the way `orchestrator/src/api/jobs.rs::manifest` writes it.
    fn wire() -> serde_json::Value {
        let node = Pubkey::new_from_array([3; 32]).to_string();
        let h = |b: u8| hex::encode(&[b; 32]);
        json!({
            "job_id": 7, "job_key": Pubkey::new_from_array([1; 32]).to_string(), "state": "posted",
            "tile_root": h(0xaa), "payout_root": h(0xbb),
            "total_payout": 20, "tile_count": 2, "node_count": 1, "render_count": 3,
            "receipt_signature": Signature::from([5; 64]).to_string(),
            "tiles": [
                {"frame": 0, "tile": 0, "node": node, "pixel_hash": h(1),
                 "signature": Signature::from([6; 64]).to_string(), "blob": h(2), "proof": [h(3)]},
                {"frame": 0, "tile": 1, "node": node, "pixel_hash": h(4),
                 "signature": Signature::from([7; 64]).to_string(), "blob": null, "proof": null},
            ],
            "verifications": [
                {"frame": 0, "tile": 1, "node": node, "pixel_hash": h(8),
                 "signature": Signature::from([9; 64]).to_string(), "blob": null, "proof": [h(3)],
                 "role": "check"},
            ],
            "payouts": [{"node": node, "amount": 20, "tiles": 2, "proof": []}],
        })
    }

    #[test]
    fn round_trips_the_wire_format() {
        let m: Manifest = serde_json::from_value(wire()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), wire());
        assert_eq!(m.job_key().unwrap(), Pubkey::new_from_array([1; 32]));
        assert_eq!(m.tile_root().unwrap(), [0xaa; 32]);
        assert_eq!(m.payout_root().unwrap(), [0xbb; 32]);
        assert_eq!(
            m.receipt_signature().unwrap(),
            Some(Signature::from([5; 64]))
        );
        let node = Pubkey::new_from_array([3; 32]);
        let t = &m.tiles[0];
        assert_eq!(t.record().unwrap().node, node);
        assert_eq!(t.signature().unwrap(), Signature::from([6; 64]));
        assert_eq!(t.proof().unwrap(), Some(vec![[3; 32]]));
        assert_eq!(m.tiles[1].proof().unwrap(), None);
        let p = m.payout_for(&node).unwrap();
        assert_eq!(
            (p.amount, p.tiles, p.proof().unwrap()),
            (20, 2, Some(vec![]))
        );
        assert!(m.payout_for(&Pubkey::new_from_array([4; 32])).is_none());
        assert_eq!(m.tiles[0].role().unwrap(), TileRole::Primary);
        assert_eq!(m.verifications[0].render().unwrap().role, TileRole::Check);
    }

    #[test]
    fn unparsable_fields_are_named() {
        let mut m: Manifest = serde_json::from_value(wire()).unwrap();
        m.tiles[1].pixel_hash = "xyz".into();
        let e = m.tiles[1].record().unwrap_err();
        assert_eq!(e.field, "tile 1 of frame 0: pixel_hash");
        assert!(e.to_string().contains("32-byte hex hash"), "{e}");
        m.job_key = "not a key".into();
        assert_eq!(m.job_key().unwrap_err().expected, "base58 public key");
    }
}
