//! Auditing a job offline: the on-chain job and claims, the orchestrator's manifest and the
//! final frames, checked against each other.
//!
//! [`audit`] runs the checks in order and stops at the first discrepancy; the report lists
//! every check that ran with how many items passed it.
//!
//! 1. `job`: the manifest names this job (id and key).
//! 2. `manifest`: every key, hash, signature and proof in it parses.
//! 3. `grid`: every tile of every frame appears exactly once (of a partial receipt: at most
//!    once, as many as its tile count), none outside the grid.
//! 4. `frames`: every frame image that holds a tile is present, of the job's size.
//! 5. `pixels`: blake3 of each tile's RGBA8 rows, cut from its frame, is its pixel hash.
//! 6. `signatures`: each tile and each paid verification render is signed by its node
//!    ([`crate::protocol::tile_message`]).
//! 7. `tile_root`: the tile leaves (primary, check and tiebreak renders) rebuild the on-chain
//!    tile root, tile count and render count, as the manifest states them; verification
//!    renders stay within the job's share.
//! 8. `tile_proofs`: each tile and verification proof leads to the on-chain tile root.
//! 9. `payout_root`: the payout leaves rebuild the on-chain payout root, sum to the total
//!    payout, one per node, as the manifest states them.
//! 10. `payouts`: each node is paid `price_per_tile` per render (any role) credited to it, as
//!     [`Receipt::build_with`] pays.
//! 11. `payout_proofs`: each payout proof leads to the on-chain payout root.
//! 12. `manifest_values`: the roots, counts and total the manifest states are the chain's.
//! 13. `claims`: each on-chain claim is for this job and its node's leaf amount, and paid
//!     the job's payout share of it (or made by an upheld contest of a node without a leaf).
//! 14. `uncovered` (a partial receipt only): the tiles the receipt does not hold are the
//!     job's tiles less its tile count, none of them paid (every payout and verification
//!     render belongs to a receipt tile, checked above), and, once the job is settled, the
//!     artist's refund covers at least their price and the fee was taken on the paid share
//!     only. [`AuditReport::coverage`] lists them per frame with the manifest's reason.
//! 15. `uncovered_blank` (a partial receipt only): in every frame read (those holding a
//!     receipt tile), each tile the receipt does not hold is transparent black (RGBA
//!     0, 0, 0, 0), as `tessera job download` writes it: no pixels the receipt did not pay for.
use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use serde::Serialize;
use solana_sdk::signature::Signature;
use tessera::merkle::{self, Hash32, MerkleTree};
use tessera::state::{Claim, Contest, Job};
use thiserror::Error;

use crate::hex;
use crate::manifest::{gap, FrameCoverage, Manifest, ManifestError};
use crate::protocol::verify_tile_signature;
use crate::receipt::{verify_tile, NodePayout, Receipt, RenderRecord, TileRecord};
use crate::tiles::{tile_ranges, TileGrid, TileRect};

/// A decoded frame: `width × height` RGBA8 pixels, row by row from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameImage {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// What an auditor holds: the chain's view, the orchestrator's manifest, the images.
#[derive(Clone, Copy, Debug)]
pub struct AuditInput<'a> {
    pub job_key: &'a Pubkey,
    pub job: &'a Job,
    pub manifest: &'a Manifest,
    /// Frame number → image; a frame may be absent (then the audit fails at `frames`).
    pub frames: &'a BTreeMap<u32, FrameImage>,
    /// Node key → its `Claim` account, for the claims that exist.
    pub claims: &'a BTreeMap<Pubkey, Claim>,
    /// Node key → its `Contest` account, for the contests that exist.
    pub contests: &'a BTreeMap<Pubkey, Contest>,
}

/// One check that ran: how many items passed it and whether all did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: u64,
    pub ok: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub job_id: u64,
    pub job_key: String,
    /// The checks that ran, in order; the last one failed when there is a discrepancy.
    pub checks: Vec<Check>,
    pub discrepancy: Option<Discrepancy>,
    /// Of a partial receipt, once the `uncovered` check ran: what it holds and what not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// What a partial receipt holds of the job, and what the artist got back for the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Tiles of the job.
    pub tiles: u64,
    /// Tiles the receipt holds (its tile count).
    pub covered: u64,
    /// The frames the receipt does not hold in full, with their missing tiles.
    pub frames: Vec<FrameCoverage>,
    /// Price of the missing tiles: `price_per_tile` each.
    pub uncovered_price: u64,
    /// What the artist got back at settlement (the budget less the kept payout, the fee and
    /// what contests took or may still take); `None` before settlement.
    pub refund: Option<u64>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.discrepancy.is_none()
    }
}

/// The first thing that does not add up. Hashes are hex, keys base58; `expected` is what
/// the chain (or, for pixels, the manifest) commits to, `found` what the other side holds.
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discrepancy {
    #[error("the manifest is for another job: {field} expected {expected}, found {found}")]
    OtherJob {
        field: String,
        expected: String,
        found: String,
    },
    #[error("the job's dimensions are invalid: {detail}")]
    InvalidJob { detail: String },
    #[error("{0}")]
    Malformed(#[from] ManifestError),
    #[error("frame {frame} tile {tile} (node {node}) is outside the job's grid")]
    TileOutOfGrid { frame: u32, tile: u32, node: String },
    #[error("frame {frame} tile {tile} appears twice (nodes {first} and {second})")]
    DuplicateTile {
        frame: u32,
        tile: u32,
        first: String,
        second: String,
    },
    #[error("frame {frame} tile {tile} is missing from the manifest")]
    MissingTile { frame: u32, tile: u32 },
    #[error("frame {frame} image is missing")]
    MissingFrame { frame: u32 },
    #[error("frame {frame} is {width}×{height} with {bytes} bytes, expected {expected_width}×{expected_height} RGBA8")]
    FrameSize {
        frame: u32,
        expected_width: u32,
        expected_height: u32,
        width: u32,
        height: u32,
        bytes: u64,
    },
    #[error("frame {frame} tile {tile} (node {node}): pixel hash expected {expected} (manifest), found {found} (image)")]
    PixelHash {
        frame: u32,
        tile: u32,
        node: String,
        expected: String,
        found: String,
    },
    #[error("frame {frame} tile {tile}: signature is not node {node}'s")]
    TileSignature { frame: u32, tile: u32, node: String },
    #[error("the manifest has {found} renders, expected the on-chain render count {expected}")]
    RenderCount { expected: u32, found: u64 },
    #[error("manifest {field} expected {expected} (chain), found {found}")]
    ManifestValue {
        field: String,
        expected: String,
        found: String,
    },
    #[error("tile leaves rebuild root {found}, expected the on-chain {expected}")]
    TileRoot { expected: String, found: String },
    #[error("the manifest has {found} tiles, expected the on-chain tile count {expected}")]
    TileCount { expected: u32, found: u64 },
    #[error("frame {frame} tile {tile} (node {node}): proof does not lead to the tile root")]
    TileProof { frame: u32, tile: u32, node: String },
    #[error("payout leaves rebuild root {found}, expected the on-chain {expected}")]
    PayoutRoot { expected: String, found: String },
    #[error("payout leaves sum to {found}, expected the on-chain total payout {expected}")]
    TotalPayout { expected: u64, found: u64 },
    #[error("the manifest has {found} payout leaves, expected the on-chain node count {expected}")]
    NodeCount { expected: u32, found: u64 },
    #[error("node {node} has two payout leaves")]
    DuplicatePayout { node: String },
    #[error("node {node} is credited {tiles} tiles but has no payout leaf")]
    MissingPayout { node: String, tiles: u32 },
    #[error("node {node} has a payout leaf but is credited no tile")]
    UnexpectedPayout { node: String },
    #[error("node {node}: payout leaf counts {found} tiles, expected {expected} credited in the manifest")]
    PayoutTiles {
        node: String,
        expected: u32,
        found: u32,
    },
    #[error(
        "node {node}: payout leaf amount {found}, expected {expected} (tiles × price per tile)"
    )]
    PayoutAmount {
        node: String,
        expected: u64,
        found: u64,
    },
    #[error("node {node}: payout proof does not lead to the payout root")]
    PayoutProof { node: String },
    #[error("claim of node {node}: {field} expected {expected}, found {found}")]
    ClaimMismatch {
        node: String,
        field: String,
        expected: String,
        found: String,
    },
    #[error("claim of node {node} has no payout leaf")]
    ClaimWithoutPayout { node: String },
    #[error("claim of node {node}: amount {found}, expected its payout leaf's {expected}")]
    ClaimAmount {
        node: String,
        expected: u64,
        found: u64,
    },
    #[error("receipt: {detail}")]
    Receipt { detail: String },
    #[error("frame {frame} tile {tile} is in the receipt, yet the manifest also lists it as missing ({reason})")]
    PaidAndMissing {
        frame: u32,
        tile: u32,
        reason: String,
    },
    #[error("frame {frame} tile {tile}, listed as missing, is outside the job's grid")]
    GapOutOfGrid { frame: u32, tile: u32 },
    #[error("the receipt holds {covered} of {tiles} tiles but {listed} are missing")]
    UncoveredCount {
        tiles: u64,
        covered: u64,
        listed: u64,
    },
    #[error("{}", painted_lines(.frames))]
    PaintedUncovered { frames: Vec<PaintedFrame> },
    #[error("settlement: {field} expected {expected}, found {found} (chain)")]
    Settlement {
        field: String,
        expected: String,
        found: String,
    },
}

