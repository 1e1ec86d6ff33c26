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
    /// Set on a tile the receipt does not hold (a partial receipt), with why ([`gap`]); such
    /// a tile has no node, hash, signature or proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// Why a tile is not in a partial receipt, as the orchestrator says it (`missing`).
pub mod gap {
    /// No quorum among its renders in the orchestrator's rounds: left out, never paid.
    pub const UNSETTLED: &str = "unsettled";
    /// No render of it was accepted before the job stopped (cancel or deadline).
    pub const NEVER_RENDERED: &str = "never_rendered";
    /// Rendered, but its check was still pending when the job stopped.
    pub const UNVERIFIED: &str = "unverified";
    /// The manifest lists neither the tile nor why it is missing.
    pub const UNKNOWN: &str = "unknown";
}

/// A tile of a frame that the receipt does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingTile {
    pub tile: u32,
    /// One of [`gap`]'s reasons (or whatever else the orchestrator said).
    pub reason: String,
}

/// How much of one frame the receipt covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameCoverage {
    pub frame: u32,
    /// Tiles of the frame the receipt holds.
    pub covered: u32,
    /// Tiles of a frame.
    pub total: u32,
    /// The tiles the receipt does not hold, in index order.
    pub missing: Vec<MissingTile>,
}

impl FrameCoverage {
    pub fn is_full(&self) -> bool {
        self.covered == self.total
    }

    /// Not a single tile of the frame in the receipt.
    pub fn is_empty(&self) -> bool {
        self.covered == 0
    }
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

    /// The tiles the receipt holds: every tile that is not a gap.
    pub fn receipt_tiles(&self) -> impl Iterator<Item = &ManifestTile> {
        self.tiles.iter().filter(|t| !t.is_gap())
    }

    /// Per frame of `frames`, which of its `tiles_per_frame` tiles the receipt holds and why
    /// the others are missing (the gap's reason, [`gap::UNKNOWN`] when the manifest does not
    /// list the tile at all). Tiles outside `frames` or the grid are ignored (the audit
    /// names them).
    pub fn coverage(
        &self,
        frames: std::ops::RangeInclusive<u32>,
        tiles_per_frame: u32,
    ) -> Vec<FrameCoverage> {
        use std::collections::BTreeMap;
        let mut said: BTreeMap<(u32, u32), Option<&str>> = BTreeMap::new();
        for t in &self.tiles {
            let reason = t
                .is_gap()
                .then(|| t.missing.as_deref().unwrap_or(gap::UNKNOWN));
            // A receipt tile wins over a gap listed for the same slot.
            let slot = said.entry((t.frame, t.tile)).or_insert(reason);
            if reason.is_none() {
                *slot = None;
            }
        }
        frames
            .map(|frame| {
                let mut missing = Vec::new();
                for tile in 0..tiles_per_frame {
                    match said.get(&(frame, tile)) {
                        Some(None) => {}
                        Some(Some(reason)) => missing.push(MissingTile {
                            tile,
                            reason: reason.to_string(),
                        }),
                        None => missing.push(MissingTile {
                            tile,
                            reason: gap::UNKNOWN.into(),
                        }),
                    }
                }
                FrameCoverage {
                    frame,
                    covered: tiles_per_frame - missing.len() as u32,
                    total: tiles_per_frame,
                    missing,
                }
            })
            .collect()
    }

    /// The payout leaf of `node`, if the manifest has one.
    pub fn payout_for(&self, node: &Pubkey) -> Option<&ManifestPayout> {
        self.payouts
            .iter()
            .find(|p| pubkey("", &p.node).is_ok_and(|k| &k == node))
    }
}

impl ManifestTile {
    /// A tile the receipt does not hold: marked `missing`, or without a node (what
    /// orchestrators wrote before `missing`).
    pub fn is_gap(&self) -> bool {
        self.missing.is_some() || self.node.is_empty()
    }

    /// The entry of a tile the receipt does not hold, saying why.
    pub fn gap(frame: u32, tile: u32, reason: &str) -> Self {
        Self {
            frame,
            tile,
            node: String::new(),
            pixel_hash: String::new(),
            signature: String::new(),
            blob: None,
            proof: None,
            role: None,
            missing: Some(reason.into()),
        }
    }

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
    fn coverage_names_each_missing_tile_with_its_reason() {
        let mut m: Manifest = serde_json::from_value(wire()).unwrap();
        // Frame 0: tiles 0, 1 in the receipt, 2 unsettled, 3 not listed; frame 1 unlisted.
        m.tiles.push(ManifestTile::gap(0, 2, gap::UNSETTLED));
        let c = m.coverage(0..=1, 4);
        assert_eq!((c[0].covered, c[0].total, c[0].is_full()), (2, 4, false));
        let missing: Vec<(u32, &str)> = c[0]
            .missing
            .iter()
            .map(|t| (t.tile, t.reason.as_str()))
            .collect();
        assert_eq!(missing, [(2, "unsettled"), (3, "unknown")]);
        assert!(c[1].is_empty() && c[1].missing.len() == 4);
        assert_eq!(m.receipt_tiles().count(), 2);
        // A gap is written with its reason and without pixels; one without a node is a gap.
        let json = serde_json::to_value(&m.tiles[2]).unwrap();
        assert_eq!(
            (json["missing"].as_str(), json["node"].as_str()),
            (Some("unsettled"), Some(""))
        );
        m.tiles[2].missing = None;
        assert!(m.tiles[2].is_gap());
        assert_eq!(m.coverage(0..=0, 4)[0].missing[0].reason, "unknown");
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
