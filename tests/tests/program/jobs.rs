//! Jobs before a receipt: `create_job`, `cancel_job`, `expire_job`.
use anchor_lang::error::ErrorCode as Anchor;
use solana_program_test::BanksClientError;
use solana_sdk::{instruction::Instruction, signature::Signer};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda, JobParams};

use crate::harness::*;
use crate::lifecycle::rendered_job;

async fn deadline(env: &mut Env) -> i64 {
    env.now().await + 10_000
}

fn create_ix(env: &Env, artist: &Artist, nonce: u64, params: JobParams) -> Instruction {
    ix::create_job(
        &artist.wallet.pubkey(),
        &env.mint.pubkey(),
        &artist.token,
        nonce,
        params,
    )
}

async fn artist_send(
    env: &mut Env,
    artist: &Artist,
    ix: Instruction,
) -> Result<(), BanksClientError> {
    let wallet = artist.wallet.insecure_clone();
    env.send(&[ix], &[&wallet]).await
}

#[tokio::test]
async fn create_job_escrows_the_budget_and_records_the_job() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(id, pda::job_id(&artist.wallet.pubkey(), 0));
    assert_eq!(env.balance(&artist.token).await, 3_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    let job = env.job(id).await;
    assert_eq!(
        (job.artist, job.state, job.budget),
        (artist.wallet.pubkey(), JobState::Open, 2_000)
    );
    assert_eq!(
        (job.fee_bps, job.deadline, job.created_at),
        (FEE_BPS, d, START_TIME)
    );
    assert_eq!(job.total_tiles().unwrap(), 16);
    assert_eq!(job.payout_share_bps, 10_000);
    assert_eq!(
        (job.settle_grace, job.resolution_period, job.dispute_bond),
        (SETTLE_GRACE, RESOLUTION_PERIOD, DISPUTE_BOND)
    );
    assert_eq!(env.network().await.jobs_created, 1);
    let second = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(second, pda::job_id(&artist.wallet.pubkey(), 1));
    assert_ne!(second, id);
    assert_eq!(env.balance(&artist.token).await, 1_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn create_job_with_exact_minimum_budget_succeeds_one_less_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    // 16 tiles + ⌈16 × 10%⌉ = 2 verification renders, × 100, + 2.5% = 1 845.
    let mut p = small_job(d);
    p.budget = 1_844;
    assert_tessera(
        env.create_job(&artist, p.clone()).await,
        TesseraError::BudgetTooSmall,
    );
    p.budget = 1_845;
    env.create_job(&artist, p).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 3_155);
    env.assert_conserved().await;
}

#[tokio::test]
async fn create_job_with_a_used_nonce_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    env.create_job_with_nonce(&artist, 9, small_job(d))
        .await
        .unwrap();
    env.refresh_blockhash().await;
    // The same (artist, nonce) is the same address: the system program refuses it.
    assert_already_in_use(env.create_job_with_nonce(&artist, 9, small_job(d)).await);
    assert_eq!(env.balance(&artist.token).await, 3_000);
}

/// Issue 14: with sequential ids anyone could create (and cancel) the id an artist's prepared
/// `create_job` named, in one transaction, so that transaction failed. Ids now derive from
/// the artist and its nonce: another artist's jobs, whatever nonces they use, never touch it.
#[tokio::test]
async fn another_artists_jobs_cannot_make_a_prepared_create_job_fail() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let griefer = env.artist(50_000).await;
    let d = deadline(&mut env).await;
    let prepared = create_ix(&env, &artist, 0, small_job(d));
    for nonce in 0..3 {
        env.create_job_with_nonce(&griefer, nonce, small_job(d))
            .await
            .unwrap();
    }
    // The griefer cannot even name the artist's job address: the seeds bind the signer.
    let stolen = replace_account(
        replace_account(
            create_ix(&env, &griefer, 0, small_job(d)),
            &pda::job(pda::job_id(&griefer.wallet.pubkey(), 0)),
            &pda::job(pda::job_id(&artist.wallet.pubkey(), 0)),
        ),
        &pda::job_vault(&pda::job(pda::job_id(&griefer.wallet.pubkey(), 0))),
        &pda::job_vault(&pda::job(pda::job_id(&artist.wallet.pubkey(), 0))),
    );
    assert_anchor(
        artist_send(&mut env, &griefer, stolen).await,
        Anchor::ConstraintSeeds,
    );
    artist_send(&mut env, &artist, prepared).await.unwrap();
    let id = pda::job_id(&artist.wallet.pubkey(), 0);
    env.job_ids.push(id);
    assert_eq!(env.job(id).await.artist, artist.wallet.pubkey());
    assert_eq!(env.network().await.jobs_created, 4);
    env.assert_conserved().await;
}

