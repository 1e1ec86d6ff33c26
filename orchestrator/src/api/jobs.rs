//! Jobs: registration from the chain, progress, events, previews, frames, manifest.
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tessera_sdk::manifest::{Manifest, ManifestPayout, ManifestTile};
use tessera_sdk::tiles::TileGrid;
use tessera_sdk::{pda, JobState};
use tokio_stream::wrappers::BroadcastStream;

use super::{AppState, Shared};
use crate::error::{ApiError, ApiResult};
use crate::receipt::hex;
use crate::store::{self, job_state, now_ms, JobRow};

/// Optional expectations the artist states about the escrow; any difference refuses the job.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub scene_hash: Option<String>,
    pub budget: Option<u64>,
    pub price_per_tile: Option<u64>,
    pub frame_start: Option<u32>,
    pub frame_end: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub job_id: u64,
    #[serde(default)]
    pub expect: Expect,
}

fn refuse(msg: impl Into<String>) -> ApiError {
    ApiError::JobRefused(msg.into())
}

/// Registers a job by its on-chain account: escrow checked, tiles queued.
pub async fn register(State(s): Shared, Json(req): Json<Register>) -> ApiResult<impl IntoResponse> {
    let id = req.job_id;
    if let Some(existing) = s.store.job_get(id).await? {
        return Ok((
            StatusCode::OK,
            Json(status_json(&s, existing, View::Public).await?),
        ));
    }
    let job = s.chain.job(id).await?.ok_or_else(|| {
        refuse(format!(
            "no job account (and so no escrow) on-chain for job {id}"
        ))
    })?;
    s.nodes.remember_job(&job);
    let network = s
        .chain
        .network()
        .await?
        .ok_or_else(|| refuse("the network is not initialised on-chain"))?;
    use solana_sdk::signature::Signer;
    // The job's own orchestrator, fixed at creation: only that key can post its receipt,
    // whatever the network's orchestrator is now.
    if job.orchestrator != s.keypair.pubkey() {
        return Err(refuse(
            "this orchestrator's key is not the job's orchestrator; it could not post the receipt",
        ));
    }
    if job.state != JobState::Open {
        return Err(refuse(format!("job is {:?}, not Open", job.state)));
    }
    let now_s = now_ms() / 1000;
    if job.deadline <= now_s {
        return Err(refuse("the job's deadline has passed"));
    }
    let job_key = pda::job(id);
    let vault = s
        .chain
        .token_account(&pda::job_vault(&job_key))
        .await?
        .ok_or_else(|| refuse("the job's escrow vault is missing"))?;
    if vault.mint != network.mint {
        return Err(refuse(
            "the escrow vault holds another token than the network's",
        ));
    }
    if vault.owner != job_key {
        return Err(refuse(
            "the escrow vault is not controlled by the job account",
        ));
    }
    let tiles = job
        .total_tiles()
        .map_err(|_| refuse("invalid job dimensions"))?;
    // The tiles and the verification renders the job may pay, plus the fee (the program's rule).
    let required =
        tessera_sdk::estimate::job_cost(tiles, job.price_per_tile, job.fee_bps, job.verify_bps)
            .ok_or_else(|| refuse("price overflows"))?
            .budget;
    if vault.amount < job.budget || job.budget < required {
        return Err(refuse(format!(
            "escrow does not match: vault holds {}, budget {}, required {}",
            vault.amount, job.budget, required
        )));
    }
    // The network's measured rate (the nodes' on-chain benchmark scores) must be able to
    // render the job before its deadline, with a margin; otherwise the job would end in a
    // partial receipt or a refund.
    let total_score: u64 = s
        .chain
        .nodes()
        .await?
        .iter()
        .map(|n| n.benchmark_score)
        .sum();
    let samples = tessera_sdk::estimate::job_samples(&job);
    if let Some(needed) = tessera_sdk::estimate::deadline_needed(samples, total_score) {
        let left = job.deadline - now_s;
        if left < needed {
            return Err(refuse(format!(
                "the deadline leaves {left} s; {tiles} tiles need {needed} s at the network's \
                 measured rate (total benchmark score {total_score}, {}x margin)",
                tessera_sdk::estimate::DEADLINE_MARGIN
            )));
        }
    }
    if tiles > s.cfg.max_tiles_per_job {
        return Err(refuse(format!(
            "{tiles} tiles exceed this orchestrator's limit {}",
            s.cfg.max_tiles_per_job
        )));
    }
    let scene_hash = hex(&job.scene_hash);
    let e = &req.expect;
    let checks: [(&str, bool); 7] = [
        (
            "scene_hash",
            e.scene_hash
                .as_ref()
                .is_some_and(|h| h.to_lowercase() != scene_hash),
        ),
        ("budget", e.budget.is_some_and(|b| b != job.budget)),
        (
            "price_per_tile",
            e.price_per_tile.is_some_and(|p| p != job.price_per_tile),
        ),
        (
            "frame_start",
            e.frame_start.is_some_and(|f| f != job.frame_start),
        ),
        ("frame_end", e.frame_end.is_some_and(|f| f != job.frame_end)),
        ("width", e.width.is_some_and(|w| w != job.width)),
        ("height", e.height.is_some_and(|h| h != job.height)),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, differs)| *differs) {
        return Err(refuse(format!(
            "on-chain job differs from the expected {field}"
        )));
    }
    let sh = scene_hash.clone();
    if !s.store.scene_exists(sh).await? {
        return Err(refuse(format!("scene {scene_hash} has not been uploaded")));
    }
    let grid = TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| refuse("invalid job dimensions"))?;
    let row = JobRow {
        job_id: id,
        job_key: job_key.to_string(),
        scene_hash,
        frame_start: job.frame_start,
        frame_end: job.frame_end,
        width: job.width,
        height: job.height,
        tile_size: job.tile_size,
        spp: job.samples_per_pixel,
        price_per_tile: job.price_per_tile,
        budget: job.budget,
        deadline: job.deadline,
        state: job_state::RENDERING.into(),
        created_ms: now_ms(),
        leases_issued: 0,
        pass: 0.0,
        receipt_sig: None,
        error: None,
        frame_rate: (job.frame_rate_num, job.frame_rate_den),
        verify_bps: job.verify_bps,
    };
    let r = row.clone();
    let per_frame = grid.tiles_per_frame();
    let created = s.store.job_insert(r, per_frame).await?;
    tracing::info!(job_id = id, tiles, created, "job registered");
    let row = s.store.job_get(id).await?.unwrap_or(row);
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(status_json(&s, row, View::Public).await?),
    ))
}