/// A frame of a partial receipt with pixels in tiles the receipt does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaintedFrame {
    pub frame: u32,
    pub tiles: Vec<u32>,
}

/// One line per frame.
fn painted_lines(frames: &[PaintedFrame]) -> String {
    let lines: Vec<String> = frames
        .iter()
        .map(|f| {
            let tiles = if f.tiles.len() == 1 { "tile" } else { "tiles" };
            format!(
                "frame {} has pixels in {tiles} {} the receipt does not hold (expected transparent, RGBA 0,0,0,0)",
                f.frame,
                tile_ranges(&f.tiles)
            )
        })
        .collect();
    lines.join("\n")
}

/// The RGBA8 rows of `rect` in `frame`, top to bottom; `None` when the rectangle is not
/// inside the frame's pixels.
fn tile_rows<'a>(frame: &'a FrameImage, rect: &TileRect) -> Option<Vec<&'a [u8]>> {
    if rect.x + rect.width > frame.width {
        return None;
    }
    (rect.y..rect.y + rect.height)
        .map(|y| {
            let start = (y as usize * frame.width as usize + rect.x as usize) * 4;
            frame.rgba.get(start..start + rect.width as usize * 4)
        })
        .collect()
}

/// True when every pixel of `rect` in `frame` is RGBA 0, 0, 0, 0; `None` when the rectangle
/// is not inside the frame's pixels.
pub fn tile_is_blank(frame: &FrameImage, rect: &TileRect) -> Option<bool> {
    let rows = tile_rows(frame, rect)?;
    Some(rows.iter().all(|row| row.iter().all(|&b| b == 0)))
}

/// True when `proof` leads from `payout`'s leaf to `payout_root` (what `claim_payout` checks).
pub fn verify_payout(
    job_key: &Pubkey,
    payout_root: &Hash32,
    payout: &NodePayout,
    proof: &[Hash32],
) -> bool {
    let leaf = merkle::payout_leaf(job_key, &payout.node, payout.amount, payout.tiles);
    merkle::verify_proof(proof, payout_root, &leaf)
}

/// blake3 of the RGBA8 rows of `rect` in `frame` (the tile's pixel hash); `None` when the
/// rectangle is not inside the frame's pixels.
pub fn tile_pixel_hash(frame: &FrameImage, rect: &TileRect) -> Option<Hash32> {
    let mut hasher = blake3::Hasher::new();
    for row in tile_rows(frame, rect)? {
        hasher.update(row);
    }
    Some(*hasher.finalize().as_bytes())
}

/// Runs every check; stops at the first discrepancy.
pub fn audit(input: &AuditInput) -> AuditReport {
    let mut audit = Audit {
        input: *input,
        grid: None,
        tiles: Vec::new(),
        verifications: Vec::new(),
        payouts: Vec::new(),
        gaps: BTreeMap::new(),
        receipt: None,
        coverage: None,
    };
    let mut report = AuditReport {
        job_id: input.job.job_id,
        job_key: input.job_key.to_string(),
        checks: Vec::new(),
        discrepancy: None,
        coverage: None,
    };
    let steps: [(&str, Step); 15] = [
        ("job", Audit::job),
        ("manifest", Audit::parse),
        ("grid", Audit::grid),
        ("frames", Audit::frames),
        ("pixels", Audit::pixels),
        ("signatures", Audit::signatures),
        ("tile_root", Audit::tile_root),
        ("tile_proofs", Audit::tile_proofs),
        ("payout_root", Audit::payout_root),
        ("payouts", Audit::payouts),
        ("payout_proofs", Audit::payout_proofs),
        ("manifest_values", Audit::stated),
        ("claims", Audit::claims),
        ("uncovered", Audit::uncovered),
        ("uncovered_blank", Audit::uncovered_blank),
    ];
    for (name, step) in steps {
        if name.starts_with("uncovered") && !audit.partial() {
            break;
        }
        let mut passed = 0;
        let result = step(&mut audit, &mut passed);
        report.checks.push(Check {
            name: name.to_string(),
            passed,
            ok: result.is_ok(),
        });
        if let Err(d) = result {
            report.discrepancy = Some(d);
            break;
        }
    }
    report.coverage = audit.coverage;
    report
}

type Step<'a> = fn(&mut Audit<'a>, &mut u64) -> Result<(), Discrepancy>;

struct ParsedTile {
    record: TileRecord,
    signature: Signature,
    proof: Option<Vec<Hash32>>,
}

struct ParsedRender {
    render: RenderRecord,
    signature: Signature,
    proof: Option<Vec<Hash32>>,
}

struct ParsedPayout {
    payout: NodePayout,
    proof: Option<Vec<Hash32>>,
}

struct Audit<'a> {
    input: AuditInput<'a>,
    grid: Option<TileGrid>,
    /// Sorted by (frame, tile) once `parse` ran.
    tiles: Vec<ParsedTile>,
    /// The paid check and tiebreak renders.
    verifications: Vec<ParsedRender>,
    /// Sorted by node key once `parse` ran.
    payouts: Vec<ParsedPayout>,
    /// The tiles the manifest lists as not in the receipt, with why.
    gaps: BTreeMap<(u32, u32), String>,
    /// The receipt the manifest's tiles make, once `tile_root` ran.
    receipt: Option<Receipt>,
    coverage: Option<Coverage>,
}

fn differs<T: PartialEq + ToString>(
    field: &str,
    expected: T,
    found: T,
) -> Option<(String, String, String)> {
    (expected != found).then(|| (field.to_string(), expected.to_string(), found.to_string()))
}