#[tokio::test]
async fn create_job_at_another_ids_pda_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let mine = pda::job(pda::job_id(&artist.wallet.pubkey(), 0));
    let ix = create_ix(&env, &artist, 0, small_job(d));
    let ix = replace_account(ix, &mine, &pda::job(7));
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintSeeds,
    );
    let ix = create_ix(&env, &artist, 0, small_job(d));
    let ix = replace_account(ix, &pda::job_vault(&mine), &pda::job_vault(&pda::job(7)));
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintSeeds,
    );
    assert_eq!(env.balance(&artist.token).await, 5_000);
}

#[tokio::test]
async fn create_job_with_deadline_now_or_past_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let now = env.now().await;
    assert_tessera(
        env.create_job(&artist, small_job(now)).await,
        TesseraError::DeadlineInPast,
    );
    assert_tessera(
        env.create_job(&artist, small_job(now - 1)).await,
        TesseraError::DeadlineInPast,
    );
    env.create_job(&artist, small_job(now + 1)).await.unwrap();
}

#[tokio::test]
async fn create_job_with_price_near_u64_max_overflows() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let mut p = small_job(d);
    // price × 16 tiles overflows.
    p.price_per_tile = u64::MAX / 2;
    assert_tessera(
        env.create_job(&artist, p.clone()).await,
        TesseraError::ArithmeticError,
    );
    // price × tiles fits, the fee on top does not.
    p.price_per_tile = u64::MAX / 16;
    p.budget = u64::MAX;
    assert_tessera(
        env.create_job(&artist, p).await,
        TesseraError::ArithmeticError,
    );
    assert_eq!(env.network().await.jobs_created, 0);
}

#[tokio::test]
async fn create_job_with_invalid_parameters_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let bad: Vec<fn(&mut JobParams)> = vec![
        |p| p.width = 0,
        |p| p.height = tessera::constants::MAX_FRAME_EDGE + 1,
        |p| p.tile_size = 8,
        |p| p.tile_size = 0,
        |p| p.frame_end = p.frame_start - 1,
        |p| {
            p.frame_start = 0;
            p.frame_end = tessera::constants::MAX_FRAMES;
        },
        |p| p.samples_per_pixel = 0,
        |p| p.samples_per_pixel = tessera::constants::MAX_SPP + 1,
        |p| p.price_per_tile = 0,
        |p| p.scene_hash = [0; 32],
        |p| p.frame_rate_num = 0,
        |p| p.frame_rate_den = 0,
        |p| {
            p.frame_rate_num = tessera::constants::MAX_FRAME_RATE + 1;
            p.frame_rate_den = 1;
        },
    ];
    for (i, f) in bad.into_iter().enumerate() {
        let mut p = small_job(d);
        f(&mut p);
        let r = env.create_job(&artist, p).await;
        assert_eq!(
            custom_code(r),
            u32::from(TesseraError::InvalidJobParameters),
            "case {i}"
        );
    }
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert_eq!(env.network().await.jobs_created, 0);
}