async fn job_row(s: &AppState, id: u64) -> ApiResult<JobRow> {
    s.store
        .job_get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id}")))
}

/// Who a job's status is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// Anyone, nodes included: totals and verified counts only. Tiles leased or rendered
    /// and awaiting a check (or a tiebreak), and failures, would let a node polling around
    /// its own lease or submit tell that a tile awaits a check.
    Public,
    /// The job's artist or this orchestrator's operator (a request signed by the job's
    /// artist key or by the orchestrator's own key): every state.
    Full,
}

/// The view a status request gets while the job renders: `Full` when signed (not in a
/// session) by the job's artist or by the orchestrator's key, `Public` when unsigned; 403
/// when signed by anyone else (a node asking for the breakdown is told it cannot have it).
/// Once the job stopped rendering nothing is leased or checked any more: `Full` for all.
async fn status_view(s: &AppState, headers: &HeaderMap, job: &JobRow) -> ApiResult<View> {
    use solana_sdk::signature::Signer;
    let id = job.job_id;
    if job.state != job_state::RENDERING {
        return Ok(View::Full);
    }
    let signed = [
        crate::protocol::HEADER_NODE,
        crate::protocol::HEADER_SESSION,
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    if !signed {
        return Ok(View::Public);
    }
    let refused = || {
        ApiError::BreakdownRefused(
            "the full tile breakdown is the job's artist's and the orchestrator operator's; \
             GET the status unsigned for totals and verified counts"
                .into(),
        )
    };
    // Headers, then the signature (no I/O), then the job's artist on-chain, then the replay.
    let c = crate::auth::claim(s, headers)?;
    if !c.is_signed() {
        return Err(refused());
    }
    let replay = crate::auth::check_signature(s, &c, "GET", &format!("/v1/jobs/{id}"), b"")?;
    let operator = c.key == s.keypair.pubkey();
    let allowed = operator || s.chain.job(id).await?.is_some_and(|j| j.artist == c.key);
    if !allowed {
        return Err(refused());
    }
    s.store.remember(replay).await?;
    Ok(View::Full)
}

async fn status_json(s: &AppState, job: JobRow, view: View) -> ApiResult<serde_json::Value> {
    let id = job.job_id;
    let since = now_ms() - 60_000;
    let (counts, frames, recent) = s.store.job_progress(id, since).await?;
    let remaining = counts.total - counts.verified;
    let eta = (recent > 0).then(|| remaining as f64 / (recent as f64 / 60.0));
    let counts = match view {
        View::Full => json!(counts),
        View::Public => json!({"total": counts.total, "verified": counts.verified}),
    };
    Ok(json!({
        "job_id": id,
        "job_key": job.job_key,
        "scene_hash": job.scene_hash,
        "state": job.state,
        "counts": counts,
        "frames": frames.iter().map(|(f, v, t)| json!({"frame": f, "verified": v, "total": t, "complete": v == t})).collect::<Vec<_>>(),
        "eta_seconds": if remaining == 0 { Some(0.0) } else { eta },
        "receipt_signature": job.receipt_sig,
        "error": job.error,
    }))
}

/// `GET /v1/jobs/{id}`: the public view, or the full one for the artist and the operator.
pub async fn status(
    State(s): Shared,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let job = job_row(&s, id).await?;
    let view = status_view(&s, &headers, &job).await?;
    Ok(Json(status_json(&s, job, view).await?))
}

/// Server-sent events of the job's tiles.
pub async fn events(State(s): Shared, Path(id): Path<u64>) -> ApiResult<impl IntoResponse> {
    job_row(&s, id).await?;
    let stream = BroadcastStream::new(s.events.subscribe()).filter_map(move |e| async move {
        match e {
            Ok(ev) if ev.job_id == id => Some(Ok::<_, Infallible>(
                Event::default()
                    .event(ev.event.clone())
                    .json_data(&ev)
                    .unwrap_or_default(),
            )),
            _ => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// What a stitched frame is served as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    /// Reduced resolution (`imaging::downscale`), from the verified tiles so far.
    Preview,
    /// Full resolution, once the job is settled on-chain: the tiles of the receipt (all of
    /// them, or those verified before a cancel or the deadline); the others stay transparent.
    Clean,
}

/// Stitches a frame from its verified tiles, as a preview or the clean frame.
async fn stitch(s: &AppState, job: &JobRow, frame: u32, served: Served) -> ApiResult<Vec<u8>> {
    let verified_only = served == Served::Clean;
    if frame < job.frame_start || frame > job.frame_end {
        return Err(ApiError::NotFound(format!("frame {frame}")));
    }
    let id = job.job_id;
    let tiles = s.store.tiles_of_frame(id, frame).await?;
    if verified_only && tiles.iter().all(|t| t.state != store::tile_state::VERIFIED) {
        return Err(ApiError::Conflict(format!(
            "frame {frame} has no tile in the receipt"
        )));
    }
    let grid = TileGrid::new(job.width, job.height, job.tile_size)
        .ok_or_else(|| ApiError::Conflict("bad job".into()))?;
    let (w, h) = (job.width, job.height);
    let pngs = tile_pngs(s, tiles, verified_only).await?;
    tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
        let mut buf = vec![0u8; (w * h * 4) as usize];
        for (t, png) in pngs {
            let rect = grid
                .rect(t.tile)
                .ok_or_else(|| ApiError::Conflict("tile out of grid".into()))?;
            let (tw, th, rgba) = crate::imaging::decode_png(&png).map_err(ApiError::BadImage)?;
            if (tw, th) == (rect.width, rect.height) {
                crate::imaging::blit(&mut buf, w, rect.x, rect.y, tw, th, &rgba);
            }
        }
        if served == Served::Preview {
            let (pw, ph, small) = crate::imaging::downscale(&buf, w, h);
            return crate::imaging::encode_png(pw, ph, small).map_err(ApiError::BadImage);
        }
        crate::imaging::encode_png(w, h, buf).map_err(ApiError::BadImage)
    })
    .await
    .map_err(|e| ApiError::Store(crate::error::StoreError::Join(e.to_string())))?
}

/// The PNGs of the verified tiles, fetched a few at a time. A verified tile whose
/// blob is gone belongs to a closed job past its retention: the clean frame is gone too.
async fn tile_pngs(
    s: &AppState,
    tiles: Vec<store::TileRow>,
    verified_only: bool,
) -> ApiResult<Vec<(store::TileRow, bytes::Bytes)>> {
    use futures::{StreamExt, TryStreamExt};
    // Verified tiles only, previews included: an unverified tile's pixels would let its
    // checker copy them instead of rendering.
    let shown = tiles
        .into_iter()
        .filter(|t| t.blob.is_some() && t.state == store::tile_state::VERIFIED);
    let fetched: Vec<_> = futures::stream::iter(shown)
        .map(|t| async move {
            let png = s
                .blobs
                .get_bytes(t.blob.as_deref().unwrap_or_default())
                .await?;
            Ok::<_, ApiError>((t, png))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    if verified_only && fetched.iter().any(|(_, png)| png.is_none()) {
        return Err(ApiError::ResultsDeleted(
            "this job was closed on-chain and its tile results were deleted after the \
             retention period"
                .into(),
        ));
    }
    Ok(fetched
        .into_iter()
        .filter_map(|(t, png)| Some((t, png?)))
        .collect())
}

fn png(bytes: Vec<u8>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "image/png")], bytes)
}

/// A frame at reduced resolution, at any time: enough to judge the render, not to use it.
pub async fn preview(
    State(s): Shared,
    Path((id, frame)): Path<(u64, u32)>,
) -> ApiResult<impl IntoResponse> {
    super::public_work(&s, async {
        let job = job_row(&s, id).await?;
        Ok(png(stitch(&s, &job, frame, Served::Preview).await?))
    })
    .await
}

/// Whether the job is settled on-chain (approved, finalized or resolved): only then are
/// clean frames and blob references served, so nobody downloads the work and cancels.
async fn settled(s: &AppState, id: u64) -> ApiResult<bool> {
    Ok(s.chain
        .job(id)
        .await?
        .is_some_and(|j| matches!(j.state, JobState::Settled | JobState::Resolved)))
}

/// The clean, full-resolution frame, once the job is settled on-chain.
pub async fn frame_image(
    State(s): Shared,
    Path((id, frame)): Path<(u64, u32)>,
) -> ApiResult<impl IntoResponse> {
    super::public_work(&s, async {
        let job = job_row(&s, id).await?;
        if !settled(&s, id).await? {
            return Err(ApiError::NotSettled(format!(
                "job {id} is not settled on-chain; until it is approved or finalized its frames \
                 are served only as previews (/v1/jobs/{id}/frames/{frame}/preview)"
            )));
        }
        Ok(png(stitch(&s, &job, frame, Served::Clean).await?))
    })
    .await
}

/// Every tile's hash, node, signature and merkle proof; the payout leaves and proofs.
pub async fn manifest(State(s): Shared, Path(id): Path<u64>) -> ApiResult<impl IntoResponse> {
    super::public_work(&s, manifest_of(&s, id)).await
}

async fn manifest_of(s: &AppState, id: u64) -> ApiResult<Json<Manifest>> {
    let job = job_row(s, id).await?;
    if job.state == job_state::RENDERING {
        return Err(ApiError::Conflict("the job is still rendering".into()));
    }
    let tiles = s.store.tiles_of_job(id).await?;
    let paid = s.store.paid_verifications(id).await?;
    let receipt = crate::receipt::build_from(s, &job, &tiles, &paid)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let params = receipt
        .params()
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    // Blob references point at clean pixels: only after settlement.
    let with_blobs = settled(s, id).await?;
    let proof_hex = |p: Vec<[u8; 32]>| p.iter().map(|h| hex(h)).collect::<Vec<_>>();
    let tiles = tiles
        .into_iter()
        .map(|t| match gap_reason(&t.state) {
            // Not in the receipt (a partial one): why, and no pixels of a render unpaid.
            Some(reason) => ManifestTile::gap(t.frame, t.tile, reason),
            None => ManifestTile {
                proof: receipt
                    .tile_proof(t.frame, t.tile)
                    .map(|(_, p)| proof_hex(p)),
                frame: t.frame,
                tile: t.tile,
                node: t.node.unwrap_or_default(),
                pixel_hash: t.pixel_hash.unwrap_or_default(),
                signature: t.signature.unwrap_or_default(),
                blob: t.blob.filter(|_| with_blobs),
                role: None,
                missing: None,
            },
        })
        .collect();
    let verifications = crate::receipt::manifest_verifications(&paid, &receipt);
    let payouts = receipt
        .payouts
        .iter()
        .map(|p| ManifestPayout {
            node: p.node.to_string(),
            amount: p.amount,
            tiles: p.tiles,
            proof: receipt.payout_proof(&p.node).map(|(_, pr)| proof_hex(pr)),
        })
        .collect();
    // The SDK's type, so what is served is exactly what auditors and claimers parse.
    Ok(Json(Manifest {
        job_id: id,
        job_key: job.job_key,
        state: job.state,
        tile_root: hex(&params.tile_root),
        payout_root: hex(&params.payout_root),
        total_payout: params.total_payout,
        tile_count: params.tile_count,
        node_count: params.node_count,
        render_count: params.render_count,
        receipt_signature: job.receipt_sig,
        tiles,
        verifications,
        payouts,
    }))
}

/// Why a tile in `state` is not in the receipt; `None` for a verified tile (in it).
fn gap_reason(state: &str) -> Option<&'static str> {
    use tessera_sdk::manifest::gap;
    match state {
        store::tile_state::VERIFIED => None,
        store::tile_state::UNSETTLED => Some(gap::UNSETTLED),
        store::tile_state::RENDERED => Some(gap::UNVERIFIED),
        _ => Some(gap::NEVER_RENDERED),
    }
}

/// Every render a quorum agreed with (checks and tiebreaks included), once the job stopped
/// rendering: a checker's acknowledged render is not a receipt leaf, and this is where its
/// node finds it (`node-agent acks verify`). Not served while rendering: it would say which
/// tiles were checked, and by whom.
pub async fn checks(State(s): Shared, Path(id): Path<u64>) -> ApiResult<impl IntoResponse> {
    if job_row(&s, id).await?.state == job_state::RENDERING {
        return Err(ApiError::Conflict("the job is still rendering".into()));
    }
    let rows = s.store.agreed_renders(id).await?;
    let checks: Vec<_> = rows
        .into_iter()
        .map(|(frame, tile, node, pixel_hash)| {
            json!({"frame": frame, "tile": tile, "node": node, "pixel_hash": pixel_hash})
        })
        .collect();
    Ok(Json(json!({"job_id": id, "checks": checks})))
}

/// Verification faults kept for disputes and slashing.
pub async fn evidence(State(s): Shared, Path(id): Path<u64>) -> ApiResult<impl IntoResponse> {
    job_row(&s, id).await?;
    let ev = s.store.evidence_of_job(id).await?;
    Ok(Json(json!({"job_id": id, "evidence": ev})))
}