impl Audit<'_> {
    fn job(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let (m, job) = (self.input.manifest, self.input.job);
        let checks = [
            differs("job_id", job.job_id.to_string(), m.job_id.to_string()),
            differs("job_key", self.input.job_key.to_string(), m.job_key.clone()),
        ];
        for check in checks {
            if let Some((field, expected, found)) = check {
                return Err(Discrepancy::OtherJob {
                    field,
                    expected,
                    found,
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn parse(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let m = self.input.manifest;
        m.tile_root()?;
        m.payout_root()?;
        m.receipt_signature()?;
        for t in &m.tiles {
            if t.is_gap() {
                let reason = t.missing.as_deref().unwrap_or(gap::UNKNOWN).to_string();
                if let Some(first) = self.gaps.insert((t.frame, t.tile), reason) {
                    let (frame, tile) = (t.frame, t.tile);
                    return Err(Discrepancy::DuplicateTile {
                        frame,
                        tile,
                        first: format!("missing: {first}"),
                        second: "missing".into(),
                    });
                }
                *passed += 1;
                continue;
            }
            self.tiles.push(ParsedTile {
                record: t.record()?,
                signature: t.signature()?,
                proof: t.proof()?,
            });
            *passed += 1;
        }
        for v in &m.verifications {
            self.verifications.push(ParsedRender {
                render: v.render()?,
                signature: v.signature()?,
                proof: v.proof()?,
            });
            *passed += 1;
        }
        for p in &m.payouts {
            self.payouts.push(ParsedPayout {
                payout: p.payout()?,
                proof: p.proof()?,
            });
            *passed += 1;
        }
        self.tiles.sort_by_key(|t| (t.record.frame, t.record.tile));
        self.payouts.sort_by_key(|p| p.payout.node);
        Ok(())
    }

    fn grid(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let job = self.input.job;
        let grid = TileGrid::new(job.width, job.height, job.tile_size)
            .filter(|_| job.frame_start <= job.frame_end)
            .ok_or_else(|| Discrepancy::InvalidJob {
                detail: format!(
                    "{}×{} tiles of {}, frames {}..={}",
                    job.width, job.height, job.tile_size, job.frame_start, job.frame_end
                ),
            })?;
        self.grid = Some(grid);
        let mut seen: BTreeMap<(u32, u32), Pubkey> = BTreeMap::new();
        for TileRecord {
            frame, tile, node, ..
        } in self.tiles.iter().map(|t| &t.record)
        {
            let (frame, tile) = (*frame, *tile);
            if !(job.frame_start..=job.frame_end).contains(&frame) || grid.rect(tile).is_none() {
                let node = node.to_string();
                return Err(Discrepancy::TileOutOfGrid { frame, tile, node });
            }
            if let Some(first) = seen.insert((frame, tile), *node) {
                let (first, second) = (first.to_string(), node.to_string());
                return Err(Discrepancy::DuplicateTile {
                    frame,
                    tile,
                    first,
                    second,
                });
            }
            *passed += 1;
        }
        for ((frame, tile), reason) in &self.gaps {
            let (frame, tile) = (*frame, *tile);
            if !(job.frame_start..=job.frame_end).contains(&frame) || grid.rect(tile).is_none() {
                return Err(Discrepancy::GapOutOfGrid { frame, tile });
            }
            if seen.contains_key(&(frame, tile)) {
                let reason = reason.clone();
                return Err(Discrepancy::PaidAndMissing {
                    frame,
                    tile,
                    reason,
                });
            }
        }
        // A partial receipt (after a cancel or the deadline) holds the tiles verified by then.
        if self.partial() {
            return Ok(());
        }
        for frame in job.frame_start..=job.frame_end {
            if let Some(tile) =
                (0..grid.tiles_per_frame()).find(|t| !seen.contains_key(&(frame, *t)))
            {
                return Err(Discrepancy::MissingTile { frame, tile });
            }
        }
        Ok(())
    }

    /// Whether the on-chain receipt covers fewer tiles than the job has.
    fn partial(&self) -> bool {
        let job = self.input.job;
        job.total_tiles()
            .is_ok_and(|total| (job.tile_count as u64) < total)
    }

    fn frames(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let job = self.input.job;
        let with_tiles: BTreeSet<u32> = self.tiles.iter().map(|t| t.record.frame).collect();
        let partial = self.partial();
        for frame in job.frame_start..=job.frame_end {
            if partial && !with_tiles.contains(&frame) {
                continue;
            }
            let image = self
                .input
                .frames
                .get(&frame)
                .ok_or(Discrepancy::MissingFrame { frame })?;
            let bytes = job.width as u64 * job.height as u64 * 4;
            if (image.width, image.height) != (job.width, job.height)
                || image.rgba.len() as u64 != bytes
            {
                return Err(Discrepancy::FrameSize {
                    frame,
                    expected_width: job.width,
                    expected_height: job.height,
                    width: image.width,
                    height: image.height,
                    bytes: image.rgba.len() as u64,
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn pixels(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let grid = self.grid.expect("grid ran");
        for TileRecord {
            frame,
            tile,
            node,
            pixel_hash,
        } in self.tiles.iter().map(|t| &t.record)
        {
            let rect = grid.rect(*tile).expect("grid checked");
            let found = tile_pixel_hash(&self.input.frames[frame], &rect).expect("frames checked");
            if &found != pixel_hash {
                return Err(Discrepancy::PixelHash {
                    frame: *frame,
                    tile: *tile,
                    node: node.to_string(),
                    expected: hex::encode(pixel_hash),
                    found: hex::encode(&found),
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn signatures(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        for t in &self.tiles {
            if !verify_tile_signature(self.input.job_key, &t.record, &t.signature) {
                return Err(Discrepancy::TileSignature {
                    frame: t.record.frame,
                    tile: t.record.tile,
                    node: t.record.node.to_string(),
                });
            }
            *passed += 1;
        }
        for v in &self.verifications {
            let r = &v.render;
            let record = TileRecord {
                frame: r.frame,
                tile: r.tile,
                node: r.node,
                pixel_hash: r.pixel_hash,
            };
            if !verify_tile_signature(self.input.job_key, &record, &v.signature) {
                return Err(Discrepancy::TileSignature {
                    frame: r.frame,
                    tile: r.tile,
                    node: r.node.to_string(),
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    /// The manifest's statement of an on-chain value agrees with the chain.
    fn stated(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let (job, m) = (self.input.job, self.input.manifest);
        let checks = [
            differs(
                "tile_root",
                hex::encode(&job.tile_root),
                m.tile_root.to_ascii_lowercase(),
            ),
            differs("tile_count", job.tile_count, m.tile_count),
            differs("render_count", job.render_count, m.render_count),
            differs(
                "payout_root",
                hex::encode(&job.payout_root),
                m.payout_root.to_ascii_lowercase(),
            ),
            differs("total_payout", job.total_payout, m.total_payout),
            differs("node_count", job.node_count, m.node_count),
        ];
        for check in checks {
            if let Some((field, expected, found)) = check {
                return Err(Discrepancy::ManifestValue {
                    field,
                    expected,
                    found,
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn tile_root(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let job = self.input.job;
        let records = self.tiles.iter().map(|t| t.record.clone()).collect();
        let renders = self.verifications.iter().map(|v| v.render).collect();
        let receipt =
            Receipt::build_with(self.input.job_key, job, records, renders, self.partial())
                .map_err(receipt_error)?;
        let params = receipt.params().map_err(receipt_error)?;
        if params.tile_root != job.tile_root {
            return Err(Discrepancy::TileRoot {
                expected: hex::encode(&job.tile_root),
                found: hex::encode(&params.tile_root),
            });
        }
        *passed += 1;
        if params.tile_count != job.tile_count {
            return Err(Discrepancy::TileCount {
                expected: job.tile_count,
                found: self.tiles.len() as u64,
            });
        }
        *passed += 1;
        if params.render_count != job.render_count {
            return Err(Discrepancy::RenderCount {
                expected: job.render_count,
                found: receipt.renders().len() as u64,
            });
        }
        *passed += 1;
        self.receipt = Some(receipt);
        Ok(())
    }

    fn tile_proofs(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let (key, root) = (self.input.job_key, &self.input.job.tile_root);
        for t in &self.tiles {
            let Some(proof) = &t.proof else { continue };
            if !verify_tile(key, root, &t.record, proof) {
                return Err(Discrepancy::TileProof {
                    frame: t.record.frame,
                    tile: t.record.tile,
                    node: t.record.node.to_string(),
                });
            }
            *passed += 1;
        }
        for v in &self.verifications {
            let Some(proof) = &v.proof else { continue };
            if !merkle::verify_proof(proof, root, &v.render.leaf(key)) {
                return Err(Discrepancy::TileProof {
                    frame: v.render.frame,
                    tile: v.render.tile,
                    node: v.render.node.to_string(),
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn payout_root(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let job = self.input.job;
        let leaves = self
            .payouts
            .iter()
            .map(|p| {
                merkle::payout_leaf(
                    self.input.job_key,
                    &p.payout.node,
                    p.payout.amount,
                    p.payout.tiles,
                )
            })
            .collect();
        let found = MerkleTree::new(leaves)
            .map_or_else(|| "(no payout leaves)".into(), |t| hex::encode(&t.root()));
        if found != hex::encode(&job.payout_root) {
            return Err(Discrepancy::PayoutRoot {
                expected: hex::encode(&job.payout_root),
                found,
            });
        }
        *passed += 1;
        let total = self
            .payouts
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.payout.amount));
        if total != Some(job.total_payout) {
            let found = total.unwrap_or(u64::MAX);
            return Err(Discrepancy::TotalPayout {
                expected: job.total_payout,
                found,
            });
        }
        *passed += 1;
        if self.payouts.len() as u64 != job.node_count as u64 {
            let found = self.payouts.len() as u64;
            return Err(Discrepancy::NodeCount {
                expected: job.node_count,
                found,
            });
        }
        *passed += 1;
        Ok(())
    }

    fn payouts(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let owed: BTreeMap<Pubkey, &NodePayout> = self
            .receipt
            .as_ref()
            .expect("tile_root ran")
            .payouts
            .iter()
            .map(|p| (p.node, p))
            .collect();
        let mut paid = BTreeSet::new();
        for leaf in self.payouts.iter().map(|p| &p.payout) {
            let node = leaf.node.to_string();
            if !paid.insert(leaf.node) {
                return Err(Discrepancy::DuplicatePayout { node });
            }
            let owed = owed
                .get(&leaf.node)
                .ok_or(Discrepancy::UnexpectedPayout { node: node.clone() })?;
            if leaf.tiles != owed.tiles {
                return Err(Discrepancy::PayoutTiles {
                    node,
                    expected: owed.tiles,
                    found: leaf.tiles,
                });
            }
            if leaf.amount != owed.amount {
                return Err(Discrepancy::PayoutAmount {
                    node,
                    expected: owed.amount,
                    found: leaf.amount,
                });
            }
            *passed += 1;
        }
        match owed.values().find(|o| !paid.contains(&o.node)) {
            Some(o) => Err(Discrepancy::MissingPayout {
                node: o.node.to_string(),
                tiles: o.tiles,
            }),
            None => Ok(()),
        }
    }

    fn payout_proofs(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let (key, root) = (self.input.job_key, &self.input.job.payout_root);
        for p in &self.payouts {
            let Some(proof) = &p.proof else { continue };
            if !verify_payout(key, root, &p.payout, proof) {
                return Err(Discrepancy::PayoutProof {
                    node: p.payout.node.to_string(),
                });
            }
            *passed += 1;
        }
        Ok(())
    }

    fn claims(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        for (node, claim) in self.input.claims {
            let leaf = self
                .payouts
                .iter()
                .map(|p| &p.payout)
                .find(|p| &p.node == node);
            let Some(leaf) = leaf else {
                // A node the receipt left out is paid through its claim by an upheld contest.
                let contest = self.input.contests.get(node);
                let by_contest =
                    contest.is_some_and(|c| c.upheld && !c.has_leaf && c.owed == claim.amount);
                if !by_contest {
                    return Err(Discrepancy::ClaimWithoutPayout {
                        node: node.to_string(),
                    });
                }
                *passed += 1;
                continue;
            };
            if claim.amount != leaf.amount {
                let (expected, found) = (leaf.amount, claim.amount);
                return Err(Discrepancy::ClaimAmount {
                    node: node.to_string(),
                    expected,
                    found,
                });
            }
            let share =
                tessera::state::bps_of(leaf.amount, self.input.job.payout_share_bps as u64).ok();
            let checks = [
                differs("job", self.input.job_key.to_string(), claim.job.to_string()),
                differs("node_key", node.to_string(), claim.node_key.to_string()),
                differs(
                    "paid",
                    share.map_or("overflow".into(), |s| s.to_string()),
                    claim.paid.to_string(),
                ),
            ];
            if let Some((field, expected, found)) = checks.into_iter().flatten().next() {
                return Err(Discrepancy::ClaimMismatch {
                    node: node.to_string(),
                    field,
                    expected,
                    found,
                });
            }
            *passed += 1;
        }
        Ok(())
    }
}

impl Audit<'_> {
    /// A partial receipt: what it leaves out, and what the artist got back for it.
    fn uncovered(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let (job, m) = (self.input.job, self.input.manifest);
        let grid = self.grid.expect("grid ran");
        let tiles = job.total_tiles().unwrap_or(0);
        let covered = job.tile_count as u64;
        let frames: Vec<FrameCoverage> = m
            .coverage(job.frame_start..=job.frame_end, grid.tiles_per_frame())
            .into_iter()
            .filter(|f| !f.is_full())
            .collect();
        let listed: u64 = frames.iter().map(|f| f.missing.len() as u64).sum();
        if covered + listed != tiles {
            return Err(Discrepancy::UncoveredCount {
                tiles,
                covered,
                listed,
            });
        }
        *passed += listed;
        let uncovered_price = job.price_per_tile.saturating_mul(listed);
        let refund = self.settlement(uncovered_price)?;
        self.coverage = Some(Coverage {
            tiles,
            covered,
            frames,
            uncovered_price,
            refund,
        });
        Ok(())
    }

    /// Every frame read (holding a receipt tile) is transparent black outside the receipt's
    /// tiles; all such frames are named, each with its painted tiles.
    fn uncovered_blank(&mut self, passed: &mut u64) -> Result<(), Discrepancy> {
        let grid = self.grid.expect("grid ran");
        let mut held: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for t in &self.tiles {
            held.entry(t.record.frame)
                .or_default()
                .insert(t.record.tile);
        }
        let mut painted = Vec::new();
        for (&frame, tiles) in &held {
            let image = &self.input.frames[&frame];
            let mut bad = Vec::new();
            for (tile, rect) in grid.rects().filter(|(t, _)| !tiles.contains(t)) {
                if tile_is_blank(image, &rect).expect("frames checked") {
                    *passed += 1;
                } else {
                    bad.push(tile);
                }
            }
            if !bad.is_empty() {
                painted.push(PaintedFrame { frame, tiles: bad });
            }
        }
        if painted.is_empty() {
            Ok(())
        } else {
            Err(Discrepancy::PaintedUncovered { frames: painted })
        }
    }

    /// Once settled (approved, finalized or resolved): the fee was taken on the kept share of
    /// the payout leaves, and what `settle` refunded (the budget less that share, the fee and
    /// what contests took or keep reserved) covers every missing tile's price. The chain keeps
    /// no refund field; this is the program's `settle` arithmetic on the fields it records.
    fn settlement(&self, uncovered_price: u64) -> Result<Option<u64>, Discrepancy> {
        use tessera::state::JobState;
        let job = self.input.job;
        if !matches!(job.state, JobState::Settled | JobState::Resolved) {
            return Ok(None);
        }
        let field = |field: &str, expected: String, found: String| Discrepancy::Settlement {
            field: field.into(),
            expected,
            found,
        };
        let overflow = || field("refund", "no overflow".into(), "overflow".into());
        let kept = tessera::state::bps_of(job.total_payout, job.payout_share_bps as u64)
            .map_err(|_| overflow())?;
        let fee = job.fee_on(kept).map_err(|_| overflow())?;
        if fee != job.fee_paid {
            return Err(field("fee_paid", fee.to_string(), job.fee_paid.to_string()));
        }
        let reserve = if job.settled_at < job.challenge_ends_at {
            job.contest_room().map_err(|_| overflow())?
        } else {
            0
        };
        let refund = [kept, fee, job.contested_paid, reserve]
            .iter()
            .try_fold(job.budget, |left, x| left.checked_sub(*x))
            .ok_or_else(overflow)?;
        if refund < uncovered_price {
            return Err(field(
                "refund",
                format!("at least {uncovered_price} (the missing tiles' price)"),
                refund.to_string(),
            ));
        }
        Ok(Some(refund))
    }
}

fn receipt_error(e: crate::receipt::ReceiptError) -> Discrepancy {
    Discrepancy::Receipt {
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::{Keypair, Signer};
    use tessera::state::JobState;

    use super::*;
    use crate::manifest::{ManifestPayout, ManifestTile};
    use crate::protocol::tile_message;

    const PRICE: u64 = 5;

    /// Two frames (3 and 4) of 10×6 pixels in 4-px tiles (6 per frame), rendered by two
    /// nodes, the receipt on-chain, one node's payout claimed.
    struct Fixture {
        job_key: Pubkey,
        job: Job,
        manifest: Manifest,
        frames: BTreeMap<u32, FrameImage>,
        claims: BTreeMap<Pubkey, Claim>,
        contests: BTreeMap<Pubkey, Contest>,
        nodes: Vec<Keypair>,
    }

    fn job(job_id: u64) -> Job {
        Job {
            job_id,
            artist: Pubkey::new_unique(),
            scene_hash: [1; 32],
            frame_start: 3,
            frame_end: 4,
            width: 10,
            height: 6,
            tile_size: 4,
            samples_per_pixel: 16,
            price_per_tile: PRICE,
            budget: 1_000,
            fee_bps: 100,
            orchestrator: Pubkey::new_unique(),
            challenge_window: 10,
            claim_grace: 10,
            settle_grace: 30,
            resolution_period: 60,
            dispute_bond: 5,
            deadline: 1_000,
            frame_rate_num: 24,
            frame_rate_den: 1,
            created_at: 0,
            state: JobState::Settled,
            tile_root: [0; 32],
            payout_root: [0; 32],
            total_payout: 0,
            tile_count: 0,
            node_count: 0,
            rendered_at: 10,
            challenge_ends_at: 20,
            fee_paid: 0,
            payout_share_bps: 10_000,
            settled_at: 30,
            claims_end_at: 40,
            claimed_count: 1,
            claimed_amount: 0,
            dispute_reason: 0,
            cancel_requested_at: 0,
            dispute_ends_at: 0,
            bond: 0,
            slash_amount: 1,
            slash_ends_at: 0,
            slashed_count: 0,
            verify_bps: 2_000,
            render_count: 0,
            contested_paid: 0,
            contests_upheld: 0,
            orchestrator_bond: 1,
            bond_paid: 0,
            bump: 255,
            vault_bump: 254,
        }
    }

    fn frame(n: u32) -> FrameImage {
        let rgba = (0..10 * 6 * 4).map(|i| (n * 31 + i * 7) as u8).collect();
        FrameImage {
            width: 10,
            height: 6,
            rgba,
        }
    }

    /// The tile's pixels copied out row by row, hashed in one go.
    fn pixel_hash(f: &FrameImage, r: &TileRect) -> Hash32 {
        let mut pixels = Vec::new();
        for y in r.y..r.y + r.height {
            let start = ((y * f.width + r.x) * 4) as usize;
            pixels.extend_from_slice(&f.rgba[start..start + (r.width * 4) as usize]);
        }
        *blake3::hash(&pixels).as_bytes()
    }

    /// Sets every byte of `r` in `f` to `value`.
    fn paint(f: &mut FrameImage, r: &TileRect, value: u8) {
        for y in r.y..r.y + r.height {
            let start = ((y * f.width + r.x) * 4) as usize;
            f.rgba[start..start + (r.width * 4) as usize].fill(value);
        }
    }

    fn hexes(proof: &[Hash32]) -> Vec<String> {
        proof.iter().map(|h| hex::encode(h)).collect()
    }

    impl Fixture {
        fn new(job_id: u64) -> Self {
            Self::with(job_id, &[3, 4], 0)
        }

        /// A receipt of the tiles of `tile_frames` (a partial one unless both frames), with
        /// `checks` verification renders by the other node of the first tiles.
        fn with(job_id: u64, tile_frames: &[u32], checks: usize) -> Self {
            Self::holding(job_id, tile_frames, checks, |_, _| true)
        }

        /// As [`Fixture::with`], the receipt holding only the tiles `held` keeps; the
        /// others are transparent in the frames, as `tessera job download` writes them.
        fn holding(
            job_id: u64,
            tile_frames: &[u32],
            checks: usize,
            held: impl Fn(u32, u32) -> bool,
        ) -> Self {
            let job_key = crate::pda::job(job_id);
            let mut job = job(job_id);
            let nodes = vec![Keypair::new(), Keypair::new()];
            let grid = TileGrid::new(10, 6, 4).unwrap();
            let mut frames: BTreeMap<u32, FrameImage> =
                tile_frames.iter().map(|&n| (n, frame(n))).collect();
            for (&n, f) in &mut frames {
                for (_, rect) in grid.rects().filter(|(t, _)| !held(n, *t)) {
                    paint(f, &rect, 0);
                }
            }
            let mut records = Vec::new();
            for (&n, f) in &frames {
                for (tile, rect) in grid.rects().filter(|(t, _)| held(n, *t)) {
                    let node = nodes[usize::from(tile % 3 == 0)].pubkey();
                    let pixel_hash = pixel_hash(f, &rect);
                    records.push(TileRecord {
                        frame: n,
                        tile,
                        node,
                        pixel_hash,
                    });
                }
            }
            let other = |n: &Pubkey| nodes.iter().map(|k| k.pubkey()).find(|k| k != n).unwrap();
            let renders: Vec<RenderRecord> = records[..checks]
                .iter()
                .map(|t: &TileRecord| RenderRecord {
                    frame: t.frame,
                    tile: t.tile,
                    role: merkle::TileRole::Check,
                    node: other(&t.node),
                    pixel_hash: t.pixel_hash,
                })
                .collect();
            let partial = records.len() < 12;
            let receipt = Receipt::build_with(&job_key, &job, records, renders, partial).unwrap();
            let params = receipt.params().unwrap();
            job.tile_root = params.tile_root;
            job.payout_root = params.payout_root;
            job.total_payout = params.total_payout;
            job.tile_count = params.tile_count;
            job.node_count = params.node_count;
            job.render_count = params.render_count;
            let mut fixture = Self {
                job_key,
                job,
                manifest: Manifest {
                    job_id,
                    job_key: job_key.to_string(),
                    state: "posted".into(),
                    tile_root: hex::encode(&params.tile_root),
                    payout_root: hex::encode(&params.payout_root),
                    total_payout: params.total_payout,
                    tile_count: params.tile_count,
                    node_count: params.node_count,
                    render_count: params.render_count,
                    receipt_signature: Some(Signature::from([9; 64]).to_string()),
                    tiles: Vec::new(),
                    verifications: Vec::new(),
                    payouts: Vec::new(),
                },
                frames,
                claims: BTreeMap::new(),
                contests: BTreeMap::new(),
                nodes,
            };
            fixture.manifest.tiles = receipt
                .tiles
                .iter()
                .map(|t| fixture.tile(&receipt, t))
                .collect();
            fixture.manifest.verifications = receipt
                .verifications
                .iter()
                .map(|v| {
                    let mut t = fixture.tile(
                        &receipt,
                        &TileRecord {
                            frame: v.frame,
                            tile: v.tile,
                            node: v.node,
                            pixel_hash: v.pixel_hash,
                        },
                    );
                    t.proof = receipt.render_proof(v).map(|p| hexes(&p));
                    t.role = Some(v.role.name().into());
                    t
                })
                .collect();
            fixture.manifest.payouts = receipt
                .payouts
                .iter()
                .map(|p| ManifestPayout {
                    node: p.node.to_string(),
                    amount: p.amount,
                    tiles: p.tiles,
                    proof: receipt.payout_proof(&p.node).map(|(_, pr)| hexes(&pr)),
                })
                .collect();
            let paid = &receipt.payouts[0];
            fixture.job.claimed_amount = paid.amount;
            fixture.claims.insert(
                paid.node,
                Claim {
                    job: job_key,
                    node_key: paid.node,
                    amount: paid.amount,
                    paid: paid.amount,
                    claimed_at: 35,
                    bump: 253,
                },
            );
            fixture
        }

        /// The same job and manifest in another on-chain state.
        fn clone_job(&self, state: JobState) -> Fixture {
            Fixture {
                job_key: self.job_key,
                job: Job {
                    state,
                    ..self.job.clone()
                },
                manifest: self.manifest.clone(),
                frames: self.frames.clone(),
                claims: self.claims.clone(),
                contests: self.contests.clone(),
                nodes: self.nodes.iter().map(|k| k.insecure_clone()).collect(),
            }
        }

        fn key(&self, node: &Pubkey) -> &Keypair {
            self.nodes.iter().find(|k| &k.pubkey() == node).unwrap()
        }

        fn sign(&self, t: &TileRecord) -> String {
            let message = tile_message(&self.job_key, t.frame, t.tile, &t.pixel_hash);
            self.key(&t.node).sign_message(&message).to_string()
        }

        fn tile(&self, receipt: &Receipt, t: &TileRecord) -> ManifestTile {
            ManifestTile {
                frame: t.frame,
                tile: t.tile,
                node: t.node.to_string(),
                pixel_hash: hex::encode(&t.pixel_hash),
                signature: self.sign(t),
                blob: Some(hex::encode(&[7; 32])),
                proof: receipt.tile_proof(t.frame, t.tile).map(|(_, p)| hexes(&p)),
                role: None,
                missing: None,
            }
        }

        fn index(&self, frame: u32, tile: u32) -> usize {
            let found = self
                .manifest
                .tiles
                .iter()
                .position(|t| (t.frame, t.tile) == (frame, tile));
            found.unwrap()
        }

        fn audit(&self) -> AuditReport {
            audit(&AuditInput {
                job_key: &self.job_key,
                job: &self.job,
                manifest: &self.manifest,
                frames: &self.frames,
                claims: &self.claims,
                contests: &self.contests,
            })
        }

        fn discrepancy(&self) -> Discrepancy {
            let report = self.audit();
            assert!(!report.passed());
            let last = report.checks.last().unwrap();
            assert!(!last.ok, "{last:?}");
            assert!(report.checks[..report.checks.len() - 1]
                .iter()
                .all(|c| c.ok));
            report.discrepancy.unwrap()
        }

        fn failed_check(&self) -> Check {
            self.audit().checks.last().unwrap().clone()
        }

        /// Rewrites the chain's payout commitment (and the manifest's) from the
        /// manifest's payout leaves, as an orchestrator forging a receipt would.
        fn seal_payouts(&mut self) {
            self.manifest.payouts.sort_by_key(|p| p.node().unwrap());
            let leaves: Vec<Hash32> = self
                .manifest
                .payouts
                .iter()
                .map(|p| merkle::payout_leaf(&self.job_key, &p.node().unwrap(), p.amount, p.tiles))
                .collect();
            let tree = MerkleTree::new(leaves).unwrap();
            for (i, p) in self.manifest.payouts.iter_mut().enumerate() {
                p.proof = Some(hexes(&tree.proof(i).unwrap()));
            }
            self.job.payout_root = tree.root();
            self.job.total_payout = self.manifest.payouts.iter().map(|p| p.amount).sum();
            self.manifest.payout_root = hex::encode(&tree.root());
            self.manifest.total_payout = self.job.total_payout;
        }
    }

    #[test]
    fn paid_verification_renders_and_a_partial_receipt_pass() {
        // Frame 3 only (6 of 12 tiles), 2 checks by the other node: 8 renders.
        let f = Fixture::with(12, &[3], 2);
        assert_eq!((f.job.tile_count, f.job.render_count), (6, 8));
        let report = f.audit();
        assert!(report.passed(), "{:?}", report.discrepancy);
        let signed = report
            .checks
            .iter()
            .find(|c| c.name == "signatures")
            .unwrap();
        assert_eq!(signed.passed, 8);
    }

    #[test]
    fn a_partial_receipt_reports_its_missing_tiles_and_the_refund_for_them() {
        // Frame 3 in full, frame 4 missing: tiles 0-3 never rendered, 4 unverified, 5 unsettled.
        let mut f = Fixture::with(15, &[3], 0);
        for tile in 0..6 {
            let reason = match tile {
                4 => gap::UNVERIFIED,
                5 => gap::UNSETTLED,
                _ => gap::NEVER_RENDERED,
            };
            f.manifest.tiles.push(ManifestTile::gap(4, tile, reason));
        }
        f.job.fee_paid = f.job.total_payout / 100;
        let report = f.audit();
        assert!(report.passed(), "{:?}", report.discrepancy);
        let tail: Vec<(&str, u64, bool)> = report.checks[13..]
            .iter()
            .map(|c| (c.name.as_str(), c.passed, c.ok))
            .collect();
        // Frame 4 holds no receipt tile: not read, so no uncovered tile is looked at.
        assert_eq!(tail, [("uncovered", 6, true), ("uncovered_blank", 0, true)]);
        let c = report.coverage.clone().unwrap();
        assert_eq!((c.tiles, c.covered, c.uncovered_price), (12, 6, 6 * PRICE));
        // Budget 1 000 less 6 tiles × 5 and the 1% fee on them (0 after rounding down).
        assert_eq!(c.refund, Some(1_000 - 30));
        assert_eq!(c.frames.len(), 1);
        let reasons: Vec<(u32, &str)> = c.frames[0]
            .missing
            .iter()
            .map(|m| (m.tile, m.reason.as_str()))
            .collect();
        assert_eq!(reasons[4..], [(4, "unverified"), (5, "unsettled")]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["coverage"]["frames"][0]["missing"][5]["reason"],
            "unsettled"
        );
        // A full receipt has no coverage and no `uncovered` check.
        let full = Fixture::new(16).audit();
        assert!(full.coverage.is_none() && full.checks.len() == 13);

        // Before settlement there is no refund to check yet.
        let mut open = f.clone_job(JobState::Rendered);
        assert_eq!(open.audit().coverage.unwrap().refund, None);
        // A fee taken on more than the paid tiles.
        open.job.state = JobState::Settled;
        open.job.fee_paid += 1;
        let d = open.discrepancy();
        assert!(
            matches!(&d, Discrepancy::Settlement { field, .. } if field == "fee_paid"),
            "{d:?}"
        );
        // A budget that leaves less than the missing tiles' price to refund.
        let mut short = f.clone_job(JobState::Settled);
        short.job.budget = short.job.total_payout + 6 * PRICE - 1;
        let d = short.discrepancy();
        assert!(
            matches!(&d, Discrepancy::Settlement { field, .. } if field == "refund"),
            "{d:?}"
        );
    }

    #[test]
    fn a_partial_frame_with_pixels_in_an_uncovered_tile_fails() {
        // Frame 3 without tiles 1 and 4, frame 4 without tile 5: 9 of 12 tiles.
        let missing = [(3, 1), (3, 4), (4, 5)];
        let mut f = Fixture::holding(19, &[3, 4], 0, |n, t| !missing.contains(&(n, t)));
        for (n, t) in missing {
            f.manifest
                .tiles
                .push(ManifestTile::gap(n, t, gap::NEVER_RENDERED));
        }
        f.job.fee_paid = f.job.total_payout / 100;
        // Blank (RGBA 0,0,0,0) where the receipt holds nothing: passes.
        let report = f.audit();
        assert!(report.passed(), "{:?}", report.discrepancy);
        let last = report.checks.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.passed, last.ok),
            ("uncovered_blank", 3, true)
        );

        // One alpha byte in tile 4 of frame 3 ((5, 5): column 1, row 1), and tile 5 of
        // frame 4 filled: both frames named, each with its tiles, one line each.
        let grid = TileGrid::new(10, 6, 4).unwrap();
        f.frames.get_mut(&3).unwrap().rgba[(5 * 10 + 5) * 4 + 3] = 1;
        paint(f.frames.get_mut(&4).unwrap(), &grid.rect(5).unwrap(), 0x80);
        let d = f.discrepancy();
        assert_eq!(
            d,
            Discrepancy::PaintedUncovered {
                frames: vec![
                    PaintedFrame {
                        frame: 3,
                        tiles: vec![4]
                    },
                    PaintedFrame {
                        frame: 4,
                        tiles: vec![5]
                    },
                ]
            }
        );
        assert_eq!(f.failed_check().name, "uncovered_blank");
        // Tile 1 of frame 3 is still blank and counted.
        assert_eq!(f.failed_check().passed, 1);
        let text = d.to_string();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.starts_with("frame 3 has pixels in tile 4 the receipt does not hold"),
            "{text}"
        );
        let json = serde_json::to_value(f.audit()).unwrap();
        assert_eq!(json["discrepancy"]["kind"], "painted_uncovered");
        assert_eq!(json["discrepancy"]["frames"][1]["tiles"][0], 5);
    }

    #[test]
    fn a_tile_both_paid_and_listed_missing_or_a_miscount_fails() {
        let mut f = Fixture::with(17, &[3], 0);
        f.manifest
            .tiles
            .push(ManifestTile::gap(3, 2, gap::UNSETTLED));
        assert_eq!(
            f.discrepancy(),
            Discrepancy::PaidAndMissing {
                frame: 3,
                tile: 2,
                reason: "unsettled".into()
            }
        );
        f.manifest.tiles.pop();
        f.manifest
            .tiles
            .push(ManifestTile::gap(4, 6, gap::UNSETTLED));
        assert_eq!(
            f.discrepancy(),
            Discrepancy::GapOutOfGrid { frame: 4, tile: 6 }
        );
        f.manifest.tiles.pop();
        // A tile count that hides one receipt tile fails before the uncovered tiles are
        // counted.
        let mut f = Fixture::with(18, &[3], 0);
        f.job.tile_count = 5;
        f.manifest.tile_count = 5;
        assert!(matches!(f.discrepancy(), Discrepancy::TileCount { .. }));
    }

    #[test]
    fn a_render_count_the_leaves_do_not_make_fails() {
        let mut f = Fixture::with(13, &[3, 4], 2);
        // The chain says 14 renders (2 padded verification renders); the manifest shows 12 + 2.
        f.job.render_count = 16;
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::RenderCount {
                expected: 16,
                found: 14
            }
        ));
        // A verification render its node never signed.
        let mut f = Fixture::with(14, &[3, 4], 1);
        f.manifest.verifications[0].signature = f.manifest.tiles[5].signature.clone();
        assert!(matches!(f.discrepancy(), Discrepancy::TileSignature { .. }));
    }

    #[test]
    fn a_clean_job_passes_every_check() {
        let f = Fixture::new(42);
        let report = f.audit();
        assert!(report.passed(), "{:?}", report.discrepancy);
        let counts: Vec<(&str, u64)> = report
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.passed))
            .collect();
        assert_eq!(
            counts,
            [
                ("job", 2),
                ("manifest", 14),
                ("grid", 12),
                ("frames", 2),
                ("pixels", 12),
                ("signatures", 12),
                ("tile_root", 3),
                ("tile_proofs", 12),
                ("payout_root", 3),
                ("payouts", 2),
                ("payout_proofs", 2),
                ("manifest_values", 6),
                ("claims", 1),
            ]
        );
        assert!(report.checks.iter().all(|c| c.ok));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["discrepancy"].is_null());
        assert_eq!(json["checks"][4]["name"], "pixels");
    }

    #[test]
    fn one_changed_pixel_names_its_frame_tile_and_node() {
        let mut f = Fixture::new(42);
        // (5, 5) of frame 4: column 1, row 1 of the 3×2 grid, tile 4.
        f.frames.get_mut(&4).unwrap().rgba[(5 * 10 + 5) * 4 + 1] ^= 1;
        let t = f.manifest.tiles[f.index(4, 4)].clone();
        let d = f.discrepancy();
        let Discrepancy::PixelHash {
            frame,
            tile,
            node,
            expected,
            found,
        } = &d
        else {
            panic!("{d:?}")
        };
        assert_eq!(
            (*frame, *tile, node, expected),
            (4, 4, &t.node, &t.pixel_hash)
        );
        assert_ne!(found, expected);
        assert!(
            d.to_string()
                .starts_with(&format!("frame 4 tile 4 (node {})", t.node)),
            "{d}"
        );
        assert_eq!(f.failed_check().passed, 6 + 4);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            (json["kind"].as_str(), json["tile"].as_u64()),
            (Some("pixel_hash"), Some(4))
        );
    }

    #[test]
    fn a_tile_hash_changed_in_the_manifest_fails_at_the_pixels() {
        let mut f = Fixture::new(42);
        let i = f.index(3, 2);
        f.manifest.tiles[i].pixel_hash = hex::encode(&[0; 32]);
        let d = f.discrepancy();
        assert!(
            matches!(&d, Discrepancy::PixelHash { frame: 3, tile: 2, expected, .. } if expected == &hex::encode(&[0; 32])),
            "{d:?}"
        );
    }

    #[test]
    fn a_re_signed_tile_with_other_pixels_fails_at_the_tile_root() {
        let mut f = Fixture::new(42);
        f.frames.get_mut(&3).unwrap().rgba[0] ^= 0xff;
        let i = f.index(3, 0);
        let rect = TileGrid::new(10, 6, 4).unwrap().rect(0).unwrap();
        let mut record = f.manifest.tiles[i].record().unwrap();
        record.pixel_hash = pixel_hash(&f.frames[&3], &rect);
        f.manifest.tiles[i].pixel_hash = hex::encode(&record.pixel_hash);
        f.manifest.tiles[i].signature = f.sign(&record);
        let d = f.discrepancy();
        assert!(matches!(d, Discrepancy::TileRoot { .. }), "{d:?}");
    }

    #[test]
    fn a_forged_payout_leaf_fails_the_payout_root() {
        let mut f = Fixture::new(42);
        f.manifest.payouts[1].amount += PRICE;
        let d = f.discrepancy();
        assert!(matches!(d, Discrepancy::PayoutRoot { .. }), "{d:?}");
    }

    #[test]
    fn a_forged_payout_committed_on_chain_fails_the_price_rule() {
        let mut f = Fixture::new(42);
        f.manifest.payouts[1].amount += PRICE;
        let node = f.manifest.payouts[1].node.clone();
        let owed = f.manifest.payouts[1].tiles as u64 * PRICE;
        f.seal_payouts();
        let d = f.discrepancy();
        assert_eq!(
            d,
            Discrepancy::PayoutAmount {
                node,
                expected: owed,
                found: owed + PRICE
            }
        );
        // Tiles moved from one node's leaf to the other's, amounts to match.
        let mut f = Fixture::new(42);
        for (p, delta) in f.manifest.payouts.iter_mut().zip([1i64, -1]) {
            p.tiles = (p.tiles as i64 + delta) as u32;
            p.amount = p.tiles as u64 * PRICE;
        }
        f.seal_payouts();
        let d = f.discrepancy();
        assert!(matches!(d, Discrepancy::PayoutTiles { .. }), "{d:?}");
    }

    #[test]
    fn a_manifest_from_another_job_fails_first() {
        let mut f = Fixture::new(42);
        f.manifest = Fixture::new(43).manifest;
        let d = f.discrepancy();
        assert_eq!(
            d,
            Discrepancy::OtherJob {
                field: "job_id".into(),
                expected: "42".into(),
                found: "43".into()
            }
        );
        assert_eq!(f.audit().checks.len(), 1);
        f.manifest.job_id = 42;
        let d = f.discrepancy();
        assert!(
            matches!(&d, Discrepancy::OtherJob { field, .. } if field == "job_key"),
            "{d:?}"
        );
    }

    #[test]
    fn missing_duplicate_and_out_of_grid_tiles_fail_the_grid() {
        let mut f = Fixture::new(42);
        let i = f.index(4, 5);
        let removed = f.manifest.tiles.remove(i);
        assert_eq!(
            f.discrepancy(),
            Discrepancy::MissingTile { frame: 4, tile: 5 }
        );
        let mut dup = f.manifest.tiles[0].clone();
        f.manifest.tiles.push(dup.clone());
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::DuplicateTile {
                frame: 3,
                tile: 0,
                ..
            }
        ));
        f.manifest.tiles.pop();
        dup.tile = 6;
        f.manifest.tiles.push(dup.clone());
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::TileOutOfGrid {
                frame: 3,
                tile: 6,
                ..
            }
        ));
        f.manifest.tiles.pop();
        dup.tile = 0;
        dup.frame = 5;
        f.manifest.tiles.push(dup);
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::TileOutOfGrid {
                frame: 5,
                tile: 0,
                ..
            }
        ));
        f.manifest.tiles.pop();
        f.manifest.tiles.push(removed);
        assert!(f.audit().passed());
    }

    #[test]
    fn missing_or_wrongly_sized_frames_fail() {
        let mut f = Fixture::new(42);
        let frame4 = f.frames.remove(&4).unwrap();
        assert_eq!(f.discrepancy(), Discrepancy::MissingFrame { frame: 4 });
        f.frames.insert(
            4,
            FrameImage {
                width: 6,
                height: 10,
                ..frame4
            },
        );
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::FrameSize {
                frame: 4,
                width: 6,
                height: 10,
                ..
            }
        ));
    }

    #[test]
    fn a_tile_signed_by_another_key_fails_the_signatures() {
        let mut f = Fixture::new(42);
        let i = f.index(3, 1);
        let mut record = f.manifest.tiles[i].record().unwrap();
        let node = record.node;
        record.node = f
            .nodes
            .iter()
            .map(|k| k.pubkey())
            .find(|k| k != &node)
            .unwrap();
        f.manifest.tiles[i].signature = f.sign(&record);
        let d = f.discrepancy();
        assert_eq!(
            d,
            Discrepancy::TileSignature {
                frame: 3,
                tile: 1,
                node: node.to_string()
            }
        );
        f.manifest.tiles[i].signature = "not base58!".into();
        assert!(matches!(f.discrepancy(), Discrepancy::Malformed(_)));
    }

    #[test]
    fn a_wrong_proof_fails() {
        let mut f = Fixture::new(42);
        let i = f.index(4, 3);
        f.manifest.tiles[i].proof.as_mut().unwrap()[0] = hex::encode(&[3; 32]);
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::TileProof {
                frame: 4,
                tile: 3,
                ..
            }
        ));
        let mut f = Fixture::new(42);
        f.manifest.payouts[0].proof = Some(vec![]);
        assert!(matches!(f.discrepancy(), Discrepancy::PayoutProof { .. }));
    }

    #[test]
    fn a_claim_that_differs_from_its_leaf_fails() {
        let mut f = Fixture::new(42);
        let (node, claim) = f.claims.iter_mut().next().unwrap();
        claim.amount += 1;
        let (node, found) = (node.to_string(), claim.amount);
        let d = f.discrepancy();
        assert_eq!(
            d,
            Discrepancy::ClaimAmount {
                node,
                expected: found - 1,
                found
            }
        );
        let mut f = Fixture::new(42);
        f.claims.values_mut().for_each(|c| c.paid -= 1);
        assert!(
            matches!(&f.discrepancy(), Discrepancy::ClaimMismatch { field, .. } if field == "paid")
        );
        let mut f = Fixture::new(42);
        let stranger = Pubkey::new_unique();
        let claim = Claim {
            node_key: stranger,
            ..f.claims.values().next().unwrap().clone()
        };
        f.claims.insert(stranger, claim);
        assert!(matches!(
            f.discrepancy(),
            Discrepancy::ClaimWithoutPayout { .. }
        ));
    }

    #[test]
    fn a_manifest_misstating_the_chain_fails() {
        let mut f = Fixture::new(42);
        f.manifest.total_payout += 1;
        let d = f.discrepancy();
        assert!(
            matches!(&d, Discrepancy::ManifestValue { field, .. } if field == "total_payout"),
            "{d:?}"
        );
    }
}