#[tokio::test]
async fn create_job_without_artist_signature_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let ix = without_signer(
        create_ix(&env, &artist, 0, small_job(d)),
        &artist.wallet.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
}

#[tokio::test]
async fn create_job_paid_from_someone_elses_tokens_fails() {
    let mut env = Env::new().await;
    let victim = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let ix = ix::create_job(
        &thief.wallet.pubkey(),
        &env.mint.pubkey(),
        &victim.token,
        0,
        small_job(d),
    );
    assert_anchor(
        artist_send(&mut env, &thief, ix).await,
        Anchor::ConstraintTokenOwner,
    );
    assert_eq!(env.balance(&victim.token).await, 5_000);
}

#[tokio::test]
async fn create_job_in_another_mint_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &artist.wallet.pubkey()).await;
    let d = deadline(&mut env).await;
    let ix = ix::create_job(
        &artist.wallet.pubkey(),
        &env.mint.pubkey(),
        &wrong,
        0,
        small_job(d),
    );
    assert_anchor(
        artist_send(&mut env, &artist, ix).await,
        Anchor::ConstraintTokenMint,
    );
    let ix = ix::create_job(&artist.wallet.pubkey(), &other, &wrong, 0, small_job(d));
    assert_tessera(
        artist_send(&mut env, &artist, ix).await,
        TesseraError::WrongMint,
    );
}

#[tokio::test]
async fn cancel_then_expire_after_the_settle_grace_refunds_and_returns_the_rent() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let (job, vault) = (pda::job(id), pda::job_vault(&pda::job(id)));
    let rent = env.lamports(&job).await + env.lamports(&vault).await;
    let before = env.lamports(&artist.wallet.pubkey()).await;
    env.cancel(&artist, id).await.unwrap();
    let j = env.job(id).await;
    assert_eq!(
        (j.state, j.cancel_requested_at),
        (JobState::CancelRequested, START_TIME)
    );
    // Nothing moves at the request: the orchestrator has the settle grace to post the
    // receipt of what was verified.
    assert_eq!(env.balance(&vault).await, 2_000);
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::SettleGraceRunning,
    );
    env.set_time(START_TIME + SETTLE_GRACE).await;
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::SettleGraceRunning,
    );
    env.set_time(START_TIME + SETTLE_GRACE + 1).await;
    env.expire(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&job).await);
    assert!(!env.exists(&vault).await);
    // The fee payer is the context payer, so the artist gets back exactly the rent.
    assert_eq!(env.lamports(&artist.wallet.pubkey()).await, before + rent);
    env.assert_conserved().await;
}

#[tokio::test]
async fn cancel_job_by_another_artist_or_unsigned_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let ix = ix::cancel_job(&thief.wallet.pubkey(), id);
    assert_tessera(
        artist_send(&mut env, &thief, ix).await,
        TesseraError::NotArtist,
    );
    let ix = without_signer(
        ix::cancel_job(&artist.wallet.pubkey(), id),
        &artist.wallet.pubkey(),
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::AccountNotSigner);
    assert_eq!(env.job(id).await.state, JobState::Open);
    env.assert_conserved().await;
}

#[tokio::test]
async fn cancel_job_twice_or_after_receipt_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    assert_tessera(env.cancel(&artist, id).await, TesseraError::WrongJobState);
    let d = deadline(&mut env).await;
    let other = env.create_job(&artist, small_job(d)).await.unwrap();
    env.cancel(&artist, other).await.unwrap();
    env.refresh_blockhash().await;
    assert_tessera(
        env.cancel(&artist, other).await,
        TesseraError::WrongJobState,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn expire_job_before_the_deadline_and_its_grace_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::DeadlineNotReached,
    );
    env.set_time(d).await;
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::DeadlineNotReached,
    );
    // Past the deadline the orchestrator still has the settle grace for a (partial) receipt.
    env.set_time(d + SETTLE_GRACE).await;
    assert_tessera(
        env.expire(&artist, id).await,
        TesseraError::SettleGraceRunning,
    );
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
}

