//! `tessera job submit`: check the scene, upload it, escrow the job on-chain, register it
//! with the orchestrator, then watch it render. Every check runs before any token moves.
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use solana_sdk::signature::Signer;
use tessera_sdk::{ix, pda};

use super::quote::{quote, JobArgs, Quote};
use super::watch::{watch, WatchOutcome};
use crate::amount::Tokens;
use crate::context::{token_account, Ctx};
use crate::error::{input, state, CliError, CliResult};

/// Lamports a job needs beyond its tokens: rent of the job and vault accounts plus fees.
const JOB_SOL: u64 = 10_000_000;

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Tokens to escrow (default: exactly price × tiles + fee; the unspent rest is refunded).
    #[arg(long)]
    pub budget: Option<String>,
    /// Time the nodes have until the receipt must be on-chain (e.g. 2h, 3d).
    #[arg(long, default_value = "24h")]
    pub deadline: humantime::Duration,
    /// Write each frame here as it completes (previews until the job is settled).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Return once the job is registered instead of watching it render.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Serialize)]
pub struct Submitted {
    pub job_id: u64,
    pub job_key: String,
    pub signature: String,
    pub scene_hash: String,
    pub scene_uploaded: bool,
    pub budget: u64,
    pub deadline: i64,
    pub quote: Quote,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchOutcome>,
}

pub async fn run(ctx: &Ctx, args: &SubmitArgs) -> CliResult<WatchOutcome> {
    let artist = ctx.signer()?;
    let info = ctx.network().await?;
    if info.network.paused {
        return Err(state("the network is paused: no new jobs are accepted"));
    }
    let q = quote(ctx, &args.job, &info).await?;
    let tokens = info.tokens;
    let budget = match &args.budget {
        Some(b) => tokens.parse(b)?,
        None => q.budget,
    };
    if budget < q.budget {
        return Err(input(format!(
            "--budget {} is below price × (tiles + verification renders) + fee = {}",
            tokens.format(budget),
            tokens.format(q.budget)
        )));
    }
    let orchestrator = ctx.orchestrator();
    orchestrator.ping().await?;
    let artist_token = token_account(&artist.pubkey(), &info.network.mint);
    let held = ctx.token_balance_or_zero(&artist_token).await?;
    if held < budget {
        return Err(state(format!(
            "insufficient balance: the budget is {} tokens, {} holds {} (missing {})",
            tokens.format(budget),
            artist_token,
            tokens.format(held),
            tokens.format(budget - held)
        )));
    }
    ctx.require_sol(&artist.pubkey(), JOB_SOL).await?;
    // The orchestrator refuses a deadline the network cannot meet (the same estimate, from
    // the nodes' benchmark scores): refuse it here, before any token is escrowed.
    let deadline_s = Duration::from(args.deadline).as_secs() as i64;
    if let Some(needed) = tessera_sdk::estimate::deadline_needed(q.spec.samples(), q.total_score) {
        if deadline_s < needed {
            return Err(input(format!(
                "--deadline {} is too short: the registered nodes need about {} for this job, \
                 and the deadline must leave {}x that ({})",
                args.deadline,
                super::quote::duration(needed as f64 / tessera_sdk::estimate::DEADLINE_MARGIN),
                tessera_sdk::estimate::DEADLINE_MARGIN,
                super::quote::duration(needed as f64)
            )));
        }
    }
    for w in &q.scene.warnings {
        ctx.output.note(format!("warning: {w}"));
    }

    let deadline = ctx.chain_now().await? + deadline_s;
    let (job_id, signature) = create_job(ctx, &artist, &q, budget, deadline).await?;
    // After create_job: the orchestrator takes a scene only for an escrowed job, signed by
    // its artist.
    let escrowed = |e: CliError| {
        CliError::Orchestrator(format!(
            "job {job_id} is escrowed on-chain but the scene upload failed ({e}); `tessera job cancel {job_id}`, then `tessera job refund {job_id}` after the settle grace, returns the budget"
        ))
    };
    let uploaded = !orchestrator.has_scene(&q.scene.hash).await?;
    if uploaded {
        ctx.output.note(format!(
            "uploading {} ({} bytes)",
            q.scene.path.display(),
            q.scene.size_bytes
        ));
        let stored = orchestrator
            .upload_scene(q.scene.bytes.clone(), job_id, &artist)
            .await
            .map_err(escrowed)?;
        if stored != q.scene.hash {
            return Err(escrowed(CliError::Orchestrator(format!(
                "stored the scene as {stored}, expected {}",
                q.scene.hash
            ))));
        }
    }
    let s = &q.spec;
    orchestrator
        .register_job(
            job_id,
            json!({"scene_hash": q.scene.hash, "budget": budget, "price_per_tile": s.price_per_tile,
                   "frame_start": s.frames.start, "frame_end": s.frames.end,
                   "width": s.size.width, "height": s.size.height}),
        )
        .await
        .map_err(|e| {
            CliError::Orchestrator(format!(
                "job {job_id} is escrowed on-chain but the orchestrator refused it ({e}); `tessera job cancel {job_id}`, then `tessera job refund {job_id}` after the settle grace, returns the budget"
            ))
        })?;
    let mut submitted = Submitted {
        job_id,
        job_key: pda::job(job_id).to_string(),
        signature: signature.to_string(),
        scene_hash: q.scene.hash.clone(),
        scene_uploaded: uploaded,
        budget,
        deadline,
        quote: q,
        watch: None,
    };
    if !ctx.output.is_json() {
        print!("{}", SubmittedView(&submitted, tokens));
    }
    let outcome = if args.no_wait {
        WatchOutcome::registered(job_id)
    } else {
        watch(ctx, job_id, args.out.as_deref()).await?
    };
    if ctx.output.is_json() {
        submitted.watch = Some(outcome.clone());
        ctx.output.json(&submitted);
    }
    Ok(outcome)
}

/// `create_job` at a fresh nonce of this artist (the clock in nanoseconds): the job's id
/// derives from the artist and the nonce, so no other artist can make it fail.
async fn create_job(
    ctx: &Ctx,
    artist: &solana_sdk::signature::Keypair,
    q: &Quote,
    budget: u64,
    deadline: i64,
) -> CliResult<(u64, solana_sdk::signature::Signature)> {
    let info = ctx.network().await?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let job_id = pda::job_id(&artist.pubkey(), nonce);
    let artist_token = token_account(&artist.pubkey(), &info.network.mint);
    let params = q.spec.params(q.scene.hash_bytes(), budget, deadline);
    let ix = ix::create_job(
        &artist.pubkey(),
        &info.network.mint,
        &artist_token,
        nonce,
        params,
    );
    let sig = ctx.send(artist, &[ix], &[]).await?;
    Ok((job_id, sig))
}

struct SubmittedView<'a>(&'a Submitted, Tokens);

impl fmt::Display for SubmittedView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (s, t) = (self.0, self.1);
        write!(f, "{}", s.quote)?;
        writeln!(
            f,
            "Scene {}: {}",
            s.scene_hash,
            if s.scene_uploaded {
                "uploaded"
            } else {
                "already on the orchestrator"
            }
        )?;
        writeln!(
            f,
            "Job {} created at {}: {} escrowed (tx {})",
            s.job_id,
            s.job_key,
            t.format(s.budget),
            s.signature
        )
    }
}