#[tokio::test]
async fn expire_job_after_deadline_and_grace_refunds_and_closes_by_anyone() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    let (job, vault) = (pda::job(id), pda::job_vault(&pda::job(id)));
    let rent = env.lamports(&job).await + env.lamports(&vault).await;
    let before = env.lamports(&artist.wallet.pubkey()).await;
    env.set_time(d + SETTLE_GRACE + 1).await;
    // Sent by the context payer alone: the artist does not sign.
    env.expire(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&job).await && !env.exists(&vault).await);
    assert_eq!(env.lamports(&artist.wallet.pubkey()).await, before + rent);
    env.assert_conserved().await;
}

#[tokio::test]
async fn expire_job_sending_refund_or_rent_elsewhere_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let thief = env.artist(0).await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    env.set_time(d + SETTLE_GRACE + 1).await;
    let ix = ix::expire_job(&thief.wallet.pubkey(), id, &artist.token);
    assert_tessera(env.send(&[ix], &[]).await, TesseraError::NotArtist);
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &thief.token);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintTokenOwner);
    let other = env.other_mint().await;
    let wrong = env.token_account_of(&other, &artist.wallet.pubkey()).await;
    let ix = ix::expire_job(&artist.wallet.pubkey(), id, &wrong);
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintTokenMint);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    env.assert_conserved().await;
}

#[tokio::test]
async fn expire_job_with_another_jobs_vault_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let d = deadline(&mut env).await;
    let mut cheap = small_job(d);
    cheap.budget = 1_845;
    let a = env.create_job(&artist, cheap).await.unwrap();
    let b = env.create_job(&artist, small_job(d)).await.unwrap();
    env.set_time(d + SETTLE_GRACE + 1).await;
    let ix = ix::expire_job(&artist.wallet.pubkey(), a, &artist.token);
    let ix = replace_account(
        ix,
        &pda::job_vault(&pda::job(a)),
        &pda::job_vault(&pda::job(b)),
    );
    assert_anchor(env.send(&[ix], &[]).await, Anchor::ConstraintSeeds);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(b))).await, 2_000);
}

#[tokio::test]
async fn expire_job_after_receipt_fails() {
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let a = env.register_node(MIN_STAKE).await;
    let (id, _) = rendered_job(&mut env, &artist, &[&a]).await;
    let d = env.job(id).await.deadline;
    env.set_time(d + SETTLE_GRACE + 1).await;
    assert_tessera(env.expire(&artist, id).await, TesseraError::WrongJobState);
}

#[tokio::test]
async fn prefunded_job_and_vault_addresses_cannot_block_create_job() {
    // Anyone can send lamports to an artist's next job PDA (or its vault) before it exists
    // (the ids are predictable); if that blocked the account's creation, the artist could not
    // create that job.
    let mut env = Env::new().await;
    let artist = env.artist(5_000).await;
    let next = pda::job_id(&artist.wallet.pubkey(), 0);
    env.prefund(&pda::job(next), 1_000_000).await;
    env.prefund(&pda::job_vault(&pda::job(next)), 1_000_000)
        .await;
    let d = deadline(&mut env).await;
    let id = env.create_job(&artist, small_job(d)).await.unwrap();
    assert_eq!(id, next);
    assert_eq!(env.balance(&artist.token).await, 3_000);
    assert_eq!(env.balance(&pda::job_vault(&pda::job(id))).await, 2_000);
    assert_eq!(env.job(id).await.artist, artist.wallet.pubkey());
    // The job works as any other: cancel, then the refund closes both accounts.
    env.cancel(&artist, id).await.unwrap();
    env.set_time(START_TIME + SETTLE_GRACE + 1).await;
    env.expire(&artist, id).await.unwrap();
    assert_eq!(env.balance(&artist.token).await, 5_000);
    assert!(!env.exists(&pda::job(id)).await);
    env.assert_conserved().await;
}
